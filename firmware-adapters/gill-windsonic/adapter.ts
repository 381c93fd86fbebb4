/**
 * Gill WindSonic (and other Gill 2-axis sonic anemometers in Gill ASCII mode):
 * `<STX>Q,229,002.74,M,00,<ETX>16` — node address, wind direction, wind speed, unit letter,
 * status code, then after ETX two hex digits: the XOR of the bytes between STX and ETX.
 * Polar (default, continuous) and UV formats (`Q,+000.12,-001.23,M,00,`) are both decoded.
 */
import {
  type AdapterDefinition,
  type DecodeResult,
  type FirmwareAdapter,
  bool,
  excerpt,
  fail,
  num,
  ok,
  str,
  streamSchema,
} from '../adapter.ts';
import { hex2, parseHex2, xor8 } from '../checksum.ts';
import { UCUM, feetPerMinuteToMetresPerSecond, kmhToMetresPerSecond, knotsToMetresPerSecond, mphToMetresPerSecond, round } from '../units.ts';

export interface GillWindsonicOptions {
  /** Polled modes (M3/M4): what to send, and how often; absent for continuous output. */
  poll?: { command: string; intervalMs: number };
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    poll: {
      type: 'object',
      additionalProperties: false,
      required: ['command'],
      description: "Only for the polled formats (M3/M4): the poll string (the unit's node letter, e.g. 'Q') and interval.",
      properties: {
        command: { type: 'string', minLength: 1, maxLength: 8 },
        intervalMs: { type: 'integer', minimum: 250, maximum: 3_600_000, default: 1000 },
      },
    },
  },
};

const STX = 0x02;
const ETX = 0x03;

/** Status codes from Gill's WindSonic manual (section "Status (error) codes"). */
const STATUS: Record<string, { text: string; valid: boolean }> = {
  '00': { text: 'ok', valid: true },
  A: { text: 'ok', valid: true },
  '01': { text: 'axis 1 failed', valid: false },
  '02': { text: 'axis 2 failed', valid: false },
  '04': { text: 'axis 1 and 2 failed', valid: false },
  '08': { text: 'NVM error (data could be uncalibrated)', valid: true },
  '09': { text: 'ROM error (data could be uncalibrated)', valid: true },
  '10': { text: 'system gain at maximum', valid: true },
  '51': { text: 'measurement average building', valid: true },
  V: { text: 'data void', valid: false },
};

/**
 * A value the unit could not measure: WindSonic manual (1405-PS-0019, "Gill output message
 * format") — under error conditions the unit pads the wind data with 9s (`999`, `999.99`); the
 * WindSonic measures 0–60 m/s and 0–359°, so an all-9s field of at least three digits is padding
 * whatever the status code says.
 */
const NINES = /^[-+]?999(\.9+)?$/;

/** Blank (direction below the minimum direction velocity, per the manual) or 9-padded: no value. */
const noValue = (field: string): boolean => field === '' || NINES.test(field);

const SPEED: Record<string, (v: number) => number> = {
  M: (v) => round(v, 5),
  N: knotsToMetresPerSecond,
  P: mphToMetresPerSecond,
  K: kmhToMetresPerSecond,
  F: feetPerMinuteToMetresPerSecond,
};

const statusFields = {
  node: str('Node address (unit identifier letter).'),
  status_code: str('Gill status code as sent (00 ok, 01/02/04 axis failed, 08 NVM, 09 ROM, 51 average building).'),
  status: str('The status code in words.'),
  valid: bool('False when the status says the wind values are invalid (axis failures); they are then null.'),
};

const schemas = {
  wind: streamSchema(
    'WindSonic polar wind',
    { ...statusFields, wind_direction: num('Direction the wind blows from (null below the minimum direction velocity).'), wind_speed: num('Wind speed.') },
    { wind_direction: UCUM.degree, wind_speed: UCUM.metrePerSecond },
  ),
  wind_uv: streamSchema(
    'WindSonic UV wind components',
    { ...statusFields, wind_u: num('U (axis 1) component.'), wind_v: num('V (axis 2) component.') },
    { wind_u: UCUM.metrePerSecond, wind_v: UCUM.metrePerSecond },
  ),
};

function decode(frame: Buffer): DecodeResult {
  if (frame.length === 0 || frame[0] !== STX) return fail('ADAPTER_PARSE', `frame does not start with STX: ${excerpt(frame)}`);
  const etx = frame.indexOf(ETX);
  if (etx === -1) return fail('ADAPTER_TRUNCATED', `no ETX: ${excerpt(frame)}`);
  const trailer = frame.subarray(etx + 1).toString('latin1');
  if (trailer.length < 2) return fail('ADAPTER_TRUNCATED', `checksum cut short after ETX: ${excerpt(frame)}`);
  const given = parseHex2(trailer.slice(0, 2));
  if (Number.isNaN(given) || trailer.length > 2) return fail('ADAPTER_PARSE', `bad checksum field ${excerpt(trailer)}`);
  const body = frame.subarray(1, etx);
  const actual = xor8(body);
  if (actual !== given) return fail('ADAPTER_CHECKSUM', `checksum ${trailer.slice(0, 2)} does not match computed ${hex2(actual)}: ${excerpt(frame)}`);
  const text = body.toString('latin1');
  if (!/^[\x20-\x7e]*$/.test(text)) return fail('ADAPTER_PARSE', `non-printable bytes: ${excerpt(text)}`);
  const f = text.split(',').map((s) => s.trim());
  // Polar or UV: node, a, b, unit, status, and an empty field after the trailing comma.
  if (f.length < 5) return fail('ADAPTER_PARSE', `${f.length} fields, expected node, direction/U, speed/V, unit, status: ${excerpt(text)}`);
  const [node, a, b, unit, code] = f as [string, string, string, string, string];
  if (!/^[A-Z]$/.test(node)) return fail('ADAPTER_PARSE', `bad node address ${excerpt(node)}`);
  const toMs = SPEED[unit];
  if (toMs === undefined) return fail('ADAPTER_PARSE', `unknown speed unit ${excerpt(unit)}`);
  const status = STATUS[code];
  if (status === undefined && !/^[0-9A-F]{2}$/.test(code)) return fail('ADAPTER_PARSE', `bad status code ${excerpt(code)}`);
  const valid = status?.valid ?? false;
  const common = { node, status_code: code, status: status?.text ?? `unknown status ${code}`, valid };
  const uv = /^[-+]/.test(a) || /^[-+]/.test(b);
  // A value is passed on only when the status says the measurement is valid and the field holds one.
  const value = (field: string, convert: (v: number) => number): number | null => (valid && !noValue(field) ? convert(Number(field)) : null);
  if (uv) {
    const number = /^[-+]\d{1,3}\.\d{1,3}$/;
    for (const c of [a, b]) if (!noValue(c) && !number.test(c)) return fail('ADAPTER_PARSE', `bad U/V components ${excerpt(`${a},${b}`)}`);
    return ok([
      {
        stream: 'wind_uv',
        fields: { ...common, wind_u: value(a, toMs), wind_v: value(b, toMs) },
        units: { wind_u: UCUM.metrePerSecond, wind_v: UCUM.metrePerSecond },
      },
    ]);
  }
  if (!noValue(a) && !/^\d{1,3}$/.test(a)) return fail('ADAPTER_PARSE', `bad direction ${excerpt(a)}`);
  if (!noValue(b) && !/^\d{1,3}\.\d{1,3}$/.test(b)) return fail('ADAPTER_PARSE', `bad speed ${excerpt(b)}`);
  if (!noValue(a) && Number(a) > 359 && valid) return fail('ADAPTER_PARSE', `direction ${a} out of range`);
  return ok([
    {
      stream: 'wind',
      fields: { ...common, wind_direction: value(a, (v) => v), wind_speed: value(b, toMs) },
      units: { wind_direction: UCUM.degree, wind_speed: UCUM.metrePerSecond },
    },
  ]);
}

export function createGillWindsonic(options: GillWindsonicOptions): FirmwareAdapter {
  const adapter: FirmwareAdapter = {
    name: 'gill-windsonic',
    description: 'Gill WindSonic ultrasonic anemometer, Gill ASCII (STX…ETX + XOR checksum)',
    schemaVersion: 1,
    framing: { kind: 'delimited', start: STX, end: ETX, trailer: 2, maxLength: 64, idle: [0x0d, 0x0a] },
    schemas,
    decode,
  };
  if (options.poll !== undefined) {
    adapter.polling = {
      intervalMs: options.poll.intervalMs,
      requests: [{ send: Buffer.from(options.poll.command, 'latin1'), replyFrames: 1, replyTimeoutMs: 1000, retries: 1 }],
    };
  }
  return adapter;
}

const definition: AdapterDefinition<GillWindsonicOptions> = {
  name: 'gill-windsonic',
  description: 'Gill WindSonic Gill-ASCII polar/UV wind messages with XOR checksum',
  optionsSchema,
  create: createGillWindsonic,
};

export default definition;
