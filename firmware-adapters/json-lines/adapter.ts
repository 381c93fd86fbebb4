/**
 * Generic JSON lines: each line one JSON object, e.g. from a custom controller or a script.
 * Nested objects are flattened with dots (`{"dome":{"az":12}}` → `dome.az`), arrays kept as JSON
 * text. The configuration names the stream (fixed, or a field of the object), the time field
 * and its format, and the UCUM unit of each numeric field.
 */
import {
  type AdapterDefinition,
  type DecodedReading,
  type DecodeResult,
  type FieldValue,
  type FirmwareAdapter,
  type JSONSchemaObject,
  addFlag,
  excerpt,
  fail,
  num,
  ok,
  streamSchema,
} from '../adapter.ts';
import { decodeText } from '../text.ts';
import { type TimeFormat, parseTimestamp, timeFormatSchema } from '../time.ts';

export interface JsonLinesOptions {
  stream: string;
  streamField: string | null;
  streams: string[] | null;
  timeField: string | null;
  timeFormat: TimeFormat;
  units: Record<string, string>;
  maxLength: number;
  maxFields: number;
  maxDepth: number;
}

const STREAM_NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const FIELD_NAME = '^[^\\s]{1,128}$';

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    stream: { type: 'string', pattern: STREAM_NAME, default: 'data', description: 'Stream suffix when streamField is not set (or absent from a line).' },
    streamField: { type: ['string', 'null'], default: null, description: 'A top-level field whose value names the stream of that line.' },
    streams: { type: ['array', 'null'], items: { type: 'string', pattern: STREAM_NAME }, default: null, description: 'With streamField: the stream names allowed (others are ADAPTER_PARSE).' },
    timeField: { type: ['string', 'null'], default: null, description: 'A top-level field holding the reading time (becomes sourceTime, not a field).' },
    timeFormat: timeFormatSchema,
    units: { type: 'object', propertyNames: { pattern: FIELD_NAME }, additionalProperties: { type: 'string', minLength: 1 }, default: {}, description: 'UCUM unit per (flattened) numeric field, e.g. {"temp": "Cel"}.' },
    maxLength: { type: 'integer', minimum: 64, maximum: 1_048_576, default: 65_536 },
    maxFields: { type: 'integer', minimum: 1, maximum: 4096, default: 256 },
    maxDepth: { type: 'integer', minimum: 1, maximum: 16, default: 4 },
  },
};

function schemaFor(options: JsonLinesOptions): JSONSchemaObject {
  return streamSchema(
    'JSON line (flattened object)',
    Object.fromEntries(Object.entries(options.units).map(([field, unit]) => [field, num(`In ${unit}.`)])),
    options.units,
    { additionalFields: true },
  );
}

class Reject extends Error {
  constructor(readonly code: 'ADAPTER_PARSE' | 'ADAPTER_TRUNCATED', message: string) {
    super(message);
  }
}

export function createJsonLines(options: JsonLinesOptions): FirmwareAdapter {
  const schema = schemaFor(options);
  const schemas: Record<string, JSONSchemaObject> =
    options.streamField === null
      ? { [options.stream]: schema }
      : Object.fromEntries([...(options.streams ?? []), options.stream].map((s) => [s, schema]).concat(options.streams === null ? [['*', schema]] : []));

  const flatten = (value: unknown, prefix: string, depth: number, out: Record<string, FieldValue>): void => {
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (key === '__proto__') throw new Reject('ADAPTER_PARSE', 'key __proto__ is not allowed');
      const name = prefix === '' ? key : `${prefix}.${key}`;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        if (depth >= options.maxDepth) throw new Reject('ADAPTER_PARSE', `objects nested deeper than ${options.maxDepth} at ${excerpt(name)}`);
        flatten(v, name, depth + 1, out);
        continue;
      }
      if (Object.keys(out).length >= options.maxFields) throw new Reject('ADAPTER_PARSE', `more than ${options.maxFields} fields`);
      out[name] = Array.isArray(v) ? JSON.stringify(v) : (v as FieldValue);
    }
  };

  return {
    name: 'json-lines',
    description: 'Generic JSON lines',
    schemaVersion: 1,
    framing: { kind: 'line', terminator: '\n', maxLength: options.maxLength },
    schemas,
    decode(frame: Buffer): DecodeResult {
      // Bytes that are not UTF-8 become U+FFFD (text.ts). Outside a string they break the JSON
      // (ADAPTER_PARSE, as before); inside a string value they damage only that value, which is
      // kept and flagged; inside a key they would invent a field name, so that is ADAPTER_PARSE.
      const { text, valid } = decodeText(frame);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        const trimmed = text.trim();
        const cut = trimmed.startsWith('{') && !trimmed.endsWith('}');
        return fail(cut ? 'ADAPTER_TRUNCATED' : 'ADAPTER_PARSE', `not JSON${cut ? ' (cut short?)' : ''}: ${excerpt(text)}`);
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('ADAPTER_PARSE', `not a JSON object: ${excerpt(text)}`);
      const object = value as Record<string, unknown>;
      let stream = options.stream;
      let sourceTime: number | null = null;
      const fields: Record<string, FieldValue> = {};
      try {
        if (options.streamField !== null && options.streamField in object) {
          const s = object[options.streamField];
          if (typeof s !== 'string' || !new RegExp(STREAM_NAME).test(s)) return fail('ADAPTER_PARSE', `stream field ${options.streamField} is not a stream name: ${excerpt(String(JSON.stringify(s)))}`);
          if (options.streams !== null && !options.streams.includes(s)) return fail('ADAPTER_PARSE', `stream ${excerpt(s)} is not among the configured streams`);
          stream = s;
        }
        if (options.timeField !== null && options.timeField in object) {
          const t = parseTimestamp(object[options.timeField], options.timeFormat);
          if (t === undefined) return fail('ADAPTER_PARSE', `time field ${options.timeField} is not ${options.timeFormat}: ${excerpt(String(JSON.stringify(object[options.timeField])))}`);
          sourceTime = t;
        }
        const rest: Record<string, unknown> = { ...object };
        if (options.streamField !== null) delete rest[options.streamField];
        if (options.timeField !== null) delete rest[options.timeField];
        flatten(rest, '', 1, fields);
      } catch (error) {
        if (error instanceof Reject) return fail(error.code, error.message);
        return fail('ADAPTER_PARSE', `cannot flatten: ${(error as Error).message}`);
      }
      let invalidText = false;
      if (!valid) {
        for (const [name, value] of Object.entries(fields)) {
          if (name.includes('\ufffd')) return fail('ADAPTER_PARSE', `field name is not valid UTF-8: ${excerpt(name)}`);
          if (typeof value === 'string' && value.includes('\ufffd')) invalidText = true;
        }
      }
      const units: Record<string, string> = {};
      for (const [field, unit] of Object.entries(options.units)) {
        if (!(field in fields)) continue;
        const v = fields[field];
        if (v !== null && typeof v !== 'number') return fail('ADAPTER_PARSE', `field ${field} has unit ${unit} but is not a number: ${excerpt(String(JSON.stringify(v)))}`);
        units[field] = unit;
      }
      const reading: DecodedReading = { stream, fields, units, sourceTime };
      if (invalidText) addFlag(reading, 'TEXT_VALUE_INVALID_UTF8');
      return ok([reading]);
    },
  };
}

const definition: AdapterDefinition<JsonLinesOptions> = {
  name: 'json-lines',
  description: 'Generic JSON lines: one object per line; stream, time field and units from the configuration',
  optionsSchema,
  create: createJsonLines,
};

export default definition;
