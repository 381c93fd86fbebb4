/**
 * Storage versions migrate; they are not thrown away (CONVENTIONS 12): a file written by the
 * previous schema opens with every record, sequence, cursor and drop counter intact.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/buffer/index.ts';
import { makeBuffer, openBuffer, payloadTag, range, schema2Backlog, tempDir, withRaw } from './helpers.ts';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = path.join(fixtures, 'schema-1.sqlite');

function copyFixture(from = fixture): string {
  const file = path.join(tempDir(), 'buffer.sqlite');
  fs.copyFileSync(from, file);
  return file;
}

describe('migrations', () => {
  it('1 -> 2: a schema-1 buffer keeps its producer id, records, sequences, cursors and drop counters', async () => {
    const file = copyFixture();
    withRaw(file, (db) => expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get()).toBe('1'));
    const b = openBuffer({ path: file, siteId: 'fixture-site' });
    expect(b.producerId).toBe('edge-1a5eb0fce88b40a1');
    expect(b.streams().map((s) => [s.stream, s.ackedSequence, s.nextSequence, s.records])).toEqual([
      ['weather/wxt536', 15, 41, 25],
      ['alarm/ups', 10, 11, 0],
      ['gps/rmc', 0, 201, 188],
    ]);
    expect(b.drops()).toEqual([
      { stream: 'gps/rmc', reason: 'quota_drop_oldest', count: 12 },
      { stream: 'weather/wxt536', reason: 'quota_drop_oldest', count: 12 },
    ]);
    // Every record reads back with a valid checksum, under the file's own producer id.
    const weather = b.read('weather/wxt536', 0, 1000);
    expect(weather.map((r) => r.sequence)).toEqual(range(16, 40));
    expect(weather.every((r) => r.producerId === 'edge-1a5eb0fce88b40a1')).toBe(true);
    expect(weather[0]!.payload.toString().replace(/\.+$/, '')).toBe('weather/wxt536:16');
    expect(b.read('gps/rmc', 0, 1000).map((r) => r.sequence)).toEqual(range(13, 200));
    expect(b.checkIntegrity()).toMatchObject({ ok: true, records: 213 });
    // New records continue the sequences, and ingest times never go back behind the last one.
    const next = await b.append({ stream: 'weather/wxt536', payload: Buffer.from('new'), ingestTime: Date.parse('2026-11-19T00:00:00Z') });
    expect(next.sequence).toBe(41);
    expect(next.ingestTime).toBe(Date.parse('2026-11-20T00:00:40Z'));
    await b.close();
    withRaw(file, (db) => {
      expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get()).toBe(String(SCHEMA_VERSION));
      expect(db.prepare(`SELECT last_ingest_time FROM streams WHERE name = 'gps/rmc'`).pluck().get()).toBe(Date.parse('2026-11-20T00:00:00Z') + 200_000);
    });
  });

  it('the offline tools read a schema-1 file without migrating it', () => {
    const file = copyFixture();
    const before = fs.readFileSync(file);
    const b = openBuffer({ path: file, readOnly: true });
    expect(b.stats().records).toBe(213);
    expect(b.checkIntegrity().ok).toBe(true);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('2 -> 3 (then 3 -> 4): a schema-2 buffer (one table per stream, 60 streams) moves into the append log with every record, sequence, cursor and counter', async () => {
    const file = copyFixture(path.join(fixtures, 'schema-2.sqlite'));
    const b = openBuffer({ path: file, siteId: 'fixture-site' });
    expect(b.producerId).toBe('edge-e62129b8c52a9215');
    const backlog = schema2Backlog();
    expect(b.streams()).toHaveLength(60);
    for (const state of b.streams()) {
      const want = backlog.get(state.stream) ?? [];
      const n = Number(state.stream.slice(-2));
      expect(state.nextSequence, state.stream).toBe(31 + n);
      expect(state.ackedSequence, state.stream).toBe(n === 7 ? 20 : n === 8 ? 38 : 0);
      const records = b.read(state.stream, 0, 1000);
      expect(records.map((r) => r.sequence), state.stream).toEqual(want);
      for (const r of records) {
        expect(payloadTag(r.payload)).toBe(`${state.stream}:${r.sequence}`);
        expect(r).toMatchObject({ contentType: 'text/plain', schemaRef: 'fixture/v2', producerId: 'edge-e62129b8c52a9215' });
        expect(r.ingestTime).toBe(Date.parse('2026-11-20T00:00:00Z') + r.sequence * 1000);
      }
    }
    expect(b.drops()).toEqual([{ stream: 'site/inst-09', reason: 'oversize', count: 3 }]);
    expect(b.checkIntegrity()).toMatchObject({ ok: true, records: 3509 });
    const next = await b.append({ stream: 'site/inst-00', payload: Buffer.from('after the upgrade') });
    expect(next.sequence).toBe(31);
    await b.close();
    withRaw(file, (db) => {
      expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get()).toBe(String(SCHEMA_VERSION));
      expect(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name GLOB 'records_[0-9]*'`).pluck().get()).toBe(0);
    });
  });

  it('3 -> 4: a schema-3 buffer (every stream row current) opens with every record, and only its version changes', async () => {
    const file = path.join(tempDir(), 'buffer.sqlite');
    const first = openBuffer({ path: file });
    for (let i = 1; i <= 5; i++) await first.appendBatch(range(0, 49).map((s) => ({ stream: `site/inst-${String(s).padStart(2, '0')}`, payload: Buffer.from(`r${i}`) })));
    first.ack('site/inst-03', 2);
    const before = first.streams();
    await first.close();
    // A clean close wrote every row: what a version-3 build left behind, but for the version.
    withRaw(file, (db) => db.prepare(`UPDATE meta SET value = '3' WHERE key = 'schema_version'`).run());
    const tables = withRaw(file, (db) => db.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all());
    const b = openBuffer({ path: file });
    expect(b.streams()).toEqual(before);
    expect(b.checkIntegrity()).toMatchObject({ ok: true, records: 248 });
    expect((await b.append({ stream: 'site/inst-03', payload: Buffer.from('after') })).sequence).toBe(6);
    await b.close();
    withRaw(file, (db) => {
      expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get()).toBe('4');
      expect(db.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all()).toEqual(tables);
    });
  });

  it('a migration that leaves the file inconsistent is rolled back: the file keeps its version and is refused, not quarantined', () => {
    const file = copyFixture(path.join(fixtures, 'schema-2.sqlite'));
    // A per-stream table whose stream row is gone: its rows would land in the log under no stream.
    withRaw(file, (db) => db.prepare(`DELETE FROM streams WHERE name = 'site/inst-03'`).run());
    const before = withRaw(file, (db) => db.prepare('SELECT count(*) FROM sqlite_master').pluck().get());
    const b = makeBuffer({ path: file });
    expect(() => b.open()).toThrow(/records of stream id 4 belong to no stream/);
    withRaw(file, (db) => {
      expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get()).toBe('2');
      expect(db.prepare('SELECT count(*) FROM sqlite_master').pluck().get()).toBe(before);
    });
    expect(fs.readdirSync(path.dirname(file)).filter((f) => f.includes('quarantined'))).toEqual([]);
  });

  it('a newer file (a package downgrade) is refused naming both versions, untouched and not quarantined', () => {
    const file = copyFixture(path.join(fixtures, 'schema-2.sqlite'));
    withRaw(file, (db) => db.prepare(`UPDATE meta SET value = '${SCHEMA_VERSION + 1}' WHERE key = 'schema_version'`).run());
    const before = fs.readFileSync(file);
    const b = makeBuffer({ path: file });
    expect(() => b.open()).toThrow(new RegExp(`schema version ${SCHEMA_VERSION + 1} was written by a newer Skyhaul; this build reads version ${SCHEMA_VERSION}`));
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(path.dirname(file)).filter((f) => f.includes('quarantined'))).toEqual([]);
  });
});
