/**
 * The `observatory` profile (≈ 6,000 msg/s over ≈ 200 streams) end to end: simulated instruments
 * over real transports -> the bundled daemon -> the site Pulsar, consumed from the site topic over
 * the WebSocket API. The storm case: the link to Pulsar is cut (link simulator) while the site runs
 * at its full rate, so the daemon must take every reading into its buffer; then the link returns
 * and the backlog drains. Every good frame the simulator sent arrives exactly once, per stream, and
 * the daemon's decode errors equal the faults injected. UDP datagrams the kernel dropped while the
 * machine was busy are counted, not forbidden: sent = committed + decode errors + kernel drops.
 *
 * Exclusive (runs alone): at the full rate the daemon, the simulator and the brokers need both
 * cores. The rate can be scaled with SKYHAUL_SIM_RATE_SCALE (default 1) and the traffic time with
 * SKYHAUL_SIM_DURATION_MS (default 15 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { profile, startSimulation, type Simulation } from '../../src/simulate/index.ts';
import { startDaemon, type DaemonHandle, type DaemonStatus } from '../support/daemon.ts';
import { LinkSimulator } from '../support/link-sim.ts';
import { WsConsumer } from '../support/pulsar.ts';
import { requireEnv } from '../support/stack-env.ts';
import { committedByStream, sleep, total, udpKernelDrops, waitInputsRunning } from './helpers.ts';

const RATE_SCALE = Number(process.env.SKYHAUL_SIM_RATE_SCALE ?? '1');
const DURATION_MS = Number(process.env.SKYHAUL_SIM_DURATION_MS ?? '15000');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('skyhaul simulate: observatory profile through the site Pulsar', () => {
  it('at the full rate during a link outage, every frame that reached the daemon is buffered (sent = committed + decode errors + counted kernel drops), then delivered exactly once per stream', { timeout: 420_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-sim-obs-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const site = `sim-obs-${Date.now().toString(36)}`;
    const namespace = requireEnv('SKYHAUL_PULSAR_NAMESPACE');
    const topic = `persistent://${namespace}/${site}`;

    const simulation: Simulation = await startSimulation({
      profile: 'observatory',
      faults: true,
      mqttUrl: requireEnv('SKYHAUL_MQTT_URL'),
      rateScale: RATE_SCALE,
      holdTraffic: true,
      seed: 7,
    });
    cleanups.push(async () => void (await simulation.stop()));
    const consumer = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_EDGE_WS'), topic, `sim-${site}`);
    cleanups.push(() => consumer.close());
    const edge = new URL(requireEnv('SKYHAUL_PULSAR_EDGE_HTTP'));
    const link = new LinkSimulator({ target: { host: edge.hostname, port: Number(edge.port) } });
    const linkPort = await link.start();
    cleanups.push(() => link.stop());
    const daemon: DaemonHandle = await startDaemon({
      dir,
      config: {
        site: { id: site },
        logging: { level: 'warn' },
        forward: { url: `http://127.0.0.1:${linkPort}`, topic: `persistent://${namespace}/{site}`, transport: 'websocket', deadLinkTimeout: '5s' },
        inputs: simulation.inputsConfig,
      },
    });
    cleanups.push(async () => void (await daemon.kill('SIGTERM')));
    await waitInputsRunning(daemon, simulation);
    await waitLinkUp(daemon);

    // The storm: the link goes down, the site keeps running at its full rate.
    link.cut();
    simulation.begin();
    const started = Date.now();
    const timeline: string[] = [];
    while (Date.now() - started < DURATION_MS) {
      await sleep(2500);
      const st = await daemon.status();
      timeline.push(`${Math.round((Date.now() - started) / 1000)}s in=${st.rates.ingestPerSecond} backlog=${st.backlog.records} link=${st.link.state} drops=${udpKernelDrops(st, simulation.inputNames)}`);
    }
    const report = await simulation.stop();
    // What is still queued in the daemon's socket buffers is taken in before counting: on a busy
    // machine that takes longer than a fixed pause would allow.
    const buffered = await settled(daemon);
    const expected = total(report.streams);
    console.log(`observatory timeline (link cut): ${timeline.join(' | ')}`);

    // While the link was down nothing reached Pulsar.
    expect(buffered.link.state).not.toBe('up');
    expect(consumer.messages.filter((m) => m.key !== undefined && m.key in report.streams)).toHaveLength(0);

    // Every frame sent is accounted for: committed, counted as a decode error, or lost where a
    // loss is a fact of the machine or the wire and is counted too. Two such losses: a datagram the
    // kernel dropped on the daemon's UDP socket (its buffer overflows while the CPU is busy with
    // other work: on a loaded machine, thousands at the full rate), and the frame on the wire when
    // a serial (USB) device vanishes. The claim under test is that what reached the daemon is
    // buffered (and below, delivered once); the achieved rate is `npm run bench`'s figure.
    const prof = profile('observatory');
    const transportOf = new Map<string, string>([...prof.push.map((i): [string, string] => [i.name, i.transport]), ...prof.polled.map((i): [string, string] => [i.name, i.transport])]);
    const adapterOf = new Map<string, string>([...prof.push.map((i): [string, string] => [i.name, i.adapter]), ...prof.polled.map((i): [string, string] => [i.name, i.adapter])]);
    const overUdp = (instrument: string): boolean => transportOf.get(instrument) === 'udp';
    const udpInputs = simulation.inputsConfig.filter((c) => c.type === 'udp').map((c) => c.name as string);
    const otherInputs = simulation.inputNames.filter((name) => !udpInputs.includes(name));
    const committed = committedByStream(buffered, report);
    const sum = (entries: Array<[string, number]>, pick: (key: string) => boolean): number => entries.filter(([key]) => pick(key)).reduce((n, [, v]) => n + v, 0);
    const faultsSent = Object.entries(report.expectedDecodeErrorsByInstrument);

    // Serial, MQTT and TCP: every fault counted once, by adapter and code; a good frame missing
    // only where a device vanished (one frame on the wire each at most).
    const expectedOther: Record<string, Record<string, number>> = {};
    for (const [instrument, codes] of faultsSent) {
      if (overUdp(instrument)) continue;
      const byCode = (expectedOther[adapterOf.get(instrument)!] ??= {});
      for (const [code, n] of Object.entries(codes)) byCode[code] = (byCode[code] ?? 0) + n;
    }
    expect(decodeErrorsOn(buffered, otherInputs)).toEqual(expectedOther);
    const vanishes = total(report.injected['usb-vanish'] ?? {});
    const missingOther = Object.entries(report.streams).reduce((n, [stream, sent]) => n + (overUdp(stream.split('/')[0]!) ? 0 : Math.max(0, sent - (committed[stream] ?? 0))), 0);
    expect(missingOther).toBeLessThanOrEqual(vanishes);
    for (const [stream, count] of Object.entries(committed)) expect(count, stream).toBeLessThanOrEqual(report.streams[stream] ?? 0);

    // UDP: sent = committed + decode errors counted + frames in datagrams the kernel dropped (its
    // counter, from /proc/net/udp). A datagram carries one frame, except a truncated WindSonic
    // frame, which travels with the next good frame (the framer reports the truncation when that
    // frame's STX arrives): a dropped one of those loses two frames.
    const kernelDrops = udpKernelDrops(buffered, udpInputs);
    const lostRecords = sum(Object.entries(report.streams), (stream) => overUdp(stream.split('/')[0]!)) - sum(Object.entries(committed), (stream) => overUdp(stream.split('/')[0]!));
    const udpFaults = faultsSent.filter(([instrument]) => overUdp(instrument));
    const lostFaults = udpFaults.reduce((n, [, codes]) => n + total(codes), 0) - Object.values(decodeErrorsOn(buffered, udpInputs)).reduce((n, codes) => n + total(codes), 0);
    const twoFrameDatagrams = udpFaults.reduce((n, [, codes]) => n + (codes.FRAMING_TRUNCATED ?? 0), 0);
    console.log(`observatory UDP accounting: kernel drops ${kernelDrops}, good frames lost ${lostRecords}, faults lost ${lostFaults}, two-frame datagrams sent ${twoFrameDatagrams}`);
    expect(lostRecords).toBeGreaterThanOrEqual(0);
    expect(lostFaults).toBeGreaterThanOrEqual(0);
    expect(lostRecords + lostFaults).toBeGreaterThanOrEqual(kernelDrops);
    expect(lostRecords + lostFaults).toBeLessThanOrEqual(kernelDrops + Math.min(kernelDrops, twoFrameDatagrams));
    // An input that stopped reading would lose nearly everything once its 16 MiB buffer filled
    // (and the identity above would still hold): the kernel may drop some, not most.
    expect(kernelDrops).toBeLessThan(report.transports.udp.frames / 4);

    // The link returns: the backlog drains to Pulsar.
    const restoredAt = Date.now();
    link.restore();
    const delivered = (): Record<string, number> => {
      const counts: Record<string, number> = {};
      for (const m of consumer.messages) if (m.key !== undefined && m.key in report.streams) counts[m.key] = (counts[m.key] ?? 0) + 1;
      return counts;
    };
    const target = total(committed);
    let last = -1;
    let lastProgress = Date.now();
    while (total(delivered()) < target && Date.now() - lastProgress < 30_000) {
      const now = total(delivered());
      if (now !== last) {
        last = now;
        lastProgress = Date.now();
      }
      await sleep(500);
    }
    const drainSeconds = (Date.now() - restoredAt) / 1000;
    await consumer.settle(2000);
    const after = await daemon.status();
    const got = delivered();
    const keys = new Set(consumer.messages.filter((m) => m.key !== undefined && m.key in report.streams).map((m) => `${m.properties.producer_id}|${m.key}|${m.properties.sequence}`));
    console.log(
      `observatory: ${JSON.stringify({
        rateScale: RATE_SCALE,
        nominal: report.nominalMsgPerSecond,
        achieved: report.msgPerSecond,
        perTransport: Object.fromEntries(Object.entries(report.transports).map(([k, t]) => [k, t.msgPerSecond])),
        lateTicks: report.lateTicks,
        streams: Object.keys(report.streams).length,
        sent: expected,
        buffered: target,
        delivered: total(got),
        drainSeconds,
        drainPerSecond: Math.round(total(got) / drainSeconds),
        injected: report.injected,
      })}`,
    );

    expect(Object.keys(report.streams).length).toBeGreaterThan(150);
    // A storm, whatever the machine: the simulator paces by elapsed time, so only a machine too
    // busy to run its timer for a second at a time falls far behind (the exact rate is the bench's).
    expect(report.msgPerSecond).toBeGreaterThan(report.nominalMsgPerSecond * 0.5);
    // Per stream, exactly what was buffered arrived; every message a distinct (producer, stream, sequence).
    expect(got).toEqual(committed);
    expect(keys.size).toBe(total(got));
    // ...and, acknowledged by the broker, left the buffer.
    const backlogOf = (st: DaemonStatus): number => st.backlog.streams.filter((s) => s.stream in report.streams).reduce((n, s) => n + s.records, 0);
    let remaining = backlogOf(after);
    for (let i = 0; i < 40 && remaining > 0; i++) {
      await sleep(250);
      remaining = backlogOf(await daemon.status());
    }
    expect(remaining).toBe(0);
  });
});

async function waitLinkUp(daemon: DaemonHandle): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await daemon.status()).link.state !== 'up') {
    if (Date.now() > deadline) throw new Error(`daemon link not up within 30 s: ${JSON.stringify((await daemon.status()).link)}`);
    await sleep(250);
  }
}

/** The daemon's decode errors on these inputs, by adapter and code. */
function decodeErrorsOn(status: DaemonStatus, inputs: string[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const e of status.decodeErrors) {
    if (!inputs.includes(e.input)) continue;
    const byCode = (out[e.adapter] ??= {});
    byCode[e.code] = (byCode[e.code] ?? 0) + e.count;
  }
  return out;
}

/** The daemon's status once its buffered records and decode errors stopped changing (≥ 2 s, ≤ 60 s). */
async function settled(daemon: DaemonHandle): Promise<DaemonStatus> {
  const fingerprint = (st: DaemonStatus): string => `${st.backlog.records}/${st.decodeErrors.reduce((n, e) => n + e.count, 0)}`;
  await sleep(1000);
  let status = await daemon.status();
  const deadline = Date.now() + 60_000;
  for (let unchanged = 0; unchanged < 2 && Date.now() < deadline; ) {
    await sleep(500);
    const next = await daemon.status();
    unchanged = fingerprint(next) === fingerprint(status) ? unchanged + 1 : 0;
    status = next;
  }
  return status;
}
