import path from 'node:path';
import zlib from 'node:zlib';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { isSkyhaulError } from '../../src/common/errors.ts';
import { SCHEMA_VERSION, recordChecksum } from '../../src/buffer/index.ts';
import type { CommitInfo } from '../../src/buffer/index.ts';
import { isValidTraceparent } from '../../src/record/record.ts';
import { makeBuffer, openBuffer, payloadTag, range, rec, sequencesOf, settle, tempDir, withRaw } from './helpers.ts';

describe('group commit', () => {
  it('concurrent appends share one transaction; promises resolve only after it committed', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file, groupCommit: { maxRecords: 1000, maxDelayMs: 200 } });
    const commits: CommitInfo[] = [];
    let resolvedBeforeCommit = 0;
    let resolved = 0;
    b.on('committed', (_streams: string[], info: CommitInfo) => {
      commits.push(info);
      resolvedBeforeCommit = resolved;
    });
    const ps = range(1, 300).map((i) => b.append(rec(`s${i % 3}`, i)).then((c) => (resolved++, c)));
    // Nothing commits synchronously: the appends of this turn of the event loop share a commit.
    expect(commits).toHaveLength(0);
    const results = await Promise.all(ps);
    expect(commits).toHaveLength(1);
    expect(commits[0]!.records).toBe(300);
    expect(resolvedBeforeCommit).toBe(0);
    // per stream 1..100 in append order
    for (const s of ['s0', 's1', 's2']) {
      expect(results.filter((c) => c.stream === s).map((c) => c.sequence)).toEqual(range(1, 100));
    }
  });

  it.each([
    ['on the writer thread: the first full batch leaves inside append(), what accumulated meanwhile goes in the next', true, 101, [100, 150]],
    ['on the calling thread: every full batch commits inside append()', false, 201, [100, 100, 50]],
  ])('batches by count, %s; appends resolve once their fsync completed', async (_name, writerThread, assigned, sizes) => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file, groupCommit: { maxRecords: 100, maxDelayMs: 10_000 }, writerThread });
    const commits: number[] = [];
    b.on('committed', (_s: string[], info: CommitInfo) => commits.push(info.records));
    const ps = range(1, 250).map((i) => b.append(rec('s', i)));
    // Sequences are assigned when a batch is handed to SQLite; nothing is durable (nor resolved,
    // nor readable) before its commit and fsync complete.
    expect(b.streams()[0]).toMatchObject({ nextSequence: assigned });
    expect(b.cursors()[0]).toMatchObject({ nextSequence: 1 });
    expect(commits).toEqual([]);
    expect((await Promise.all(ps)).map((c) => c.sequence)).toEqual(range(1, 250));
    expect(commits).toEqual(sizes);
  });

  it('the delay is an upper bound, not a wait: a lone append commits as soon as the writer is idle', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file, groupCommit: { maxRecords: 1000, maxDelayMs: 10_000 } });
    const c = await b.append(rec('s', 1));
    expect(c.sequence).toBe(1);
    // (10 s would time the test out: the lone append did not wait for maxDelayMs)
    expect((await settle(range(2, 5).map((i) => b.append(rec('s', i))))).committed.map((x) => x.sequence)).toEqual(range(2, 5));
  });

  it('invariant commit-before-resolve: a commit whose fsync is still running is neither resolved nor readable', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file });
    let resolved = false;
    const p = b.append(rec('wx', 1)).then(() => (resolved = true));
    // The flush runs on the next turn (check phase); this continuation runs right after it, before
    // the poll phase in which the thread pool's fdatasync completion can arrive.
    await new Promise((r) => setImmediate(r));
    expect(b.streams()[0]).toMatchObject({ nextSequence: 2, records: 1 });
    expect(resolved).toBe(false);
    expect(b.read('wx', 0, 10)).toEqual([]);
    expect(b.cursors()[0]).toMatchObject({ nextSequence: 1 });
    await p;
    expect(b.read('wx', 0, 10).map((r) => r.sequence)).toEqual([1]);
    expect(b.cursors()[0]).toMatchObject({ nextSequence: 2 });
  });

  it('fills in producer, site, sequence, ingest time and a valid traceparent; read returns what was appended', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file, clock: () => 1_700_000_000_123 });
    await b.append({ stream: 'wx', payload: Buffer.from('a') });
    await b.append({
      stream: 'wx',
      payload: Buffer.from([0, 1, 2, 255]),
      contentType: 'application/json',
      schemaRef: 'skyhaul.adapter.x/v1',
      sourceTime: 1_699_999_999_000,
      ingestTime: 1_700_000_000_500,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    const [r1, r2] = b.read('wx', 0, 10);
    expect(r1).toMatchObject({ siteId: 'test-site', producerId: b.producerId, stream: 'wx', sequence: 1, sourceTime: null, ingestTime: 1_700_000_000_123 });
    expect(r1!.contentType).toBe('application/octet-stream');
    expect(r1!.schemaRef).toBeNull();
    expect(isValidTraceparent(r1!.traceparent)).toBe(true);
    expect(r2).toEqual({
      siteId: 'test-site',
      producerId: b.producerId,
      stream: 'wx',
      sequence: 2,
      sourceTime: 1_699_999_999_000,
      ingestTime: 1_700_000_000_500,
      contentType: 'application/json',
      schemaRef: 'skyhaul.adapter.x/v1',
      payload: Buffer.from([0, 1, 2, 255]),
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
  });

  it('copies the payload: the caller may reuse its buffer right after append()', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file });
    const reused = Buffer.from('first');
    const p1 = b.append({ stream: 's', payload: reused });
    reused.write('SECON');
    const p2 = b.append({ stream: 's', payload: reused });
    await Promise.all([p1, p2]);
    expect(b.read('s', 0, 10).map((r) => r.payload.toString())).toEqual(['first', 'SECON']);
  });

  it('rejects malformed records with SKY_ERR_USAGE and appends on a closed buffer with SKY_ERR_BUFFER_CLOSED', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = makeBuffer({ path: file });
    await expect(b.append(rec('s', 1))).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_BUFFER_CLOSED'));
    b.open();
    await expect(b.append({ stream: '', payload: Buffer.from('x') })).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_USAGE'));
    await expect(b.append({ stream: 's', payload: 'x' as unknown as Buffer })).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_USAGE'));
    await expect(b.append({ stream: 's', payload: Buffer.from('x'), traceparent: 'nope' })).rejects.toSatisfy((e) =>
      isSkyhaulError(e, 'SKY_ERR_USAGE'),
    );
    await b.close();
    await b.close(); // safe twice
    await expect(b.append(rec('s', 1))).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_BUFFER_CLOSED'));
  });
});

describe('durability', () => {
  it('invariant commit-before-resolve: every resolved record is in the file after close and reopen, field for field', async () => {
    const file = path.join(tempDir(), 'sub', 'dir', 'b.db'); // directory is created
    const b = openBuffer({ path: file, groupCommit: { maxRecords: 64, maxDelayMs: 2 } });
    const { committed } = await settle(range(1, 500).map((i) => b.append(rec(`s${i % 4}`, i, 16 + (i % 50)))));
    expect(committed).toHaveLength(500);
    const before = new Map(['s0', 's1', 's2', 's3'].map((s) => [s, b.read(s, 0, 1000)]));
    await b.close();

    const again = openBuffer({ path: file });
    for (const [s, records] of before) {
      const after = again.read(s, 0, 1000);
      expect(after).toEqual(records);
    }
    for (const c of committed) {
      const [r] = again.read(c.stream, c.sequence - 1, 1);
      expect(r?.sequence).toBe(c.sequence);
      expect(r?.ingestTime).toBe(c.ingestTime);
    }
    expect(again.stats().records).toBe(500);
  });

  it('invariant sequence-never-reused: contiguous per stream, kept across ack-everything and restarts', async () => {
    const file = path.join(tempDir(), 'b.db');
    const seen = new Map<string, number[]>();
    for (let run = 0; run < 3; run++) {
      const b = openBuffer({ path: file, groupCommit: { maxRecords: 7, maxDelayMs: 1 } });
      const results = await Promise.all(range(1, 30).map((i) => b.append(rec(i % 2 ? 'a' : 'b', i))));
      for (const c of results) seen.set(c.stream, [...(seen.get(c.stream) ?? []), c.sequence]);
      // ack everything: the stream is empty, its cursor survives
      for (const s of b.streams()) b.ack(s.stream, s.nextSequence - 1);
      expect(b.stats().records).toBe(0);
      await b.close();
    }
    for (const [, seqs] of seen) expect(seqs).toEqual(range(1, 45));
    const b = openBuffer({ path: file });
    expect(b.streams().map((s) => [s.stream, s.nextSequence, s.ackedSequence, s.records])).toEqual([
      ['a', 46, 45, 0],
      ['b', 46, 45, 0],
    ]);
    expect((await b.append(rec('a', 99))).sequence).toBe(46);
  });

  it('invariant producer-id-stable: generated once per file, kept across restarts', async () => {
    const dir = tempDir();
    const a = openBuffer({ path: path.join(dir, 'a.db') });
    const id = a.producerId;
    expect(id).toMatch(/^edge-[0-9a-f]{16}$/);
    await a.close();
    const again = openBuffer({ path: path.join(dir, 'a.db') });
    expect(again.producerId).toBe(id);
    const other = openBuffer({ path: path.join(dir, 'other.db') });
    expect(other.producerId).not.toBe(id);
  });

  it('lays the file out as the contract says: incremental auto-vacuum, WAL, schema version, one append log for all streams', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file });
    await b.append(rec('x', 1));
    await b.close();
    withRaw(file, (db) => {
      expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get()).toBe(String(SCHEMA_VERSION));
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all();
      expect(tables).toEqual(['drops', 'meta', 'producer_epochs', 'records', 'source_marks', 'streams']);
      expect(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'`).pluck().all()).toEqual(['records_by_stream']);
      expect(db.prepare('SELECT stream_id, sequence FROM records').all()).toEqual([{ stream_id: 1, sequence: 1 }]);
    });
  });

  it('reports stream state and stats from counters (payload tags round-trip)', async () => {
    const file = path.join(tempDir(), 'b.db');
    let now = 1000;
    const b = openBuffer({ path: file, clock: () => now, streamConfig: (s) => ({ priority: s.startsWith('alarm') ? 'alarm' : 'telemetry', ttlMs: null }) });
    await Promise.all([b.append(rec('alarm/ups', 1)), b.append(rec('wx', 1))]);
    now = 2000;
    await b.append(rec('wx', 2));
    const st = b.stats();
    expect(st.records).toBe(3);
    expect(st.byPriority.alarm).toMatchObject({ records: 1, oldestIngestTime: 1000 });
    expect(st.byPriority.telemetry).toMatchObject({ records: 2, oldestIngestTime: 1000 });
    expect(st.bytes).toBe(st.byPriority.alarm.bytes + st.byPriority.telemetry.bytes);
    b.ack('wx', 1);
    expect(b.streams().find((s) => s.stream === 'wx')).toMatchObject({ records: 1, oldestIngestTime: 2000, ackedSequence: 1, nextSequence: 3 });
    expect(b.read('wx', 0, 10).map((r) => payloadTag(r.payload))).toEqual(['wx:2']);
    expect(sequencesOf(b, 'alarm/ups')).toEqual([1]);
  });

  it('checksums the documented byte layout (for tools outside this module)', () => {
    const f64 = (n: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(n);
      return b;
    };
    const r = {
      stream: 'wx/é',
      sequence: 42,
      sourceTime: null,
      ingestTime: 1_700_000_000_000,
      contentType: 'application/json',
      schemaRef: null,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      payload: Buffer.from('{"t":1}'),
    };
    const bytes = Buffer.concat([
      Buffer.from('wx/é\napplication/json\n\u0000\n', 'utf8'),
      f64(Number.NaN),
      f64(r.ingestTime),
      Buffer.from(r.traceparent),
      r.payload,
      f64(42),
    ]);
    expect(recordChecksum(r)).toBe(zlib.crc32(bytes));
    expect(recordChecksum({ ...r, schemaRef: '' })).not.toBe(recordChecksum(r)); // null and '' differ
    expect(recordChecksum({ ...r, sequence: 43 })).not.toBe(recordChecksum(r));
  });

  it('re-applies stream classes from the configuration on open', async () => {
    const file = path.join(tempDir(), 'b.db');
    const a = openBuffer({ path: file, streamConfig: () => ({ priority: 'bulk', ttlMs: null }) });
    await a.append(rec('cam', 1));
    await a.close();
    const b = openBuffer({ path: file, streamConfig: () => ({ priority: 'alarm', ttlMs: null }) });
    expect(b.streams()[0]!.priority).toBe('alarm');
    expect(b.stats().byPriority.alarm.records).toBe(1);
    expect(b.stats().byPriority.bulk.records).toBe(0);
  });

  it('accepts a pino logger and logs through it', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const b = openBuffer({ path: path.join(tempDir(), 'b.db'), logger });
    await b.append(rec('s', 1));
    await b.close();
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['buffer opened', 'buffer closed']);
  });
});
