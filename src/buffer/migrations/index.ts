/**
 * Versioned migrations of the buffer file (SQLite's `user_version` idiom, kept in
 * `meta.schema_version`), like a storage engine's: a site upgraded in place opens its existing
 * buffer and keeps every record, sequence and drop counter. One file per step,
 * `NNN-name.ts`, each with a test that opens a file written by the previous version
 * (`test/buffer/migrations.test.ts`, fixtures in `test/buffer/fixtures/`).
 *
 * A file newer than this build is never migrated down: open() refuses it, untouched.
 */
import type Database from 'better-sqlite3';
import { migration002 } from './002-producer-epochs.ts';
import { migration003 } from './003-append-log.ts';
import { migration004 } from './004-lagging-stream-rows.ts';

export interface Migration {
  from: number;
  to: number;
  name: string;
  /** Runs inside the migration's transaction; must not touch `meta.schema_version` (the runner does). */
  up(db: Database.Database): void;
}

/** In order; each step's `from` is the previous step's `to`. */
export const MIGRATIONS: readonly Migration[] = [migration002, migration003, migration004];

/**
 * Brings a file from `version` to the newest schema, one transaction (savepoint) per step;
 * `openDatabase` wraps all steps and the start-up checks in one outer transaction, so a file that
 * fails its checks after migrating is left as it was. Returns the steps that ran.
 */
export function migrate(db: Database.Database, version: number): Migration[] {
  const ran: Migration[] = [];
  let current = version;
  for (const step of MIGRATIONS) {
    if (step.from !== current) continue;
    db.transaction(() => {
      step.up(db);
      db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(step.to));
    })();
    ran.push(step);
    current = step.to;
  }
  return ran;
}
