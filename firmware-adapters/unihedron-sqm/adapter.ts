/**
 * Unihedron Sky Quality Meter (SQM-LE over TCP port 10001, SQM-LU over USB serial): the input
 * polls `rx` and the meter answers
 *   `r, 19.29m,0000005915Hz,0000000000c,0000000.000s, 029.9C`
 * sky brightness in magnitudes per square arcsecond ("mpsas"), sensor frequency, period in
 * counts and seconds, sensor temperature. Newer firmware appends a seventh value, ten digits:
 *   `r, 06.70m,0000022921Hz,0000000020c,0000000.000s, 039.4C,0001287103`
 * Unihedron's linear value, 45000 × the sensor frequency in Hz (SQM-LU-DL-V operator's manual,
 * reading request response, columns 56-65: 0000045000 = 1 Hz, at most 1125045000 = 25 kHz, at
 * least 0000000529 in the dark; the datalogging chapter calls it the "linear value", "a
 * compensated value of 150 times the period counts or 45000 times the frequency"). It is not a
 * serial number: that comes only from the `ix` reply. `ux` (unaveraged) answers the same with `u`,
 * and `ix` (unit information) answers `i,<protocol>,<model>,<feature>,<serial>`.
 */
import { type AdapterDefinition, type DecodeResult, type FirmwareAdapter, excerpt, fail, int, num, ok, skip, str, streamSchema } from '../adapter.ts';
import { UCUM } from '../units.ts';

export interface UnihedronSqmOptions {
  intervalMs: number;
  /** `rx`: averaged reading; `ux`: unaveraged. */
  command: 'rx' | 'ux';
  /** Also ask `ix` (unit information) once per cycle. */
  requestInfo: boolean;
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    intervalMs: { type: 'integer', minimum: 1000, maximum: 86_400_000, default: 30_000, description: 'Time between readings.' },
    command: { type: 'string', enum: ['rx', 'ux'], default: 'rx', description: 'rx: averaged reading; ux: unaveraged.' },
    requestInfo: { type: 'boolean', default: false, description: 'Also send ix (model, serial number) each cycle.' },
  },
};

const MPSAS = '{mag/arcsec2}';

const schemas = {
  reading: streamSchema(
    'SQM reading (rx / ux)',
    {
      sky_brightness: num('Sky brightness; larger is darker. Negative values are very bright light.'),
      frequency: num('Sensor frequency.'),
      period_counts: int('Period of the sensor signal in counts.'),
      period: num('Period of the sensor signal.'),
      temperature: num('Sensor temperature.'),
      averaged: { type: 'boolean', description: 'true for rx (averaged), false for ux.' },
      saturated: { type: 'boolean', description: "true when the meter reports 0.00m, its upper brightness limit (sky_brightness is then null)." },
      linear_value: int("Unihedron's linear value, 45000 × sensor frequency in Hz (newer firmware's 7th value); null when not sent."),
      serial_number: str('Always null in readings (kept for schema v1 readers): the serial number is in the ix reply, stream info.'),
    },
    { sky_brightness: MPSAS, frequency: UCUM.hertz, period: UCUM.second, temperature: UCUM.celsius },
  ),
  info: streamSchema(
    'SQM unit information (ix)',
    { protocol_number: int('Protocol number.'), model_number: int('Model number.'), feature_number: int('Feature (firmware) number.'), serial_number: str('Serial number.') },
    {},
  ),
};

/**
 * The reading reply. Unihedron: "Future versions of this reading string will only modify reported
 * values beyond position 54" — so after the temperature the 7th value (the linear value) is read
 * when present and anything a later firmware appends after it is ignored, not an error.
 */
const READING = /^([ru]),\s*(-?\d{1,2}\.\d{2})m,\s*(\d{1,10})Hz,\s*(\d{1,10})c,\s*(\d{1,7}\.\d{3})s,\s*(-?\d{1,3}\.\d)C(?:,\s*(\d{1,10})(?:,[\x20-\x7e]*)?)?$/;
const INFO = /^i,\s*(\d{1,8}),\s*(\d{1,8}),\s*(\d{1,8}),\s*(\d{1,8})$/;

function decode(frame: Buffer): DecodeResult {
  const text = frame.toString('latin1');
  if (!/^[\x20-\x7e]*$/.test(text)) return fail('ADAPTER_PARSE', `non-printable bytes: ${excerpt(text)}`);
  const r = READING.exec(text);
  if (r) {
    const [, kind, mpsas, hz, counts, seconds, celsius, linear] = r as unknown as [string, string, string, string, string, string, string, string | undefined];
    // "A reading of 0.00m means that the light at the sensor has reached the upper brightness limit
    // of the unit" (SQM-LE/LU manuals, reading request): a limit, not a sky brightness.
    const saturated = Number(mpsas) === 0;
    return ok([
      {
        stream: 'reading',
        fields: {
          sky_brightness: saturated ? null : Number(mpsas),
          frequency: Number(hz),
          period_counts: Number(counts),
          period: Number(seconds),
          temperature: Number(celsius),
          averaged: kind === 'r',
          saturated,
          linear_value: linear === undefined ? null : Number(linear),
          serial_number: null,
        },
        units: { sky_brightness: MPSAS, frequency: UCUM.hertz, period: UCUM.second, temperature: UCUM.celsius },
      },
    ]);
  }
  const i = INFO.exec(text);
  if (i) {
    return ok([
      { stream: 'info', fields: { protocol_number: Number(i[1]), model_number: Number(i[2]), feature_number: Number(i[3]), serial_number: i[4]! }, units: {} },
    ]);
  }
  if (/^[ru],/.test(text)) {
    // The start of a reading that does not match in full: cut short, or a field malformed.
    const fields = text.split(',').length;
    return fail(fields < 6 ? 'ADAPTER_TRUNCATED' : 'ADAPTER_PARSE', `malformed reading ${excerpt(text, 80)}`);
  }
  if (/^i,/.test(text)) return fail(text.split(',').length < 5 ? 'ADAPTER_TRUNCATED' : 'ADAPTER_PARSE', `malformed unit information ${excerpt(text, 80)}`);
  if (/^[a-zA-Z],/.test(text)) return skip('ADAPTER_UNSUPPORTED', `reply '${text[0]}' is not decoded (calibration, settings)`);
  return fail('ADAPTER_PARSE', `not an SQM reply: ${excerpt(text)}`);
}

export function createUnihedronSqm(options: UnihedronSqmOptions): FirmwareAdapter {
  const requests = [{ send: Buffer.from(options.command), replyFrames: 1, replyTimeoutMs: 5000, retries: 1 }];
  if (options.requestInfo) requests.push({ send: Buffer.from('ix'), replyFrames: 1, replyTimeoutMs: 5000, retries: 1 });
  return {
    name: 'unihedron-sqm',
    description: 'Unihedron SQM-LE/LU sky quality meter (rx/ux readings, ix information)',
    schemaVersion: 1,
    framing: { kind: 'line', terminator: '\r\n', maxLength: 128 },
    polling: { intervalMs: options.intervalMs, requests },
    schemas,
    decode,
  };
}

const definition: AdapterDefinition<UnihedronSqmOptions> = {
  name: 'unihedron-sqm',
  description: 'Unihedron SQM-LE (TCP) / SQM-LU (serial): polled rx readings in mag/arcsec²',
  optionsSchema,
  create: createUnihedronSqm,
};

export default definition;
