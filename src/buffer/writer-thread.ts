/**
 * The buffer's SQLite connection on a `worker_threads` worker (contract in `./index.ts`, "Writing:
 * group commit"; interface in `./connection.ts`).
 *
 * Why a thread: a group commit's inserts and its COMMIT (B-tree work, WAL writes, the automatic
 * checkpoint) cost about half of the main thread's time per record at the large profile, and
 * nothing was received or decoded meanwhile. Here the main thread hands a commit to the thread as
 * one message — the inserts column-wise in transferred buffers, payloads copied once into one
 * ArrayBuffer — and goes on; the commit's appends settle when the thread answers (and, under
 * FULL/EXTRA, after the WAL fsync that follows, `./durability.ts`).
 *
 * Everything else (reads, acks, TTL, maintenance) is a synchronous call: the main thread posts the
 * request and blocks in `Atomics.wait` until the thread answers (`receiveMessageOnPort`), so the
 * buffer's API stays synchronous. At most one group commit is in flight; any other call first waits
 * for it (`settle`), so a failed commit can still be undone in memory before anything builds on it.
 *
 * The thread runs `writerThreadMain`, shipped as source text (`eval`): one way that works alike
 * under tsx, vitest and the bundle. It loads better-sqlite3 from the path the main thread resolved.
 * Our own code: Node has no synchronous RPC to a worker, and the packages that offer one (synckit)
 * spawn a thread per call site and serialise each call as its own message.
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type * as WorkerThreads from 'node:worker_threads';
import type { Connection, Stmt } from './connection.ts';

/** How long open() waits for the thread to open the file before giving up, ms. */
const START_TIMEOUT_MS = 30_000;
/** Numbers per insert in the column-wise batch: stream_id, sequence, ingest_time, source_time, size, crc. */
const INSERT_NUMBERS = 6;

interface InsertBatchMessage {
  stmt: number;
  n: number;
  /** INSERT_NUMBERS per record; source_time NaN for null. */
  num: Float64Array;
  str: Array<string | null>;
  /** Payloads back to back; record i is pay[off[i], off[i+1]). */
  pay: ArrayBuffer;
  off: Uint32Array;
}

type End = 'get' | 'all' | 'run' | 'pragma' | 'commit' | 'rollback' | 'close' | 'none';

interface Request {
  id: number;
  prepare?: Array<[number, string, boolean]>;
  begin?: true;
  ins?: InsertBatchMessage;
  ops?: Array<[number, unknown[]]>;
  end: End;
  stmt?: number;
  params?: unknown[];
  sql?: string;
  simple?: boolean;
}

interface SerializedError {
  message: string;
  name: string;
  code?: string;
}

type Reply = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: SerializedError };

/**
 * Where the thread gets better-sqlite3: its module path (node_modules), or, in a single
 * executable, which has no module path, the package's JavaScript as one CommonJS source text and
 * the native addon's file (`addon`, loaded with process.dlopen and passed as `nativeBinding`).
 */
export type ThreadSqlite = { module: string } | { source: string; addon: string };

let configured: (() => ThreadSqlite) | null = null;

/**
 * Tells the buffer where its writer thread loads better-sqlite3 from, for a host where
 * `require.resolve('better-sqlite3')` finds nothing: the single executable's entry
 * (packaging/sea/entry.ts) passes its embedded copy. Called once at start; `find` runs at the
 * first open of a writable buffer.
 */
export function configureWriterThread(find: () => ThreadSqlite): void {
  configured = find;
}

/** better-sqlite3 for the thread, or null where there is none (the connection stays local). */
export function writerThreadSqlite(): ThreadSqlite | null {
  if (configured !== null) return configured();
  try {
    return { module: createRequire(import.meta.url).resolve('better-sqlite3') };
  } catch {
    return null;
  }
}

/** Inserts of one transaction, column-wise, until they are sent. */
class InsertBatch {
  n = 0;
  private num = new Float64Array(INSERT_NUMBERS * 256);
  private str: Array<string | null> = [];
  private payloads: Uint8Array[] = [];
  private bytes = 0;

  add(params: unknown[]): void {
    const [streamId, sequence, ingestTime, sourceTime, size, crc, contentType, schemaRef, traceparent, payload] = params as [
      number,
      number,
      number,
      number | null,
      number,
      number,
      string,
      string | null,
      string,
      Uint8Array,
    ];
    if ((this.n + 1) * INSERT_NUMBERS > this.num.length) {
      const grown = new Float64Array(this.num.length * 2);
      grown.set(this.num);
      this.num = grown;
    }
    const k = this.n * INSERT_NUMBERS;
    this.num[k] = streamId;
    this.num[k + 1] = sequence;
    this.num[k + 2] = ingestTime;
    this.num[k + 3] = sourceTime ?? Number.NaN;
    this.num[k + 4] = size;
    this.num[k + 5] = crc;
    this.str.push(contentType, schemaRef, traceparent);
    this.payloads.push(payload);
    this.bytes += payload.length;
    this.n++;
  }

  /** The message and the buffers to transfer with it; empties the batch. */
  take(stmt: number): { ins: InsertBatchMessage; transfer: ArrayBuffer[] } {
    // A fresh ArrayBuffer (not Buffer's pool, which transferring would detach for everyone).
    const pay = new ArrayBuffer(this.bytes);
    const view = new Uint8Array(pay);
    const off = new Uint32Array(this.n + 1);
    let at = 0;
    this.payloads.forEach((p, i) => {
      off[i] = at;
      view.set(p, at);
      at += p.length;
    });
    off[this.n] = at;
    const num = this.num.slice(0, this.n * INSERT_NUMBERS);
    const ins: InsertBatchMessage = { stmt, n: this.n, num, str: this.str, pay, off };
    this.clear();
    return { ins, transfer: [pay, off.buffer as ArrayBuffer, num.buffer as ArrayBuffer] };
  }

  clear(): void {
    this.n = 0;
    this.str = [];
    this.payloads = [];
    this.bytes = 0;
  }
}

/** The main thread's side: implements Connection by messages to the writer thread. */
export class ThreadConnection implements Connection {
  readonly kind = 'thread';
  private readonly worker: Worker;
  private readonly port: MessagePort;
  /** [0]: replies posted so far (the thread bumps it and notifies after each); [1]: 1 once the thread exited. */
  private readonly signal: Int32Array;
  private nextId = 1;
  private readonly statementIds = new Map<string, number>();
  private toPrepare: Array<[number, string, boolean]> = [];
  private ops: Array<[number, unknown[]]> = [];
  private readonly inserts = new InsertBatch();
  private insertStmt = 0;
  private inTransaction = false;
  private beginPending = false;
  private inflight: { id: number; done: (err: Error | null) => void } | null = null;
  private readonly replies = new Map<number, Reply>();
  private exited: Error | null = null;

  /**
   * Starts the thread, which opens `path`, runs `pragmas` in order, then the `writes` ([sql,
   * parameters], each its own transaction: the first takes the file's exclusive lock), and
   * answers; returns once it has. Throws the thread's error (a SqliteError's code kept) when it
   * cannot open the file.
   */
  constructor(path: string, pragmas: string[], writes: Array<[string, unknown[]]>, sqlite: ThreadSqlite) {
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.signal = new Int32Array(new SharedArrayBuffer(8));
    this.worker = new Worker(threadSource(), {
      eval: true,
      // Plain JavaScript needs no loader: an inherited `--import tsx` starts hooks in the thread
      // that wait on this thread, which is blocked in Atomics.wait until the thread answers.
      execArgv: [],
      workerData: { path, pragmas, writes, sqlite, port: channel.port2, signal: this.signal.buffer },
      transferList: [channel.port2],
      // The thread's stdout/stderr are the process's; it logs nothing itself.
      stdout: false,
      stderr: false,
    });
    this.worker.on('exit', (code) => {
      this.exited ??= new Error(`the buffer's writer thread exited (code ${code})`);
    });
    this.worker.on('error', (err) => {
      this.exited = err;
    });
    this.port.on('message', (reply: Reply) => this.deliver(reply));
    const opened = this.wait((r) => r.has(0), START_TIMEOUT_MS);
    if (!opened) {
      void this.worker.terminate();
      throw new Error(`the buffer's writer thread did not open ${path} within ${START_TIMEOUT_MS} ms`);
    }
    const reply = this.replies.get(0) as Reply;
    this.replies.delete(0);
    if (!reply.ok) {
      void this.worker.terminate();
      throw rebuildError(reply.error);
    }
    this.idle();
  }

  get busy(): boolean {
    return this.inflight !== null;
  }

  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string, options: { pluck?: boolean } = {}): Stmt<P, R> {
    const pluck = options.pluck === true;
    const key = `${pluck ? 'p' : 'r'}${sql}`;
    let id = this.statementIds.get(key);
    if (id === undefined) {
      id = this.statementIds.size + 1;
      this.statementIds.set(key, id);
      this.toPrepare.push([id, sql, pluck]);
    }
    const stmtId = id;
    return {
      run: (...params: P) => {
        if (this.inTransaction) {
          this.ops.push([stmtId, params]);
          return undefined;
        }
        return this.call('run', { stmt: stmtId, params });
      },
      get: (...params: P) => this.call('get', { stmt: stmtId, params }) as R | undefined,
      all: (...params: P) => this.call('all', { stmt: stmtId, params }) as R[],
    };
  }

  /**
   * The records INSERT (`./statements.ts`), collected column-wise: inside a transaction its `run`
   * only adds to the batch that goes with the next message. Parameters as RecordStatements.insert.
   */
  insertStatement<P extends unknown[]>(sql: string): Stmt<P, never> {
    const generic = this.prepare<P, never>(sql);
    this.insertStmt = this.statementIds.get(`r${sql}`) as number;
    return {
      ...generic,
      run: (...params: P) => {
        if (!this.inTransaction) return generic.run(...params);
        this.inserts.add(params);
        return undefined;
      },
    };
  }

  transaction(body: () => void): void {
    this.runBody(body);
    this.call('commit', {});
  }

  transactionAsync(body: () => void, done: (err: Error | null) => void): void {
    this.runBody(body);
    const id = this.send('commit', {});
    this.inflight = { id, done };
    // A commit in flight keeps the process alive, as the appends waiting for it do.
    this.worker.ref();
    this.port.ref();
  }

  settle(): void {
    if (this.inflight === null) return;
    this.wait(() => this.inflight === null, Number.POSITIVE_INFINITY);
  }

  pragma(sql: string, options: { simple?: boolean } = {}): unknown {
    return this.call('pragma', { sql, simple: options.simple === true });
  }

  close(): void {
    if (this.exited !== null) return;
    this.settle();
    try {
      this.call('close', {});
    } finally {
      void this.worker.terminate();
      this.port.close();
    }
  }

  /** BEGIN (sent with the next message), then `body`; rolled back when it throws. COMMIT is the caller's. */
  private runBody(body: () => void): void {
    this.begin();
    try {
      body();
    } catch (err) {
      this.rollback();
      throw err;
    }
    this.inTransaction = false;
  }

  private begin(): void {
    // Settling first: the settled commit's listeners may run transactions of their own.
    this.settle();
    if (this.inTransaction) throw new Error('nested transaction on the buffer connection');
    this.inTransaction = true;
    this.beginPending = true;
  }

  private rollback(): void {
    this.inTransaction = false;
    this.ops = [];
    this.inserts.clear();
    if (this.beginPending) {
      // Nothing reached the thread yet.
      this.beginPending = false;
      return;
    }
    this.call('rollback', {});
  }

  /** A synchronous request: sends what is queued with it and blocks until the thread answers. */
  private call(end: End, fields: Partial<Request>): unknown {
    if (!this.inTransaction) this.settle();
    const id = this.send(end, fields);
    this.wait((r) => r.has(id), Number.POSITIVE_INFINITY);
    const reply = this.replies.get(id) as Reply;
    this.replies.delete(id);
    if (!reply.ok) {
      if (this.inTransaction) {
        // The thread rolled back: nothing of this transaction is left to send.
        this.ops = [];
        this.inserts.clear();
        this.beginPending = false;
        this.inTransaction = false;
      }
      throw rebuildError(reply.error);
    }
    return withBuffers(reply.result);
  }

  private send(end: End, fields: Partial<Request>): number {
    if (this.exited !== null) throw this.exited;
    const id = this.nextId++;
    const request: Request = { id, end, ...fields };
    const transfer: ArrayBuffer[] = [];
    if (this.toPrepare.length > 0) {
      request.prepare = this.toPrepare;
      this.toPrepare = [];
    }
    if (this.beginPending) {
      request.begin = true;
      this.beginPending = false;
    }
    if (this.inserts.n > 0) {
      const taken = this.inserts.take(this.insertStmt);
      request.ins = taken.ins;
      transfer.push(...taken.transfer);
    }
    if (this.ops.length > 0) {
      request.ops = this.ops;
      this.ops = [];
    }
    this.port.postMessage(request, transfer);
    return id;
  }

  /** Blocks until `until(replies)` holds, taking replies off the port meanwhile. False on timeout. */
  private wait(until: (replies: Map<number, Reply>) => boolean, timeoutMs: number): boolean {
    const deadline = Date.now() + timeoutMs;
    while (!until(this.replies)) {
      const seen = Atomics.load(this.signal, 0);
      const received = receiveMessageOnPort(this.port);
      if (received !== undefined) {
        this.deliver(received.message as Reply);
        continue;
      }
      // The 'exit' event cannot run while this thread blocks: the thread says so itself.
      if (Atomics.load(this.signal, 1) === 1) this.exited ??= new Error("the buffer's writer thread exited");
      if (this.exited !== null) throw this.exited;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(this.signal, 0, seen, Math.min(left, 1000));
    }
    return true;
  }

  private deliver(reply: Reply): void {
    const inflight = this.inflight;
    if (inflight === null || inflight.id !== reply.id) {
      this.replies.set(reply.id, reply);
      return;
    }
    this.inflight = null;
    this.idle();
    inflight.done(reply.ok ? null : rebuildError(reply.error));
  }

  /** Nothing in flight: the thread must not keep the process alive. */
  private idle(): void {
    this.worker.unref();
    this.port.unref();
  }
}

/**
 * The thread's program as source text. `__name`: tsx and vitest (esbuild's keepNames) wrap named
 * inner functions in it. A startup error (anything before the thread answers) is answered as the
 * reply to request 0, and the thread's exit sets signal[1], so a blocked main thread learns of
 * either.
 */
function threadSource(): string {
  return [
    'const __name = (target) => target;',
    "process.on('exit', () => {",
    "  const signal = new Int32Array(require('node:worker_threads').workerData.signal);",
    '  Atomics.store(signal, 1, 1);',
    '  Atomics.add(signal, 0, 1);',
    '  Atomics.notify(signal, 0);',
    '});',
    'try {',
    `  (${writerThreadMain.toString()})(require);`,
    '} catch (e) {',
    "  const { workerData } = require('node:worker_threads');",
    "  workerData.port.postMessage({ id: 0, ok: false, error: { message: String(e && e.stack || e), name: 'Error' } });",
    '  const signal = new Int32Array(workerData.signal);',
    '  Atomics.add(signal, 0, 1);',
    '  Atomics.notify(signal, 0);',
    '}',
  ].join('\n');
}

function rebuildError(e: SerializedError): Error {
  const err = new Error(e.message) as Error & { code?: string };
  err.name = e.name;
  if (e.code !== undefined) err.code = e.code;
  return err;
}

/** Structured clone turns Buffers into plain Uint8Arrays: rows get Buffers back (payloads). */
function withBuffers(result: unknown): unknown {
  if (!Array.isArray(result)) return result !== null && typeof result === 'object' ? rowWithBuffers(result as Record<string, unknown>) : result;
  for (let i = 0; i < result.length; i++) {
    const row: unknown = result[i];
    if (row !== null && typeof row === 'object') rowWithBuffers(row as Record<string, unknown>);
  }
  return result;
}

function rowWithBuffers(row: Record<string, unknown>): Record<string, unknown> {
  if (row instanceof Uint8Array) return Buffer.from(row.buffer, row.byteOffset, row.byteLength) as unknown as Record<string, unknown>;
  for (const key in row) {
    const v = row[key];
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[key] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  return row;
}

/**
 * The thread's program. Runs from its source text, so it must not refer to anything outside
 * itself: `require` is the thread's own. Opens the file, answers request 0, then executes requests
 * in the order they come: prepares, BEGIN, the column-wise inserts, queued writes, then `end`.
 */
function writerThreadMain(require: NodeJS.Require): void {
  const { workerData } = require('node:worker_threads') as typeof WorkerThreads;
  const data = workerData as { path: string; pragmas: string[]; writes: Array<[string, unknown[]]>; sqlite: ThreadSqlite; port: MessagePort; signal: SharedArrayBuffer };
  const port = data.port;
  const signal = new Int32Array(data.signal);
  const errorOf = (e: unknown): SerializedError => {
    const err = e as { message?: unknown; name?: unknown; code?: unknown };
    return {
      message: typeof err?.message === 'string' ? err.message : String(e),
      name: typeof err?.name === 'string' ? err.name : 'Error',
      ...(typeof err?.code === 'string' ? { code: err.code } : {}),
    };
  };
  const reply = (r: Reply): void => {
    port.postMessage(r);
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
  };
  type Statement = Database.Statement<unknown[], unknown>;
  let db: Database.Database;
  try {
    const sqlite = data.sqlite;
    if ('module' in sqlite) {
      const SqliteDatabase = require(sqlite.module) as typeof Database;
      db = new SqliteDatabase(data.path, { timeout: 250 });
    } else {
      const loaded = { exports: {} as unknown };
      // better-sqlite3's own code, embedded in the executable as text (packaging/sea/build.ts).
      new Function('module', 'exports', 'require', sqlite.source)(loaded, loaded.exports, require);
      const binding = { exports: {} };
      process.dlopen(binding, sqlite.addon);
      const SqliteDatabase = loaded.exports as typeof Database;
      db = new SqliteDatabase(data.path, { timeout: 250, nativeBinding: binding.exports as string });
    }
    for (const p of data.pragmas) db.pragma(p);
    for (const [sql, params] of data.writes) db.prepare(sql).run(...params);
  } catch (e) {
    reply({ id: 0, ok: false, error: errorOf(e) });
    return;
  }
  const begin = db.prepare('BEGIN');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const statements = new Map<number, Statement>();
  const statement = (id: number | undefined): Statement => {
    const s = statements.get(id as number);
    if (s === undefined) throw new Error(`writer thread: no statement ${String(id)}`);
    return s;
  };
  const insertAll = (ins: InsertBatchMessage): void => {
    const insert = statement(ins.stmt);
    const payloads = Buffer.from(ins.pay);
    const { num, str, off } = ins;
    for (let i = 0; i < ins.n; i++) {
      const k = i * 6;
      const s = i * 3;
      const sourceTime = num[k + 3] as number;
      insert.run(
        num[k],
        num[k + 1],
        num[k + 2],
        Number.isNaN(sourceTime) ? null : sourceTime,
        num[k + 4],
        num[k + 5],
        str[s],
        str[s + 1],
        str[s + 2],
        payloads.subarray(off[i], off[i + 1]),
      );
    }
  };
  port.on('message', (m: Request) => {
    let result: unknown;
    try {
      if (m.prepare !== undefined) {
        for (const [id, sql, pluck] of m.prepare) {
          const s = db.prepare(sql);
          if (pluck) s.pluck();
          statements.set(id, s);
        }
      }
      if (m.begin === true) begin.run();
      if (m.ins !== undefined) insertAll(m.ins);
      if (m.ops !== undefined) for (const [id, params] of m.ops) statement(id).run(...params);
      switch (m.end) {
        case 'get':
          result = statement(m.stmt).get(...(m.params as unknown[]));
          break;
        case 'all':
          result = statement(m.stmt).all(...(m.params as unknown[]));
          break;
        case 'run':
          statement(m.stmt).run(...(m.params as unknown[]));
          break;
        case 'pragma':
          result = db.pragma(m.sql as string, { simple: m.simple === true });
          break;
        case 'commit':
          commit.run();
          break;
        case 'rollback':
          if (db.inTransaction) rollback.run();
          break;
        case 'close':
          db.close();
          break;
        default:
          break;
      }
    } catch (e) {
      if (db.open && db.inTransaction) {
        try {
          rollback.run();
        } catch {
          // SQLite may have rolled back already (SQLITE_FULL, SQLITE_IOERR).
        }
      }
      reply({ id: m.id, ok: false, error: errorOf(e) });
      return;
    }
    reply({ id: m.id, ok: true, result });
    if (m.end === 'close') port.close();
  });
  reply({ id: 0, ok: true });
}
