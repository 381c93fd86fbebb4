import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSkyhaulError } from '../../src/common/errors.ts';
import type { BufferAlarm, DropCount } from '../../src/buffer/index.ts';
import { ALARM } from '../../src/buffer/index.ts';
import { dropTotal, openBuffer, payloadTag, range, rec, sequencesOf, settle, tempDir, withRaw } from './helpers.ts';

describe('read', () => {
  it('invariant read-in-sequence-order: strictly increasing sequences above `after`, bounded by limit and maxBytes', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file, groupCommit: { maxRecords: 10, maxDelayMs: 1 } });
    // interleave streams across several group commits
    await Promise.all(range(1, 90).map((i) => b.append(rec(['a', 'b', 'c'][i % 3]!, i, 100))));
    const all = b.read('a', 0, 1000);
    expect(all.map((r) => r.sequence)).toEqual(range(1, 30));
    expect(all.every((r) => r.stream === 'a')).toBe(true);
    expect(b.read('a', 10, 5).map((r) => r.sequence)).toEqual([11, 12, 13, 14, 15]);
    expect(b.read('a', 29, 5).map((r) => r.sequence)).toEqual([30]);
    expect(b.read('a', 30, 5)).toEqual([]);
    expect(b.read('nope', 0, 5)).toEqual([]);
    // accounted size per record here: 100 payload + 24 content type + 55 traceparent + 48
    const size = 100 + 'application/octet-stream'.length + 55 + 48;
    expect(b.read('b', 0, 100, size * 3).map((r) => r.sequence)).toEqual([1, 2, 3]);
    expect(b.read('b', 0, 100, size * 3 - 1).map((r) => r.sequence)).toEqual([1, 2]);
    expect(b.read('b', 0, 100, 1).map((r) => r.sequence)).toEqual([1]); // always at least one
    // reading moves no cursor
    expect(b.streams().find((s) => s.stream === 'a')).toMatchObject({ ackedSequence: 0, records: 30 });
  });
});

describe('checksum', () => {
  it('invariant checksum-verified-on-read: a corrupted payload byte is detected, removed, counted, alarmed and skipped', async () => {
    const file = path.join(tempDir(), 'b.db');
    let b = openBuffer({ path: file });
    await Promise.all(range(1, 5).map((i) => b.append(rec('wx', i))));
    await b.close();
    // flip one payload byte of wx#3 behind the buffer's back
    withRaw(file, (db) => {
      const id = db.prepare(`SELECT id FROM streams WHERE name = 'wx'`).pluck().get() as number;
      const changed = db.prepare('UPDATE records SET payload = CAST(? AS BLOB) WHERE stream_id = ? AND sequence = 3').run(Buffer.from('wx:3 corrupted'), id);
      expect(changed.changes).toBe(1);
    });
    b = openBuffer({ path: file });
    const drops: DropCount[] = [];
    const alarms: BufferAlarm[] = [];
    b.on('drop', (d: DropCount) => drops.push(d));
    b.on('alarm', (a: BufferAlarm) => alarms.push(a));
    const got = b.read('wx', 0, 100);
    expect(got.map((r) => payloadTag(r.payload))).toEqual(['wx:1', 'wx:2', 'wx:4', 'wx:5']);
    expect(got.map((r) => r.sequence)).toEqual([1, 2, 4, 5]);
    expect(drops).toEqual([{ stream: 'wx', reason: 'checksum', count: 1 }]);
    expect(b.drops()).toEqual([{ stream: 'wx', reason: 'checksum', count: 1 }]);
    expect(alarms.map((a) => a.code)).toEqual([ALARM.checksum]);
    expect(b.alarms()[0]?.details).toMatchObject({ stream: 'wx', sequence: 3 });
    expect(b.streams()[0]).toMatchObject({ records: 4 });
    expect(b.checkIntegrity()).toEqual({ ok: true, problems: [], records: 4 });
    // metadata is covered too: change the ingest time of wx#5
    await b.close();
    withRaw(file, (db) => db.prepare('UPDATE records SET ingest_time = ingest_time + 1 WHERE stream_id = 1 AND sequence = 5').run());
    b = openBuffer({ path: file });
    expect(b.read('wx', 0, 100).map((r) => r.sequence)).toEqual([1, 2, 4]);
    expect(dropTotal(b.drops(), { reason: 'checksum' })).toBe(2);
  });
});

describe('empty payloads', () => {
  it('an empty payload reads back and passes its checksum, also as stored by earlier builds (body CRC 0)', async () => {
    const file = path.join(tempDir(), 'b.db');
    let b = openBuffer({ path: file });
    await b.appendBatch([rec('wx', 1), { stream: 'wx', payload: Buffer.allocUnsafe(0) }, { stream: 'wx', payload: Buffer.from(new Uint8Array(0)) }, rec('wx', 4)]);
    expect(b.read('wx', 0, 10).map((r) => r.payload.length)).toEqual([32, 0, 0, 32]);
    expect(b.drops()).toEqual([]);
    expect(b.checkIntegrity()).toMatchObject({ ok: true, records: 4 });
    await b.close();
    // What a build before the fix stored for wx#2: the checksum of an empty body CRC (0), sequence folded in.
    const legacy = Buffer.alloc(8);
    legacy.writeDoubleBE(2, 0);
    const { crc32 } = await import('node:zlib');
    const stored = (crc32 as (d: Buffer, v?: number) => number)(legacy, 0);
    withRaw(file, (db) => expect(db.prepare('UPDATE records SET crc = ? WHERE sequence = 2').run(stored).changes).toBe(1));
    b = openBuffer({ path: file });
    expect(b.read('wx', 0, 10).map((r) => r.sequence)).toEqual([1, 2, 3, 4]);
    expect(b.drops()).toEqual([]);
    expect(b.checkIntegrity()).toMatchObject({ ok: true, records: 4 });
  });
});

describe('ack', () => {
  it('invariant ack-deletes-exactly-the-prefix: records <= n of that stream are gone, the rest and other streams untouched', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file });
    await Promise.all(range(1, 40).map((i) => b.append(rec(i % 2 ? 'a' : 'b', i))));
    b.ack('a', 7);
    expect(sequencesOf(b, 'a')).toEqual(range(8, 20));
    expect(sequencesOf(b, 'b')).toEqual(range(1, 20));
    expect(b.streams().find((s) => s.stream === 'a')).toMatchObject({ ackedSequence: 7, records: 13 });
    // repeated and lower acks are no-ops
    b.ack('a', 7);
    b.ack('a', 3);
    expect(b.streams().find((s) => s.stream === 'a')).toMatchObject({ ackedSequence: 7, records: 13 });
    // ackMany: one transaction
    b.ackMany([
      { stream: 'a', sequence: 10 },
      { stream: 'b', sequence: 20 },
      { stream: 'a', sequence: 12 },
    ]);
    expect(sequencesOf(b, 'a')).toEqual(range(13, 20));
    expect(sequencesOf(b, 'b')).toEqual([]);
    await b.close();
    withRaw(file, (db) => {
      expect(db.prepare('SELECT name, acked_sequence, records FROM streams ORDER BY name').all()).toEqual([
        { name: 'a', acked_sequence: 12, records: 8 },
        { name: 'b', acked_sequence: 20, records: 0 },
      ]);
    });
  });

  it('rejects acks for unknown streams or never-assigned sequences, atomically for ackMany', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file });
    await Promise.all(range(1, 5).map((i) => b.append(rec('a', i))));
    expect(() => b.ack('zzz', 1)).toThrow(expect.objectContaining({ code: 'SKY_ERR_USAGE' }));
    expect(() => b.ack('a', 6)).toThrow(expect.objectContaining({ code: 'SKY_ERR_USAGE' }));
    let caught: unknown;
    try {
      b.ackMany([
        { stream: 'a', sequence: 3 },
        { stream: 'a', sequence: 99 },
      ]);
    } catch (err) {
      caught = err;
    }
    expect(isSkyhaulError(caught, 'SKY_ERR_USAGE')).toBe(true);
    expect(sequencesOf(b, 'a')).toEqual(range(1, 5)); // nothing of the failed ackMany applied
  });
});

describe('integrity', () => {
  it('invariant counters-equal-rows: after appends, acks, evictions, TTL and checksum removals', async () => {
    const file = path.join(tempDir(), 'b.db');
    let now = 1_000_000;
    const b = openBuffer({
      path: file,
      clock: () => now,
      quotaBytes: 60 * 200,
      streamConfig: (s) => ({ priority: s === 'bulk' ? 'bulk' : 'telemetry', ttlMs: s === 'ttl' ? 1000 : null }),
      groupCommit: { maxRecords: 16, maxDelayMs: 1 },
    });
    for (let round = 0; round < 6; round++) {
      // bulk may be refused (quota_drop_newest: it can only evict bulk); counted like the rest
      await settle(range(1, 30).map((i) => b.append(rec(['bulk', 'ttl', 'tel'][i % 3]!, i, 50 + ((i * 37) % 70)))));
      now += 600;
      await b.sweepTtl();
      const tel = b.streams().find((s) => s.stream === 'tel');
      if (tel && tel.records > 3) b.ack('tel', tel.ackedSequence + 3);
    }
    expect(dropTotal(b.drops(), { reason: 'quota_drop_oldest' })).toBeGreaterThan(0);
    expect(dropTotal(b.drops(), { reason: 'ttl' })).toBeGreaterThan(0);
    const report = b.checkIntegrity();
    expect(report).toMatchObject({ ok: true, problems: [] });
    const streams = b.streams();
    expect(report.records).toBe(streams.reduce((n, s) => n + s.records, 0));
    await b.close();
    withRaw(file, (db) => {
      for (const s of db.prepare('SELECT id, name, records, bytes FROM streams').all() as Array<{ id: number; name: string; records: number; bytes: number }>) {
        const actual = db.prepare(`SELECT count(*) AS records, coalesce(sum(size), 0) AS bytes FROM records WHERE stream_id = ?`).get(s.id);
        expect(actual, s.name).toEqual({ records: s.records, bytes: s.bytes });
      }
    });
  });

  it('checkIntegrity reports checksum failures and counter drift without changing anything', async () => {
    const file = path.join(tempDir(), 'b.db');
    let b = openBuffer({ path: file });
    await Promise.all(range(1, 10).map((i) => b.append(rec('a', i))));
    expect(b.checkIntegrity()).toEqual({ ok: true, problems: [], records: 10 });
    await b.close();
    withRaw(file, (db) => {
      db.prepare(`UPDATE records SET payload = X'00' WHERE stream_id = 1 AND sequence = 2`).run();
      db.prepare(`UPDATE records SET traceparent = '00-00' WHERE stream_id = 1 AND sequence = 9`).run();
    });
    b = openBuffer({ path: file });
    const report = b.checkIntegrity();
    expect(report.ok).toBe(false);
    expect(report.records).toBe(10);
    expect(report.problems).toEqual(['a#2 fails its checksum', 'a#9 fails its checksum']);
    expect(b.stats().records).toBe(10); // read-only
    await b.close();
    // counter drift (a row deleted behind the buffer's back, counters left): open stays cheap and
    // does not notice; the full check does.
    withRaw(file, (db) => db.prepare('DELETE FROM records WHERE stream_id = 1 AND sequence = 5').run());
    b = openBuffer({ path: file });
    const size = 32 + 'application/octet-stream'.length + 55 + 48;
    expect(b.checkIntegrity().problems).toContain(`stream 'a' counters say 10 records/${10 * size} B, its rows hold 9/${9 * size} B`);
  });
});
