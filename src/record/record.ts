/**
 * The record: one instrument reading as it travels from input to the data centre. Shared with
 * `central/`, which decodes it from Pulsar and de-duplicates on (producer_id, stream, sequence).
 *
 * `sequence` is assigned by the buffer when the record commits: strictly increasing per producer
 * and stream, contiguous unless records were dropped (and then counted), never reused, and not
 * derived from the wall clock.
 */
import { randomBytes } from 'node:crypto';

export interface TelemetryRecord {
  siteId: string;
  /** This daemon's stable id (kept in the buffer, so it survives restarts). */
  producerId: string;
  /** Instrument/channel, e.g. `weather/wxt536` — the Pulsar message key. */
  stream: string;
  sequence: number;
  /** When the instrument took the reading (ms since epoch), if it says. */
  sourceTime: number | null;
  /** When Skyhaul received it (ms since epoch). */
  ingestTime: number;
  contentType: string;
  /** e.g. `skyhaul.adapter.vaisala-wxt/v1`; null for opaque payloads. */
  schemaRef: string | null;
  payload: Buffer;
  /** W3C trace context, `00-<trace-id>-<parent-id>-<flags>`. */
  traceparent: string;
}

/** What an input hands to the buffer: the buffer adds producer, sequence and (if absent) ingest time. */
export interface IncomingRecord {
  stream: string;
  payload: Buffer;
  contentType?: string;
  schemaRef?: string | null;
  sourceTime?: number | null;
  ingestTime?: number;
  traceparent?: string;
}

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

export function isValidTraceparent(value: string): boolean {
  return TRACEPARENT.test(value) && !value.startsWith('00-00000000000000000000000000000000');
}

/** Pulsar property names: the wire contract with `central/` (see README, "The record on Pulsar"). */
export const PROPERTY = {
  siteId: 'site_id',
  producerId: 'producer_id',
  stream: 'stream',
  sequence: 'sequence',
  sourceTime: 'source_time',
  ingestTime: 'ingest_time',
  contentType: 'content_type',
  schemaRef: 'schema',
  traceparent: 'traceparent',
} as const;

export interface PulsarMessage {
  key: string;
  payload: Buffer;
  properties: Record<string, string>;
  /** Pulsar event time: the source time when known, else the ingest time. */
  eventTime: number;
}

export function toPulsarMessage(record: TelemetryRecord): PulsarMessage {
  const properties: Record<string, string> = {
    [PROPERTY.siteId]: record.siteId,
    [PROPERTY.producerId]: record.producerId,
    [PROPERTY.stream]: record.stream,
    [PROPERTY.sequence]: String(record.sequence),
    [PROPERTY.ingestTime]: String(record.ingestTime),
    [PROPERTY.contentType]: record.contentType,
    [PROPERTY.traceparent]: record.traceparent,
  };
  if (record.sourceTime !== null) properties[PROPERTY.sourceTime] = String(record.sourceTime);
  if (record.schemaRef !== null) properties[PROPERTY.schemaRef] = record.schemaRef;
  return { key: record.stream, payload: record.payload, properties, eventTime: record.sourceTime ?? record.ingestTime };
}

export class RecordDecodeError extends Error {}

/** Inverse of toPulsarMessage, for consumers (central bridge, tests). */
export function fromPulsarMessage(message: { key?: string; payload: Buffer; properties: Record<string, string> }): TelemetryRecord {
  const p = message.properties;
  const required = (name: string): string => {
    const value = p[name];
    if (value === undefined || value === '') throw new RecordDecodeError(`message lacks property '${name}'`);
    return value;
  };
  const integer = (name: string, value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new RecordDecodeError(`property '${name}' is not an integer: '${value}'`);
    return n;
  };
  const stream = required(PROPERTY.stream);
  const sourceTime = p[PROPERTY.sourceTime];
  if (message.key !== undefined && message.key !== stream) {
    throw new RecordDecodeError(`message key '${message.key}' differs from stream property '${stream}'`);
  }
  return {
    siteId: required(PROPERTY.siteId),
    producerId: required(PROPERTY.producerId),
    stream,
    sequence: integer(PROPERTY.sequence, required(PROPERTY.sequence)),
    sourceTime: sourceTime === undefined ? null : integer(PROPERTY.sourceTime, sourceTime),
    ingestTime: integer(PROPERTY.ingestTime, required(PROPERTY.ingestTime)),
    contentType: required(PROPERTY.contentType),
    schemaRef: p[PROPERTY.schemaRef] ?? null,
    payload: message.payload,
    traceparent: required(PROPERTY.traceparent),
  };
}

/** The key consumers de-duplicate on. */
export function dedupKey(record: Pick<TelemetryRecord, 'producerId' | 'stream' | 'sequence'>): string {
  return `${record.producerId}\u0000${record.stream}\u0000${record.sequence}`;
}
