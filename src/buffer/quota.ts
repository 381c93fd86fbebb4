/**
 * Quota and eviction (contract in `./index.ts`, "Quota"): the decision taken for each unit inside
 * the group commit's transaction (insert, evict the oldest of lower or equal classes under
 * 'drop-oldest', drop the newest, or wait under 'block'), the bounded queue of waiting units
 * (`maxBlockedBytes`; beyond it 'backpressure_overflow', or 'disk_low' while the disk watchdog has
 * stopped intake), and the per-class and total counters every decision reads. Every record
 * dropped here is counted by stream and reason (invariant 4).
 *
 * Functions over the buffer's state (`RecordBuffer`); nothing here commits by itself: the caller's
 * Journal (`./journal.ts`) carries what changed to COMMIT or ROLLBACK.
 */
import type { HeadCursor, HeadRow, Journal, StreamRow } from './journal.ts';
import type { Unit } from './units.ts';
import { OVER_LIMIT_STREAM, PRIORITY_ORDER } from './types.ts';
import type { DropReason, PriorityClass } from './types.ts';
import { insert, overStreamLimit } from './writer.ts';
import type { RecordBuffer } from './buffer.ts';

/** Rows per statement when walking a stream's head (eviction, TTL). */
export const HEAD_CHUNK = 256;

/** New appends, in arrival order. */
export function admitNew(b: RecordBuffer, u: Unit, j: Journal): void {
  if (!b.watchdog.accepting) return park(b, u, 'disk', j);
  // Keep each class's waiters in order: nothing of a class overtakes its own blocked records.
  if (b.blocked[u.priority].length > 0) return park(b, u, 'quota', j);
  if (place(b, u, j) === 'wait') park(b, u, 'quota', j);
}

/** Blocked appends, highest class first, FIFO within a class; a class stops at its first misfit. */
export function retryBlockedEntries(b: RecordBuffer, j: Journal): void {
  for (const c of PRIORITY_ORDER) {
    const q = b.blocked[c];
    while (q.length > 0 && b.watchdog.accepting) {
      const u = q.peek() as Unit;
      if (place(b, u, j) === 'wait') break;
      q.shift();
      b.blockedBytes -= u.size;
      j.unblocked.push(u);
    }
  }
}

/** Waits under 'block' or disk-low, bounded by maxBlockedBytes (beyond it: the newest is dropped). */
export function park(b: RecordBuffer, u: Unit, why: 'quota' | 'disk', j: Journal): void {
  if (b.blockedBytes + u.size > b.maxBlockedBytes) {
    dropUnit(b, u, why === 'disk' ? 'disk_low' : 'backpressure_overflow', j);
    return;
  }
  b.blocked[u.priority].push(u);
  b.blockedBytes += u.size;
  j.newlyBlocked.push(u);
}

/** Every record of the unit is counted as dropped; its append rejects after COMMIT. */
export function dropUnit(b: RecordBuffer, u: Unit, reason: DropReason, j: Journal): void {
  for (const e of u.entries) {
    j.countDrop(reason === 'stream_limit' ? OVER_LIMIT_STREAM : e.stream, reason, 1);
    if (reason === 'stream_limit' && !b.streamsByName.has(e.stream)) {
      // Cached when the append came in, before the limit was known: a refused stream keeps nothing.
      b.writerMeta.delete(e.stream);
      b.newStreamConfig.delete(e.stream);
    }
  }
  j.dropped.push({ unit: u, reason });
}

/**
 * Quota decision for one record (contract: "Quota"). 'wait' only under the 'block' policy.
 * Inside the transaction: evictions and the insert happen here.
 */
export function place(b: RecordBuffer, e: Unit, j: Journal): 'inserted' | 'dropped' | 'wait' {
  const refused = overStreamLimit(b, e);
  if (refused !== null) {
    j.streamLimited = refused;
    dropUnit(b, e, 'stream_limit', j);
    return 'dropped';
  }
  if (e.size > b.quotaBytes) {
    dropUnit(b, e, 'quota_drop_newest', j);
    return 'dropped';
  }
  // Normally need <= e.size. When the buffer is already far over quota (the quota was lowered,
  // a backlog was carried over), each record frees only its own size: converging gradually
  // instead of evicting millions of rows in one transaction and stalling the event loop.
  const need = Math.min(b.totalBytes + e.size - b.quotaBytes, e.size);
  if (need > 0) {
    const policy = b.policies[e.priority];
    const mine = PRIORITY_ORDER.indexOf(e.priority);
    let evictable = policy === 'drop-oldest' ? b.classTotals[e.priority].bytes : 0;
    for (let i = mine + 1; i < PRIORITY_ORDER.length; i++) {
      const c = PRIORITY_ORDER[i] as PriorityClass;
      if (b.policies[c] === 'drop-oldest') evictable += b.classTotals[c].bytes;
    }
    if (evictable < need) {
      if (policy === 'block') return 'wait';
      dropUnit(b, e, 'quota_drop_newest', j);
      return 'dropped';
    }
    let remaining = need;
    for (let i = PRIORITY_ORDER.length - 1; i > mine && remaining > 0; i--) {
      const c = PRIORITY_ORDER[i] as PriorityClass;
      if (b.policies[c] === 'drop-oldest') remaining -= evictFromClass(b, c, remaining, j);
    }
    if (remaining > 0 && policy === 'drop-oldest') remaining -= evictFromClass(b, e.priority, remaining, j);
    if (remaining > 0) {
      // Counters promised more than the rows held; refuse rather than exceed the quota.
      b.logger.error({ stream: e.entries[0]?.stream, remaining }, 'buffer: eviction freed less than the counters promised');
      if (policy === 'block') return 'wait';
      dropUnit(b, e, 'quota_drop_newest', j);
      return 'dropped';
    }
  }
  for (const entry of e.entries) insert(b, entry, j);
  if (e.mark !== null) j.marks.set(`${e.mark.source}\u0000${e.mark.key}`, e.mark);
  j.insertedUnits.push(e);
  return 'inserted';
}

/** Oldest-first across the class's streams (by each stream's first record), prefix-only per stream. */
export function evictFromClass(b: RecordBuffer, c: PriorityClass, need: number, j: Journal): number {
  let freed = 0;
  while (freed < need) {
    let best: StreamRow | null = null;
    let bestHead: HeadRow | null = null;
    for (const s of b.byClass[c]) {
      if (s.records === 0) continue;
      const h = peekHead(b, s, j);
      if (h !== null && (bestHead === null || h.ingestTime < bestHead.ingestTime)) {
        best = s;
        bestHead = h;
      }
    }
    if (best === null || bestHead === null) break;
    const cursor = j.heads.get(best) as HeadCursor;
    cursor.idx++;
    j.touch(best);
    j.evictUpTo.set(best, bestHead.sequence);
    best.oldestIngestTime = undefined;
    adjust(b, best, -1, -bestHead.size);
    j.countDrop(best.name, 'quota_drop_oldest', 1);
    freed += bestHead.size;
  }
  return freed;
}

export function inFlightFloor(b: RecordBuffer, s: StreamRow): number {
  return Math.max(s.ackedSequence, b.inFlightUpTo.get(s.name) ?? 0);
}

export function peekHead(b: RecordBuffer, s: StreamRow, j: Journal): HeadRow | null {
  let c = j.heads.get(s);
  if (c === undefined) {
    const floor = inFlightFloor(b, s);
    if (!j.evictFrom.has(s)) j.evictFrom.set(s, floor);
    c = { rows: [], idx: 0, after: j.evictUpTo.get(s) ?? floor };
    j.heads.set(s, c);
  }
  if (c.idx >= c.rows.length) {
    c.rows = b.rec.headChunk.all(s.id, c.after, HEAD_CHUNK);
    c.idx = 0;
    const last = c.rows[c.rows.length - 1];
    if (last === undefined) return null;
    c.after = last.sequence;
  }
  return c.rows[c.idx] ?? null;
}

export function adjust(b: RecordBuffer, s: StreamRow, records: number, bytes: number): void {
  s.records += records;
  s.bytes += bytes;
  const t = b.classTotals[s.priority];
  t.records += records;
  t.bytes += bytes;
  b.totalRecords += records;
  b.totalBytes += bytes;
  if (s.records === 0) s.oldestIngestTime = null;
}

export function recomputeDerived(b: RecordBuffer): void {
  b.totalRecords = 0;
  b.totalBytes = 0;
  for (const c of PRIORITY_ORDER) {
    b.classTotals[c] = { records: 0, bytes: 0 };
    b.byClass[c].clear();
  }
  for (const s of b.streamsByName.values()) {
    b.byClass[s.priority].add(s);
    b.classTotals[s.priority].records += s.records;
    b.classTotals[s.priority].bytes += s.bytes;
    b.totalRecords += s.records;
    b.totalBytes += s.bytes;
  }
}

export function recountBlocked(b: RecordBuffer): void {
  b.blockedBytes = 0;
  for (const c of PRIORITY_ORDER) for (const u of b.blocked[c]) b.blockedBytes += u.size;
}

export function blockedRecords(b: RecordBuffer): number {
  let n = 0;
  for (const c of PRIORITY_ORDER) for (const u of b.blocked[c]) n += u.entries.length;
  return n;
}
