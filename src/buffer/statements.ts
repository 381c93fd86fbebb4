/**
 * The prepared statements of the writer: on the append log (shared by every stream) and on the
 * streams, drops, epochs and marks tables. Layout in `./index.ts`, "On-disk layout".
 */
import type { Connection, Stmt } from './connection.ts';
import type { HeadRow, RecordRow } from './journal.ts';

export type Statement<P extends unknown[], R = unknown> = Stmt<P, R>;

export interface Statements {
  /** Returns the new stream's id. */
  createStream: Statement<[string, string], number>;
  updateStream: Statement<[string, number, number, number, number, number | null, number]>;
  addDrop: Statement<[string, string, number]>;
  addEpoch: Statement<[string, number, string]>;
  pruneEpochs: Statement<[string, number]>;
  putMark: Statement<[string, string, string]>;
}

/**
 * Statements on the append log, shared by every stream (one set per connection, whatever the
 * number of streams): each takes the stream's id first and uses the (stream_id, sequence) index.
 */
export class RecordStatements {
  readonly insert: Statement<[number, number, number, number | null, number, number, string, string | null, string, Buffer]>;
  readonly deleteUpTo: Statement<[number, number]>;
  readonly deleteRange: Statement<[number, number, number]>;
  readonly deleteOne: Statement<[number, number]>;
  readonly rangeTotals: Statement<[number, number], { n: number; bytes: number }>;
  /** rangeTotals for several streams in one query: a JSON array of [stream_id, up to sequence]. */
  readonly rangeTotalsMany: Statement<[string], { id: number; n: number; bytes: number }>;
  readonly headChunk: Statement<[number, number, number], HeadRow>;
  readonly head: Statement<[number], number>;
  /** head for several streams in one query: a JSON array of stream ids; `t` null for an empty stream. */
  readonly headsMany: Statement<[string], { id: number; t: number | null }>;
  readonly readChunk: Statement<[number, number, number], RecordRow>;

  constructor(db: Connection) {
    const insert =
      'INSERT INTO records (stream_id, sequence, ingest_time, source_time, size, crc, content_type, schema_ref, traceparent, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
    this.insert = db.insertStatement(insert);
    this.deleteUpTo = db.prepare('DELETE FROM records WHERE stream_id = ? AND sequence <= ?');
    this.deleteRange = db.prepare('DELETE FROM records WHERE stream_id = ? AND sequence > ? AND sequence <= ?');
    this.deleteOne = db.prepare('DELETE FROM records WHERE stream_id = ? AND sequence = ?');
    this.rangeTotals = db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM records WHERE stream_id = ? AND sequence <= ?');
    this.rangeTotalsMany = db.prepare(
      'SELECT r.stream_id AS id, count(*) AS n, coalesce(sum(r.size), 0) AS bytes FROM json_each(?) j JOIN records r ON r.stream_id = j.value ->> 0 AND r.sequence <= j.value ->> 1 GROUP BY r.stream_id',
    );
    this.headChunk = db.prepare('SELECT sequence, ingest_time AS ingestTime, size FROM records WHERE stream_id = ? AND sequence > ? ORDER BY sequence LIMIT ?');
    this.head = db.prepare<[number], number>('SELECT ingest_time FROM records WHERE stream_id = ? ORDER BY sequence LIMIT 1', { pluck: true });
    this.headsMany = db.prepare(
      'SELECT j.value AS id, (SELECT ingest_time FROM records WHERE stream_id = j.value ORDER BY sequence LIMIT 1) AS t FROM json_each(?) j',
    );
    this.readChunk = db.prepare(
      'SELECT sequence, ingest_time, source_time, size, crc, content_type, schema_ref, traceparent, payload FROM records WHERE stream_id = ? AND sequence > ? ORDER BY sequence LIMIT ?',
    );
  }
}

/** The writer's statements on the streams, drops, epochs and marks tables. */
export function prepareStatements(db: Connection): Statements {
  return {
    createStream: db.prepare(
      'INSERT INTO streams (name, priority, next_sequence, acked_sequence, records, bytes) VALUES (?, ?, 1, 0, 0, 0) RETURNING id',
      { pluck: true },
    ),
    updateStream: db.prepare(
      'UPDATE streams SET priority = ?, next_sequence = ?, acked_sequence = ?, records = ?, bytes = ?, last_ingest_time = ? WHERE id = ?',
    ),
    addEpoch: db.prepare('INSERT INTO producer_epochs (stream, up_to, producer_id) VALUES (?, ?, ?)'),
    pruneEpochs: db.prepare('DELETE FROM producer_epochs WHERE stream = ? AND up_to <= ?'),
    putMark: db.prepare(
      'INSERT INTO source_marks (source, key, fingerprint) VALUES (?, ?, ?) ON CONFLICT (source, key) DO UPDATE SET fingerprint = excluded.fingerprint',
    ),
    addDrop: db.prepare(
      'INSERT INTO drops (stream, reason, count) VALUES (?, ?, ?) ON CONFLICT (stream, reason) DO UPDATE SET count = count + excluded.count',
    ),
  };
}
