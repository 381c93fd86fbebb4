/**
 * The archiver against the real Kafka, registry and S3 server (child process, as it runs): each
 * record once in the lake, one stream per object in offset (and sequence) order, typed columns
 * from the raw subject's schema, units in the Parquet metadata and the manifest, the Hive layout
 * read back by DuckDB; an idle partition's last objects wait for a heartbeat in the log; a value
 * that is not a curated record is kept under _rejected/ and the rest goes on; SIGTERM exits 0.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/archive/encode.ts';
import { centralConfig, metricValue, startCentral, type CentralHandle } from '../support/central.ts';
import { unique } from '../support/env.ts';
import { archiveConfig, curated, CuratedProducer, durableManifest, lakeRows, manifest, parquetKv, PTU, testStore, until, WIND } from './support.ts';

let registry: CentralHandle;
let producer: CuratedProducer;
const handles: CentralHandle[] = [];
const store = testStore();
const dir = mkdtempSync(join(tmpdir(), 'skyhaul-archive-test-'));

beforeAll(async () => {
  registry = await startCentral('registry', { ...centralConfig({ namespace: 'skyhaul/unused' }), registry: { topic: unique('_schemas') } });
  handles.push(registry);
  producer = await CuratedProducer.open(registry.url);
  await store.ensureBucket();
}, 120_000);

afterAll(async () => {
  for (const h of handles) await h.kill('SIGTERM');
  await producer?.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

// 12:50 to 13:15 UTC: the records cross an hour.
const T0 = Date.UTC(2026, 10, 29, 12, 50, 0);

describe('archive', () => {
  it('writes each record once, typed and ordered, in the Hive layout with a manifest; waits for a heartbeat on an idle partition; DuckDB reads it', async () => {
    const site = unique('site');
    const topic = `skyhaul.curated.${site}`;
    await producer.createTopic(topic, 2);
    const streams = [
      { stream: 'wind/mast1/wind', partition: 0, subject: WIND },
      { stream: 'weather/wxt/ptu', partition: 0, subject: PTU },
      { stream: 'wind/mast2/wind', partition: 1, subject: WIND },
    ];
    const items = [];
    for (let i = 1; i <= 150; i++) for (const s of streams) items.push({ partition: s.partition, reading: curated(site, 'edge-1', s.stream, i, T0 + i * 10_000, s.subject) });
    const archive = await startCentral('archive', archiveConfig(registry.url, store, { topics: [topic], rotation: { maxRecords: 25, interval: '5m' } }));
    handles.push(archive);
    await producer.send(topic, items.slice(0, 200));
    await producer.raw(topic, 1, Buffer.from('not a curated record'));
    await producer.send(topic, items.slice(200));

    // Without a heartbeat the groups opened in the last 5 minutes of ingest time stay open.
    const before = await until(
      async () => ({ entries: await manifest(store), metrics: await archive.metrics() }),
      (x) =>
        // Both partitions fetched to their end (a lag line for each, all 0; the bad record seen), and every closed object durable.
        x.metrics.split('\n').filter((l) => l.startsWith('skyhaul_central_archive_lag_records{')).length === 2 &&
        metricValue(x.metrics, 'skyhaul_central_archive_lag_records') === 0 &&
        metricValue(x.metrics, 'skyhaul_central_archive_rejected_total') >= 1 &&
        metricValue(x.metrics, 'skyhaul_central_archive_inflight_objects') === 0 &&
        metricValue(x.metrics, 'skyhaul_central_archive_records_total') === x.entries.reduce((n, e) => n + e.records, 0) &&
        metricValue(x.metrics, 'skyhaul_central_archive_open_groups') > 0 &&
        x.entries.length > 5,
      'the objects closed by the records',
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const stillBefore = (await manifest(store)).reduce((n, e) => n + e.records, 0);
    expect(stillBefore).toBeLessThan(450);
    expect(stillBefore).toBe(before.entries.reduce((n, e) => n + e.records, 0));

    // The ETL's heartbeats move both partitions' clocks past every deadline.
    const end = T0 + 151 * 10_000 + 5 * 60_000;
    await producer.heartbeat(topic, 0, end);
    await producer.heartbeat(topic, 1, end);
    const entries = await until(() => durableManifest(store), (e) => e.reduce((n, x) => n + x.records, 0) >= 450, 'every record archived');
    expect(entries.reduce((n, x) => n + x.records, 0)).toBe(450);

    // Each record once; per object one stream, rows in offset and sequence order.
    const rows = await lakeRows(store);
    expect(rows).toHaveLength(450);
    const ids = rows.map(({ row }) => `${String(row.producer_id)}|${String(row.stream)}|${String(row.sequence)}`);
    expect(new Set(ids).size).toBe(450);
    const byKey = new Map<string, Array<Record<string, unknown>>>();
    for (const { key, row } of rows) byKey.set(key, [...(byKey.get(key) ?? []), row]);
    for (const [key, objectRows] of byKey) {
      expect(new Set(objectRows.map((r) => r.stream)).size, key).toBe(1);
      const offsets = objectRows.map((r) => r.kafka_offset as bigint);
      expect([...offsets].sort((a, b) => (a < b ? -1 : 1)), key).toEqual(offsets);
      const sequences = objectRows.map((r) => Number(r.sequence));
      expect([...sequences].sort((a, b) => a - b), key).toEqual(sequences);
      // The key names the topic, partition and the first and last offsets of the object.
      expect(key.endsWith(`/${topic}-${String(objectRows[0]!.kafka_partition)}-${offsets[0]}-${offsets.at(-1)}.parquet`), key).toBe(true);
    }
    // Hive layout: the stream escaped, the event time's date and hour.
    expect([...byKey.keys()].some((k) => k.startsWith(`site=${site}/stream=wind%2Fmast1%2Fwind/date=2026-11-29/hour=12/`))).toBe(true);
    expect([...byKey.keys()].some((k) => k.startsWith(`site=${site}/stream=wind%2Fmast1%2Fwind/date=2026-11-29/hour=13/`))).toBe(true);

    // Columns and values: a wind row carries its fields typed (numbers, text, a boolean) and every property.
    const row = rows.find(({ row: r }) => r.stream === 'wind/mast2/wind' && Number(r.sequence) === 7)!.row;
    const sent = curated(site, 'edge-1', 'wind/mast2/wind', 7, T0 + 70_000, WIND);
    expect(row).toMatchObject({ site_id: site, producer_id: 'edge-1', stream: 'wind/mast2/wind', traceparent: sent.traceparent, raw_subject: WIND, content_type: 'application/json', wind_speed: 0.7, wind_direction: 7, node: 'Q', status: 'ok', valid: true, kafka_partition: 1, flags: '[]', extra_fields: null });
    expect(new Date(row.event_time as Date).getTime()).toBe(sent.event_time);
    expect(new Date(row.ingest_time as Date).getTime()).toBe(sent.ingest_time);
    // Units in the Parquet key-value metadata and in the manifest.
    const windEntry = entries.find((e) => e.stream === 'wind/mast2/wind')!;
    expect(JSON.parse((await parquetKv(store, windEntry.key))['skyhaul.units']!)).toEqual({ wind_direction: 'deg', wind_speed: 'm/s' });
    expect(entries.find((e) => e.stream === 'weather/wxt/ptu')!.units).toEqual({ air_pressure: 'Pa', air_temperature: 'K', relative_humidity: '%' });

    // The manifest: one entry per object, with its records, offsets, times, sequences and checksum.
    expect(entries).toHaveLength(byKey.size);
    for (const e of entries) {
      const objectRows = byKey.get(e.key)!;
      expect(e.records).toBe(objectRows.length);
      expect(e.sha256).toBe(sha256((await store.get(e.key))!));
      expect(e.first_offset).toBe(String(objectRows[0]!.kafka_offset));
      expect(e.min_event_time).toBe(Math.min(...objectRows.map((r) => new Date(r.event_time as Date).getTime())));
      expect(e.producers['edge-1']).toEqual({ first_sequence: Number(objectRows[0]!.sequence), last_sequence: Number(objectRows.at(-1)!.sequence), records: objectRows.length });
    }
    expect(new Set(entries.map((e) => e.closed_by))).toEqual(new Set(['records', 'time']));

    // The bad value is kept as it came, named by its offset; counted.
    const rejected = await store.list('_rejected/');
    expect(rejected).toHaveLength(1);
    expect(JSON.parse((await store.get(rejected[0]!.key))!.toString())).toMatchObject({ topic, partition: 1, reason: 'wire_format', value_base64: Buffer.from('not a curated record').toString('base64') });
    expect(metricValue(await archive.metrics(), 'skyhaul_central_archive_rejected_total', { reason: 'wire_format' })).toBe(1);

    // DuckDB reads the lake with hive partitioning. Its S3 reader (the httpfs extension) is
    // downloaded at run time, which this machine cannot do: the objects are copied to a local
    // directory with their keys as paths, and DuckDB reads them there.
    for (const key of byKey.keys()) {
      const path = join(dir, key);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, (await store.get(key))!);
    }
    const duck = await DuckDBInstance.create(':memory:');
    const connection = await duck.connect();
    try {
      const source = `read_parquet('${dir}/site=*/stream=*/date=*/hour=*/*.parquet', hive_partitioning = true, union_by_name = true)`;
      const perStream = (await (await connection.run(`SELECT stream, count(*)::INTEGER AS n, min(event_time)::VARCHAR AS first, max(sequence)::INTEGER AS last FROM ${source} GROUP BY stream ORDER BY stream`)).getRowObjects()) as Array<Record<string, unknown>>;
      expect(perStream).toEqual([
        { stream: 'weather/wxt/ptu', n: 150, first: expect.stringMatching(/^2026-11-29 12:50:09\.9/), last: 150 },
        { stream: 'wind/mast1/wind', n: 150, first: expect.stringMatching(/^2026-11-29 12:50:09\.9/), last: 150 },
        { stream: 'wind/mast2/wind', n: 150, first: expect.stringMatching(/^2026-11-29 12:50:09\.9/), last: 150 },
      ]);
      const hours = (await (await connection.run(`SELECT hour::INTEGER AS hour, count(*)::INTEGER AS n FROM ${source} GROUP BY hour ORDER BY hour`)).getRowObjects()) as Array<Record<string, unknown>>;
      expect(hours.map((h) => h.hour)).toEqual([12, 13]);
      const value = (await (await connection.run(`SELECT air_temperature, valid FROM ${source} WHERE stream = 'weather/wxt/ptu' AND sequence = 42`)).getRowObjects()) as Array<Record<string, unknown>>;
      expect(value).toEqual([{ air_temperature: 273.15 + 0.42, valid: null }]);
      const types = (await (await connection.run(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${source})`)).getRowObjects()) as Array<{ column_name: string; column_type: string }>;
      const type = Object.fromEntries(types.map((t) => [t.column_name, t.column_type]));
      expect(type).toMatchObject({ event_time: 'TIMESTAMP WITH TIME ZONE', sequence: 'BIGINT', wind_speed: 'DOUBLE', valid: 'BOOLEAN', node: 'VARCHAR', kafka_offset: 'BIGINT', site: 'VARCHAR' });
    } finally {
      connection.closeSync();
      duck.closeSync();
    }

    // SIGTERM: leaves cleanly with exit 0; nothing more is written by a restart over the same records.
    expect(await archive.kill('SIGTERM')).toBe(0);
    const again = await startCentral('archive', archiveConfig(registry.url, store, { topics: [topic] }));
    handles.push(again);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await manifest(store)).length).toBe(entries.length);
    expect(await again.kill('SIGTERM')).toBe(0);
  }, 240_000);

  it('archive.format jsonl.gz: the same layout and manifest, each object gzip-compressed JSON lines of the curated records', async () => {
    const site = unique('site');
    const topic = `skyhaul.curated.${site}`;
    await producer.createTopic(topic, 1);
    const items = Array.from({ length: 40 }, (_, i) => ({ partition: 0, reading: curated(site, 'edge-2', 'weather/wxt/ptu', i + 1, T0 + i * 10_000, PTU) }));
    await producer.send(topic, items);
    await producer.heartbeat(topic, 0, T0 + 41 * 10_000 + 5 * 60_000);
    const jsonStore = testStore();
    await jsonStore.ensureBucket();
    const archive = await startCentral('archive', archiveConfig(registry.url, jsonStore, { topics: [topic], format: 'jsonl.gz', rotation: { maxRecords: 25, interval: '5m' } }));
    handles.push(archive);
    const entries = await until(() => durableManifest(jsonStore), (e) => e.reduce((n, x) => n + x.records, 0) >= 40, 'every record archived');
    expect(entries.map((e) => e.records).sort()).toEqual([15, 25]);
    const lines = [];
    for (const e of entries.sort((a, b) => Number(BigInt(a.first_offset) - BigInt(b.first_offset)))) {
      expect(e.key).toMatch(new RegExp(`^site=${site}/stream=weather%2Fwxt%2Fptu/date=2026-11-29/hour=12/${topic.replaceAll('.', '\\.')}-0-${e.first_offset}-${e.last_offset}\\.jsonl\\.gz$`));
      expect(e.format).toBe('jsonl.gz');
      const bytes = (await jsonStore.get(e.key))!;
      expect(sha256(bytes)).toBe(e.sha256);
      lines.push(...gunzipSync(bytes).toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
    }
    expect(lines.map((l) => l.sequence)).toEqual(items.map((x) => x.reading.sequence));
    expect(lines[4]).toMatchObject({ site_id: site, stream: 'weather/wxt/ptu', producer_id: 'edge-2', kafka_partition: 0, values: items[4]!.reading.values, units: items[4]!.reading.units });
    expect(await archive.kill('SIGTERM')).toBe(0);
    jsonStore.close();
  }, 120_000);

  it('archives the control plane\'s audit topic (JSON records) like the telemetry: site and _control/audit in the Hive layout, the audit fields as columns; a JSON value that is no audit record is rejected', async () => {
    const site = unique('site');
    const topic = unique('test.control.audit');
    await producer.createTopic(topic, 1);
    const t0 = Date.UTC(2026, 10, 29, 23, 58, 0);
    const audit = (i: number, event: string): Record<string, unknown> => ({
      v: 1, eventId: `cmd-${i}/${event}`, event, id: `cmd-${i}`, correlationId: `corr-${i}`, traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, operator: 'alice', role: event === 'requested' ? null : 'operator',
      site, command: 'bandwidth', params: { rate: '64KiB' }, state: event === 'requested' ? null : 'accepted', source: 'governance', at: t0 + i * 30_000, deadline: t0 + i * 30_000 + 60_000,
      idempotencyKey: `key-${i}`, result: null, error: null, writer: 'governance/test/1',
    });
    for (let i = 0; i < 6; i++) for (const event of ['requested', 'authorised']) await producer.raw(topic, 0, Buffer.from(JSON.stringify(audit(i, event))));
    await producer.raw(topic, 0, Buffer.from(JSON.stringify({ v: 2, note: 'not an audit record' })));
    await producer.heartbeat(topic, 0, t0 + 10 * 60_000);
    const auditStore = testStore();
    await auditStore.ensureBucket();
    const archive = await startCentral('archive', archiveConfig(registry.url, auditStore, { topics: [topic], rotation: { interval: '2m' } }));
    handles.push(archive);
    const entries = await until(() => durableManifest(auditStore), (e) => e.reduce((n, x) => n + x.records, 0) >= 12, 'the audit records archived');
    expect(entries.reduce((n, x) => n + x.records, 0)).toBe(12);
    // The records cross midnight: two days in the layout.
    expect(new Set(entries.map((e) => `${e.date}/${e.hour}`))).toEqual(new Set(['2026-11-29/23', '2026-11-30/00']));
    const rows = await lakeRows(auditStore);
    expect(rows.every(({ key }) => key.startsWith(`site=${site}/stream=_control%2Faudit/`))).toBe(true);
    const first = rows.find(({ row }) => row.event_id === 'cmd-3/authorised')!.row;
    expect(first).toMatchObject({ site_id: site, stream: '_control/audit', command_id: 'cmd-3', correlation_id: 'corr-3', operator: 'alice', role: 'operator', command: 'bandwidth', state: 'accepted', raw_subject: 'skyhaul.control.audit.v1', producer_id: 'governance/test/1', deadline: t0 + 90_000 + 60_000 });
    expect(JSON.parse(String(first.payload))).toEqual({ params: { rate: '64KiB' }, result: null, error: null });
    expect(rows.map(({ row }) => row.event_id)).toEqual(Array.from({ length: 6 }, (_, i) => [`cmd-${i}/requested`, `cmd-${i}/authorised`]).flat());
    const rejected = await auditStore.list('_rejected/');
    expect(rejected).toHaveLength(1);
    expect(JSON.parse((await auditStore.get(rejected[0]!.key))!.toString())).toMatchObject({ reason: 'audit' });
    expect(await archive.kill('SIGTERM')).toBe(0);
    auditStore.close();
  }, 120_000);
});
