/**
 * The bridge against the real central Pulsar, Kafka and registry (child processes, as it runs):
 * each record once in Kafka (read_committed), in order per stream, every property in the
 * headers; re-sent records de-duplicated; kill -9 at random moments; two instances sharing the
 * subscription with the active one killed; an incompatible schema change dead-lettered.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { PROPERTY, type TelemetryRecord } from '../../../src/record/record.ts';
import { avroSchemaFor } from '../../src/schemas/index.ts';
import { CentralPublisher, centralConfig, createNamespace, metricValue, readRaw, readTopic, reading, startCentral, type CentralHandle } from '../support/central.ts';
import { unique } from '../support/env.ts';
import { checkOnceInOrder, until } from './checks.ts';

const namespace = `skyhaul/${unique('bridge')}`;
let registry: CentralHandle;
const handles: CentralHandle[] = [];

beforeAll(async () => {
  await createNamespace(namespace);
  registry = await startCentral('registry', { ...centralConfig({ namespace }), registry: { topic: unique('_schemas') } });
  handles.push(registry);
}, 120_000);

afterAll(async () => {
  for (const h of handles) await h.kill('SIGTERM');
});

// Every bridge subscribes to every topic of the namespace: a test's bridges stop with it, so the
// next test's topics are served only by the instances it starts.
const testHandles: CentralHandle[] = [];
afterEach(async () => {
  for (const h of testHandles.splice(0)) await h.kill('SIGTERM');
});

/** A site of the test's own: its central Pulsar topic and an edge producer id. */
function newSite(): { site: string; topic: string; producerId: string } {
  const site = unique('site');
  return { site, topic: `persistent://${namespace}/${site}`, producerId: `edge-${randomUUID().replaceAll('-', '').slice(0, 16)}` };
}

async function bridge(extra: Record<string, unknown> = {}, registryUrl = registry.url): Promise<CentralHandle> {
  const handle = await startCentral('bridge', centralConfig({ namespace, registryUrl, bridge: { batch: { maxRecords: 200, maxDelay: '20ms' }, ...extra } }));
  testHandles.push(handle);
  return handle;
}

describe('bridge', () => {
  it('writes each record once, in order per stream, with every property in the headers and the value in the Confluent wire format', async () => {
    const { site, topic, producerId } = newSite();
    const publisher = await CentralPublisher.open(topic, `${producerId}/all`);
    const sent: TelemetryRecord[] = [];
    for (let i = 1; i <= 50; i++) {
      for (const stream of ['weather/mast1/ptu', 'weather/mast2/ptu', 'weather/mast3/ptu']) {
        const record = reading(site, producerId, stream, i, 10 + i / 10);
        await publisher.send(record);
        sent.push(record);
      }
    }
    publisher.close();
    const b = await bridge();
    const seen = await until(() => readRaw(`skyhaul.raw.${site}`, registry.url), (s) => s.length >= sent.length, 'all records in Kafka');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const again = await readRaw(`skyhaul.raw.${site}`, registry.url);
    expect(again).toHaveLength(sent.length);
    expect(checkOnceInOrder(again, new Map(['weather/mast1/ptu', 'weather/mast2/ptu', 'weather/mast3/ptu'].map((s) => [`${producerId}|${s}`, 50])))).toEqual({ duplicates: 0, missing: 0, outOfOrder: 0 });
    // One stream stays in one partition.
    for (const stream of ['weather/mast1/ptu', 'weather/mast2/ptu']) expect(new Set(seen.filter((s) => s.record.stream === stream).map((s) => s.partition)).size).toBe(1);
    // Every property crosses, unchanged; the payload decodes back equal.
    const first = again.find((s) => s.record.stream === 'weather/mast2/ptu' && s.record.sequence === 7)!;
    const original = sent.find((r) => r.stream === 'weather/mast2/ptu' && r.sequence === 7)!;
    for (const name of Object.values(PROPERTY)) {
      if (name === PROPERTY.sourceTime && original.sourceTime === null) continue;
      expect(first.headers[name], name).toBeDefined();
    }
    expect(first.headers.traceparent).toBe(original.traceparent);
    expect(first.headers.schema_subject).toBe('skyhaul.adapter.vaisala-wxt.v1.ptu');
    expect(JSON.parse(first.record.payload.toString())).toEqual(JSON.parse(original.payload.toString()));
    expect({ ...first.record, payload: null }).toEqual({ ...original, payload: null });
    const metrics = await b.metrics();
    expect(metricValue(metrics, 'skyhaul_central_bridge_produced_total', { topic: `skyhaul.raw.${site}` })).toBe(150);
    expect(metricValue(metrics, 'skyhaul_central_bridge_end_to_end_seconds_count')).toBeGreaterThanOrEqual(150);
  }, 180_000);

  it('writes a record re-published to central Pulsar (as after the edge broker forgot its de-duplication state) exactly once, counted as de-duplicated', async () => {
    const { site, topic, producerId } = newSite();
    const b = await bridge();
    const first = await CentralPublisher.open(topic, `${producerId}/wx`);
    for (let i = 1; i <= 10; i++) await first.send(reading(site, producerId, 'weather/wxt/ptu', i, i));
    first.close();
    await until(() => readRaw(`skyhaul.raw.${site}`, registry.url), (s) => s.length >= 10, 'the first ten');
    // The edge re-sends 5..10 under a producer the broker does not know any more.
    const again = await CentralPublisher.open(topic, `${producerId}/wx-after-outage`);
    for (let i = 5; i <= 12; i++) await again.send(reading(site, producerId, 'weather/wxt/ptu', i, i));
    again.close();
    const seen = await until(() => readRaw(`skyhaul.raw.${site}`, registry.url), (s) => s.length >= 12, 'the two new ones');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await readRaw(`skyhaul.raw.${site}`, registry.url)).map((s) => s.record.sequence)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(seen).toHaveLength(12);
    expect(metricValue(await b.metrics(), 'skyhaul_central_bridge_deduplicated_total', { topic })).toBe(6);
  }, 120_000);

  it('survives kill -9 at random moments (10 times) during a steady flow: nothing lost, nothing twice', async () => {
    const { site, topic, producerId } = newSite();
    const b = await bridge();
    const streams = ['weather/a/ptu', 'weather/b/ptu', 'weather/c/ptu', 'weather/d/ptu'];
    const publisher = await CentralPublisher.open(topic, `${producerId}/flow`);
    let published = 0;
    let running = true;
    const flow = (async () => {
      const next = new Map(streams.map((s) => [s, 0]));
      while (running) {
        const stream = streams[published % streams.length]!;
        const sequence = next.get(stream)! + 1;
        next.set(stream, sequence);
        await publisher.send(reading(site, producerId, stream, sequence, sequence / 10));
        published += 1;
        if (published % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    // Each kill lands while the bridge is working (active, committing), at a random moment of its
    // work: before, during or after a transaction, before or after its Pulsar acks. It waits for
    // the process's first commit rather than a fixed time: activation (fencing, reading the state)
    // takes 1-2 s on an idle machine and much longer on a loaded one.
    let producedBeforeKills = 0;
    for (let kill = 0; kill < 10; kill++) {
      await until(async () => metricValue(await b.metrics().catch(() => ''), 'skyhaul_central_bridge_produced_total'), (n) => n > 0, `bridge process ${kill + 1} committing`, 120_000);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 1500));
      producedBeforeKills += metricValue(await b.metrics().catch(() => ''), 'skyhaul_central_bridge_produced_total');
      await b.restart(); // SIGKILL and start again, on the same subscription
      await b.waitReady();
    }
    running = false;
    await flow;
    publisher.close();
    const perStream = published / streams.length;
    const seen = await until(() => readRaw(`skyhaul.raw.${site}`, registry.url), (s) => s.length >= published, `all ${published} records`, 120_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const final = await readRaw(`skyhaul.raw.${site}`, registry.url);
    const report = checkOnceInOrder(final, new Map(streams.map((s) => [`${producerId}|${s}`, perStream])));
    console.log(`bridge kill -9 x10: ${published} published, ${producedBeforeKills} committed by the processes killed, ${seen.length} then ${final.length} in Kafka, ${JSON.stringify(report)}`);
    expect(report).toEqual({ duplicates: 0, missing: 0, outOfOrder: 0 });
    expect(final).toHaveLength(published);
    // The kills interrupted real work: every killed process had committed records.
    expect(producedBeforeKills).toBeGreaterThanOrEqual(10);
  }, 300_000);

  it('two instances share the subscription: the active one killed mid-stream, the other takes over, nothing lost or duplicated', async () => {
    const { site, topic, producerId } = newSite();
    const a = await bridge({ priorityLevel: 0 });
    const standby = await bridge({ priorityLevel: 1 });
    const publisher = await CentralPublisher.open(topic, `${producerId}/flow`);
    const total = 600;
    for (let i = 1; i <= total; i++) {
      await publisher.send(reading(site, producerId, 'weather/wxt/ptu', i, i / 10));
      if (i === 300) await a.kill('SIGKILL');
    }
    publisher.close();
    const seen = await until(() => readRaw(`skyhaul.raw.${site}`, registry.url), (s) => s.length >= total, 'all records', 120_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const final = await readRaw(`skyhaul.raw.${site}`, registry.url);
    expect(checkOnceInOrder(final, new Map([[`${producerId}|weather/wxt/ptu`, total]]))).toEqual({ duplicates: 0, missing: 0, outOfOrder: 0 });
    expect(final.length).toBe(seen.length);
    expect(metricValue(await standby.metrics(), 'skyhaul_central_bridge_produced_total', { topic: `skyhaul.raw.${site}` })).toBeGreaterThan(0);
  }, 180_000);

  it('a gap in a stream is counted and logged, never hidden; the records after it are written', async () => {
    const { site, topic, producerId } = newSite();
    const b = await bridge();
    const publisher = await CentralPublisher.open(topic, `${producerId}/gap`);
    for (const sequence of [1, 2, 3, 7, 8, 10]) await publisher.send(reading(site, producerId, 'weather/wxt/ptu', sequence, sequence));
    publisher.close();
    const seen = await until(() => readRaw(`skyhaul.raw.${site}`, registry.url), (s) => s.length >= 6, 'the six records');
    expect(seen.map((s) => s.record.sequence)).toEqual([1, 2, 3, 7, 8, 10]);
    expect(metricValue(await b.metrics(), 'skyhaul_central_bridge_gap_sequences_total', { topic })).toBe(4);
    expect(b.log()).toMatch(/"missing":3,"before":7.*gap in a stream's sequences/);
  }, 120_000);

  it('the registry away: records wait, unacknowledged and not dead-lettered, and land once it is back', async () => {
    const { site, topic, producerId } = newSite();
    const own = await startCentral('registry', { ...centralConfig({ namespace }), registry: { topic: unique('_schemas') } });
    handles.push(own);
    const b = await bridge({}, own.url);
    await own.kill('SIGKILL');
    const publisher = await CentralPublisher.open(topic, `${producerId}/wait`);
    for (let i = 1; i <= 20; i++) await publisher.send(reading(site, producerId, 'weather/wxt/ptu', i, i));
    publisher.close();
    await until(() => Promise.resolve(b.log()), (log) => /record must wait \(registry unavailable\)/.test(log), 'the bridge to notice the registry is away');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await readRaw(`skyhaul.raw.${site}`, registry.url)).toEqual([]);
    const waiting = await b.metrics();
    expect(metricValue(waiting, 'skyhaul_central_bridge_dead_letters_total')).toBe(0);
    expect(metricValue(waiting, 'skyhaul_central_bridge_consumed_total', { topic })).toBe(0);
    await own.restart();
    await own.waitReady();
    const seen = await until(() => readRaw(`skyhaul.raw.${site}`, own.url), (s) => s.length >= 20, 'the 20 records after the registry came back', 120_000);
    expect(seen.map((s) => s.record.sequence)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  }, 180_000);

  it('SIGTERM drains: the transaction in flight commits, the process exits 0, and a successor goes on without loss or duplicate', async () => {
    const { site, topic, producerId } = newSite();
    const b = await bridge();
    const publisher = await CentralPublisher.open(topic, `${producerId}/drain`);
    await publisher.sendAll(Array.from({ length: 2000 }, (_, i) => reading(site, producerId, 'weather/wxt/ptu', i + 1, i / 10)));
    await until(() => b.metrics(), (m) => metricValue(m, 'skyhaul_central_bridge_produced_total') > 0, 'the first commit');
    expect(await b.kill('SIGTERM')).toBe(0);
    expect(b.log()).toMatch(/"msg":"stopped"/);
    const successor = await bridge();
    await publisher.sendAll(Array.from({ length: 500 }, (_, i) => reading(site, producerId, 'weather/wxt/ptu', 2001 + i, i / 10)));
    publisher.close();
    const final = await until(() => readRaw(`skyhaul.raw.${site}`, registry.url), (s) => s.length >= 2500, 'all 2500 records', 120_000);
    expect(checkOnceInOrder(final, new Map([[`${producerId}|weather/wxt/ptu`, 2500]]))).toEqual({ duplicates: 0, missing: 0, outOfOrder: 0 });
    expect(final).toHaveLength(2500);
    expect(metricValue(await successor.metrics(), 'skyhaul_central_bridge_produced_total')).toBeGreaterThan(0);
  }, 180_000);

  it('an incompatible schema change: registration refused naming the subject and the field; its records land in the dead-letter topic with the reason, the bridge goes on', async () => {
    const { site, topic, producerId } = newSite();
    // A registry of its own, where an earlier (incompatible) version of the subject exists.
    const own = await startCentral('registry', { ...centralConfig({ namespace }), registry: { topic: unique('_schemas') } });
    handles.push(own);
    const subject = 'skyhaul.adapter.vaisala-wxt.v1.ptu';
    const older = avroSchemaFor(subject) as unknown as { fields: Array<{ name: string; type: unknown }> };
    const fields = older.fields.find((f) => f.name === 'fields')!.type as { fields: Array<{ name: string; type: unknown }> };
    fields.fields.find((f) => f.name === 'air_temperature')!.type = ['null', 'string'];
    const client = new SchemaRegistry({ host: own.url });
    await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(older) }, { subject, compatibility: 'BACKWARD_TRANSITIVE' as never });
    const deadLetterTopic = unique('dlq');
    const b = await bridge({ deadLetterTopic, batch: { maxRecords: 50, maxDelay: '20ms' } }, own.url);
    const publisher = await CentralPublisher.open(topic, `${producerId}/mixed`);
    for (let i = 1; i <= 5; i++) await publisher.send(reading(site, producerId, 'weather/wxt/ptu', i, i));
    // Records of another subject still flow.
    const alarm: TelemetryRecord = { ...reading(site, producerId, '_skyhaul/alarms', 1, 0), schemaRef: 'skyhaul.alarm/v1', payload: Buffer.from(JSON.stringify({ event: 'raised', code: 'link_down', severity: 'critical', message: 'link down for 5 min', since: 1, at: 2 })) };
    await publisher.send(alarm);
    publisher.close();
    const metrics = await until(() => b.metrics(), (m) => metricValue(m, 'skyhaul_central_bridge_dead_letters_total', { reason: 'schema_incompatible' }) >= 5, 'five dead letters');
    expect(metricValue(metrics, 'skyhaul_central_bridge_dead_letters_total', { reason: 'schema_incompatible' })).toBe(5);
    const raw = await until(() => readRaw(`skyhaul.raw.${site}`, own.url), (s) => s.length >= 1, 'the alarm record');
    expect(raw.map((s) => s.record.stream)).toEqual(['_skyhaul/alarms']);
    expect(b.log()).toMatch(new RegExp(`registry refused subject ${subject.replaceAll('.', '\\.')}.*air_temperature`));
    // The dead letters keep the original bytes and properties, and say why.
    const dead = await until(() => readTopic(deadLetterTopic), (d) => d.length >= 5, 'five records in the dead-letter topic');
    expect(dead).toHaveLength(5);
    for (const d of dead) {
      expect(d.headers.dlq_reason).toBe('schema_incompatible');
      expect(d.headers.dlq_message).toMatch(/air_temperature/);
      expect(d.headers.pulsar_topic).toBe(topic);
      expect(d.headers[PROPERTY.stream]).toBe('weather/wxt/ptu');
      expect(JSON.parse(d.value!.toString()).fields.air_temperature).toBeTypeOf('number');
    }
  }, 180_000);
});
