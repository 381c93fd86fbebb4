/**
 * The bridge (and the registry it encodes through) across restarts of the servers it depends on:
 * the Kafka broker, then the central Pulsar, each stopped and started again while records flow.
 * The bridge is left alone; it must resume by itself, and Kafka must end up with every record
 * once, in order per stream (read_committed).
 *
 * Exclusive (runs alone, after the rest): it stops shared services of the dev stack.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackDown, stackUp } from '../../../packaging/dev-stack/stack.ts';
import { CentralPublisher, centralConfig, createNamespace, metricValue, readRaw, reading, startCentral, type CentralHandle } from '../support/central.ts';
import { unique } from '../support/env.ts';
import { checkOnceInOrder, until } from './checks.ts';

const namespace = `skyhaul/${unique('bridge-restarts')}`;
const handles: CentralHandle[] = [];
let registry: CentralHandle;
let bridge: CentralHandle;

beforeAll(async () => {
  await createNamespace(namespace);
  registry = await startCentral('registry', { ...centralConfig({ namespace }), registry: { topic: unique('_schemas') } });
  handles.push(registry);
  bridge = await startCentral('bridge', centralConfig({ namespace, registryUrl: registry.url, bridge: { batch: { maxRecords: 100, maxDelay: '20ms' } } }));
  handles.push(bridge);
}, 180_000);

afterAll(async () => {
  for (const h of handles) await h.kill('SIGTERM');
  await stackUp();
}, 240_000);

/**
 * Publishes `count` records per stream to central Pulsar, re-opening the producer and re-sending
 * what was not acknowledged when the broker goes away (as the edge's forwarder does: a re-send
 * may be a duplicate in Pulsar, which the bridge must drop).
 */
async function publish(topic: string, producerId: string, streams: string[], from: number, to: number, pauseMs = 0): Promise<void> {
  let publisher: CentralPublisher | null = null;
  for (let sequence = from; sequence <= to; sequence++) {
    for (const stream of streams) {
      for (;;) {
        try {
          publisher ??= await CentralPublisher.open(topic, `${producerId}/${randomUUID().slice(0, 8)}`);
          await publisher.send(reading(topic.split('/').at(-1)!, producerId, stream, sequence, sequence / 10));
          break;
        } catch {
          publisher?.close();
          publisher = null;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    }
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  publisher?.close();
}

describe('bridge across server restarts', () => {
  it('resumes by itself after the Kafka broker restarts mid-stream, then after the central Pulsar restarts mid-stream: every record once, in order', async () => {
    const site = unique('site');
    const topic = `persistent://${namespace}/${site}`;
    const producerId = `edge-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const streams = ['weather/a/ptu', 'weather/b/ptu'];
    const raw = `skyhaul.raw.${site}`;

    const phase = (what: string): void => console.log(`${new Date().toISOString()} ${what}`);
    phase(`bridge log: ${bridge.logFile}`);
    await publish(topic, producerId, streams, 1, 100);
    phase('published 1..100');
    await until(() => readRaw(raw, registry.url), (s) => s.length >= 200, 'the first 200 records');

    // Kafka goes away while records keep arriving in Pulsar; the bridge must hold them (not ack,
    // not drop) and write them once Kafka is back.
    const duringKafka = publish(topic, producerId, streams, 101, 400, 10);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stackDown(['kafka']);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await stackUp();
    phase('Kafka back');
    await duringKafka;
    phase('published 101..400');
    await until(() => readRaw(raw, registry.url), (s) => s.length >= 800, 'the records sent around the Kafka restart', 180_000);

    // The central Pulsar goes away mid-stream: the bridge's consumer reconnects by itself; the
    // publisher re-sends what was not acknowledged (duplicates in Pulsar, not in Kafka).
    const duringPulsar = publish(topic, producerId, streams, 401, 700, 10);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stackDown(['pulsar-central']);
    await stackUp();
    phase('central Pulsar back');
    await duringPulsar;
    phase('published 401..700');
    const seen = await until(() => readRaw(raw, registry.url), (s) => s.length >= 1400, 'the records sent around the Pulsar restart', 240_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const final = await readRaw(raw, registry.url);
    const report = checkOnceInOrder(final, new Map(streams.map((s) => [`${producerId}|${s}`, 700])));
    console.log(`bridge across restarts: ${seen.length} then ${final.length} in Kafka, ${JSON.stringify(report)}, bridge log warnings ${(bridge.log().match(/"level":"warn"/g) ?? []).length}, Kafka commits over 1 s ${metricValue(await bridge.metrics(), 'skyhaul_central_bridge_kafka_commit_seconds_count') - metricValue(await bridge.metrics(), 'skyhaul_central_bridge_kafka_commit_seconds_bucket', { le: '1' })}`);
    expect(report).toEqual({ duplicates: 0, missing: 0, outOfOrder: 0 });
    expect(final).toHaveLength(1400);
    // The bridge process is the one started at the beginning: it resumed, nobody restarted it.
    expect(bridge.process.exitCode).toBeNull();
    const metrics = await bridge.metrics();
    expect(metricValue(metrics, 'skyhaul_central_bridge_produced_total', { topic: raw })).toBe(1400);
    expect(metricValue(metrics, 'skyhaul_central_bridge_dead_letters_total')).toBe(0);
  }, 600_000);
});
