/**
 * The whole path, edge to Kafka: the simulator's observatory profile (every instrument family,
 * over serial, MQTT, UDP and TCP, faults included) -> the bundled edge daemon -> the site's
 * (edge) Pulsar -> geo-replication -> the central Pulsar -> the bridge (child process) -> Kafka,
 * values through the registry. Every record the edge published is in Kafka once, in order per
 * stream, with the edge's own properties (traceparent equal), and nothing else is.
 *
 * This one test reaches into the edge's test support (the daemon, the simulator): it is the
 * system test both halves answer to. Exclusive: the daemon, the simulator, the bridge and three
 * servers share two cores. The rate is scaled by SKYHAUL_E2E_RATE_SCALE (default 0.1 of the
 * observatory's ≈ 6,000 msg/s) for SKYHAUL_E2E_DURATION_MS (default 10 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation } from '../../../src/simulate/index.ts';
import { startDaemon, type DaemonHandle } from '../../../test/support/daemon.ts';
import { WsConsumer } from '../../../test/support/pulsar.ts';
import { checkOnceInOrder, until } from '../bridge/checks.ts';
import { centralConfig, createNamespace, metricValue, readRaw, startCentral, type CentralHandle } from '../support/central.ts';
import { stackEnv, unique } from '../support/env.ts';

const RATE_SCALE = Number(process.env.SKYHAUL_E2E_RATE_SCALE ?? '0.1');
const DURATION_MS = Number(process.env.SKYHAUL_E2E_DURATION_MS ?? '10000');

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
}, 60_000);

describe('edge to Kafka', () => {
  it('the observatory profile through the daemon, both Pulsars and the bridge: every record the edge published once in Kafka, in order per stream, traceparent as the edge wrote it', async () => {
    const namespace = `skyhaul/${unique('e2e')}`;
    await createNamespace(namespace, { replicated: true });
    const site = unique('obs');
    const topic = `persistent://${namespace}/${site}`;

    const registry = await startCentral('registry', { ...centralConfig({ namespace }), registry: { topic: unique('_schemas') } });
    cleanups.push(() => registry.kill('SIGTERM'));
    const bridge: CentralHandle = await startCentral('bridge', centralConfig({ namespace, registryUrl: registry.url }));
    cleanups.push(() => bridge.kill('SIGTERM'));

    const simulation: Simulation = await startSimulation({ profile: 'observatory', faults: true, mqttUrl: stackEnv('SKYHAUL_MQTT_URL'), rateScale: RATE_SCALE, holdTraffic: true, seed: 11 });
    cleanups.push(() => simulation.stop());
    // What the edge published, as the site's Pulsar holds it.
    const edgeConsumer = await WsConsumer.open(stackEnv('SKYHAUL_PULSAR_EDGE_WS'), topic, 'e2e-edge-view');
    cleanups.push(() => edgeConsumer.close());
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-e2e-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const daemon: DaemonHandle = await startDaemon({
      dir,
      config: {
        site: { id: site },
        logging: { level: 'warn' },
        forward: { url: stackEnv('SKYHAUL_PULSAR_EDGE_HTTP'), topic: `persistent://${namespace}/{site}`, transport: 'websocket' },
        inputs: simulation.inputsConfig,
      },
    });
    cleanups.push(() => daemon.kill('SIGTERM'));
    await until(() => daemon.status(), (s) => simulation.inputNames.every((name) => s.inputs.find((i) => i.name === name)?.state === 'running') && s.link.state === 'up', 'inputs running and the link up', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));

    simulation.begin();
    await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
    const report = await simulation.stop();

    // The daemon's backlog drains to the edge Pulsar; the edge's view settles.
    await until(() => daemon.status(), (s) => s.backlog.records === 0, 'the daemon backlog drained', 120_000);
    let edgeCount = -1;
    await until(async () => {
      const before = edgeCount;
      edgeCount = (await edgeConsumer.settle(1500)).length;
      return before === edgeCount;
    }, (same) => same, "the edge topic's count steady", 60_000);
    const published = edgeConsumer.messages;
    const expected = new Map<string, number>();
    const traceparents = new Map<string, string>();
    for (const m of published) {
      const key = `${m.properties.producer_id}|${m.properties.stream}`;
      expected.set(key, Math.max(expected.get(key) ?? 0, Number(m.properties.sequence)));
      traceparents.set(`${key}|${m.properties.sequence}`, m.properties.traceparent ?? '');
    }
    const distinctPublished = traceparents.size;

    // Kafka, read_committed, values decoded through the registry as a downstream consumer would.
    const raw = `skyhaul.raw.${site}`;
    const seen = await until(() => readRaw(raw, registry.url), (s) => s.length >= distinctPublished, `all ${distinctPublished} records in Kafka`, 240_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const final = await readRaw(raw, registry.url);
    const metrics = await bridge.metrics();
    const e2eSum = metricValue(metrics, 'skyhaul_central_bridge_end_to_end_seconds_sum');
    const e2eCount = metricValue(metrics, 'skyhaul_central_bridge_end_to_end_seconds_count');
    console.log(
      `edge to Kafka: ${JSON.stringify({
        rateScale: RATE_SCALE,
        sent: Object.values(report.streams).reduce((a, b) => a + b, 0),
        streams: expected.size,
        edgePublished: published.length,
        edgeDistinct: distinctPublished,
        kafka: final.length,
        firstComplete: seen.length,
        deduplicated: metricValue(metrics, 'skyhaul_central_bridge_deduplicated_total'),
        meanEdgeToKafkaMs: Math.round((e2eSum / Math.max(1, e2eCount)) * 1000),
      })}`,
    );

    expect(expected.size).toBeGreaterThan(150);
    // Sequences start at 1 per (producer, stream) and the daemon numbers without holes, so
    // "1..highest once each" is "every record the edge published, once".
    expect(checkOnceInOrder(final, expected)).toEqual({ duplicates: 0, missing: 0, outOfOrder: 0 });
    expect(final).toHaveLength(distinctPublished);
    for (const s of final) {
      const key = `${s.record.producerId}|${s.record.stream}|${s.record.sequence}`;
      expect(s.headers.traceparent, key).toBe(traceparents.get(key));
      expect(s.record.siteId).toBe(site);
    }
    expect(metricValue(metrics, 'skyhaul_central_bridge_dead_letters_total')).toBe(0);
    expect(metricValue(metrics, 'skyhaul_central_bridge_gap_sequences_total')).toBe(0);
  }, 600_000);
});
