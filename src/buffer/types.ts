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
  | 'backpressure_overflow';

export const DROP_REASONS: readonly DropReason[] = [
  'quota_drop_oldest',
  'quota_drop_newest',
  'ttl',
  'disk_low',
  'checksum',
  'backpressure_overflow',
];

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
  /** ms since epoch; for tests. */
  clock?: () => number;
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
