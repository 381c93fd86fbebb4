/**
 * `skyhaul-central etl`: the bridge's raw topics into curated records and 1-minute aggregates,
 * each record once (the role Kafka Streams or Flink plays; neither runs on Node, and a Flink
 * cluster would be a third JVM on a site of two cores).
 *
 * A consumer group (`etl.groupId`) over every topic matching `etl.sourceTopics` (listed again
 * every `etl.topicRefresh`), read_committed. Each batch is one Kafka transaction holding the
 * curated records, the aggregates its records closed, the dead letters, the state changes
 * (state.ts: de-duplication sequences, watermarks, open windows) and the group offsets after the
 * batch (consume-transform-produce, KIP-98; a member of a stale generation cannot commit, KIP-447).
 * A failed transaction commits nothing: the state changes are discarded and the reader rewinds to
 * the group's committed offsets. Several instances share the partitions; on every (re)assignment
 * the state is read again from its topic, once the previous owners' transactions have settled.
 *
 * Records (transform.ts): decoded through the registry, checked against their subject's schema
 * (dead letter with the reason otherwise), units to SI (curated/units.ts), site metadata from the
 * site registry file (curated/sites.ts), written in the Confluent wire format under
 * `skyhaul.curated.v1` / `skyhaul.aggregate.v1` with every raw header kept.
 *
 * A transaction open longer than `etl.stuckTransaction` raises an alarm: the gauge
 * `skyhaul_central_etl_transaction_stuck`, an error log line, and /readyz 503 until it ends.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Counter, Gauge, Histogram } from 'prom-client';
import { AGGREGATE_SCHEMA, AGGREGATE_SUBJECT, CURATED_SCHEMA, CURATED_SUBJECT, HEARTBEAT_KIND, HEARTBEAT_TIME_HEADER, RECORD_KIND_HEADER, type AggregateRecord } from '../curated/index.ts';
import { SiteRegistry } from '../curated/sites.ts';
import { UnitNormaliser } from '../curated/units.ts';
import type { CentralConfig } from '../config/load.ts';
import { KafkaFencedError, KafkaLog, type GroupReader, type GroupRecord, type OutRecord, type TransactionalProducer } from '../kafka/index.ts';
import type { Service, ServiceContext } from '../service/runner.ts';
import { EtlState } from './state.ts';
import { isUnavailable, transform, type RefusalReason } from './transform.ts';

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

export class EtlService implements Service {
  readonly name = 'etl';
  private readonly kafka: KafkaLog;
  private readonly registry: SchemaRegistry;
  private readonly units: UnitNormaliser;
  private sites = new SiteRegistry();
  private readonly state: EtlState;
  private reader: GroupReader | null = null;
  private producer: TransactionalProducer | null = null;
  private topics: string[] = [];
  private loop: Promise<void> | null = null;
  private stopping = false;
  private reloadState = true;
  private started = false;
  private stuckSince: number | null = null;
  private lastError: string | null = null;
  private lastHeartbeat = Number.NEGATIVE_INFINITY;
  private ids = { curated: 0, aggregate: 0 };
  private readonly knownTopics = new Set<string>();
  private retryMs = RETRY_MIN_MS;
  private readonly metrics: ReturnType<EtlService['createMetrics']>;

  constructor(
    private readonly config: CentralConfig,
    private readonly context: ServiceContext,
  ) {
    this.kafka = new KafkaLog({ bootstrap: config.kafka.bootstrap, clientId: `${config.kafka.clientId}-etl` });
    this.registry = new SchemaRegistry({ host: config.registry.url, retry: { retries: 2, initialRetryTimeInSecs: 0.2, maxRetryTimeInSecs: 2 } });
    this.units = new UnitNormaliser(config.etl.units);
    this.state = new EtlState(config.etl.windowMs, config.etl.allowedLatenessMs);
    this.metrics = this.createMetrics();
  }

  private createMetrics() {
    const registers = [this.context.metrics];
    const state = this.state;
    const isStuck = (): boolean => this.stuck;
    return {
      consumed: new Counter({ name: 'skyhaul_central_etl_consumed_total', help: 'Raw records handled (curated, de-duplicated or dead-lettered), by raw topic.', labelNames: ['topic'], registers }),
      curated: new Counter({ name: 'skyhaul_central_etl_curated_total', help: 'Curated records committed, by curated topic.', labelNames: ['topic'], registers }),
      aggregates: new Counter({ name: 'skyhaul_central_etl_aggregates_total', help: 'Aggregates committed (one per stream, numeric field and window).', registers }),
      heartbeats: new Counter({ name: 'skyhaul_central_etl_heartbeats_total', help: 'Heartbeat records written to curated partitions while caught up (they move the archiver\'s rotation clock).', registers }),
      deduplicated: new Counter({ name: 'skyhaul_central_etl_deduplicated_total', help: 'Raw records already curated (a redelivery after a rewind or a hand-over): skipped.', registers }),
      late: new Counter({ name: 'skyhaul_central_etl_late_values_total', help: "Numeric values whose window had closed (beyond the allowed lateness): kept in the curated topic, not aggregated.", registers }),
      deadLetters: new Counter({ name: 'skyhaul_central_etl_dead_letters_total', help: 'Raw records sent to the dead-letter topic, by reason.', labelNames: ['reason'], registers }),
      converted: new Counter({ name: 'skyhaul_central_etl_values_converted_total', help: 'Numeric values converted to their SI unit.', registers }),
      unknownUnits: new Counter({ name: 'skyhaul_central_etl_unknown_units_total', help: 'Values kept in a unit UCUM does not know, by unit.', labelNames: ['unit'], registers }),
      unknownSites: new Counter({ name: 'skyhaul_central_etl_unknown_site_records_total', help: 'Records of a site missing from the site registry (curated without its metadata), by site.', labelNames: ['site'], registers }),
      aborted: new Counter({ name: 'skyhaul_central_etl_transactions_aborted_total', help: 'Transactions that failed and were rolled back (the batch is read again), by cause.', labelNames: ['cause'], registers }),
      commit: new Histogram({ name: 'skyhaul_central_etl_transaction_seconds', help: 'Duration of one transaction (output, state, offsets), send to commit.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers }),
      stuck: new Gauge({
        name: 'skyhaul_central_etl_transaction_stuck',
        help: 'Whether a transaction has been open longer than etl.stuckTransaction (1) or not (0).',
        registers,
        collect(this: Gauge) {
          this.set(isStuck() ? 1 : 0);
        },
      }),
      openWindows: new Gauge({
        name: 'skyhaul_central_etl_open_windows',
        help: 'Aggregate windows open (per stream and field), as committed.',
        registers,
        collect(this: Gauge) {
          this.set(state.openWindows);
        },
      }),
    };
  }

  private get stuck(): boolean {
    return this.stuckSince !== null && performance.now() - this.stuckSince > this.config.etl.stuckTransactionMs;
  }

  async start(): Promise<void> {
    const { etl, kafka } = this.config;
    if (etl.siteRegistry !== undefined) this.sites = SiteRegistry.load(etl.siteRegistry);
    this.units.check();
    await this.kafka.ensureTopics([
      { name: etl.stateTopic, partitions: 6, replicationFactor: kafka.replicationFactor, config: { 'cleanup.policy': 'compact', 'min.insync.replicas': String(kafka.minInsyncReplicas), 'segment.ms': String(10 * 60_000), 'min.cleanable.dirty.ratio': '0.1' } },
      { name: etl.deadLetterTopic, partitions: 1, replicationFactor: kafka.replicationFactor, config: { 'retention.ms': String(30 * 86_400_000), 'min.insync.replicas': String(kafka.minInsyncReplicas) } },
    ]);
    this.ids.curated = await this.register(CURATED_SUBJECT, CURATED_SCHEMA);
    this.ids.aggregate = await this.register(AGGREGATE_SUBJECT, AGGREGATE_SCHEMA);
    this.started = true;
    this.loop = this.run();
  }

  private async register(subject: string, schema: object): Promise<number> {
    const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, compatibility: 'BACKWARD_TRANSITIVE' as never });
    return id;
  }

  /** SIGHUP: the site registry file again (a mistake keeps the one in use, and says why). */
  reload(): void {
    if (this.config.etl.siteRegistry === undefined) return;
    try {
      this.sites = SiteRegistry.load(this.config.etl.siteRegistry);
      this.context.logger.info({ file: this.config.etl.siteRegistry }, 'site registry reloaded');
    } catch (error) {
      this.context.logger.error({ err: (error as Error).message }, 'site registry not reloaded: keeping the one in use');
    }
  }

  private async listSourceTopics(): Promise<string[]> {
    const all = await this.kafka.listTopics();
    return all.filter((t) => this.config.etl.sourceTopics.test(t)).sort();
  }

  private async run(): Promise<void> {
    let lastListing = Number.NEGATIVE_INFINITY;
    while (!this.stopping) {
      try {
        if (performance.now() - lastListing > this.config.etl.topicRefreshMs) {
          lastListing = performance.now();
          const topics = await this.listSourceTopics();
          if (topics.join() !== this.topics.join()) await this.subscribe(topics);
        }
        if (this.reader === null) {
          await this.pause(1000);
          continue;
        }
        const batch = await this.reader.take(this.config.etl.batch.maxRecords, this.config.etl.batch.maxDelayMs, 500);
        // After take(), not before: the assignment may have changed while it waited, and the
        // records it returned from then on belong to partitions whose state this instance has
        // not read yet. (Records fetched before the change carry the old generation: their
        // batch cannot commit, and is read again.)
        if (this.reloadState) {
          this.reloadState = false;
          this.state.load(await this.kafka.readToEnd(this.config.etl.stateTopic));
        }
        if (batch.length === 0) {
          await this.heartbeatWhenDue();
          continue;
        }
        await this.processBatch(batch);
        this.retryMs = RETRY_MIN_MS;
        this.lastError = null;
      } catch (error) {
        this.lastError = (error as Error).message;
        this.context.logger.warn({ err: this.lastError }, 'ETL batch failed; retrying');
        await this.pause(this.retryMs);
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
      }
    }
  }

  /**
   * Caught up (a take() came back empty): every partition of every curated topic gets a heartbeat
   * record, at most once per `etl.heartbeatInterval`. The archiver closes an idle partition's last
   * objects when a record later in the log says the time has passed (ARCHITECTURE.md central
   * invariant 11: cuts follow the log, so a replay cuts the same objects); without these, they
   * would stay open until the stream sends again. Outside the transactions: a heartbeat is no
   * output of any input record, and a lost or repeated one only moves a clock.
   */
  private async heartbeatWhenDue(): Promise<void> {
    const now = Date.now();
    if (now - this.lastHeartbeat < this.config.etl.heartbeatIntervalMs) return;
    this.lastHeartbeat = now;
    const [before, after] = this.config.etl.curatedTopic.split('{site}') as [string, string?];
    const curated = (await this.kafka.listTopics()).filter((t) => t.startsWith(before) && (after === undefined ? t === before : t.endsWith(after) && t.length > before.length + after.length));
    const records: OutRecord[] = [];
    for (const topic of curated) {
      const partitions = await this.kafka.partitions(topic);
      for (let partition = 0; partition < partitions; partition++) {
        records.push({ topic, partition, key: '', value: null, headers: { [RECORD_KIND_HEADER]: HEARTBEAT_KIND, [HEARTBEAT_TIME_HEADER]: String(now) }, timestamp: now });
      }
    }
    await this.kafka.send(records);
    this.metrics.heartbeats.inc(records.length);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** Joins the group on `topics` (leaving it first with the old list: the subscription changed). */
  private async subscribe(topics: string[]): Promise<void> {
    await this.reader?.close();
    this.reader = null;
    this.topics = topics;
    if (topics.length === 0) return;
    const reader = this.kafka.groupReader({ groupId: this.config.etl.groupId, topics, highWater: this.config.etl.batch.maxRecords * 4 });
    reader.on('assigned', () => (this.reloadState = true));
    reader.on('error', (error: Error) => {
      this.context.logger.warn({ err: error.message }, 'group reader failed; joining again');
      if (this.reader === reader) {
        this.reader = null;
        this.topics = [];
        void reader.close();
      }
    });
    await reader.open();
    this.reader = reader;
    this.reloadState = true;
    this.context.logger.info({ topics: topics.length }, 'reading raw topics');
  }

  private topicFor(template: string, siteId: string): string {
    return template.replaceAll('{site}', siteId);
  }

  private async ensureOutputTopic(name: string, retentionMs: number): Promise<void> {
    if (this.knownTopics.has(name)) return;
    const { kafka, etl } = this.config;
    await this.kafka.ensureTopics([{ name, partitions: etl.partitions, replicationFactor: kafka.replicationFactor, config: { 'retention.ms': String(retentionMs), 'min.insync.replicas': String(kafka.minInsyncReplicas) } }]);
    this.knownTopics.add(name);
  }

  private async encode(id: number, value: unknown): Promise<Buffer> {
    return this.registry.encode(id, value);
  }

  private async processBatch(batch: GroupRecord[]): Promise<void> {
    const { etl } = this.config;
    const out: OutRecord[] = [];
    const dead = new Map<RefusalReason, number>();
    const curatedPerTopic = new Map<string, number>();
    const consumedPerTopic = new Map<string, number>();
    let duplicates = 0;
    let late = 0;
    let aggregates = 0;
    const notes = { converted: 0, unknownUnits: new Map<string, number>(), unknownSites: new Map<string, number>() };
    for (const raw of batch) {
      consumedPerTopic.set(raw.topic, (consumedPerTopic.get(raw.topic) ?? 0) + 1);
      const producerId = raw.headers.producer_id;
      const stream = raw.headers.stream ?? raw.key;
      const sequence = Number(raw.headers.sequence);
      if (producerId !== undefined && Number.isSafeInteger(sequence) && !this.state.accept(producerId, stream, sequence)) {
        duplicates += 1;
        continue;
      }
      let result;
      try {
        result = await transform(raw, this.registry, this.sites, this.units);
      } catch (error) {
        this.state.discard();
        if (isUnavailable(error)) throw new Error(`schema registry unavailable: ${(error as Error).message}`, { cause: error });
        throw error;
      }
      if (!result.ok) {
        dead.set(result.reason, (dead.get(result.reason) ?? 0) + 1);
        out.push({ topic: etl.deadLetterTopic, key: raw.key, value: raw.value, headers: { ...raw.headers, dlq_reason: result.reason, dlq_message: result.message.slice(0, 2000), kafka_topic: raw.topic, kafka_partition: String(raw.partition), kafka_offset: String(raw.offset) } });
        continue;
      }
      const { curated } = result;
      notes.converted += result.notes.converted;
      for (const unit of result.notes.unknownUnits) notes.unknownUnits.set(unit, (notes.unknownUnits.get(unit) ?? 0) + 1);
      if (result.notes.siteUnknown) notes.unknownSites.set(curated.site_id, (notes.unknownSites.get(curated.site_id) ?? 0) + 1);
      const curatedTopic = this.topicFor(etl.curatedTopic, curated.site_id);
      await this.ensureOutputTopic(curatedTopic, etl.retentionMs);
      out.push({
        topic: curatedTopic,
        key: curated.stream,
        value: await this.encode(this.ids.curated, curated),
        headers: { ...raw.headers, schema_subject: CURATED_SUBJECT, schema_id: String(this.ids.curated), raw_subject: curated.raw_subject },
        timestamp: curated.event_time,
      });
      curatedPerTopic.set(curatedTopic, (curatedPerTopic.get(curatedTopic) ?? 0) + 1);
      const outcome = this.state.observe(curated.site_id, curated.stream, curated.event_time, curated.values, curated.units);
      late += outcome.late;
      for (const aggregate of outcome.emitted) {
        out.push(await this.aggregateRecord(aggregate, raw.headers.traceparent));
        aggregates += 1;
      }
    }
    out.push(...this.state.changes(etl.stateTopic));
    await this.commit(out, batch);
    for (const [topic, n] of consumedPerTopic) this.metrics.consumed.inc({ topic }, n);
    for (const [topic, n] of curatedPerTopic) this.metrics.curated.inc({ topic }, n);
    for (const [reason, n] of dead) this.metrics.deadLetters.inc({ reason }, n);
    if (dead.size > 0) this.context.logger.warn({ deadLetters: Object.fromEntries(dead), topic: etl.deadLetterTopic }, 'raw records dead-lettered');
    if (duplicates > 0) this.metrics.deduplicated.inc(duplicates);
    if (late > 0) this.metrics.late.inc(late);
    if (aggregates > 0) this.metrics.aggregates.inc(aggregates);
    if (notes.converted > 0) this.metrics.converted.inc(notes.converted);
    for (const [unit, n] of notes.unknownUnits) this.metrics.unknownUnits.inc({ unit }, n);
    for (const [site, n] of notes.unknownSites) this.metrics.unknownSites.inc({ site }, n);
  }

  private async aggregateRecord(aggregate: AggregateRecord, traceparent: string | undefined): Promise<OutRecord> {
    const topic = this.topicFor(this.config.etl.aggregatesTopic, aggregate.site_id);
    await this.ensureOutputTopic(topic, this.config.etl.aggregatesRetentionMs);
    return {
      topic,
      key: aggregate.stream,
      value: await this.encode(this.ids.aggregate, aggregate),
      headers: {
        site_id: aggregate.site_id,
        stream: aggregate.stream,
        field: aggregate.field,
        window_start: String(aggregate.window_start),
        schema_subject: AGGREGATE_SUBJECT,
        schema_id: String(this.ids.aggregate),
        ...(traceparent === undefined ? {} : { traceparent }),
      },
      timestamp: aggregate.window_start,
    };
  }

  /** One transaction: output, state, group offsets. On failure nothing stays: discard, rewind. */
  private async commit(out: OutRecord[], batch: GroupRecord[]): Promise<void> {
    const reader = this.reader!;
    const t0 = performance.now();
    this.stuckSince = t0;
    const alarm = setTimeout(() => this.context.logger.error({ openMs: this.config.etl.stuckTransactionMs, records: out.length }, 'ETL transaction stuck: open longer than etl.stuckTransaction'), this.config.etl.stuckTransactionMs);
    try {
      if (this.config.etl.exactlyOnce) {
        this.producer ??= await this.kafka.transactional(`skyhaul-etl:${this.config.etl.groupId}:${this.config.etl.instanceId}`);
        await this.producer.commit(out, { reader, records: batch });
      } else {
        // At least once: a crash between the two writes repeats the batch's output.
        await this.kafka.send(out);
        await reader.commitOffsets(batch);
      }
      this.state.apply();
      this.metrics.commit.observe((performance.now() - t0) / 1000);
    } catch (error) {
      this.state.discard();
      const cause = error instanceof KafkaFencedError ? 'fenced' : 'failed';
      this.metrics.aborted.inc({ cause });
      this.context.logger.warn({ err: (error as Error).message, cause, records: batch.length }, 'ETL transaction rolled back: reading the batch again');
      // The client may still hold the transaction open, and a fenced producer is done: a fresh one
      // settles whatever was in flight when it takes the transactional.id.
      const broken = this.producer;
      this.producer = null;
      await broken?.close().catch(() => undefined);
      await reader.rewind().catch((rewindError: unknown) => this.context.logger.warn({ err: (rewindError as Error).message }, 'rewind failed'));
      this.reloadState = true;
      throw error;
    } finally {
      clearTimeout(alarm);
      this.stuckSince = null;
    }
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.started) reasons.push('not started');
    if (this.stuck) reasons.push(`a transaction has been open longer than ${this.config.etl.stuckTransactionMs} ms`);
    if (this.lastError !== null) reasons.push(`last batch failed: ${this.lastError}`);
    return { ready: reasons.length === 0, reasons };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    await this.reader?.close();
    this.reader = null;
    await this.producer?.close();
    this.producer = null;
    await this.kafka.close();
  }
}
