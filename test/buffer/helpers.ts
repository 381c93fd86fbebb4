/** Shared helpers for the buffer tests: temp dirs, buffers that close themselves, raw access. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach } from 'vitest';
import { RecordBuffer } from '../../src/buffer/index.ts';
import type { BufferOptions, Committed, DropCount } from '../../src/buffer/index.ts';
import type { IncomingRecord } from '../../src/record/record.ts';

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skyhaul-buffer-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A buffer with test defaults (no disk watchdog unless given), closed after the test. */
export function makeBuffer(options: Partial<BufferOptions> & { path: string }): RecordBuffer {
  const b = new RecordBuffer({ siteId: 'test-site', disk: null, ...options });
  cleanups.push(() => b.close());
  return b;
}

export function openBuffer(options: Partial<BufferOptions> & { path: string }): RecordBuffer {
  const b = makeBuffer(options);
  b.open();
  return b;
}

/** A record with a recognisable payload: `<stream>:<n>` padded to `size` bytes. */
export function rec(stream: string, n: number, size = 32, extra: Partial<IncomingRecord> = {}): IncomingRecord {
  const payload = Buffer.alloc(size, 0x2e);
  payload.write(`${stream}:${n}`);
  return { stream, payload, contentType: 'application/octet-stream', ...extra };
}

export function payloadTag(payload: Buffer): string {
  return payload.toString('utf8').replace(/\.+$/, '');
}

/** Opens the closed buffer file directly (the buffer holds an exclusive lock while open). */
export function withRaw<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Settles every promise; returns the committed results and the rejections. */
export async function settle(promises: Array<Promise<Committed>>): Promise<{ committed: Committed[]; rejected: unknown[] }> {
  const results = await Promise.allSettled(promises);
  const committed: Committed[] = [];
  const rejected: unknown[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') committed.push(r.value);
    else rejected.push(r.reason);
  }
  return { committed, rejected };
}

export function dropTotal(drops: DropCount[], filter: Partial<Pick<DropCount, 'stream' | 'reason'>> = {}): number {
  return drops
    .filter((d) => (filter.stream === undefined || d.stream === filter.stream) && (filter.reason === undefined || d.reason === filter.reason))
    .reduce((sum, d) => sum + d.count, 0);
}

/** All buffered sequences of a stream, via read() (which also verifies checksums). */
export function sequencesOf(b: RecordBuffer, stream: string): number[] {
  return b.read(stream, 0, 10_000_000).map((r) => r.sequence);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true if `p` settles within `ms`. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await sleep(ms);
  return done;
}

export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** `test/buffer/fixtures/schema-2.sqlite`, written by the schema-2 code. */
export const SCHEMA_2_FIXTURE = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'schema-2.sqlite');

/** What `fixtures/make-schema-2.ts` left buffered: stream -> sequences (see its header). */
export function schema2Backlog(): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let n = 0; n < 60; n++) {
    const stream = `site/inst-${String(n).padStart(2, '0')}`;
    const all = range(1, 30 + n);
    if (n === 7) out.set(stream, all.filter((s) => s > 20));
    else if (n === 8) out.set(stream, []);
    else if (n === 9) out.set(stream, all.filter((s) => s < 5 || s > 7));
    else out.set(stream, all);
  }
  return out;
}
