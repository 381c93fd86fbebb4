/**
 * Schema 1 -> 2: what the buffer needs to never reuse a sequence and never commit a source's
 * message twice (contract, "Producer identity" and "Source marks").
 *
 *  - `producer_epochs`: when the file is found behind its sequence mark (restored from a backup,
 *    rolled back by a power cut under synchronous NORMAL/OFF), the buffer takes a new producer
 *    identity; the records already in the file keep the identity they may already have been sent
 *    under, one row per stream: records up to `up_to` belong to `producer_id`.
 *  - `source_marks`: the fingerprint of the last message committed per source and key (an MQTT
 *    input and topic), written in the same transaction as that message's records.
 *  - `streams.last_ingest_time`: the newest ingest time the stream ever committed, so that ingest
 *    times stay non-decreasing per stream across a backward clock step and a restart.
 *
 * Every existing record, sequence, cursor and drop counter is kept as it is.
 */
import type Database from 'better-sqlite3';
import type { Migration } from './index.ts';

export const PRODUCER_EPOCHS_DDL = `
CREATE TABLE producer_epochs (
  stream      TEXT NOT NULL,
  up_to       INTEGER NOT NULL,
  producer_id TEXT NOT NULL,
  PRIMARY KEY (stream, up_to)
) WITHOUT ROWID;

CREATE TABLE source_marks (
  source      TEXT NOT NULL,
  key         TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  PRIMARY KEY (source, key)
) WITHOUT ROWID;
`;

export const migration002: Migration = {
  from: 1,
  to: 2,
  name: 'producer-epochs',
  up(db: Database.Database): void {
    db.exec(PRODUCER_EPOCHS_DDL);
    db.exec('ALTER TABLE streams ADD COLUMN last_ingest_time INTEGER');
    // The newest ingest time still on record: a stream's last row, when it has one.
    const streams = db.prepare<[], { id: number }>('SELECT id FROM streams').all();
    const set = db.prepare('UPDATE streams SET last_ingest_time = ? WHERE id = ?');
    for (const { id } of streams) {
      const last = db.prepare<[], number>(`SELECT ingest_time FROM records_${id} ORDER BY sequence DESC LIMIT 1`).pluck().get();
      if (last !== undefined) set.run(last, id);
    }
  },
};
