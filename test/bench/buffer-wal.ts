/**
 * What a group commit costs with many streams: the buffer (RecordBuffer, synchronous FULL, its
 * own group commit) fed `--rate` records/s spread over `--streams` streams for `--seconds`, in
 * appends of 16 records, by this one process. Prints the CPU per record (this process, every
 * thread), the main thread's share of it (event loop utilization: what is left for receiving and
 * decoding is 1 minus it), the event loop delay p99/max, and, in a second run with SQLite's
 * automatic checkpoint off so the WAL keeps every frame, the WAL bytes written per record (and the
 * commit latency without checkpoints).
 * `--writer-thread false` keeps SQLite on the main thread (BufferOptions.writerThread).
 *
 * usage: npx tsx test/bench/buffer-wal.ts [--streams 1245] [--rate 30000] [--seconds 8] [--writer-thread true|false]
 *
 * The default matches the simulator's `large` profile (1,245 streams, about 30,000 records/s).
 * Absolute figures move with the machine's load: compare runs made one after the other.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Connection } from '../../src/buffer/connection.ts';
import { RecordBuffer, type CommitInfo } from '../../src/buffer/index.ts';
import { parseArgsOrExit } from './util.ts';

interface WalRun {
  records: number;
  cpuUsPerRecord: number;
  /** Main thread busy, µs per record (event loop utilization × wall time / records). */
  mainUsPerRecord: number;
  loopDelayP99Ms: number;
  /** append → durable, per record (the 'committed' event's latencies), ms. */
  commitP50Ms: number;
  commitP99Ms: number;
  loopDelayMaxMs: number;
  walBytesPerRecord: number | null;
}

async function run(options: { streams: number; rate: number; seconds: number; keepWal: boolean; writerThread: boolean }): Promise<WalRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skyhaul-buffer-wal-'));
  try {
    const b = new RecordBuffer({ path: path.join(dir, 'buffer.sqlite'), siteId: 'wal', disk: null, synchronous: 'FULL', writerThread: options.writerThread });
    b.open();
    // The bench reaches into the connection only to stop the automatic checkpoint (WAL size = bytes written).
    if (options.keepWal) (b as unknown as { conn: Connection }).conn.pragma('wal_autocheckpoint = 0');
    const payload = Buffer.from('Q,229,000.04,M,+344.72,00,\r\n0123456789012345678901');
    const names = Array.from({ length: options.streams }, (_, i) => `site/instrument-${i}`);
    for (let i = 0; i < names.length; i += 500) await b.appendBatch(names.slice(i, i + 500).map((stream) => ({ stream, payload })));
    const walBefore = fs.statSync(path.join(dir, 'buffer.sqlite-wal')).size;
    const latencies: number[] = [];
    b.on('committed', (_streams: string[], info: CommitInfo) => {
      for (const l of info.latenciesMs) latencies.push(l);
    });
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    let sent = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (performance.now() - t0 < options.seconds * 1000) {
      const due = Math.floor(((performance.now() - t0) / 1000) * options.rate);
      const batch: Array<{ stream: string; payload: Buffer }> = [];
      // A fixed stride over the streams: every commit touches as many distinct streams as it holds records.
      for (; sent < due; sent++) batch.push({ stream: names[(sent * 7919) % names.length] as string, payload });
      for (let i = 0; i < batch.length; i += 16) {
        const p = b.appendBatch(batch.slice(i, i + 16)).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await Promise.all(inFlight);
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    delay.disable();
    const wal = fs.statSync(path.join(dir, 'buffer.sqlite-wal')).size;
    await b.close();
    return {
      records: sent,
      cpuUsPerRecord: (cpu.user + cpu.system) / sent,
      mainUsPerRecord: (elu.active * 1000) / sent,
      loopDelayP99Ms: delay.percentile(99) / 1e6,
      commitP50Ms: percentile(latencies, 0.5),
      commitP99Ms: percentile(latencies, 0.99),
      loopDelayMaxMs: delay.max / 1e6,
      walBytesPerRecord: options.keepWal ? (wal - walBefore) / sent : null,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(values: number[], p: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

async function main(): Promise<void> {
  const args = parseArgsOrExit(
    process.argv.slice(2),
    { streams: 'number', rate: 'number', seconds: 'number', 'writer-thread': 'string' },
    'npx tsx test/bench/buffer-wal.ts',
  );
  const writerThread = args['writer-thread'] !== 'false';
  const options = { streams: Number(args.streams ?? 1245), rate: Number(args.rate ?? 30_000), seconds: Number(args.seconds ?? 8), writerThread };
  const normal = await run({ ...options, keepWal: false });
  const keepWal = await run({ ...options, keepWal: true });
  const f = (x: number): string => x.toFixed(1);
  process.stdout.write(
    `${options.streams} streams, ${options.rate} records/s offered, ${options.seconds} s: ${normal.records} records, ` +
      `writer ${writerThread ? 'thread' : 'on the main thread'}, ` +
      `CPU ${f(normal.cpuUsPerRecord)} µs/record (main thread ${f(normal.mainUsPerRecord)}), event loop delay p99 ${f(normal.loopDelayP99Ms)} ms (max ${f(normal.loopDelayMaxMs)}), ` +
      `commit p50 ${f(normal.commitP50Ms)} / p99 ${f(normal.commitP99Ms)} ms; ` +
      `WAL ${f(keepWal.walBytesPerRecord as number)} B/record (checkpoint off; CPU ${f(keepWal.cpuUsPerRecord)} µs/record, ` +
      `commit p50 ${f(keepWal.commitP50Ms)} / p99 ${f(keepWal.commitP99Ms)} ms)\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`buffer-wal failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
