/**
 * Public types and defaults of the durable buffer. The contract (layout, rules, invariants) is
 * at the top of `./index.ts`.
 */

export type PriorityClass = 'alarm' | 'control' | 'telemetry' | 'bulk';

/** Drain order, highest priority first. "Lower class" means later in this list. */
export const PRIORITY_ORDER: readonly PriorityClass[] = ['alarm', 'control', 'telemetry', 'bulk'];

export type QuotaPolicy = 'block' | 'drop-oldest' | 'drop-newest';

export type DropReason =
  | 'quota_drop_oldest'
  | 'quota_drop_newest'
  | 'ttl'
  | 'disk_low'
  | 'checksum'
  | 'backpressure_overflow'
  /** A buffered record the transport cannot carry (written before the ingest limit existed, or the limit was raised): set aside by the forwarder. */
  | 'oversize'
  /** A record of a new stream beyond `maxStreams`: counted under the stream '*' (the counters stay bounded too). */
  | 'stream_limit';

export const DROP_REASONS: readonly DropReason[] = [
  'quota_drop_oldest',
  'quota_drop_newest',
  'ttl',
  'disk_low',
  'checksum',
  'backpressure_overflow',
  'oversize',
  'stream_limit',
];

/**
 * A source's own de-duplication key, kept with the records it produced: the fingerprint of the
 * last message committed per (source, key), e.g. ('mqtt:site-broker', topic, sha-256 of the
 * payload). Written in the commit transaction of that message's records, so "committed" and
 * "remembered" can never disagree after a crash.
 */
export interface SourceMark {
  source: string;
  key: string;
  fingerprint: string;
}

export type SynchronousMode = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

export interface StreamConfig {
  priority: PriorityClass;
  /** Records older than this (by ingest time) are removed by `sweepTtl()`, counted as 'ttl'. */
  ttlMs: number | null;
}

export interface DiskWatchdogOptions {
  /** Stop accepting when the buffer's filesystem has less than this free (for unprivileged users). */
  minFreeBytes: number;
  /** Resume accepting once free space is back above this (hysteresis: must be >= minFreeBytes). */
  resumeFreeBytes: number;
  checkIntervalMs: number;
}

/** The subset of pino's Logger the buffer uses; a pino logger fits. */
export interface BufferLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface BufferOptions {
  /** SQLite file; its directory is created if missing. */
  path: string;
  /**
   * Run the SQLite connection on a worker thread (default true; contract, "Writing: group
   * commit"). False keeps it on the calling thread, as read-only opens and a single executable do.
   */
  writerThread?: boolean;
  siteId: string;
  /** SQLite `synchronous` for commits; default 'FULL' (a commit is on disk when append resolves). */
  synchronous?: SynchronousMode;
  /** Default { maxRecords: 1000, maxDelayMs: 5 }. */
  groupCommit?: { maxRecords: number; maxDelayMs: number };
  /** Default 1 GiB; counts the accounted size of buffered records (see `recordSize`). */
  quotaBytes?: number;
  /** Default: alarm 'block', control 'block', telemetry 'drop-oldest', bulk 'drop-oldest'. */
  policies?: Partial<Record<PriorityClass, QuotaPolicy>>;
  /** Default: every stream is { priority: 'telemetry', ttlMs: null }. Called once per stream per open. */
  streamConfig?: (stream: string) => StreamConfig;
  /**
   * Default { minFreeBytes: 64 MiB, resumeFreeBytes: 128 MiB, checkIntervalMs: 5000 };
   * `null` disables the watchdog (always accepting).
   */
  disk?: DiskWatchdogOptions | null;
  /** Bound on bytes of records waiting under 'block' or disk-low; default 16 MiB. */
  maxBlockedBytes?: number;
  /** Wall clock, ms since epoch (timestamps only); for tests. */
  clock?: () => number;
  /** Monotonic clock, ms (every duration: disk-check staleness); default performance.now; for tests. */
  monotonic?: () => number;
  /** Injectable for the watchdog test only; default uses fs.statfsSync (bavail * bsize). */
  statfs?: (dir: string) => { freeBytes: number };
  /** Default silent. */
  logger?: BufferLogger;
  /**
   * 'quarantine' (the daemon: never refuse to start) moves an unusable file aside and opens a
   * fresh one; 'throw' (the `buffer check` tool: report, touch nothing) raises SKY_ERR_BUFFER_CORRUPT.
   */
  onCorrupt?: 'quarantine' | 'throw';
  /**
   * The offline inspection tools (`skyhaul buffer check|stats|export`): the file must exist, it
   * is opened read-only (nothing written, not even `opened_at`; a checksum failure is reported by
   * read() skipping the row, not by deleting it), and nothing is ever quarantined. Write methods
   * throw SKY_ERR_USAGE.
   */
  readOnly?: boolean;
  /** Refuse a path where no buffer file exists (SKY_ERR_BUFFER_ACCESS) instead of creating one. */
  mustExist?: boolean;
  /**
   * Largest payload accepted, in bytes (default: unlimited): the daemon derives it from what the
   * forwarding transport can carry, so a record that could never leave is refused at ingest
   * (SKY_ERR_RECORD_TOO_LARGE) instead of wedging its stream.
   */
  maxRecordBytes?: number;
  /**
   * Most streams the buffer keeps state for (default 10,000): every map keyed by stream is bounded
   * by it. A record of a further stream is dropped, counted as 'stream_limit' under the stream
   * '*', and alarm `buffer_stream_limit` names the last stream refused.
   */
  maxStreams?: number;
  /**
   * ms since epoch below which the wall clock is known wrong (the build date; the buffer's own
   * creation time raises it). Records with an ingest time below it are never expired by TTL:
   * their age is unknown (contract, "Time"). Default 0 (no floor).
   */
  timeFloor?: number;
  /** How often the sequence mark (`<path>.sequences`) is rewritten while something changed; default 5000 ms. */
  markIntervalMs?: number;
}

/** What the forwarder needs per stream, without the cost of looking up the oldest record. */
export interface StreamCursor {
  stream: string;
  priority: PriorityClass;
  nextSequence: number;
  ackedSequence: number;
  records: number;
}

export interface Committed {
  stream: string;
  sequence: number;
  ingestTime: number;
}

export interface StreamState {
  stream: string;
  priority: PriorityClass;
  /** The sequence the next committed record of this stream gets (sequences start at 1). */
  nextSequence: number;
  /** Highest sequence acknowledged by the broker (0: none). */
  ackedSequence: number;
  records: number;
  bytes: number;
  /** Ingest time of the stream's first buffered record; null when empty. */
  oldestIngestTime: number | null;
}

export interface BufferAlarm {
  code: string;
  message: string;
  since: number;
  /** 'critical' (data at risk: quarantine, disk low, checksum) or 'warning' (worth knowing: identity renewed, quota blocking). */
  severity: 'warning' | 'critical';
  details?: Record<string, unknown>;
}

export interface ClassStats {
  records: number;
  bytes: number;
  oldestIngestTime: number | null;
}

export interface BufferStats {
  records: number;
  bytes: number;
  quotaBytes: number;
  /** False while the disk watchdog has stopped intake (appends wait, bounded). */
  accepting: boolean;
  diskFreeBytes: number | null;
  byPriority: Record<PriorityClass, ClassStats>;
  /** Records waiting for space ('block' policy) or for disk (watchdog); not yet committed. */
  blocked: { records: number; bytes: number };
}

export interface DropCount {
  stream: string;
  reason: DropReason;
  count: number;
}

export interface IntegrityReport {
  ok: boolean;
  problems: string[];
  records: number;
}

/** Second argument of the 'committed' event. */
export interface CommitInfo {
  records: number;
  /** The group commit's transaction, fsync included. */
  durationMs: number;
  /** Per record, from append to durable: what the source waits before its acknowledgement. */
  latenciesMs: Float64Array;
}

export const DEFAULT_POLICIES: Readonly<Record<PriorityClass, QuotaPolicy>> = {
  alarm: 'block',
  control: 'block',
  telemetry: 'drop-oldest',
  bulk: 'drop-oldest',
};

export const DEFAULT_GROUP_COMMIT = { maxRecords: 1000, maxDelayMs: 5 } as const;
export const DEFAULT_QUOTA_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_BLOCKED_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_STREAMS = 10_000;
/** The stream name under which 'stream_limit' drops are counted. */
export const OVER_LIMIT_STREAM = '*';
export const DEFAULT_DISK: Readonly<DiskWatchdogOptions> = {
  minFreeBytes: 64 * 1024 * 1024,
  resumeFreeBytes: 128 * 1024 * 1024,
  checkIntervalMs: 5000,
};

export function isPriorityClass(value: unknown): value is PriorityClass {
  return typeof value === 'string' && (PRIORITY_ORDER as readonly string[]).includes(value);
}

export function isQuotaPolicy(value: unknown): value is QuotaPolicy {
  return value === 'block' || value === 'drop-oldest' || value === 'drop-newest';
}

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
