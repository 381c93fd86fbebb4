/**
 * Boltek LD-250 lightning detector, serial NMEA-style output:
 *   strike  `$WIMLI,<corrected distance>,<uncorrected distance>,<bearing>*CS`
 *   status  `$WIMST,<close strike rate>,<total strike rate>,<close alarm>,<severe alarm>,<heading>*CS`
 *   noise   `$WIMLN*CS` (noise above the squelch: strikes may be missed)
 * Distances are statute miles (0–300) on the wire, converted to km; rates are strikes per minute.
 */
import { type AdapterDefinition, type DecodeResult, type FirmwareAdapter, bool, excerpt, fail, int, num, ok, skip, streamSchema } from '../adapter.ts';
import { type Sentence, parseSentence, withEnvelopeFlags } from '../nmea-sentence.ts';
import { UCUM, milesToKilometres, round } from '../units.ts';

export interface BoltekLd250Options {
  /** What the detector's distance fields are in: the LD-250 sends statute miles. */
  distanceUnit: 'miles' | 'kilometres';
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    distanceUnit: { type: 'string', enum: ['miles', 'kilometres'], default: 'miles', description: 'Unit of the distance fields on the wire (the LD-250 sends statute miles).' },
  },
};

const schemas = {
  strike: streamSchema(
    'LD-250 strike ($WIMLI)',
    { corrected_distance: num('Distance to the strike, corrected for strike strength.'), uncorrected_distance: num('Uncorrected distance.'), bearing: num('Bearing to the strike, from the antenna heading.') },
    { corrected_distance: UCUM.kilometre, uncorrected_distance: UCUM.kilometre, bearing: UCUM.degree },
  ),
  status: streamSchema(
    'LD-250 status ($WIMST), about once a second',
    {
      close_strike_rate: int('Close strikes per minute.'),
      total_strike_rate: int('All strikes per minute.'),
      close_alarm: bool('Close storm alarm active.'),
      severe_alarm: bool('Severe storm alarm active.'),
      heading: num('Antenna heading (GPS/compass).'),
    },
    { close_strike_rate: UCUM.perMinute, total_strike_rate: UCUM.perMinute, heading: UCUM.degree },
  ),
  noise: streamSchema('LD-250 noise ($WIMLN): noise above the squelch level', { noise: bool('Always true: the detector reported noise.') }, {}),
};

const INT = /^\d{1,3}$/;
const ANGLE = /^\d{1,3}(\.\d)?$/;

function angle(text: string): number | undefined {
  if (!ANGLE.test(text)) return undefined;
  const v = Number(text);
  return v < 360 ? v : undefined;
}

export function createBoltekLd250(options: BoltekLd250Options): FirmwareAdapter {
  const km = (v: number): number => (options.distanceUnit === 'miles' ? milesToKilometres(v) : round(v, 4));
  return {
    name: 'boltek-ld250',
    description: 'Boltek LD-250 lightning detector ($WIMLI strikes, $WIMST status, $WIMLN noise)',
    schemaVersion: 1,
    framing: { kind: 'line', terminator: '\r\n', maxLength: 128 },
    schemas,
    decode(frame: Buffer): DecodeResult {
      const parsed = parseSentence(frame, true);
      if (!parsed.ok) return parsed.result;
      return withEnvelopeFlags(decodeSentence(parsed.sentence), parsed.sentence);
    },
  };

  function decodeSentence({ address, fields: f }: Sentence): DecodeResult {
    switch (address) {
      case 'WIMLI': {
        if (f.length !== 3) return fail(f.length < 3 ? 'ADAPTER_TRUNCATED' : 'ADAPTER_PARSE', `WIMLI has ${f.length} fields, expected 3`);
        const [corrected, uncorrected, bearing] = f as [string, string, string];
        const b = angle(bearing);
        if (!INT.test(corrected) || !INT.test(uncorrected) || b === undefined) return fail('ADAPTER_PARSE', `bad WIMLI fields ${excerpt(f.join(','))}`);
        return ok([
          {
            stream: 'strike',
            fields: { corrected_distance: km(Number(corrected)), uncorrected_distance: km(Number(uncorrected)), bearing: b },
            units: { corrected_distance: UCUM.kilometre, uncorrected_distance: UCUM.kilometre, bearing: UCUM.degree },
          },
        ]);
      }
      case 'WIMST': {
        if (f.length !== 5) return fail(f.length < 5 ? 'ADAPTER_TRUNCATED' : 'ADAPTER_PARSE', `WIMST has ${f.length} fields, expected 5`);
        const [close, total, closeAlarm, severeAlarm, heading] = f as [string, string, string, string, string];
        const h = angle(heading);
        const flag = /^[01]$/;
        if (!INT.test(close) || !INT.test(total) || !flag.test(closeAlarm) || !flag.test(severeAlarm) || h === undefined) {
          return fail('ADAPTER_PARSE', `bad WIMST fields ${excerpt(f.join(','))}`);
        }
        return ok([
          {
            stream: 'status',
            fields: { close_strike_rate: Number(close), total_strike_rate: Number(total), close_alarm: closeAlarm === '1', severe_alarm: severeAlarm === '1', heading: h },
            units: { close_strike_rate: UCUM.perMinute, total_strike_rate: UCUM.perMinute, heading: UCUM.degree },
          },
        ]);
      }
      case 'WIMLN':
        if (f.length !== 0) return fail('ADAPTER_PARSE', `WIMLN has ${f.length} fields, expected none`);
        return ok([{ stream: 'noise', fields: { noise: true }, units: {} }]);
      default:
        return skip('ADAPTER_UNSUPPORTED', `sentence ${address} is not decoded`);
    }
  }
}

const definition: AdapterDefinition<BoltekLd250Options> = {
  name: 'boltek-ld250',
  description: 'Boltek LD-250 lightning detector: strikes, status (rates, alarms), noise',
  optionsSchema,
  create: createBoltekLd250,
};

export default definition;
