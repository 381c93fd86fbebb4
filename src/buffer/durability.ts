/**
 * The group commit's fsync, off the event loop (contract, "Writing: group commit").
 *
 * Under `synchronous` FULL/EXTRA the buffer runs SQLite at NORMAL — COMMIT writes the WAL frames
 * into the page cache and returns without an fsync — and makes each commit durable here with
 * `fdatasync(2)` of the WAL file on libuv's thread pool. The event loop keeps receiving, decoding
 * and preparing the next commit while the disk syncs; appends resolve only after the sync that
 * covers their commit completed, so "resolved" still means "on disk" exactly as under FULL.
 *
 * Why this is as durable as FULL: a WAL commit is durable once its frames, up to and including the
 * commit frame, are on stable storage. fdatasync of the WAL file after COMMIT returned puts them
 * there (every frame written before the call, whichever descriptor wrote it). Under NORMAL SQLite
 * itself syncs the WAL before a checkpoint copies frames into the database file and syncs that
 * file after, so a frame is never lost by being checkpointed first; the WAL is only reset after a
 * complete checkpoint. A power cut can lose only commits whose sync had not completed: their
 * appends had not resolved (sources not acknowledged) and their records were not yet readable by
 * the forwarder (the durable watermark, `StreamRow.durableNext`), so their sequences were never
 * sent and may be handed out again. (The buffer's connection is in EXCLUSIVE locking mode, in
 * which SQLite keeps one WAL file for the connection's lifetime: one descriptor, opened once, at
 * the first sync. With the writer thread that is the thread's connection: the connection that
 * checked the file at open has closed and removed its WAL before the thread's first write.)
 *
 * One sync runs at a time; commits made while it runs wait for the next one, which then covers all
 * of them: the fsyncs group as the commits do.
 */
import fs from 'node:fs';

export class WalSync {
  private fd: number | null = null;
  /** Settlements of commits whose sync has not started. */
  private waiting: Array<(err: Error | null) => void> = [];
  private inFlight = false;
  private closed = false;

  constructor(
    private readonly walPath: string,
    /** Called after each sync completed (the writer commits what accumulated meanwhile). */
    private readonly onIdle: () => void,
  ) {}

  /** A sync is running or commits wait for one: the writer is busy. */
  get busy(): boolean {
    return this.inFlight || this.waiting.length > 0;
  }

  /** Registers a commit that has returned from COMMIT; `settle` runs once it is durable (or the sync failed). */
  committed(settle: (err: Error | null) => void): void {
    this.waiting.push(settle);
    if (!this.inFlight) this.start();
  }

  /** Syncs now, synchronously, and settles every registered commit (close()). */
  flushSync(): void {
    if (this.waiting.length === 0) return;
    const settles = this.waiting;
    this.waiting = [];
    let error: Error | null = null;
    try {
      fs.fdatasyncSync(this.descriptor());
    } catch (err) {
      error = err as Error;
    }
    for (const settle of settles) settle(error);
  }

  close(): void {
    this.closed = true;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private descriptor(): number {
    // The WAL exists from the first write of open() ('opened_at') on.
    if (this.fd === null) this.fd = fs.openSync(this.walPath, 'r');
    return this.fd;
  }

  private start(): void {
    const settles = this.waiting;
    this.waiting = [];
    this.inFlight = true;
    let fd: number;
    try {
      fd = this.descriptor();
    } catch (err) {
      this.finish(settles, err as Error);
      return;
    }
    fs.fdatasync(fd, (err) => this.finish(settles, err));
  }

  private finish(settles: Array<(err: Error | null) => void>, err: Error | null): void {
    this.inFlight = false;
    for (const settle of settles) settle(err);
    if (this.closed) return;
    if (this.waiting.length > 0) this.start();
    else this.onIdle();
  }
}
