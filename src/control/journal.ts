/**
 * The control journal: what this site did with each remote command, kept on disk so that a
 * command is executed at most once whatever happens between acting and RabbitMQ's ack
 * (ARCHITECTURE central invariant 12). One SQLite file, `<dataDir>/control.sqlite`, beside the
 * buffer and separate from it (the buffer's schema and its single writer stay its own).
 *
 * Contract:
 *  - `begin(id)` records a command as `executing` in a committed transaction (synchronous=FULL)
 *    BEFORE the daemon acts. If the id is already there, nothing is recorded and the entry is
 *    returned: a redelivery (the ack was lost: link cut, daemon killed) is answered from the
 *    journal, never executed again. An entry still `executing` at that point means the daemon
 *    stopped while acting: it is closed as failed (`SKY_ERR_INTERRUPTED`), not re-run.
 *  - `finish(id, outcome)` stores the outcome message exactly as it is sent, with `reported` 0;
 *    `reported(id)` sets it once RabbitMQ confirmed the message. `unreported()` lists what is
 *    still owed to the governance service (sent again on every reconnect: an outbox).
 *  - Limits: entries older than `retentionMs` (default 30 days, far beyond any command's TTL, so
 *    a redelivery cannot outlive its entry) and beyond `maxEntries` (default 10,000, oldest
 *    first) are deleted by `prune()`; entries not yet reported are kept whatever their age.
 */
import Database from 'better-sqlite3';
import type { ResultMessage } from '../record/command.ts';

export type JournalState = 'executing' | 'done' | 'failed' | 'refused' | 'expired';

export interface JournalEntry {
  id: string;
  command: string;
  state: JournalState;
  receivedAt: number;
  /** The outcome message as sent (null while executing). */
  outcome: ResultMessage | null;
  reported: boolean;
}

interface Row {
  id: string;
  command: string;
  state: JournalState;
  received_at: number;
  outcome: string | null;
  reported: number;
}

export interface JournalOptions {
  path: string;
  retentionMs?: number;
  maxEntries?: number;
}

const SCHEMA_VERSION = 1;

export class ControlJournal {
  private db: Database.Database | null = null;
  readonly retentionMs: number;
  readonly maxEntries: number;

  constructor(private readonly options: JournalOptions) {
    this.retentionMs = options.retentionMs ?? 30 * 86_400_000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  open(): void {
    if (this.db !== null) return;
    const db = new Database(this.options.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      db.close();
      throw new Error(`${this.options.path}: control journal schema ${version} is newer than this build's (${SCHEMA_VERSION})`);
    }
    db.exec(`CREATE TABLE IF NOT EXISTS commands (
      id TEXT PRIMARY KEY,
      command TEXT NOT NULL,
      state TEXT NOT NULL,
      received_at INTEGER NOT NULL,
      finished_at INTEGER,
      outcome TEXT,
      reported INTEGER NOT NULL DEFAULT 0
    )`);
    db.exec('CREATE INDEX IF NOT EXISTS commands_received ON commands (received_at)');
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.db = db;
  }

  private get handle(): Database.Database {
    if (this.db === null) throw new Error('control journal is not open');
    return this.db;
  }

  private static entry(row: Row): JournalEntry {
    return { id: row.id, command: row.command, state: row.state, receivedAt: row.received_at, outcome: row.outcome === null ? null : (JSON.parse(row.outcome) as ResultMessage), reported: row.reported === 1 };
  }

  get(id: string): JournalEntry | null {
    const row = this.handle.prepare('SELECT * FROM commands WHERE id = ?').get(id) as Row | undefined;
    return row === undefined ? null : ControlJournal.entry(row);
  }

  /** Records `id` as executing (committed before this returns) and returns null; or the existing entry, untouched. */
  begin(id: string, command: string, now = Date.now()): JournalEntry | null {
    const db = this.handle;
    return db.transaction((): JournalEntry | null => {
      const existing = this.get(id);
      if (existing !== null) return existing;
      db.prepare('INSERT INTO commands (id, command, state, received_at) VALUES (?, ?, ?, ?)').run(id, command, 'executing', now);
      return null;
    }).immediate();
  }

  /** Stores the outcome (state from it) to be sent; `reported` stays 0 until confirmed. */
  finish(id: string, command: string, outcome: ResultMessage, now = Date.now()): void {
    const state = (outcome.state ?? 'failed') as JournalState;
    this.handle
      .prepare(
        `INSERT INTO commands (id, command, state, received_at, finished_at, outcome, reported) VALUES (?, ?, ?, ?, ?, ?, 0)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, finished_at = excluded.finished_at, outcome = excluded.outcome, reported = 0`,
      )
      .run(id, command, state, now, now, JSON.stringify(outcome));
  }

  reported(id: string): void {
    this.handle.prepare('UPDATE commands SET reported = 1 WHERE id = ?').run(id);
  }

  /** Outcomes not yet confirmed by RabbitMQ, oldest first. */
  unreported(): ResultMessage[] {
    const rows = this.handle.prepare("SELECT * FROM commands WHERE reported = 0 AND outcome IS NOT NULL ORDER BY received_at").all() as Row[];
    return rows.map((row) => JSON.parse(row.outcome!) as ResultMessage);
  }

  /** Deletes reported entries past the retention, then the oldest reported ones beyond maxEntries; returns how many. */
  prune(now = Date.now()): number {
    const db = this.handle;
    return db.transaction(() => {
      let removed = db.prepare('DELETE FROM commands WHERE reported = 1 AND received_at < ?').run(now - this.retentionMs).changes;
      const count = (db.prepare('SELECT COUNT(*) AS n FROM commands').get() as { n: number }).n;
      if (count > this.maxEntries) {
        removed += db
          .prepare('DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE reported = 1 ORDER BY received_at LIMIT ?)')
          .run(count - this.maxEntries).changes;
      }
      return removed;
    })();
  }

  count(): number {
    return (this.handle.prepare('SELECT COUNT(*) AS n FROM commands').get() as { n: number }).n;
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}
