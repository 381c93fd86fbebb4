/**
 * The curated record: what the ETL writes for each raw record (topic `skyhaul.curated.<site>`,
 * key = stream, every raw header kept), and what the archiver puts in the lake. One Avro schema
 * for every stream (registry subject `skyhaul.curated.v1`), so a new adapter needs no change here:
 *
 *   site_id, site_name, latitude, longitude, elevation_m   from the site registry (null when unknown)
 *   instrument_model, instrument_serial                    the instrument entry matching the stream
 *   producer_id, stream, sequence                          the record's identity (unchanged)
 *   event_time        ms since epoch: source_time, else ingest_time (what windows and the lake use)
 *   source_time, ingest_time, device_time, traceparent, content_type
 *   raw_subject       the registry subject of the raw value (its schema names the fields)
 *   values            numeric fields, in SI units where a target is known (units.ts); null = the
 *                     instrument marked the value invalid, or did not send it
 *   units             UCUM code per numeric field, after normalisation
 *   text, booleans    the other fields, unchanged
 *   flags             READING_FLAGS codes
 *   payload, payload_encoding   for a record that is not a reading (an alarm, a self-test, an
 *                     opaque payload): its payload as JSON text ('json'), UTF-8 text ('utf8') or
 *                     base64 ('base64'); null for readings
 *
 * The aggregate record (`skyhaul.aggregate.v1`, topic `skyhaul.aggregates.<site>`): one per
 * stream, numeric field and 1-minute event-time window.
 */
import type { TelemetryRecord } from '../../../src/record/record.ts';
import type { SiteRegistry } from './sites.ts';
import type { UnitNormaliser } from './units.ts';

export const CURATED_SUBJECT = 'skyhaul.curated.v1';
export const AGGREGATE_SUBJECT = 'skyhaul.aggregate.v1';

/**
 * A curated topic also holds heartbeats: records with no key and no value, header
 * `record_kind: heartbeat` and `heartbeat_time: <ms since epoch>`, one per partition, written by
 * the ETL while it is caught up. They say "no record of this partition will be older than this in
 * ingest time, as far as the ETL knows", which lets the archiver close an idle partition's objects
 * by a record in the log rather than by its own clock. Readers of curated records skip them.
 */
export const RECORD_KIND_HEADER = 'record_kind';
export const HEARTBEAT_KIND = 'heartbeat';
export const HEARTBEAT_TIME_HEADER = 'heartbeat_time';

const nullable = (type: 'string' | 'double' | 'long') => ({ type: ['null', type] as const, default: null });

export const CURATED_SCHEMA = {
  type: 'record',
  name: 'CuratedReading',
  namespace: 'skyhaul.curated',
  doc: 'A telemetry record after the ETL: identity, times, site metadata, values in SI units (central/src/curated/index.ts).',
  fields: [
    { name: 'site_id', type: 'string' },
    { name: 'site_name', ...nullable('string') },
    { name: 'latitude', ...nullable('double'), doc: 'WGS 84 degrees' },
    { name: 'longitude', ...nullable('double'), doc: 'WGS 84 degrees' },
    { name: 'elevation_m', ...nullable('double'), doc: 'metres above mean sea level' },
    { name: 'instrument_model', ...nullable('string') },
    { name: 'instrument_serial', ...nullable('string') },
    { name: 'producer_id', type: 'string' },
    { name: 'stream', type: 'string' },
    { name: 'sequence', type: 'long' },
    { name: 'event_time', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'source_time, else ingest_time' },
    { name: 'source_time', ...nullable('long') },
    { name: 'ingest_time', type: 'long' },
    { name: 'device_time', ...nullable('long') },
    { name: 'traceparent', type: 'string' },
    { name: 'content_type', type: 'string' },
    { name: 'raw_subject', type: 'string' },
    { name: 'values', type: { type: 'map', values: ['null', 'double'] }, default: {} },
    { name: 'units', type: { type: 'map', values: 'string' }, default: {} },
    { name: 'text', type: { type: 'map', values: ['null', 'string'] }, default: {} },
    { name: 'booleans', type: { type: 'map', values: ['null', 'boolean'] }, default: {} },
    { name: 'flags', type: { type: 'array', items: 'string' }, default: [] },
    { name: 'payload', ...nullable('string') },
    { name: 'payload_encoding', ...nullable('string') },
  ],
} as const;

export const AGGREGATE_SCHEMA = {
  type: 'record',
  name: 'Aggregate',
  namespace: 'skyhaul.aggregate',
  doc: 'One numeric field of one stream over a 1-minute event-time window [window_start, window_end).',
  fields: [
    { name: 'site_id', type: 'string' },
    { name: 'stream', type: 'string' },
    { name: 'field', type: 'string' },
    { name: 'unit', type: 'string' },
    { name: 'window_start', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'window_end', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'count', type: 'long', doc: 'records with a value (null values are not counted)' },
    { name: 'min', type: 'double' },
    { name: 'max', type: 'double' },
    { name: 'mean', type: 'double' },
    { name: 'last', type: 'double', doc: 'the value with the latest event time (the later offset on a tie)' },
    { name: 'last_event_time', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
} as const;

export interface CuratedReading {
  site_id: string;
  site_name: string | null;
  latitude: number | null;
  longitude: number | null;
  elevation_m: number | null;
  instrument_model: string | null;
  instrument_serial: string | null;
  producer_id: string;
  stream: string;
  sequence: number;
  event_time: number;
  source_time: number | null;
  ingest_time: number;
  device_time: number | null;
  traceparent: string;
  content_type: string;
  raw_subject: string;
  values: Record<string, number | null>;
  units: Record<string, string>;
  text: Record<string, string | null>;
  booleans: Record<string, boolean | null>;
  flags: string[];
  payload: string | null;
  payload_encoding: 'json' | 'utf8' | 'base64' | null;
}

export interface AggregateRecord {
  site_id: string;
  stream: string;
  field: string;
  unit: string;
  window_start: number;
  window_end: number;
  count: number;
  min: number;
  max: number;
  mean: number;
  last: number;
  last_event_time: number;
}

/** What curate() noticed, for the ETL's counters. */
export interface CurateNotes {
  siteUnknown: boolean;
  /** Units kept as they came because UCUM does not know them. */
  unknownUnits: string[];
  /** Values converted to an SI unit. */
  converted: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for the payload shape of an adapter reading: `{ fields: {…}, units: {…}, … }`. */
function isReading(payload: unknown): payload is { fields: Record<string, unknown>; units?: Record<string, unknown>; flags?: unknown; device_time?: unknown } {
  return isPlainObject(payload) && isPlainObject(payload.fields);
}

/**
 * The curated form of a raw record whose payload (the bytes the edge sent) has been decoded and
 * validated against its registry subject. `json` is the parsed payload when its content type is
 * JSON, undefined otherwise.
 */
export function curate(record: TelemetryRecord, json: unknown, rawSubject: string, sites: SiteRegistry, units: UnitNormaliser): { curated: CuratedReading; notes: CurateNotes } {
  const site = sites.site(record.siteId);
  const instrument = site === undefined ? undefined : sites.instrument(site, record.stream);
  const notes: CurateNotes = { siteUnknown: site === undefined, unknownUnits: [], converted: 0 };
  const curated: CuratedReading = {
    site_id: record.siteId,
    site_name: site?.name ?? null,
    latitude: site?.latitude ?? null,
    longitude: site?.longitude ?? null,
    elevation_m: site?.elevation_m ?? null,
    instrument_model: instrument?.model ?? null,
    instrument_serial: instrument?.serial ?? null,
    producer_id: record.producerId,
    stream: record.stream,
    sequence: record.sequence,
    event_time: record.sourceTime ?? record.ingestTime,
    source_time: record.sourceTime,
    ingest_time: record.ingestTime,
    device_time: null,
    traceparent: record.traceparent,
    content_type: record.contentType,
    raw_subject: rawSubject,
    values: {},
    units: {},
    text: {},
    booleans: {},
    flags: [],
    payload: null,
    payload_encoding: null,
  };
  if (!isReading(json)) {
    if (json !== undefined) {
      curated.payload = JSON.stringify(json);
      curated.payload_encoding = 'json';
    } else {
      const text = record.payload.toString('utf8');
      const utf8 = Buffer.from(text, 'utf8').equals(record.payload);
      curated.payload = utf8 ? text : record.payload.toString('base64');
      curated.payload_encoding = utf8 ? 'utf8' : 'base64';
    }
    return { curated, notes };
  }
  const declaredUnits = isPlainObject(json.units) ? json.units : {};
  for (const [name, value] of Object.entries(json.fields)) {
    const unit = typeof declaredUnits[name] === 'string' ? (declaredUnits[name] as string) : undefined;
    if (typeof value === 'number' || (value === null && unit !== undefined)) {
      if (unit === undefined) {
        curated.values[name] = value;
        continue;
      }
      const normalised = value === null ? null : units.normalise(value, unit);
      if (normalised !== null) notes.converted += 1;
      else if (value !== null && !units.isKnown(unit)) notes.unknownUnits.push(unit);
      curated.values[name] = normalised?.value ?? value;
      curated.units[name] = normalised?.unit ?? units.targetOf(unit);
    } else if (typeof value === 'boolean') curated.booleans[name] = value;
    else if (typeof value === 'string') curated.text[name] = value;
    else if (value === null) curated.values[name] = null;
  }
  if (Array.isArray(json.flags)) curated.flags = json.flags.filter((f): f is string => typeof f === 'string');
  if (typeof json.device_time === 'number') curated.device_time = json.device_time;
  return { curated, notes };
}
