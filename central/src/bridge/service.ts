/**
 * `skyhaul-central bridge`: the central Pulsar's site topics into Kafka, each record once, in
 * order per stream (the role Pulsar IO's Kafka sink plays; there is none on Maven Central).
 *
 * Discovers the site topics of `pulsar.namespace` (admin API, every `bridge.topicRefresh`) and
 * runs one TopicBridge per topic (./topic.ts: Failover subscription, a transactional.id per
 * topic, de-duplication state in Kafka, dead letters). Creates its state and dead-letter topics
 * at start; raw topics (`bridge.topic`, default `skyhaul.raw.{site}`) on first use, with
 * `bridge.partitions`, `bridge.retention`, the cluster's replication factor and
 * min.insync.replicas. Several instances share a subscription: one is active per topic, the
 * others take over within seconds when it goes (a higher `bridge.priorityLevel` number means
 * standby by preference).
 *
 * Metrics `skyhaul_central_bridge_*`: consumed, produced, deduplicated, gaps, dead letters by
 * reason, the Pulsar subscription backlog, Kafka commit latency, the end-to-end latency from the
 * record's ingest at the edge to its Kafka commit, topics active.
 */
import { hostname } from 'node:os';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { CentralConfig } from '../config/load.ts';
import { KafkaLog } from '../kafka/index.ts';
import { PulsarAdmin } from '../pulsar/consumer.ts';
import type { Service, ServiceContext } from '../service/runner.ts';
import { SchemaEncoder } from './schemas.ts';
import { TopicBridge, type TopicEvents } from './topic.ts';

export class BridgeService implements Service {
  readonly name = 'bridge';
  private readonly kafka: KafkaLog;
  private readonly admin: PulsarAdmin;
  private readonly encoder: SchemaEncoder;
  private readonly bridges = new Map<string, TopicBridge>();
  private refreshTimer: NodeJS.Timeout | null = null;
  private backlogTimer: NodeJS.Timeout | null = null;
  private started = false;
  private discovered = false;
  private lastDiscoveryError: string | null = null;
  private readonly events: TopicEvents;
  private readonly backlog: Gauge<'topic'>;
  private readonly consumerName = `bridge-${hostname()}-${process.pid}`;

  constructor(
    private readonly config: CentralConfig,
    private readonly context: ServiceContext,
  ) {
    this.kafka = new KafkaLog({ bootstrap: config.kafka.bootstrap, clientId: `${config.kafka.clientId}-bridge` });
    this.admin = new PulsarAdmin(config.pulsar.webServiceUrl, config.pulsar.token);
    this.encoder = new SchemaEncoder(config.registry.url);
    const registers = [context.metrics];
    const consumed = new Counter({ name: 'skyhaul_central_bridge_consumed_total', help: 'Pulsar messages handled (written, de-duplicated or dead-lettered), by Pulsar topic.', labelNames: ['topic'], registers });
    const produced = new Counter({ name: 'skyhaul_central_bridge_produced_total', help: 'Records committed to Kafka, by Kafka topic.', labelNames: ['topic'], registers });
    const deduplicated = new Counter({ name: 'skyhaul_central_bridge_deduplicated_total', help: 'Messages already in Kafka (redeliveries, re-sends after an edge de-duplication window): skipped, by Pulsar topic.', labelNames: ['topic'], registers });
    const gaps = new Counter({ name: 'skyhaul_central_bridge_gap_sequences_total', help: "Sequences missing in a stream between two records written (dropped at the edge, or lost), by Pulsar topic.", labelNames: ['topic'], registers });
    const dlq = new Counter({ name: 'skyhaul_central_bridge_dead_letters_total', help: 'Records sent to the dead-letter topic, by reason (decode, schema_mismatch, schema_incompatible).', labelNames: ['reason'], registers });
    const fenced = new Counter({ name: 'skyhaul_central_bridge_fenced_total', help: 'Times another bridge instance took a topic over from this one (Kafka fencing).', labelNames: ['topic'], registers });
    const commit = new Histogram({ name: 'skyhaul_central_bridge_kafka_commit_seconds', help: 'Duration of a Kafka transaction (records, dead letters and state) from send to commit.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers });
    const endToEnd = new Histogram({
      name: 'skyhaul_central_bridge_end_to_end_seconds',
      help: "From a record's ingest at the edge (its ingest_time) to its commit in Kafka.",
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400],
      registers,
    });
    this.backlog = new Gauge({ name: 'skyhaul_central_bridge_pulsar_backlog_messages', help: "Messages waiting on the bridge's Pulsar subscription, by topic.", labelNames: ['topic'], registers });
    const bridges = this.bridges;
    new Gauge({
      name: 'skyhaul_central_bridge_active_topics',
      help: 'Site topics this instance is the writer of (the others it stands by for).',
      registers,
      collect(this: Gauge) {
        this.set([...bridges.values()].filter((b) => b.active).length);
      },
    });
    this.events = {
      consumed: (topic, n) => consumed.inc({ topic }, n),
      produced: (topic, n) => produced.inc({ topic }, n),
      deduplicated: (topic, n) => deduplicated.inc({ topic }, n),
      gap: (topic, n) => gaps.inc({ topic }, n),
      deadLettered: (reason, n) => dlq.inc({ reason }, n),
      committed: (seconds) => commit.observe(seconds),
      endToEnd: (seconds) => endToEnd.observe(seconds),
      fenced: (topic) => fenced.inc({ topic }),
    };
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { kafka, bridge } = this.config;
    await this.kafka.ensureTopics([
      {
        name: bridge.stateTopic,
        partitions: 6,
        replicationFactor: kafka.replicationFactor,
        // Every batch rewrites its streams' keys: roll segments often and clean early, so the
        // state an activating bridge reads stays near one record per (producer, stream).
        config: { 'cleanup.policy': 'compact', 'min.insync.replicas': String(kafka.minInsyncReplicas), 'segment.ms': String(10 * 60_000), 'min.cleanable.dirty.ratio': '0.1' },
      },
      {
        name: bridge.deadLetterTopic,
        partitions: 1,
        replicationFactor: kafka.replicationFactor,
        config: { 'retention.ms': String(30 * 86_400_000), 'min.insync.replicas': String(kafka.minInsyncReplicas) },
      },
    ]);
    await this.discover();
    this.refreshTimer = setInterval(() => void this.discover(), bridge.topicRefreshMs);
    this.backlogTimer = setInterval(() => void this.sampleBacklog(), 10_000);
    for (const timer of [this.refreshTimer, this.backlogTimer]) timer.unref();
  }

  /** The Kafka topic for a record: the template with {site} and {family} filled in. */
  private kafkaTopicFor(siteId: string, stream: string): string {
    return this.config.bridge.topic.replaceAll('{site}', siteId).replaceAll('{family}', stream.split('/')[0] ?? stream);
  }

  private async discover(): Promise<void> {
    let topics: string[];
    try {
      topics = await this.admin.topics(this.config.pulsar.namespace);
    } catch (error) {
      this.lastDiscoveryError = (error as Error).message;
      this.context.logger.warn({ err: this.lastDiscoveryError }, 'cannot list the site topics');
      return;
    }
    this.lastDiscoveryError = null;
    this.discovered = true;
    const { kafka, bridge, pulsar } = this.config;
    for (const topic of topics) {
      if (this.bridges.has(topic) || topic.includes('-partition-')) continue;
      const topicBridge = new TopicBridge(
        {
          pulsarTopic: topic,
          webServiceUrl: pulsar.webServiceUrl,
          ...(pulsar.token === undefined ? {} : { token: pulsar.token }),
          subscription: bridge.subscription,
          consumerName: this.consumerName,
          priorityLevel: bridge.priorityLevel,
          kafkaTopicFor: (record) => this.kafkaTopicFor(record.siteId, record.stream),
          rawTopicSpec: (name) => ({
            name,
            partitions: bridge.partitions,
            replicationFactor: kafka.replicationFactor,
            config: { 'retention.ms': String(bridge.retentionMs), 'min.insync.replicas': String(kafka.minInsyncReplicas) },
          }),
          stateTopic: bridge.stateTopic,
          deadLetterTopic: bridge.deadLetterTopic,
          batch: bridge.batch,
        },
        this.kafka,
        this.encoder,
        this.events,
        this.context.logger.child({ component: 'topic' }),
      );
      this.bridges.set(topic, topicBridge);
      await topicBridge.start();
      this.context.logger.info({ topic }, 'subscribed');
    }
  }

  private async sampleBacklog(): Promise<void> {
    for (const topic of this.bridges.keys()) {
      const backlog = await this.admin.backlog(topic, this.config.bridge.subscription).catch(() => null);
      if (backlog !== null) this.backlog.set({ topic }, backlog);
    }
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.started) reasons.push('not started');
    if (!this.discovered) reasons.push(`site topics not listed yet${this.lastDiscoveryError === null ? '' : `: ${this.lastDiscoveryError}`}`);
    return { ready: reasons.length === 0, reasons };
  }

  /** Per topic: connected, active (the writer), messages received. */
  topics(): Array<{ topic: string; connected: boolean; active: boolean; received: number }> {
    return [...this.bridges.values()].map((b) => ({ topic: b.topic, connected: b.connected, active: b.active, received: b.received }));
  }

  async stop(): Promise<void> {
    if (this.refreshTimer !== null) clearInterval(this.refreshTimer);
    if (this.backlogTimer !== null) clearInterval(this.backlogTimer);
    this.refreshTimer = this.backlogTimer = null;
    await Promise.all([...this.bridges.values()].map((b) => b.stop()));
    this.bridges.clear();
    await this.kafka.close();
  }
}
