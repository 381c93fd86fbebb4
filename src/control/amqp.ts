/**
 * The control channel: the edge daemon's connection to the central RabbitMQ, over the WAN link.
 * It consumes this site's command queue (`skyhaul.control.site.<site>`, a quorum queue the
 * governance service declares; the site only needs read on it and write on the results exchange,
 * see README.md, "The control plane"), executes each command through ControlActions (the same
 * implementation and audit as the local HTTP actions) and answers on the results exchange.
 *
 * Client: rabbitmq-client (maintained, AMQP 0-9-1): it reconnects with exponential backoff,
 * recovers the consumer's channel and re-subscribes; the publisher uses publisher confirms.
 *
 * Per command (prefetch 1, one at a time, manual acks):
 *   1. Parse and check the message against the contract (src/record/command.ts). A message that
 *      is not a command for this site is refused: an outcome `refused` with the reason when it
 *      has an id, then basic.nack(requeue=false), so RabbitMQ dead-letters it and the governance
 *      service audits it. The consumer goes on with the next message.
 *   2. The journal (./journal.ts) decides whether it is new. A redelivery of a command already
 *      handled is answered from the journal and acknowledged: never executed twice.
 *   3. Past its deadline (and this host's clock trusted): `expired`, not executed. RabbitMQ's
 *      per-message TTL expires what was never delivered; this catches a delivery that was held
 *      up (a link that black-holed with the message in flight).
 *   4. Recorded as executing (durable), `delivered` published, executed, the outcome recorded,
 *      published and confirmed by RabbitMQ, and only then acknowledged (invariant 12).
 *   If the outcome cannot be published (link down), the message is not acknowledged: RabbitMQ
 *   delivers it again after the reconnect and step 2 answers it; outcomes not yet confirmed are
 *   also sent again on every reconnect (the journal is an outbox).
 *
 * A site report (link, backlog, alarms) goes to the results exchange on connect and every
 * `reportIntervalMs`, with a TTL of twice that (a stale report is not worth delivering).
 */
import { readFileSync } from 'node:fs';
import AjvModule, { type ValidateFunction } from 'ajv';
import { Connection, ConsumerStatus, type AsyncMessage, type Consumer, type Publisher } from 'rabbitmq-client';
import type { Logger } from '../common/log.ts';
import { COMMAND_MESSAGE_SCHEMA, HEADER, TOPOLOGY, siteQueue, type CommandMessage, type ResultMessage, type SiteReport } from '../record/command.ts';
import type { ControlActions } from './actions.ts';
import type { ControlJournal } from './journal.ts';
import { redactUrl, withPassword } from '../../lib/amqp-url.ts';

const Ajv = AjvModule.default;

export interface ControlChannelOptions {
  /** amqp:// or amqps://user@host:port/vhost (the password separately). */
  url: string;
  password?: string;
  site: string;
  /** Default skyhaul.control.site.<site>. */
  queue?: string;
  /** AMQP heartbeat, seconds: a dead link is noticed after about twice this. */
  heartbeatSeconds: number;
  /** Reconnect backoff: exponential from initialMs up to maxMs (rabbitmq-client's retryLow/retryHigh). */
  backoff: { initialMs: number; maxMs: number };
  reportIntervalMs: number;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; allowInsecure?: boolean };
}

export type ControlChannelState = 'connecting' | 'connected' | 'stopped';

export interface ControlChannelStatus {
  state: ControlChannelState;
  since: number;
  queue: string;
  lastError: string | null;
  received: number;
  executed: number;
  /** Redeliveries answered from the journal. */
  fromJournal: number;
  refused: number;
  expired: number;
}

/** What the reports are made of (the daemon gives it). */
export type ReportSource = () => Omit<SiteReport, 'v' | 'site' | 'at'>;

function firstHeader(value: unknown): string | undefined {
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString() : undefined;
}

export class ControlChannel {
  private rabbit: Connection | null = null;
  private consumer: Consumer | null = null;
  private publisher: Publisher | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  private readonly validate: ValidateFunction;
  private readonly queue: string;
  private readonly username: string;
  private current: ControlChannelStatus;

  constructor(
    private readonly options: ControlChannelOptions,
    private readonly actions: ControlActions,
    private readonly journal: ControlJournal,
    private readonly report: ReportSource,
    private readonly clockTrusted: () => boolean,
    private readonly logger: Logger,
  ) {
    this.validate = new Ajv({ allErrors: true, strict: false }).compile(COMMAND_MESSAGE_SCHEMA);
    this.queue = options.queue ?? siteQueue(options.site);
    this.username = decodeURIComponent(new URL(options.url).username || 'guest');
    this.current = { state: 'stopped', since: Date.now(), queue: this.queue, lastError: null, received: 0, executed: 0, fromJournal: 0, refused: 0, expired: 0 };
  }

  status(): ControlChannelStatus {
    return { ...this.current };
  }

  private setState(state: ControlChannelState, error?: string): void {
    if (state !== this.current.state) this.current = { ...this.current, state, since: Date.now() };
    if (error !== undefined) this.current.lastError = error;
  }

  start(): void {
    if (this.rabbit !== null) return;
    const { tls } = this.options;
    const tlsOptions =
      tls === undefined || (tls.caFile === undefined && tls.certFile === undefined && tls.allowInsecure !== true)
        ? undefined
        : {
            ...(tls.caFile === undefined ? {} : { ca: readFileSync(tls.caFile) }),
            ...(tls.certFile === undefined ? {} : { cert: readFileSync(tls.certFile) }),
            ...(tls.keyFile === undefined ? {} : { key: readFileSync(tls.keyFile) }),
            rejectUnauthorized: tls.allowInsecure !== true,
          };
    this.setState('connecting');
    const rabbit = new Connection({
      url: withPassword(this.options.url, this.options.password),
      connectionName: `skyhaul-edge ${this.options.site}`,
      heartbeat: this.options.heartbeatSeconds,
      retryLow: this.options.backoff.initialMs,
      retryHigh: this.options.backoff.maxMs,
      connectionTimeout: 10_000,
      ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
    });
    this.rabbit = rabbit;
    rabbit.on('error', (error: Error) => {
      this.setState('connecting', error.message);
      this.logger.warn({ err: error.message, url: redactUrl(this.options.url) }, 'control channel: connection error (reconnecting with backoff)');
    });
    rabbit.on('connection', () => {
      this.setState('connected');
      this.logger.info({ url: redactUrl(this.options.url), queue: this.queue }, 'control channel connected');
      void this.flushOutbox();
      void this.sendReport();
    });
    this.publisher = rabbit.createPublisher({ confirm: true, maxAttempts: 1 });
    // The queue is the governance service's: checked (passive), never declared with other arguments here.
    this.consumer = rabbit.createConsumer(
      { queue: this.queue, queueOptions: { passive: true }, qos: { prefetchCount: 1 }, concurrency: 1, requeue: true },
      (message) => this.onMessage(message),
    );
    this.consumer.on('error', (error: Error) => {
      this.setState(rabbit.ready ? 'connected' : 'connecting', error.message);
      this.logger.warn({ err: error.message, queue: this.queue }, 'control channel: consumer error (it recovers by itself)');
    });
    this.reportTimer = setInterval(() => void this.sendReport(), this.options.reportIntervalMs);
    this.reportTimer.unref();
  }

  private async publish(routingKey: string, body: ResultMessage | SiteReport, extra: { expiration?: string; correlationId?: string; messageId?: string } = {}): Promise<void> {
    if (this.publisher === null) throw new Error('control channel stopped');
    await this.publisher.send(
      {
        exchange: TOPOLOGY.resultsExchange,
        routingKey,
        durable: true,
        contentType: 'application/json',
        // RabbitMQ checks user-id against the connection's user ("Validated User-ID"): the
        // governance service can trust which site sent it.
        userId: this.username,
        timestamp: Math.floor(Date.now() / 1000),
        ...extra,
      },
      body,
    );
  }

  private publishOutcome(outcome: ResultMessage): Promise<void> {
    return this.publish(TOPOLOGY.resultKey, outcome, { correlationId: outcome.correlationId, messageId: `${outcome.id}/${outcome.kind}` });
  }

  /** Sends every outcome RabbitMQ has not confirmed yet (after a reconnect). */
  private async flushOutbox(): Promise<void> {
    for (const outcome of this.journal.unreported()) {
      try {
        await this.publishOutcome({ ...outcome, fromJournal: true });
        this.journal.reported(outcome.id);
      } catch (error) {
        this.logger.warn({ err: (error as Error).message, commandId: outcome.id }, 'control channel: outcome not sent yet; will retry on the next connection');
        return;
      }
    }
  }

  private async sendReport(): Promise<void> {
    if (this.rabbit?.ready !== true) return;
    try {
      await this.publish(TOPOLOGY.reportKey, { v: 1, site: this.options.site, at: Date.now(), ...this.report() }, { expiration: String(this.options.reportIntervalMs * 2) });
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, 'control channel: report not sent');
    }
  }

  private outcomeOf(message: CommandMessage, state: NonNullable<ResultMessage['state']>, result?: Record<string, unknown>, error?: ResultMessage['error']): ResultMessage {
    return {
      v: 1,
      kind: 'outcome',
      id: message.id,
      correlationId: message.correlationId,
      site: this.options.site,
      command: message.command,
      state,
      ...(result === undefined ? {} : { result }),
      ...(error === undefined ? {} : { error }),
      at: Date.now(),
      traceparent: message.traceparent,
    };
  }

  /** Handles one delivery; the returned status is the ack (undefined), or a nack. Throws only when the outcome could not be sent (nack, requeue). */
  private async onMessage(delivery: AsyncMessage): Promise<ConsumerStatus | undefined> {
    this.current.received += 1;
    const parsed = this.parse(delivery);
    if ('refusal' in parsed) {
      this.current.refused += 1;
      const { refusal, partial } = parsed;
      this.actions.audit(partial?.command ?? 'unknown', partial?.params ?? null, { via: 'amqp', who: partial?.operator ?? 'unknown', ...(partial?.id === undefined ? {} : { id: partial.id }) }, { state: 'refused', error: refusal });
      if (partial?.id !== undefined && partial.correlationId !== undefined) {
        const outcome: ResultMessage = {
          v: 1,
          kind: 'outcome',
          id: partial.id,
          correlationId: partial.correlationId,
          site: this.options.site,
          command: typeof partial.command === 'string' ? partial.command.slice(0, 100) : 'unknown',
          state: 'refused',
          error: refusal,
          at: Date.now(),
          traceparent: typeof partial.traceparent === 'string' ? partial.traceparent : '',
        };
        await this.publishOutcome(outcome).catch((error: Error) => this.logger.warn({ err: error.message }, 'control channel: refusal not sent'));
      }
      // Dead-lettered by RabbitMQ (x-death reason "rejected"): the governance service audits it.
      return ConsumerStatus.DROP;
    }
    const message = parsed.message;
    const existing = this.journal.begin(message.id, message.command);
    if (existing !== null) {
      this.current.fromJournal += 1;
      let outcome = existing.outcome;
      if (outcome === null) {
        // Recorded as executing, never finished: the daemon stopped while acting. Not run again.
        outcome = this.outcomeOf(message, 'failed', undefined, { code: 'SKY_ERR_INTERRUPTED', message: 'the daemon stopped while executing this command; it is not run again (at most once)' });
        this.journal.finish(message.id, message.command, outcome);
      }
      this.logger.info({ commandId: message.id, state: outcome.state }, 'control channel: a command already handled was delivered again: answered from the journal, not executed');
      await this.publishOutcome({ ...outcome, fromJournal: true });
      this.journal.reported(message.id);
      return undefined;
    }
    if (this.clockTrusted() && Date.now() > message.deadline) {
      this.current.expired += 1;
      const outcome = this.outcomeOf(message, 'expired', undefined, {
        code: 'SKY_ERR_EXPIRED',
        message: `delivered ${Date.now() - message.deadline} ms after its deadline ${new Date(message.deadline).toISOString()}: not executed`,
      });
      this.actions.audit(message.command, message.params, this.origin(message), { state: 'expired', error: outcome.error! });
      this.journal.finish(message.id, message.command, outcome);
      await this.publishOutcome(outcome);
      this.journal.reported(message.id);
      return undefined;
    }
    const delivered = this.publish(TOPOLOGY.resultKey, { v: 1, kind: 'delivered', id: message.id, correlationId: message.correlationId, site: this.options.site, command: message.command, at: Date.now(), traceparent: message.traceparent }, { correlationId: message.correlationId, messageId: `${message.id}/delivered` });
    // An unsent 'delivered' is not worth holding the command for: the outcome says more.
    delivered.catch(() => undefined);
    const result = await this.actions.execute(message.command, message.params, this.origin(message));
    this.current.executed += 1;
    const outcome = this.outcomeOf(message, result.state, result.result, result.error);
    this.journal.finish(message.id, message.command, outcome);
    await this.publishOutcome(outcome);
    this.journal.reported(message.id);
    return undefined;
  }

  private origin(message: CommandMessage): { via: 'amqp'; who: string; id: string; correlationId: string; traceparent: string } {
    return { via: 'amqp', who: message.operator, id: message.id, correlationId: message.correlationId, traceparent: message.traceparent };
  }

  /** The command in a delivery, or why it is refused (with what could be read of it, to answer). */
  private parse(delivery: AsyncMessage): { message: CommandMessage } | { refusal: { code: string; message: string }; partial: Partial<CommandMessage> | null } {
    let body: unknown = delivery.body;
    if (Buffer.isBuffer(body)) {
      try {
        body = JSON.parse(body.toString('utf8'));
      } catch {
        return { refusal: { code: 'SKY_ERR_BAD_COMMAND', message: `message ${delivery.messageId ?? '(no message-id)'} is not JSON (content type ${delivery.contentType ?? 'none'})` }, partial: null };
      }
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return { refusal: { code: 'SKY_ERR_BAD_COMMAND', message: `message ${delivery.messageId ?? '(no message-id)'} is not a JSON object` }, partial: null };
    }
    const partial = body as Partial<CommandMessage>;
    const correlationId = partial.correlationId ?? delivery.correlationId;
    const withIds = { ...partial, ...(correlationId === undefined ? {} : { correlationId }) };
    if (!this.validate(body)) {
      const problems = (this.validate.errors ?? []).map((e) => `${e.instancePath || '(message)'} ${e.message ?? ''}`.trim());
      return { refusal: { code: 'SKY_ERR_BAD_COMMAND', message: `not a command message (v1): ${problems.join('; ')}` }, partial: withIds };
    }
    const message = body as CommandMessage;
    if (message.site !== this.options.site) {
      return { refusal: { code: 'SKY_ERR_WRONG_SITE', message: `command ${message.id} is for site ${message.site}, this is ${this.options.site}` }, partial: withIds };
    }
    const problem = this.actions.check(message.command, message.params);
    if (problem !== null) return { refusal: problem, partial: withIds };
    const traceHeader = firstHeader(delivery.headers?.[HEADER.traceparent]);
    return { message: traceHeader !== undefined && message.traceparent === '' ? { ...message, traceparent: traceHeader } : message };
  }

  async stop(): Promise<void> {
    if (this.rabbit === null) return;
    const rabbit = this.rabbit;
    this.rabbit = null;
    if (this.reportTimer !== null) clearInterval(this.reportTimer);
    this.reportTimer = null;
    // The consumer waits for the command in hand to finish (its outcome sent) before closing.
    await this.consumer?.close().catch(() => undefined);
    await this.publisher?.close().catch(() => undefined);
    await rabbit.close().catch(() => undefined);
    this.consumer = this.publisher = null;
    this.setState('stopped');
  }
}
