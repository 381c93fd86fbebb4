/**
 * The smoke test from the design, instrument to data lake, on the real stack:
 *
 *   simulator (observatory profile, faults on) -> edge daemon (bundle) -> site Pulsar
 *     -> geo-replication over a WAN link (link simulator) -> central Pulsar -> bridge -> Kafka
 *     -> ETL -> archiver -> object store (versitygw)
 *
 * with the WAN link cut for a while, and the bridge and the archiver each killed (-9) once in the
 * middle and started again. Then every good frame the daemon committed must be in the lake exactly
 * once, in order per stream within each object; the aggregates must equal those computed from the
 * curated records; the dead-letter topic must hold exactly the bad records injected.
 *
 * The WAN link: geo-replication connects the site broker to the URLs its metadata gives for the
 * remote cluster, so this run registers, on the site broker only, an alias of the central cluster
 * whose URLs are link simulators in front of the central broker, and replicates its namespace to
 * that alias. Cutting the simulators cuts exactly this run's replication, as a dead WAN would.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { toPulsarMessage, type TelemetryRecord } from '../../src/record/record.ts';
import { startSimulation, type Simulation, type SimulationReport } from '../../src/simulate/index.ts';
import { centralConfig, readTopic, reading, startCentral } from '../../central/test/support/central.ts';
import type { CuratedReading, AggregateRecord } from '../../central/src/curated/index.ts';
import { endpoints, type StackEndpoints } from '../../packaging/dev-stack/stack.ts';
import { startDaemon, type DaemonHandle, type DaemonStatus } from '../support/daemon.ts';
import { LinkSimulator } from '../support/link-sim.ts';
import { RawWsProducer, WsConsumer } from '../support/pulsar.ts';
import { percentile } from '../bench/util.ts';
import { KafkaLog } from '../../central/src/kafka/index.ts';
import { ObjectStore } from '../../central/src/objectstore/index.ts';
import { lakeRows, objectSet } from '../../central/test/archive/support.ts';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface SmokeOptions {
  /** Multiplies the observatory profile's rate (≈ 6,000 msg/s at 1). */
  rateScale: number;
  /** Traffic time. */
  durationMs: number;
  /** How long the WAN link is cut (starts 10 % into the traffic). */
  wanCutMs: number;
  /** Run the reprocessing runbook at the end; default true. */
  reprocess?: boolean;
  /** Kill the bridge and the archiver (-9) once each; default true (false: a latency measurement). */
  kills?: boolean;
  /** Bad records published at the site (they travel the whole way and must end in a dead-letter topic). */
  badRecords: number;
  dir: string;
  log: (line: string) => void;
}

export interface SmokeReport {
  site: string;
  rateScale: number;
  trafficSeconds: number;
  wanCutSeconds: number;
  sent: number;
  streams: number;
  udpKernelDrops: number;
  /** The edge buffer's peak backlog (records) seen during the run: what the WAN cut held back. */
  peakBacklog: number;
  /** The daemon's drop counters at the end (reason -> records); none expected. */
  drops: Record<string, number>;
  publishedAtSite: number;
  inKafka: number;
  curated: number;
  archived: number;
  objects: number;
  deadLetters: { bridge: number; etl: number; injected: number };
  duplicates: number;
  missing: number;
  /** Up to 10 keys (`producer|stream|sequence`) of each kind, to look for: published but not in the lake, in the lake but never seen published. */
  samples: { missing: string[]; unexpected: string[] };
  outOfOrderInObjects: number;
  aggregates: { checked: number; mismatched: number };
  edgeToKafkaMs: { p50: number; p99: number };
  edgeToLakeSeconds: { p50: number; p99: number };
  kills: string[];
  drainSeconds: number;
  /** The reprocessing runbook: objects deleted, then re-formed byte for byte after the group reset. */
  reprocess: { deleted: number; reformed: number; identical: boolean; objectsBefore: number; objectsAfter: number };
  rotationSeconds: number;
}

/** The ETL's allowed lateness in this run (the aggregate check applies the same rule). */
const ALLOWED_LATENESS_MS = 0;
/** The archiver's rotation by ingest time in this run (part of the edge-to-lake latency). */
export const SMOKE_ROTATION_MS = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function admin(base: string, method: string, path: string, body?: unknown): Promise<Response> {
  const res = await fetch(`${base}/admin/v2${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  if (!res.ok && res.status !== 409 && res.status !== 204) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

/**
 * Polls `read` until `ok`. A read that throws (a Kafka request timing out while the machine is
 * saturated at the full rate) is retried, not fatal; the deadline's error names the last value or
 * error. Heavy reads (a whole topic) are not repeated faster than twice their own duration.
 */
async function waitFor<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t0 = Date.now();
    let last: string;
    try {
      const value = await read();
      if (ok(value)) return value;
      last = JSON.stringify(value).slice(0, 300);
    } catch (error) {
      last = `error: ${(error as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`smoke: timed out waiting for ${what} (last: ${last})`);
    await sleep(Math.max(500, 2 * (Date.now() - t0)));
  }
}

/** The WAN: link simulators in front of the central broker, and a cluster alias on the site broker that goes through them. */
class Wan {
  private constructor(
    readonly alias: string,
    private readonly links: LinkSimulator[],
    private readonly env: StackEndpoints,
  ) {}

  static async open(env: StackEndpoints, alias: string): Promise<Wan> {
    const binary = new URL(env.SKYHAUL_PULSAR_CENTRAL_URL.replace('pulsar://', 'http://'));
    const web = new URL(env.SKYHAUL_PULSAR_CENTRAL_HTTP);
    const links = [new LinkSimulator({ target: { host: binary.hostname, port: Number(binary.port) } }), new LinkSimulator({ target: { host: web.hostname, port: Number(web.port) } })];
    const [binaryPort, webPort] = [await links[0]!.start(), await links[1]!.start()];
    const site = env.SKYHAUL_PULSAR_EDGE_HTTP;
    await admin(site, 'PUT', `/clusters/${alias}`, { serviceUrl: `http://127.0.0.1:${webPort}`, brokerServiceUrl: `pulsar://127.0.0.1:${binaryPort}` });
    const tenant = (await (await admin(site, 'GET', '/tenants/skyhaul')).json()) as { adminRoles: string[]; allowedClusters: string[] };
    await admin(site, 'POST', '/tenants/skyhaul', { ...tenant, allowedClusters: [...new Set([...tenant.allowedClusters, alias])] });
    return new Wan(alias, links, env);
  }

  cut(): void {
    for (const l of this.links) l.cut();
  }

  restore(): void {
    for (const l of this.links) l.restore();
  }

  /** Removes the alias (after the namespace using it is gone) and stops the links. */
  async close(namespace: string): Promise<void> {
    const site = this.env.SKYHAUL_PULSAR_EDGE_HTTP;
    await admin(site, 'POST', `/namespaces/${namespace}/replication`, ['edge']).catch(() => undefined);
    const tenant = (await (await admin(site, 'GET', '/tenants/skyhaul')).json()) as { adminRoles: string[]; allowedClusters: string[] };
    await admin(site, 'POST', '/tenants/skyhaul', { ...tenant, allowedClusters: tenant.allowedClusters.filter((c) => c !== this.alias) }).catch(() => undefined);
    await admin(site, 'DELETE', `/clusters/${this.alias}`).catch(() => undefined);
    for (const l of this.links) await l.stop();
  }
}

/** A record the bridge must refuse (air temperature as text breaks the WXT ptu schema). */
function badRecord(site: string, producerId: string, sequence: number): TelemetryRecord {
  const r = reading(site, producerId, 'weather/injected/ptu', sequence, 0);
  return { ...r, payload: Buffer.from(JSON.stringify({ fields: { air_temperature: 'warm' }, units: { air_temperature: 'Cel' } })) };
}

function udpKernelDrops(status: DaemonStatus): number {
  return status.inputs.map((i) => (i as unknown as { drops?: { kernelSocket: number } }).drops?.kernelSocket ?? 0).reduce((a, b) => a + b, 0);
}

export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const env = endpoints();
  const id = `s${Date.now().toString(36)}`;
  const site = `smoke-${id}`;
  const namespace = `skyhaul/smoke-${id}`;
  const bucket = `smoke-${id}`;
  const log = options.log;
  const cleanups: Array<() => Promise<unknown>> = [];
  const kills: string[] = [];
  try {
    // The WAN and the namespace: replicated from the site broker to central through it.
    const wan = await Wan.open(env, `wan-${id}`);
    cleanups.push(() => wan.close(namespace));
    await admin(env.SKYHAUL_PULSAR_EDGE_HTTP, 'PUT', `/namespaces/${namespace}`);
    await admin(env.SKYHAUL_PULSAR_EDGE_HTTP, 'POST', `/namespaces/${namespace}/replication`, ['edge', wan.alias]);
    await admin(env.SKYHAUL_PULSAR_EDGE_HTTP, 'POST', `/namespaces/${namespace}/deduplication`, true);
    await admin(env.SKYHAUL_PULSAR_CENTRAL_HTTP, 'PUT', `/namespaces/${namespace}`);
    await admin(env.SKYHAUL_PULSAR_CENTRAL_HTTP, 'POST', `/namespaces/${namespace}/deduplication`, true);

    // The data centre.
    const dir = mkdtempSync(join(options.dir, 'smoke-'));
    const serviceDir = (name: string): string => {
      const d = join(dir, name);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const base = centralConfig({ namespace });
    const registry = await startCentral('registry', { ...base, registry: { topic: `_schemas.${id}` } }, serviceDir('registry'));
    cleanups.push(() => registry.kill('SIGTERM'));
    const withRegistry = centralConfig({ namespace, registryUrl: registry.url });
    const bridgeConfig = { ...withRegistry, bridge: { topicRefresh: '1s', topic: `smoke.${id}.raw.{site}`, deadLetterTopic: `smoke.${id}.bridge.dlq`, stateTopic: `smoke.${id}.bridge.state` } };
    let bridge = await startCentral('bridge', bridgeConfig, serviceDir('bridge'));
    cleanups.push(() => bridge.kill('SIGTERM'));
    const etl = await startCentral(
      'etl',
      {
        ...withRegistry,
        etl: {
          groupId: `smoke-${id}-etl`,
          instanceId: `smoke-${id}`,
          sourceTopics: `^smoke\\.${id}\\.raw\\.`,
          topicRefresh: '1s',
          curatedTopic: `smoke.${id}.curated.{site}`,
          aggregatesTopic: `smoke.${id}.aggregates.{site}`,
          stateTopic: `smoke.${id}.etl.state`,
          deadLetterTopic: `smoke.${id}.etl.dlq`,
          allowedLateness: `${ALLOWED_LATENESS_MS}ms`,
          heartbeatInterval: '2s',
        },
      },
      serviceDir('etl'),
    );
    cleanups.push(() => etl.kill('SIGTERM'));
    // The topics the ETL would create on its first write, made now: the archiver is ready only
    // once it has a topic to archive, and the follower below reads the raw one from its start.
    const rawTopic = `smoke.${id}.raw.${site}`;
    const kafka = new KafkaLog({ bootstrap: [env.SKYHAUL_KAFKA_BOOTSTRAP], clientId: `smoke-${id}` });
    cleanups.push(() => kafka.close());
    await kafka.ensureTopics([
      { name: rawTopic, partitions: 6, replicationFactor: 1, config: { 'retention.ms': String(7 * 86_400_000) } },
      { name: `smoke.${id}.curated.${site}`, partitions: 6, replicationFactor: 1, config: { 'retention.ms': String(7 * 86_400_000) } },
    ]);
    const archiveConfig = archiverConfig(withRegistry, env, id, bucket);
    let archiver = await startCentral('archive', archiveConfig, serviceDir('archive'));
    cleanups.push(() => archiver.kill('SIGTERM'));

    // The site.
    const simulation: Simulation = await startSimulation({ profile: 'observatory', faults: true, mqttUrl: env.SKYHAUL_MQTT_URL, rateScale: options.rateScale, holdTraffic: true, seed: 21 });
    cleanups.push(() => simulation.stop());
    const siteView = await WsConsumer.open(env.SKYHAUL_PULSAR_EDGE_WS, `persistent://${namespace}/${site}`, 'smoke-site-view');
    cleanups.push(() => siteView.close());
    const daemon: DaemonHandle = await startDaemon({
      dir: serviceDir('edge'),
      config: { site: { id: site }, logging: { level: 'warn' }, forward: { url: env.SKYHAUL_PULSAR_EDGE_HTTP, topic: `persistent://${namespace}/{site}`, transport: 'websocket' }, inputs: simulation.inputsConfig },
    });
    cleanups.push(() => daemon.kill('SIGTERM'));
    await waitFor('the daemon inputs running and its link up', () => daemon.status(), (s) => s.link.state === 'up' && simulation.inputNames.every((n) => s.inputs.find((i) => i.name === n)?.state === 'running'), 30_000);

    // Bad records, as a misbehaving pusher at the site would send them.
    const injector = await RawWsProducer.open(env.SKYHAUL_PULSAR_EDGE_WS, `persistent://${namespace}/${site}`, { producerName: `smoke-injector-${id}` });
    for (let i = 1; i <= options.badRecords; i++) {
      const m = toPulsarMessage(badRecord(site, `injector-${id}`, i));
      const ack = await injector.send(m.payload, { key: m.key, properties: m.properties });
      if (ack.result !== 'ok') throw new Error(`injecting a bad record: ${ack.result}`);
    }
    await injector.close();

    // When each record becomes visible in Kafka (read_committed), against its ingest time at the edge.
    const rawArrivals = new Map<string, number>();
    const follower = await kafka.follow(rawTopic, (r) => {
      const key = `${r.headers.producer_id}|${r.headers.stream}|${r.headers.sequence}`;
      if (!rawArrivals.has(key)) rawArrivals.set(key, Date.now() - Number(r.headers.ingest_time));
    });
    cleanups.push(() => follower.close());

    // Traffic, with the WAN cut and the two kills in the middle.
    log(`traffic: observatory × ${options.rateScale} for ${options.durationMs / 1000} s; WAN cut for ${options.wanCutMs / 1000} s`);
    const t0 = Date.now();
    simulation.begin();
    let peakBacklog = 0;
    const watchBacklog = setInterval(() => void daemon.status().then((s) => (peakBacklog = Math.max(peakBacklog, s.backlog.records))).catch(() => undefined), 1000);
    cleanups.push(async () => clearInterval(watchBacklog));
    const lakeSeen = new Map<string, number>();
    const watchLake = setInterval(() => void listLake(archiveConfig).then((keys) => { for (const k of keys) if (!lakeSeen.has(k)) lakeSeen.set(k, Date.now()); }).catch(() => undefined), 1000);
    cleanups.push(async () => clearInterval(watchLake));
    const at = (fraction: number): Promise<void> => sleep(Math.max(0, t0 + fraction * options.durationMs - Date.now()));
    await at(0.1);
    const cutAt = Date.now();
    if (options.wanCutMs > 0) {
      wan.cut();
      log('WAN cut');
    }
    await at(0.3);
    if (options.kills !== false) {
      await bridge.kill('SIGKILL');
      kills.push(`bridge at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      bridge = await startCentral('bridge', bridgeConfig, serviceDir('bridge'));
    }
    await sleep(Math.max(0, cutAt + options.wanCutMs - Date.now()));
    if (options.wanCutMs > 0) {
      wan.restore();
      log('WAN restored');
    }
    await at(0.8);
    if (options.kills !== false) {
      await archiver.kill('SIGKILL');
      kills.push(`archiver at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      archiver = await startCentral('archive', archiveConfig, serviceDir('archive'));
    }
    await at(1);
    const sim: SimulationReport = await simulation.stop();
    const trafficSeconds = (Date.now() - t0) / 1000;
    log(`traffic ended after ${trafficSeconds.toFixed(1)} s: ${sim.frames} frames, ${Object.keys(sim.streams).length} streams${sim.unsettledAtStop > 0 ? `, ${sim.unsettledAtStop} sends unsettled at stop` : ''}`);

    // Drain: the site's backlog, then every hop.
    const drainStart = Date.now();
    const edge = await waitFor('the daemon backlog drained', () => daemon.status(), (s) => s.backlog.records === 0, 300_000);
    // The site is done: stop it, so that what it published is final before the lake is compared
    // with it (its self-test job publishes a canary at every tenth minute of the clock, which once
    // landed after the comparison's snapshot and before the reprocessing check).
    await daemon.kill('SIGTERM');
    const published = await settledCount(() => Promise.resolve(siteView.messages.length));
    const distinct = new Set(siteView.messages.map((m) => `${m.properties.producer_id}|${m.properties.stream}|${m.properties.sequence}`)).size;
    const good = distinct - options.badRecords;
    log(`site: ${published} published (${distinct} distinct, ${options.badRecords} of them injected bad)`);
    // Counted by reading the topic, not by the follower: the count must not depend on one
    // long-lived reader (the follower only times arrivals for the latency figure).
    const inKafka = await waitFor('every good record in Kafka', () => countTopic(rawTopic), (n) => n >= good, 600_000);
    const curatedTopic = `smoke.${id}.curated.${site}`;
    const curatedCount = await waitFor('every record curated', () => countTopic(curatedTopic), (n) => n >= good, 600_000);
    const lake = await waitFor('every curated record in the lake', () => readLake(archiveConfig), (l) => l.records.length >= good, 600_000);
    const drainSeconds = (Date.now() - drainStart) / 1000;

    // What the lake holds, against what the site published.
    const publishedKeys = new Map<string, number>();
    for (const m of siteView.messages) if (!m.properties.producer_id?.startsWith('injector-')) publishedKeys.set(`${m.properties.producer_id}|${m.properties.stream}|${m.properties.sequence}`, Number(m.properties.ingest_time));
    const lakeKeys = lake.records.map((r) => `${r.producer_id}|${r.stream}|${r.sequence}`);
    const duplicates = lakeKeys.length - new Set(lakeKeys).size;
    const lakeSet = new Set(lakeKeys);
    const missingKeys = [...publishedKeys.keys()].filter((k) => !lakeSet.has(k));
    const missing = missingKeys.length;
    const unexpectedKeys = [...lakeSet].filter((k) => !publishedKeys.has(k));
    if (missing > 0 || unexpectedKeys.length > 0) log(`lake vs site: missing ${JSON.stringify(missingKeys.slice(0, 10))}, unexpected ${JSON.stringify(unexpectedKeys.slice(0, 10))}`);

    // Aggregates against the curated records.
    const decoder = new SchemaRegistry({ host: registry.url });
    const curated = await decodeTopic<CuratedReading>(curatedTopic, decoder);
    const aggregates = await decodeTopic<AggregateRecord>(`smoke.${id}.aggregates.${site}`, decoder);
    const aggregateCheck = checkAggregates(curated, aggregates, ALLOWED_LATENESS_MS);

    // Dead letters.
    const bridgeDlq = (await readTopic(`smoke.${id}.bridge.dlq`).catch(() => [])).length;
    const etlDlq = (await readTopic(`smoke.${id}.etl.dlq`).catch(() => [])).length;

    // The reprocessing runbook (docs/runbooks/reprocess-time-range.md): stop the archiver, delete
    // objects, reset the group with Kafka's own tool, start it again: exactly the deleted objects
    // come back, byte for byte, and nothing else is written.
    const lakeStore = storeOf(archiveConfig);
    cleanups.push(async () => lakeStore.close());
    const before = await objectSet(lakeStore);
    const victims = options.reprocess === false ? [] : [...before.keys()].sort().filter((k, i) => k.startsWith('site=') && i % 7 === 3).slice(0, 5);
    if (victims.length > 0) {
      await archiver.kill('SIGTERM');
      for (const key of victims) await lakeStore.delete(key);
      resetGroupToEarliest(env, `smoke-${id}-archive`);
      archiver = await startCentral('archive', archiveConfig, serviceDir('archive'));
    }
    const after = await waitFor('the deleted objects re-formed', () => objectSet(lakeStore), (s) => s.size >= before.size, 300_000);
    const identical = after.size === before.size && [...before].every(([k, v]) => after.get(k) === v);
    log(`reprocess: ${victims.length} objects deleted, ${victims.filter((k) => after.has(k)).length} re-formed, object set ${identical ? 'identical' : 'DIFFERENT'}`);

    const kafkaLatencies = [...rawArrivals.values()];
    const lakeLatencies = lake.records.map((r) => ((lakeSeen.get(r.objectKey) ?? Date.now()) - r.ingest_time) / 1000);
    return {
      site,
      rateScale: options.rateScale,
      trafficSeconds,
      wanCutSeconds: options.wanCutMs / 1000,
      sent: Object.values(sim.streams).reduce((a, b) => a + b, 0),
      streams: Object.keys(sim.streams).length,
      udpKernelDrops: udpKernelDrops(edge),
      peakBacklog,
      drops: edge.drops.reduce<Record<string, number>>((out, d) => ({ ...out, [d.reason]: (out[d.reason] ?? 0) + d.count }), {}),
      publishedAtSite: published,
      inKafka,
      curated: curatedCount,
      archived: lake.records.length,
      objects: lake.objects,
      deadLetters: { bridge: bridgeDlq, etl: etlDlq, injected: options.badRecords },
      duplicates,
      missing,
      samples: { missing: missingKeys.slice(0, 10), unexpected: unexpectedKeys.slice(0, 10) },
      outOfOrderInObjects: lake.outOfOrder,
      aggregates: aggregateCheck,
      edgeToKafkaMs: { p50: percentile(kafkaLatencies, 50), p99: percentile(kafkaLatencies, 99) },
      edgeToLakeSeconds: { p50: percentile(lakeLatencies, 50), p99: percentile(lakeLatencies, 99) },
      kills,
      drainSeconds,
      reprocess: { deleted: victims.length, reformed: victims.filter((k) => after.get(k) === before.get(k)).length, identical, objectsBefore: before.size, objectsAfter: after.size },
      rotationSeconds: SMOKE_ROTATION_MS / 1000,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    rmSync(options.dir, { recursive: true, force: true });
  }
}

/** Kafka's kafka-consumer-groups (the dev stack's Kafka class path), as the runbook runs it: every topic of the group back to its earliest offset. */
function resetGroupToEarliest(env: StackEndpoints, group: string): void {
  const classpath = readFileSync(env.SKYHAUL_KAFKA_CLASSPATH, 'utf8').trim();
  const args = ['-cp', classpath, 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', '--bootstrap-server', env.SKYHAUL_KAFKA_BOOTSTRAP, '--group', group, '--all-topics', '--reset-offsets', '--to-earliest', '--execute'];
  const result = spawnSync('java', args, { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`kafka-consumer-groups --reset-offsets exited ${result.status}: ${result.stderr}`);
}

/** The archiver of this run: its own consumer group and bucket, reading this run's curated topics. */
function archiverConfig(base: Record<string, unknown>, env: StackEndpoints, id: string, bucket: string): Record<string, unknown> {
  return {
    ...base,
    objectStore: { endpoint: env.SKYHAUL_S3_ENDPOINT, region: env.SKYHAUL_S3_REGION, bucket, accessKeyId: env.SKYHAUL_S3_ACCESS_KEY, secretAccessKey: env.SKYHAUL_S3_SECRET_KEY, forcePathStyle: true },
    archive: { groupId: `smoke-${id}-archive`, topicPattern: `^smoke\\.${id}\\.curated\\.`, topicRefresh: '2s', rotation: { interval: `${SMOKE_ROTATION_MS}ms` } },
  };
}

function storeOf(config: Record<string, unknown>): ObjectStore {
  const o = config.objectStore as { endpoint: string; region: string; bucket: string; accessKeyId: string; secretAccessKey: string };
  return new ObjectStore({ ...o, forcePathStyle: true });
}

/** The data objects' keys (the manifest and rejected records left out). */
async function listLake(config: Record<string, unknown>): Promise<string[]> {
  const store = storeOf(config);
  try {
    return (await store.list('site=')).map((item) => item.key);
  } finally {
    store.close();
  }
}

interface LakeRecord {
  producer_id: string;
  stream: string;
  sequence: number;
  ingest_time: number;
  objectKey: string;
}

/** Every archived record, the objects, and how many objects hold a stream's records out of sequence order. */
async function readLake(config: Record<string, unknown>): Promise<{ records: LakeRecord[]; objects: number; outOfOrder: number }> {
  const store = storeOf(config);
  try {
    const rows = await lakeRows(store);
    const records: LakeRecord[] = rows.map(({ key, row }) => ({ producer_id: String(row.producer_id), stream: String(row.stream), sequence: Number(row.sequence), ingest_time: new Date(row.ingest_time as Date).getTime(), objectKey: key }));
    const byObject = new Map<string, LakeRecord[]>();
    for (const r of records) byObject.set(r.objectKey, [...(byObject.get(r.objectKey) ?? []), r]);
    let outOfOrder = 0;
    for (const list of byObject.values()) {
      const last = new Map<string, number>();
      for (const r of list) {
        const k = `${r.producer_id}|${r.stream}`;
        if ((last.get(k) ?? -1) >= r.sequence) {
          outOfOrder += 1;
          break;
        }
        last.set(k, r.sequence);
      }
    }
    return { records, objects: byObject.size, outOfOrder };
  } finally {
    store.close();
  }
}

/** A count that stopped changing (two reads 2 s apart agree). */
async function settledCount(read: () => Promise<number>): Promise<number> {
  let last = -1;
  for (;;) {
    const now = await read();
    if (now === last) return now;
    last = now;
    await sleep(2000);
  }
}

/** Committed records in a topic (0 before it exists). */
async function countTopic(topic: string): Promise<number> {
  try {
    return (await readTopic(topic)).filter((r) => r.headers.record_kind !== 'heartbeat').length;
  } catch (error) {
    if (/Unknown topic/i.test((error as Error).message)) return 0;
    throw error;
  }
}

async function decodeTopic<T>(topic: string, decoder: SchemaRegistry): Promise<T[]> {
  const out: T[] = [];
  const records = (await readTopic(topic).catch(() => [])).sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
  for (const r of records) if (r.headers.record_kind !== 'heartbeat') out.push((await decoder.decode(r.value!)) as T);
  return out;
}

/**
 * Every aggregate the ETL emitted against the same window computed from the curated records
 * (values already in SI): count, min, max and mean must agree.
 */
export function checkAggregates(curated: CuratedReading[], aggregates: AggregateRecord[], allowedLatenessMs: number): { checked: number; mismatched: number } {
  const values = new Map<string, number[]>();
  // The ETL's rule (central/src/etl/state.ts): a stream's watermark is the latest event time it has
  // shown; a value whose window ended allowedLateness before the watermark is late, not aggregated.
  const watermarks = new Map<string, number>();
  for (const c of curated) {
    const start = Math.floor(c.event_time / 60_000) * 60_000;
    const streamKey = `${c.site_id}|${c.stream}`;
    const watermark = watermarks.get(streamKey) ?? Number.NEGATIVE_INFINITY;
    if (c.event_time > watermark) watermarks.set(streamKey, c.event_time);
    if (start + 60_000 + allowedLatenessMs <= watermark) continue;
    for (const [field, value] of Object.entries(c.values)) {
      if (value === null || !Number.isFinite(value)) continue;
      const key = `${c.site_id}|${c.stream}|${field}|${start}`;
      const list = values.get(key);
      if (list === undefined) values.set(key, [value]);
      else list.push(value);
    }
  }
  let mismatched = 0;
  for (const a of aggregates) {
    const v = values.get(`${a.site_id}|${a.stream}|${a.field}|${a.window_start}`) ?? [];
    const mean = v.reduce((x, y) => x + y, 0) / v.length;
    const close = (x: number, y: number): boolean => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
    if (v.length !== a.count || !close(a.min, Math.min(...v)) || !close(a.max, Math.max(...v)) || !close(a.mean, mean)) mismatched += 1;
  }
  return { checked: aggregates.length, mismatched };
}
