/**
 * Chaos run against the real stack: the bundled daemon as a child process forwards through a
 * LinkSimulator to the edge Pulsar; pushers keep posting records to its HTTP push input (a record
 * is acknowledged when it is in a 200 response); a consumer on the CENTRAL Pulsar (geo-replicated
 * from the edge) collects the site's topic. A seeded schedule mixes link flaps (cuts of random
 * length), black holes longer than the daemon's deadLinkTimeout, and kill -9 + restart.
 *
 * At the end the link is restored, pushing stops, the daemon drains, the consumer settles, and
 * checkDelivery compares what central saw with what was acknowledged.
 *
 * usage: npm run chaos -- [--out FILE] [--minutes M] [--quick] [--seed N] [--no-build] [--transport websocket|binary]
 *
 * Exit status 1 when an acknowledged record was lost, or one was delivered twice or out of order.
 */
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { startDaemon, type DaemonHandle, type DaemonStatus } from '../support/daemon.ts';
import { checkDelivery } from '../support/delivery.ts';
import { LinkSimulator } from '../support/link-sim.ts';
import { Cleanup, log, mulberry32, parseArgsOrExit, prepareRun, randomSeed, sleep } from '../bench/util.ts';
import { ChaosConsumer } from './consumer.ts';
import { planChaos, type ChaosStep } from './schedule.ts';

export interface ChaosOptions {
  minutes?: number;
  quick?: boolean;
  seed?: number;
  out?: string;
  build?: boolean;
  /** The daemon's forward.deadLinkTimeout; black holes last longer than this. Default 5000. */
  deadLinkTimeoutMs?: number;
  /** The daemon's forward.transport. Default 'websocket'. */
  transport?: 'websocket' | 'binary';
}

/**
 * The site's uplink: one LinkSimulator per broker port the daemon uses (the web service, and the
 * binary protocol's port with the binary transport), every fault applied to all of them at once,
 * as a WAN cut would.
 */
class Uplink {
  constructor(readonly links: LinkSimulator[]) {}

  async flap(options: Parameters<LinkSimulator['flap']>[0]): Promise<Awaited<ReturnType<LinkSimulator['flap']>>> {
    // Same seed, same schedule: the links go down and up together (to within a timer tick).
    const [first] = await Promise.all(this.links.map((link) => link.flap(options)));
    return first!;
  }

  blackhole(): void {
    for (const link of this.links) link.blackhole();
  }

  restore(): void {
    for (const link of this.links) link.restore();
  }
}

export interface ChaosEventRecord {
  kind: ChaosStep['kind'];
  /** ms since the schedule started. */
  at: number;
  durationMs: number;
  details: Record<string, unknown>;
}

export interface ChaosResult {
  seed: number;
  site: string;
  topic: string;
  transport: 'websocket' | 'binary';
  quick: boolean;
  acknowledged: number;
  delivered_unique: number;
  lost: number;
  duplicates: number;
  out_of_order: number;
  received: number;
  link_cuts: number;
  blackholes: number;
  kills: number;
  duration_s: number;
  schedule_s: number;
  drain_s: number;
  blackhole_detection_ms: number | null;
  blackholes_undetected: number;
  /** Records in pushes that got no 200 (the daemon was killed or restarting): not acknowledged. */
  unacknowledged_pushed: number;
  /** Delivered records that were never acknowledged (committed just before a kill, say): allowed. */
  delivered_unacknowledged: number;
  consumer_redeliveries: number;
  consumer_reconnects: number;
  drops: Array<{ stream: string; reason: string; count: number }>;
  problems: string[];
  events: ChaosEventRecord[];
  loadavg_start: number[];
  passed: boolean;
}

const STREAMS = ['weather/wxt536', 'gps/time', 'cloud/sensor', 'ups/main', 'alarms/site', 'dome/status'];

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** POST with a keep-alive agent; resolves with the status and parsed body, rejects on socket errors. */
function postJson(agent: http.Agent, url: URL, body: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolvePost, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          try {
            resolvePost({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (error) {
            reject(error as Error);
          }
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('push timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

interface Pushers {
  acked: Map<string, number[]>;
  acknowledged(): number;
  unacknowledged(): number;
  stop(): Promise<void>;
}

/** `count` loops posting 1–20 records to a random stream, 5–40 ms apart, until stopped. */
function startPushers(daemon: DaemonHandle, count: number, seed: number): Pushers {
  const acked = new Map<string, number[]>();
  let acknowledged = 0;
  let unacknowledged = 0;
  let running = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: count });
  const url = new URL(`${daemon.url}/api/v1/inputs/push/records`);
  const loop = async (id: number): Promise<void> => {
    const rand = mulberry32((seed ^ Math.imul(id + 1, 0x9e3779b1)) >>> 0);
    let n = 0;
    while (running) {
      const stream = STREAMS[Math.floor(rand() * STREAMS.length)]!;
      const size = 1 + Math.floor(rand() * 20);
      const records = Array.from({ length: size }, (_, i) => ({ stream, payload: `p${id}-${n}-${i} ${'x'.repeat(100)}`, sourceTime: Date.now() }));
      n += 1;
      try {
        const res = await postJson(agent, url, JSON.stringify({ records }), 15_000);
        const committed = (res.body as { committed?: Array<{ stream?: string; sequence?: number }> }).committed ?? [];
        if (res.status === 200 && committed.length === size) {
          const list = acked.get(stream) ?? [];
          for (const c of committed) list.push(c.sequence as number);
          acked.set(stream, list);
          acknowledged += size;
        } else unacknowledged += size;
      } catch {
        // Killed or restarting: this batch is not acknowledged (it may still arrive; that is fine).
        unacknowledged += size;
        await sleep(100);
      }
      await sleep(5 + Math.floor(rand() * 36));
    }
  };
  const done = Promise.all(Array.from({ length: count }, (_, id) => loop(id)));
  return {
    acked,
    acknowledged: () => acknowledged,
    unacknowledged: () => unacknowledged,
    stop: async () => {
      running = false;
      await done;
      agent.destroy();
    },
  };
}

/** Polls the daemon's status and keeps every link state it reports (state, since), in order. */
class LinkWatcher {
  readonly states: Array<{ state: string; since: number; seenAt: number }> = [];
  last: DaemonStatus | null = null;
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly daemon: DaemonHandle) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const status = await this.daemon.status();
        this.last = status;
        const prev = this.states.at(-1);
        if (prev === undefined || prev.state !== status.link.state || prev.since !== status.link.since) {
          this.states.push({ state: status.link.state, since: status.link.since, seenAt: Date.now() });
        }
      } catch {
        // Daemon down (killed, restarting).
      }
      await sleep(100);
    }
  }

  /** First 'blackholed' state the daemon entered at or after `from` (ms since epoch). */
  blackholedSince(from: number): number | null {
    return this.states.find((s) => s.state === 'blackholed' && s.since >= from - 50)?.since ?? null;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const quick = options.quick === true;
  const seed = (options.seed ?? randomSeed()) >>> 0;
  const deadLinkTimeoutMs = options.deadLinkTimeoutMs ?? 5000;
  const scheduleMs = quick ? 40_000 : (options.minutes ?? 5) * 60_000;
  const plan = planChaos({ seed, durationMs: scheduleMs, deadLinkTimeoutMs, quick });
  log(`chaos: seed ${seed} (replay with --seed ${seed}${quick ? ' --quick' : ` --minutes ${options.minutes ?? 5}`}); ${plan.steps.length} events planned over ~${Math.round(plan.plannedMs / 1000)} s: ${plan.steps.map((s) => s.kind).join(', ')}`);
  const t0 = performance.now();
  const load0 = loadavg();
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const { dir, env } = await prepareRun(cleanup, 'skyhaul-chaos-', options.build !== false);

    const site = `chaos-${seed.toString(16)}-${Date.now().toString(36)}`;
    const topic = `persistent://${env.SKYHAUL_PULSAR_NAMESPACE}/${site}`;
    const consumer = await ChaosConsumer.open(env.SKYHAUL_PULSAR_CENTRAL_WS, topic, 'datacentre');
    cleanup.add('central consumer', () => consumer.close());
    const transport = options.transport ?? 'websocket';
    const webLink = new LinkSimulator({ target: hostPort(env.SKYHAUL_PULSAR_EDGE_HTTP) });
    const binaryLink = transport === 'binary' ? new LinkSimulator({ target: hostPort(env.SKYHAUL_PULSAR_EDGE_URL.replace('pulsar://', 'http://')) }) : null;
    const link = new Uplink(binaryLink === null ? [webLink] : [webLink, binaryLink]);
    for (const simulator of link.links) {
      await simulator.start();
      cleanup.add('link simulator', () => simulator.stop());
    }
    const daemon = await startDaemon({
      dir,
      config: {
        site: { id: site },
        forward: {
          url: `http://127.0.0.1:${webLink.port}`,
          ...(binaryLink === null ? {} : { serviceUrl: `pulsar://127.0.0.1:${binaryLink.port}` }),
          transport,
          deadLinkTimeout: `${deadLinkTimeoutMs}ms`,
          backoff: { initial: '100ms', max: '2s' },
        },
        inputs: [{ type: 'http', name: 'push' }],
      },
    });
    cleanup.add('daemon', async () => {
      await daemon.kill('SIGTERM');
    });
    log(`chaos: site ${site}, ${transport} transport, daemon ${daemon.url} → link :${link.links.map((l) => l.port).join(', :')} → edge ${env.SKYHAUL_PULSAR_EDGE_HTTP}${binaryLink === null ? '' : ` and ${env.SKYHAUL_PULSAR_EDGE_URL}`}; consumer on central`);
    const watcher = new LinkWatcher(daemon);
    cleanup.add('status watcher', () => watcher.stop());
    const pushers = startPushers(daemon, 4, seed);
    cleanup.add('pushers', () => pushers.stop());

    // ---- the schedule
    const events: ChaosEventRecord[] = [];
    const detections: number[] = [];
    let undetected = 0;
    let linkCuts = 0;
    let blackholes = 0;
    let kills = 0;
    const scheduleStart = performance.now();
    const since = (): number => Math.round(performance.now() - scheduleStart);
    const killAndRestart = async (downMs: number): Promise<number> => {
      await daemon.kill('SIGKILL');
      kills += 1;
      if (downMs > 0) await sleep(downMs);
      await daemon.restart();
      return daemon.waitReady(60_000);
    };
    for (const [i, step] of plan.steps.entries()) {
      await sleep(step.upMs);
      const at = since();
      const started = performance.now();
      let details: Record<string, unknown> = {};
      switch (step.kind) {
        case 'flap': {
          const result = await link.flap({ cuts: step.cuts, minUpMs: step.minUpMs, maxUpMs: step.maxUpMs, minDownMs: step.minDownMs, maxDownMs: step.maxDownMs, mode: 'cut', seed: step.seed });
          linkCuts += result.downPeriodsRun;
          details = { cuts: result.downPeriodsRun, periods: result.periods };
          break;
        }
        case 'blackhole': {
          const from = Date.now();
          link.blackhole();
          blackholes += 1;
          const end = from + step.durationMs;
          let detectedAt: number | null = null;
          let killed = false;
          let readyMs: number | null = null;
          while (Date.now() < end) {
            detectedAt ??= watcher.blackholedSince(from);
            if (step.killAfterDetection && !killed && (detectedAt !== null || Date.now() >= from + deadLinkTimeoutMs + 1500)) {
              killed = true;
              readyMs = await killAndRestart(0);
            }
            await sleep(50);
          }
          detectedAt ??= watcher.blackholedSince(from);
          link.restore();
          if (detectedAt === null) undetected += 1;
          else detections.push(detectedAt - from);
          details = { detectionMs: detectedAt === null ? null : detectedAt - from, killedDuringBlackhole: killed, ...(readyMs === null ? {} : { readyMs }) };
          break;
        }
        case 'kill': {
          const readyMs = await killAndRestart(step.downMs);
          details = { downMs: step.downMs, readyMs };
          break;
        }
      }
      const record = { kind: step.kind, at, durationMs: Math.round(performance.now() - started), details };
      events.push(record);
      log(`event ${i + 1}/${plan.steps.length} ${step.kind} at ${(at / 1000).toFixed(1)} s, ${record.durationMs} ms ${JSON.stringify(details)}; acknowledged so far ${pushers.acknowledged()}, consumer ${consumer.messages.length}`);
    }
    const scheduleSeconds = (performance.now() - scheduleStart) / 1000;

    // ---- the end: everything restored, drain, settle, compare
    link.restore();
    await sleep(1000);
    await pushers.stop();
    const acknowledged = pushers.acknowledged();
    log(`chaos: schedule done in ${scheduleSeconds.toFixed(1)} s; ${acknowledged} acknowledged, ${pushers.unacknowledged()} unacknowledged; draining`);
    const drainStart = performance.now();
    const drainDeadline = Date.now() + (quick ? 180_000 : 600_000);
    let backlog = Number.NaN;
    while (Date.now() < drainDeadline) {
      try {
        backlog = (await daemon.status()).backlog.records;
        if (backlog === 0) break;
      } catch {
        // not answering yet
      }
      await sleep(250);
    }
    const expected = new Map<string, Set<number>>([...pushers.acked].map(([stream, list]) => [stream, new Set(list)]));
    const covered = (): number => {
      let n = 0;
      const seen = new Map<string, Set<number>>();
      for (const m of consumer.messages) {
        const stream = m.properties.stream ?? m.key ?? '';
        const sequence = Number(m.properties.sequence);
        const set = seen.get(stream) ?? new Set<number>();
        seen.set(stream, set);
        if (!set.has(sequence) && expected.get(stream)?.has(sequence) === true) n += 1;
        set.add(sequence);
      }
      return n;
    };
    const settleDeadline = Date.now() + (quick ? 120_000 : 300_000);
    while (covered() < acknowledged && Date.now() < settleDeadline) await sleep(500);
    await sleep(3000); // late duplicates
    const drainSeconds = (performance.now() - drainStart) / 1000;
    const finalStatus = await daemon.status().catch(() => watcher.last);
    await watcher.stop();

    const report = checkDelivery(consumer.messages, pushers.acked);
    const result: ChaosResult = {
      seed,
      site,
      topic,
      transport,
      quick,
      acknowledged,
      delivered_unique: report.unique,
      lost: report.missing,
      duplicates: report.duplicates,
      out_of_order: report.outOfOrder,
      received: report.received,
      link_cuts: linkCuts,
      blackholes,
      kills,
      duration_s: (performance.now() - t0) / 1000,
      schedule_s: scheduleSeconds,
      drain_s: drainSeconds,
      blackhole_detection_ms: detections.length === 0 ? null : Math.max(...detections),
      blackholes_undetected: undetected,
      unacknowledged_pushed: pushers.unacknowledged(),
      delivered_unacknowledged: report.unique - (acknowledged - report.missing),
      consumer_redeliveries: consumer.redeliveries,
      consumer_reconnects: consumer.reconnects,
      drops: finalStatus?.drops ?? [],
      problems: report.problems,
      events,
      loadavg_start: load0,
      passed: report.missing === 0 && report.duplicates === 0 && report.outOfOrder === 0,
    };
    if (backlog !== 0) result.problems.push(`daemon backlog did not drain: ${backlog} records left`);
    printSummary(result);
    if (options.out !== undefined) {
      const out = resolve(options.out);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
      log(`wrote ${out}`);
    }
    if (!result.passed) {
      const kept = options.out === undefined ? null : `${resolve(options.out)}.daemon.log`;
      if (kept !== null) writeFileSync(kept, daemon.log());
      log(`daemon log${kept === null ? '' : ` kept in ${kept}`}; last lines:\n${daemon.log().split('\n').slice(-40).join('\n')}`);
    }
    return result;
  } finally {
    await cleanup.run();
  }
}

function printSummary(r: ChaosResult): void {
  const lines = [
    `chaos ${r.passed ? 'PASSED' : 'FAILED'}  seed ${r.seed}  (${r.quick ? 'quick' : 'full'}, ${r.transport} transport, ${r.duration_s.toFixed(0)} s: schedule ${r.schedule_s.toFixed(0)} s, drain + settle ${r.drain_s.toFixed(0)} s)`,
    `  events      ${r.link_cuts} link cuts, ${r.blackholes} black holes, ${r.kills} kills`,
    `  records     ${r.acknowledged} acknowledged, ${r.delivered_unique} delivered (unique), ${r.unacknowledged_pushed} pushed without acknowledgement`,
    `  delivery    lost ${r.lost}, duplicates ${r.duplicates}, out of order ${r.out_of_order}`,
    `  black holes detection max ${r.blackhole_detection_ms ?? 'n/a'} ms, undetected ${r.blackholes_undetected}`,
    `  consumer    ${r.received} received, ${r.consumer_redeliveries} broker redeliveries ignored, ${r.consumer_reconnects} reconnects`,
    ...(r.drops.length > 0 ? [`  drops       ${JSON.stringify(r.drops)}`] : []),
    ...(r.problems.length > 0 ? [`  problems    ${r.problems.join('; ')}`] : []),
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const args = parseArgsOrExit(process.argv.slice(2), { out: 'string', minutes: 'number', quick: 'boolean', seed: 'number', 'no-build': 'boolean', 'dead-link-ms': 'number', transport: 'string' }, 'npm run chaos --');
  if (args.transport !== undefined && args.transport !== 'websocket' && args.transport !== 'binary') {
    process.stderr.write(`npm run chaos: --transport must be websocket or binary, got '${String(args.transport)}'\n`);
    return 2;
  }
  const result = await runChaos({
    ...(args.out === undefined ? {} : { out: String(args.out) }),
    ...(args.minutes === undefined ? {} : { minutes: Number(args.minutes) }),
    ...(args.seed === undefined ? {} : { seed: Number(args.seed) }),
    ...(args['dead-link-ms'] === undefined ? {} : { deadLinkTimeoutMs: Number(args['dead-link-ms']) }),
    ...(args.transport === undefined ? {} : { transport: args.transport as 'websocket' | 'binary' }),
    quick: args.quick === true,
    build: args['no-build'] !== true,
  });
  return result.passed ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`chaos failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(2);
    },
  );
}
