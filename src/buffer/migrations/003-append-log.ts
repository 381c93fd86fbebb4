/**
 * Schema 2 -> 3: one append log for every stream instead of one table per stream (contract,
 * "On-disk layout").
 *
 * Every record of every `records_<id>` table is copied into `records` under its stream's id with
 * its sequence, times, sizes, checksum, content type, schema ref, traceparent and payload
 * unchanged (the checksum does not cover the layout, so it stays valid), stream by stream in
 * sequence order; then the per-stream tables are dropped (their pages go to the freelist, which
 * the vacuum job returns to the filesystem). Cursors, counters, drop counters, producer epochs and
 * source marks are not touched.
 *
 * Cost: one pass over the records, in the one transaction that also checks the result (see
 * `migrateChecked` in ../schema.ts); the file and its WAL need about the size of the records in
 * free space while it runs. Measured: about 1 s per 100,000 records here (npm run bench,
 * `migration_records_per_s`).
 */
import type Database from 'better-sqlite3';
import type { Migration } from './index.ts';

/**
 * The log: `pos` (the rowid) is the global append position, so a group commit touching many
 * streams appends to one right edge; the unique index on (stream_id, sequence) serves per-stream
 * reads, head walks and prefix deletes.
 */
export const RECORDS_DDL = `
CREATE TABLE records (
  pos          INTEGER PRIMARY KEY,
  stream_id    INTEGER NOT NULL,
  sequence     INTEGER NOT NULL,
  ingest_time  INTEGER NOT NULL,
  source_time  INTEGER,
  size         INTEGER NOT NULL,
  crc          INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  schema_ref   TEXT,
  traceparent  TEXT NOT NULL,
  payload      BLOB NOT NULL
);
CREATE UNIQUE INDEX records_by_stream ON records (stream_id, sequence);
`;

const PER_STREAM_TABLE = /^records_([1-9][0-9]*)$/;

export const migration003: Migration = {
  from: 2,
  to: 3,
  name: 'append-log',
  up(db: Database.Database): void {
    db.exec(RECORDS_DDL);
    const tables = db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all();
    const ids = tables.flatMap((t) => {
      const m = PER_STREAM_TABLE.exec(t);
      return m === null ? [] : [Number(m[1])];
    });
    for (const id of ids.sort((a, b) => a - b)) {
      // `id` comes from the table name matched above: an integer, never user text.
      db.exec(
        `INSERT INTO records (stream_id, sequence, ingest_time, source_time, size, crc, content_type, schema_ref, traceparent, payload)
         SELECT ${id}, sequence, ingest_time, source_time, size, crc, content_type, schema_ref, traceparent, payload FROM records_${id} ORDER BY sequence;
         DROP TABLE records_${id};`,
      );
    }
  },
};
