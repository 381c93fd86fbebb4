/**
 * The data lake's benchmarks, each beside a baseline from the same run:
 *
 *   archive_records_per_s / archive_mb_per_s   a backlog of curated records (as the ETL writes
 *                              them, 60 streams over 6 partitions) through the archiver (child
 *                              process, Parquet, default rotation) into the dev stack's S3 server;
 *                              from the archiver's readiness to its last object durable; MB are
 *                              the objects' bytes
 *   vs s3_put_mb_per_s         the same objects PUT again by the same client (ObjectStore, the AWS
 *                              SDK) with the archiver's concurrency (archive.maxInFlight = 4)
 *   archive_ratio_to_s3_put    archive_mb_per_s / s3_put_mb_per_s (target ≥ 0.5)
 *   archiver_rss_mb_peak       the archiver's peak RSS over 1,000 partitions, 10 topics (100 with
 *                              --quick), all active, with archive.memoryCap 64 MiB: bounded by the cap
 *   edge_to_lake_latency_p50_s / _p99_s   the smoke run's pipeline (simulator -> daemon -> site
 *                              Pulsar -> central Pulsar -> bridge -> Kafka -> ETL -> archiver) without
 *                              a cut or a kill: per record, its object's first listing minus its
 *                              ingest_time at the edge; reported beside the archiver's rotation
 *                              interval, which dominates it
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../../central/src/archive/encode.ts';
import { ObjectStore } from '../../central/src/objectstore/index.ts';
import { curated, CuratedProducer, WIND } from '../../central/test/archive/support.ts';
import { centralConfig, metricValue, startCentral, type CentralHandle } from '../../central/test/support/central.ts';
import type { StackEndpoints } from '../../packaging/dev-stack/stack.ts';
import { runSmoke } from '../smoke/harness.ts';
import { log, RssSampler, sleep, type Cleanup } from './util.ts';

export interface ArchiveBenchResult {
  records: number;
  objects: number;
  objectBytes: number;
  archiveSeconds: number;
  archiveRecordsPerSecond: number;
  archiveMbPerSecond: number;
  s3PutMbPerSecond: number;
  ratio: number;
  archiverRssMbPeak: number;
}

export interface ArchiverMemoryResult {
  partitions: number;
  records: number;
  memoryCapMb: number;
  rssMbPeak: number;
  objects: number;
}

export interface EdgeToLakeResult {
  rateScale: number;
  seconds: number;
  records: number;
  rotationSeconds: number;
  p50Seconds: number;
  p99Seconds: number;
}

function benchStore(env: StackEndpoints, bucket: string): ObjectStore {
  return new ObjectStore({ endpoint: env.SKYHAUL_S3_ENDPOINT, region: env.SKYHAUL_S3_REGION, accessKeyId: env.SKYHAUL_S3_ACCESS_KEY, secretAccessKey: env.SKYHAUL_S3_SECRET_KEY, bucket, forcePathStyle: true });
}

function archiveConfigFor(env: StackEndpoints, registryUrl: string, bucket: string, archive: Record<string, unknown>): Record<string, unknown> {
  return {
    ...centralConfig({ namespace: 'skyhaul/unused', registryUrl }),
    objectStore: { endpoint: env.SKYHAUL_S3_ENDPOINT, region: env.SKYHAUL_S3_REGION, bucket, accessKeyId: env.SKYHAUL_S3_ACCESS_KEY, secretAccessKey: env.SKYHAUL_S3_SECRET_KEY, forcePathStyle: true },
    archive: { topicPattern: '', ...archive },
  };
}

/** Writes `perPartition` curated records into each of `partitions` partitions (stream s -> partition s % partitions), then a heartbeat per partition past every deadline. */
async function loadCurated(producer: CuratedProducer, topic: string, options: { partitions: number; streams: number; records: number; site: string }): Promise<void> {
  await producer.createTopic(topic, options.partitions);
  const t0 = Date.UTC(2026, 10, 30, 0, 0, 0);
  const items = [];
  for (let i = 0; i < options.records; i++) {
    const stream = i % options.streams;
    const sequence = Math.floor(i / options.streams) + 1;
    items.push({ partition: stream % options.partitions, reading: curated(options.site, 'bench-edge', `wind/mast${stream}/wind`, sequence, t0 + sequence * 1000, WIND) });
  }
  // Without transactions: transactions over many partitions in a row keep the coordinator busy
  // writing markers, and @platformatic/kafka 1.35 gives up on CONCURRENT_TRANSACTIONS after 51 tries.
  await producer.sendPlain(topic, items);
  const end = t0 + (Math.ceil(options.records / options.streams) + 1) * 1000 + 11 * 60_000;
  for (let p = 0; p < options.partitions; p++) await producer.heartbeat(topic, p, end);
}

/** Waits until the archiver has made `records` records durable; seconds from the call. */
async function timeArchiving(archive: CentralHandle, records: number): Promise<number> {
  const started = performance.now();
  const deadline = started + 1_200_000;
  for (;;) {
    const m = await archive.metrics();
    if (metricValue(m, 'skyhaul_central_archive_records_total') >= records && metricValue(m, 'skyhaul_central_archive_inflight_objects') === 0) return (performance.now() - started) / 1000;
    if (performance.now() > deadline) throw new Error(`archiver: ${metricValue(m, 'skyhaul_central_archive_records_total')} of ${records} records in 20 min`);
    await sleep(100);
  }
}

/** The same objects PUT by the same client, `concurrency` at a time: MB/s. */
async function s3PutBaseline(source: ObjectStore, target: ObjectStore, concurrency: number): Promise<number> {
  const bodies: Buffer[] = [];
  for (const item of await source.list('site=')) bodies.push((await source.get(item.key))!);
  await target.ensureBucket();
  const queue = bodies.map((body, i) => ({ key: `baseline/${String(i).padStart(8, '0')}.parquet`, body }));
  const bytes = bodies.reduce((n, b) => n + b.length, 0);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await target.putIfAbsent(item.key, item.body, { contentType: 'application/vnd.apache.parquet', metadata: { sha256: sha256(item.body) } });
    }),
  );
  return bytes / 1e6 / ((performance.now() - started) / 1000);
}

/** Archive throughput on a backlog vs raw S3 PUTs of the same bytes. */
export async function measureArchive(options: { env: StackEndpoints; records: number; runId: string; dir: string }, cleanup: Cleanup): Promise<ArchiveBenchResult> {
  const dir = mkdtempSync(join(options.dir, 'archive-bench-'));
  const registry = await startCentral('registry', { ...centralConfig({ namespace: 'skyhaul/unused' }), registry: { topic: `_schemas.bench.archive.${options.runId}` } }, mkdtempSync(join(dir, 'r-')));
  const removeRegistry = cleanup.add('archive bench registry', () => void registry.kill('SIGTERM'));
  const producer = await CuratedProducer.open(registry.url);
  const bucket = `bench-lake-${options.runId}`.toLowerCase();
  const store = benchStore(options.env, bucket);
  const baselineStore = benchStore(options.env, `${bucket}-put`);
  try {
    const topic = `bench.curated.${options.runId}`;
    log(`archive: loading ${options.records} curated records (60 streams, 6 partitions)`);
    await loadCurated(producer, topic, { partitions: 6, streams: 60, records: options.records, site: `bench-${options.runId}` });
    const archive = await startCentral('archive', archiveConfigFor(options.env, registry.url, bucket, { groupId: `bench-archive-${options.runId}`, topics: [topic] }), mkdtempSync(join(dir, 'a-')));
    const rss = new RssSampler(() => archive.process.pid, 200).start();
    let seconds: number;
    let objectBytes: number;
    let objects: number;
    try {
      seconds = await timeArchiving(archive, options.records);
      const m = await archive.metrics();
      objectBytes = metricValue(m, 'skyhaul_central_archive_object_bytes_total');
      objects = metricValue(m, 'skyhaul_central_archive_objects_total');
    } finally {
      rss.stop();
      await archive.kill('SIGTERM');
    }
    log(`archive: ${objects} objects, ${(objectBytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s; baseline: the same objects PUT again`);
    const s3PutMbPerSecond = await s3PutBaseline(store, baselineStore, 4);
    const archiveMbPerSecond = objectBytes / 1e6 / seconds;
    return { records: options.records, objects, objectBytes, archiveSeconds: seconds, archiveRecordsPerSecond: options.records / seconds, archiveMbPerSecond, s3PutMbPerSecond, ratio: archiveMbPerSecond / s3PutMbPerSecond, archiverRssMbPeak: rss.peakMb };
  } finally {
    await producer.close();
    store.close();
    baselineStore.close();
    await registry.kill('SIGTERM');
    removeRegistry();
  }
}

/** The archiver's peak RSS over `partitions` partitions (topics of 100), every one with traffic, under a 64 MiB memory cap. */
export async function measureArchiverMemory(options: { env: StackEndpoints; partitions: number; recordsPerPartition: number; runId: string; dir: string }, cleanup: Cleanup): Promise<ArchiverMemoryResult> {
  const dir = mkdtempSync(join(options.dir, 'archive-mem-'));
  const registry = await startCentral('registry', { ...centralConfig({ namespace: 'skyhaul/unused' }), registry: { topic: `_schemas.bench.archmem.${options.runId}` } }, mkdtempSync(join(dir, 'r-')));
  const removeRegistry = cleanup.add('archive memory bench registry', () => void registry.kill('SIGTERM'));
  const producer = await CuratedProducer.open(registry.url);
  const bucket = `bench-mem-${options.runId}`.toLowerCase();
  const records = options.partitions * options.recordsPerPartition;
  try {
    // Topics of at most 100 partitions: @platformatic/kafka 1.35's transactional produce into a
    // 1,000-partition topic failed to parse the broker's response (OUT_OF_BOUNDS), here and only here.
    const perTopic = Math.min(100, options.partitions);
    const topics = Array.from({ length: Math.ceil(options.partitions / perTopic) }, (_, i) => `bench.curated.mem.${options.runId}.${i}`);
    log(`archive memory: ${options.partitions} partitions (${topics.length} topics) × ${options.recordsPerPartition} records`);
    for (const topic of topics) await loadCurated(producer, topic, { partitions: perTopic, streams: perTopic, records: perTopic * options.recordsPerPartition, site: `bench-${options.runId}` });
    const archive = await startCentral('archive', archiveConfigFor(options.env, registry.url, bucket, { groupId: `bench-archmem-${options.runId}`, topics, memoryCap: '64MiB' }), mkdtempSync(join(dir, 'a-')));
    const rss = new RssSampler(() => archive.process.pid, 200).start();
    try {
      await timeArchiving(archive, records);
      const objects = metricValue(await archive.metrics(), 'skyhaul_central_archive_objects_total');
      return { partitions: options.partitions, records, memoryCapMb: 64, rssMbPeak: rss.peakMb, objects };
    } finally {
      rss.stop();
      await archive.kill('SIGTERM');
      // 1,000 partitions per run: left behind, a few runs take the dev Kafka's 384 MB heap.
      await producer.deleteTopics(topics).catch((error: unknown) => log(`archive memory: could not delete its topics: ${String(error)}`));
    }
  } finally {
    await producer.close();
    await registry.kill('SIGTERM');
    removeRegistry();
  }
}

/** Edge ingest to the object listed in the lake, through the whole pipeline (no cut, no kill). */
export async function measureEdgeToLake(options: { rateScale: number; durationMs: number; dir: string }): Promise<EdgeToLakeResult> {
  const report = await runSmoke({ rateScale: options.rateScale, durationMs: options.durationMs, wanCutMs: 0, kills: false, reprocess: false, badRecords: 0, dir: mkdtempSync(join(options.dir, 'lake-latency-')), log });
  return { rateScale: options.rateScale, seconds: report.trafficSeconds, records: report.archived, rotationSeconds: report.rotationSeconds, p50Seconds: report.edgeToLakeSeconds.p50, p99Seconds: report.edgeToLakeSeconds.p99 };
}
