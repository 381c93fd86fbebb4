/**
 * The broker's own baseline: pulsar-perf produce (pulsar-testclient, the Java client over the
 * binary protocol) against the same edge broker, in the same run.
 *
 * How it is launched: pulsar-testclient 4.x has no per-command main class; its entry point is
 * `org.apache.pulsar.testclient.PulsarPerfTestTool <client.conf> produce …`, and registering its
 * commands loads the managed-ledger classes, which only the broker's class path has. So the class
 * path is `.stack/pulsar-perf.classpath` followed by `.stack/pulsar-broker.classpath` (perf first,
 * so its 4.0.8 client wins), and the config file is an empty temp file.
 *
 * What is measured: pulsar-perf's "Aggregated throughput" divides by a time that includes its
 * final stats wait, so the figure here is taken from its own log instead: messages / (time the
 * producers were created → time the last producer closed). close() waits until every pending
 * message is persisted, so that interval covers all N acknowledged sends, and excludes JVM start.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackDir } from '../../packaging/dev-stack/stack.ts';
import { CpuMeter, stackPid, type Cleanup } from './util.ts';

export interface PerfResult {
  batching: boolean;
  messages: number;
  messageBytes: number;
  seconds: number;
  recordsPerSecond: number;
  /** pulsar-perf's own "Aggregated throughput" msg/s (its denominator includes idle time). */
  reportedRecordsPerSecond: number;
  /** pulsar-perf's own mean/p99 publish latency, ms. */
  latencyMeanMs: number | null;
  latencyP99Ms: number | null;
  wallSeconds: number;
  topic: string;
  args: string[];
  /** Average cores over pulsar-perf's whole run (JVM start included): the edge and central brokers. */
  cpuCores: Record<string, number>;
}

/** `HH:MM:SS,mmm` of a log4j line → ms since midnight (the test never spans midnight twice). */
function lineTime(line: string): number | null {
  const m = /T(\d\d):(\d\d):(\d\d),(\d{3})/.exec(line);
  if (m === null) return null;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]);
}

export function perfClasspath(): string {
  const perf = readFileSync(join(stackDir, 'pulsar-perf.classpath'), 'utf8').trim();
  const broker = readFileSync(join(stackDir, 'pulsar-broker.classpath'), 'utf8').trim();
  return `${perf}:${broker}`;
}

export async function runPulsarPerf(
  options: { serviceUrl: string; adminUrl: string; topic: string; messages: number; messageBytes: number; batching: boolean; maxOutstanding: number; timeoutMs?: number },
  cleanup: Cleanup,
): Promise<PerfResult> {
  const dir = mkdtempSync(join(tmpdir(), 'skyhaul-bench-perf-'));
  const conf = join(dir, 'client.conf');
  writeFileSync(conf, '');
  const args = [
    '-u', options.serviceUrl,
    '-au', options.adminUrl,
    // pulsar-perf rejects rate 0; a rate far above what one broker takes means "as fast as it can".
    '-r', '10000000',
    '-s', String(options.messageBytes),
    '-m', String(options.messages),
    '-o', String(options.maxOutstanding),
    '-i', '0',
    ...(options.batching ? [] : ['--disable-batching']),
    options.topic,
  ];
  const javaArgs = ['-Xms256m', '-Xmx1g', '-cp', perfClasspath(), 'org.apache.pulsar.testclient.PulsarPerfTestTool', conf, 'produce', ...args];
  const t0 = performance.now();
  const cpu = new CpuMeter({ edgeBroker: stackPid(stackDir, 'pulsar-edge'), centralBroker: stackPid(stackDir, 'pulsar-central') }).start();
  const chunks: Buffer[] = [];
  const child = spawn('java', javaArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  const remove = cleanup.add('pulsar-perf', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  // Once the producer has closed (every message persisted), pulsar-perf only idles until its
  // stats thread wakes; SIGTERM runs its shutdown hook, which prints the aggregated figures now.
  let closedSeen = false;
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    if (!closedSeen && chunk.toString('utf8').includes('Closed Producer')) {
      closedSeen = true;
      setTimeout(() => child.kill('SIGTERM'), 300).unref();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    // The JVM exits with 143 on SIGTERM: expected once the producer has closed.
    child.once('exit', (exitCode, signal) => resolve(closedSeen && (exitCode === 143 || signal === 'SIGTERM') ? 0 : exitCode));
  });
  clearTimeout(timer);
  await remove();
  const cpuCores = cpu.stop();
  const wallSeconds = (performance.now() - t0) / 1000;
  const output = Buffer.concat(chunks).toString('utf8');
  try {
    const lines = output.split('\n').filter((l) => !l.includes(' DEBUG '));
    const created = lines.find((l) => /Created \d+ producers/.test(l));
    const closed = lines.filter((l) => /Closed Producer/.test(l)).pop();
    const failed = lines.find((l) => /failure\s+[1-9]|Got error|Exception in thread/.test(l));
    if (code !== 0 || created === undefined || closed === undefined || failed !== undefined) {
      const tail = lines.slice(-25).join('\n');
      throw new Error(`pulsar-perf failed (exit ${code}):\n${tail}`);
    }
    let ms = lineTime(closed)! - lineTime(created)!;
    if (ms < 0) ms += 24 * 3600 * 1000;
    // pulsar-perf can send more than -m (its loop overshoots by up to the outstanding window), so
    // the message count is the one it reports as sent (it matches the topic's entriesAddedCounter).
    const aggregated = lines.find((l) => l.includes('Aggregated throughput stats'));
    const sent = aggregated === undefined ? null : Number(/---\s+(\d+) records sent/.exec(aggregated)?.[1] ?? Number.NaN);
    if (sent === null || !Number.isFinite(sent) || sent < options.messages) throw new Error(`pulsar-perf did not report its sent count (${String(sent)}):\n${lines.slice(-10).join('\n')}`);
    const reported = Number(/---\s+([\d.]+) msg\/s/.exec(aggregated!)?.[1] ?? Number.NaN);
    const latency = lines.find((l) => l.includes('Aggregated latency stats'));
    // Its latency histogram is empty (all zeros) when batching: report null rather than 0.
    const mean = latency === undefined || /mean:\s+0\.000/.test(latency) ? null : Number(/mean:\s+([\d.]+)/.exec(latency)?.[1] ?? Number.NaN);
    const p99 = mean === null || latency === undefined ? null : Number(/99pct:\s+([\d.]+)/.exec(latency)?.[1] ?? Number.NaN);
    return {
      batching: options.batching,
      messages: sent,
      messageBytes: options.messageBytes,
      seconds: ms / 1000,
      recordsPerSecond: sent / (ms / 1000),
      reportedRecordsPerSecond: reported,
      latencyMeanMs: mean,
      latencyP99Ms: p99,
      wallSeconds,
      topic: options.topic,
      args,
      cpuCores,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Waits until the edge has replicated `topics` to central (replication backlog 0), so that one
 * broker measurement does not pay for the geo-replication of the previous one. Returns ms waited.
 */
export async function waitReplicated(adminUrl: string, topics: string[], timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  const deadline = Date.now() + timeoutMs;
  for (const topic of topics) {
    const path = topic.replace('://', '/');
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${adminUrl}/admin/v2/${path}/stats`, { signal: AbortSignal.timeout(5000) });
        const stats = (await res.json()) as { replication?: Record<string, { replicationBacklog?: number }> };
        const backlog = Object.values(stats.replication ?? {}).reduce((sum, r) => sum + (r.replicationBacklog ?? 0), 0);
        if (res.ok && backlog === 0) break;
      } catch {
        // broker busy: ask again
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  return performance.now() - t0;
}
