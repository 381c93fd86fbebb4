/**
 * Backlog figures with the bundled daemon as a child process:
 *  - drain: a backlog built in the daemon's buffer file, then the daemon started with forwarding
 *    to the edge Pulsar (the WebSocket or the binary transport), records/s until status shows
 *    backlog 0;
 *  - the large backlog (default 5,000,000 records): peak RSS while the daemon opens it, holds it
 *    and drains part of it, and restart-to-ready times on it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { repoRoot, stackDir } from '../../packaging/dev-stack/stack.ts';
import { startDaemon, TSX_LOADER, type DaemonHandle, type DaemonStatus } from '../support/daemon.ts';
import { CpuMeter, log, RssSampler, sleep, stackPid, type Cleanup } from './util.ts';

const MAKE_BACKLOG = join(repoRoot, 'test/daemon/fixtures/make-backlog.ts');

/**
 * Fills `file` with `records` 200-byte records over `streams` streams through the buffer's own
 * API (test/daemon/fixtures/make-backlog.ts: synchronous OFF, large group commits), in a child.
 */
export async function buildBacklog(file: string, site: string, records: number, streams: number): Promise<{ ms: number }> {
  mkdirSync(join(file, '..'), { recursive: true });
  const t0 = performance.now();
  await promisify(execFile)(process.execPath, ['--import', TSX_LOADER, MAKE_BACKLOG, file, site, String(records), String(streams)], {
    encoding: 'utf8',
    timeout: 1_200_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return { ms: performance.now() - t0 };
}

async function statusOrNull(daemon: DaemonHandle): Promise<DaemonStatus | null> {
  try {
    return await daemon.status();
  } catch {
    return null;
  }
}

export interface DrainResult {
  backlog: number;
  streams: number;
  /** Records forwarded between the first status reading and backlog 0. */
  measuredRecords: number;
  seconds: number;
  recordsPerSecond: number;
  buildSeconds: number;
  topic: string;
  transport: string;
  /** Average cores used while draining: the daemon, the edge broker (incl. its WebSocket proxy), central (replication). */
  cpuCores: Record<string, number>;
  daemonRssMbPeak: number;
}

/** The Pulsar transports the drain is measured with (`forward.transport`). */
export type DrainTransport = 'websocket' | 'binary';

function forwardConfig(edgeHttp: string, edgeServiceUrl: string, transport: DrainTransport): Record<string, unknown> {
  return { url: edgeHttp, serviceUrl: edgeServiceUrl, transport, target: 'site' };
}

export async function measureDrain(
  options: { dir: string; site: string; backlog: number; streams: number; edgeHttp: string; edgeServiceUrl: string; transport: DrainTransport; namespace: string; timeoutMs: number },
  cleanup: Cleanup,
): Promise<DrainResult> {
  const dir = join(options.dir, 'drain');
  const file = join(dir, 'data', 'buffer.sqlite');
  const built = await buildBacklog(file, options.site, options.backlog, options.streams);
  log(`drain: backlog of ${options.backlog} built in ${(built.ms / 1000).toFixed(1)} s; starting the daemon with forwarding`);
  const daemon = await startDaemon({
    dir,
    config: { site: { id: options.site }, logging: { level: 'warn' }, forward: forwardConfig(options.edgeHttp, options.edgeServiceUrl, options.transport) },
    wait: false,
  });
  const stop = cleanup.add('drain daemon', async () => {
    await daemon.kill('SIGKILL');
  });
  const rss = new RssSampler(() => daemon.process.pid).start();
  let cpu: CpuMeter | null = null;
  try {
    let first: { at: number; records: number } | null = null;
    let lastAt = 0;
    let transport = 'unknown';
    const deadline = Date.now() + options.timeoutMs;
    while (Date.now() < deadline) {
      if (daemon.process.exitCode !== null) throw new Error(`drain daemon exited:\n${daemon.log().slice(-2000)}`);
      const status = await statusOrNull(daemon);
      const at = performance.now();
      if (status !== null) {
        transport = String((status.transport as { kind?: string } | null)?.kind ?? status.transport ?? transport);
        if (first === null) {
          first = { at, records: status.backlog.records };
          cpu = new CpuMeter({ daemon: daemon.process.pid, edgeBroker: stackPid(stackDir, 'pulsar-edge'), centralBroker: stackPid(stackDir, 'pulsar-central') }).start();
        }
        lastAt = at;
        if (status.backlog.records === 0) break;
      }
      await sleep(100);
    }
    if (first === null) throw new Error(`drain daemon never answered:\n${daemon.log().slice(-2000)}`);
    const cpuCores = cpu?.stop() ?? {};
    rss.stop();
    const last = await daemon.status();
    if (last.backlog.records !== 0) throw new Error(`drain did not finish within ${options.timeoutMs} ms: ${last.backlog.records} records left (link ${JSON.stringify(last.link)})`);
    const seconds = (lastAt - first.at) / 1000;
    return {
      backlog: options.backlog,
      streams: options.streams,
      measuredRecords: first.records,
      seconds,
      recordsPerSecond: first.records / seconds,
      buildSeconds: built.ms / 1000,
      topic: `persistent://${options.namespace}/${options.site}`,
      transport,
      cpuCores,
      daemonRssMbPeak: rss.peakMb,
    };
  } finally {
    rss.stop();
    await daemon.kill('SIGTERM');
    await stop();
  }
}

export interface BigBacklogResult {
  backlog: number;
  streams: number;
  buildSeconds: number;
  rssMbPeak: number;
  rssMbPeakHolding: number;
  rssMbPeakDraining: number;
  rssSamples: number;
  /** The first start on the freshly built file (its pages are likely still in the page cache). */
  firstStart: { harnessReadyMs: number; bufferOpenMs: number; readyMs: number };
  /** Spawn → /readyz 200 as the harness sees it (25 ms polling), per restart (kill -9, then start). */
  restartReadyMs: number[];
  /** The daemon's own startup.readyMs (process start → ready), per restart. */
  startupReadyMs: number[];
  bufferOpenMs: number[];
  /** Forwarded while draining for `drainSeconds` (informational). */
  drainedRecords: number;
  drainSeconds: number;
  /** Slowest /api/v1/status answer while holding and after restarts, and how many took > 5 s. */
  statusMaxMs: number;
  statusTimeouts: number;
  /** buffer.quota the daemon ran with (large enough to hold the whole backlog). */
  quota: string;
}

/**
 * 1. build the backlog; 2. start the daemon with forwarding off (holds the backlog), sampling
 * RSS every 100 ms; 3. `restarts` × (kill -9, start, wait for /readyz); 4. restart with
 * forwarding on and keep sampling while it drains for `drainMs`.
 */
export async function measureBigBacklog(
  options: { dir: string; site: string; backlog: number; streams: number; edgeHttp: string; edgeServiceUrl: string; transport: DrainTransport; restarts: number; holdMs: number; drainMs: number },
  cleanup: Cleanup,
): Promise<BigBacklogResult> {
  const dir = join(options.dir, 'big-backlog');
  const file = join(dir, 'data', 'buffer.sqlite');
  log(`big backlog: building ${options.backlog} records over ${options.streams} streams (5M takes a few minutes)`);
  const built = await buildBacklog(file, options.site, options.backlog, options.streams);
  log(`big backlog: built in ${(built.ms / 1000).toFixed(1)} s`);

  // The fixture writes with a 64 GiB quota; 5M records of 200 B are ~1.6 GB accounted, more than
  // the default 1 GiB. Give the daemon room to hold them all: with the default quota its first
  // append (the self-test canary, 2 s after start) evicts ~1.7M records in one transaction.
  const quota = `${Math.max(1, Math.ceil((options.backlog * 1000) / 1024 ** 3))}GiB`;
  const holdConfig = { site: { id: options.site }, logging: { level: 'warn' }, buffer: { quota }, forward: { enabled: false } };
  const daemon = await startDaemon({ dir, config: holdConfig, wait: false });
  const stop = cleanup.add('big-backlog daemon', async () => {
    await daemon.kill('SIGKILL');
  });
  const holding = new RssSampler(() => daemon.process.pid).start();
  const restartReadyMs: number[] = [];
  const startupReadyMs: number[] = [];
  const bufferOpenMs: number[] = [];
  // Status latency while holding/restarting: a stalled event loop shows here first.
  const statusMs: number[] = [];
  let statusTimeouts = 0;
  const timedStatus = async (): Promise<DaemonStatus | null> => {
    const t0 = performance.now();
    try {
      const status = await daemon.status();
      statusMs.push(performance.now() - t0);
      return status;
    } catch {
      statusTimeouts += 1;
      return null;
    }
  };
  const startupOf = (status: DaemonStatus): { bufferOpenMs: number; readyMs: number } => status.startup as { bufferOpenMs: number; readyMs: number };
  try {
    const firstReadyMs = await daemon.waitReady(60_000);
    const status = await daemon.status();
    // >=: the daemon's self-test may already have added its canary record.
    if (status.backlog.records < options.backlog) throw new Error(`daemon shows ${status.backlog.records} records, expected ${options.backlog}`);
    const firstStart = { harnessReadyMs: firstReadyMs, ...startupOf(status) };
    const holdUntil = Date.now() + options.holdMs;
    while (Date.now() < holdUntil) {
      await timedStatus(); // the status document walks every stream: part of holding a backlog
      await sleep(250);
    }
    for (let i = 0; i < options.restarts; i++) {
      await daemon.restart(); // SIGKILL, then a fresh process on the same buffer
      restartReadyMs.push(await daemon.waitReady(60_000));
      const startup = startupOf(await daemon.status());
      startupReadyMs.push(startup.readyMs);
      bufferOpenMs.push(startup.bufferOpenMs);
      // Past the self-test's first run (2 s after ready): the restarted daemon keeps answering.
      const settleUntil = Date.now() + 2500;
      while (Date.now() < settleUntil) {
        await timedStatus();
        await sleep(250);
      }
    }
    holding.stop();

    // Same buffer, forwarding on: the peak while reading and sending from the large backlog.
    const written = parse(readFileSync(daemon.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(daemon.configFile, stringify({ ...written, forward: forwardConfig(options.edgeHttp, options.edgeServiceUrl, options.transport) }));
    const draining = new RssSampler(() => daemon.process.pid);
    await daemon.restart();
    draining.start();
    await daemon.waitReady(60_000);
    const before = (await daemon.status()).backlog.records;
    const t0 = performance.now();
    await sleep(options.drainMs);
    const after = (await daemon.status()).backlog.records;
    const drainSeconds = (performance.now() - t0) / 1000;
    draining.stop();
    return {
      backlog: options.backlog,
      streams: options.streams,
      buildSeconds: built.ms / 1000,
      rssMbPeak: Math.max(holding.peakMb, draining.peakMb),
      rssMbPeakHolding: holding.peakMb,
      rssMbPeakDraining: draining.peakMb,
      rssSamples: holding.samples + draining.samples,
      firstStart,
      restartReadyMs,
      startupReadyMs,
      bufferOpenMs,
      drainedRecords: before - after,
      drainSeconds,
      statusMaxMs: Math.max(0, ...statusMs),
      statusTimeouts,
      quota,
    };
  } finally {
    holding.stop();
    await daemon.kill('SIGTERM');
    await stop();
  }
}

export interface EmptyStartResult {
  /** Spawn → /readyz 200 as the harness sees it, per start. */
  harnessReadyMs: number[];
  /** The daemon's own startup.readyMs, per start. */
  startupReadyMs: number[];
}

/**
 * The baseline for restart-to-ready: the same daemon (same config shape, forwarding off) started
 * `starts` times on an empty buffer. What the large backlog adds is the difference.
 */
export async function measureEmptyStart(options: { dir: string; site: string; starts: number }, cleanup: Cleanup): Promise<EmptyStartResult> {
  const harnessReadyMs: number[] = [];
  const startupReadyMs: number[] = [];
  for (let i = 0; i < options.starts; i++) {
    const dir = join(options.dir, `empty-start-${i}`);
    const daemon = await startDaemon({ dir, config: { site: { id: options.site }, logging: { level: 'warn' }, forward: { enabled: false } }, wait: false });
    const stop = cleanup.add('empty-start daemon', async () => {
      await daemon.kill('SIGKILL');
    });
    try {
      harnessReadyMs.push(await daemon.waitReady(60_000));
      startupReadyMs.push(((await daemon.status()).startup as { readyMs: number }).readyMs);
    } finally {
      await daemon.kill('SIGTERM');
      await stop();
    }
  }
  return { harnessReadyMs, startupReadyMs };
}
