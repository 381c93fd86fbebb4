/**
 * The archiver's determinism against the real Kafka, registry and S3 server: an archiver killed
 * -9 twice while it writes ends with the same object set, byte for byte, as one that read the
 * same topic from the start without a kill; and the reprocessing runbook
 * (docs/runbooks/reprocess-time-range.md) — objects deleted from the lake, the group's offsets
 * reset with Kafka's own kafka-consumer-groups tool to a time before them — re-forms exactly the
 * deleted objects and nothing else.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centralConfig, metricValue, startCentral, type CentralHandle } from '../support/central.ts';
import { stackEnv, unique } from '../support/env.ts';
import { archiveConfig, curated, CuratedProducer, durableManifest, lakeRows, manifest, objectSet, PTU, testStore, until, WIND } from './support.ts';

let registry: CentralHandle;
let producer: CuratedProducer;
const handles: CentralHandle[] = [];
const lakeA = testStore();
const lakeB = testStore();

beforeAll(async () => {
  registry = await startCentral('registry', { ...centralConfig({ namespace: 'skyhaul/unused' }), registry: { topic: unique('_schemas') } });
  handles.push(registry);
  producer = await CuratedProducer.open(registry.url);
  await lakeA.ensureBucket();
  await lakeB.ensureBucket();
}, 120_000);

afterAll(async () => {
  for (const h of handles) await h.kill('SIGTERM');
  await producer?.close();
  lakeA.close();
  lakeB.close();
});

const T0 = Date.UTC(2026, 10, 29, 21, 30, 0);
const PER_STREAM = 400;

/** Kafka's kafka-consumer-groups tool (the dev stack's Kafka class path), as the runbook runs it. */
function consumerGroups(args: string[]): string {
  const classpath = readFileSync(stackEnv('SKYHAUL_KAFKA_CLASSPATH'), 'utf8').trim();
  const result = spawnSync('java', ['-cp', classpath, 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', stackEnv('SKYHAUL_KAFKA_BOOTSTRAP'), ...args], { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`kafka-consumer-groups ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

const total = (entries: Array<{ records: number }>): number => entries.reduce((n, e) => n + e.records, 0);

describe('archive replay', () => {
  it('killed -9 twice mid-write, it ends with the object set of an uninterrupted replay, byte for byte; deleted objects are re-formed exactly after an offset reset', async () => {
    const site = unique('site');
    const topic = `skyhaul.curated.${site}`;
    await producer.createTopic(topic, 2);
    const streams = [
      { stream: 'wind/mast1/wind', partition: 0, subject: WIND },
      { stream: 'weather/wxt/ptu', partition: 0, subject: PTU },
      { stream: 'wind/mast2/wind', partition: 1, subject: WIND },
    ];
    const items = [];
    for (let i = 1; i <= PER_STREAM; i++) for (const s of streams) items.push({ partition: s.partition, reading: curated(site, 'edge-7', s.stream, i, T0 + i * 10_000, s.subject) });
    const groupA = unique('archive-a');
    const configA = archiveConfig(registry.url, lakeA, { groupId: groupA, topics: [topic], rotation: { maxRecords: 30, interval: '2m' } });

    // Run A: the topic arrives in three parts; the archiver is killed -9 after each of the first two.
    const third = items.length / 3;
    let archive = await startCentral('archive', configA);
    handles.push(archive);
    for (let part = 0; part < 3; part++) {
      await producer.send(topic, items.slice(part * third, (part + 1) * third), 50);
      if (part === 2) break;
      await until(() => manifest(lakeA), (e) => total(e) >= (part + 0.5) * third, `part ${part + 1} half archived`);
      expect(await archive.kill('SIGKILL')).toBeNull();
      archive = await startCentral('archive', configA);
      handles.push(archive);
    }
    const end = T0 + (PER_STREAM + 1) * 10_000 + 2 * 60_000;
    await producer.heartbeat(topic, 0, end);
    await producer.heartbeat(topic, 1, end);
    const entriesA = await until(() => durableManifest(lakeA), (e) => total(e) >= items.length, 'run A complete', 120_000);
    expect(total(entriesA)).toBe(items.length);
    const rows = await lakeRows(lakeA);
    expect(new Set(rows.map(({ row }) => `${String(row.stream)}|${String(row.sequence)}`)).size).toBe(items.length);
    expect(rows).toHaveLength(items.length);

    // Run B: a fresh group into another bucket, no kill.
    const b = await startCentral('archive', archiveConfig(registry.url, lakeB, { groupId: unique('archive-b'), topics: [topic], rotation: { maxRecords: 30, interval: '2m' } }));
    handles.push(b);
    await until(() => durableManifest(lakeB), (e) => total(e) >= items.length, 'run B complete', 120_000);
    const setA = await objectSet(lakeA);
    const setB = await objectSet(lakeB);
    expect(setA.size).toBeGreaterThan(20);
    expect([...setA].sort()).toEqual([...setB].sort());
    expect(await b.kill('SIGTERM')).toBe(0);
    console.log(`archive replay: ${items.length} records, ${setA.size} objects after 2 kills -9 = ${setB.size} objects of an uninterrupted run, byte for byte`);

    // Reprocessing (the runbook): stop the archivers, delete the last three objects of partition 0,
    // reset the group to a record time before them, start again.
    expect(await archive.kill('SIGTERM')).toBe(0);
    const partition0 = entriesA.filter((e) => e.partition === 0).sort((x, y) => Number(BigInt(x.first_offset) - BigInt(y.first_offset)));
    const deleted = partition0.slice(-3);
    for (const e of deleted) await lakeA.delete(e.key);
    expect((await objectSet(lakeA)).size).toBe(setA.size - 3);
    const resetTo = new Date(Math.min(...deleted.map((e) => e.min_event_time)) - 10 * 60_000).toISOString().replace('Z', '');
    const plan = consumerGroups(['--group', groupA, '--topic', topic, '--reset-offsets', '--to-datetime', resetTo, '--execute']);
    expect(plan).toContain(topic);
    const again = await startCentral('archive', configA);
    handles.push(again);
    const restored = await until(() => objectSet(lakeA), (s) => s.size === setA.size, 'the deleted objects re-formed', 120_000);
    expect([...restored].sort()).toEqual([...setA].sort());
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await manifest(lakeA)).length).toBe(entriesA.length);
    expect(metricValue(await again.metrics(), 'skyhaul_central_archive_covered_total')).toBeGreaterThan(0);
    expect(await again.kill('SIGTERM')).toBe(0);
  }, 600_000);
});
