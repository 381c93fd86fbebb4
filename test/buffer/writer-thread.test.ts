/**
 * The buffer's SQLite connection on a worker thread (src/buffer/writer-thread.ts): real files,
 * a real worker, the same buffer API as on the calling thread.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSkyhaulError } from '../../src/common/errors.ts';
import type { RecordBuffer } from '../../src/buffer/index.ts';
import type { Connection } from '../../src/buffer/connection.ts';
import { openBuffer, range, rec, tempDir } from './helpers.ts';

/** The buffer's connection: these tests check where statements run, which the API does not say. */
function connectionOf(b: RecordBuffer): Connection {
  return (b as unknown as { conn: Connection }).conn;
}

describe('writer thread', () => {
  it('runs SQLite on another thread: the event loop turns while a group commit is in flight', async () => {
    const b = openBuffer({ path: path.join(tempDir(), 'b.db'), groupCommit: { maxRecords: 20_000, maxDelayMs: 1000 } });
    const conn = connectionOf(b);
    expect(conn.kind).toBe('thread');
    const committed = b.appendBatch(range(1, 20_000).map((i) => rec('s', i, 200)));
    // maxRecords appends flush at once: the commit was handed to the thread and is in flight.
    expect(conn.busy).toBe(true);
    let turns = 0;
    let done = false;
    const spin = (): void => {
      turns++;
      if (!done) setImmediate(spin);
    };
    setImmediate(spin);
    const result = await committed;
    done = true;
    expect(result.map((c) => c.sequence)).toEqual(range(1, 20_000));
    expect(turns).toBeGreaterThan(0);
  });

  it('gives back exactly what it was given: payloads as Buffers, null source time and schema, strings', async () => {
    const payloads = [Buffer.alloc(0), Buffer.from([0, 255, 1, 254]), Buffer.alloc(5000, 7)];
    const written = await Promise.all(
      [true, false].map(async (writerThread) => {
        const b = openBuffer({ path: path.join(tempDir(), 'b.db'), writerThread });
        expect(connectionOf(b).kind).toBe(writerThread ? 'thread' : 'local');
        await b.appendBatch([
          { stream: 'a', payload: payloads[0]!, sourceTime: null, schemaRef: null, ingestTime: 1_800_000_000_000 },
          { stream: 'a', payload: payloads[1]!, sourceTime: 1_799_999_999_123, schemaRef: 'skyhaul.wxt536-v1', contentType: 'application/json', ingestTime: 1_800_000_000_001 },
          { stream: 'b/ü', payload: payloads[2]!, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', ingestTime: 1_800_000_000_002 },
        ]);
        return [...b.read('a', 0, 10), ...b.read('b/ü', 0, 10)];
      }),
    );
    const [thread, local] = written;
    expect(thread!.map((r) => Buffer.isBuffer(r.payload))).toEqual([true, true, true]);
    expect(thread!.map((r) => r.payload)).toEqual(payloads);
    expect(thread!.map(({ traceparent: _t, producerId: _p, ...r }) => r)).toEqual(local!.map(({ traceparent: _t, producerId: _p, ...r }) => r));
    expect(thread![2]!.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it('a group commit that fails on the thread (disk full) is undone in memory: its appends reject, the next ones continue the sequence', async () => {
    const b = openBuffer({ path: path.join(tempDir(), 'b.db'), groupCommit: { maxRecords: 1000, maxDelayMs: 1 } });
    await b.appendBatch(range(1, 50).map((i) => rec('s', i, 1000)));
    const conn = connectionOf(b);
    const pages = Number(conn.pragma('page_count', { simple: true }));
    conn.pragma(`max_page_count = ${pages}`);
    const failed = await b.appendBatch(range(51, 150).map((i) => rec('s', i, 1000))).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isSkyhaulError(failed) && failed.code).toBe('SKY_ERR_DISK_LOW');
    expect(b.streams()[0]).toMatchObject({ nextSequence: 51, records: 50 });
    conn.pragma(`max_page_count = ${pages * 100}`);
    expect((await b.append(rec('s', 51))).sequence).toBe(51);
    expect(b.checkIntegrity()).toMatchObject({ ok: true, records: 51 });
  });

  it('a statement that fails inside a transaction rolls the whole transaction back on the thread', async () => {
    const b = openBuffer({ path: path.join(tempDir(), 'b.db') });
    await b.append(rec('s', 1));
    const conn = connectionOf(b);
    conn.transaction(() => conn.prepare("INSERT INTO meta (key, value) VALUES ('probe', 'x')").run());
    expect(() =>
      conn.transaction(() => {
        conn.prepare("UPDATE meta SET value = 'y' WHERE key = 'probe'").run();
        conn.prepare('SELECT * FROM no_such_table').all();
      }),
    ).toThrow(/no such table/);
    expect(conn.prepare<[], string>("SELECT value FROM meta WHERE key = 'probe'", { pluck: true }).get()).toBe('x');
    // The buffer goes on as before.
    expect((await b.append(rec('s', 2))).sequence).toBe(2);
  });

  it('keeps its SQLite error codes across the thread: a second daemon on the file is refused as "in use"', () => {
    const file = path.join(tempDir(), 'b.db');
    openBuffer({ path: file });
    let error: unknown;
    try {
      openBuffer({ path: file });
    } catch (e) {
      error = e;
    }
    expect(isSkyhaulError(error) && error.code).toBe('SKY_ERR_USAGE');
    expect(String((error as Error).message)).toMatch(/in use by another process/);
  });
});

describe('writer thread gone', () => {
  it('a call after the thread exited fails with an error instead of blocking forever', async () => {
    const b = openBuffer({ path: path.join(tempDir(), 'b.db') });
    await b.append(rec('s', 1));
    const conn = connectionOf(b);
    const worker = (conn as unknown as { worker: { terminate(): Promise<number> } }).worker;
    await worker.terminate();
    expect(() => b.read('s', 0, 10)).toThrow(/writer thread exited/);
  });
});
