/**
 * `skyhaul-central governance`: operators' commands to the sites over RabbitMQ, every step in the
 * Kafka audit topic (ARCHITECTURE central invariant 12). The REST API and the operator page are in
 * ./api.ts; the topology in ./topology.ts; the command view (a fold of the audit topic) in
 * ./state.ts; the wire contract shared with the edge in src/record/command.ts.
 *
 * A request (POST /api/v1/commands):
 *   1. authenticated (bearer token), then checked: the site is configured, the operator's role
 *      and sites allow the command, the parameters fit the command's schema, the TTL its bound;
 *   2. given its id: with an `Idempotency-Key`, the id is derived from (operator, key), so a
 *      retried request — to this instance or another — names the same command and never creates a
 *      second one (the site de-duplicates by id as well); without one, a random UUID;
 *   3. audited (`requested`, then `authorised` or `refused`) and only once Kafka acknowledged that,
 *   4. published to the site's quorum queue with publisher confirms (mandatory: an unroutable
 *      command is a failure, not a silent drop; a full queue nacks it), audited `published`;
 *   5. answered when the site's outcome arrives within the wait (200), else 202 with the id.
 *
 * Consumers (manual acks; the RabbitMQ message is acknowledged only after Kafka acknowledged its
 * audit record; while Kafka is away the message is held and the write retried with backoff):
 *   - results queue: `delivered` and the outcome of each command (site-reported), and site reports
 *     (to the compacted sites topic). A result must come from the site's own RabbitMQ user when
 *     one is configured (validated user-id) and name the site its command went to.
 *   - dead-letter queue: expiries (`expired`), site rejections and delivery-limit overruns
 *     (`dead_lettered`), audited with the reason RabbitMQ gives in `x-death`.
 *
 * A sweeper (every second) re-publishes a command audited as authorised but never confirmed as
 * published (this service died in between; the site's journal keeps it at most once) while its
 * deadline allows, and marks `expired` a command with no delivery seen `expiryGrace` after its
 * deadline (RabbitMQ expires a message only at the head of its queue: behind an older command for
 * a site that is away, a short-lived one is dead-lettered only once the older one is consumed).
 *
 * Ready once the audit topic has been read to its end and the topology declared.
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import AjvModule, { type ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram } from 'prom-client';
import { parseDuration } from '../../../lib/schema-config/units.ts';
import {
  COMMAND_STATES,
  COMMANDS,
  HEADER,
  isCommandName,
  RESULT_MESSAGE_SCHEMA,
  SITE_REPORT_SCHEMA,
  TERMINAL_STATES,
  TOPOLOGY,
  type AuditEvent,
  type AuditRecord,
  type CommandError,
  type CommandMessage,
  type CommandState,
  type ResultMessage,
  type SiteReport,
} from '../../../src/record/command.ts';
import { newTraceparent, isValidTraceparent } from '../../../src/record/record.ts';
import { amqpUser, confirmedPublisher, connectAmqp, ConsumerStatus, explainAmqpError, type AsyncMessage, type Connection, type Consumer, type Publisher } from '../amqp/index.ts';
import type { CentralConfig } from '../config/load.ts';
import { KafkaLog, type Follower } from '../kafka/index.ts';
import type { Service, ServiceContext } from '../service/runner.ts';
import { governanceRoutes } from './api.ts';
import { AuditWriter, auditOut, type AuditOut } from './audit.ts';
import { authorise, type Identity } from './auth.ts';
import { CommandStore, type CommandView } from './state.ts';
import { declareTopology, resultsQueueArguments, DEAD_QUEUE_ARGUMENTS } from './topology.ts';

const Ajv = AjvModule.default;

/** A command authorised but not confirmed as published for this long is published again. */
const REPUBLISH_AFTER_MS = 10_000;

/** The body of POST /api/v1/commands. */
const REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['site', 'command'],
  properties: {
    site: { type: 'string', minLength: 1, maxLength: 63 },
    command: { type: 'string', minLength: 1, maxLength: 100 },
    params: { type: 'object' },
    ttl: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }], description: 'Milliseconds, or a duration such as "30s", "10m".' },
  },
} as const;

export interface SubmitRequest {
  identity: Identity;
  body: unknown;
  idempotencyKey: string | null;
  correlationId: string | null;
  traceparent: string | null;
  /** How long to wait for the site's outcome, ms. */
  waitMs: number;
}

export interface SubmitAnswer {
  /** 200 finished, 202 still going, 400/403/404/422 refused, 503 not possible now. */
  status: number;
  command: CommandView | null;
  error?: CommandError;
  /** The request repeated an Idempotency-Key: this is the command it named. */
  replayed?: boolean;
}

/** A deterministic UUID (RFC 9562 version 8 layout) for (operator, idempotency key). */
export function commandIdFor(operator: string, idempotencyKey: string): string {
  const hex = createHash('sha256').update(`skyhaul-command\u0000${operator}\u0000${idempotencyKey}`).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** JSON with sorted keys: two requests are the same when this is equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function isTerminal(view: CommandView): boolean {
  return TERMINAL_STATES.has(view.state);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class GovernanceService implements Service {
  readonly name = 'governance';
  readonly store: CommandStore;
  private readonly kafka: KafkaLog;
  private writer: AuditWriter | null = null;
  private auditFollower: Follower | null = null;
  private sitesFollower: Follower | null = null;
  private rabbit: Connection | null = null;
  private publisher: Publisher | null = null;
  private consumers: Consumer[] = [];
  private sweeper: NodeJS.Timeout | null = null;
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private caughtUp = false;
  private topologyDeclared = false;
  private lastAmqpError: string | null = null;
  private readonly returned = new Set<string>();
  /** Commands whose `published` audit write is in flight: a result for one waits for it (audit order). */
  private readonly publishing = new Map<string, Promise<void>>();
  /** Idempotent requests being submitted now, by (operator, key): a concurrent twin waits for the first. */
  private readonly submitting = new Map<string, Promise<SubmitAnswer>>();
  private readonly sites: Map<string, CentralConfig['governance']['sites'][number]>;
  private readonly writerName = `governance/${hostname()}/${process.pid}`;
  private readonly validateRequest: ValidateFunction;
  private readonly validateParams = new Map<string, ValidateFunction>();
  private readonly validateResult: ValidateFunction;
  private readonly validateReport: ValidateFunction;
  private readonly metrics: {
    requests: Counter<'outcome'>;
    audit: Counter<'topic'>;
    auditSeconds: Histogram;
    consumed: Counter<'kind'>;
    deadLetters: Counter<'reason'>;
    roundTrip: Histogram<'command'>;
    rejectedResults: Counter<'reason'>;
  };

  constructor(
    private readonly config: CentralConfig,
    private readonly context: ServiceContext,
  ) {
    const g = config.governance;
    this.kafka = new KafkaLog({ bootstrap: config.kafka.bootstrap, clientId: `${config.kafka.clientId}-governance` });
    this.store = new CommandStore({ maxCommands: g.maxCommands, keyLifetimeMs: g.idempotencyKeyLifetimeMs });
    this.sites = new Map(g.sites.map((s) => [s.id, s]));
    const ajv = new Ajv({ allErrors: true, strict: false });
    this.validateRequest = ajv.compile(REQUEST_SCHEMA);
    for (const spec of Object.values(COMMANDS)) this.validateParams.set(spec.name, ajv.compile(spec.params));
    this.validateResult = ajv.compile(RESULT_MESSAGE_SCHEMA);
    this.validateReport = ajv.compile(SITE_REPORT_SCHEMA);
    const registers = [context.metrics];
    const store = this.store;
    new Gauge({
      name: 'skyhaul_central_governance_commands',
      help: 'Commands known (in memory), by state.',
      labelNames: ['state'],
      registers,
      collect(this: Gauge<'state'>) {
        const counts = store.counts();
        for (const state of COMMAND_STATES) this.set({ state }, counts[state]);
      },
    });
    this.metrics = {
      requests: new Counter({ name: 'skyhaul_central_governance_requests_total', help: 'Command requests answered, by outcome (done, failed, expired, refused, pending, replayed, unavailable).', labelNames: ['outcome'], registers }),
      audit: new Counter({ name: 'skyhaul_central_governance_audit_records_total', help: 'Records Kafka acknowledged, by topic.', labelNames: ['topic'], registers }),
      auditSeconds: new Histogram({ name: 'skyhaul_central_governance_audit_produce_seconds', help: 'One produce of audit records (acks=all), from send to acknowledgement.', buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers }),
      consumed: new Counter({ name: 'skyhaul_central_governance_consumed_total', help: 'RabbitMQ messages handled, by kind (delivered, outcome, report, dead_letter).', labelNames: ['kind'], registers }),
      deadLetters: new Counter({ name: 'skyhaul_central_governance_dead_letters_total', help: 'Dead-lettered messages audited, by x-death reason (expired, rejected, delivery_limit, maxlen).', labelNames: ['reason'], registers }),
      roundTrip: new Histogram({
        name: 'skyhaul_central_governance_command_seconds',
        help: "From a command's authorisation to the site's outcome (this instance's commands), by command.",
        labelNames: ['command'],
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600],
        registers,
      }),
      rejectedResults: new Counter({ name: 'skyhaul_central_governance_rejected_results_total', help: 'Results and reports refused (not JSON, not the contract, unknown site, wrong user-id, wrong site), by reason.', labelNames: ['reason'], registers }),
    };
  }

  private get log(): ServiceContext['logger'] {
    return this.context.logger;
  }

  /** The configured sites, in configuration order. */
  siteList(): CentralConfig['governance']['sites'] {
    return [...this.sites.values()];
  }

  get settings(): CentralConfig['governance'] {
    return this.config.governance;
  }

  async start(): Promise<void> {
    const { kafka } = this.config;
    const g = this.config.governance;
    await this.kafka.ensureTopics([
      {
        name: g.auditTopic,
        partitions: g.auditPartitions,
        replicationFactor: kafka.replicationFactor,
        config: { 'retention.ms': String(g.auditRetentionMs), 'min.insync.replicas': String(kafka.minInsyncReplicas), 'cleanup.policy': 'delete' },
      },
      {
        name: g.sitesTopic,
        partitions: 1,
        replicationFactor: kafka.replicationFactor,
        config: { 'cleanup.policy': 'compact', 'min.insync.replicas': String(kafka.minInsyncReplicas), 'segment.ms': String(3_600_000) },
      },
    ]);
    this.writer = new AuditWriter(this.kafka.producer(), (records, seconds, ok) => {
      if (!ok) return;
      this.metrics.auditSeconds.observe(seconds);
    });
    this.auditFollower = await this.kafka.follow(
      g.auditTopic,
      (record) => {
        if (record.value === null) return;
        try {
          this.store.apply(JSON.parse(record.value.toString()) as AuditRecord);
        } catch {
          this.log.warn({ topic: g.auditTopic, partition: record.partition, offset: String(record.offset) }, 'audit topic: a record that is not an audit record (skipped)');
        }
      },
      (error) => this.log.error({ err: error.message }, 'following the audit topic failed: not ready'),
    );
    this.sitesFollower = await this.kafka.follow(g.sitesTopic, (record) => {
      if (record.value === null) return;
      try {
        this.store.setReport(JSON.parse(record.value.toString()) as SiteReport);
      } catch {
        // Not a report: skipped.
      }
    });
    await this.auditFollower.caughtUp(120_000);
    await this.sitesFollower.caughtUp(60_000);
    this.caughtUp = true;
    this.log.info({ topic: g.auditTopic, commands: this.store.size }, 'audit topic read to its end');

    const rabbit = connectAmqp(
      { url: g.amqp.url, ...(g.amqp.password === undefined ? {} : { password: g.amqp.password }), connectionName: `skyhaul-governance ${hostname()}`, heartbeatSeconds: g.amqp.heartbeatSeconds, reconnect: g.amqp.reconnect, tls: g.amqp.tls },
      this.log.child({ component: 'amqp' }),
    );
    this.rabbit = rabbit;
    rabbit.on('error', (error: unknown) => (this.lastAmqpError = explainAmqpError(error)));
    rabbit.on('connection', () => (this.lastAmqpError = null));
    await this.declareWithRetry(rabbit);
    this.publisher = confirmedPublisher(rabbit, (message) => {
      if (message.messageId !== undefined) this.returned.add(message.messageId);
    });
    const consume = (queue: string, args: Record<string, string | number>, handler: (message: AsyncMessage) => Promise<ConsumerStatus | undefined>): Consumer => {
      const consumer = rabbit.createConsumer({ queue, queueOptions: { durable: true, arguments: args }, qos: { prefetchCount: 200 }, concurrency: 200, requeue: true }, handler);
      consumer.on('error', (error: unknown) => this.log.warn({ queue, err: explainAmqpError(error) }, 'consumer error (it recovers by itself)'));
      return consumer;
    };
    this.consumers.push(consume(TOPOLOGY.resultsQueue, resultsQueueArguments(g), (m) => this.onResult(m)));
    this.consumers.push(consume(TOPOLOGY.deadLetterQueue, DEAD_QUEUE_ARGUMENTS, (m) => this.onDeadLetter(m)));
    this.sweeper = setInterval(() => void this.sweep(), 1000);
    this.sweeper.unref();
  }

  /** Declares the topology, retrying while RabbitMQ cannot be reached; an argument mismatch is fatal. */
  private async declareWithRetry(rabbit: Connection): Promise<void> {
    const g = this.config.governance;
    for (let attempt = 0; ; attempt++) {
      if (this.stopping) throw new Error('stopped before the topology was declared');
      try {
        await rabbit.onConnect(30_000, true);
        const declared = await declareTopology(rabbit, { sites: [...this.sites.keys()], deliveryLimit: g.deliveryLimit, maxQueueLength: g.maxQueueLength });
        this.topologyDeclared = true;
        this.log.info({ declared: declared.length, sites: this.sites.size }, 'RabbitMQ topology declared');
        return;
      } catch (error) {
        if (/other arguments/.test((error as Error).message)) throw error;
        this.lastAmqpError = explainAmqpError(error);
        this.log.warn({ err: this.lastAmqpError, attempt }, 'RabbitMQ topology not declared yet; retrying');
        await sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.caughtUp) reasons.push('audit topic not read to its end yet');
    if (!this.topologyDeclared) reasons.push(`RabbitMQ topology not declared${this.lastAmqpError === null ? '' : `: ${this.lastAmqpError}`}`);
    else if (this.rabbit?.ready !== true) reasons.push(`RabbitMQ not connected${this.lastAmqpError === null ? '' : `: ${this.lastAmqpError}`}`);
    return { ready: reasons.length === 0, reasons };
  }

  routes(app: FastifyInstance): void {
    governanceRoutes(app, this);
  }

  // --- audit ------------------------------------------------------------------------------------

  private record(view: Pick<CommandView, 'id' | 'correlationId' | 'traceparent' | 'operator' | 'role' | 'site' | 'command' | 'params' | 'deadline' | 'idempotencyKey'>, event: AuditEvent, fields: { state: CommandState | null; source?: AuditRecord['source']; at?: number; result?: Record<string, unknown> | null; error?: CommandError | null }): AuditRecord {
    const source = fields.source ?? 'governance';
    return {
      v: 1,
      eventId: `${view.id}/${event}`,
      event,
      id: view.id,
      correlationId: view.correlationId,
      traceparent: view.traceparent,
      operator: view.operator,
      role: source === 'governance' ? view.role : null,
      site: view.site,
      command: view.command,
      params: view.params,
      state: fields.state,
      source,
      at: fields.at ?? Date.now(),
      deadline: view.deadline,
      idempotencyKey: view.idempotencyKey,
      result: fields.result ?? null,
      error: fields.error ?? null,
      writer: this.writerName,
    };
  }

  /** Writes audit records (Kafka acknowledged on return), then applies them to the view. */
  private async audit(records: AuditRecord[]): Promise<void> {
    if (this.writer === null) throw new Error('audit writer not started');
    await this.writer.write(records.map((r) => auditOut(this.config.governance.auditTopic, r)));
    this.metrics.audit.inc({ topic: this.config.governance.auditTopic }, records.length);
    for (const r of records) this.store.apply(r);
  }

  /** As audit(), retried with backoff until Kafka takes it or the service stops (then it throws: the message is requeued). */
  private async auditHolding(records: AuditOut[], apply: () => void): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.writer!.write(records);
        for (const r of records) this.metrics.audit.inc({ topic: r.topic });
        apply();
        return;
      } catch (error) {
        if (this.stopping) throw error;
        if (attempt === 0 || attempt % 20 === 0) this.log.warn({ err: (error as Error).message, attempt }, 'audit write failed; holding the RabbitMQ message and retrying');
        await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
      }
    }
  }

  // --- submitting ---------------------------------------------------------------------------------

  /** Handles one operator request (see the module comment). Never throws. */
  async submit(request: SubmitRequest): Promise<SubmitAnswer> {
    const key = request.idempotencyKey;
    if (key === null) return this.submitOnce(request);
    const slot = CommandStore.keyOf(request.identity.name, key);
    const running = this.submitting.get(slot);
    if (running !== undefined) {
      await running.catch(() => undefined);
      return this.submitOnce(request);
    }
    const answer = this.submitOnce(request);
    this.submitting.set(slot, answer);
    try {
      return await answer;
    } finally {
      this.submitting.delete(slot);
    }
  }

  private async submitOnce(request: SubmitRequest): Promise<SubmitAnswer> {
    const { identity } = request;
    const g = this.config.governance;
    const body = (request.body ?? {}) as { site?: unknown; command?: unknown; params?: unknown; ttl?: unknown };
    const key = request.idempotencyKey;
    const id = key === null ? randomUUID() : commandIdFor(identity.name, key);
    const site = typeof body.site === 'string' ? body.site.slice(0, 63) : '(none)';
    const command = typeof body.command === 'string' ? body.command.slice(0, 100) : '(none)';
    const params = body.params !== null && typeof body.params === 'object' && !Array.isArray(body.params) ? (body.params as Record<string, unknown>) : {};

    if (key !== null) {
      const existing = this.store.byKey(identity.name, key) ?? this.store.get(id);
      if (existing !== null) {
        if (existing.site !== site || existing.command !== command || canonical(existing.params ?? {}) !== canonical(params)) {
          this.metrics.requests.inc({ outcome: 'refused' });
          return {
            status: 422,
            command: existing,
            error: { code: 'SKY_ERR_IDEMPOTENCY_MISMATCH', message: `Idempotency-Key '${key}' already names command ${existing.id} (${existing.command} to ${existing.site}) with other parameters` },
          };
        }
        this.metrics.requests.inc({ outcome: 'replayed' });
        const view = isTerminal(existing) ? existing : ((await this.store.waitFor(existing.id, isTerminal, request.waitMs)) ?? existing);
        return { status: isTerminal(view) ? (view.state === 'refused' && view.events.every((e) => e.source === 'governance') ? 403 : 200) : 202, command: view, replayed: true };
      }
    }

    const traceparent = request.traceparent !== null && isValidTraceparent(request.traceparent) ? request.traceparent : newTraceparent();
    const correlationId = request.correlationId ?? id;
    const now = Date.now();
    const draft = { id, correlationId, traceparent, operator: identity.name, role: identity.role, site, command, params, deadline: null as number | null, idempotencyKey: key };
    const refuse = async (status: number, error: CommandError): Promise<SubmitAnswer> => {
      try {
        await this.audit([this.record(draft, 'requested', { state: null, at: now }), this.record(draft, 'refused', { state: 'refused', error })]);
      } catch (auditError) {
        this.metrics.requests.inc({ outcome: 'unavailable' });
        return { status: 503, command: null, error: { code: 'SKY_ERR_AUDIT_UNAVAILABLE', message: `the refusal could not be audited (Kafka: ${(auditError as Error).message}); nothing was done` } };
      }
      this.metrics.requests.inc({ outcome: 'refused' });
      this.log.warn({ commandId: id, operator: identity.name, site, command, error: error.code }, `refused: ${error.message}`);
      return { status, command: this.store.get(id), error };
    };

    if (!this.validateRequest(body)) {
      const problems = (this.validateRequest.errors ?? []).map((e) => `${e.instancePath === '' ? '(body)' : e.instancePath.slice(1)} ${e.message ?? ''}`.trim());
      return refuse(400, { code: 'SKY_ERR_BAD_REQUEST', message: `body must be {site, command, params?, ttl?}: ${problems.join('; ')}` });
    }
    if (!this.sites.has(site)) return refuse(404, { code: 'SKY_ERR_UNKNOWN_SITE', message: `no site '${site}' (configured: ${[...this.sites.keys()].join(', ') || 'none'})` });
    const denied = authorise(identity, command, site);
    if (denied !== null) return refuse(403, denied);
    if (!isCommandName(command)) return refuse(400, { code: 'SKY_ERR_UNKNOWN_COMMAND', message: `unknown command '${command}'; known: ${Object.keys(COMMANDS).join(', ')}` });
    const validate = this.validateParams.get(command)!;
    if (!validate(params)) {
      const problems = (validate.errors ?? []).map((e) => `params${e.instancePath} ${e.message ?? ''}`.trim());
      return refuse(400, { code: 'SKY_ERR_BAD_PARAMS', message: `${command}: ${[...new Set(problems)].join('; ')}` });
    }
    const ttlMs = body.ttl === undefined ? g.commandTtlMs : parseDuration(body.ttl as string | number);
    if (ttlMs > g.maxCommandTtlMs) return refuse(400, { code: 'SKY_ERR_BAD_TTL', message: `ttl ${ttlMs} ms exceeds governance.maxCommandTtl (${g.maxCommandTtlMs} ms)` });
    draft.deadline = now + ttlMs;

    try {
      await this.audit([this.record(draft, 'requested', { state: null, at: now }), this.record(draft, 'authorised', { state: 'accepted', at: now })]);
    } catch (error) {
      this.metrics.requests.inc({ outcome: 'unavailable' });
      return { status: 503, command: null, error: { code: 'SKY_ERR_AUDIT_UNAVAILABLE', message: `not audited (Kafka: ${(error as Error).message}), so not sent` } };
    }
    const view = this.store.get(id)!;
    const published = await this.publish(view);
    if (published !== null) {
      this.metrics.requests.inc({ outcome: 'unavailable' });
      return { status: 503, command: this.store.get(id), error: published };
    }
    const finished = await this.store.waitFor(id, isTerminal, request.waitMs);
    const final = finished ?? view;
    if (isTerminal(final)) {
      this.metrics.roundTrip.observe({ command }, (Date.now() - now) / 1000);
      this.metrics.requests.inc({ outcome: final.state });
      return { status: 200, command: final };
    }
    this.metrics.requests.inc({ outcome: 'pending' });
    return { status: 202, command: final };
  }

  /** Publishes a command to its site's queue (confirmed, mandatory) and audits the result; null when published, else why not. */
  private async publish(view: CommandView): Promise<CommandError | null> {
    const message: CommandMessage = {
      v: 1,
      id: view.id,
      correlationId: view.correlationId,
      site: view.site,
      command: view.command as CommandMessage['command'],
      params: view.params ?? {},
      operator: view.operator,
      issuedAt: view.createdAt,
      deadline: view.deadline!,
      traceparent: view.traceparent,
    };
    const ttl = Math.max(1, view.deadline! - Date.now());
    let failure: CommandError | null = null;
    try {
      if (this.publisher === null) throw new Error('RabbitMQ publisher not started');
      this.returned.delete(view.id);
      await this.publisher.send(
        {
          exchange: TOPOLOGY.commandsExchange,
          routingKey: view.site,
          mandatory: true,
          durable: true,
          contentType: 'application/json',
          messageId: view.id,
          correlationId: view.correlationId,
          type: view.command,
          expiration: String(ttl),
          timestamp: Math.floor(Date.now() / 1000),
          appId: 'skyhaul-governance',
          userId: amqpUser(this.config.governance.amqp.url),
          headers: { [HEADER.deadline]: view.deadline!, [HEADER.traceparent]: view.traceparent, [HEADER.site]: view.site, [HEADER.operator]: view.operator },
        },
        message,
      );
      if (this.returned.delete(view.id)) failure = { code: 'SKY_ERR_UNROUTABLE', message: `RabbitMQ could not route the command to ${view.site}'s queue (it does not exist)` };
    } catch (error) {
      const text = explainAmqpError(error);
      failure = /nack|reject/i.test(text)
        ? { code: 'SKY_ERR_QUEUE_FULL', message: `RabbitMQ refused the command: site ${view.site}'s queue is full (${this.config.governance.maxQueueLength} commands wait) or unavailable: ${text}` }
        : { code: 'SKY_ERR_BROKER_UNAVAILABLE', message: `RabbitMQ did not take the command: ${text}` };
    }
    if (failure !== null) {
      await this.audit([this.record(view, 'publish_failed', { state: 'failed', error: failure })]).catch((error: Error) => this.log.error({ err: error.message, commandId: view.id }, 'publish failure not audited'));
      return failure;
    }
    const write = this.audit([this.record(view, 'published', { state: 'accepted' })]).catch((error: Error) => this.log.error({ err: error.message, commandId: view.id }, "'published' not audited (the sweeper publishes the command again)"));
    this.publishing.set(view.id, write);
    void write.finally(() => this.publishing.delete(view.id));
    return null;
  }

  // --- consumers ----------------------------------------------------------------------------------

  private parseJson(message: AsyncMessage): unknown {
    if (!Buffer.isBuffer(message.body)) return message.body;
    try {
      return JSON.parse(message.body.toString('utf8'));
    } catch {
      return undefined;
    }
  }

  private rejectResult(reason: string, detail: Record<string, unknown>): ConsumerStatus {
    this.metrics.rejectedResults.inc({ reason });
    this.log.warn({ reason, ...detail }, `result or report refused (${reason}): dead-lettered`);
    return ConsumerStatus.DROP;
  }

  /** A site's `delivered`, outcome or report. */
  private async onResult(message: AsyncMessage): Promise<ConsumerStatus | undefined> {
    const body = this.parseJson(message);
    const kind = message.routingKey === TOPOLOGY.reportKey ? 'report' : 'result';
    if (body === undefined || body === null || typeof body !== 'object') return this.rejectResult('not_json', { messageId: message.messageId, kind });
    const site = (body as { site?: unknown }).site;
    const known = typeof site === 'string' ? this.sites.get(site) : undefined;
    if (known === undefined) return this.rejectResult('unknown_site', { site, kind });
    if (known.user !== undefined && message.userId !== known.user) return this.rejectResult('wrong_user', { site, userId: message.userId ?? null, expected: known.user });
    if (kind === 'report') {
      if (!this.validateReport(body)) return this.rejectResult('not_contract', { site, kind, errors: this.validateReport.errors?.map((e) => `${e.instancePath} ${e.message}`) });
      const report = body as SiteReport;
      this.metrics.consumed.inc({ kind: 'report' });
      await this.auditHolding([{ topic: this.config.governance.sitesTopic, key: report.site, value: Buffer.from(JSON.stringify(report)), headers: { site: report.site, content_type: 'application/json' } }], () => this.store.setReport(report));
      return undefined;
    }
    if (!this.validateResult(body)) return this.rejectResult('not_contract', { site, kind, errors: this.validateResult.errors?.map((e) => `${e.instancePath} ${e.message}`) });
    const result = body as ResultMessage;
    const view = this.store.get(result.id);
    if (view !== null && view.site !== result.site) return this.rejectResult('wrong_site', { commandId: result.id, site: result.site, commandSite: view.site });
    const base = view ?? {
      id: result.id,
      correlationId: result.correlationId,
      traceparent: result.traceparent,
      operator: '(unknown)',
      role: null,
      site: result.site,
      command: result.command,
      params: null,
      deadline: null,
      idempotencyKey: null,
    };
    const event: AuditEvent = result.kind === 'delivered' ? 'delivered' : result.state!;
    const state: CommandState = result.kind === 'delivered' ? 'delivered' : result.state!;
    const record = this.record(base, event, { state, source: 'site', at: result.at, result: result.result ?? null, error: result.error ?? null });
    this.metrics.consumed.inc({ kind: result.kind });
    // The command's own `published` record goes first (the audit keeps each command's steps in order).
    await this.publishing.get(result.id);
    await this.auditHolding([auditOut(this.config.governance.auditTopic, record)], () => this.store.apply(record));
    return undefined;
  }

  /** A message RabbitMQ dead-lettered: from a site queue (expired, rejected, delivery limit) or the results queue. */
  private async onDeadLetter(message: AsyncMessage): Promise<ConsumerStatus | undefined> {
    const deaths = message.headers?.['x-death'] as Array<{ reason?: string; queue?: string; 'original-expiration'?: string; count?: number }> | undefined;
    const death = deaths?.[0] ?? {};
    const reason = typeof death.reason === 'string' ? death.reason : String(message.headers?.['x-first-death-reason'] ?? 'unknown');
    const queue = typeof death.queue === 'string' ? death.queue : String(message.headers?.['x-first-death-queue'] ?? '');
    this.metrics.deadLetters.inc({ reason });
    this.metrics.consumed.inc({ kind: 'dead_letter' });
    const body = this.parseJson(message) as Partial<CommandMessage & ResultMessage> | undefined;
    const id = typeof body?.id === 'string' ? body.id : (message.messageId ?? `unidentified-${createHash('sha256').update(Buffer.isBuffer(message.body) ? message.body : JSON.stringify(message.body ?? null)).digest('hex').slice(0, 16)}`);
    const fromSite = queue.startsWith('skyhaul.control.site.') ? queue.slice('skyhaul.control.site.'.length) : null;
    const view = this.store.get(id);
    const base = view ?? {
      id,
      correlationId: typeof body?.correlationId === 'string' ? body.correlationId : (message.correlationId ?? id),
      traceparent: typeof body?.traceparent === 'string' ? body.traceparent : '',
      operator: typeof body?.operator === 'string' ? body.operator : '(unknown)',
      role: null,
      site: fromSite ?? (typeof body?.site === 'string' ? body.site : '(unknown)'),
      command: typeof body?.command === 'string' ? body.command : (message.type ?? '(unknown)'),
      params: body?.params !== undefined && typeof body.params === 'object' ? (body.params as Record<string, unknown>) : null,
      deadline: typeof body?.deadline === 'number' ? body.deadline : null,
      idempotencyKey: null,
    };
    let record: AuditRecord;
    if (fromSite !== null && reason === 'expired') {
      record = this.record(base, 'expired', {
        state: 'expired',
        source: 'rabbitmq',
        error: { code: 'SKY_ERR_EXPIRED', message: `not delivered to ${fromSite} within its TTL (${death['original-expiration'] ?? '?'} ms): dead-lettered by RabbitMQ, never executed` },
      });
    } else {
      const what =
        reason === 'delivery_limit'
          ? { code: 'SKY_ERR_DELIVERY_LIMIT', message: `delivered ${this.config.governance.deliveryLimit} times from ${queue} without an acknowledgement: dead-lettered (a poison message)` }
          : reason === 'rejected'
            ? { code: 'SKY_ERR_REJECTED', message: `rejected by the consumer of ${queue} (not a valid command for it): dead-lettered` }
            : { code: 'SKY_ERR_DEAD_LETTERED', message: `dead-lettered from ${queue}: ${reason}` };
      // A site's rejection of a command it was sent: refused (unless the site's own outcome said more); a poison command: failed.
      const state: CommandState | null = fromSite === null ? null : reason === 'rejected' ? 'refused' : 'failed';
      record = this.record(base, 'dead_lettered', { state, source: 'rabbitmq', error: what });
    }
    this.log.warn({ commandId: id, reason, queue }, `dead letter audited: ${record.error?.message ?? reason}`);
    await this.auditHolding([auditOut(this.config.governance.auditTopic, record)], () => this.store.apply(record));
    return undefined;
  }

  // --- sweeper ------------------------------------------------------------------------------------

  private sweeping = false;

  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopping || this.publisher === null) return;
    this.sweeping = true;
    try {
      const now = Date.now();
      for (const view of this.store.inState('accepted')) {
        if (view.deadline === null) continue;
        if (!view.published && now < view.deadline && now - view.createdAt > REPUBLISH_AFTER_MS && !this.publishing.has(view.id)) {
          this.log.warn({ commandId: view.id, site: view.site }, 'command authorised but never confirmed as published: publishing it again (the site runs it at most once)');
          await this.publish(view);
        } else if (now > view.deadline + this.config.governance.expiryGraceMs) {
          const record = this.record(view, 'expired', { state: 'expired', error: { code: 'SKY_ERR_EXPIRED', message: `no delivery reported by its deadline ${new Date(view.deadline).toISOString()}` } });
          await this.audit([record]).catch(() => undefined);
        }
      }
    } finally {
      this.sweeping = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      if (this.sweeper !== null) clearInterval(this.sweeper);
      // Consumers finish the messages in hand (their audit written, then acked) before closing.
      await Promise.all(this.consumers.map((c) => c.close().catch(() => undefined)));
      await this.publisher?.close().catch(() => undefined);
      await this.rabbit?.close().catch(() => undefined);
      await this.writer?.close();
      await this.auditFollower?.close();
      await this.sitesFollower?.close();
      await this.kafka.close();
    })();
    return this.stopped;
  }
}
