/**
 * The `observatory` profile (≈ 6,000 msg/s over ≈ 200 streams) end to end: simulated instruments
 * over real transports -> the bundled daemon -> the site Pulsar, consumed from the site topic over
 * the WebSocket API. The storm case: the link to Pulsar is cut (link simulator) while the site runs
 * at its full rate, so the daemon must take every reading into its buffer; then the link returns
 * and the backlog drains. Every good frame the simulator sent arrives exactly once, per stream, and
 * the daemon's decode errors equal the faults injected.
 *
 * Exclusive (runs alone): at the full rate the daemon, the simulator and the brokers need both
 * cores. The rate can be scaled with SKYHAUL_SIM_RATE_SCALE (default 1) and the traffic time with
 * SKYHAUL_SIM_DURATION_MS (default 15 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation } from '../../src/simulate/index.ts';
import { startDaemon, type DaemonHandle, type DaemonStatus } from '../support/daemon.ts';
import { LinkSimulator } from '../support/link-sim.ts';
import { WsConsumer } from '../support/pulsar.ts';
import { requireEnv } from '../support/stack-env.ts';
import { committedByStream, decodeErrorsByAdapter, sleep, total, udpKernelDrops, waitInputsRunning } from './helpers.ts';

const RATE_SCALE = Number(process.env.SKYHAUL_SIM_RATE_SCALE ?? '1');
const DURATION_MS = Number(process.env.SKYHAUL_SIM_DURATION_MS ?? '15000');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('skyhaul simulate: observatory profile through the site Pulsar', () => {
  it('at the full rate during a link outage, every good frame is buffered, then delivered exactly once per stream; decode errors equal the faults injected', { timeout: 420_000 }, async () => {
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
    await sleep(2000);
    const buffered = await daemon.status();
    const expected = total(report.streams);
    console.log(`observatory timeline (link cut): ${timeline.join(' | ')}`);

    // Everything was taken in while the link was down: nothing reached Pulsar, nothing was dropped.
    expect(buffered.link.state).not.toBe('up');
    expect(consumer.messages.filter((m) => m.key !== undefined && m.key in report.streams)).toHaveLength(0);
    expect(udpKernelDrops(buffered, simulation.inputNames)).toBe(0);
    expect(decodeErrorsByAdapter(buffered, simulation)).toEqual(report.expectedDecodeErrors);
    const committed = committedByStream(buffered, report);
    const vanishes = total(report.injected['usb-vanish'] ?? {});
    // Unplugging a serial device (a simulated USB vanish) may lose the one frame on the wire.
    const missing = Object.entries(report.streams).reduce((n, [stream, sent]) => n + Math.max(0, sent - (committed[stream] ?? 0)), 0);
    expect(missing).toBeLessThanOrEqual(vanishes);
    for (const [stream, count] of Object.entries(committed)) expect(count, stream).toBeLessThanOrEqual(report.streams[stream] ?? 0);

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
    expect(report.msgPerSecond).toBeGreaterThan(report.nominalMsgPerSecond * 0.9);
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
