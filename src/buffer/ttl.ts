/**
 * TTL (contract in `./index.ts`, "TTL"): per stream, records whose ingestTime + ttlMs has passed
 * are deleted from the stream's head (an index walk, no scan), counted as 'ttl', in transactions of
 * at most TTL_CHUNK records that yield to the event loop between them. Records in flight to the
 * broker and records stamped by a clock known to be wrong (below the time floor) are never expired.
 *
 * Functions over the buffer's state (`RecordBuffer`, which exposes sweepTtl()).
 */
import type { Connection } from './connection.ts';
import type { HeadRow, Journal, StreamRow } from './journal.ts';
import { HEAD_CHUNK, adjust, inFlightFloor } from './quota.ts';
import type { RecordBuffer } from './buffer.ts';

/** Records deleted per TTL transaction; the sweep yields to the event loop between transactions. */
const TTL_CHUNK = 1_000;
/** WAL auto-checkpoint threshold (pages) while a TTL sweep runs. */
const SWEEP_CHECKPOINT_PAGES = 512;

/**
 * Deletes records whose ingestTime + ttlMs <= now, per stream from its first record, stopping at
 * the first unexpired one (index walk, no scan). Counted as 'ttl'. Resolves with how many were
 * removed. At most TTL_CHUNK records per transaction, across streams, yielding to the event loop
 * between transactions, so a sweep over millions of records never stalls inputs or the API.
 * A record whose ingest time is below the time floor has an unknown age (it was stamped by a
 * clock known to be wrong) and is never expired; the walk stops there (contract, "Time").
 */
export async function sweepTtl(b: RecordBuffer, now: number = b.clock()): Promise<number> {
  b.requireWritable();
  const streams = [...b.streamsByName.values()].filter((s) => s.ttlMs !== null);
  let removed = 0;
  let next = 0;
  // A checkpoint runs inside the commit that crosses the threshold: during a sweep, which
  // rewrites many pages, smaller and more frequent checkpoints keep each stall short.
  const db = b.conn as Connection;
  const checkpointPages = Number(db.pragma('wal_autocheckpoint', { simple: true }));
  db.pragma(`wal_autocheckpoint = ${Math.min(checkpointPages, SWEEP_CHECKPOINT_PAGES)}`);
  try {
    while (next < streams.length && b.state === 'open') {
      let budget = TTL_CHUNK;
      b.relaxedTransact((j) => {
        while (next < streams.length && budget > 0) {
          const s = streams[next] as StreamRow;
          const n = s.records === 0 ? 0 : expireHead(b, s, now - (s.ttlMs as number), budget, j);
          removed += n;
          budget -= n;
          if (budget > 0) next++;
        }
      });
      if (next < streams.length) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    if (b.conn === db) db.pragma(`wal_autocheckpoint = ${checkpointPages}`);
  }
  return removed;
}

/** Expires at most `budget` records at the head of `s` (after its in-flight floor); returns how many. */
export function expireHead(b: RecordBuffer, s: StreamRow, cutoff: number, budget: number, j: Journal): number {
  const oldest = b.oldestOf(s);
  if (oldest === null || oldest > cutoff) return 0;
  let n = 0;
  let bytes = 0;
  let upTo = 0;
  const floor = inFlightFloor(b, s);
  let after = floor;
  scan: while (n < budget) {
    const rows = b.rec.headChunk.all(s.id, after, Math.min(HEAD_CHUNK, budget - n));
    for (const r of rows) {
      if (r.ingestTime > cutoff || r.ingestTime < b.timeFloor) break scan;
      n++;
      bytes += r.size;
      upTo = r.sequence;
    }
    if (rows.length === 0) break;
    after = (rows[rows.length - 1] as HeadRow).sequence;
  }
  if (n === 0) return 0;
  j.touch(s);
  b.rec.deleteRange.run(s.id, floor, upTo);
  adjust(b, s, -n, -bytes);
  if (s.records > 0) s.oldestIngestTime = undefined;
  j.countDrop(s.name, 'ttl', n);
  j.freed = true;
  return n;
}
