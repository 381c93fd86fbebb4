/**
 * The manifest: one small JSON object per archive object, under
 * `<prefix>_manifest/topic=<topic>/partition=<p>/<last offset, 20 digits>.json`, so the manifest of a
 * Kafka partition is that prefix, listed in offset order. A reader checks completeness with it: the
 * entries of a partition name every object, its record count, offsets, time range, producers'
 * sequence ranges and SHA-256; an entry whose object is missing, or whose object's SHA-256 differs,
 * is an object still being written (or a fault to report).
 *
 * An entry is written BEFORE its object (an intent), with putIfAbsent: a replay that finds an entry
 * without its object re-forms exactly that run of records (the entry's bucket and offsets), whatever
 * the rotation rules would say now, so an object is never written under two groupings. Offsets are
 * committed only once both are durable (central invariant 11).
 *
 * Entry (JSON, keys in this order; offsets as strings, since they exceed 2^53):
 *   version 1, key, format ('parquet'|'jsonl.gz'), topic, partition, first_offset, last_offset,
 *   records, bytes, sha256 (hex, of the object's bytes), site_id, stream, date, hour, raw_subject,
 *   min_event_time, max_event_time (ms since epoch), units ({field: UCUM code}),
 *   producers ({producer_id: {first_sequence, last_sequence, records}}), closed_by
 *   ('records'|'bytes'|'time'|'subject'|'memory'|'split'|'replay': which rule ended the object).
 */
import type { ArchiveFormat } from './layout.ts';

export type CloseReason = 'records' | 'bytes' | 'time' | 'subject' | 'memory' | 'split' | 'replay';

export interface ManifestEntry {
  version: 1;
  key: string;
  format: ArchiveFormat;
  topic: string;
  partition: number;
  first_offset: string;
  last_offset: string;
  records: number;
  bytes: number;
  sha256: string;
  site_id: string;
  stream: string;
  date: string;
  hour: string;
  raw_subject: string;
  min_event_time: number;
  max_event_time: number;
  units: Record<string, string>;
  producers: Record<string, { first_sequence: number; last_sequence: number; records: number }>;
  closed_by: CloseReason;
}

/** The entry's bytes (UTF-8 JSON, fixed key order: equal entries, equal bytes). */
export function serialiseEntry(entry: ManifestEntry): Buffer {
  return Buffer.from(`${JSON.stringify(entry)}\n`);
}

/** A manifest entry read back; throws an Error naming the key and the problem for anything else. */
export function parseEntry(key: string, bytes: Buffer): ManifestEntry {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new Error(`manifest entry ${key}: not JSON: ${(error as Error).message}`);
  }
  const e = value as Partial<ManifestEntry>;
  const problems: string[] = [];
  if (e.version !== 1) problems.push(`version ${String(e.version)} is not 1`);
  for (const field of ['key', 'topic', 'first_offset', 'last_offset', 'sha256', 'site_id', 'stream', 'date', 'hour', 'raw_subject'] as const) {
    if (typeof e[field] !== 'string') problems.push(`${field} is not a string`);
  }
  for (const field of ['partition', 'records', 'bytes', 'min_event_time', 'max_event_time'] as const) {
    if (typeof e[field] !== 'number' || !Number.isFinite(e[field])) problems.push(`${field} is not a number`);
  }
  if (typeof e.first_offset === 'string' && !/^\d+$/.test(e.first_offset)) problems.push('first_offset is not an offset');
  if (typeof e.last_offset === 'string' && !/^\d+$/.test(e.last_offset)) problems.push('last_offset is not an offset');
  if (problems.length > 0) throw new Error(`manifest entry ${key}: ${problems.join('; ')}`);
  return e as ManifestEntry;
}
