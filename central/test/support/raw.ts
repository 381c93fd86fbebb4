/**
 * Raw records into Kafka as the bridge writes them (key = stream, every record property in the
 * headers, the value in the Confluent wire format through the registry), for tests of what reads
 * the raw topics (the ETL) without running the bridge.
 */
import { toPulsarMessage, type TelemetryRecord } from '../../../src/record/record.ts';
import { SchemaEncoder } from '../../src/bridge/schemas.ts';
import { KafkaLog, type OutRecord, type TransactionalProducer } from '../../src/kafka/index.ts';
import { stackEnv, unique } from './env.ts';

export class RawWriter {
  private readonly kafka = new KafkaLog({ bootstrap: [stackEnv('SKYHAUL_KAFKA_BOOTSTRAP')], clientId: 'test-raw-writer' });
  private readonly encoder: SchemaEncoder;
  private producer: TransactionalProducer | null = null;
  private readonly created = new Set<string>();

  constructor(registryUrl: string) {
    this.encoder = new SchemaEncoder(registryUrl);
  }

  /** Writes `records` to `topic` (created with 6 partitions if missing) in one transaction. */
  async write(topic: string, records: TelemetryRecord[]): Promise<void> {
    if (!this.created.has(topic)) {
      await this.kafka.ensureTopics([{ name: topic, partitions: 6, replicationFactor: 1, config: {} }]);
      this.created.add(topic);
    }
    this.producer ??= await this.kafka.transactional(unique('raw-writer'));
    const out: OutRecord[] = [];
    for (const record of records) {
      const encoded = await this.encoder.encode(record);
      const message = toPulsarMessage(record);
      out.push({ topic, key: record.stream, value: encoded.value, headers: { ...message.properties, schema_subject: encoded.subject, schema_id: String(encoded.schemaId) }, timestamp: record.sourceTime ?? record.ingestTime });
    }
    await this.producer.commit(out);
  }

  /** Writes bytes that are not a record's value (a broken writer), with a record's headers. */
  async writeBroken(topic: string, record: TelemetryRecord, value: Buffer): Promise<void> {
    this.producer ??= await this.kafka.transactional(unique('raw-writer'));
    const message = toPulsarMessage(record);
    await this.producer.commit([{ topic, key: record.stream, value, headers: { ...message.properties, schema_subject: 'skyhaul.adapter.vaisala-wxt.v1.ptu', schema_id: '1' } }]);
  }

  async close(): Promise<void> {
    await this.producer?.close();
    await this.kafka.close();
  }
}
