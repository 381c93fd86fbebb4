/**
 * The central path's benchmarks, each beside a baseline from the same run:
 *
 *   bridge_records_per_s       a backlog of vaisala-wxt ptu readings (≈ 200 B payloads) in the central
 *                              Pulsar, through the bridge (child process, production settings:
 *                              transactions, de-duplication state, Avro through the registry) into
 *                              Kafka; from its first Kafka commit to its last
 *   vs kafka_producer_perf_records_per_s   Kafka's own ProducerPerformance (kafka-tools jar),
 *                              acks=all, idempotent, the same record size, into a 6-partition topic
 *   vs pulsar_consume_records_per_s        a plain WebSocket consumer (Failover, individual acks)
 *                              reading the same backlog: what the bridge's input side alone takes
 *   bridge_ratio               bridge / the slower of the two baselines (target ≥ 0.5)
 *   bridge_rss_mb              the bridge's peak RSS while it works
 *   etl_records_per_s          a backlog of raw records (as the bridge writes them) through the ETL
 *                              (child process, exactly once: each batch a transaction with its
 *                              state and group offsets) vs etl_at_least_once_records_per_s, the
 *                              same stage committing output and offsets separately: what the
 *                              transactions cost (etl_exactly_once_cost_ratio = EOS / ALO)
 *   edge_to_kafka_latency_p50_ms / _p99_ms   the observatory profile (or a scale of it) through the
 *                              edge daemon, both Pulsars (geo-replication) and the bridge: for each
 *                              record, Kafka commit visible to a read_committed reader minus the
 *                              record's ingest_time at the edge (same machine, same clock)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KafkaLog, type InRecord } from '../../central/src/kafka/index.ts';
import { WsConsumer as PulsarWsConsumer } from '../../central/src/pulsar/consumer.ts';
import { CentralPublisher, centralConfig, createNamespace, metricValue, reading, startCentral, type CentralHandle } from '../../central/test/support/central.ts';
import { RawWriter } from '../../central/test/support/raw.ts';
import { repoRoot, stackDir, type StackEndpoints } from '../../packaging/dev-stack/stack.ts';
import { startSimulation } from '../../src/simulate/index.ts';
import { startDaemon } from '../support/daemon.ts';
import { log, percentile, RssSampler, sleep, type Cleanup } from './util.ts';

export interface BridgeBenchResult {
  records: number;
  payloadBytes: number;
  bridgeRecordsPerSecond: number;
  bridgeSeconds: number;
  bridgeRssMbPeak: number;
  kafkaProducerPerfRecordsPerSecond: number;
  kafkaProducerPerfLine: string;
  pulsarConsumeRecordsPerSecond: number;
  /** bridge / min(Kafka producer perf, Pulsar consume). */
  ratio: number;
}

export interface EtlBenchResult {
  records: number;
  exactlyOnceRecordsPerSecond: number;
  atLeastOnceRecordsPerSecond: number;
  ratio: number;
  etlRssMbPeak: number;
}

export interface LatencyBenchResult {
  rateScale: number;
  seconds: number;
  records: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const STREAMS = 20;

/** Kafka's ProducerPerformance from the kafka-tools jar; its final summary line. */
async function kafkaProducerPerf(env: StackEndpoints, topic: string, records: number, recordBytes: number, cleanup: Cleanup): Promise<{ recordsPerSecond: number; line: string }> {
  const classpath = readFileSync(join(stackDir, 'kafka.classpath'), 'utf8').trim();
  const args = [
    '-Xmx256m',
    `-Dlog4j2.configurationFile=${join(repoRoot, 'packaging', 'dev-stack', 'kafka', 'log4j2.properties')}`,
    '-cp',
    classpath,
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic', topic,
    '--num-records', String(records),
    '--record-size', String(recordBytes),
    '--throughput', '-1',
    // One flag, several key=value (a repeated flag keeps only its last).
    '--command-property', `bootstrap.servers=${env.SKYHAUL_KAFKA_BOOTSTRAP}`, 'acks=all', 'enable.idempotence=true',
  ];
  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const remove = cleanup.add('kafka-producer-perf', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  remove();
  const line = out.split('\n').find((l) => /^\d+ records sent, [\d.]+ records\/sec/.test(l));
  if (code !== 0 || line === undefined) throw new Error(`ProducerPerformance exited ${code}:\n${out.slice(-2000)}`);
  return { recordsPerSecond: Number(/records sent, ([\d.]+) records\/sec/.exec(line)![1]), line };
}

/** Reads `count` messages from the topic's start on a fresh Failover subscription, acknowledging each. */
async function pulsarConsume(env: StackEndpoints, topic: string, count: number): Promise<number> {
  const consumer = new PulsarWsConsumer({ webServiceUrl: env.SKYHAUL_PULSAR_CENTRAL_HTTP, topic, subscription: `bench-plain-${Date.now().toString(36)}`, consumerName: 'bench', receiverQueueSize: 1000 });
  let first = 0;
  let last = 0;
  let seen = 0;
  const done = new Promise<void>((resolve, reject) => {
    consumer.on('message', (m: { messageId: string }) => {
      if (seen === 0) first = performance.now();
      seen += 1;
      consumer.ack(m.messageId);
      if (seen === count) {
        last = performance.now();
        resolve();
      }
    });
    consumer.on('close', (error: Error | null) => reject(error ?? new Error('consumer closed')));
  });
  await consumer.open();
  await done;
  await consumer.close();
  return count / ((last - first) / 1000);
}

export async function measureBridge(options: { env: StackEndpoints; records: number; runId: string; dir: string }, cleanup: Cleanup): Promise<BridgeBenchResult> {
  const { env, records, runId } = options;
  const namespace = `skyhaul/bench-bridge-${runId}`;
  await createNamespace(namespace);
  const site = `bench-${runId}`;
  const topic = `persistent://${namespace}/${site}`;
  const producerId = `bench-${runId}`;
  // A full WXT ptu reading (all four fields with their units): about 200 bytes.
  const batch = Array.from({ length: records }, (_, i) => {
    const r = reading(site, producerId, `weather/mast${i % STREAMS}/ptu`, Math.floor(i / STREAMS) + 1, 10 + (i % 100) / 10);
    const payload = {
      fields: { air_temperature: 10 + (i % 100) / 10, relative_humidity: 40.2, air_pressure: 744.1, internal_temperature: 12.3 },
      units: { air_temperature: 'Cel', relative_humidity: '%', air_pressure: 'hPa', internal_temperature: 'Cel' },
    };
    return { ...r, payload: Buffer.from(JSON.stringify(payload)) };
  });
  const payloadBytes = Math.round(batch.reduce((n, r) => n + r.payload.length, 0) / batch.length);

  log(`bridge: loading ${records} records (${payloadBytes} B payloads) into the central Pulsar`);
  const publisher = await CentralPublisher.open(topic, `${producerId}/bench`);
  await publisher.sendAll(batch, 2000);
  publisher.close();

  log('bridge: plain Pulsar consume of the same backlog (baseline)');
  const pulsarConsumeRecordsPerSecond = await pulsarConsume(env, topic, records);

  log(`bridge: Kafka ProducerPerformance, ${records} × ${payloadBytes} B, acks=all, idempotent (baseline)`);
  const kafka = new KafkaLog({ bootstrap: [env.SKYHAUL_KAFKA_BOOTSTRAP], clientId: 'bench' });
  const perfTopic = `bench.perf.${runId}`;
  await kafka.ensureTopics([{ name: perfTopic, partitions: 6, replicationFactor: 1, config: {} }]);
  await kafka.close();
  const perf = await kafkaProducerPerf(env, perfTopic, records, payloadBytes, cleanup);

  log('bridge: the bridge on the backlog');
  const dir = mkdtempSync(join(options.dir, 'central-'));
  const handles: CentralHandle[] = [];
  const stop = async (): Promise<void> => {
    for (const h of handles.splice(0).reverse()) await h.kill('SIGTERM');
  };
  const remove = cleanup.add('central services', () => void stop());
  try {
    const registry = await startCentral('registry', { ...centralConfig({ namespace }), registry: { topic: `_schemas.bench.${runId}` } }, mkdtempSync(join(dir, 'r-')));
    handles.push(registry);
    // Production batching (the defaults), the dev stack's one broker.
    const config = centralConfig({ namespace, registryUrl: registry.url });
    (config.bridge as Record<string, unknown>).topicRefresh = '1s';
    const bridge = await startCentral('bridge', config, mkdtempSync(join(dir, 'b-')));
    handles.push(bridge);
    const rss = new RssSampler(() => bridge.process.pid, 200).start();
    let first = 0;
    let last = 0;
    const deadline = performance.now() + 600_000;
    for (;;) {
      const produced = metricValue(await bridge.metrics(), 'skyhaul_central_bridge_produced_total');
      const now = performance.now();
      if (produced > 0 && first === 0) first = now;
      if (produced >= records) {
        last = now;
        break;
      }
      if (now > deadline) throw new Error(`bridge wrote ${produced} of ${records} in 10 min`);
      await sleep(50);
    }
    rss.stop();
    // The first poll that saw a commit is up to one poll late; so is the last: the interval holds.
    const bridgeSeconds = (last - first) / 1000;
    const bridgeRecordsPerSecond = records / bridgeSeconds;
    return {
      records,
      payloadBytes,
      bridgeRecordsPerSecond,
      bridgeSeconds,
      bridgeRssMbPeak: rss.peakMb,
      kafkaProducerPerfRecordsPerSecond: perf.recordsPerSecond,
      kafkaProducerPerfLine: perf.line,
      pulsarConsumeRecordsPerSecond,
      ratio: bridgeRecordsPerSecond / Math.min(perf.recordsPerSecond, pulsarConsumeRecordsPerSecond),
    };
  } finally {
    await stop();
    remove();
  }
}

/**
 * The observatory profile at `rateScale` for `durationMs`, link up: the edge daemon publishes to
 * the site Pulsar, which geo-replicates to central, where the bridge writes to Kafka. A
 * read_committed follower of the raw topic takes each record's latency as it appears.
 */
export async function measureEdgeToKafkaLatency(options: { env: StackEndpoints; runId: string; rateScale: number; durationMs: number; dir: string }, cleanup: Cleanup): Promise<LatencyBenchResult> {
  const { env, runId } = options;
  const namespace = `skyhaul/bench-e2e-${runId}`;
  await createNamespace(namespace, { replicated: true });
  const site = `bench-obs-${runId}`;
  const handles: CentralHandle[] = [];
  const stoppers: Array<() => Promise<unknown>> = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stoppers.splice(0).reverse()) await s().catch(() => undefined);
  };
  const remove = cleanup.add('edge-to-Kafka latency run', () => void stopAll());
  try {
    const registry = await startCentral('registry', { ...centralConfig({ namespace }), registry: { topic: `_schemas.bench.e2e.${runId}` } }, mkdtempSync(join(options.dir, 'reg-')));
    handles.push(registry);
    stoppers.push(() => registry.kill('SIGTERM'));
    const config = centralConfig({ namespace, registryUrl: registry.url });
    (config.bridge as Record<string, unknown>).topicRefresh = '1s';
    const bridge = await startCentral('bridge', config, mkdtempSync(join(options.dir, 'br-')));
    stoppers.push(() => bridge.kill('SIGTERM'));

    const raw = `skyhaul.raw.${site}`;
    const kafka = new KafkaLog({ bootstrap: [env.SKYHAUL_KAFKA_BOOTSTRAP], clientId: 'bench-latency' });
    await kafka.ensureTopics([{ name: raw, partitions: 6, replicationFactor: 1, config: { 'retention.ms': String(7 * 86_400_000) } }]);
    const latencies: number[] = [];
    let measuring = false;
    const follower = await kafka.follow(raw, (r: InRecord) => {
      const ingest = Number(r.headers.ingest_time);
      if (measuring && Number.isFinite(ingest) && !r.headers.stream?.startsWith('_skyhaul')) latencies.push(Date.now() - ingest);
    });
    stoppers.push(async () => {
      await follower.close();
      await kafka.close();
    });

    const simulation = await startSimulation({ profile: 'observatory', faults: false, mqttUrl: env.SKYHAUL_MQTT_URL, rateScale: options.rateScale, holdTraffic: true, seed: 3 });
    stoppers.push(() => simulation.stop());
    const daemon = await startDaemon({
      dir: mkdtempSync(join(options.dir, 'edge-')),
      config: {
        site: { id: site },
        logging: { level: 'warn' },
        forward: { url: env.SKYHAUL_PULSAR_EDGE_HTTP, topic: `persistent://${namespace}/{site}`, transport: 'websocket' },
        inputs: simulation.inputsConfig,
      },
    });
    stoppers.push(() => daemon.kill('SIGTERM'));
    for (let i = 0; i < 150 && (await daemon.status()).link.state !== 'up'; i++) await sleep(200);
    // Warm-up: the first records of every stream register their subjects and create the topic.
    simulation.begin();
    await sleep(5000);
    measuring = true;
    await sleep(options.durationMs);
    measuring = false;
    await simulation.stop();
    return {
      rateScale: options.rateScale,
      seconds: options.durationMs / 1000,
      records: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.reduce((a, b) => Math.max(a, b), 0),
    };
  } finally {
    await stopAll();
    remove();
  }
}

/** Runs an ETL over `rawTopic`'s backlog with fresh output topics; records/s from first to last curated commit. */
async function timeEtl(options: { registryUrl: string; rawTopic: string; records: number; exactlyOnce: boolean; runId: string; dir: string }): Promise<{ recordsPerSecond: number; rssMbPeak: number }> {
  const id = `bench_${options.runId}_${options.exactlyOnce ? 'eos' : 'alo'}`.replaceAll('-', '_');
  const config = centralConfig({ namespace: 'skyhaul/unused', registryUrl: options.registryUrl });
  config.etl = {
    groupId: `${id}-group`,
    instanceId: id,
    sourceTopics: `^${options.rawTopic.replaceAll('.', '\\.')}$`,
    topicRefresh: '1s',
    curatedTopic: `${id}.curated.{site}`,
    aggregatesTopic: `${id}.aggregates.{site}`,
    stateTopic: `${id}.state`,
    deadLetterTopic: `${id}.dlq`,
    exactlyOnce: options.exactlyOnce,
  };
  const etl = await startCentral('etl', config, mkdtempSync(join(options.dir, 'etl-')));
  const rss = new RssSampler(() => etl.process.pid, 200).start();
  try {
    let first = 0;
    const deadline = performance.now() + 600_000;
    for (;;) {
      const curated = metricValue(await etl.metrics(), 'skyhaul_central_etl_curated_total');
      const now = performance.now();
      if (curated > 0 && first === 0) first = now;
      if (curated >= options.records) return { recordsPerSecond: options.records / ((now - first) / 1000), rssMbPeak: rss.peakMb };
      if (now > deadline) throw new Error(`ETL curated ${curated} of ${options.records} in 10 min`);
      await sleep(50);
    }
  } finally {
    rss.stop();
    await etl.kill('SIGTERM');
  }
}

/** The ETL on a backlog, exactly once vs at least once (same records, fresh groups and outputs). */
export async function measureEtl(options: { env: StackEndpoints; records: number; runId: string; dir: string }, cleanup: Cleanup): Promise<EtlBenchResult> {
  const dir = mkdtempSync(join(options.dir, 'etl-bench-'));
  const registry = await startCentral('registry', { ...centralConfig({ namespace: 'skyhaul/unused' }), registry: { topic: `_schemas.bench.etl.${options.runId}` } }, mkdtempSync(join(dir, 'r-')));
  const remove = cleanup.add('ETL bench registry', () => void registry.kill('SIGTERM'));
  const writer = new RawWriter(registry.url);
  try {
    const site = `bench-etl-${options.runId}`;
    const rawTopic = `bench.raw.${site}`;
    log(`ETL: loading ${options.records} raw records`);
    const producerId = `bench-${options.runId}`;
    for (let start = 0; start < options.records; start += 5000) {
      const batch = [];
      for (let i = start; i < Math.min(options.records, start + 5000); i++) {
        const r = reading(site, producerId, `weather/mast${i % STREAMS}/ptu`, Math.floor(i / STREAMS) + 1, 10 + (i % 100) / 10);
        batch.push({ ...r, sourceTime: Date.UTC(2026, 10, 30) + Math.floor(i / STREAMS) * 1000 });
      }
      await writer.write(rawTopic, batch);
    }
    log('ETL: exactly once');
    const eos = await timeEtl({ registryUrl: registry.url, rawTopic, records: options.records, exactlyOnce: true, runId: options.runId, dir });
    log('ETL: at least once (baseline)');
    const alo = await timeEtl({ registryUrl: registry.url, rawTopic, records: options.records, exactlyOnce: false, runId: options.runId, dir });
    return { records: options.records, exactlyOnceRecordsPerSecond: eos.recordsPerSecond, atLeastOnceRecordsPerSecond: alo.recordsPerSecond, ratio: eos.recordsPerSecond / alo.recordsPerSecond, etlRssMbPeak: eos.rssMbPeak };
  } finally {
    await writer.close();
    await registry.kill('SIGTERM');
    remove();
  }
}
