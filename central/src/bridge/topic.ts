/**
 * One central Pulsar topic (one site) into Kafka, each record once.
 *
 *  1. A Failover consumer on the topic (`bridge.subscription`): of all bridge instances, one is
 *     active for the topic and receives its messages in order; the others stand by.
 *  2. On becoming active (the first message after (re)connecting), this instance takes the
 *     topic's transactional.id `skyhaul-bridge:<topic>`: Kafka fences whichever producer had it
 *     (a previous active instance that lost Pulsar but not Kafka, a zombie), aborting its open
 *     transaction. Only then is the de-duplication state read (to its end, read_committed), so it
 *     holds everything any instance ever committed for this topic.
 *  3. Batches (`bridge.batch`): per message, decoded (else dead letter `decode`), judged against
 *     the state (a sequence at or below the highest written is a duplicate: skipped, counted), its
 *     value encoded against the registry (else dead letter with the registry's or the schema's
 *     reason); the records, the dead letters and the new state commit in ONE Kafka transaction.
 *  4. Only after the commit are the messages acknowledged to Pulsar. A crash before the commit:
 *     nothing is in Kafka, Pulsar redelivers. A crash after the commit, before the acks: Pulsar
 *     redelivers, the state says duplicate. A fenced commit: this instance steps back (closes its
 *     consumer; Pulsar redelivers to the active one).
 *
 * A record that can wait (the registry or Kafka unreachable) is retried with backoff, never
 * dropped; a record that can never be written (undecodable, refused schema) goes to the
 * dead-letter topic with the reason in headers, counted, and the topic goes on.
 */
import { fromPulsarMessage, PROPERTY, type TelemetryRecord } from '../../../src/record/record.ts';
import { KafkaFencedError, type KafkaLog, type OutRecord, type TopicSpec, type TransactionalProducer } from '../kafka/index.ts';
import { WsConsumer, type PulsarMessage } from '../pulsar/consumer.ts';
import type { Logger } from '../service/runner.ts';
import { RecordRefused, type SchemaEncoder } from './schemas.ts';
import { DedupState, stateKey } from './state.ts';

export interface TopicBridgeOptions {
  pulsarTopic: string;
  webServiceUrl: string;
  token?: string;
  subscription: string;
  consumerName: string;
  priorityLevel: number;
  /** Kafka topic of a record (the configured template filled in). */
  kafkaTopicFor: (record: TelemetryRecord) => string;
  /** The spec a raw topic is created with, on first use. */
  rawTopicSpec: (name: string) => TopicSpec;
  stateTopic: string;
  deadLetterTopic: string;
  batch: { maxRecords: number; maxDelayMs: number };
}

/** What a topic bridge reports (the service turns it into metrics). */
export interface TopicEvents {
  consumed(topic: string, n: number): void;
  produced(kafkaTopic: string, n: number): void;
  deduplicated(topic: string, n: number): void;
  gap(topic: string, missing: number): void;
  deadLettered(reason: string, n: number): void;
  committed(seconds: number, records: number): void;
  /** Seconds from the record's ingest at the edge to its Kafka commit. */
  endToEnd(seconds: number): void;
  fenced(topic: string): void;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

export class TopicBridge {
  private consumer: WsConsumer | null = null;
  private producer: TransactionalProducer | null = null;
  private readonly state = new DedupState();
  private queue: PulsarMessage[] = [];
  private processing = false;
  private timer: NodeJS.Timeout | null = null;
  private reopenTimer: NodeJS.Timeout | null = null;
  private retryMs = RETRY_MIN_MS;
  private stopped = false;
  private readonly knownRawTopics = new Set<string>();
  private drained: Promise<void> = Promise.resolve();
  /** Messages received since start (for status). */
  received = 0;

  constructor(
    private readonly options: TopicBridgeOptions,
    private readonly kafka: KafkaLog,
    private readonly encoder: SchemaEncoder,
    private readonly events: TopicEvents,
    private readonly logger: Logger,
  ) {}

  get topic(): string {
    return this.options.pulsarTopic;
  }

  /** Whether this instance holds the topic's transactional.id (it is the active writer). */
  get active(): boolean {
    return this.producer !== null;
  }

  get connected(): boolean {
    return this.consumer?.isOpen ?? false;
  }

  async start(): Promise<void> {
    await this.openConsumer();
  }

  private async openConsumer(): Promise<void> {
    if (this.stopped) return;
    const consumer = new WsConsumer({
      webServiceUrl: this.options.webServiceUrl,
      topic: this.options.pulsarTopic,
      subscription: this.options.subscription,
      consumerName: this.options.consumerName,
      priorityLevel: this.options.priorityLevel,
      ...(this.options.token === undefined ? {} : { token: this.options.token }),
    });
    consumer.on('message', (message: PulsarMessage) => {
      if (this.consumer !== consumer) return;
      this.received += 1;
      this.queue.push(message);
      this.schedule();
    });
    consumer.on('close', (error: Error | null) => {
      if (this.consumer !== consumer) return;
      this.consumer = null;
      // Whatever was not acknowledged comes again on the next consumer (here or on the active one).
      this.queue = [];
      if (error !== null) this.logger.warn({ topic: this.topic, err: error.message }, 'Pulsar consumer lost; reconnecting');
      this.scheduleReopen();
    });
    try {
      await consumer.open();
      this.consumer = consumer;
      this.retryMs = RETRY_MIN_MS;
    } catch (error) {
      this.logger.warn({ topic: this.topic, err: (error as Error).message }, 'cannot subscribe; retrying');
      this.scheduleReopen();
    }
  }

  private scheduleReopen(): void {
    if (this.stopped || this.reopenTimer !== null) return;
    const delay = this.nextRetry();
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      void this.openConsumer();
    }, delay);
  }

  private nextRetry(): number {
    const delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    return delay;
  }

  private schedule(): void {
    if (this.processing || this.stopped) return;
    if (this.queue.length >= this.options.batch.maxRecords) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.drained = this.process();
      return;
    }
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.drained = this.process();
      }, this.options.batch.maxDelayMs);
    }
  }

  /** Processes batches until the queue is empty (one at a time: per-topic order). */
  private async process(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const batch = this.queue.slice(0, this.options.batch.maxRecords);
        const consumer = this.consumer;
        const done = await this.commitBatch(batch);
        if (done === 'retry') {
          await new Promise((resolve) => setTimeout(resolve, this.nextRetry()));
          continue;
        }
        this.retryMs = RETRY_MIN_MS;
        // The batch left the queue only now; a reconnect meanwhile emptied the queue anyway.
        if (this.queue[0] === batch[0]) this.queue.splice(0, batch.length);
        if (done === 'committed' && consumer !== null && consumer === this.consumer) for (const m of batch) consumer.ack(m.messageId);
      }
    } finally {
      this.processing = false;
    }
  }

  /** Becomes the topic's writer: fences any other, then reads the state everyone committed. */
  private async activate(): Promise<TransactionalProducer> {
    const producer = await this.kafka.transactional(`skyhaul-bridge:${this.topic}`);
    this.state.load(await this.kafka.readToEnd(this.options.stateTopic), this.topic);
    this.logger.info({ topic: this.topic, stateKeys: this.state.size }, 'active for the topic: fenced any previous writer, de-duplication state loaded');
    return producer;
  }

  private async commitBatch(batch: PulsarMessage[]): Promise<'committed' | 'retry' | 'stepped-back'> {
    try {
      this.producer ??= await this.activate();
    } catch (error) {
      this.logger.warn({ topic: this.topic, err: (error as Error).message }, 'cannot take the topic in Kafka; retrying');
      return 'retry';
    }
    const out: OutRecord[] = [];
    const pending = new Map<string, number>();
    const dead = new Map<string, number>();
    // One log line per distinct refusal per batch, not one per record.
    const refusals = new Set<string>();
    let duplicates = 0;
    let gaps = 0;
    const ingestTimes: number[] = [];
    for (const message of batch) {
      let record: TelemetryRecord;
      try {
        record = fromPulsarMessage(message);
      } catch (error) {
        out.push(this.deadLetter(message, 'decode', (error as Error).message));
        dead.set('decode', (dead.get('decode') ?? 0) + 1);
        continue;
      }
      const key = stateKey(record.producerId, record.stream);
      const verdict = this.state.judge(key, record.sequence, pending);
      if (verdict.kind === 'duplicate') {
        duplicates += 1;
        continue;
      }
      let encoded;
      try {
        encoded = await this.encoder.encode(record);
      } catch (error) {
        if (!(error instanceof RecordRefused)) {
          this.logger.warn({ topic: this.topic, err: (error as Error).message }, 'record must wait (registry unavailable)');
          return 'retry';
        }
        out.push(this.deadLetter(message, error.reason, error.message));
        dead.set(error.reason, (dead.get(error.reason) ?? 0) + 1);
        refusals.add(error.message);
        // A dead-lettered record is handled: its sequence counts as written, so a redelivery
        // does not dead-letter it twice.
        pending.set(key, record.sequence);
        continue;
      }
      if (verdict.gap > 0) {
        gaps += verdict.gap;
        this.logger.warn({ topic: this.topic, stream: record.stream, producerId: record.producerId, missing: verdict.gap, before: record.sequence }, 'gap in a stream\'s sequences');
      }
      pending.set(key, record.sequence);
      const kafkaTopic = this.options.kafkaTopicFor(record);
      try {
        await this.ensureRawTopic(kafkaTopic);
      } catch (error) {
        this.logger.warn({ topic: kafkaTopic, err: (error as Error).message }, 'cannot create the Kafka topic; retrying');
        return 'retry';
      }
      out.push({
        topic: kafkaTopic,
        key: record.stream,
        value: encoded.value,
        // Every property crosses (central invariant 9), with the schema the value is encoded with.
        headers: { ...message.properties, schema_subject: encoded.subject, schema_id: String(encoded.schemaId) },
        timestamp: record.sourceTime ?? record.ingestTime,
      });
      ingestTimes.push(record.ingestTime);
    }
    out.push(...DedupState.records(this.options.stateTopic, this.topic, pending));
    const t0 = performance.now();
    try {
      await this.producer.commit(out);
    } catch (error) {
      if (error instanceof KafkaFencedError) {
        this.events.fenced(this.topic);
        this.logger.warn({ topic: this.topic }, 'another bridge took the topic (fenced): stepping back');
        await this.stepBack();
        return 'stepped-back';
      }
      // The outcome is unknown (the commit may have reached the coordinator) and the client may
      // still hold the transaction open (its abort failed too while Kafka was away): let this
      // producer go. The retry re-activates: the new InitProducerId settles whatever was in
      // flight, and the state read after it says which of these records are already in Kafka.
      this.logger.warn({ topic: this.topic, err: (error as Error).message }, 'Kafka transaction failed; retrying the batch with a fresh producer');
      const broken = this.producer;
      this.producer = null;
      await broken.close().catch(() => undefined);
      return 'retry';
    }
    const now = Date.now();
    this.state.apply(pending);
    this.events.committed((performance.now() - t0) / 1000, out.length);
    this.events.consumed(this.topic, batch.length);
    if (duplicates > 0) this.events.deduplicated(this.topic, duplicates);
    if (gaps > 0) this.events.gap(this.topic, gaps);
    for (const [reason, n] of dead) this.events.deadLettered(reason, n);
    for (const refusal of refusals) this.logger.warn({ topic: this.topic, deadLetterTopic: this.options.deadLetterTopic }, `dead-lettered: ${refusal}`);
    const produced = new Map<string, number>();
    for (const r of out) if (r.topic !== this.options.stateTopic && r.topic !== this.options.deadLetterTopic) produced.set(r.topic, (produced.get(r.topic) ?? 0) + 1);
    for (const [topic, n] of produced) this.events.produced(topic, n);
    for (const ingest of ingestTimes) this.events.endToEnd(Math.max(0, now - ingest) / 1000);
    return 'committed';
  }

  private deadLetter(message: PulsarMessage, reason: string, detail: string): OutRecord {
    return {
      topic: this.options.deadLetterTopic,
      key: message.properties[PROPERTY.stream] ?? message.key ?? message.messageId,
      value: message.payload,
      headers: { ...message.properties, dlq_reason: reason, dlq_message: detail.slice(0, 2000), pulsar_topic: this.topic, pulsar_message_id: message.messageId },
    };
  }

  private async ensureRawTopic(name: string): Promise<void> {
    if (this.knownRawTopics.has(name)) return;
    await this.kafka.ensureTopics([this.options.rawTopicSpec(name)]);
    this.knownRawTopics.add(name);
  }

  /** Fenced: no longer the writer. Let go of the consumer so Pulsar redelivers to the active one. */
  private async stepBack(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    await producer?.close();
    const consumer = this.consumer;
    this.consumer = null;
    this.queue = [];
    await consumer?.close();
    this.scheduleReopen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.reopenTimer !== null) clearTimeout(this.reopenTimer);
    this.timer = this.reopenTimer = null;
    // Drain: what is being committed finishes (and is acknowledged); what waits is redelivered.
    await this.drained;
    const consumer = this.consumer;
    this.consumer = null;
    await consumer?.close();
    await this.producer?.close();
    this.producer = null;
  }
}

