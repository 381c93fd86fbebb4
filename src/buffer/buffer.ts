/**
 * RecordBuffer: the durable store between inputs and the forwarder. Read the contract at the top
 * of `./index.ts` first; the comments here refer to its sections.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import nodePath from 'node:path';
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { SkyhaulError } from '../common/errors.ts';
import { isValidTraceparent } from '../record/record.ts';
import type { IncomingRecord, TelemetryRecord } from '../record/record.ts';
import { bodyChecksum, finishChecksum, metadataSize, stableChecksum } from './checksum.ts';
import {
  BufferSchemaError,
  MAX_SEQUENCE,
  existingSidecars,
  removeReadOnlySidecars,
  isQuarantinable,
  openDatabase,
  preserveSidecars,
  quarantineFiles,
  releaseSidecars,
} from './schema.ts';
import { generateTraceparent } from './trace.ts';
import { WalSync } from './durability.ts';
import { Entry, Fifo, Unit, type WriterMeta } from './units.ts';
import { Journal, type HeadCursor, type HeadRow, type RecordRow, type StreamRow } from './journal.ts';
import { RecordStatements, prepareStatements, type Statements } from './statements.ts';
import { accessHint, checkInteger, commitError, defaultStatfs, dropError, emptyClassStats, sqliteCode, usage } from './errors.ts';
import { checkIntegrity } from './integrity.ts';
import { behindReason, readMark, writeMark } from './identity.ts';
import { newProducerId } from './schema.ts';
import {
  DEFAULT_DISK,
  DEFAULT_GROUP_COMMIT,
  DEFAULT_MAX_BLOCKED_BYTES,
  DEFAULT_MAX_STREAMS,
  OVER_LIMIT_STREAM,
  DEFAULT_POLICIES,
  DEFAULT_QUOTA_BYTES,
  PRIORITY_ORDER,
  isPriorityClass,
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

/** Alarm codes raised by the buffer. */
export const ALARM = {
  quarantined: 'buffer_quarantined',
  syncFailed: 'buffer_sync_failed',
  identityRenewed: 'buffer_identity_renewed',
  diskLow: 'buffer_disk_low',
  checksum: 'buffer_checksum',
  quotaBlocked: 'buffer_quota_blocked',
  streamLimit: 'buffer_stream_limit',
} as const;

const SILENT: BufferLogger = { info() {}, warn() {}, error() {}, debug() {} };
const MAX_STREAM_NAME = 1024;
/** Rows per statement when walking a stream's head (eviction, TTL). */
const HEAD_CHUNK = 256;
/** Records deleted per TTL transaction; the sweep yields to the event loop between transactions. */
const TTL_CHUNK = 1_000;
/** WAL auto-checkpoint threshold (pages) while a TTL sweep runs. */
const SWEEP_CHECKPOINT_PAGES = 512;
/** Pages returned per incremental-vacuum step; the job yields between steps. */
const VACUUM_CHUNK_PAGES = 512;
const DROP_LOG_INTERVAL_MS = 10_000;

export class RecordBuffer extends EventEmitter {
  private readonly path: string;
  private readonly dir: string;
  private readonly siteId: string;
  private readonly synchronous: SynchronousMode;
  private readonly maxRecords: number;
  private readonly maxDelayMs: number;
  private readonly quotaBytes: number;
  private readonly policies: Record<PriorityClass, QuotaPolicy>;
  private readonly streamConfig: (stream: string) => StreamConfig;
  private readonly disk: DiskWatchdogOptions | null;
  private readonly maxBlockedBytes: number;
  private readonly maxRecordBytes: number;
  private readonly maxStreams: number;
  private timeFloor: number;
  private readonly markIntervalMs: number;
  private markTimer: NodeJS.Timeout | null = null;
  /** Sum of next sequences when the mark was last written: rewrite only when it moved. */
  private markedProgress = -1;
  /** Source marks per source, loaded on first use. */
  private readonly sourceMarkCache = new Map<string, Map<string, string>>();
  private readonly clock: () => number;
  private readonly monotonic: () => number;
  private readonly statfs: (dir: string) => { freeBytes: number };
  private readonly logger: BufferLogger;

  private readonly inFlightUpTo = new Map<string, number>();
  private readonly onCorrupt: 'quarantine' | 'throw';
  private readonly readOnly: boolean;
  private readonly mustExist: boolean;
  /** Read-only: the sidecars that existed before open, so close() removes only what SQLite added. */
  private sidecarsBeforeOpen: string[] = [];
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  private db: Database.Database | null = null;
  private stmt: Statements | null = null;
  /** Log statements, prepared on first use (a read-only tool never prepares the writes it does not run). */
  private recordStmts: RecordStatements | null = null;
  private runTx: ((fn: () => unknown) => unknown) | null = null;
  private producer: string | undefined;
  private closePromise: Promise<void> | null = null;

  private readonly streamsByName = new Map<string, StreamRow>();
  private readonly byClass: Record<PriorityClass, Set<StreamRow>> = {
    alarm: new Set(),
    control: new Set(),
    telemetry: new Set(),
    bulk: new Set(),
  };
  private readonly classTotals: Record<PriorityClass, { records: number; bytes: number }> = {
    alarm: { records: 0, bytes: 0 },
    control: { records: 0, bytes: 0 },
    telemetry: { records: 0, bytes: 0 },
    bulk: { records: 0, bytes: 0 },
  };
  private totalRecords = 0;
  private totalBytes = 0;
  /** Config of streams that have no row yet (first record still pending or dropped). */
  private readonly newStreamConfig = new Map<string, StreamConfig>();
  private readonly writerMeta = new Map<string, WriterMeta>();
  private readonly dropCounts = new Map<string, DropCount>();
  private readonly dropLog = new Map<string, { at: number; suppressed: number }>();
  private readonly alarmsByCode = new Map<string, BufferAlarm>();

  private pending: Unit[] = [];
  /** Records (not units) in `pending`: the group commit's size trigger counts records. */
  private pendingRecords = 0;
  private readonly blocked: Record<PriorityClass, Fifo<Unit>> = {
    alarm: new Fifo(),
    control: new Fifo(),
    telemetry: new Fifo(),
    bulk: new Fifo(),
  };
  private blockedBytes = 0;
  private retryBlocked = false;
  private flushing = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushImmediate: NodeJS.Immediate | null = null;
  /** Under FULL/EXTRA: the commit's fsync, on the thread pool (./durability.ts); null otherwise. */
  private walSync: WalSync | null = null;

  private accepting = true;
  private diskFreeBytes: number | null = null;
  /** performance.now() of the last statfs sample (a duration: never the wall clock). */
  private lastDiskCheck = Number.NEGATIVE_INFINITY;
  private diskTimer: NodeJS.Timeout | null = null;

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
    this.timeFloor = options.timeFloor ?? 0;
    this.markIntervalMs = checkInteger('markIntervalMs', options.markIntervalMs ?? 5000, 1);
    this.clock = options.clock ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.statfs = options.statfs ?? defaultStatfs;
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
    if (this.readOnly) this.sidecarsBeforeOpen = existingSidecars(this.path);
    try {
      if (!this.readOnly) preserveSidecars(this.path);
      opened = openDatabase(this.path, this.sqliteSynchronous(), now, { readOnly: this.readOnly, mustExist: this.mustExist });
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
        opened = openDatabase(this.path, this.sqliteSynchronous(), now);
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

    const db = opened.db;
    this.db = db;
    this.producer = opened.producerId;
    this.runTx = db.transaction((fn: () => unknown) => fn());
    if (!this.readOnly && this.ownSync()) this.walSync = new WalSync(`${this.path}-wal`, () => this.scheduleFlush());
    // Write statements name schema-2 columns: a read-only tool on an older file never prepares them.
    this.stmt = this.readOnly ? null : prepareStatements(db);
    for (const d of opened.drops) this.dropCounts.set(`${d.reason}\u0000${d.stream}`, { ...d });
    const epochs = new Map<string, Array<{ upTo: number; producerId: string }>>();
    for (const e of opened.epochs) {
      const list = epochs.get(e.stream) ?? [];
      list.push({ upTo: e.upTo, producerId: e.producerId });
      epochs.set(e.stream, list);
    }
    for (const r of opened.streams) {
      // The configuration decides the class; a changed class reaches the streams row with the
      // stream's next update (the column is informative: classes are re-applied on every open).
      const cfg = this.resolveConfig(r.name);
      this.streamsByName.set(r.name, { ...r, priority: cfg.priority, ttlMs: cfg.ttlMs, epochs: epochs.get(r.name) ?? [], durableNext: r.nextSequence });
    }
    this.recomputeDerived();
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
      { path: this.path, producerId: this.producer, created: opened.created, streams: this.streamsByName.size, records: this.totalRecords, bytes: this.totalBytes },
      'buffer opened',
    );
    if (this.disk !== null && !this.readOnly) {
      this.checkDisk();
      this.diskTimer = setInterval(() => this.checkDisk(), this.disk.checkIntervalMs);
      this.diskTimer.unref();
    }
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
      if (this.diskTimer !== null) clearInterval(this.diskTimer);
      this.diskTimer = null;
      try {
        if (!this.flushing) {
          while (this.pending.length > 0) this.flushOnce();
          if (this.retryBlocked && this.accepting) this.flushOnce();
        }
      } catch (err) {
        this.logger.error({ err }, 'buffer: final commit failed');
      }
      this.clearFlushTimer();
      try {
        this.walSync?.flushSync();
      } catch (err) {
        this.logger.error({ err }, 'buffer: final sync failed');
      }
      this.walSync?.close();
      this.walSync = null;
      if (this.markTimer !== null) clearInterval(this.markTimer);
      this.markTimer = null;
      if (!this.readOnly && this.db !== null) this.writeSequenceMark(true);
      const closed = new SkyhaulError('SKY_ERR_BUFFER_CLOSED', 'buffer closed before the record could be committed');
      for (const u of this.pending.splice(0)) u.reject(closed);
      this.pendingRecords = 0;
      for (const c of PRIORITY_ORDER) for (const u of this.blocked[c].drain()) u.reject(closed);
      this.blockedBytes = 0;
      try {
        this.db?.close();
      } catch (err) {
        this.state = 'closed';
        reject(new SkyhaulError('SKY_ERR_BUFFER_CLOSED', 'closing the buffer failed', { cause: err }));
        return;
      }
      this.db = null;
      this.stmt = null;
      this.recordStmts = null;
      this.runTx = null;
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
    return this.enqueue([record]).then((committed) => committed[0] as Committed);
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
    return this.enqueue(records, options.mark ?? null);
  }

  /**
   * The fingerprints committed for a source (contract, "Source marks"), by key: what an input
   * checks before committing a message that may be a re-send of one it already has.
   */
  sourceMarks(source: string): ReadonlyMap<string, string> {
    const db = this.db;
    if (db === null) throw new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `buffer is ${this.state}`);
    let marks = this.sourceMarkCache.get(source);
    if (marks === undefined) {
      const rows = db.prepare<[string], { key: string; fingerprint: string }>('SELECT key, fingerprint FROM source_marks WHERE source = ?').all(source);
      marks = new Map(rows.map((r) => [r.key, r.fingerprint]));
      this.sourceMarkCache.set(source, marks);
    }
    return marks;
  }

  private enqueue(records: IncomingRecord[], mark: SourceMark | null = null): Promise<Committed[]> {
    if (this.readOnly) return Promise.reject(usage('append on a buffer opened read-only'));
    if (this.state !== 'open') {
      return Promise.reject(new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `append on a buffer that is ${this.state}`));
    }
    let unit: Unit;
    try {
      unit = new Unit(
        records.map((r) => this.makeEntry(r)),
        mark,
      );
    } catch (err) {
      return Promise.reject(err);
    }
    const promise = new Promise<Committed[]>((resolve, reject) => {
      unit.resolve = resolve;
      unit.reject = reject;
    });
    if (this.disk !== null && this.monotonic() - this.lastDiskCheck >= this.disk.checkIntervalMs) this.checkDisk();
    this.pending.push(unit);
    this.pendingRecords += unit.entries.length;
    if (this.pendingRecords >= this.maxRecords && !this.flushing) this.flush();
    else this.scheduleFlush();
    return promise;
  }

  private makeEntry(r: IncomingRecord): Entry {
    if (r === null || typeof r !== 'object') throw usage('record must be an object');
    const { stream } = r;
    if (typeof stream !== 'string' || stream.length === 0 || stream.length > MAX_STREAM_NAME) {
      throw usage(`record stream must be a non-empty string of at most ${MAX_STREAM_NAME} characters`);
    }
    const payload = r.payload;
    if (!(payload instanceof Uint8Array)) throw usage(`record payload for '${stream}' must be a Buffer`);
    if (payload.length > this.maxRecordBytes) {
      throw new SkyhaulError(
        'SKY_ERR_RECORD_TOO_LARGE',
        `record for '${stream}' has a ${payload.length}-byte payload; the forwarding transport carries at most ${this.maxRecordBytes} bytes per record`,
      );
    }
    const contentType = r.contentType ?? 'application/octet-stream';
    if (typeof contentType !== 'string' || contentType === '') throw usage(`bad contentType for '${stream}'`);
    const schemaRef = r.schemaRef ?? null;
    if (schemaRef !== null && typeof schemaRef !== 'string') throw usage(`bad schemaRef for '${stream}'`);
    const sourceTime = r.sourceTime ?? null;
    if (sourceTime !== null && !Number.isSafeInteger(sourceTime)) throw usage(`bad sourceTime for '${stream}'`);
    const ingestTime = r.ingestTime ?? this.clock();
    if (!Number.isSafeInteger(ingestTime)) throw usage(`bad ingestTime for '${stream}'`);
    let traceparent = r.traceparent;
    if (traceparent === undefined) traceparent = generateTraceparent();
    else if (typeof traceparent !== 'string' || !isValidTraceparent(traceparent)) {
      throw usage(`bad traceparent for '${stream}': '${String(traceparent)}'`);
    }
    let meta = this.writerMeta.get(stream);
    if (meta === undefined || meta.contentType !== contentType || meta.schemaRef !== schemaRef) {
      const known = this.streamsByName.get(stream);
      // Past the stream limit nothing is cached for an unknown stream (its record will be dropped
      // at commit): the maps keyed by stream stay bounded by maxStreams plus what is in flight.
      const cache = known !== undefined || this.streamsByName.size < this.maxStreams;
      meta = {
        contentType,
        schemaRef,
        stableCrc: stableChecksum(stream, contentType, schemaRef),
        metaBytes: metadataSize(contentType, schemaRef),
        priority: known?.priority ?? (cache ? this.resolveConfig(stream) : this.configOf(stream)).priority,
      };
      if (cache) this.writerMeta.set(stream, meta);
    }
    return new Entry(stream, sourceTime, ingestTime, contentType, schemaRef, traceparent, payload, meta.priority, meta);
  }

  private resolveConfig(stream: string): StreamConfig {
    let cfg = this.newStreamConfig.get(stream);
    if (cfg === undefined) {
      cfg = this.configOf(stream);
      this.newStreamConfig.set(stream, cfg);
    }
    return cfg;
  }

  private configOf(stream: string): StreamConfig {
    const c = this.streamConfig(stream);
    if (!isPriorityClass(c.priority)) throw usage(`streamConfig('${stream}') returned bad priority '${String(c.priority)}'`);
    if (c.ttlMs !== null && !(typeof c.ttlMs === 'number' && c.ttlMs >= 0)) throw usage(`streamConfig('${stream}') returned bad ttlMs`);
    return { priority: c.priority, ttlMs: c.ttlMs };
  }

  /** Whether the unit would create streams beyond maxStreams (then it is dropped whole, as 'stream_limit'). */
  private overStreamLimit(u: Unit): string | null {
    let created = 0;
    for (const e of u.entries) {
      if (this.streamsByName.has(e.stream)) continue;
      created++;
      if (this.streamsByName.size + created > this.maxStreams) return e.stream;
    }
    return null;
  }

  /**
   * Commits as soon as the writer is idle: on the next turn of the event loop (appends of the same
   * turn share the commit) when no fsync is running; otherwise when the running fsync completes
   * (WalSync calls back), or after maxDelayMs, whichever is first. The delay is an upper bound.
   */
  private scheduleFlush(): void {
    if (this.state === 'closed' || this.flushImmediate !== null) return;
    if (this.walSync === null || !this.walSync.busy) {
      if (this.pending.length === 0 && !(this.retryBlocked && this.accepting)) return;
      // Not unref'd: a pending append must keep the process alive until it commits.
      this.flushImmediate = setImmediate(() => {
        this.flushImmediate = null;
        this.flush();
      });
      return;
    }
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, this.maxDelayMs);
  }

  private clearFlushTimer(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.flushImmediate !== null) clearImmediate(this.flushImmediate);
    this.flushImmediate = null;
  }

  /** FULL/EXTRA are kept by our own fsync after each commit (./durability.ts); SQLite runs at NORMAL. */
  private ownSync(): boolean {
    return this.synchronous === 'FULL' || this.synchronous === 'EXTRA';
  }

  private sqliteSynchronous(): SynchronousMode {
    return this.ownSync() && !this.readOnly ? 'NORMAL' : this.synchronous;
  }

  /** Commits pending appends (and retries blocked ones) in transactions of at most maxRecords. */
  private flush(): void {
    if (this.flushing || this.db === null) return;
    this.clearFlushTimer();
    do {
      this.flushOnce();
    } while (this.pendingRecords >= this.maxRecords && this.db !== null);
    // Waiters are retried only when accepting: while the disk is low, checkDisk() schedules the
    // retry when it resumes (no polling).
    if (this.pending.length > 0 || (this.retryBlocked && this.accepting)) this.scheduleFlush();
  }

  /** Takes whole units from the queue up to maxRecords records (a larger unit goes alone). */
  private takeBatch(): Unit[] {
    if (this.pendingRecords <= this.maxRecords) {
      const all = this.pending;
      this.pending = [];
      this.pendingRecords = 0;
      return all;
    }
    let n = 0;
    let records = 0;
    while (n < this.pending.length) {
      const size = (this.pending[n] as Unit).entries.length;
      if (n > 0 && records + size > this.maxRecords) break;
      records += size;
      n++;
    }
    const batch = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    this.pendingRecords -= records;
    return batch;
  }

  private flushOnce(): void {
    const retry = this.retryBlocked && this.accepting;
    const batch = this.takeBatch();
    if (batch.length === 0 && !retry) return;
    if (retry) this.retryBlocked = false;
    this.flushing = true;
    const t0 = performance.now();
    const result = this.tryTransact((j) => {
      if (retry) this.retryBlockedEntries(j);
      for (const e of batch) this.admitNew(e, j);
    });
    this.flushing = false;
    if (!result.ok) {
      const error = commitError(result.err);
      this.logger.error({ err: result.err, records: batch.length }, 'buffer: group commit failed; its appends are rejected');
      const failed = new Set<Unit>([...batch, ...result.j.unblocked]);
      for (const c of PRIORITY_ORDER) this.blocked[c].removeWhere((u) => failed.has(u));
      this.recountBlocked();
      for (const u of failed) u.reject(error);
      return;
    }
    const sync = this.walSync;
    if (sync === null) {
      this.afterCommit(result.j, performance.now() - t0);
      return;
    }
    // The marks are what a redelivery is checked against: current from COMMIT on, not from the sync.
    this.rememberMarks(result.j);
    sync.committed((err) => {
      if (err !== null) this.syncFailed(result.j, err);
      this.afterCommit(result.j, performance.now() - t0, false);
    });
  }

  /**
   * fdatasync of the WAL failed: whether the commit is on disk is unknown (after an EIO the kernel
   * may have dropped the dirty pages). Its appends reject, so their sources keep and resend them
   * (a resend that does land twice is a duplicate under a new sequence: the lesser harm than
   * acknowledging data that may be gone), and a critical alarm says so.
   */
  private syncFailed(j: Journal, err: Error): void {
    const error = new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `buffer commit could not be made durable: fdatasync failed: ${err.message}`, { cause: err });
    this.raiseAlarm(ALARM.syncFailed, `the buffer's WAL could not be synced to disk (${err.message}); appends of that commit were rejected`, { path: this.path, error: err.message }, 'error');
    for (const u of j.insertedUnits) u.reject(error);
    j.insertedUnits.length = 0;
  }

  /** New appends, in arrival order. */
  private admitNew(u: Unit, j: Journal): void {
    if (!this.accepting) return this.park(u, 'disk', j);
    // Keep each class's waiters in order: nothing of a class overtakes its own blocked records.
    if (this.blocked[u.priority].length > 0) return this.park(u, 'quota', j);
    if (this.place(u, j) === 'wait') this.park(u, 'quota', j);
  }

  /** Blocked appends, highest class first, FIFO within a class; a class stops at its first misfit. */
  private retryBlockedEntries(j: Journal): void {
    for (const c of PRIORITY_ORDER) {
      const q = this.blocked[c];
      while (q.length > 0 && this.accepting) {
        const u = q.peek() as Unit;
        if (this.place(u, j) === 'wait') break;
        q.shift();
        this.blockedBytes -= u.size;
        j.unblocked.push(u);
      }
    }
  }

  /** Waits under 'block' or disk-low, bounded by maxBlockedBytes (beyond it: the newest is dropped). */
  private park(u: Unit, why: 'quota' | 'disk', j: Journal): void {
    if (this.blockedBytes + u.size > this.maxBlockedBytes) {
      this.dropUnit(u, why === 'disk' ? 'disk_low' : 'backpressure_overflow', j);
      return;
    }
    this.blocked[u.priority].push(u);
    this.blockedBytes += u.size;
    j.newlyBlocked.push(u);
  }

  /** Every record of the unit is counted as dropped; its append rejects after COMMIT. */
  private dropUnit(u: Unit, reason: DropReason, j: Journal): void {
    for (const e of u.entries) {
      j.countDrop(reason === 'stream_limit' ? OVER_LIMIT_STREAM : e.stream, reason, 1);
      if (reason === 'stream_limit' && !this.streamsByName.has(e.stream)) {
        // Cached when the append came in, before the limit was known: a refused stream keeps nothing.
        this.writerMeta.delete(e.stream);
        this.newStreamConfig.delete(e.stream);
      }
    }
    j.dropped.push({ unit: u, reason });
  }

  /**
   * Quota decision for one record (contract: "Quota"). 'wait' only under the 'block' policy.
   * Inside the transaction: evictions and the insert happen here.
   */
  private place(e: Unit, j: Journal): 'inserted' | 'dropped' | 'wait' {
    const refused = this.overStreamLimit(e);
    if (refused !== null) {
      j.streamLimited = refused;
      this.dropUnit(e, 'stream_limit', j);
      return 'dropped';
    }
    if (e.size > this.quotaBytes) {
      this.dropUnit(e, 'quota_drop_newest', j);
      return 'dropped';
    }
    // Normally need <= e.size. When the buffer is already far over quota (the quota was lowered,
    // a backlog was carried over), each record frees only its own size: converging gradually
    // instead of evicting millions of rows in one transaction and stalling the event loop.
    const need = Math.min(this.totalBytes + e.size - this.quotaBytes, e.size);
    if (need > 0) {
      const policy = this.policies[e.priority];
      const mine = PRIORITY_ORDER.indexOf(e.priority);
      let evictable = policy === 'drop-oldest' ? this.classTotals[e.priority].bytes : 0;
      for (let i = mine + 1; i < PRIORITY_ORDER.length; i++) {
        const c = PRIORITY_ORDER[i] as PriorityClass;
        if (this.policies[c] === 'drop-oldest') evictable += this.classTotals[c].bytes;
      }
      if (evictable < need) {
        if (policy === 'block') return 'wait';
        this.dropUnit(e, 'quota_drop_newest', j);
        return 'dropped';
      }
      let remaining = need;
      for (let i = PRIORITY_ORDER.length - 1; i > mine && remaining > 0; i--) {
        const c = PRIORITY_ORDER[i] as PriorityClass;
        if (this.policies[c] === 'drop-oldest') remaining -= this.evictFromClass(c, remaining, j);
      }
      if (remaining > 0 && policy === 'drop-oldest') remaining -= this.evictFromClass(e.priority, remaining, j);
      if (remaining > 0) {
        // Counters promised more than the rows held; refuse rather than exceed the quota.
        this.logger.error({ stream: e.entries[0]?.stream, remaining }, 'buffer: eviction freed less than the counters promised');
        if (policy === 'block') return 'wait';
        this.dropUnit(e, 'quota_drop_newest', j);
        return 'dropped';
      }
    }
    for (const entry of e.entries) this.insert(entry, j);
    if (e.mark !== null) (this.stmt as Statements).putMark.run(e.mark.source, e.mark.key, e.mark.fingerprint);
    j.insertedUnits.push(e);
    return 'inserted';
  }

  private insert(e: Entry, j: Journal): void {
    let s = this.streamsByName.get(e.stream);
    if (s === undefined) s = this.createStream(e.stream, e.priority, j);
    else if (j.lastTouched !== s) j.touch(s);
    j.lastTouched = s;
    const sequence = s.nextSequence;
    if (sequence > MAX_SEQUENCE) throw new SkyhaulError('SKY_ERR_BUFFER_FULL', `stream '${s.name}' has exhausted its sequence space`);
    if (s.lastIngestTime !== null) e.raiseIngestTime(s.lastIngestTime);
    s.lastIngestTime = e.ingestTime;
    const crc = finishChecksum(e.crcBody, sequence);
    this.rec.insert.run(s.id, sequence, e.ingestTime, e.sourceTime, e.size, crc, e.contentType, e.schemaRef, e.traceparent, e.payload);
    s.nextSequence = sequence + 1;
    if (s.records === 0) s.oldestIngestTime = e.ingestTime;
    this.adjust(s, 1, e.size);
    e.sequence = sequence;
    j.inserted.push(e);
  }

  private createStream(name: string, priority: PriorityClass, j: Journal): StreamRow {
    const stmt = this.stmt as Statements;
    const id = Number(stmt.createStream.run(name, priority).lastInsertRowid);
    const cfg = this.resolveConfig(name);
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
    this.streamsByName.set(name, s);
    this.byClass[priority].add(s);
    j.created.push(s);
    return s;
  }

  /** Oldest-first across the class's streams (by each stream's first record), prefix-only per stream. */
  private evictFromClass(c: PriorityClass, need: number, j: Journal): number {
    let freed = 0;
    while (freed < need) {
      let best: StreamRow | null = null;
      let bestHead: HeadRow | null = null;
      for (const s of this.byClass[c]) {
        if (s.records === 0) continue;
        const h = this.peekHead(s, j);
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
      this.adjust(best, -1, -bestHead.size);
      j.countDrop(best.name, 'quota_drop_oldest', 1);
      freed += bestHead.size;
    }
    return freed;
  }

  /**
   * Records the forwarder has sent but the broker has not yet acknowledged: eviction and TTL skip
   * them, so a record that may still arrive is never also counted as dropped.
   */
  setInFlight(stream: string, uptoSequence: number): void {
    if (uptoSequence <= 0) this.inFlightUpTo.delete(stream);
    else this.inFlightUpTo.set(stream, uptoSequence);
  }

  private inFlightFloor(s: StreamRow): number {
    return Math.max(s.ackedSequence, this.inFlightUpTo.get(s.name) ?? 0);
  }

  private peekHead(s: StreamRow, j: Journal): HeadRow | null {
    let c = j.heads.get(s);
    if (c === undefined) {
      const floor = this.inFlightFloor(s);
      if (!j.evictFrom.has(s)) j.evictFrom.set(s, floor);
      c = { rows: [], idx: 0, after: j.evictUpTo.get(s) ?? floor };
      j.heads.set(s, c);
    }
    if (c.idx >= c.rows.length) {
      c.rows = this.rec.headChunk.all(s.id, c.after, HEAD_CHUNK);
      c.idx = 0;
      const last = c.rows[c.rows.length - 1];
      if (last === undefined) return null;
      c.after = last.sequence;
    }
    return c.rows[c.idx] ?? null;
  }

  private adjust(s: StreamRow, records: number, bytes: number): void {
    s.records += records;
    s.bytes += bytes;
    const t = this.classTotals[s.priority];
    t.records += records;
    t.bytes += bytes;
    this.totalRecords += records;
    this.totalBytes += bytes;
    if (s.records === 0) s.oldestIngestTime = null;
  }

  private recomputeDerived(): void {
    this.totalRecords = 0;
    this.totalBytes = 0;
    for (const c of PRIORITY_ORDER) {
      this.classTotals[c] = { records: 0, bytes: 0 };
      this.byClass[c].clear();
    }
    for (const s of this.streamsByName.values()) {
      this.byClass[s.priority].add(s);
      this.classTotals[s.priority].records += s.records;
      this.classTotals[s.priority].bytes += s.bytes;
      this.totalRecords += s.records;
      this.totalBytes += s.bytes;
    }
  }

  private recountBlocked(): void {
    this.blockedBytes = 0;
    for (const c of PRIORITY_ORDER) for (const u of this.blocked[c]) this.blockedBytes += u.size;
  }

  // ---------------------------------------------------------------- transactions

  /**
   * Runs `body` and the persistence of what it changed (stream rows, drop counters, evictions) in
   * one SQLite transaction. On failure the in-memory state is restored and the error returned, so
   * the caller can settle its appends.
   */
  private tryTransact(body: (j: Journal) => void): { ok: true; j: Journal } | { ok: false; j: Journal; err: unknown } {
    const j = new Journal();
    const run = this.runTx;
    if (run === null) return { ok: false, j, err: new SkyhaulError('SKY_ERR_BUFFER_CLOSED', 'buffer is not open') };
    try {
      run(() => {
        body(j);
        this.persist(j);
      });
    } catch (err) {
      this.restore(j);
      return { ok: false, j, err };
    }
    return { ok: true, j };
  }

  /** tryTransact for ack/TTL/maintenance: throws on failure, applies the journal on success. */
  private transact(body: (j: Journal) => void): Journal {
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
  private relaxedTransact(body: (j: Journal) => void): Journal {
    const db = this.db as Database.Database;
    // Under our own fsync SQLite already runs at NORMAL.
    if (this.sqliteSynchronous() !== 'FULL' && this.sqliteSynchronous() !== 'EXTRA') return this.transact(body);
    db.pragma('synchronous = NORMAL');
    try {
      return this.transact(body);
    } finally {
      db.pragma(`synchronous = ${this.synchronous}`);
    }
  }

  private persist(j: Journal): void {
    const stmt = this.stmt as Statements;
    for (const [s, upTo] of j.evictUpTo) this.rec.deleteRange.run(s.id, j.evictFrom.get(s) ?? s.ackedSequence, upTo);
    const write = (s: StreamRow): void => {
      stmt.updateStream.run(s.priority, s.nextSequence, s.ackedSequence, s.records, s.bytes, s.lastIngestTime, s.id);
    };
    for (const s of j.saved.keys()) write(s);
    for (const s of j.created) write(s);
    for (const d of j.drops.values()) stmt.addDrop.run(d.stream, d.reason, d.count);
  }

  private restore(j: Journal): void {
    for (const [s, saved] of j.saved) Object.assign(s, saved);
    for (const s of j.created) this.streamsByName.delete(s.name);
    this.recomputeDerived();
  }

  private rememberMarks(j: Journal): void {
    for (const u of j.insertedUnits) if (u.mark !== null) this.sourceMarkCache.get(u.mark.source)?.set(u.mark.key, u.mark.fingerprint);
  }

  /** After COMMIT (and its fsync, when the buffer syncs itself): counters, events, promise settlement. Never throws. */
  private afterCommit(j: Journal, durationMs: number, marks = true): void {
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
    if (j.freed && this.blockedRecords() > 0) {
      this.retryBlocked = true;
      if (this.accepting) this.scheduleFlush();
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
    const waiting = this.blockedRecords();
    if (this.accepting && waiting > 0 && [...PRIORITY_ORDER].some((c) => this.blocked[c].length > 0 && this.policies[c] === 'block')) {
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
    this.requireOpen();
    checkInteger('limit', limit, 1);
    const s = this.streamsByName.get(stream);
    if (s === undefined || s.records === 0) return [];
    const out: TelemetryRecord[] = [];
    let bytes = 0;
    let after = Math.max(0, Math.floor(afterSequence));
    let full = false;
    // The stable part of the checksum (stream, content type, schema ref) rarely changes within a stream.
    let stable = { contentType: '', schemaRef: null as string | null, crc: -1 };
    while (!full && out.length < limit) {
      const want = limit - out.length;
      const rows = this.rec.readChunk.all(s.id, after, want);
      const bad: RecordRow[] = [];
      for (const row of rows) {
        if (row.sequence >= s.durableNext) {
          full = true; // committed, but its fsync is still running: not readable yet
          break;
        }
        const rec: TelemetryRecord = {
          siteId: this.siteId,
          producerId: this.producerOf(s, row.sequence),
          stream,
          sequence: row.sequence,
          sourceTime: row.source_time,
          ingestTime: row.ingest_time,
          contentType: row.content_type,
          schemaRef: row.schema_ref,
          payload: row.payload,
          traceparent: row.traceparent,
        };
        if (stable.crc < 0 || stable.contentType !== rec.contentType || stable.schemaRef !== rec.schemaRef) {
          stable = { contentType: rec.contentType, schemaRef: rec.schemaRef, crc: stableChecksum(stream, rec.contentType, rec.schemaRef) };
        }
        const crc = finishChecksum(bodyChecksum(stable.crc, rec.sourceTime, rec.ingestTime, rec.traceparent, rec.payload), rec.sequence);
        if (crc !== row.crc) {
          bad.push(row);
          after = row.sequence;
          continue;
        }
        if (out.length > 0 && bytes + row.size > maxBytes) {
          full = true;
          break;
        }
        out.push(rec);
        bytes += row.size;
        after = row.sequence;
      }
      if (bad.length > 0) {
        // Read-only (an offline tool): report, never delete; checkIntegrity() lists them too.
        if (this.readOnly) this.logger.error({ stream, sequences: bad.map((r) => r.sequence) }, 'buffer: records fail their checksum');
        else this.removeCorrupt(s, bad);
      }
      if (rows.length < want) break;
    }
    return out;
  }

  private removeCorrupt(s: StreamRow, rows: RecordRow[]): void {
    this.transact((j) => {
      j.touch(s);
      for (const row of rows) {
        this.rec.deleteOne.run(s.id, row.sequence);
        this.adjust(s, -1, -row.size);
        j.countDrop(s.name, 'checksum', 1);
        j.checksumFailures.push({ stream: s.name, sequence: row.sequence });
      }
      s.oldestIngestTime = s.records === 0 ? null : undefined;
      j.freed = true;
    });
  }

  /** Deletes the stream's records <= uptoSequence and advances its acked cursor, in one transaction. */
  ack(stream: string, uptoSequence: number): void {
    this.ackMany([{ stream, sequence: uptoSequence }]);
  }

  /** Several acks in one transaction. Acks at or below a stream's cursor are no-ops (idempotent). */
  ackMany(acks: Array<{ stream: string; sequence: number }>): void {
    this.requireWritable();
    for (const a of acks) {
      const s = this.streamsByName.get(a.stream);
      if (s === undefined) throw usage(`ack for unknown stream '${a.stream}'`);
      if (!Number.isSafeInteger(a.sequence) || a.sequence < 0) throw usage(`ack of '${a.stream}' with bad sequence ${a.sequence}`);
      if (a.sequence >= s.nextSequence) {
        throw usage(`ack of '${a.stream}' up to ${a.sequence}, but only sequences below ${s.nextSequence} were ever assigned`);
      }
    }
    this.transact((j) => {
      for (const a of acks) {
        const s = this.streamsByName.get(a.stream) as StreamRow;
        if (a.sequence <= s.ackedSequence) continue;
        const totals = this.rec.rangeTotals.get(s.id, a.sequence) ?? { n: 0, bytes: 0 };
        j.touch(s);
        if (totals.n > 0) {
          this.rec.deleteUpTo.run(s.id, a.sequence);
          this.adjust(s, -totals.n, -totals.bytes);
          if (s.records > 0) s.oldestIngestTime = undefined;
          j.freed = true;
        }
        s.ackedSequence = a.sequence;
        if (s.epochs.length > 0 && (s.epochs[0] as { upTo: number }).upTo <= a.sequence) {
          (this.stmt as Statements).pruneEpochs.run(s.name, a.sequence);
          s.epochs = s.epochs.filter((e) => e.upTo > a.sequence);
        }
      }
    });
  }

  /**
   * Sets one buffered record aside as a counted drop (the forwarder, for a record its transport
   * cannot carry: reason 'oversize'). Like a checksum failure, the one exception to prefix-only
   * deletes; the forwarder treats the hole as a gap. Returns false when the record is not there.
   */
  discard(stream: string, sequence: number, reason: Extract<DropReason, 'oversize'>): boolean {
    this.requireWritable();
    const s = this.streamsByName.get(stream);
    if (s === undefined || sequence <= s.ackedSequence || sequence >= s.nextSequence) return false;
    const row = this.rec.readChunk.get(s.id, sequence - 1, 1);
    if (row === undefined || row.sequence !== sequence) return false;
    this.transact((j) => {
      j.touch(s);
      this.rec.deleteOne.run(s.id, sequence);
      this.adjust(s, -1, -row.size);
      if (s.records > 0) s.oldestIngestTime = undefined;
      j.countDrop(s.name, reason, 1);
      j.freed = true;
    });
    return true;
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
    const db = this.db as Database.Database;
    const epochs = new Map<StreamRow, Array<{ upTo: number; producerId: string }>>();
    db.transaction(() => {
      for (const s of this.streamsByName.values()) {
        if (s.records === 0) continue;
        stmt.addEpoch.run(s.name, s.nextSequence - 1, retired);
        epochs.set(s, [...s.epochs, { upTo: s.nextSequence - 1, producerId: retired }]);
      }
      db.prepare(`UPDATE meta SET value = ? WHERE key = 'producer_id'`).run(renewed);
    })();
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
    if (this.db === null || this.producer === undefined) return;
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

  /** The producer identity a record was (or will be) sent under: a retired one for records from before a renewal. */
  private producerOf(s: StreamRow, sequence: number): string {
    for (const e of s.epochs) if (sequence <= e.upTo) return e.producerId;
    return this.producerId;
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
  async sweepTtl(now: number = this.clock()): Promise<number> {
    this.requireWritable();
    const streams = [...this.streamsByName.values()].filter((s) => s.ttlMs !== null);
    let removed = 0;
    let next = 0;
    // A checkpoint runs inside the commit that crosses the threshold: during a sweep, which
    // rewrites many pages, smaller and more frequent checkpoints keep each stall short.
    const db = this.db as Database.Database;
    const checkpointPages = Number(db.pragma('wal_autocheckpoint', { simple: true }));
    db.pragma(`wal_autocheckpoint = ${Math.min(checkpointPages, SWEEP_CHECKPOINT_PAGES)}`);
    try {
      while (next < streams.length && this.state === 'open') {
        let budget = TTL_CHUNK;
        this.relaxedTransact((j) => {
          while (next < streams.length && budget > 0) {
            const s = streams[next] as StreamRow;
            const n = s.records === 0 ? 0 : this.expireHead(s, now - (s.ttlMs as number), budget, j);
            removed += n;
            budget -= n;
            if (budget > 0) next++;
          }
        });
        if (next < streams.length) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      if (this.db === db) db.pragma(`wal_autocheckpoint = ${checkpointPages}`);
    }
    return removed;
  }

  /** Expires at most `budget` records at the head of `s` (after its in-flight floor); returns how many. */
  private expireHead(s: StreamRow, cutoff: number, budget: number, j: Journal): number {
    const oldest = this.oldestOf(s);
    if (oldest === null || oldest > cutoff) return 0;
    let n = 0;
    let bytes = 0;
    let upTo = 0;
    const floor = this.inFlightFloor(s);
    let after = floor;
    scan: while (n < budget) {
      const rows = this.rec.headChunk.all(s.id, after, Math.min(HEAD_CHUNK, budget - n));
      for (const r of rows) {
        if (r.ingestTime > cutoff || r.ingestTime < this.timeFloor) break scan;
        n++;
        bytes += r.size;
        upTo = r.sequence;
      }
      if (rows.length === 0) break;
      after = (rows[rows.length - 1] as HeadRow).sequence;
    }
    if (n === 0) return 0;
    j.touch(s);
    this.rec.deleteRange.run(s.id, floor, upTo);
    this.adjust(s, -n, -bytes);
    if (s.records > 0) s.oldestIngestTime = undefined;
    j.countDrop(s.name, 'ttl', n);
    j.freed = true;
    return n;
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
    if (this.disk === null || this.db === null) return this.accepting;
    this.lastDiskCheck = this.monotonic();
    let free: number;
    try {
      free = this.statfs(this.dir).freeBytes;
    } catch (err) {
      this.logger.warn({ err, dir: this.dir }, 'buffer: statfs failed; keeping the previous disk state');
      return this.accepting;
    }
    this.diskFreeBytes = free;
    if (this.accepting && free < this.disk.minFreeBytes) {
      this.accepting = false;
      this.raiseAlarm(ALARM.diskLow, `free disk space ${free} B is below ${this.disk.minFreeBytes} B: the buffer stopped accepting`, {
        dir: this.dir,
        freeBytes: free,
        minFreeBytes: this.disk.minFreeBytes,
        resumeFreeBytes: this.disk.resumeFreeBytes,
      }, 'error');
      this.safeEmit('accepting', false);
    } else if (!this.accepting && free >= this.disk.resumeFreeBytes) {
      this.accepting = true;
      this.clearAlarm(ALARM.diskLow);
      this.logger.info({ dir: this.dir, freeBytes: free }, 'buffer: disk space recovered, accepting again');
      this.safeEmit('accepting', true);
      if (this.blockedRecords() > 0) {
        this.retryBlocked = true;
        this.scheduleFlush();
      }
    }
    return this.accepting;
  }

  // ---------------------------------------------------------------- alarms

  private raiseAlarm(code: string, message: string, details: Record<string, unknown>, level: 'warn' | 'error'): void {
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

  private oldestOf(s: StreamRow): number | null {
    if (s.records === 0) return null;
    if (s.oldestIngestTime === undefined) {
      s.oldestIngestTime = this.rec.head.get(s.id) ?? null;
    }
    return s.oldestIngestTime;
  }

  stats(): BufferStats {
    this.requireOpen();
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
      accepting: this.accepting,
      diskFreeBytes: this.diskFreeBytes,
      byPriority,
      blocked: { records: this.blockedRecords(), bytes: this.blockedBytes },
    };
  }

  private blockedRecords(): number {
    let n = 0;
    for (const c of PRIORITY_ORDER) for (const u of this.blocked[c]) n += u.entries.length;
    return n;
  }

  /** Persisted drop counters by stream and reason (they survive restarts). */
  drops(): DropCount[] {
    return [...this.dropCounts.values()].map((d) => ({ ...d })).sort((a, b) => a.stream.localeCompare(b.stream) || a.reason.localeCompare(b.reason));
  }

  // ---------------------------------------------------------------- maintenance

  /** WAL checkpoint (default TRUNCATE: copy the WAL into the file and reset it). */
  checkpoint(mode: 'PASSIVE' | 'FULL' | 'RESTART' | 'TRUNCATE' = 'TRUNCATE'): void {
    this.requireWritable();
    (this.db as Database.Database).pragma(`wal_checkpoint(${mode})`);
  }

  /**
   * Returns up to `maxPages` free pages (all when omitted) to the filesystem, VACUUM_CHUNK_PAGES
   * per transaction, yielding to the event loop between them. Resolves with the pages returned.
   */
  async incrementalVacuum(maxPages: number = Number.POSITIVE_INFINITY): Promise<number> {
    this.requireWritable();
    let returned = 0;
    while (this.state === 'open' && returned < maxPages) {
      const db = this.db as Database.Database;
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
    const db = this.db as Database.Database;
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
    return checkIntegrity(this.db as Database.Database, this.streamsByName);
  }

  // ---------------------------------------------------------------- internals

  private requireWritable(): void {
    if (this.readOnly) throw usage('the buffer was opened read-only');
    this.requireOpen();
  }

  private requireOpen(): void {
    if (this.state !== 'open' || this.db === null) throw new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `buffer is ${this.state}`);
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

  private get rec(): RecordStatements {
    if (this.recordStmts === null) this.recordStmts = new RecordStatements(this.db as Database.Database);
    return this.recordStmts;
  }
}
