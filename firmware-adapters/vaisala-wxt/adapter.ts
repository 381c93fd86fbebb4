/**
 * Vaisala WXT5xx (WXT510/520/530 series, also WMT52) ASCII protocol: data messages `aR0` (composite),
 * `aR1` (wind), `aR2` (pressure, temperature, humidity), `aR3` (precipitation), `aR5`
 * (supervisor), automatic or polled. Each `Xx=<value><unit letter>` parameter is converted to
 * canonical units; `#` in place of the unit letter marks an invalid value (null). A message is
 * split into one reading per sensor group present: `wind`, `ptu`, `precip`, `supervisor`.
 * Messages answering lower-case commands (`0r0`, …) carry a three-character CRC, which is checked.
 */
import {
  type AdapterDefinition,
  type DecodedReading,
  type DecodeResult,
  type FieldValue,
  type FirmwareAdapter,
  type Polling,
  addFlag,
  excerpt,
  fail,
  hasControlChars,
  num,
  ok,
  skip,
  str,
  streamSchema,
} from '../adapter.ts';
import { sdi12Crc } from '../checksum.ts';
import { decodeLatin1Text } from '../text.ts';
import {
  UCUM,
  fahrenheitToCelsius,
  inHgToHectopascal,
  inchesToMillimetres,
  kmhToMetresPerSecond,
  knotsToMetresPerSecond,
  mmHgToHectopascal,
  mphToMetresPerSecond,
  round,
} from '../units.ts';

export interface VaisalaWxtOptions {
  mode: 'automatic' | 'polled';
  address: string;
  /** Polled mode: the data command (R0 composite, R1 wind, R2 PTU, R3 precipitation, R5 supervisor). */
  command: 'R0' | 'R1' | 'R2' | 'R3' | 'R5';
  /** Polled mode: use the CRC-protected lower-case command (`0r0xxx`), whose reply carries a CRC. */
  crc: boolean;
  intervalMs: number;
  maxLength: number;
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: { type: 'string', enum: ['automatic', 'polled'], default: 'automatic', description: 'automatic: the WXT sends on its own (aXU,M=A or M=R); polled: the input sends the command every intervalMs.' },
    address: { type: 'string', pattern: '^[0-9A-Za-z]$', default: '0', description: 'Device address (aXU,A=…).' },
    command: { type: 'string', enum: ['R0', 'R1', 'R2', 'R3', 'R5'], default: 'R0' },
    crc: { type: 'boolean', default: false, description: 'Polled mode: send the CRC-protected lower-case command.' },
    intervalMs: { type: 'integer', minimum: 1000, maximum: 3_600_000, default: 5000 },
    maxLength: { type: 'integer', minimum: 64, maximum: 4096, default: 512 },
  },
};

type Group = 'wind' | 'ptu' | 'precip' | 'supervisor';

interface Param {
  group: Group;
  field: string;
  /** Converts (value, unit letter) to the canonical value and unit; undefined if the letter is unknown. */
  convert: (value: number, unit: string) => { field?: string; value: number; unit: string } | undefined;
}

const direction: Param['convert'] = (v, u) => (u === 'D' ? { value: v, unit: UCUM.degree } : undefined);
const speed: Param['convert'] = (v, u) => {
  const f = { M: (x: number) => round(x, 5), K: kmhToMetresPerSecond, S: mphToMetresPerSecond, N: knotsToMetresPerSecond }[u];
  return f === undefined ? undefined : { value: f(v), unit: UCUM.metrePerSecond };
};
const temperature: Param['convert'] = (v, u) =>
  u === 'C' ? { value: v, unit: UCUM.celsius } : u === 'F' ? { value: fahrenheitToCelsius(v), unit: UCUM.celsius } : undefined;
const humidity: Param['convert'] = (v, u) => (u === 'P' ? { value: v, unit: UCUM.percent } : undefined);
const pressure: Param['convert'] = (v, u) => {
  const f = { H: (x: number) => x, P: (x: number) => round(x / 100, 4), B: (x: number) => round(x * 1000, 4), M: mmHgToHectopascal, I: inHgToHectopascal }[u];
  return f === undefined ? undefined : { value: f(v), unit: UCUM.hectopascal };
};
const rainAmount: Param['convert'] = (v, u) =>
  u === 'M' ? { value: v, unit: UCUM.millimetre } : u === 'I' ? { value: inchesToMillimetres(v), unit: UCUM.millimetre } : undefined;
const rainIntensity: Param['convert'] = (v, u) =>
  u === 'M' ? { value: v, unit: UCUM.millimetrePerHour } : u === 'I' ? { value: inchesToMillimetres(v), unit: UCUM.millimetrePerHour } : undefined;
const duration: Param['convert'] = (v, u) => (u === 's' ? { value: v, unit: UCUM.second } : undefined);
/** Hail per area (M: hits/cm², I: hits/in²) or, with unit H, a plain count in a field of its own. */
const hailAmount =
  (countField: string): Param['convert'] =>
  (v, u) =>
    u === 'M'
      ? { value: v, unit: UCUM.hailPerSquareCentimetre }
      : u === 'I'
        ? { value: round(v / 6.4516, 5), unit: UCUM.hailPerSquareCentimetre }
        : u === 'H'
          ? { field: countField, value: v, unit: '{hits}' }
          : undefined;
const hailIntensity =
  (countField: string): Param['convert'] =>
  (v, u) =>
    u === 'M'
      ? { value: v, unit: UCUM.hailPerSquareCentimetreHour }
      : u === 'I'
        ? { value: round(v / 6.4516, 5), unit: UCUM.hailPerSquareCentimetreHour }
        : u === 'H'
          ? { field: countField, value: v, unit: '{hits}/h' }
          : undefined;
const volts: Param['convert'] = (v, u) => (u === 'V' ? { value: v, unit: UCUM.volt } : undefined);
/** Heating voltage: the letter is the heating state (N: heating off, per Vaisala; others passed on raw). */
const heatingVoltage: Param['convert'] = (v, u) => (/^[A-Z]$/.test(u) ? { value: v, unit: UCUM.volt } : undefined);

const PARAMS: Record<string, Param> = {
  Dn: { group: 'wind', field: 'wind_direction_min', convert: direction },
  Dm: { group: 'wind', field: 'wind_direction_avg', convert: direction },
  Dx: { group: 'wind', field: 'wind_direction_max', convert: direction },
  Sn: { group: 'wind', field: 'wind_speed_min', convert: speed },
  Sm: { group: 'wind', field: 'wind_speed_avg', convert: speed },
  Sx: { group: 'wind', field: 'wind_speed_max', convert: speed },
  Ta: { group: 'ptu', field: 'air_temperature', convert: temperature },
  Tp: { group: 'ptu', field: 'internal_temperature', convert: temperature },
  Ua: { group: 'ptu', field: 'relative_humidity', convert: humidity },
  Pa: { group: 'ptu', field: 'air_pressure', convert: pressure },
  Rc: { group: 'precip', field: 'rain_accumulation', convert: rainAmount },
  Rd: { group: 'precip', field: 'rain_duration', convert: duration },
  Ri: { group: 'precip', field: 'rain_intensity', convert: rainIntensity },
  Rp: { group: 'precip', field: 'rain_peak_intensity', convert: rainIntensity },
  Hc: { group: 'precip', field: 'hail_accumulation', convert: hailAmount('hail_count') },
  Hd: { group: 'precip', field: 'hail_duration', convert: duration },
  Hi: { group: 'precip', field: 'hail_intensity', convert: hailIntensity('hail_count_rate') },
  Hp: { group: 'precip', field: 'hail_peak_intensity', convert: hailIntensity('hail_peak_count_rate') },
  Th: { group: 'supervisor', field: 'heating_temperature', convert: temperature },
  Vh: { group: 'supervisor', field: 'heating_voltage', convert: heatingVoltage },
  Vs: { group: 'supervisor', field: 'supply_voltage', convert: volts },
  Vr: { group: 'supervisor', field: 'reference_voltage', convert: volts },
};

const GROUP_ORDER: Group[] = ['wind', 'ptu', 'precip', 'supervisor'];

const schemas = {
  wind: streamSchema(
    'WXT wind (aR1 / composite)',
    {
      wind_direction_min: num('Minimum direction.'),
      wind_direction_avg: num('Average direction.'),
      wind_direction_max: num('Maximum direction.'),
      wind_speed_min: num('Minimum (lull) speed.'),
      wind_speed_avg: num('Average speed.'),
      wind_speed_max: num('Maximum (gust) speed.'),
    },
    {
      wind_direction_min: UCUM.degree,
      wind_direction_avg: UCUM.degree,
      wind_direction_max: UCUM.degree,
      wind_speed_min: UCUM.metrePerSecond,
      wind_speed_avg: UCUM.metrePerSecond,
      wind_speed_max: UCUM.metrePerSecond,
    },
  ),
  ptu: streamSchema(
    'WXT pressure, temperature, humidity (aR2 / composite)',
    {
      air_temperature: num('Air temperature.'),
      internal_temperature: num('Internal temperature.'),
      relative_humidity: num('Relative humidity.'),
      air_pressure: num('Air pressure (station level).'),
    },
    { air_temperature: UCUM.celsius, internal_temperature: UCUM.celsius, relative_humidity: UCUM.percent, air_pressure: UCUM.hectopascal },
  ),
  precip: streamSchema(
    'WXT precipitation (aR3 / composite)',
    {
      rain_accumulation: num('Rain since the last counter reset.'),
      rain_duration: num('Rain duration since the last reset.'),
      rain_intensity: num('Rain intensity.'),
      rain_peak_intensity: num('Rain peak intensity.'),
      hail_accumulation: num('Hail hits per area since the last reset.'),
      hail_duration: num('Hail duration.'),
      hail_intensity: num('Hail hits per area per hour.'),
      hail_peak_intensity: num('Hail peak intensity.'),
      hail_count: num('Hail hits (unit H: not per area).'),
      hail_count_rate: num('Hail hits per hour (unit H).'),
      hail_peak_count_rate: num('Hail peak hits per hour (unit H).'),
    },
    {
      rain_accumulation: UCUM.millimetre,
      rain_duration: UCUM.second,
      rain_intensity: UCUM.millimetrePerHour,
      rain_peak_intensity: UCUM.millimetrePerHour,
      hail_accumulation: UCUM.hailPerSquareCentimetre,
      hail_duration: UCUM.second,
      hail_intensity: UCUM.hailPerSquareCentimetreHour,
      hail_peak_intensity: UCUM.hailPerSquareCentimetreHour,
      hail_count: '{hits}',
      hail_count_rate: '{hits}/h',
      hail_peak_count_rate: '{hits}/h',
    },
  ),
  supervisor: streamSchema(
    'WXT supervisor (aR5 / composite)',
    {
      heating_temperature: num('Heating temperature.'),
      heating_voltage: num('Heating voltage.'),
      heating_state: str("The letter after the heating voltage: 'N' heating off (Vaisala); others passed on as sent; null when the value is marked invalid ('#')."),
      supply_voltage: num('Supply voltage.'),
      reference_voltage: num('3.5 V reference voltage.'),
      information: str('Id information field (user text).'),
    },
    { heating_temperature: UCUM.celsius, heating_voltage: UCUM.volt, supply_voltage: UCUM.volt, reference_voltage: UCUM.volt },
  ),
  text: streamSchema('WXT text message (aTX): start-up, resets, errors', { message: str('The message text.') }, {}),
};

/** The polled command as sent: `0R0\r\n`, or with CRC `0r0` + CRC + `\r\n`. */
export function pollCommand(options: Pick<VaisalaWxtOptions, 'address' | 'command' | 'crc'>): Buffer {
  if (!options.crc) return Buffer.from(`${options.address}${options.command}\r\n`, 'latin1');
  const body = `${options.address}${options.command.toLowerCase()}`;
  return Buffer.from(`${body}${sdi12Crc(Buffer.from(body, 'latin1'))}\r\n`, 'latin1');
}

const PART = /^([A-Z][a-z])=(.*)$/;
const VALUE = /^([-+]?(?:\d+\.?\d*|\.\d+))([A-Za-z#])$/;

function decodeData(text: string, body: string): DecodeResult {
  if (body === '') return skip('ADAPTER_CONTROL', `data message without parameters: ${excerpt(text)}`);
  if (!body.startsWith(',')) return fail('ADAPTER_PARSE', `expected ',' after the message id: ${excerpt(text)}`);
  const groups = new Map<Group, DecodedReading>();
  const readingFor = (group: Group): DecodedReading => {
    let reading = groups.get(group);
    if (reading === undefined) {
      reading = { stream: group, fields: {}, units: {} };
      groups.set(group, reading);
    }
    return reading;
  };
  const parts = body.slice(1).split(',');
  for (const [index, part] of parts.entries()) {
    // A last parameter cut short (`Sm=0.`, `Pa`) means the line was truncated.
    const cut = index === parts.length - 1 && /^[A-Z]([a-z](=[-+]?[\d.]*)?)?$/.test(part);
    const m = PART.exec(part);
    if (!m) return fail(cut ? 'ADAPTER_TRUNCATED' : 'ADAPTER_PARSE', `bad parameter ${excerpt(part)} in ${excerpt(text)}`);
    const [, name, raw] = m as unknown as [string, string, string];
    if (name === 'Id') {
      // User text: a byte that is not UTF-8 damages this value only (text.ts), not the message.
      const info = decodeLatin1Text(raw);
      const supervisor = readingFor('supervisor');
      supervisor.fields.information = info.text;
      if (!info.valid) addFlag(supervisor, 'TEXT_VALUE_INVALID_UTF8');
      continue;
    }
    const param = PARAMS[name];
    if (param === undefined) continue; // a parameter this decoder does not know: newer firmware
    const reading = readingFor(param.group);
    if (raw.endsWith('#')) {
      // '#' instead of the unit: the value is invalid.
      const field = param.field;
      reading.fields[field] = null;
      const unit = (schemas[param.group].properties as { units: { properties: Record<string, { const: string }> } }).units.properties[field]?.const;
      if (unit !== undefined) reading.units[field] = unit;
      // '#' is the invalid-value marker, not one of the heating state letters: no state either.
      if (name === 'Vh') reading.fields.heating_state = null;
      if (!/^[-+]?(\d+\.?\d*|\.\d+)?#$/.test(raw)) return fail('ADAPTER_PARSE', `bad value ${excerpt(part)}`);
      continue;
    }
    const v = VALUE.exec(raw);
    if (!v) return fail(cut ? 'ADAPTER_TRUNCATED' : 'ADAPTER_PARSE', `bad value ${excerpt(part)} in ${excerpt(text)}`);
    const converted = param.convert(Number(v[1]), v[2]!);
    if (converted === undefined) return fail('ADAPTER_PARSE', `unknown unit letter '${v[2]}' for ${name}`);
    const field = converted.field ?? param.field;
    reading.fields[field] = converted.value as FieldValue;
    reading.units[field] = converted.unit;
    if (name === 'Vh') reading.fields.heating_state = v[2]!;
  }
  const readings = GROUP_ORDER.flatMap((g) => {
    const r = groups.get(g);
    return r === undefined ? [] : [r];
  });
  return readings.length > 0 ? ok(readings) : skip('ADAPTER_UNSUPPORTED', `no known parameter in ${excerpt(text)}`);
}

export function createVaisalaWxt(options: VaisalaWxtOptions): FirmwareAdapter {
  const polling: Polling | undefined =
    options.mode === 'polled'
      ? {
          intervalMs: options.intervalMs,
          requests: [{ send: pollCommand(options), replyFrames: 1, replyTimeoutMs: 2000, retries: 2 }],
        }
      : undefined;
  const adapter: FirmwareAdapter = {
    name: 'vaisala-wxt',
    description: 'Vaisala WXT5xx weather transmitter, ASCII protocol',
    schemaVersion: 1,
    framing: { kind: 'line', terminator: '\r\n', maxLength: options.maxLength },
    schemas,
    decode(frame: Buffer): DecodeResult {
      const text = frame.toString('latin1');
      // Control bytes break the line; bytes above 0x7E are only acceptable inside the text fields
      // (Id, aTX), where they are decoded as UTF-8; anywhere else no parameter pattern matches them.
      if (hasControlChars(text)) return fail('ADAPTER_PARSE', `non-printable bytes: ${excerpt(text)}`);
      const id = /^([0-9A-Za-z])([Rr])([0-9])?/.exec(text);
      if (id) {
        if (id[2] === 'r') {
          // Reply to a CRC command: the last three characters are the CRC of everything before.
          if (text.length < id[0].length + 3) return fail('ADAPTER_TRUNCATED', `message too short for its CRC: ${excerpt(text)}`);
          const data = text.slice(0, -3);
          const crc = text.slice(-3);
          const expected = sdi12Crc(Buffer.from(data, 'latin1'));
          if (crc !== expected) return fail('ADAPTER_CHECKSUM', `CRC ${JSON.stringify(crc)} does not match computed ${JSON.stringify(expected)}: ${excerpt(text)}`);
          return decodeData(text, data.slice(id[0].length));
        }
        return decodeData(text, text.slice(id[0].length));
      }
      const tx = /^[0-9A-Za-z]TX,(.*)$/.exec(text);
      if (tx) {
        const message = decodeLatin1Text(tx[1]!);
        const reading: DecodedReading = { stream: 'text', fields: { message: message.text }, units: {} };
        if (!message.valid) addFlag(reading, 'TEXT_VALUE_INVALID_UTF8');
        return ok([reading]);
      }
      if (/^[0-9A-Za-z]([A-Z]{2}(,.*)?)?$/.test(text)) return skip('ADAPTER_CONTROL', `reply to a command: ${excerpt(text)}`);
      return fail('ADAPTER_PARSE', `not a WXT message: ${excerpt(text)}`);
    },
  };
  if (polling !== undefined) adapter.polling = polling;
  return adapter;
}

const definition: AdapterDefinition<VaisalaWxtOptions> = {
  name: 'vaisala-wxt',
  description: 'Vaisala WXT5xx ASCII messages (aR0 composite, aR1-aR3, aR5), automatic or polled, optional CRC',
  optionsSchema,
  create: createVaisalaWxt,
};

export default definition;
