/**
 * `skyhaul-central registry`: a schema registry with the Confluent REST API (api.ts), its state in
 * the compacted Kafka topic `config.registry.topic` (store.ts: record formats, ids, the
 * writer/reader model of several instances), compatibility by avsc for Avro and by Confluent's
 * structural rules for JSON Schema.
 *
 * Ready once `_schemas` has been read to its end (and while it is being followed). Metrics
 * (`skyhaul_central_registry_*`): requests by route, method and status; live schemas and
 * subjects; records applied from the topic (skipped ones too); whether this instance holds the
 * writer role, and how often it took it over from another instance.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge } from 'prom-client';
import type { CentralConfig } from '../config/load.ts';
import { KafkaLog } from '../kafka/index.ts';
import type { Service, ServiceContext } from '../service/runner.ts';
import { registryRoutes } from './api.ts';
import { type CompatibilityLevel, isCompatibilityLevel } from './compatibility.ts';
import { SchemaStore } from './store.ts';

export { CONTENT_TYPE } from './api.ts';

/** The registry as a central service (runner.ts drives it; main.ts serves it on `config.registry.listen`). */
export class RegistryService implements Service {
  readonly name = 'registry';
  private readonly kafka: KafkaLog;
  /** The store: its state is what the REST API answers from (tests read it too). */
  readonly store: SchemaStore;
  private stopped: Promise<void> | null = null;

  constructor(
    config: CentralConfig,
    private readonly context: ServiceContext,
  ) {
    const level = config.registry.compatibility;
    if (!isCompatibilityLevel(level)) throw new Error(`registry.compatibility '${level}' is not a compatibility level`);
    const logger = context.logger.child({ component: 'registry' });
    this.kafka = new KafkaLog({ bootstrap: config.kafka.bootstrap, clientId: `${config.kafka.clientId}-registry` });
    const metrics = context.metrics;
    const writer: Gauge = new Gauge({ name: 'skyhaul_central_registry_writer', help: 'Whether this instance holds the writer role (the transactional.id of the schemas topic): 1 or 0.', registers: [metrics], collect: (): void => writer.set(this.store.isWriter ? 1 : 0) });
    const takeovers = new Counter({ name: 'skyhaul_central_registry_writer_takeovers_total', help: 'Times this instance took the writer role back from another instance to serve a write.', registers: [metrics] });
    const applied = new Counter({ name: 'skyhaul_central_registry_log_records_total', help: 'Records read from the schemas topic, by outcome (applied, or skipped: not a record of this registry).', labelNames: ['outcome'], registers: [metrics] });
    this.store = new SchemaStore(this.kafka, config.registry.topic, { replicationFactor: config.kafka.replicationFactor, minInsyncReplicas: config.kafka.minInsyncReplicas }, level as CompatibilityLevel, {
      onWriterAcquired: (takeover) => {
        if (takeover) takeovers.inc();
        logger.info({ topic: config.registry.topic, takeover }, 'holding the writer role');
      },
      onRecordApplied: (ours) => applied.inc({ outcome: ours ? 'applied' : 'skipped' }),
      onFollowerError: (error) => logger.error({ err: error.message, topic: config.registry.topic }, 'following the schemas topic failed: not ready'),
    });
    const state = this.store.state;
    const schemas: Gauge = new Gauge({ name: 'skyhaul_central_registry_schemas', help: 'Schemas (distinct ids) that a live subject version uses.', registers: [metrics], collect: (): void => schemas.set(state.counts().schemas) });
    const subjects: Gauge = new Gauge({ name: 'skyhaul_central_registry_subjects', help: 'Subjects with at least one live version.', registers: [metrics], collect: (): void => subjects.set(state.counts().subjects) });
    this.requests = new Counter({ name: 'skyhaul_central_registry_requests_total', help: 'REST API requests answered, by route pattern, method and HTTP status.', labelNames: ['route', 'method', 'status'], registers: [metrics] });
  }

  private readonly requests: Counter<'route' | 'method' | 'status'>;

  async start(): Promise<void> {
    await this.store.open();
    const { schemas, subjects } = this.store.state.counts();
    this.context.logger.info({ topic: this.store.topic, schemas, subjects }, 'schemas topic read to its end: serving');
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.store.close();
      await this.kafka.close();
    })();
    return this.stopped;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    return { ready: this.store.ready, reasons: this.store.reasons() };
  }

  routes(app: FastifyInstance): void {
    registryRoutes(app, this.store, (route, method, status) => this.requests.inc({ route, method, status: String(status) }));
  }
}
