/**
 * `skyhaul buffer check`: the full, O(file) check, never run at start-up (contract in
 * `./index.ts`, "Crash recovery and start-up"): SQLite's PRAGMA integrity_check, every record's
 * checksum, every record within its stream's cursors, no record of an unknown stream, and each
 * stream's counters equal to its rows and to the in-memory state (a row lagging its inserts,
 * contract "Stream rows", counted together with the records past its next_sequence). Read-only.
 */
import type { Connection } from './connection.ts';
import { checksumMatches, recordChecksum } from './checksum.ts';
import type { RecordRow, StreamRow } from './journal.ts';
import type { IntegrityReport } from './types.ts';

/** Problems listed at most; more are summarised in one line. */
const MAX_INTEGRITY_PROBLEMS = 1000;
/** Records read per query while checking a stream. */
const CHECK_CHUNK = 1000;

/** Checks the file behind `db` against itself and against `streams` (the buffer's in-memory state). */
export function checkIntegrity(db: Connection, streams: ReadonlyMap<string, StreamRow>): IntegrityReport {
  const problems: string[] = [];
  const problem = (p: string): void => {
    if (problems.length < MAX_INTEGRITY_PROBLEMS) problems.push(p);
    else if (problems.length === MAX_INTEGRITY_PROBLEMS) problems.push('... (further problems not listed)');
  };
  for (const line of db.prepare<[], string>('PRAGMA integrity_check', { pluck: true }).all()) {
    if (line !== 'ok') problem(`integrity_check: ${line}`);
  }
  let records = 0;
  const stored = new Map(
    db
      .prepare<[], { id: number; name: string; next_sequence: number; acked_sequence: number; records: number; bytes: number }>(
        'SELECT id, name, next_sequence, acked_sequence, records, bytes FROM streams',
      )
      .all()
      .map((r) => [r.id, r]),
  );
  const perStream = db.prepare<[], { id: number; n: number }>('SELECT stream_id AS id, count(*) AS n FROM records GROUP BY stream_id').all();
  for (const { id, n } of perStream) if (!stored.has(id)) problem(`${n} records of stream id ${id} belong to no stream`);
  for (const r of stored.values()) {
    const s = streams.get(r.name);
    if (s === undefined || s.id !== r.id) {
      problem(`stream '${r.name}' (id ${r.id}) is not loaded`);
      continue;
    }
    let n = 0;
    let bytes = 0;
    /** Records past the row's next_sequence (inserts the row does not count yet). */
    let tail = 0;
    let tailBytes = 0;
    let last = 0;
    // In chunks, not one iteration: on the writer thread every query is one round trip.
    const chunk = db.prepare<[number, number, number], RecordRow>(
      'SELECT sequence, ingest_time, source_time, size, crc, content_type, schema_ref, traceparent, payload FROM records WHERE stream_id = ? AND sequence > ? ORDER BY sequence LIMIT ?',
    );
    for (let rows = chunk.all(r.id, 0, CHECK_CHUNK); rows.length > 0; rows = rows.length < CHECK_CHUNK ? [] : chunk.all(r.id, last, CHECK_CHUNK)) {
      for (const row of rows) {
        n++;
        bytes += row.size;
        last = row.sequence;
        if (row.sequence <= r.acked_sequence) problem(`${r.name}#${row.sequence} lies outside the cursors (acked ${r.acked_sequence}, next ${r.next_sequence})`);
        if (row.sequence >= r.next_sequence) {
          if (row.sequence !== r.next_sequence + tail) problem(`${r.name}#${row.sequence} past the row's cursor ${r.next_sequence} does not run on from it`);
          tail++;
          tailBytes += row.size;
        }
        const crc = recordChecksum({
          stream: r.name,
          sequence: row.sequence,
          sourceTime: row.source_time,
          ingestTime: row.ingest_time,
          contentType: row.content_type,
          schemaRef: row.schema_ref,
          traceparent: row.traceparent,
          payload: row.payload,
        });
        if (!checksumMatches(row.crc, crc, row.payload, row.sequence)) problem(`${r.name}#${row.sequence} fails its checksum`);
      }
    }
    records += n;
    if (r.records + tail !== n || r.bytes + tailBytes !== bytes) {
      problem(`stream '${r.name}' counters say ${r.records + tail} records/${r.bytes + tailBytes} B, its rows hold ${n}/${bytes} B`);
    }
    const next = tail > 0 ? last + 1 : r.next_sequence;
    if (s.records !== n || s.bytes !== bytes || s.nextSequence !== next || s.ackedSequence !== r.acked_sequence) {
      problem(`stream '${r.name}': in-memory cursors/counters differ from its row`);
    }
  }
  return { ok: problems.length === 0, problems, records };
}
