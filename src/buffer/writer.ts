/**
 * The writer and its group commit (contract in `./index.ts`, "Writing: group commit"): appends
 * become Entries and Units (`./units.ts`), queue in `pending`, and commit in transactions of at
 * most `groupCommit.maxRecords` records as soon as the writer is idle (the next turn of the event
 * loop when no fsync runs; when the running fsync completes, or after maxDelayMs, otherwise).
 * Under FULL/EXTRA the commit's fsync runs on the thread pool (`./durability.ts`) and appends
 * resolve only after it: a source is acknowledged only after the durable commit (invariant 1).
 *
 * Functions over the buffer's state (`RecordBuffer`, whose fields they share with the other
 * parts of the split); `RecordBuffer` exposes the public API.
 */
import { performance } from 'node:perf_hooks';
import { SkyhaulError } from '../common/errors.ts';
import { isValidTraceparent } from '../record/record.ts';
import type { IncomingRecord } from '../record/record.ts';
import { finishChecksum, metadataSize, stableChecksum } from './checksum.ts';
import { MAX_SEQUENCE } from './schema.ts';
import { generateTraceparent } from './trace.ts';
import { Entry, Unit } from './units.ts';
import type { Journal, StreamRow } from './journal.ts';
import type { Statements } from './statements.ts';
import { commitError, usage } from './errors.ts';
import { adjust, admitNew, recountBlocked, retryBlockedEntries } from './quota.ts';
import { ALARM, isPriorityClass, PRIORITY_ORDER } from './types.ts';
import type { Committed, PriorityClass, SourceMark, StreamConfig } from './types.ts';
import type { RecordBuffer } from './buffer.ts';

/** Longest stream name accepted, characters. */
const MAX_STREAM_NAME = 1024;

export function enqueue(b: RecordBuffer, records: IncomingRecord[], mark: SourceMark | null = null): Promise<Committed[]> {
  if (b.readOnly) return Promise.reject(usage('append on a buffer opened read-only'));
  if (b.state !== 'open') {
    return Promise.reject(new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `append on a buffer that is ${b.state}`));
  }
  let unit: Unit;
  try {
    unit = new Unit(
      records.map((r) => makeEntry(b, r)),
      mark,
    );
  } catch (err) {
    return Promise.reject(err);
  }
  const promise = new Promise<Committed[]>((resolve, reject) => {
    unit.resolve = resolve;
    unit.reject = reject;
  });
  b.watchdog.sampleIfStale();
  b.pending.push(unit);
  b.pendingRecords += unit.entries.length;
  if (b.pendingRecords >= b.maxRecords && !b.flushing) flush(b);
  else scheduleFlush(b);
  return promise;
}

export function makeEntry(b: RecordBuffer, r: IncomingRecord): Entry {
  if (r === null || typeof r !== 'object') throw usage('record must be an object');
  const { stream } = r;
  if (typeof stream !== 'string' || stream.length === 0 || stream.length > MAX_STREAM_NAME) {
    throw usage(`record stream must be a non-empty string of at most ${MAX_STREAM_NAME} characters`);
  }
  const payload = r.payload;
  if (!(payload instanceof Uint8Array)) throw usage(`record payload for '${stream}' must be a Buffer`);
  if (payload.length > b.maxRecordBytes) {
    throw new SkyhaulError(
      'SKY_ERR_RECORD_TOO_LARGE',
      `record for '${stream}' has a ${payload.length}-byte payload; the forwarding transport carries at most ${b.maxRecordBytes} bytes per record`,
    );
  }
  const contentType = r.contentType ?? 'application/octet-stream';
  if (typeof contentType !== 'string' || contentType === '') throw usage(`bad contentType for '${stream}'`);
  const schemaRef = r.schemaRef ?? null;
  if (schemaRef !== null && typeof schemaRef !== 'string') throw usage(`bad schemaRef for '${stream}'`);
  const sourceTime = r.sourceTime ?? null;
  if (sourceTime !== null && !Number.isSafeInteger(sourceTime)) throw usage(`bad sourceTime for '${stream}'`);
  const ingestTime = r.ingestTime ?? b.clock();
  if (!Number.isSafeInteger(ingestTime)) throw usage(`bad ingestTime for '${stream}'`);
  let traceparent = r.traceparent;
  if (traceparent === undefined) traceparent = generateTraceparent();
  else if (typeof traceparent !== 'string' || !isValidTraceparent(traceparent)) {
    throw usage(`bad traceparent for '${stream}': '${String(traceparent)}'`);
  }
  let meta = b.writerMeta.get(stream);
  if (meta === undefined || meta.contentType !== contentType || meta.schemaRef !== schemaRef) {
    const known = b.streamsByName.get(stream);
    // Past the stream limit nothing is cached for an unknown stream (its record will be dropped
    // at commit): the maps keyed by stream stay bounded by maxStreams plus what is in flight.
    const cache = known !== undefined || b.streamsByName.size < b.maxStreams;
    meta = {
      contentType,
      schemaRef,
      stableCrc: stableChecksum(stream, contentType, schemaRef),
      metaBytes: metadataSize(contentType, schemaRef),
      priority: known?.priority ?? (cache ? resolveConfig(b, stream) : configOf(b, stream)).priority,
    };
    if (cache) b.writerMeta.set(stream, meta);
  }
  return new Entry(stream, sourceTime, ingestTime, contentType, schemaRef, traceparent, payload, meta.priority, meta);
}

export function resolveConfig(b: RecordBuffer, stream: string): StreamConfig {
  let cfg = b.newStreamConfig.get(stream);
  if (cfg === undefined) {
    cfg = configOf(b, stream);
    b.newStreamConfig.set(stream, cfg);
  }
  return cfg;
}

export function configOf(b: RecordBuffer, stream: string): StreamConfig {
  const c = b.streamConfig(stream);
  if (!isPriorityClass(c.priority)) throw usage(`streamConfig('${stream}') returned bad priority '${String(c.priority)}'`);
  if (c.ttlMs !== null && !(typeof c.ttlMs === 'number' && c.ttlMs >= 0)) throw usage(`streamConfig('${stream}') returned bad ttlMs`);
  return { priority: c.priority, ttlMs: c.ttlMs };
}

/** Whether the unit would create streams beyond maxStreams (then it is dropped whole, as 'stream_limit'). */
export function overStreamLimit(b: RecordBuffer, u: Unit): string | null {
  // Distinct new streams: a batch of many records of one new stream creates one stream. The set
  // exists only once a new stream shows up (on the hot path nearly every unit has none).
  let created = null as Set<string> | null;
  for (const e of u.entries) {
    if (b.streamsByName.has(e.stream) || created?.has(e.stream) === true) continue;
    created ??= new Set<string>();
    created.add(e.stream);
    if (b.streamsByName.size + created.size > b.maxStreams) return e.stream;
  }
  return null;
}

/**
 * Commits as soon as the writer is idle: on the next turn of the event loop (appends of the same
 * turn share the commit) when no fsync is running; otherwise when the running fsync completes
 * (WalSync calls back), or after maxDelayMs, whichever is first. The delay is an upper bound.
 */
export function scheduleFlush(b: RecordBuffer): void {
  // A commit on the writer thread: its completion schedules the next one.
  if (b.state === 'closed' || b.flushImmediate !== null || b.conn?.busy === true) return;
  if (b.walSync === null || !b.walSync.busy) {
    if (b.pending.length === 0 && !(b.retryBlocked && b.watchdog.accepting)) return;
    // Not unref'd: a pending append must keep the process alive until it commits.
    b.flushImmediate = setImmediate(() => {
      b.flushImmediate = null;
      flush(b);
    });
    return;
  }
  if (b.flushTimer !== null) return;
  b.flushTimer = setTimeout(() => {
    b.flushTimer = null;
    flush(b);
  }, b.maxDelayMs);
}

export function clearFlushTimer(b: RecordBuffer): void {
  if (b.flushTimer !== null) clearTimeout(b.flushTimer);
  b.flushTimer = null;
  if (b.flushImmediate !== null) clearImmediate(b.flushImmediate);
  b.flushImmediate = null;
}

/** Commits pending appends (and retries blocked ones) in transactions of at most maxRecords. */
export function flush(b: RecordBuffer): void {
  if (b.flushing || b.conn === null || b.conn.busy) return;
  clearFlushTimer(b);
  do {
    flushOnce(b);
  } while (b.pendingRecords >= b.maxRecords && b.conn !== null && !b.conn.busy);
  // Waiters are retried only when accepting: while the disk is low, checkDisk() schedules the
  // retry when it resumes (no polling).
  if (b.pending.length > 0 || (b.retryBlocked && b.watchdog.accepting)) scheduleFlush(b);
}

/**
 * How many group commits' worth one hand-off to the writer thread may take: what accumulated
 * while the previous commit ran goes in one transaction (a busy writer then commits fewer, larger
 * transactions, each index leaf written once for more records), up to this many times maxRecords.
 * On the calling thread a transaction stays within maxRecords: it blocks the event loop.
 */
export const THREAD_BATCH_FACTOR = 16;

/** Takes whole units from the queue up to `limit` records (a larger unit goes alone). */
export function takeBatch(b: RecordBuffer, limit: number = b.maxRecords): Unit[] {
  if (b.pendingRecords <= limit) {
    const all = b.pending;
    b.pending = [];
    b.pendingRecords = 0;
    return all;
  }
  let n = 0;
  let records = 0;
  while (n < b.pending.length) {
    const size = (b.pending[n] as Unit).entries.length;
    if (n > 0 && records + size > limit) break;
    records += size;
    n++;
  }
  const batch = b.pending.slice(0, n);
  b.pending = b.pending.slice(n);
  b.pendingRecords -= records;
  return batch;
}

/**
 * One group commit. On the writer thread it completes after this returns (the connection is busy
 * until then, and its completion schedules the next commit); `wait` (close()) waits for it.
 */
export function flushOnce(b: RecordBuffer, wait = false): void {
  const conn = b.conn;
  if (conn === null) return;
  if (conn.busy) {
    if (!wait) return;
    conn.settle();
  }
  const retry = b.retryBlocked && b.watchdog.accepting;
  const batch = takeBatch(b, conn.kind === 'thread' ? b.maxRecords * THREAD_BATCH_FACTOR : b.maxRecords);
  if (batch.length === 0 && !retry) return;
  if (retry) b.retryBlocked = false;
  b.flushing = true;
  const t0 = performance.now();
  const writeRows = b.rowWriteDue();
  b.transactAsync(
    (j) => {
      j.writeDeferredRows = writeRows;
      if (retry) retryBlockedEntries(b, j);
      for (const e of batch) admitNew(b, e, j);
    },
    (result) => {
      if (!result.ok) {
        const error = commitError(result.err);
        b.logger.error({ err: result.err, records: batch.length }, 'buffer: group commit failed; its appends are rejected');
        const failed = new Set<Unit>([...batch, ...result.j.unblocked]);
        for (const c of PRIORITY_ORDER) b.blocked[c].removeWhere((u) => failed.has(u));
        recountBlocked(b);
        for (const u of failed) u.reject(error);
      } else {
        const sync = b.walSync;
        if (sync === null) {
          b.afterCommit(result.j, performance.now() - t0);
        } else {
          // The marks are what a redelivery is checked against: current from COMMIT on, not from the sync.
          b.rememberMarks(result.j);
          sync.committed((err) => {
            if (err !== null) syncFailed(b, result.j, err);
            b.afterCommit(result.j, performance.now() - t0, false);
          });
        }
      }
      if (conn.kind === 'thread' && (b.pending.length > 0 || (b.retryBlocked && b.watchdog.accepting))) scheduleFlush(b);
    },
  );
  b.flushing = false;
  if (wait) conn.settle();
}

/**
 * fdatasync of the WAL failed: whether the commit is on disk is unknown (after an EIO the kernel
 * may have dropped the dirty pages). Its appends reject, so their sources keep and resend them
 * (a resend that does land twice is a duplicate under a new sequence: the lesser harm than
 * acknowledging data that may be gone), and a critical alarm says so.
 */
export function syncFailed(b: RecordBuffer, j: Journal, err: Error): void {
  const error = new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `buffer commit could not be made durable: fdatasync failed: ${err.message}`, { cause: err });
  b.raiseAlarm(ALARM.syncFailed, `the buffer's WAL could not be synced to disk (${err.message}); appends of that commit were rejected`, { path: b.path, error: err.message }, 'error');
  for (const u of j.insertedUnits) u.reject(error);
  j.insertedUnits.length = 0;
}

export function insert(b: RecordBuffer, e: Entry, j: Journal): void {
  let s = b.streamsByName.get(e.stream);
  if (s === undefined) s = createStream(b, e.stream, e.priority, j);
  else if (j.lastTouched !== s) j.touchForInsert(s);
  j.lastTouched = s;
  const sequence = s.nextSequence;
  if (sequence > MAX_SEQUENCE) throw new SkyhaulError('SKY_ERR_BUFFER_FULL', `stream '${s.name}' has exhausted its sequence space`);
  if (s.lastIngestTime !== null) e.raiseIngestTime(s.lastIngestTime);
  s.lastIngestTime = e.ingestTime;
  const crc = finishChecksum(e.crcBody, sequence);
  b.rec.insert.run(s.id, sequence, e.ingestTime, e.sourceTime, e.size, crc, e.contentType, e.schemaRef, e.traceparent, e.payload);
  s.nextSequence = sequence + 1;
  if (s.records === 0) s.oldestIngestTime = e.ingestTime;
  adjust(b, s, 1, e.size);
  e.sequence = sequence;
  j.inserted.push(e);
}

export function createStream(b: RecordBuffer, name: string, priority: PriorityClass, j: Journal): StreamRow {
  const stmt = b.stmt as Statements;
  const id = stmt.createStream.get(name, priority) as number;
  const cfg = resolveConfig(b, name);
  const s: StreamRow = {
    id,
    name,
    priority,
    ttlMs: cfg.ttlMs,
    nextSequence: 1,
    ackedSequence: 0,
    records: 0,
    bytes: 0,
    oldestIngestTime: null,
    lastIngestTime: null,
    epochs: [],
    durableNext: 1,
  };
  b.streamsByName.set(name, s);
  b.byClass[priority].add(s);
  j.created.push(s);
  return s;
}
