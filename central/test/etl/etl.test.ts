/**
 * The ETL against the real Kafka and registry, as child processes where killed: raw records (as the
 * bridge writes them) become curated records once each, values in SI units with UCUM codes, site
 * metadata from the site registry file, every header kept; 1-minute aggregates per stream and
 * numeric field equal what the raw records give; a bad record goes to the dead-letter topic with
 * its reason; several instances, one killed and another started mid-stream, lose and duplicate
 * nothing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryRecord } from '../../../src/record/record.ts';
import type { AggregateRecord, CuratedReading } from '../../src/curated/index.ts';
import { until } from '../bridge/checks.ts';
import { centralConfig, metricValue, readTopic, reading, startCentral, type CentralHandle } from '../support/central.ts';
import { unique } from '../support/env.ts';
import { RawWriter } from '../support/raw.ts';

let registry: CentralHandle;
let writer: RawWriter;
let decoder: SchemaRegistry;
const handles: CentralHandle[] = [];

beforeAll(async () => {
  registry = await startCentral('registry', { ...centralConfig({ namespace: 'skyhaul/unused' }), registry: { topic: unique('_schemas') } });
  writer = new RawWriter(registry.url);
  decoder = new SchemaRegistry({ host: registry.url });
}, 120_000);

afterAll(async () => {
  await writer.close();
  await registry.kill('SIGTERM');
});

afterEach(async () => {
  for (const h of handles.splice(0)) await h.kill('SIGTERM');
});

/** One test's topics and the ETL configuration over them. */
function setup(extra: Record<string, unknown> = {}): { raw: (site: string) => string; curated: (site: string) => string; aggregates: (site: string) => string; dlq: string; config: () => Record<string, unknown> } {
  const id = unique('etl').replaceAll('-', '_');
  const etl = {
    groupId: `${id}-group`,
    sourceTopics: `^${id}\\.raw\\.`,
    topicRefresh: '1s',
    curatedTopic: `${id}.curated.{site}`,
    aggregatesTopic: `${id}.aggregates.{site}`,
    stateTopic: `${id}.state`,
    deadLetterTopic: `${id}.dlq`,
    batch: { maxRecords: 200, maxDelay: '20ms' },
    heartbeatInterval: '1s',
    ...extra,
  };
  return {
    raw: (site) => `${id}.raw.${site}`,
    curated: (site) => `${id}.curated.${site}`,
    aggregates: (site) => `${id}.aggregates.${site}`,
    dlq: `${id}.dlq`,
    config: () => ({ ...centralConfig({ namespace: 'skyhaul/unused', registryUrl: registry.url }), etl: { ...etl, instanceId: `i${randomUUID().slice(0, 8)}` } }),
  };
}

async function etl(config: Record<string, unknown>): Promise<CentralHandle> {
  const handle = await startCentral('etl', config);
  handles.push(handle);
  return handle;
}

async function readDecoded<T>(topic: string): Promise<Array<{ value: T; headers: Record<string, string>; partition: number; offset: bigint }>> {
  let records;
  try {
    records = await readTopic(topic);
  } catch (error) {
    if (/Unknown topic/i.test((error as Error).message)) return [];
    throw error;
  }
  const out = [];
  for (const r of records.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset))) if (r.headers.record_kind !== 'heartbeat') out.push({ value: (await decoder.decode(r.value!)) as T, headers: r.headers, partition: r.partition, offset: r.offset });
  return out;
}

/** A WXT ptu reading at `sourceTime` with air temperature `celsius`, pressure 744.1 hPa, humidity 40 %. */
function ptu(site: string, producerId: string, stream: string, sequence: number, sourceTime: number, celsius: number): TelemetryRecord {
  return { ...reading(site, producerId, stream, sequence, celsius), sourceTime, ingestTime: sourceTime + 200 };
}

/** What the aggregates of these records must be (windows of 1 min, closed ones only: `closedBefore`). */
function expectedAggregates(records: TelemetryRecord[], closedBefore: number): Map<string, { count: number; min: number; max: number; mean: number }> {
  const windows = new Map<string, number[]>();
  for (const r of records) {
    const start = Math.floor(r.sourceTime! / 60_000) * 60_000;
    if (start + 60_000 > closedBefore) continue;
    const celsius = (JSON.parse(r.payload.toString()) as { fields: { air_temperature: number } }).fields.air_temperature;
    const key = `${r.stream}|air_temperature|${start}`;
    windows.set(key, [...(windows.get(key) ?? []), celsius + 273.15]);
  }
  return new Map([...windows].map(([k, v]) => [k, { count: v.length, min: Math.min(...v), max: Math.max(...v), mean: v.reduce((a, b) => a + b, 0) / v.length }]));
}

describe('ETL', () => {
  it('curates each raw record once (SI units, site metadata, headers kept), aggregates closed windows, dead-letters a bad record', async () => {
    const t = setup({ allowedLateness: '0s' });
    const site = unique('cerro');
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-etl-'));
    const sites = join(dir, 'sites.yaml');
    writeFileSync(sites, `sites:\n  - id: ${site}\n    name: Cerro Test\n    latitude: -30.24\n    longitude: -70.74\n    elevation_m: 2715\n    instruments:\n      - stream: weather/wxt\n        model: Vaisala WXT536\n        serial: N4150123\n`);
    const producerId = `edge-${randomUUID().slice(0, 8)}`;
    const t0 = Date.UTC(2026, 10, 30, 12, 0, 0);
    const records = Array.from({ length: 40 }, (_, i) => ptu(site, producerId, 'weather/wxt/ptu', i + 1, t0 + i * 10_000, 5 + (i % 7)));
    const alarm: TelemetryRecord = { ...reading(site, producerId, '_skyhaul/alarms', 1, 0), schemaRef: 'skyhaul.alarm/v1', payload: Buffer.from(JSON.stringify({ event: 'raised', code: 'link_down', severity: 'critical', message: 'link down for 5 min', since: 1, at: 2 })) };
    await writer.write(t.raw(site), [...records, alarm]);
    await writer.writeBroken(t.raw(site), ptu(site, producerId, 'weather/wxt/ptu', 999, t0, 1), Buffer.from('not the wire format'));
    const config = t.config();
    (config.etl as Record<string, unknown>).siteRegistry = sites;
    const e = await etl(config);

    await until(() => readDecoded<CuratedReading>(t.curated(site)), (c) => c.length >= 41, 'the curated records', 120_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const final = await readDecoded<CuratedReading>(t.curated(site));
    expect(final).toHaveLength(41);
    const readings = final.filter((c) => c.value.stream === 'weather/wxt/ptu');
    expect(readings.map((c) => c.value.sequence).sort((a, b) => a - b)).toEqual(records.map((r) => r.sequence));
    const first = readings.find((c) => c.value.sequence === 3)!;
    expect(first.value).toMatchObject({
      site_id: site,
      site_name: 'Cerro Test',
      latitude: -30.24,
      elevation_m: 2715,
      instrument_model: 'Vaisala WXT536',
      instrument_serial: 'N4150123',
      producer_id: producerId,
      event_time: t0 + 20_000,
      raw_subject: 'skyhaul.adapter.vaisala-wxt.v1.ptu',
      units: { air_temperature: 'K', air_pressure: 'Pa', relative_humidity: '%' },
    });
    expect(first.value.values.air_temperature).toBeCloseTo(7 + 273.15, 9);
    expect(first.value.values.air_pressure).toBeCloseTo(74_410, 6);
    expect(first.headers.traceparent).toBe(records[2]!.traceparent);
    expect(first.headers.schema_subject).toBe('skyhaul.curated.v1');
    const alarmOut = final.find((c) => c.value.stream === '_skyhaul/alarms')!;
    expect(alarmOut.value.payload_encoding).toBe('json');
    expect(JSON.parse(alarmOut.value.payload!)).toMatchObject({ code: 'link_down' });

    // Windows 12:00..12:05 are closed by the stream's last record (12:06:30); 12:06 is still open.
    const aggregates = await until(() => readDecoded<AggregateRecord>(t.aggregates(site)), (a) => a.length >= 6 * 3, 'the aggregates', 60_000);
    const temperature = aggregates.filter((a) => a.value.field === 'air_temperature');
    const expected = expectedAggregates(records, t0 + 6 * 60_000);
    expect(temperature).toHaveLength(expected.size);
    for (const a of temperature) {
      const want = expected.get(`${a.value.stream}|air_temperature|${a.value.window_start}`)!;
      expect(a.value, String(a.value.window_start)).toMatchObject({ unit: 'K', count: want.count, window_end: a.value.window_start + 60_000 });
      expect(a.value.min).toBeCloseTo(want.min, 9);
      expect(a.value.max).toBeCloseTo(want.max, 9);
      expect(a.value.mean).toBeCloseTo(want.mean, 9);
    }

    const dead = await until(() => readTopic(t.dlq), (d) => d.length >= 1, 'the dead letter');
    expect(dead).toHaveLength(1);

    // Caught up: every partition of the curated topic gets heartbeats (the archiver's clock on idle partitions).
    const heartbeats = await until(async () => (await readTopic(t.curated(site))).filter((r) => r.headers.record_kind === 'heartbeat'), (h) => new Set(h.map((r) => r.partition)).size === 6, 'heartbeats on every curated partition (6 by default)', 30_000);
    for (const h of heartbeats) {
      expect(h.value).toBeNull();
      expect(Number(h.headers.heartbeat_time)).toBeGreaterThan(t0);
    }
    expect(dead[0]!.headers.dlq_reason).toBe('decode');
    expect(dead[0]!.value!.toString()).toBe('not the wire format');
    const metrics = await e.metrics();
    expect(metricValue(metrics, 'skyhaul_central_etl_dead_letters_total', { reason: 'decode' })).toBe(1);
    expect(metricValue(metrics, 'skyhaul_central_etl_curated_total')).toBe(41);
  }, 180_000);

  it('several instances share the partitions; one killed -9 and another started mid-stream: every record curated once, every closed window aggregated once and right', async () => {
    const t = setup({ allowedLateness: '0s' });
    const site = unique('obs');
    const producerId = `edge-${randomUUID().slice(0, 8)}`;
    const streams = Array.from({ length: 12 }, (_, i) => `weather/mast${i}/ptu`);
    const t0 = Date.UTC(2026, 10, 30, 13, 0, 0);
    const written: TelemetryRecord[] = [];
    let next = 1;
    const writeSome = async (rounds: number): Promise<void> => {
      for (let round = 0; round < rounds; round++, next++) {
        const batch = streams.map((stream, s) => ptu(site, producerId, stream, next, t0 + next * 5_000, (next * 7 + s) % 31));
        await writer.write(t.raw(site), batch);
        written.push(...batch);
      }
    };
    await writeSome(5);
    const a = await etl(t.config());
    const b = await etl(t.config());
    const flowing = (async () => {
      for (let i = 0; i < 30; i++) {
        await writeSome(5);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await a.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const c = await etl(t.config());
    await flowing;
    const total = written.length;
    const curated = await until(() => readDecoded<CuratedReading>(t.curated(site)), (r) => r.length >= total, `all ${total} curated`, 180_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const final = await readDecoded<CuratedReading>(t.curated(site));
    const keys = final.map((r) => `${r.value.stream}|${r.value.sequence}`);
    console.log(`ETL under rebalance: ${total} written, ${curated.length} then ${final.length} curated, deduplicated ${metricValue(await b.metrics(), 'skyhaul_central_etl_deduplicated_total') + metricValue(await c.metrics(), 'skyhaul_central_etl_deduplicated_total')}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(final).toHaveLength(total);
    // Per stream, curated in sequence order.
    for (const stream of streams) {
      const seqs = final.filter((r) => r.value.stream === stream).map((r) => r.value.sequence);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
    // Every window every stream has closed: once, equal to the raw records'.
    const lastTime = t0 + (next - 1) * 5_000;
    const expected = expectedAggregates(written, Math.floor(lastTime / 60_000) * 60_000);
    const aggregates = await until(() => readDecoded<AggregateRecord>(t.aggregates(site)), (ag) => ag.filter((x) => x.value.field === 'air_temperature').length >= expected.size, 'the aggregates', 120_000);
    const temperature = aggregates.filter((x) => x.value.field === 'air_temperature');
    const seen = temperature.map((x) => `${x.value.stream}|air_temperature|${x.value.window_start}`);
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(new Set(expected.keys()));
    for (const x of temperature) {
      const want = expected.get(`${x.value.stream}|air_temperature|${x.value.window_start}`)!;
      expect(x.value.count).toBe(want.count);
      expect(x.value.mean).toBeCloseTo(want.mean, 9);
    }
  }, 300_000);
});
