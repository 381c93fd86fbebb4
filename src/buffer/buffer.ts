/**
 * RecordBuffer: the durable store between inputs and the forwarder. Read the contract at the top
 * of `./index.ts` first; the comments here refer to its sections.
 */
import { EventEmitter } from 'node:events';
import type Database from 'better-sqlite3';
import fs from 'node:fs';
import nodePath from 'node:path';
import { performance } from 'node:perf_hooks';
import { SkyhaulError } from '../common/errors.ts';
import type { IncomingRecord, TelemetryRecord } from '../record/record.ts';
import {
  BufferSchemaError,
  existingSidecars,
  removeReadOnlySidecars,
  isQuarantinable,
  openDatabase,
  openedAtWrite,
  sessionPragmas,
  preserveSidecars,
  quarantineFiles,
  releaseSidecars,
} from './schema.ts';
import { WalSync } from './durability.ts';
import { LocalConnection, type Connection } from './connection.ts';
import { ThreadConnection, writerThreadSqlite, type ThreadSqlite } from './writer-thread.ts';
import { Fifo, type Unit, type WriterMeta } from './units.ts';
import { Journal, type StreamRow } from './journal.ts';
import { RecordStatements, prepareStatements, type Statements } from './statements.ts';
import { accessHint, checkInteger, dropError, emptyClassStats, sqliteCode, usage } from './errors.ts';
import { checkIntegrity } from './integrity.ts';
import { DiskWatchdog, defaultStatfs } from './disk.ts';
import { clearFlushTimer, enqueue, flushOnce, resolveConfig, scheduleFlush } from './writer.ts';
import { blockedRecords, recomputeDerived } from './quota.ts';
import { ackRecords, discardRecord, readRecords } from './reader.ts';
import { sweepTtl } from './ttl.ts';
import { behindReason, readMark, writeMark } from './identity.ts';
import { newProducerId } from './schema.ts';
import {
  ALARM,
  DEFAULT_DISK,
  DEFAULT_GROUP_COMMIT,
  DEFAULT_MAX_BLOCKED_BYTES,
  DEFAULT_MAX_STREAMS,
  OVER_LIMIT_STREAM,
  DEFAULT_POLICIES,
  DEFAULT_QUOTA_BYTES,
  PRIORITY_ORDER,
  isQuotaPolicy,
} from './types.ts';
import type {
  BufferAlarm,
  BufferLogger,
  BufferOptions,
  BufferStats,
  CommitInfo,
  Committed,
  DiskWatchdogOptions,
  DropCount,
  DropReason,
  IntegrityReport,
  PriorityClass,
  QuotaPolicy,
  SourceMark,
  StreamConfig,
  StreamCursor,
  StreamState,
  SynchronousMode,
} from './types.ts';

export { ALARM } from './types.ts';

const SILENT: BufferLogger = { info() {}, warn() {}, error() {}, debug() {} };
/** Pages returned per incremental-vacuum step; the job yields between steps. */
const VACUUM_CHUNK_PAGES = 512;
const DROP_LOG_INTERVAL_MS = 10_000;
/**
 * How long a stream's row may lag its inserts (contract, "Stream rows"): at most this much of a
 * stream's records is counted by open() past the row's next_sequence after a crash.
 */
const ROW_WRITE_INTERVAL_MS = 1000;

/** What a transaction ended in: its journal, and the error when it failed and memory was restored. */
export type TransactResult = { ok: true; j: Journal } | { ok: false; j: Journal; err: unknown };

function closedError(): SkyhaulError {
  return new SkyhaulError('SKY_ERR_BUFFER_CLOSED', 'buffer is not open');
}

/**
 * The buffer's state and public API. Members without `private` are shared with the parts of the
 * split (writer.ts, quota.ts, reader.ts, ttl.ts), which are functions over this state; they are
 * not API: `./index.ts` documents the API, and only the documented methods are used outside
 * src/buffer/.
 */
export class RecordBuffer extends EventEmitter {
  readonly path: string;
  private readonly dir: string;
  readonly siteId: string;
  private readonly synchronous: SynchronousMode;
  readonly maxRecords: number;
  readonly maxDelayMs: number;
  readonly quotaBytes: number;
  readonly policies: Record<PriorityClass, QuotaPolicy>;
  readonly streamConfig: (stream: string) => StreamConfig;
  private readonly disk: DiskWatchdogOptions | null;
  readonly maxBlockedBytes: number;
  readonly maxRecordBytes: number;
  readonly maxStreams: number;
  private readonly writerThread: boolean;
  timeFloor: number;
  private readonly markIntervalMs: number;
  private markTimer: NodeJS.Timeout | null = null;
  /** Sum of next sequences when the mark was last written: rewrite only when it moved. */
  private markedProgress = -1;
  /** Source marks per source, loaded on first use. */
  private readonly sourceMarkCache = new Map<string, Map<string, string>>();
  readonly clock: () => number;
  private readonly monotonic: () => number;
  private readonly statfs: (dir: string) => { freeBytes: number };
  readonly logger: BufferLogger;

  readonly inFlightUpTo = new Map<string, number>();
  private readonly onCorrupt: 'quarantine' | 'throw';
  readonly readOnly: boolean;
  private readonly mustExist: boolean;
  /** Read-only: the sidecars that existed before open, so close() removes only what SQLite added. */
  private sidecarsBeforeOpen: string[] = [];
  state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  /** The one SQLite connection: on the writer thread, or local (read-only, single executable). */
  conn: Connection | null = null;
  stmt: Statements | null = null;
  /** Log statements, prepared on first use (a read-only tool never prepares the writes it does not run). */
  private recordStmts: RecordStatements | null = null;
  private producer: string | undefined;
  private closePromise: Promise<void> | null = null;

  readonly streamsByName = new Map<string, StreamRow>();
  /**
   * Streams whose row in the file lags memory by inserts only (contract, "Stream rows"): written
   * by the first group commit ROW_WRITE_INTERVAL_MS after the last such write, and at close.
   */
  readonly laggingRows = new Set<StreamRow>();
  /** Monotonic ms of the last commit that wrote every lagging row. */
  rowsWrittenAt = 0;
  readonly byClass: Record<PriorityClass, Set<StreamRow>> = {
    alarm: new Set(),
    control: new Set(),
    telemetry: new Set(),
    bulk: new Set(),
  };
  readonly classTotals: Record<PriorityClass, { records: number; bytes: number }> = {
    alarm: { records: 0, bytes: 0 },
    control: { records: 0, bytes: 0 },
    telemetry: { records: 0, bytes: 0 },
    bulk: { records: 0, bytes: 0 },
  };
  totalRecords = 0;
  totalBytes = 0;
  /** Config of streams that have no row yet (first record still pending or dropped). */
  readonly newStreamConfig = new Map<string, StreamConfig>();
  readonly writerMeta = new Map<string, WriterMeta>();
  private readonly dropCounts = new Map<string, DropCount>();
  private readonly dropLog = new Map<string, { at: number; suppressed: number }>();
  private readonly alarmsByCode = new Map<string, BufferAlarm>();

  pending: Unit[] = [];
  /** Records (not units) in `pending`: the group commit's size trigger counts records. */
  pendingRecords = 0;
  readonly blocked: Record<PriorityClass, Fifo<Unit>> = {
    alarm: new Fifo(),
    control: new Fifo(),
    telemetry: new Fifo(),
    bulk: new Fifo(),
  };
  blockedBytes = 0;
  retryBlocked = false;
  flushing = false;
  flushTimer: NodeJS.Timeout | null = null;
  flushImmediate: NodeJS.Immediate | null = null;
  /** Under FULL/EXTRA: the commit's fsync, on the thread pool (./durability.ts); null otherwise. */
  walSync: WalSync | null = null;

  readonly watchdog: DiskWatchdog;

  constructor(options: BufferOptions) {
    super();
    this.onCorrupt = options.onCorrupt ?? 'quarantine';
    this.readOnly = options.readOnly === true;
    this.mustExist = options.mustExist === true;
    if (typeof options.path !== 'string' || options.path === '') throw usage('buffer path is required');
    this.path = nodePath.resolve(options.path);
    this.dir = nodePath.dirname(this.path);
    this.siteId = options.siteId;
    this.synchronous = options.synchronous ?? 'FULL';
    if (!['OFF', 'NORMAL', 'FULL', 'EXTRA'].includes(this.synchronous)) throw usage(`bad synchronous '${this.synchronous}'`);
    const gc = options.groupCommit ?? DEFAULT_GROUP_COMMIT;
    this.maxRecords = checkInteger('groupCommit.maxRecords', gc.maxRecords, 1);
    this.maxDelayMs = checkInteger('groupCommit.maxDelayMs', gc.maxDelayMs, 0);
    this.quotaBytes = checkInteger('quotaBytes', options.quotaBytes ?? DEFAULT_QUOTA_BYTES, 1);
    this.policies = { ...DEFAULT_POLICIES };
    for (const c of PRIORITY_ORDER) {
      const p = options.policies?.[c];
      if (p !== undefined) this.policies[c] = p;
    }
    for (const c of PRIORITY_ORDER) if (!isQuotaPolicy(this.policies[c])) throw usage(`bad quota policy for '${c}'`);
    this.streamConfig = options.streamConfig ?? (() => ({ priority: 'telemetry', ttlMs: null }));
    this.disk = options.disk === null ? null : (options.disk ?? DEFAULT_DISK);
    if (this.disk !== null) {
      checkInteger('disk.minFreeBytes', this.disk.minFreeBytes, 0);
      checkInteger('disk.resumeFreeBytes', this.disk.resumeFreeBytes, this.disk.minFreeBytes);
      checkInteger('disk.checkIntervalMs', this.disk.checkIntervalMs, 1);
    }
    this.maxBlockedBytes = checkInteger('maxBlockedBytes', options.maxBlockedBytes ?? DEFAULT_MAX_BLOCKED_BYTES, 0);
    this.maxRecordBytes = options.maxRecordBytes === undefined ? Number.POSITIVE_INFINITY : checkInteger('maxRecordBytes', options.maxRecordBytes, 1);
    this.maxStreams = checkInteger('maxStreams', options.maxStreams ?? DEFAULT_MAX_STREAMS, 1);
    this.writerThread = options.writerThread ?? true;
    this.timeFloor = options.timeFloor ?? 0;
    this.markIntervalMs = checkInteger('markIntervalMs', options.markIntervalMs ?? 5000, 1);
    this.clock = options.clock ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.statfs = options.statfs ?? defaultStatfs;
    this.watchdog = new DiskWatchdog(this.disk, this.dir, this.statfs, this.monotonic, {
      stopped: (free) => {
        const limits = this.disk as DiskWatchdogOptions;
        this.raiseAlarm(ALARM.diskLow, `free disk space ${free} B is below ${limits.minFreeBytes} B: the buffer stopped accepting`, {
          dir: this.dir,
          freeBytes: free,
          minFreeBytes: limits.minFreeBytes,
          resumeFreeBytes: limits.resumeFreeBytes,
        }, 'error');
        this.safeEmit('accepting', false);
      },
      resumed: (free) => {
        this.clearAlarm(ALARM.diskLow);
        this.logger.info({ dir: this.dir, freeBytes: free }, 'buffer: disk space recovered, accepting again');
        this.safeEmit('accepting', true);
        if (blockedRecords(this) > 0) {
          this.retryBlocked = true;
          scheduleFlush(this);
        }
      },
      failed: (err) => this.logger.warn({ err, dir: this.dir }, 'buffer: statfs failed; keeping the previous disk state'),
    });
    this.logger = options.logger ?? SILENT;
  }

  /** This daemon's stable id, kept in the buffer file (available after open()). */
  get producerId(): string {
    if (this.producer === undefined) throw new SkyhaulError('SKY_ERR_BUFFER_CLOSED', 'producerId is known only after open()');
    return this.producer;
  }

  // ---------------------------------------------------------------- open / close

  open(): void {
    if (this.state !== 'new') throw usage(`open() on a buffer that is ${this.state}`);
    const now = this.clock();
    const t0 = performance.now();
    this.rowsWrittenAt = this.monotonic();
    if (this.readOnly || this.mustExist) {
      if (!fs.existsSync(this.path)) throw new SkyhaulError('SKY_ERR_BUFFER_ACCESS', `no buffer file at ${this.path}`);
    } else {
      try {
        fs.mkdirSync(this.dir, { recursive: true });
      } catch (err) {
        throw new SkyhaulError('SKY_ERR_BUFFER_ACCESS', `cannot create buffer directory ${this.dir}: ${(err as Error).message}`, { cause: err });
      }
    }
    let opened: ReturnType<typeof openDatabase>;
    const threadSqlite = this.readOnly || !this.writerThread ? null : writerThreadSqlite();
    if (this.readOnly) this.sidecarsBeforeOpen = existingSidecars(this.path);
    try {
      if (!this.readOnly) preserveSidecars(this.path);
      opened = openDatabase(this.path, this.sqliteSynchronous(), now, { readOnly: this.readOnly, mustExist: this.mustExist, deferOpenedAt: threadSqlite !== null });
      if (!this.readOnly) releaseSidecars(this.path);
    } catch (err) {
      if (!isQuarantinable(err) || this.onCorrupt === 'throw' || this.readOnly) {
        if (this.readOnly) removeReadOnlySidecars(this.path, this.sidecarsBeforeOpen);
        else releaseSidecars(this.path);
        if (isQuarantinable(err)) throw new SkyhaulError('SKY_ERR_BUFFER_CORRUPT', `buffer ${this.path} is corrupt: ${String(err)}`, { cause: err });
        throw this.openError(err);
      }
      let moved: string;
      try {
        moved = quarantineFiles(this.path, now);
      } catch (moveErr) {
        throw new SkyhaulError('SKY_ERR_BUFFER_CORRUPT', `buffer ${this.path} is unusable (${String(err)}) and could not be moved aside`, {
          cause: moveErr,
        });
      }
      try {
        opened = openDatabase(this.path, this.sqliteSynchronous(), now, { deferOpenedAt: threadSqlite !== null });
      } catch (freshErr) {
        throw new SkyhaulError('SKY_ERR_BUFFER_CORRUPT', `a fresh buffer could not be created at ${this.path}`, { cause: freshErr });
      }
      const error = err instanceof Error ? err.message : String(err);
      this.raiseAlarm(ALARM.quarantined, `buffer file was unusable and has been moved to ${moved}; a fresh buffer was started`, {
        file: moved,
        path: this.path,
        error,
        code: sqliteCode(err) ?? (err instanceof Error ? err.name : 'unknown'),
      }, 'error');
    }

    const checkedMs = performance.now() - t0;
    try {
      this.conn = this.connect(opened.db, threadSqlite, now);
    } catch (err) {
      throw this.openError(err);
    }
    this.producer = opened.producerId;
    if (!this.readOnly && this.ownSync()) this.walSync = new WalSync(`${this.path}-wal`, () => scheduleFlush(this));
    // Write statements name schema-2 columns: a read-only tool on an older file never prepares them.
    this.stmt = this.readOnly ? null : prepareStatements(this.conn);
    for (const d of opened.drops) this.dropCounts.set(`${d.reason}\u0000${d.stream}`, { ...d });
    const epochs = new Map<string, Array<{ upTo: number; producerId: string }>>();
    for (const e of opened.epochs) {
      const list = epochs.get(e.stream) ?? [];
      list.push({ upTo: e.upTo, producerId: e.producerId });
      epochs.set(e.stream, list);
    }
    for (const { rowLags, ...r } of opened.streams) {
      // The configuration decides the class; a changed class reaches the streams row with the
      // stream's next update (the column is informative: classes are re-applied on every open).
      const cfg = resolveConfig(this, r.name);
      const row: StreamRow = { ...r, priority: cfg.priority, ttlMs: cfg.ttlMs, epochs: epochs.get(r.name) ?? [], durableNext: r.nextSequence };
      this.streamsByName.set(r.name, row);
      // Still behind in the file: written by the next periodic write, or at close.
      if (rowLags && !this.readOnly) this.laggingRows.add(row);
    }
    recomputeDerived(this);
    // The buffer's own birth raises the floor, when the clock was right at that moment.
    // (Not a creation time in the future: that clock was wrong the other way.)
    if (opened.createdAt !== null && opened.createdAt > this.timeFloor && opened.createdAt <= now) this.timeFloor = opened.createdAt;
    if (opened.migrated.length > 0) this.logger.info({ path: this.path, migrations: opened.migrated }, 'buffer migrated to the current schema');
    this.state = 'open';
    if (!this.readOnly) {
      this.guardIdentity(opened.created);
      this.markTimer = setInterval(() => this.writeSequenceMark(false), this.markIntervalMs);
      this.markTimer.unref();
    }
    this.logger.info(
      {
        path: this.path,
        producerId: this.producer,
        created: opened.created,
        streams: this.streamsByName.size,
        records: this.totalRecords,
        bytes: this.totalBytes,
        writer: this.conn.kind,
        // Opening and checking the file, then the rest (the writer thread's start, identity, mark).
        phasesMs: { check: Math.round(checkedMs), connect: Math.round(performance.now() - t0 - checkedMs) },
      },
      'buffer opened',
    );
    if (!this.readOnly) this.watchdog.start();
  }

  /** Commits what is pending, rejects what is still blocked (SKY_ERR_BUFFER_CLOSED), closes. Safe twice. */
  close(): Promise<void> {
    if (this.closePromise !== null) return this.closePromise;
    this.closePromise = new Promise<void>((resolve, reject) => {
      if (this.state === 'new') {
        this.state = 'closed';
        resolve();
        return;
      }
      this.state = 'closing';
      this.watchdog.stop();
      try {
        this.conn?.settle();
        if (!this.flushing) {
          while (this.pending.length > 0) flushOnce(this, true);
          if (this.retryBlocked && this.watchdog.accepting) flushOnce(this, true);
        }
        // A clean close leaves every row current (an older build then reads the file as it was).
        if (!this.readOnly && this.laggingRows.size > 0) {
          this.transact((j) => {
            j.writeDeferredRows = true;
          });
        }
      } catch (err) {
        this.logger.error({ err }, 'buffer: final commit failed');
      }
      clearFlushTimer(this);
      try {
        this.walSync?.flushSync();
      } catch (err) {
        this.logger.error({ err }, 'buffer: final sync failed');
      }
      this.walSync?.close();
      this.walSync = null;
      if (this.markTimer !== null) clearInterval(this.markTimer);
      this.markTimer = null;
      if (!this.readOnly && this.conn !== null) this.writeSequenceMark(true);
      const closed = new SkyhaulError('SKY_ERR_BUFFER_CLOSED', 'buffer closed before the record could be committed');
      for (const u of this.pending.splice(0)) u.reject(closed);
      this.pendingRecords = 0;
      for (const c of PRIORITY_ORDER) for (const u of this.blocked[c].drain()) u.reject(closed);
      this.blockedBytes = 0;
      try {
        this.conn?.close();
      } catch (err) {
        this.state = 'closed';
        reject(new SkyhaulError('SKY_ERR_BUFFER_CLOSED', 'closing the buffer failed', { cause: err }));
        return;
      }
      this.conn = null;
      this.stmt = null;
      this.recordStmts = null;
      if (this.readOnly) removeReadOnlySidecars(this.path, this.sidecarsBeforeOpen);
      this.state = 'closed';
      this.logger.info({ path: this.path }, 'buffer closed');
      resolve();
    });
    return this.closePromise;
  }

  // ---------------------------------------------------------------- writer

  /**
   * Resolves with the record's sequence once the group commit containing it is durable (per
   * `synchronous`). Rejects — never resolves — when the record is not kept: SKY_ERR_BUFFER_FULL
   * (quota_drop_newest, backpressure_overflow), SKY_ERR_DISK_LOW (disk_low), SKY_ERR_BUFFER_CLOSED,
   * SKY_ERR_USAGE (malformed record). The buffer copies the payload.
   */
  append(record: IncomingRecord): Promise<Committed> {
    return enqueue(this, [record]).then((committed) => committed[0] as Committed);
  }

  /**
   * Like append(), for records that stand or fall together (the readings of one instrument frame,
   * the records of one HTTP request): they commit in one transaction, in the given order, or none
   * of them does — the quota decision is taken for their total size and their most urgent class,
   * and a drop drops (and counts) every one of them. Resolves with one Committed per record.
   * A batch larger than `groupCommit.maxRecords` commits alone in its own transaction.
   */
  appendBatch(records: IncomingRecord[], options: { mark?: SourceMark } = {}): Promise<Committed[]> {
    if (!Array.isArray(records) || records.length === 0) return Promise.reject(usage('appendBatch needs at least one record'));
    return enqueue(this, records, options.mark ?? null);
  }

  /**
   * The fingerprints committed for a source (contract, "Source marks"), by key: what an input
   * checks before committing a message that may be a re-send of one it already has.
   */
  sourceMarks(source: string): ReadonlyMap<string, string> {
    const conn = this.conn;
    if (conn === null) throw new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `buffer is ${this.state}`);
    let marks = this.sourceMarkCache.get(source);
    if (marks === undefined) {
      const rows = conn.prepare<[string], { key: string; fingerprint: string }>('SELECT key, fingerprint FROM source_marks WHERE source = ?').all(source);
      marks = new Map(rows.map((r) => [r.key, r.fingerprint]));
      this.sourceMarkCache.set(source, marks);
    }
    return marks;
  }

  /**
   * The writable buffer's connection moves to the writer thread (`./writer-thread.ts`): the file
   * opened, migrated and checked here is closed, and the thread opens it again with the same
   * session pragmas. Read-only opens, `writerThread: false`, and a single executable (no module
   * path for the thread to load SQLite from) keep the connection on this thread.
   */
  private connect(db: Database.Database, sqlite: ThreadSqlite | null, now: number): Connection {
    if (sqlite === null) return new LocalConnection(db);
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    // After a crash the WAL still holds frames: this close checkpoints them into the file first.
    db.close();
    return new ThreadConnection(this.path, sessionPragmas(this.sqliteSynchronous(), pageSize), [openedAtWrite(now)], sqlite);
  }

  /** FULL/EXTRA are kept by our own fsync after each commit (./durability.ts); SQLite runs at NORMAL. */
  private ownSync(): boolean {
    return this.synchronous === 'FULL' || this.synchronous === 'EXTRA';
  }

  private sqliteSynchronous(): SynchronousMode {
    return this.ownSync() && !this.readOnly ? 'NORMAL' : this.synchronous;
  }

  /**
   * Records the forwarder has sent but the broker has not yet acknowledged: eviction and TTL skip
   * them, so a record that may still arrive is never also counted as dropped.
   */
  setInFlight(stream: string, uptoSequence: number): void {
    if (uptoSequence <= 0) this.inFlightUpTo.delete(stream);
    else this.inFlightUpTo.set(stream, uptoSequence);
  }

  // ---------------------------------------------------------------- transactions

  /**
   * Runs `body` and the persistence of what it changed (stream rows, drop counters, evictions) in
   * one SQLite transaction. On failure the in-memory state is restored and the error returned, so
   * the caller can settle its appends.
   */
  tryTransact(body: (j: Journal) => void): TransactResult {
    const j = new Journal();
    const conn = this.conn;
    if (conn === null) return { ok: false, j, err: closedError() };
    try {
      conn.transaction(() => this.journaled(body, j));
    } catch (err) {
      return this.settled(j, err);
    }
    return this.settled(j, null);
  }

  /**
   * tryTransact for the group commit: `settle` runs once COMMIT returned or failed, which on the
   * writer thread is after this returns (the event loop goes on meanwhile). Until then the
   * connection is busy and any other transaction first waits for it, so a failed commit is undone
   * in memory before anything builds on it.
   */
  transactAsync(body: (j: Journal) => void, settle: (result: TransactResult) => void): void {
    const j = new Journal();
    const conn = this.conn;
    if (conn === null) {
      settle({ ok: false, j, err: closedError() });
      return;
    }
    try {
      conn.transactionAsync(
        () => this.journaled(body, j),
        (err) => settle(this.settled(j, err)),
      );
    } catch (err) {
      settle(this.settled(j, err));
    }
  }

  /** A transaction's body: the caller's changes, then their persistence, into one journal. */
  private journaled(body: (j: Journal) => void, j: Journal): void {
    body(j);
    this.persist(j);
  }

  /** After COMMIT returned (`err` null) or failed: memory restored, or the lagging rows noted. */
  private settled(j: Journal, err: unknown): TransactResult {
    if (err !== null) {
      this.restore(j);
      return { ok: false, j, err };
    }
    this.committedRows(j);
    return { ok: true, j };
  }

  /** After a commit: which stream rows now lag memory (contract, "Stream rows"). */
  private committedRows(j: Journal): void {
    if (j.writeDeferredRows) {
      this.laggingRows.clear();
      this.rowsWrittenAt = this.monotonic();
    } else {
      for (const s of j.saved.keys()) {
        if (j.insertOnly.has(s)) this.laggingRows.add(s);
        else this.laggingRows.delete(s);
      }
    }
  }

  /** Whether the next group commit writes every lagging stream row (contract, "Stream rows"). */
  rowWriteDue(): boolean {
    return this.laggingRows.size > 0 && this.monotonic() - this.rowsWrittenAt >= ROW_WRITE_INTERVAL_MS;
  }

  /** tryTransact for ack/TTL/maintenance: throws on failure, applies the journal on success. */
  transact(body: (j: Journal) => void): Journal {
    const result = this.tryTransact(body);
    if (!result.ok) throw result.err;
    this.afterCommit(result.j, 0);
    return result.j;
  }

  /**
   * transact() without its own fsync (synchronous NORMAL for this one commit): for work that is
   * redone if a power cut loses it, such as expiring records by TTL, whose deletes and drop
   * counters commit together and are simply repeated by the next sweep. The next FULL commit
   * syncs the WAL, these frames included. Saves the fsync that dominated a sweep's stalls.
   */
  relaxedTransact(body: (j: Journal) => void): Journal {
    const conn = this.conn as Connection;
    // Under our own fsync SQLite already runs at NORMAL.
    if (this.sqliteSynchronous() !== 'FULL' && this.sqliteSynchronous() !== 'EXTRA') return this.transact(body);
    conn.pragma('synchronous = NORMAL');
    try {
      return this.transact(body);
    } finally {
      conn.pragma(`synchronous = ${this.synchronous}`);
    }
  }

  private persist(j: Journal): void {
    const stmt = this.stmt as Statements;
    for (const [s, upTo] of j.evictUpTo) this.rec.deleteRange.run(s.id, j.evictFrom.get(s) ?? s.ackedSequence, upTo);
    const write = (s: StreamRow): void => {
      stmt.updateStream.run(s.priority, s.nextSequence, s.ackedSequence, s.records, s.bytes, s.lastIngestTime, s.id);
    };
    // A stream changed only by inserts keeps its old row (open() counts the records past its
    // next_sequence): a commit touching 1,245 streams no longer rewrites a page of `streams` per
    // stream. Anything else writes the row, so the file's rows lag memory by inserts only.
    for (const s of j.saved.keys()) if (!j.insertOnly.has(s) || j.writeDeferredRows) write(s);
    for (const s of j.created) write(s);
    if (j.writeDeferredRows) for (const s of this.laggingRows) if (!j.saved.has(s)) write(s);
    for (const d of j.drops.values()) stmt.addDrop.run(d.stream, d.reason, d.count);
    for (const m of j.marks.values()) stmt.putMark.run(m.source, m.key, m.fingerprint);
  }

  private restore(j: Journal): void {
    for (const [s, saved] of j.saved) Object.assign(s, saved);
    for (const s of j.created) this.streamsByName.delete(s.name);
    recomputeDerived(this);
  }

  rememberMarks(j: Journal): void {
    for (const m of j.marks.values()) this.sourceMarkCache.get(m.source)?.set(m.key, m.fingerprint);
  }

  /** After COMMIT (and its fsync, when the buffer syncs itself): counters, events, promise settlement. Never throws. */
  afterCommit(j: Journal, durationMs: number, marks = true): void {
    if (marks) this.rememberMarks(j);
    for (const e of j.inserted) {
      const s = this.streamsByName.get(e.stream);
      if (s !== undefined && e.sequence >= s.durableNext) s.durableNext = e.sequence + 1;
    }
    for (const d of j.drops.values()) {
      const key = `${d.reason}\u0000${d.stream}`;
      const have = this.dropCounts.get(key);
      if (have === undefined) this.dropCounts.set(key, { ...d });
      else have.count += d.count;
    }
    for (const u of j.insertedUnits) {
      u.resolve(u.entries.map((e) => ({ stream: e.stream, sequence: e.sequence, ingestTime: e.ingestTime })));
    }
    for (const { unit, reason } of j.dropped) unit.reject(dropError(reason, unit.entries[0]?.stream ?? '', unit.entries.length));
    if (j.freed && blockedRecords(this) > 0) {
      this.retryBlocked = true;
      if (this.watchdog.accepting) scheduleFlush(this);
    }
    if (j.streamLimited !== null) {
      this.raiseAlarm(ALARM.streamLimit, `the buffer holds its limit of ${this.maxStreams} streams: records of new streams are dropped (stream_limit)`, {
        maxStreams: this.maxStreams,
        lastRefused: j.streamLimited,
        dropped: this.countOf(OVER_LIMIT_STREAM, 'stream_limit') ?? 0,
      }, 'warn');
    }
    for (const f of j.checksumFailures) {
      const count = this.countOf(f.stream, 'checksum') ?? 0;
      this.raiseAlarm(ALARM.checksum, `record ${f.stream}#${f.sequence} failed its checksum and was removed`, {
        stream: f.stream,
        sequence: f.sequence,
        removedForStream: count,
      }, 'error');
    }
    const waiting = blockedRecords(this);
    if (this.watchdog.accepting && waiting > 0 && [...PRIORITY_ORDER].some((c) => this.blocked[c].length > 0 && this.policies[c] === 'block')) {
      if (!this.alarmsByCode.has(ALARM.quotaBlocked)) {
        this.raiseAlarm(ALARM.quotaBlocked, 'buffer quota reached: appends of blocking classes are waiting for space', {
          quotaBytes: this.quotaBytes,
          waitingRecords: waiting,
        }, 'warn');
      }
    } else if (waiting === 0) {
      this.clearAlarm(ALARM.quotaBlocked);
    }
    for (const d of j.drops.values()) {
      this.safeEmit('drop', { stream: d.stream, reason: d.reason, count: d.count });
      this.logDrop(d);
    }
    if (j.inserted.length > 0) {
      const streams = new Set<string>();
      const now = performance.now();
      const latenciesMs = new Float64Array(j.inserted.length);
      j.inserted.forEach((e, i) => {
        streams.add(e.stream);
        latenciesMs[i] = now - e.appendedAt;
      });
      const info: CommitInfo = { records: j.inserted.length, durationMs, latenciesMs };
      this.safeEmit('committed', [...streams], info);
    }
  }

  private countOf(stream: string, reason: DropReason): number | undefined {
    return this.dropCounts.get(`${reason}\u0000${stream}`)?.count;
  }

  private logDrop(d: DropCount): void {
    const key = `${d.reason}\u0000${d.stream}`;
    const now = this.clock();
    const seen = this.dropLog.get(key);
    if (seen !== undefined && now - seen.at < DROP_LOG_INTERVAL_MS) {
      seen.suppressed += d.count;
      return;
    }
    const count = d.count + (seen?.suppressed ?? 0);
    this.dropLog.set(key, { at: now, suppressed: 0 });
    this.logger.warn(
      { stream: d.stream, reason: d.reason, count, total: this.countOf(d.stream, d.reason) },
      'buffer dropped records',
    );
  }

  private safeEmit(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this.logger.error({ err, event }, 'buffer: an event listener threw');
    }
  }

  // ---------------------------------------------------------------- reader / ack

  /**
   * Records of `stream` with sequence > afterSequence, in sequence order, at most `limit` of them
   * and (after the first) at most `maxBytes` of accounted size. Each record's checksum is verified;
   * a bad record is removed, counted ('checksum'), alarmed and skipped.
   */
  read(stream: string, afterSequence: number, limit: number, maxBytes = Number.POSITIVE_INFINITY): TelemetryRecord[] {
    return readRecords(this, stream, afterSequence, limit, maxBytes);
  }

  /** Deletes the stream's records <= uptoSequence and advances its acked cursor, in one transaction. */
  ack(stream: string, uptoSequence: number): void {
    ackRecords(this, [{ stream, sequence: uptoSequence }]);
  }

  /** Several acks in one transaction. Acks at or below a stream's cursor are no-ops (idempotent). */
  ackMany(acks: Array<{ stream: string; sequence: number }>): void {
    return ackRecords(this, acks);
  }

  /**
   * Sets one buffered record aside as a counted drop (the forwarder, for a record its transport
   * cannot carry: reason 'oversize'). Like a checksum failure, the one exception to prefix-only
   * deletes; the forwarder treats the hole as a gap. Returns false when the record is not there.
   */
  discard(stream: string, sequence: number, reason: Extract<DropReason, 'oversize'>): boolean {
    return discardRecord(this, stream, sequence, reason);
  }

  /**
   * Compares the file with its sequence mark (./identity.ts) and, when the file is behind, takes a
   * new producer identity: in one transaction the current id is retired for every record already
   * in the file (one producer_epochs row per stream with records) and a new id becomes current.
   * Alarm `buffer_identity_renewed` says why. Then writes a fresh (running) mark.
   */
  private guardIdentity(created: boolean): void {
    // A new file (first start, or after a quarantine) has a new identity already.
    const mark = created ? null : readMark(this.path);
    if (mark !== null && 'unreadable' in mark) {
      this.logger.warn({ path: this.path, err: mark.unreadable }, 'buffer: the sequence mark cannot be read; trusting the file');
    } else if (mark === null) {
      if (!created) this.logger.info({ path: this.path }, 'buffer: no sequence mark yet (first start of this version?); trusting the file');
    } else {
      const reason = behindReason(mark, this.producerId, (stream) => this.streamsByName.get(stream)?.nextSequence ?? 1);
      if (reason !== null) this.renewIdentity(reason);
    }
    this.writeSequenceMark(false);
  }

  private renewIdentity(reason: string): void {
    const retired = this.producerId;
    const renewed = newProducerId();
    const stmt = this.stmt as Statements;
    const conn = this.conn as Connection;
    const epochs = new Map<StreamRow, Array<{ upTo: number; producerId: string }>>();
    conn.transaction(() => {
      for (const s of this.streamsByName.values()) {
        if (s.records === 0) continue;
        stmt.addEpoch.run(s.name, s.nextSequence - 1, retired);
        epochs.set(s, [...s.epochs, { upTo: s.nextSequence - 1, producerId: retired }]);
      }
      conn.prepare<[string]>(`UPDATE meta SET value = ? WHERE key = 'producer_id'`).run(renewed);
    });
    for (const [s, list] of epochs) s.epochs = list;
    this.producer = renewed;
    this.raiseAlarm(
      ALARM.identityRenewed,
      `buffer took a new producer identity ${renewed} (was ${retired}): ${reason}. Buffered records keep ${retired}; new records cannot collide with sequences already sent`,
      { path: this.path, retired, renewed, reason },
      'warn',
    );
  }

  /**
   * Rewrites `<path>.sequences` when sequences moved (or always when `clean`). Failing to write it
   * is logged, never fatal: the mark only narrows what a later open must assume.
   */
  private writeSequenceMark(clean: boolean): void {
    if (this.conn === null || this.producer === undefined) return;
    let progress = 0;
    const streams: Record<string, number> = {};
    for (const s of this.streamsByName.values()) {
      streams[s.name] = s.nextSequence;
      progress += s.nextSequence;
    }
    if (!clean && progress === this.markedProgress) return;
    try {
      writeMark(this.path, { producerId: this.producer, streams, clean, synchronous: this.synchronous, writtenAt: new Date(this.clock()).toISOString() });
      this.markedProgress = progress;
    } catch (err) {
      this.logger.error({ err, path: this.path }, 'buffer: writing the sequence mark failed');
    }
  }

  // ---------------------------------------------------------------- TTL

  /**
   * Deletes records whose ingestTime + ttlMs <= now, per stream from its first record, stopping at
   * the first unexpired one (index walk, no scan). Counted as 'ttl'. Resolves with how many were
   * removed. At most TTL_CHUNK records per transaction, across streams, yielding to the event loop
   * between transactions, so a sweep over millions of records never stalls inputs or the API.
   * A record whose ingest time is below the time floor has an unknown age (it was stamped by a
   * clock known to be wrong) and is never expired; the walk stops there (contract, "Time").
   */
  sweepTtl(now: number = this.clock()): Promise<number> {
    return sweepTtl(this, now);
  }

  /** ms since epoch below which ingest times come from a wrong clock (see BufferOptions.timeFloor). */
  get clockFloor(): number {
    return this.timeFloor;
  }

  // ---------------------------------------------------------------- disk watchdog

  /**
   * Samples free space now (also runs every checkIntervalMs and before an append when stale).
   * Below minFreeBytes intake stops (appends wait, bounded); at/above resumeFreeBytes it resumes.
   * Returns whether the buffer accepts.
   */
  checkDisk(): boolean {
    if (this.conn === null) return this.watchdog.accepting;
    return this.watchdog.sample();
  }

  // ---------------------------------------------------------------- alarms

  raiseAlarm(code: string, message: string, details: Record<string, unknown>, level: 'warn' | 'error'): void {
    const existing = this.alarmsByCode.get(code);
    const alarm: BufferAlarm = { code, message, since: existing?.since ?? this.clock(), severity: level === 'warn' ? 'warning' : 'critical', details };
    this.alarmsByCode.set(code, alarm);
    this.logger[level]({ alarm: code, ...details }, message);
    this.safeEmit('alarm', alarm);
  }

  /** Clears an active alarm (e.g. an operator acknowledged a quarantine). Emits 'alarm_cleared'. */
  clearAlarm(code: string): boolean {
    const had = this.alarmsByCode.delete(code);
    if (had) this.safeEmit('alarm_cleared', code);
    return had;
  }

  alarms(): BufferAlarm[] {
    return [...this.alarmsByCode.values()].map((a) => ({ ...a, ...(a.details ? { details: { ...a.details } } : {}) }));
  }

  // ---------------------------------------------------------------- status

  /** O(streams) from memory alone, with no lookup: what the forwarder needs on every pump. */
  cursors(): StreamCursor[] {
    this.requireOpen();
    const out: StreamCursor[] = [];
    for (const s of this.streamsByName.values()) {
      // What may be read: a commit whose fsync is still running is not (see durableNext).
      out.push({ stream: s.name, priority: s.priority, nextSequence: s.durableNext, ackedSequence: s.ackedSequence, records: s.records });
    }
    return out;
  }

  /** O(streams): counters from memory, the first record's ingest time through the primary key. */
  streams(): StreamState[] {
    this.requireOpen();
    this.fillOldest();
    return [...this.streamsByName.values()].map((s) => ({
      stream: s.name,
      priority: s.priority,
      nextSequence: s.nextSequence,
      ackedSequence: s.ackedSequence,
      records: s.records,
      bytes: s.bytes,
      oldestIngestTime: this.oldestOf(s),
    }));
  }

  /**
   * Looks up every stream's unknown first ingest time (after acks, evictions, TTL) in one query:
   * on the writer thread each query is a round trip, and a status after acks over 1,245 streams
   * took one per stream.
   */
  private fillOldest(): void {
    const unknown: StreamRow[] = [];
    for (const s of this.streamsByName.values()) if (s.records > 0 && s.oldestIngestTime === undefined) unknown.push(s);
    if (unknown.length < 2) return;
    const byId = new Map(this.rec.headsMany.all(JSON.stringify(unknown.map((s) => s.id))).map((r) => [r.id, r.t]));
    for (const s of unknown) s.oldestIngestTime = byId.get(s.id) ?? null;
  }

  oldestOf(s: StreamRow): number | null {
    if (s.records === 0) return null;
    if (s.oldestIngestTime === undefined) {
      s.oldestIngestTime = this.rec.head.get(s.id) ?? null;
    }
    return s.oldestIngestTime;
  }

  stats(): BufferStats {
    this.requireOpen();
    this.fillOldest();
    const byPriority = emptyClassStats();
    for (const s of this.streamsByName.values()) {
      const c = byPriority[s.priority];
      c.records += s.records;
      c.bytes += s.bytes;
      const oldest = this.oldestOf(s);
      if (oldest !== null && (c.oldestIngestTime === null || oldest < c.oldestIngestTime)) c.oldestIngestTime = oldest;
    }
    return {
      records: this.totalRecords,
      bytes: this.totalBytes,
      quotaBytes: this.quotaBytes,
      accepting: this.watchdog.accepting,
      diskFreeBytes: this.watchdog.freeBytes,
      byPriority,
      blocked: { records: blockedRecords(this), bytes: this.blockedBytes },
    };
  }

  /** Persisted drop counters by stream and reason (they survive restarts). */
  drops(): DropCount[] {
    return [...this.dropCounts.values()].map((d) => ({ ...d })).sort((a, b) => a.stream.localeCompare(b.stream) || a.reason.localeCompare(b.reason));
  }

  // ---------------------------------------------------------------- maintenance

  /** WAL checkpoint (default TRUNCATE: copy the WAL into the file and reset it). */
  checkpoint(mode: 'PASSIVE' | 'FULL' | 'RESTART' | 'TRUNCATE' = 'TRUNCATE'): void {
    this.requireWritable();
    (this.conn as Connection).pragma(`wal_checkpoint(${mode})`);
  }

  /**
   * Returns up to `maxPages` free pages (all when omitted) to the filesystem, VACUUM_CHUNK_PAGES
   * per transaction, yielding to the event loop between them. Resolves with the pages returned.
   */
  async incrementalVacuum(maxPages: number = Number.POSITIVE_INFINITY): Promise<number> {
    this.requireWritable();
    let returned = 0;
    while (this.state === 'open' && returned < maxPages) {
      const db = this.conn as Connection;
      const free = Number(db.pragma('freelist_count', { simple: true }));
      if (free === 0) break;
      const step = Math.min(VACUUM_CHUNK_PAGES, free, maxPages - returned);
      db.pragma(`incremental_vacuum(${step})`);
      returned += step;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return returned;
  }

  /** File-level figures for the retention/vacuum job. */
  pageStats(): { pageSize: number; pageCount: number; freelistCount: number } {
    this.requireOpen();
    const db = this.conn as Connection;
    return {
      pageSize: Number(db.pragma('page_size', { simple: true })),
      pageCount: Number(db.pragma('page_count', { simple: true })),
      freelistCount: Number(db.pragma('freelist_count', { simple: true })),
    };
  }

  /**
   * The full check (O(file), for `skyhaul buffer check`, not for start-up): see `./integrity.ts`.
   * Read-only.
   */
  checkIntegrity(): IntegrityReport {
    this.requireOpen();
    return checkIntegrity(this.conn as Connection, this.streamsByName);
  }

  // ---------------------------------------------------------------- internals

  requireWritable(): void {
    if (this.readOnly) throw usage('the buffer was opened read-only');
    this.requireOpen();
  }

  requireOpen(): void {
    if (this.state !== 'open' || this.conn === null) throw new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `buffer is ${this.state}`);
  }

  /** Why the file cannot be used, naming the file and the remedy; the file itself is left untouched. */
  private openError(err: unknown): SkyhaulError {
    const code = sqliteCode(err) ?? '';
    const reason = err instanceof Error ? err.message : String(err);
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      return new SkyhaulError('SKY_ERR_USAGE', `buffer ${this.path} is in use by another process`, { cause: err });
    }
    if (code === 'SQLITE_FULL') return new SkyhaulError('SKY_ERR_DISK_LOW', `disk full while opening buffer ${this.path}`, { cause: err });
    if (err instanceof BufferSchemaError) {
      const why = { foreign: 'it is not a Skyhaul buffer', version: 'it has a schema this build cannot read', inconsistent: 'its cursors contradict its rows (SQLite reports the file itself intact)' }[err.problem];
      return new SkyhaulError(
        'SKY_ERR_BUFFER_INCOMPATIBLE',
        `refusing to use ${this.path}: ${why}: ${reason}. The file was left untouched; point buffer.file elsewhere or inspect it with 'skyhaul buffer check --file ${this.path}'`,
        { cause: err },
      );
    }
    if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_') || code === 'SQLITE_PERM' || code.startsWith('SQLITE_IOERR')) {
      return new SkyhaulError('SKY_ERR_BUFFER_ACCESS', `cannot ${this.readOnly ? 'read' : 'read and write'} buffer ${this.path}: ${reason} (${code}; ${accessHint(this.path, this.readOnly)})`, {
        cause: err,
      });
    }
    return new SkyhaulError('SKY_ERR_CONFIG', `cannot open buffer ${this.path}: ${reason}`, { cause: err });
  }

  get rec(): RecordStatements {
    if (this.recordStmts === null) this.recordStmts = new RecordStatements(this.conn as Connection);
    return this.recordStmts;
  }
}
