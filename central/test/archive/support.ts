/**
 * For the archiver's tests: curated records as the ETL writes them (registry subject
 * skyhaul.curated.v1, Confluent wire format, key = stream, the record's properties as headers),
 * heartbeats, a test bucket, an archiver config, and reading the lake back (objects, manifest).
 */
import { createHash } from 'node:crypto';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { CURATED_SCHEMA, CURATED_SUBJECT, type CuratedReading } from '../../src/curated/index.ts';
import { KafkaLog, type OutRecord } from '../../src/kafka/index.ts';
import { ObjectStore } from '../../src/objectstore/index.ts';
import { parseEntry, type ManifestEntry } from '../../src/archive/manifest.ts';
import { stackEnv, unique } from '../support/env.ts';

export const WIND = 'skyhaul.adapter.gill-windsonic.v1.wind';
export const PTU = 'skyhaul.adapter.vaisala-wxt.v1.ptu';

/** A curated reading: a wind record (numbers, text, a boolean) or a PTU record, deterministic from its arguments. */
export function curated(site: string, producer: string, stream: string, sequence: number, ingestTime: number, subject = WIND): CuratedReading {
  const wind = subject === WIND;
  return {
    site_id: site,
    site_name: 'Test Site',
    latitude: -24.6,
    longitude: -70.4,
    elevation_m: 2635,
    instrument_model: wind ? 'WindSonic' : 'WXT536',
    instrument_serial: null,
    producer_id: producer,
    stream,
    sequence,
    event_time: ingestTime - 100,
    source_time: ingestTime - 100,
    ingest_time: ingestTime,
    device_time: null,
    traceparent: `00-${createHash('md5').update(`${producer}${stream}${sequence}`).digest('hex')}-${'b'.repeat(16)}-01`,
    content_type: 'application/json',
    raw_subject: subject,
    values: wind ? { wind_speed: sequence / 10, wind_direction: sequence % 360 } : { air_temperature: 273.15 + sequence / 100, relative_humidity: 40, air_pressure: 74410 },
    units: wind ? { wind_speed: 'm/s', wind_direction: 'deg' } : { air_temperature: 'K', relative_humidity: '%', air_pressure: 'Pa' },
    text: wind ? { node: 'Q', status: 'ok', status_code: '00' } : {},
    booleans: wind ? { valid: sequence % 5 !== 0 } : {},
    flags: [],
    payload: null,
    payload_encoding: null,
  };
}

/** Writes curated records (and heartbeats) as the ETL does. */
export class CuratedProducer {
  private id = 0;
  private constructor(
    private readonly registry: SchemaRegistry,
    private readonly kafka: KafkaLog,
    private readonly producer: Awaited<ReturnType<KafkaLog['transactional']>>,
  ) {}

  static async open(registryUrl: string): Promise<CuratedProducer> {
    const registry = new SchemaRegistry({ host: registryUrl });
    const kafka = new KafkaLog({ bootstrap: [stackEnv('SKYHAUL_KAFKA_BOOTSTRAP')], clientId: 'test-curated' });
    const p = new CuratedProducer(registry, kafka, await kafka.transactional(unique('test-curated')));
    p.id = (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(CURATED_SCHEMA) }, { subject: CURATED_SUBJECT })).id;
    return p;
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    await this.kafka.ensureTopics([{ name: topic, partitions, replicationFactor: 1, config: {} }]);
  }

  /** Deletes topics this producer's user made (a bench's 1,000 partitions must not pile up in the dev Kafka). */
  async deleteTopics(topics: string[]): Promise<void> {
    await this.kafka.deleteTopics(topics);
  }

  /** The Kafka record of a reading; `partition` explicit (tests pin streams to partitions). */
  async record(topic: string, partition: number, r: CuratedReading): Promise<OutRecord> {
    return {
      topic,
      partition,
      key: r.stream,
      value: await this.registry.encode(this.id, r),
      headers: { producer_id: r.producer_id, stream: r.stream, sequence: String(r.sequence), site_id: r.site_id, ingest_time: String(r.ingest_time), traceparent: r.traceparent, schema_subject: CURATED_SUBJECT, schema_id: String(this.id) },
      timestamp: r.event_time,
    };
  }

  /** Writes the readings in transactions of `batch`. */
  async send(topic: string, items: Array<{ partition: number; reading: CuratedReading }>, batch = 200): Promise<void> {
    for (let i = 0; i < items.length; i += batch) {
      const records = await Promise.all(items.slice(i, i + batch).map((x) => this.record(topic, x.partition, x.reading)));
      await this.producer.commit(records);
    }
  }

  /** Writes the readings without a transaction (idempotent producer, acks=all), `batch` per request: bulk loads over many partitions. */
  async sendPlain(topic: string, items: Array<{ partition: number; reading: CuratedReading }>, batch = 500): Promise<void> {
    for (let i = 0; i < items.length; i += batch) await this.kafka.send(await Promise.all(items.slice(i, i + batch).map((x) => this.record(topic, x.partition, x.reading))));
  }

  /** The ETL's heartbeat for an idle partition (the shape the archiver reads). */
  async heartbeat(topic: string, partition: number, time: number): Promise<void> {
    await this.producer.commit([{ topic, partition, key: '', value: null, headers: { record_kind: 'heartbeat', heartbeat_time: String(time) } }]);
  }

  /** Any bytes (a value that is not a curated record). */
  async raw(topic: string, partition: number, value: Buffer): Promise<void> {
    await this.producer.commit([{ topic, partition, key: 'bad', value, headers: {} }]);
  }

  async close(): Promise<void> {
    await this.producer.close();
    await this.kafka.close();
  }
}

/** A bucket of the test's own on the dev stack's S3 server. */
export function testStore(): ObjectStore {
  return new ObjectStore({
    endpoint: stackEnv('SKYHAUL_S3_ENDPOINT'),
    region: stackEnv('SKYHAUL_S3_REGION'),
    accessKeyId: stackEnv('SKYHAUL_S3_ACCESS_KEY'),
    secretAccessKey: stackEnv('SKYHAUL_S3_SECRET_KEY'),
    bucket: unique('lake').toLowerCase(),
    forcePathStyle: true,
  });
}

/** The config of an archiver over `topics` into `store`'s bucket. */
export function archiveConfig(registryUrl: string, store: ObjectStore, archive: Record<string, unknown>): Record<string, unknown> {
  return {
    logging: { level: 'info' },
    kafka: { bootstrap: [stackEnv('SKYHAUL_KAFKA_BOOTSTRAP')], replicationFactor: 1, minInsyncReplicas: 1 },
    registry: { url: registryUrl },
    objectStore: { endpoint: store.options.endpoint, region: store.options.region, bucket: store.bucket, accessKeyId: store.options.accessKeyId, secretAccessKey: store.options.secretAccessKey, forcePathStyle: true },
    archive: { groupId: unique('archive'), topicPattern: '', ...archive },
  };
}

export interface LakeRow {
  key: string;
  row: Record<string, unknown>;
}

/** Every manifest entry in the bucket. */
export async function manifest(store: ObjectStore): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  for (const item of await store.list('_manifest/')) out.push(parseEntry(item.key, (await store.get(item.key))!));
  return out;
}

/**
 * The manifest entries whose objects are in the store. An entry is written before its object, so
 * waiting on the manifest alone can read the lake while its last objects are still being written.
 */
export async function durableManifest(store: ObjectStore): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  for (const e of await manifest(store)) if ((await store.head(e.key)) !== null) out.push(e);
  return out;
}

/** Every data object: key -> SHA-256 of its bytes (the object set compared across runs). */
export async function objectSet(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const item of await store.list('')) {
    if (item.key.startsWith('_rejected/')) continue;
    out.set(item.key, createHash('sha256').update((await store.get(item.key))!).digest('hex'));
  }
  return out;
}

/** Every row of every Parquet object, read back with hyparquet, in object-key then row order. */
export async function lakeRows(store: ObjectStore): Promise<LakeRow[]> {
  const out: LakeRow[] = [];
  for (const item of await store.list('site=')) {
    const bytes = (await store.get(item.key))!;
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    for (const row of await parquetReadObjects({ file })) out.push({ key: item.key, row });
  }
  return out;
}

/** The key-value metadata of a Parquet object. */
export async function parquetKv(store: ObjectStore, key: string): Promise<Record<string, string>> {
  const bytes = (await store.get(key))!;
  const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  return Object.fromEntries((metadata.key_value_metadata ?? []).map((kv) => [kv.key, kv.value ?? '']));
}

/** Polls until `check` passes. */
export async function until<T>(fn: () => Promise<T>, check: (value: T) => boolean, what: string, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
