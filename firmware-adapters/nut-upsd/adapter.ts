/**
 * Network UPS Tools (NUT) upsd, network protocol over TCP (port 3493): the input sends
 * `LIST VAR <ups>\n` and upsd answers
 *   BEGIN LIST VAR <ups>
 *   VAR <ups> battery.charge "100"
 *   …
 *   END LIST VAR <ups>
 * The framing is 'block': the framer hands the whole BEGIN…END block to decode as one frame, so
 * the decoder stays stateless and one reply makes one reading. Lines outside a block are frames
 * of their own: `ERR <code>` becomes ADAPTER_DEVICE_ERROR, anything else (e.g. `OK`) is skipped.
 * A value whose bytes are not UTF-8 keeps the reading: U+FFFD replaces the bad bytes and the
 * reading is flagged TEXT_VALUE_INVALID_UTF8 (a numeric variable's damaged value is null).
 */
import {
  type AdapterDefinition,
  type DecodedReading,
  type DecodeResult,
  type FieldValue,
  type FirmwareAdapter,
  addFlag,
  bool,
  excerpt,
  fail,
  hasControlChars,
  num,
  ok,
  skip,
  str,
  streamSchema,
} from '../adapter.ts';
import { decodeLatin1Text } from '../text.ts';
import { UCUM } from '../units.ts';

export interface NutUpsdOptions {
  /** The UPS name as upsd knows it (`upsc -l`). */
  ups: string;
  intervalMs: number;
  /** Keep variables this adapter has no unit for (as strings), or drop them. */
  keepUnknown: boolean;
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ups: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: 'ups', description: "The UPS name in upsd's ups.conf (see `upsc -l`)." },
    intervalMs: { type: 'integer', minimum: 1000, maximum: 3_600_000, default: 10_000 },
    keepUnknown: { type: 'boolean', default: true, description: 'Keep variables without a known unit, as strings.' },
  },
};

/** Variables with a canonical unit (numeric), per the NUT variable names document. */
const NUMERIC: Record<string, string | null> = {
  'battery.charge': UCUM.percent,
  'battery.charge.low': UCUM.percent,
  'battery.charge.warning': UCUM.percent,
  'battery.voltage': UCUM.volt,
  'battery.voltage.nominal': UCUM.volt,
  'battery.current': UCUM.ampere,
  'battery.temperature': UCUM.celsius,
  'battery.runtime': UCUM.second,
  'battery.runtime.low': UCUM.second,
  'input.voltage': UCUM.volt,
  'input.voltage.nominal': UCUM.volt,
  'input.current': UCUM.ampere,
  'input.frequency': UCUM.hertz,
  'input.transfer.low': UCUM.volt,
  'input.transfer.high': UCUM.volt,
  'output.voltage': UCUM.volt,
  'output.voltage.nominal': UCUM.volt,
  'output.current': UCUM.ampere,
  'output.frequency': UCUM.hertz,
  'ups.load': UCUM.percent,
  'ups.temperature': UCUM.celsius,
  'ups.realpower': UCUM.watt,
  'ups.realpower.nominal': UCUM.watt,
  'ups.power': UCUM.voltAmpere,
  'ups.power.nominal': UCUM.voltAmpere,
  'ups.delay.shutdown': UCUM.second,
  'ups.delay.start': UCUM.second,
  'ups.timer.shutdown': UCUM.second,
  'ups.timer.start': UCUM.second,
  'ups.timer.reboot': UCUM.second,
  'driver.parameter.pollinterval': UCUM.second,
};

/** Text variables always kept. */
const TEXT = ['ups.status', 'ups.alarm', 'ups.beeper.status', 'ups.mfr', 'ups.model', 'ups.serial', 'ups.firmware', 'ups.test.result', 'battery.type', 'device.type', 'driver.name', 'driver.version'];

/** Flags of ups.status (NUT's status tokens) exposed as booleans. */
const STATUS_FLAGS: Record<string, string> = {
  on_line: 'OL',
  on_battery: 'OB',
  low_battery: 'LB',
  charging: 'CHRG',
  discharging: 'DISCHRG',
  replace_battery: 'RB',
  overload: 'OVER',
  bypass: 'BYPASS',
  forced_shutdown: 'FSD',
};

const schemas = {
  vars: streamSchema(
    'upsd LIST VAR reply: one reading per poll',
    {
      ups: str('The UPS name.'),
      ...Object.fromEntries(Object.entries(NUMERIC).map(([name, unit]) => [name, num(unit === null ? 'Numeric variable.' : `In ${unit}.`)])),
      ...Object.fromEntries(TEXT.map((name) => [name, str('As upsd reports it.')])),
      ...Object.fromEntries(Object.keys(STATUS_FLAGS).map((flag) => [flag, bool(`ups.status contains ${STATUS_FLAGS[flag]}.`)])),
    },
    Object.fromEntries(Object.entries(NUMERIC).flatMap(([name, unit]) => (unit === null ? [] : [[name, unit]]))),
    { additionalFields: true },
  ),
};

const VAR_LINE = /^VAR (\S+) ([A-Za-z0-9_.]+) "((?:[^"\\]|\\.)*)"$/;

function unquote(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

export function createNutUpsd(options: NutUpsdOptions): FirmwareAdapter {
  return {
    name: 'nut-upsd',
    description: 'Network UPS Tools upsd: LIST VAR replies, one reading per poll',
    schemaVersion: 1,
    framing: { kind: 'block', terminator: '\n', begin: 'BEGIN LIST VAR ', end: 'END LIST VAR ', maxLength: 16_384, maxLines: 512 },
    polling: {
      intervalMs: options.intervalMs,
      requests: [{ send: Buffer.from(`LIST VAR ${options.ups}\n`), replyFrames: 1, replyTimeoutMs: 5000, retries: 1 }],
    },
    schemas,
    decode(frame: Buffer): DecodeResult {
      // latin1: one char per byte, so the ASCII structure (VAR lines, quotes) is matched on the
      // bytes and each value's bytes are decoded as UTF-8 on their own (text.ts): a bad byte in
      // one value (the field report: device.serial) costs that value, not the reading.
      const text = frame.toString('latin1');
      if (hasControlChars(text, '\t\n')) return fail('ADAPTER_PARSE', `control bytes: ${excerpt(text)}`);
      const lines = text.split('\n');
      const first = lines[0] ?? '';
      if (lines.length === 1) {
        if (first.startsWith('ERR ')) return fail('ADAPTER_DEVICE_ERROR', `upsd: ${first.slice(4, 100)}`);
        if (first.startsWith('BEGIN LIST VAR ')) return fail('ADAPTER_TRUNCATED', `block without END: ${excerpt(first)}`);
        if (/^[A-Z]+( |$)/.test(first)) return skip('ADAPTER_CONTROL', `upsd reply ${excerpt(first)}`);
        return fail('ADAPTER_PARSE', `not a upsd reply: ${excerpt(first)}`);
      }
      const begin = /^BEGIN LIST VAR (\S+)$/.exec(first);
      if (!begin) return fail('ADAPTER_PARSE', `block does not start with BEGIN LIST VAR: ${excerpt(first)}`);
      const upsName = decodeLatin1Text(begin[1]!);
      let invalidText = !upsName.valid;
      const ups = begin[1]!;
      const last = lines[lines.length - 1]!;
      if (!last.startsWith('END LIST VAR')) return fail('ADAPTER_TRUNCATED', `block without END LIST VAR ${ups}`);
      if (last !== `END LIST VAR ${ups}`) return fail('ADAPTER_PARSE', `END names another UPS: ${excerpt(last)}`);
      const fields: Record<string, FieldValue> = { ups: upsName.text };
      const units: Record<string, string> = {};
      for (const line of lines.slice(1, -1)) {
        const m = VAR_LINE.exec(line);
        if (!m) return fail('ADAPTER_PARSE', `bad VAR line ${excerpt(line)}`);
        if (m[1] !== ups) return fail('ADAPTER_PARSE', `VAR line for ${excerpt(m[1]!)} inside the block for ${excerpt(ups)}`);
        const name = m[2]!;
        const decoded = decodeLatin1Text(m[3]!);
        const value = unquote(decoded.text);
        const kept = name in NUMERIC || ((TEXT.includes(name) || options.keepUnknown) && name !== 'ups' && !(name in STATUS_FLAGS));
        if (kept && !decoded.valid) invalidText = true;
        if (name in NUMERIC) {
          // upsd values are strings; drivers sometimes send non-numbers: null rather than an error.
          const n = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(value.trim()) ? Number(value) : Number.NaN;
          fields[name] = Number.isFinite(n) ? n : null;
          const unit = NUMERIC[name];
          if (unit !== null && unit !== undefined) units[name] = unit;
        } else if (TEXT.includes(name) || options.keepUnknown) {
          if (name === 'ups' || name in STATUS_FLAGS) continue; // would shadow our own fields
          fields[name] = value;
        }
      }
      const status = fields['ups.status'];
      const tokens = typeof status === 'string' ? status.split(/\s+/) : null;
      for (const [flag, token] of Object.entries(STATUS_FLAGS)) fields[flag] = tokens === null ? null : tokens.includes(token);
      const reading: DecodedReading = { stream: 'vars', fields, units };
      if (invalidText) addFlag(reading, 'TEXT_VALUE_INVALID_UTF8');
      return ok([reading]);
    },
  };
}

const definition: AdapterDefinition<NutUpsdOptions> = {
  name: 'nut-upsd',
  description: 'Network UPS Tools upsd over TCP: polls LIST VAR, one reading per reply block',
  optionsSchema,
  create: createNutUpsd,
};

export default definition;
