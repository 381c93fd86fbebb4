/**
 * On-disk layout of the buffer, opening with cheap validation, and quarantine. The layout is
 * described in the contract at the top of `./index.ts`; keep the two in step.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { DropReason, PriorityClass, SynchronousMode } from './types.ts';
import { DROP_REASONS, isPriorityClass } from './types.ts';
import { migrate } from './migrations/index.ts';
import { PRODUCER_EPOCHS_DDL } from './migrations/002-producer-epochs.ts';
import { RECORDS_DDL } from './migrations/003-append-log.ts';

export const SCHEMA_VERSION = 4;

/** Page size of new buffer files (existing files keep theirs). */
export const PAGE_SIZE = 2048;

/** Sequences are JavaScript numbers: exact up to 2^53 - 1. */
export const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

export const DDL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE streams (
  id             INTEGER PRIMARY KEY,
  name           TEXT NOT NULL UNIQUE,
  priority       TEXT NOT NULL,
  next_sequence  INTEGER NOT NULL,
  acked_sequence INTEGER NOT NULL,
  records        INTEGER NOT NULL,
  bytes          INTEGER NOT NULL,
  last_ingest_time INTEGER
);

CREATE TABLE drops (
  stream TEXT NOT NULL,
  reason TEXT NOT NULL,
  count  INTEGER NOT NULL,
  PRIMARY KEY (stream, reason)
) WITHOUT ROWID;
${PRODUCER_EPOCHS_DDL}
${RECORDS_DDL}`;

/**
 * Why a file that SQLite opened is still not a buffer this build may use. None of these means
 * "corrupt": a foreign database, a newer schema (a package downgrade) or cursors that contradict
 * rows while SQLite's own check passes are refused with the file untouched, never quarantined
 * (contract, "Crash recovery and start-up").
 */
export type BufferSchemaProblem = 'foreign' | 'version' | 'inconsistent';

export class BufferSchemaError extends Error {
  override readonly name = 'BufferSchemaError';

  constructor(
    readonly problem: BufferSchemaProblem,
    message: string,
  ) {
    super(message);
  }
}

/**
 * SQLite's own verdict on a file whose cursors contradict its rows: `PRAGMA quick_check` found
 * damage, so the file is corrupt in SQLite's sense and may be quarantined.
 */
export class BufferCorruptError extends Error {
  override readonly name = 'BufferCorruptError';
  readonly code = 'SQLITE_CORRUPT';
}

/** How the file is opened: the daemon reads and writes; the offline tools only read an existing file. */
export interface OpenAccess {
  /** Open read-only; never create, never write (not even `opened_at`). Implies mustExist. */
  readOnly?: boolean;
  /** Refuse a path where no file exists instead of creating a new buffer there. */
  mustExist?: boolean;
  /**
   * Leave the `opened_at` write to the caller (`openedAtWrite`): the writer thread's connection
   * makes it, so this connection closes with nothing in the WAL to checkpoint (a checkpoint's
   * fsync of a freshly written file took 280 ms of a 5M-record open).
   */
  deferOpenedAt?: boolean;
}

/** The write every writable open makes once the file passed its checks: [sql, parameters]. */
export function openedAtWrite(now: number): [string, unknown[]] {
  return [`INSERT INTO meta (key, value) VALUES ('opened_at', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, [new Date(now).toISOString()]];
}

export interface StreamRowData {
  id: number;
  name: string;
  priority: PriorityClass;
  nextSequence: number;
  ackedSequence: number;
  records: number;
  bytes: number;
  oldestIngestTime: number | null;
  /** Newest ingest time the stream ever committed (null: none known). */
  lastIngestTime: number | null;
  /** The file's row lagged its inserts (counted in from the records past its next_sequence). */
  rowLags: boolean;
}

/** A retired producer identity's share of a stream: its records up to `upTo`. */
export interface ProducerEpoch {
  stream: string;
  upTo: number;
  producerId: string;
}

export interface OpenedDatabase {
  db: Database.Database;
  producerId: string;
  created: boolean;
  /** `meta.created_at` (ms since epoch), when the file says. */
  createdAt: number | null;
  /** Migrations that ran on this open, e.g. ['1->2 producer-epochs']. */
  migrated: string[];
  streams: StreamRowData[];
  drops: Array<{ stream: string; reason: DropReason; count: number }>;
  epochs: ProducerEpoch[];
}

/**
 * The writer connection's per-connection settings after the file is in WAL mode, in order: set by
 * openDatabase, and again by the writer thread's own connection (`./writer-thread.ts`).
 * `pageSize`: the file's page size, bytes.
 */
export function sessionPragmas(synchronous: SynchronousMode, pageSize: number): string[] {
  return [
    // One writer per file: the in-memory sequence cursors are only right if nobody else writes.
    // In WAL mode this also keeps the WAL index in heap memory (no -shm file).
    'locking_mode = EXCLUSIVE',
    'journal_mode = WAL',
    `synchronous = ${synchronous}`,
    // 4 MiB: holds the index leaves a commit over 1,245 streams touches (about 2.5 MB at 2 KiB
    // pages). 16 MiB cost about 15 MB of resident memory while draining a 5M backlog, with no
    // gain in the bench's large profile (0.938 at 16 MiB, 0.951 at 4 MiB, medians of 3).
    'cache_size = -4096',
    'journal_size_limit = 67108864', // truncate the WAL to 64 MiB after checkpoints
    // Checkpoint at about 8 MiB of WAL rather than SQLite's 1000 pages: a stream's last index page
    // is rewritten by every commit that touches it, and a checkpoint copies it back once however often.
    `wal_autocheckpoint = ${Math.ceil((8 << 20) / pageSize)}`,
    'foreign_keys = OFF',
  ];
}

export function newProducerId(): string {
  return `edge-${randomBytes(8).toString('hex')}`;
}

const PRODUCER_ID = /^edge-[0-9a-f]{16}$/;

/**
 * Opens (creating if absent), migrates an older file, and validates cheaply: header, schema, meta,
 * the streams and drops tables, and per stream its first and last record through the index.
 * O(streams), never a scan of records. Throws SqliteError or BufferSchemaError; the caller
 * decides on quarantine.
 */
export function openDatabase(path: string, synchronous: SynchronousMode, now: number, access: OpenAccess = {}): OpenedDatabase {
  const readOnly = access.readOnly === true;
  const db = new Database(path, { timeout: 250, readonly: readOnly, fileMustExist: readOnly || access.mustExist === true });
  try {
    if (readOnly) {
      // Normal locking: in EXCLUSIVE mode a read-only descriptor cannot take the lock WAL needs
      // (SQLITE_IOERR_LOCK). SQLite then creates -shm (and an empty -wal) for its WAL index;
      // `removeReadOnlySidecars` takes away those it created once the connection is closed.
      const tables = db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all();
      const meta = readMeta(db, tables);
      let reader = db;
      const migrated: string[] = [];
      if (meta.version < SCHEMA_VERSION) {
        // An older file is read through a migrated copy in memory (the file is never written):
        // the tools then read one layout only. Costs memory of the file's size.
        const image = db.serialize();
        db.close();
        // Header bytes 18-19 say WAL (2); an in-memory database cannot use a WAL: mark it rollback (1).
        image[18] = 1;
        image[19] = 1;
        reader = new Database(image);
        migrated.push(...migrateChecked(reader, meta.version));
      }
      return {
        db: reader,
        producerId: meta.producerId,
        created: false,
        createdAt: meta.createdAt,
        migrated,
        streams: migrated.length > 0 ? loadStreams(reader) : loadStreamsChecked(reader),
        drops: loadDrops(reader),
        epochs: loadEpochs(reader),
      };
    }
    // Only takes effect on a new, empty file (before anything is written to it). A commit that
    // touches many streams dirties one index leaf per stream (the log itself grows at one edge):
    // smaller pages keep that write small.
    db.pragma(`page_size = ${PAGE_SIZE}`);
    // One writer per file: the in-memory sequence cursors are only right if nobody else writes.
    // In WAL mode this also keeps the WAL index in heap memory (no -shm file).
    db.pragma('locking_mode = EXCLUSIVE');
    const tables = db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all();
    const created = tables.length === 0;
    // Before any pragma that writes (journal_mode changes the file header): a file that is not
    // ours, or is newer, must be left exactly as it was.
    const meta = created ? { producerId: newProducerId(), version: SCHEMA_VERSION, createdAt: now } : readMeta(db, tables);
    const producerId = meta.producerId;
    if (created) db.pragma('auto_vacuum = INCREMENTAL'); // must precede the first CREATE TABLE
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new BufferSchemaError('inconsistent', `cannot enter WAL mode (journal_mode is '${String(mode)}')`);
    for (const p of sessionPragmas(synchronous, Number(db.pragma('page_size', { simple: true })))) db.pragma(p);
    if (created) {
      db.transaction(() => {
        db.exec(DDL);
        const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('schema_version', String(SCHEMA_VERSION));
        put.run('producer_id', producerId);
        put.run('created_at', new Date(now).toISOString());
      })();
    }
    // An older file is migrated and checked in one transaction: a file that fails the check
    // after migrating is rolled back, so a refused file stays as it was.
    const migrated = created || meta.version === SCHEMA_VERSION ? [] : migrateChecked(db, meta.version);
    const streams = created ? [] : loadStreamsChecked(db);
    const drops = created ? [] : loadDrops(db);
    const epochs = loadEpochs(db);
    // A write on every open, once the file has passed its checks (a refused file stays byte for
    // byte as it was): takes the exclusive lock now rather than at the first append.
    if (access.deferOpenedAt !== true) {
      const [sql, params] = openedAtWrite(now);
      db.prepare(sql).run(...params);
    }
    return { db, producerId, created, createdAt: meta.createdAt, migrated, streams, drops, epochs };
  } catch (err) {
    try {
      db.close();
    } catch {
      // closing a broken handle may fail too; the original error is what matters
    }
    throw err;
  }
}

/** Validates meta: ours, a version this build reads (older ones are migrated after), a well-formed producer id. */
function readMeta(db: Database.Database, tables: string[]): { producerId: string; version: number; createdAt: number | null } {
  for (const t of ['meta', 'streams', 'drops']) {
    if (!tables.includes(t)) throw new BufferSchemaError('foreign', `not a Skyhaul buffer: table '${t}' is missing`);
  }
  const meta = new Map(db.prepare<[], { key: string; value: string }>('SELECT key, value FROM meta').all().map((r) => [r.key, r.value]));
  const version = meta.get('schema_version');
  const number = version !== undefined && /^[1-9]\d{0,5}$/.test(version) ? Number(version) : null;
  if (number === null) throw new BufferSchemaError('foreign', `unsupported buffer schema version '${version ?? '(none)'}' (this build reads 1 to ${SCHEMA_VERSION})`);
  if (number > SCHEMA_VERSION) {
    throw new BufferSchemaError(
      'version',
      `buffer schema version ${number} was written by a newer Skyhaul; this build reads version ${SCHEMA_VERSION} (after a package downgrade, reinstall the newer version: its backlog is intact)`,
    );
  }
  const id = meta.get('producer_id');
  if (id === undefined || !PRODUCER_ID.test(id)) throw new BufferSchemaError('inconsistent', `bad producer_id in meta: '${id ?? '(none)'}'`);
  const created = Date.parse(meta.get('created_at') ?? '');
  return { producerId: id, version: number, createdAt: Number.isFinite(created) ? created : null };
}

function loadEpochs(db: Database.Database): ProducerEpoch[] {
  return db
    .prepare<[], { stream: unknown; up_to: unknown; producer_id: unknown }>('SELECT stream, up_to, producer_id FROM producer_epochs ORDER BY stream, up_to')
    .all()
    .map((r) => {
      if (typeof r.stream !== 'string' || !isCount(r.up_to) || typeof r.producer_id !== 'string' || !PRODUCER_ID.test(r.producer_id)) {
        throw new BufferSchemaError('inconsistent', `malformed producer_epochs row ${JSON.stringify(r)}`);
      }
      return { stream: r.stream, upTo: r.up_to, producerId: r.producer_id };
    });
}

/**
 * Runs the migrations from `version` and then the start-up checks of the new layout, all in one
 * transaction: either the file is at the current version and consistent, or nothing changed.
 * Returns the steps that ran, e.g. ['2->3 append-log'].
 */
function migrateChecked(db: Database.Database, version: number): string[] {
  let ran: string[] = [];
  db.transaction(() => {
    ran = migrate(db, version).map((m) => `${m.from}->${m.to} ${m.name}`);
    loadStreamsChecked(db);
  })();
  return ran;
}

/**
 * loadStreams, and when our own cross-checks fail, SQLite's `quick_check` decides: damage it
 * finds makes the file corrupt (quarantinable); without any, the file is refused as inconsistent.
 */
function loadStreamsChecked(db: Database.Database): StreamRowData[] {
  try {
    return loadStreams(db);
  } catch (err) {
    if (!(err instanceof BufferSchemaError)) throw err;
    const verdict = db.prepare<[], string>('PRAGMA quick_check').pluck().all();
    if (verdict.length === 1 && verdict[0] === 'ok') throw err;
    throw new BufferCorruptError(`${err.message}; SQLite quick_check: ${verdict.slice(0, 5).join('; ')}`);
  }
}

interface RawStream {
  last_ingest_time: unknown;
  id: unknown;
  name: unknown;
  priority: unknown;
  next_sequence: unknown;
  acked_sequence: unknown;
  records: unknown;
  bytes: unknown;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The streams rows, each checked against its first and last record through the
 * (stream_id, sequence) index, and the log checked for rows of unknown streams by its smallest
 * and largest stream id plus a probe of every id the streams table skips: O(streams · log n).
 * A row that lags its inserts (contract, "Stream rows") is brought up to date from the records
 * past its next_sequence, which must then run on from it without a gap: O(what lags), at most
 * about a second of a stream's appends.
 */
function loadStreams(db: Database.Database): StreamRowData[] {
  const rows = db
    .prepare<[], RawStream>(`SELECT id, name, priority, next_sequence, acked_sequence, records, bytes, last_ingest_time FROM streams ORDER BY id`)
    .all();
  const firstOf = db.prepare<[number], { sequence: number; ingest_time: number }>(
    'SELECT sequence, ingest_time FROM records WHERE stream_id = ? ORDER BY sequence ASC LIMIT 1',
  );
  const lastOf = db.prepare<[number], { sequence: number; ingest_time: number }>(
    'SELECT sequence, ingest_time FROM records WHERE stream_id = ? ORDER BY sequence DESC LIMIT 1',
  );
  const tailOf = db.prepare<[number, number], { n: number; bytes: number; first: number; last: number }>(
    'SELECT count(*) AS n, total(size) AS bytes, min(sequence) AS first, max(sequence) AS last FROM records WHERE stream_id = ? AND sequence >= ?',
  );
  const out: StreamRowData[] = [];
  const ids = new Set<number>();
  for (const r of rows) {
    const { id, name, priority, next_sequence: rowNext, acked_sequence: acked, records: rowRecords, bytes: rowBytes, last_ingest_time: lastIngest } = r;
    if (!isCount(id) || id < 1 || typeof name !== 'string' || !isPriorityClass(priority)) {
      throw new BufferSchemaError('inconsistent', `malformed streams row ${JSON.stringify(r)}`);
    }
    if (!isCount(rowNext) || rowNext < 1 || !isCount(acked) || acked >= rowNext || !isCount(rowRecords) || !isCount(rowBytes)) {
      throw new BufferSchemaError('inconsistent', `malformed cursors for stream '${name}': ${JSON.stringify(r)}`);
    }
    let next = rowNext;
    let records = rowRecords;
    let bytes = rowBytes;
    let rowLags = false;
    ids.add(id);
    const first = firstOf.get(id);
    const last = lastOf.get(id);
    if (last !== undefined && last.sequence >= next) {
      // Inserts the row does not count yet: contiguous from its next_sequence, since anything
      // but an insert rewrites the row in its own transaction.
      const tail = tailOf.get(id, next) as { n: number; bytes: number; first: number; last: number };
      if (tail.first !== next || tail.n !== tail.last - next + 1) {
        throw new BufferSchemaError('inconsistent', `stream '${name}' has records ${tail.first}..${tail.last} (${tail.n}) past its cursor ${next} that do not run on from it`);
      }
      records += tail.n;
      bytes += tail.bytes;
      next = tail.last + 1;
      rowLags = true;
      if (first !== undefined && records > last.sequence - first.sequence + 1) {
        throw new BufferSchemaError('inconsistent', `stream '${name}' counts ${records} records, more than its rows ${first.sequence}..${last.sequence} can hold`);
      }
    }
    if ((records === 0) !== (first === undefined)) {
      throw new BufferSchemaError('inconsistent', `stream '${name}' counts ${records} records but its first row is ${first === undefined ? 'absent' : 'present'}`);
    }
    if (first !== undefined && (first.sequence <= acked || last === undefined || last.sequence >= next)) {
      throw new BufferSchemaError(
        'inconsistent',
        `stream '${name}' rows ${first.sequence}..${String(last?.sequence)} lie outside its cursors (acked ${acked}, next ${next})`,
      );
    }
    out.push({
      id,
      name,
      priority,
      nextSequence: next,
      ackedSequence: acked,
      records,
      bytes,
      oldestIngestTime: first === undefined ? null : first.ingest_time,
      lastIngestTime: newest(typeof lastIngest === 'number' ? lastIngest : null, last?.ingest_time ?? null),
      rowLags,
    });
  }
  // Rows of a stream the streams table does not know would be invisible forever.
  const lo = db.prepare<[], number | null>('SELECT min(stream_id) FROM records').pluck().get() ?? null;
  const hi = db.prepare<[], number | null>('SELECT max(stream_id) FROM records').pluck().get() ?? null;
  if (lo !== null && hi !== null) {
    const probe = db.prepare<[number], number>('SELECT 1 FROM records WHERE stream_id = ? LIMIT 1').pluck();
    for (const id of [lo, hi]) if (!ids.has(id)) throw new BufferSchemaError('inconsistent', `records of stream id ${id} belong to no stream`);
    // Stream ids are dense (rows are never deleted); a skipped id is probed, never a range scan.
    for (let id = lo + 1; id < hi && ids.size < hi - lo + 1; id++) {
      if (!ids.has(id) && probe.get(id) !== undefined) throw new BufferSchemaError('inconsistent', `records of stream id ${id} belong to no stream`);
    }
  }
  return out;
}

function newest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

function loadDrops(db: Database.Database): Array<{ stream: string; reason: DropReason; count: number }> {
  const rows = db.prepare<[], { stream: unknown; reason: unknown; count: unknown }>('SELECT stream, reason, count FROM drops').all();
  return rows.map((r) => {
    if (typeof r.stream !== 'string' || !(DROP_REASONS as readonly unknown[]).includes(r.reason) || !isCount(r.count)) {
      throw new BufferSchemaError('inconsistent', `malformed drops row ${JSON.stringify(r)}`);
    }
    return { stream: r.stream, reason: r.reason as DropReason, count: r.count };
  });
}

/**
 * Only what SQLite itself reports as a damaged file justifies moving it aside: SQLITE_CORRUPT*
 * (including quick_check's verdict, BufferCorruptError) and SQLITE_NOTADB. Everything else —
 * another process owning the file (SQLITE_BUSY), permissions (SQLITE_CANTOPEN, SQLITE_READONLY,
 * SQLITE_PERM), I/O errors of a failing disk, a foreign or newer database — is not the file's
 * fault: moving it would hide a healthy backlog under a new producer id.
 */
export function isQuarantinable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB';
}

const SIDECARS = ['-wal', '-shm'] as const;
const PRESERVED = '.skyhaul-preopen';

/**
 * Hard-links `<path>-wal` and `<path>-shm` before SQLite opens the file. SQLite deletes the WAL
 * when it closes a connection, also one that failed on a corrupt file; the links keep that
 * evidence for the quarantine. Costs no copy. Best effort on filesystems without hard links.
 */
export function preserveSidecars(path: string): void {
  for (const suffix of SIDECARS) {
    const link = path + suffix + PRESERVED;
    fs.rmSync(link, { force: true }); // stale from a crash during a previous open
    if (!fs.existsSync(path + suffix)) continue;
    try {
      fs.linkSync(path + suffix, link);
    } catch {
      // no hard links here: the sidecar is quarantined only if SQLite left it in place
    }
  }
}

/** The sidecars that exist now, so a read-only opener can later remove only what it created. */
export function existingSidecars(path: string): string[] {
  return SIDECARS.map((suffix) => path + suffix).filter((file) => fs.existsSync(file));
}

/**
 * After a read-only connection closed: removes the -shm and the empty -wal that SQLite created
 * for it (they did not exist before). A non-empty -wal is never removed: it holds commits.
 */
export function removeReadOnlySidecars(path: string, existedBefore: string[]): void {
  const wal = `${path}-wal`;
  if (existedBefore.includes(wal) || (fs.existsSync(wal) && fs.statSync(wal).size > 0)) return;
  for (const file of [wal, `${path}-shm`]) if (!existedBefore.includes(file)) fs.rmSync(file, { force: true });
}

export function releaseSidecars(path: string): void {
  for (const suffix of SIDECARS) fs.rmSync(path + suffix + PRESERVED, { force: true });
}

/**
 * Moves `<path>`, `<path>-wal` and `<path>-shm` (those that exist, or were preserved by
 * preserveSidecars) to `<path>.quarantined-<ISO time>[-wal|-shm]`, so the moved set can still be
 * opened with sqlite3. Returns the new path of the main file.
 */
export function quarantineFiles(path: string, now: number): string {
  const target = `${path}.quarantined-${new Date(now).toISOString()}`;
  if (fs.existsSync(path)) fs.renameSync(path, target);
  for (const suffix of SIDECARS) {
    const preserved = path + suffix + PRESERVED;
    if (fs.existsSync(path + suffix)) fs.renameSync(path + suffix, target + suffix);
    else if (fs.existsSync(preserved)) fs.renameSync(preserved, target + suffix);
  }
  releaseSidecars(path);
  return target;
}
