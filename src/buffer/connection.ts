/**
 * The buffer's one SQLite connection, behind an interface with two implementations (contract in
 * `./index.ts`, "Writing: group commit"):
 *
 * - `LocalConnection`: better-sqlite3 on the calling thread. Read-only tools use it, and so does a
 *   single executable, which has no module path from which a worker thread could load SQLite.
 * - `ThreadConnection` (`./writer-thread.ts`): the connection lives in a `worker_threads` worker;
 *   a group commit's inserts and COMMIT run there while the event loop goes on receiving and
 *   decoding. Everything else is a synchronous call to that thread.
 *
 * The buffer's logic (sequences, quota, stream rows) stays on the main thread either way; only the
 * execution of statements moves.
 */
import type Database from 'better-sqlite3';

/** A prepared statement: better-sqlite3's `run`/`get`/`all` (parameters positional). */
export interface Stmt<P extends unknown[] = unknown[], R = unknown> {
  /** Runs a write. On a ThreadConnection inside a transaction it is queued, not yet executed. */
  run(...params: P): unknown;
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

export interface Connection {
  /** 'thread' when statements run on the writer thread. */
  readonly kind: 'local' | 'thread';
  /** A group commit sent to the writer thread has not completed yet (always false locally). */
  readonly busy: boolean;
  /** `pluck`: `get`/`all` return the first column's value instead of a row object. */
  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string, options?: { pluck?: boolean }): Stmt<P, R>;
  /**
   * The records INSERT of `./statements.ts`: on the writer thread, its `run` inside a transaction
   * adds to a column-wise batch sent with the next message (`./writer-thread.ts`).
   */
  insertStatement<P extends unknown[]>(sql: string): Stmt<P, never>;
  /** Runs `body` in a transaction and commits it before returning. Rolls back and rethrows when `body` or COMMIT throws. */
  transaction(body: () => void): void;
  /**
   * Runs `body` in a transaction now and commits it; `done` runs once COMMIT returned (`null`) or
   * failed (the transaction is rolled back). Locally `done` runs before this returns; on the writer
   * thread it runs later, and until then `busy` is true and every other call first waits for it.
   * Throws (after rolling back) when `body` throws; `done` is then never called.
   */
  transactionAsync(body: () => void, done: (err: Error | null) => void): void;
  /** Waits for a group commit in flight and runs its `done` (no-op locally or when idle). */
  settle(): void;
  /** `PRAGMA <sql>`: rows (better-sqlite3's `pragma`), or the first column of the first row with `simple`. */
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  /** Closes the connection (the writer thread exits). Throws when SQLite's close fails. */
  close(): void;
}

/** better-sqlite3 on the calling thread. */
export class LocalConnection implements Connection {
  readonly kind = 'local';
  readonly busy = false;
  private readonly tx: (body: () => void) => void;

  constructor(readonly db: Database.Database) {
    this.tx = db.transaction((body: () => void) => body());
  }

  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string, options: { pluck?: boolean } = {}): Stmt<P, R> {
    const stmt = this.db.prepare<P, R>(sql);
    if (options.pluck === true) stmt.pluck();
    return stmt as unknown as Stmt<P, R>;
  }

  insertStatement<P extends unknown[]>(sql: string): Stmt<P, never> {
    return this.prepare<P, never>(sql);
  }

  transaction(body: () => void): void {
    this.tx(body);
  }

  transactionAsync(body: () => void, done: (err: Error | null) => void): void {
    this.tx(body);
    done(null);
  }

  settle(): void {}

  pragma(sql: string, options: { simple?: boolean } = {}): unknown {
    return this.db.pragma(sql, { simple: options.simple === true });
  }

  close(): void {
    this.db.close();
  }
}
