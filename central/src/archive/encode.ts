/**
 * The bytes of one archive object: the curated records of one run (one stream, one hour, one raw
 * subject) as Apache Parquet through `hyparquet-writer` (Parquet format 2; read back by pyarrow,
 * DuckDB and hyparquet), or as gzip-compressed JSON lines. Pure and deterministic: the same records
 * give the same bytes (no time, host or random value is written), which is what lets a replay
 * recognise an object it wrote before by its SHA-256.
 *
 * Parquet columns, in this order:
 *
 *   site_id, site_name, latitude, longitude, elevation_m, instrument_model, instrument_serial
 *   producer_id, stream, sequence (INT64)
 *   event_time, source_time, ingest_time, device_time   TIMESTAMP(MILLIS, UTC)
 *   traceparent, content_type, raw_subject
 *   flags (JSON text, an array), payload, payload_encoding  (non-readings: the payload as text)
 *   kafka_partition (INT32), kafka_offset (INT64)           where the record was in the curated topic
 *   one column per field of the raw subject's schema (`avroSchemaFor(raw_subject)`, the record
 *     `fields`): DOUBLE for numbers (the curated values, in SI units), BOOLEAN, STRING; named by the
 *     field's JSON name (`field_<name>` if that is one of the columns above); null where absent
 *   extra_fields (JSON text): the fields the schema does not declare (open schemas: json-lines,
 *     csv), null when there are none
 *
 * A subject the compiled catalogue does not know (a newer edge) gets its field columns from the
 * records themselves (values, text, booleans), sorted by name. Units (UCUM codes, after the ETL's
 * normalisation) are in the file's key-value metadata `skyhaul.units` (`{"field":"unit"}`) and in
 * the manifest; `skyhaul.raw_subject`, `skyhaul.kafka` (topic, partition, offsets) too. Compression:
 * SNAPPY (hyparquet-writer's built-in codec; every Parquet reader has it).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { CURATED_SUBJECT, type CuratedReading } from '../curated/index.ts';
import { avroSchemaFor, fromAvroName, type AvroType } from '../schemas/index.ts';
import type { ArchiveFormat } from './layout.ts';

/** A curated record with its place in the curated topic. */
export interface ArchivedRecord {
  offset: bigint;
  partition: number;
  reading: CuratedReading;
}

type ColumnType = 'STRING' | 'DOUBLE' | 'INT64' | 'INT32' | 'BOOLEAN' | 'TIMESTAMP';

interface Column {
  name: string;
  type: ColumnType;
  required: boolean;
  value: (r: ArchivedRecord) => unknown;
}

const json = (value: unknown): string => JSON.stringify(value);

const BASE_COLUMNS: Column[] = [
  { name: 'site_id', type: 'STRING', required: true, value: (r) => r.reading.site_id },
  { name: 'site_name', type: 'STRING', required: false, value: (r) => r.reading.site_name },
  { name: 'latitude', type: 'DOUBLE', required: false, value: (r) => r.reading.latitude },
  { name: 'longitude', type: 'DOUBLE', required: false, value: (r) => r.reading.longitude },
  { name: 'elevation_m', type: 'DOUBLE', required: false, value: (r) => r.reading.elevation_m },
  { name: 'instrument_model', type: 'STRING', required: false, value: (r) => r.reading.instrument_model },
  { name: 'instrument_serial', type: 'STRING', required: false, value: (r) => r.reading.instrument_serial },
  { name: 'producer_id', type: 'STRING', required: true, value: (r) => r.reading.producer_id },
  { name: 'stream', type: 'STRING', required: true, value: (r) => r.reading.stream },
  { name: 'sequence', type: 'INT64', required: true, value: (r) => BigInt(r.reading.sequence) },
  { name: 'event_time', type: 'TIMESTAMP', required: true, value: (r) => BigInt(r.reading.event_time) },
  { name: 'source_time', type: 'TIMESTAMP', required: false, value: (r) => (r.reading.source_time === null ? null : BigInt(r.reading.source_time)) },
  { name: 'ingest_time', type: 'TIMESTAMP', required: true, value: (r) => BigInt(r.reading.ingest_time) },
  { name: 'device_time', type: 'TIMESTAMP', required: false, value: (r) => (r.reading.device_time === null ? null : BigInt(r.reading.device_time)) },
  { name: 'traceparent', type: 'STRING', required: true, value: (r) => r.reading.traceparent },
  { name: 'content_type', type: 'STRING', required: true, value: (r) => r.reading.content_type },
  { name: 'raw_subject', type: 'STRING', required: true, value: (r) => r.reading.raw_subject },
  { name: 'flags', type: 'STRING', required: true, value: (r) => json(r.reading.flags) },
  { name: 'payload', type: 'STRING', required: false, value: (r) => r.reading.payload },
  { name: 'payload_encoding', type: 'STRING', required: false, value: (r) => r.reading.payload_encoding },
  { name: 'kafka_partition', type: 'INT32', required: true, value: (r) => r.partition },
  { name: 'kafka_offset', type: 'INT64', required: true, value: (r) => r.offset },
];
const BASE_NAMES = new Set(BASE_COLUMNS.map((c) => c.name).concat('extra_fields'));

/** A field of a stream: its JSON name and where its value is in the curated record. */
interface FieldSpec {
  name: string;
  kind: 'values' | 'text' | 'booleans';
}

function scalarOf(type: AvroType): string | null {
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return type.find((t) => t !== 'null') ?? null;
  return null;
}

/**
 * The declared fields of a raw subject (its Avro schema's `fields` record), or null when the
 * compiled catalogue does not know the subject (or it declares no fields: opaque, alarms).
 */
export function declaredFields(rawSubject: string): FieldSpec[] | null {
  let schema;
  try {
    schema = avroSchemaFor(rawSubject);
  } catch {
    return null;
  }
  const fields = schema.fields.find((f) => f.name === 'fields');
  if (fields === undefined || typeof fields.type !== 'object' || Array.isArray(fields.type) || fields.type.type !== 'record') return [];
  return fields.type.fields.map((f) => {
    const scalar = scalarOf(f.type);
    return { name: fromAvroName(f.name), kind: scalar === 'string' ? 'text' : scalar === 'boolean' ? 'booleans' : 'values' } as FieldSpec;
  });
}

function fieldsFromRecords(records: ArchivedRecord[]): FieldSpec[] {
  const specs = new Map<string, FieldSpec['kind']>();
  for (const { reading } of records) {
    for (const kind of ['values', 'text', 'booleans'] as const) for (const name of Object.keys(reading[kind])) if (!specs.has(name)) specs.set(name, kind);
  }
  return [...specs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, kind]) => ({ name, kind }));
}

/** UCUM code per field over the records (the first seen; a field whose unit changes within the object is listed as `a|b`). */
export function unitsOf(records: ArchivedRecord[]): Record<string, string> {
  const units = new Map<string, string[]>();
  for (const { reading } of records) {
    for (const [field, unit] of Object.entries(reading.units)) {
      const seen = units.get(field) ?? [];
      if (!seen.includes(unit)) seen.push(unit);
      units.set(field, seen);
    }
  }
  return Object.fromEntries([...units].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([field, list]) => [field, list.join('|')]));
}

/** What the encoder adds to the file's metadata. */
export interface ObjectContext {
  topic: string;
  partition: number;
  first: bigint;
  last: bigint;
  rawSubject: string;
}

const SCHEMA_ELEMENT: Record<ColumnType, Record<string, unknown>> = {
  STRING: { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  DOUBLE: { type: 'DOUBLE' },
  INT64: { type: 'INT64' },
  INT32: { type: 'INT32' },
  BOOLEAN: { type: 'BOOLEAN' },
  // Parquet LogicalType TIMESTAMP(isAdjustedToUTC=true, MILLIS): instants, read as TIMESTAMP WITH TIME ZONE.
  TIMESTAMP: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' } },
};

/** The columns of an object holding `records` (all of one raw subject). */
export function columnsFor(records: ArchivedRecord[], rawSubject: string): Column[] {
  const declared = declaredFields(rawSubject) ?? fieldsFromRecords(records);
  const declaredNames = new Set(declared.map((f) => f.name));
  const fieldColumns: Column[] = declared.map((f) => ({
    name: BASE_NAMES.has(f.name) ? `field_${f.name}` : f.name,
    type: f.kind === 'values' ? 'DOUBLE' : f.kind === 'text' ? 'STRING' : 'BOOLEAN',
    required: false,
    value: (r) => r.reading[f.kind][f.name] ?? null,
  }));
  const extra: Column = {
    name: 'extra_fields',
    type: 'STRING',
    required: false,
    value: (r) => {
      const out: Record<string, unknown> = {};
      for (const kind of ['values', 'text', 'booleans'] as const) for (const [name, v] of Object.entries(r.reading[kind])) if (!declaredNames.has(name)) out[name] = v;
      return Object.keys(out).length === 0 ? null : json(out);
    },
  };
  return [...BASE_COLUMNS, ...fieldColumns, extra];
}

/** The Parquet file of `records` (offset order kept). */
export function encodeParquet(records: ArchivedRecord[], context: ObjectContext): Uint8Array {
  const columns = columnsFor(records, context.rawSubject);
  const schema = [
    { name: 'root', num_children: columns.length },
    ...columns.map((c) => ({ name: c.name, repetition_type: c.required ? 'REQUIRED' : 'OPTIONAL', ...SCHEMA_ELEMENT[c.type] })),
  ];
  const buffer = parquetWriteBuffer({
    columnData: columns.map((c) => ({ name: c.name, data: records.map(c.value) as never[] })),
    schema: schema as never,
    codec: 'SNAPPY',
    // One row group per object: objects are bounded by the rotation (records, bytes).
    rowGroupSize: Math.max(1, records.length),
    createdBy: 'skyhaul-central archive (hyparquet-writer)',
    kvMetadata: [
      { key: 'skyhaul.curated_subject', value: CURATED_SUBJECT },
      { key: 'skyhaul.raw_subject', value: context.rawSubject },
      { key: 'skyhaul.units', value: json(unitsOf(records)) },
      { key: 'skyhaul.kafka', value: json({ topic: context.topic, partition: context.partition, first_offset: context.first.toString(), last_offset: context.last.toString(), records: records.length }) },
    ],
  });
  return new Uint8Array(buffer);
}

/** Gzip-compressed JSON lines: one curated record per line, plus `kafka_partition` and `kafka_offset` (a string: offsets exceed 2^53). */
export function encodeJsonLines(records: ArchivedRecord[]): Uint8Array {
  const text = records.map((r) => json({ ...r.reading, kafka_partition: r.partition, kafka_offset: r.offset.toString() })).join('\n');
  // gzip's header holds no file name or time here (Node writes MTIME 0), so equal input, equal bytes.
  return new Uint8Array(gzipSync(Buffer.from(`${text}\n`), { level: 6 }));
}

/** The object's bytes in `format`. */
export function encodeObject(format: ArchiveFormat, records: ArchivedRecord[], context: ObjectContext): Uint8Array {
  return format === 'parquet' ? encodeParquet(records, context) : encodeJsonLines(records);
}

/** Hex SHA-256 of bytes (FIPS 180-4). */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
