/**
 * Where the archiver puts things in the bucket: pure functions of a record and of Kafka
 * coordinates, so a replay computes the same keys (ARCHITECTURE.md central invariant 11).
 *
 *   <prefix>site=<site_id>/stream=<stream>/date=YYYY-MM-DD/hour=HH/<topic>-<partition>-<first>-<last>.parquet
 *   <prefix>_manifest/topic=<topic>/partition=<partition>/<last offset, 20 digits>.json
 *   <prefix>_rejected/topic=<topic>/partition=<partition>/<offset, 20 digits>.json
 *
 * Data objects follow the Hive layout (`name=value` directories; Apache Hive's
 * `FileUtils.escapePathName` escaping, which DuckDB, Spark and Trino undo when they read the
 * partition values back): `site` and `stream` are the record's, `date` and `hour` its event time
 * in UTC. A stream name holds `/` (`weather/mast1/ptu`), so it is escaped (`weather%2Fmast1%2Fptu`).
 * The file name is Kafka Connect's S3 sink convention (topic, partition, first offset) plus the
 * last offset: (topic, partition, first, last) names exactly one run of records.
 *
 * Names starting with `_` are skipped by Hive-style readers (Spark, DuckDB's globbing of
 * `site=*\/...`), so the manifest and rejected records never mix with the data.
 */

/** Characters Hive escapes in a partition value (FileUtils.charToEscape): controls, `"#%'*\/:=?\\{[]^` and DEL. */
// eslint-disable-next-line no-control-regex -- Hive escapes the control characters themselves
const HIVE_ESCAPE = /[\u0000-\u001f"#%'*/:=?\\{[\]^\u007f]/g;

/** A partition value escaped as Hive does: each escaped character as `%XX` (upper-case hex of its code unit). */
export function escapeHiveValue(value: string): string {
  return value.replace(HIVE_ESCAPE, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The inverse of escapeHiveValue (`%XX` back to its character). */
export function unescapeHiveValue(value: string): string {
  return value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The Hive partition of a record: its site and stream, and its event time's UTC date and hour. */
export interface HivePartition {
  site: string;
  stream: string;
  /** YYYY-MM-DD (UTC). */
  date: string;
  /** 00-23 (UTC). */
  hour: string;
}

/** The partition of a record with this site, stream and event time (ms since epoch). */
export function hivePartition(site: string, stream: string, eventTimeMs: number): HivePartition {
  const iso = new Date(eventTimeMs).toISOString(); // YYYY-MM-DDTHH:mm:ss.sssZ (±YYYYYY for years past 9999)
  const t = iso.indexOf('T');
  return { site, stream, date: iso.slice(0, t), hour: iso.slice(t + 1, t + 3) };
}

/** `site=…/stream=…/date=…/hour=…/` (escaped), the directory of a partition's objects. */
export function hiveDirectory(p: HivePartition): string {
  return `site=${escapeHiveValue(p.site)}/stream=${escapeHiveValue(p.stream)}/date=${p.date}/hour=${p.hour}/`;
}

export type ArchiveFormat = 'parquet' | 'jsonl.gz';

/** The key of the object holding the records of `topic`/`partition` from `first` to `last` (offsets) in `p`. */
export function objectKey(prefix: string, p: HivePartition, topic: string, partition: number, first: bigint, last: bigint, format: ArchiveFormat): string {
  return `${prefix}${hiveDirectory(p)}${topic}-${partition}-${first}-${last}.${format}`;
}

/** Offsets as 20 digits (the most a Kafka offset, a signed 64-bit integer, has), so keys sort by offset. */
export function padOffset(offset: bigint): string {
  return offset.toString().padStart(20, '0');
}

/** The prefix of a Kafka partition's manifest entries. */
export function manifestPrefix(prefix: string, topic: string, partition: number): string {
  return `${prefix}_manifest/topic=${topic}/partition=${partition}/`;
}

/** The key of the manifest entry of the object whose last record has offset `last` (one object per last offset). */
export function manifestKey(prefix: string, topic: string, partition: number, last: bigint): string {
  return `${manifestPrefix(prefix, topic, partition)}${padOffset(last)}.json`;
}

/** The key under which a record the archiver cannot read is kept, as it came. */
export function rejectedKey(prefix: string, topic: string, partition: number, offset: bigint): string {
  return `${prefix}_rejected/topic=${topic}/partition=${partition}/${padOffset(offset)}.json`;
}
