/**
 * Probe for a design not built yet: would a second connection that checkpoints beside the writer
 * take SQLite's checkpoint off the commit path? (`buffer-wal.ts` shows the checkpoint sets the
 * commit p99.) Raw better-sqlite3 on the buffer's append-log table (RECORDS_DDL), not the buffer:
 * a writer process commits whatever is due (a group commit) at `--rate` records/s over `--streams`
 * streams, synchronous FULL, 4 MiB cache, for `--seconds`, in one of two modes:
 *
 * - `exclusive`: today's buffer. locking_mode EXCLUSIVE, automatic checkpoint every 8 MiB of WAL,
 *   run inside the COMMIT that crosses it.
 * - `checkpointer`: locking_mode NORMAL (a -shm file), no automatic checkpoint. A second process
 *   runs wal_checkpoint(PASSIVE) every 50 ms, beside the writer. (The two are processes, not
 *   threads: tsx's loader does not reach worker threads on Node 20; SQLite's locking is the same.) PASSIVE alone never lets the WAL
 *   restart while commits keep coming (in a first try it grew to 1.2 GB in 15 s), so the writer
 *   also runs one PASSIVE checkpoint itself after about 8 MiB of WAL: the other thread has copied
 *   most frames by then, and the writer's next transaction restarts the WAL from its start.
 *
 * Prints, per mode, the wait of each commit's oldest record (due → committed) p50 / p99 / max,
 * and the WAL file's largest size. Not part of `npm run bench`: a design probe.
 *
 * usage: npx tsx test/bench/wal-checkpointer.ts [--streams 1245] [--rate 30000] [--seconds 15] [--runs 2]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { RECORDS_DDL } from '../../src/buffer/migrations/003-append-log.ts';
import { TSX_LOADER } from '../support/daemon.ts';
import { parseArgsOrExit, percentile, sleep } from './util.ts';

type Mode = 'exclusive' | 'checkpointer';

interface Options {
  streams: number;
  rate: number;
  seconds: number;
}

interface WriterResult {
  records: number;
  commits: number;
  waitP50Ms: number;
  waitP99Ms: number;
  waitMaxMs: number;
  walMaxMb: number;
}

const PAGE_SIZE = 2048;
const CHECKPOINT_WAL_BYTES = 8 << 20;
/** WAL bytes per record with 1,245 streams (`buffer-wal.ts`): when the writer's own checkpoint is due. */
const WAL_BYTES_PER_RECORD = 2650;
const CHECKPOINTER_INTERVAL_MS = 50;

type Job = { role: 'writer'; mode: Mode; file: string; options: Options } | { role: 'checkpointer'; file: string };

function writer(job: Extract<Job, { role: 'writer' }>): WriterResult {
  const { mode, file, options } = job;
  const db = new Database(file);
  db.pragma(`locking_mode = ${mode === 'exclusive' ? 'EXCLUSIVE' : 'NORMAL'}`);
  db.pragma('synchronous = FULL');
  db.pragma('cache_size = -4096');
  db.pragma(`wal_autocheckpoint = ${mode === 'exclusive' ? CHECKPOINT_WAL_BYTES / PAGE_SIZE : 0}`);
  const insert = db.prepare(
    'INSERT INTO records (stream_id, sequence, ingest_time, source_time, size, crc, content_type, schema_ref, traceparent, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const sequences = new Int32Array(options.streams);
  const payload = Buffer.from('Q,229,000.04,M,+344.72,00,\r\n0123456789012345678901');
  const commit = db.transaction((n: number, first: number) => {
    for (let i = 0; i < n; i++) {
      // A fixed stride over the streams: every commit touches as many streams as it holds records.
      const s = ((first + i) * 7919) % options.streams;
      insert.run(s, ++sequences[s]!, Date.now(), null, payload.length, 0, 'text/plain', null, '00-0-0-00', payload);
    }
  });
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const waits: number[] = [];
  let walMax = 0;
  let walSinceCheckpoint = 0;
  let sent = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < options.seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * options.rate);
    const n = due - sent;
    if (n === 0) {
      Atomics.wait(pause, 0, 0, 1);
      continue;
    }
    const oldestDueAt = t0 + ((sent + 1) / options.rate) * 1000;
    commit(n, sent);
    sent = due;
    waits.push(performance.now() - oldestDueAt);
    walMax = Math.max(walMax, statSync(`${file}-wal`).size);
    walSinceCheckpoint += n * WAL_BYTES_PER_RECORD;
    if (mode === 'checkpointer' && walSinceCheckpoint > CHECKPOINT_WAL_BYTES) {
      walSinceCheckpoint = 0;
      db.pragma('wal_checkpoint(PASSIVE)');
    }
  }
  db.close();
  return { records: sent, commits: waits.length, waitP50Ms: percentile(waits, 50), waitP99Ms: percentile(waits, 99), waitMaxMs: percentile(waits, 100), walMaxMb: walMax / 2 ** 20 };
}

async function checkpointer(file: string): Promise<void> {
  const db = new Database(file);
  db.pragma('locking_mode = NORMAL');
  db.pragma('synchronous = FULL');
  let stopping = false;
  process.once('SIGTERM', () => (stopping = true));
  while (!stopping) {
    await sleep(CHECKPOINTER_INTERVAL_MS);
    db.pragma('wal_checkpoint(PASSIVE)');
  }
  db.close();
}

async function runMode(mode: Mode, options: Options): Promise<WriterResult> {
  const dir = mkdtempSync(join(tmpdir(), 'skyhaul-wal-checkpointer-'));
  const file = join(dir, 'buffer.sqlite');
  try {
    const db = new Database(file);
    db.pragma(`page_size = ${PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    db.exec(RECORDS_DDL);
    db.close();
    const start = (job: Job): ReturnType<typeof spawn> =>
      spawn(process.execPath, ['--import', TSX_LOADER, fileURLToPath(import.meta.url)], {
        env: { ...process.env, SKYHAUL_PROBE_JOB: JSON.stringify(job) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    const background = mode === 'checkpointer' ? start({ role: 'checkpointer', file }) : null;
    const backgroundExit = background === null ? Promise.resolve() : new Promise<void>((resolve) => background.once('exit', () => resolve()));
    const result = await new Promise<WriterResult>((resolve, reject) => {
      const w = start({ role: 'writer', mode, file, options });
      let out = '';
      w.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      w.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as WriterResult) : reject(new Error(`writer exited with ${code}`))));
    });
    background?.kill('SIGTERM');
    await backgroundExit;
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgsOrExit(process.argv.slice(2), { streams: 'number', rate: 'number', seconds: 'number', runs: 'number' }, 'npx tsx test/bench/wal-checkpointer.ts');
  const options: Options = { streams: Number(args.streams ?? 1245), rate: Number(args.rate ?? 30_000), seconds: Number(args.seconds ?? 15) };
  const f = (x: number): string => x.toFixed(1);
  for (let run = 0; run < Number(args.runs ?? 2); run++) {
    for (const mode of ['exclusive', 'checkpointer'] as const) {
      const r = await runMode(mode, options);
      process.stdout.write(
        `${mode}: ${r.records} records in ${r.commits} commits (${options.streams} streams, ${options.rate}/s, ${options.seconds} s); ` +
          `oldest record's wait p50 ${f(r.waitP50Ms)} / p99 ${f(r.waitP99Ms)} / max ${f(r.waitMaxMs)} ms; WAL at most ${f(r.walMaxMb)} MB\n`,
      );
    }
  }
}

const probeJob = process.env.SKYHAUL_PROBE_JOB;
if (probeJob === undefined) {
  main().catch((error: unknown) => {
    process.stderr.write(`wal-checkpointer failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
} else {
  const job = JSON.parse(probeJob) as Job;
  if (job.role === 'writer') process.stdout.write(JSON.stringify(writer(job)));
  else void checkpointer(job.file);
}
