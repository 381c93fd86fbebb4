import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isSkyhaulError } from '../../src/common/errors.ts';
import { ALARM, RecordBuffer, SCHEMA_VERSION } from '../../src/buffer/index.ts';
import type { BufferAlarm, BufferLogger } from '../../src/buffer/index.ts';
import { makeBuffer, openBuffer, range, rec, sequencesOf, tempDir, withRaw } from './helpers.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const FIXTURE = path.join(here, 'fixtures', 'append-ack-crash.ts');

interface ChildLog {
  committed: Map<string, number>; // highest sequence reported durable per stream
  acked: Map<string, number>; // highest ack reported durable
  acking: Map<string, number>; // ack in flight (reported as started)
  ackLines: number;
}

/**
 * Runs the fixture until it has reported `acks` completed acks, then SIGKILLs it at a random
 * moment, and reads its log (a file: every line it wrote before the kill is there).
 */
async function runAndKill(file: string, acks: number): Promise<ChildLog> {
  const logFile = `${file}.child-log`;
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, file, logFile], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let ackLinesSeen = 0;
  let killTimer: NodeJS.Timeout | undefined;
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('close', (code, signal) => resolve(signal ?? code)));
  child.stdout.on('data', (d: Buffer) => {
    ackLinesSeen += d.toString().split('\n').filter((line) => line.startsWith('A ')).length;
    if (ackLinesSeen >= acks && killTimer === undefined) {
      killTimer = setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 40));
    }
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const how = await exited;
  clearTimeout(guard);
  if (how !== 'SIGKILL') throw new Error(`fixture exited with ${String(how)} before the kill: ${stderr}`);
  const log: ChildLog = { committed: new Map(), acked: new Map(), acking: new Map(), ackLines: 0 };
  // A line cut by the kill (no newline yet) is not a whole report: dropped.
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n').slice(0, -1)) {
    const [kind, stream, seq] = line.split(' ');
    if (kind === 'C') log.committed.set(stream!, Math.max(log.committed.get(stream!) ?? 0, Number(seq)));
    if (kind === 'ACKING') log.acking.set(stream!, Number(seq));
    if (kind === 'A') {
      log.acked.set(stream!, Number(seq));
      log.ackLines++;
    }
  }
  expect(log.ackLines, stderr).toBeGreaterThanOrEqual(acks);
  return log;
}

describe('crash safety', () => {
  it('invariant ack-deletes-exactly-the-prefix (after SIGKILL): exactly the acked records are gone, every durable record is kept', async () => {
    const file = path.join(tempDir(), 'crash.db');
    let producerId: string | undefined;
    for (let cycle = 0; cycle < 3; cycle++) {
      const log = await runAndKill(file, 9 + cycle * 3);
      const b = openBuffer({ path: file });
      producerId ??= b.producerId;
      expect(b.producerId).toBe(producerId);
      expect(b.alarms()).toEqual([]); // not quarantined
      for (const s of b.streams()) {
        const lastAck = log.acked.get(s.stream) ?? 0;
        const inFlight = log.acking.get(s.stream) ?? lastAck;
        // the ack is all or nothing: the cursor is the last durable ack or the one in flight
        expect([lastAck, inFlight], s.stream).toContain(s.ackedSequence);
        // invariant commit-before-resolve, across a crash: everything reported durable is there
        expect(s.nextSequence - 1, s.stream).toBeGreaterThanOrEqual(log.committed.get(s.stream) ?? 0);
        // exactly the records above the cursor remain, contiguously, none below it
        expect(sequencesOf(b, s.stream), s.stream).toEqual(range(s.ackedSequence + 1, s.nextSequence - 1));
        expect(s.records).toBe(s.nextSequence - 1 - s.ackedSequence);
      }
      expect(b.drops()).toEqual([]);
      expect(b.checkIntegrity()).toMatchObject({ ok: true, problems: [] });
      await b.close();
    }
  }, 60_000);
});

describe('stream rows', () => {
  it('invariant lagging-rows: a file copied mid-run (what a crash leaves) opens with every stream exact, though its rows lagged', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'buffer.sqlite');
    // A monotonic clock that stands still: the periodic write of lagging rows never comes due.
    const b = openBuffer({ path: file, monotonic: () => 1000 });
    const streams = range(0, 59).map((i) => `site/inst-${i}`);
    for (let round = 0; round < 4; round++) await b.appendBatch(streams.map((s, i) => rec(s, round * 100 + i)));
    b.ack('site/inst-1', 2); // anything but an insert writes the row
    await b.appendBatch(streams.map((s, i) => rec(s, 900 + i)));
    const expected = b.streams();
    const image = path.join(dir, 'image.sqlite');
    fs.copyFileSync(file, image);
    fs.copyFileSync(`${file}-wal`, `${image}-wal`);
    const rows = withRaw(image, (db) => db.prepare('SELECT name, next_sequence, records FROM streams ORDER BY id').all() as Array<{ name: string; next_sequence: number; records: number }>);
    // Written when created (one record in), then only by the ack: the copy's rows lag.
    expect(rows.find((r) => r.name === 'site/inst-0')).toMatchObject({ next_sequence: 2, records: 1 });
    expect(rows.find((r) => r.name === 'site/inst-1')).toMatchObject({ next_sequence: 5, records: 2 });
    const copy = openBuffer({ path: image });
    expect(copy.streams()).toEqual(expected);
    expect(copy.stats().records).toBe(60 * 5 - 2);
    expect(copy.checkIntegrity()).toMatchObject({ ok: true, records: 60 * 5 - 2 });
    expect((await copy.append(rec('site/inst-0', 1))).sequence).toBe(6);
    await copy.close();
    await b.close();
    // A clean close leaves no row behind.
    for (const f of [file, image]) {
      withRaw(f, (db) => expect(db.prepare(`SELECT count(*) FROM streams WHERE records <> (SELECT count(*) FROM records WHERE stream_id = streams.id) OR next_sequence <> (SELECT coalesce(max(sequence), 0) + 1 FROM records WHERE stream_id = streams.id)`).pluck().get()).toBe(0));
    }
  });

  it('the periodic write brings every lagging row up to date within ROW_WRITE_INTERVAL_MS', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'buffer.sqlite');
    let now = 1000;
    const b = openBuffer({ path: file, monotonic: () => now });
    await b.appendBatch(range(0, 9).map((i) => rec(`s/${i}`, i)));
    await b.appendBatch(range(0, 9).map((i) => rec(`s/${i}`, 10 + i)));
    const rowNext = (): number[] => {
      const image = path.join(dir, `image-${now}.sqlite`);
      fs.copyFileSync(file, image);
      fs.copyFileSync(`${file}-wal`, `${image}-wal`);
      return withRaw(image, (db) => db.prepare('SELECT next_sequence FROM streams ORDER BY id').pluck().all() as number[]);
    };
    expect(rowNext()).toEqual(range(0, 9).map(() => 2));
    now += 1000;
    await b.append(rec('s/0', 99)); // the first commit after the interval writes every lagging row
    expect(rowNext()).toEqual([4, ...range(1, 9).map(() => 3)]);
    await b.close();
  });
});

describe('quarantine', () => {
  const at = Date.parse('2025-01-02T03:04:05.678Z');

  function quarantineSetup(): { file: string; logger: BufferLogger & { errors: unknown[] }; alarms: BufferAlarm[]; b: RecordBuffer } {
    const file = path.join(tempDir(), 'b.db');
    const errors: unknown[] = [];
    const logger = { info() {}, warn() {}, debug() {}, error: (obj: object, msg?: string) => errors.push({ obj, msg }), errors };
    const b = makeBuffer({ path: file, clock: () => at, logger });
    const alarms: BufferAlarm[] = [];
    b.on('alarm', (a: BufferAlarm) => alarms.push(a));
    return { file, logger, alarms, b };
  }

  it('invariant corrupt-file-quarantined: garbage over the file -> open() succeeds, fresh buffer, file moved aside, alarm raised', async () => {
    const { file, logger, alarms, b } = quarantineSetup();
    const garbage = Buffer.alloc(64 * 1024, 'not a database, just bytes. ');
    fs.writeFileSync(file, garbage);
    fs.writeFileSync(`${file}-wal`, Buffer.from('garbage wal'));
    expect(() => b.open()).not.toThrow();

    const moved = `${file}.quarantined-2025-01-02T03:04:05.678Z`;
    expect(fs.readFileSync(moved).equals(garbage)).toBe(true);
    expect(fs.readFileSync(`${moved}-wal`).toString()).toBe('garbage wal'); // kept, although SQLite deletes it on close
    // b.db and b.db-wal are the fresh buffer's (open, WAL mode); no helper links are left behind
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['b.db', 'b.db-wal', 'b.db.sequences', path.basename(moved), `${path.basename(moved)}-wal`].sort());
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ code: ALARM.quarantined, since: at });
    expect(alarms[0]!.details).toMatchObject({ file: moved, code: 'SQLITE_NOTADB' });
    expect(alarms[0]!.message).toContain(moved);
    expect(b.alarms()).toEqual(alarms);
    expect(logger.errors).toHaveLength(1);
    expect(JSON.stringify(logger.errors[0])).toContain(moved);
    // fresh and usable
    expect(b.streams()).toEqual([]);
    expect((await b.append(rec('wx', 1))).sequence).toBe(1);
    expect(b.checkIntegrity().ok).toBe(true);
  });

  /** Opens and expects a refusal that names the file, leaving every byte and no quarantine behind. */
  function expectRefusedUntouched(b: RecordBuffer, file: string, code: string, reason: RegExp): void {
    const before = fs.readFileSync(file);
    const listing = fs.readdirSync(path.dirname(file)).sort();
    let caught: unknown;
    try {
      b.open();
    } catch (err) {
      caught = err;
    }
    expect(isSkyhaulError(caught), String(caught)).toBe(true);
    expect((caught as { code: string }).code).toBe(code);
    expect((caught as Error).message).toContain(file);
    expect((caught as Error).message).toMatch(reason);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(listing);
    expect(b.alarms()).toEqual([]);
  }

  it('invariant only-sqlite-corruption-quarantined: a newer schema version (a package downgrade) stops start-up, file untouched', async () => {
    const { file, b } = quarantineSetup();
    const first = openBuffer({ path: file });
    await Promise.all(range(1, 5).map((i) => first.append(rec('wx', i))));
    await first.close();
    withRaw(file, (db) => db.prepare(`UPDATE meta SET value = '7' WHERE key = 'schema_version'`).run());
    expectRefusedUntouched(b, file, 'SKY_ERR_BUFFER_INCOMPATIBLE', new RegExp(`schema version 7 was written by a newer Skyhaul; this build reads version ${SCHEMA_VERSION}`));
    // The backlog is still there for the newer build.
    withRaw(file, (db) => db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(SCHEMA_VERSION)));
    const again = openBuffer({ path: file });
    expect(sequencesOf(again, 'wx')).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses another program\'s SQLite file without touching it', () => {
    const { file, b } = quarantineSetup();
    withRaw(file, (db) => db.exec('CREATE TABLE something_else (x); INSERT INTO something_else VALUES (42)'));
    expectRefusedUntouched(b, file, 'SKY_ERR_BUFFER_INCOMPATIBLE', /not a Skyhaul buffer: table 'meta' is missing/);
    withRaw(file, (db) => expect(db.pragma('journal_mode', { simple: true })).toBe('delete'));
  });

  it('refuses a buffer whose cursors contradict its rows while SQLite finds the file intact', async () => {
    const { file, b } = quarantineSetup();
    const first = openBuffer({ path: file });
    await Promise.all(range(1, 5).map((i) => first.append(rec('wx', i))));
    await first.close();
    withRaw(file, (db) => db.prepare(`UPDATE streams SET next_sequence = 3 WHERE name = 'wx'`).run());
    // Rows 3..5 past the cursor would be inserts the row lags by (contract, "Stream rows"), but the
    // row already counts 5 records: 8 cannot fit in rows 1..5.
    expectRefusedUntouched(b, file, 'SKY_ERR_BUFFER_INCOMPATIBLE', /stream 'wx' counts 8 records, more than its rows 1\.\.5 can hold/);
  });

  it('refuses a file it may not write (permissions, immutable) without moving it', async () => {
    const { file, b } = quarantineSetup();
    const first = openBuffer({ path: file });
    await first.append(rec('wx', 1));
    await first.close();
    const root = process.getuid?.() === 0;
    // root ignores file modes, but not the immutable attribute.
    const lock = root ? spawnSync('chattr', ['+i', file]) : (fs.chmodSync(file, 0o444), { status: 0 });
    expect(lock.status).toBe(0);
    try {
      expectRefusedUntouched(b, file, 'SKY_ERR_BUFFER_ACCESS', /SQLITE_READONLY|SQLITE_CANTOPEN|EACCES|EPERM/);
    } finally {
      if (root) spawnSync('chattr', ['-i', file]);
      else fs.chmodSync(file, 0o644);
    }
  });

  it('opens read-only for the offline tools: a missing file is an error, nothing is written', async () => {
    const { file } = quarantineSetup();
    const missing = makeBuffer({ path: `${file}.typo`, readOnly: true });
    expect(() => missing.open()).toThrow(/no buffer file at .*b\.db\.typo/);
    expect(fs.existsSync(`${file}.typo`)).toBe(false);
    const first = openBuffer({ path: file });
    await Promise.all(range(1, 3).map((i) => first.append(rec('wx', i))));
    await first.close();
    const before = fs.readFileSync(file);
    const reader = openBuffer({ path: file, readOnly: true });
    expect(sequencesOf(reader, 'wx')).toEqual([1, 2, 3]);
    expect(reader.checkIntegrity().ok).toBe(true);
    await expect(reader.append(rec('wx', 4))).rejects.toThrow(/read-only/);
    expect(() => reader.ack('wx', 1)).toThrow(/read-only/);
    await reader.close();
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('quarantines a truncated file', async () => {
    const { file, alarms, b } = quarantineSetup();
    const first = openBuffer({ path: file });
    await Promise.all(range(1, 2000).map((i) => first.append(rec(`s${i % 5}`, i, 200))));
    await first.close();
    const size = fs.statSync(file).size;
    fs.truncateSync(file, Math.floor(size / 3));
    b.open();
    expect(alarms.map((a) => a.code)).toEqual([ALARM.quarantined]);
    expect(b.stats().records).toBe(0);
  });

  it('invariant single-writer: a second buffer on the same file fails to open and quarantines nothing', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'b.db');
    const owner = openBuffer({ path: file });
    await owner.append(rec('wx', 1));
    const intruder = makeBuffer({ path: file });
    let caught: unknown;
    try {
      intruder.open();
    } catch (err) {
      caught = err;
    }
    expect(isSkyhaulError(caught, 'SKY_ERR_USAGE')).toBe(true);
    expect((caught as Error).message).toContain('in use by another process');
    expect(fs.readdirSync(dir).filter((f) => f.includes('quarantined') || f.includes('preopen'))).toEqual([]);
    expect((await owner.append(rec('wx', 2))).sequence).toBe(2);
    expect(intruder.alarms()).toEqual([]);
  });
});

describe('start-up', () => {
  it('invariant bounded-startup: open()+streams()+stats() over a 1,000,000-record backlog take a small fraction of writing it', async () => {
    const file = path.join(tempDir(), 'big.db');
    const build = performance.now();
    const writer = new RecordBuffer({ path: file, siteId: 'big', disk: null, synchronous: 'OFF', groupCommit: { maxRecords: 25_000, maxDelayMs: 0 } });
    writer.open();
    const total = 1_000_000;
    const streams = 20;
    const payload = Buffer.alloc(16, 7);
    for (let i = 0; i < total; i += 25_000) {
      const batch: Array<Promise<unknown>> = [];
      for (let k = i; k < i + 25_000; k++) batch.push(writer.append({ stream: `site/instrument-${k % streams}`, payload }));
      await Promise.all(batch);
    }
    await writer.close();
    const buildMs = performance.now() - build;

    const t0 = performance.now();
    const b = new RecordBuffer({ path: file, siteId: 'big', disk: null });
    b.open();
    const state = b.streams();
    const stats = b.stats();
    const openMs = performance.now() - t0;
    console.log(`[buffer] 1M-record backlog: open()+streams()+stats() ${openMs.toFixed(1)} ms (built in ${(buildMs / 1000).toFixed(1)} s, ${(fs.statSync(file).size / 1e6).toFixed(0)} MB)`);
    try {
      expect(stats.records).toBe(total);
      expect(state).toHaveLength(streams);
      expect(state.every((s) => s.records === total / streams && s.nextSequence === total / streams + 1 && s.oldestIngestTime !== null)).toBe(true);
      // Opening reads per-stream state, not the backlog: a small fraction of what writing the
      // backlog took in the same process (a ratio, so a loaded machine slows both sides alike).
      // Reading all 1M records back would cost about as much as writing them.
      expect(openMs).toBeLessThan(buildMs / 10);
      // and the first read of a stream is immediate too
      const r0 = performance.now();
      expect(b.read('site/instrument-7', 0, 100)).toHaveLength(100);
      expect(performance.now() - r0).toBeLessThan(buildMs / 100);
    } finally {
      await b.close();
    }
    // open() touched no records: one page read per stream head/tail at most (no COUNT(*)).
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare('SELECT sum(records) FROM streams').pluck().get()).toBe(total);
    } finally {
      db.close();
    }
  }, 60_000);
});
