/**
 * Storage versions migrate; they are not thrown away (CONVENTIONS 12): a file written by the
 * previous schema opens with every record, sequence, cursor and drop counter intact.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/buffer/index.ts';
import { openBuffer, range, tempDir, withRaw } from './helpers.ts';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'schema-1.sqlite');

function copyFixture(): string {
  const file = path.join(tempDir(), 'buffer.sqlite');
  fs.copyFileSync(fixture, file);
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
});
