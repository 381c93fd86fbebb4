/**
 * The daemon's local HTTP server (fastify), bound to 127.0.0.1 by default: liveness, readiness
 * with reasons, Prometheus metrics, the status document and its live stream (SSE), the OpenAPI
 * description, the dashboard, operator actions (bearer token, rate-limited, audited), and routes
 * that inputs register (HTTP push).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { monotonicMs } from '../common/clock.ts';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Alarm } from './alarms.ts';
import { dashboardAssets } from './dashboard/assets.ts';
import type { SkyhaulMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import type { RouteRegistry } from '../inputs/http/input.ts';
import type { ActionOrigin, ControlActions } from '../control/actions.ts';
import { COMMANDS } from '../record/command.ts';
import type { Logger } from '../common/log.ts';
import type { DaemonStatus, HistoryPoint } from '../status.ts';

export interface HealthSource {
  readonly metrics: SkyhaulMetrics;
  readiness(): { ready: boolean; reasons: string[] };
  status(): DaemonStatus;
  historyPoints(): HistoryPoint[];
  quarantined(): unknown;
  /** The operator actions (one implementation and audit for this API and remote commands). */
  readonly control: ControlActions;
  on(event: 'alarm', listener: (event: { event: 'raised' | 'cleared'; alarm: Alarm }) => void): unknown;
  off(event: 'alarm', listener: (event: { event: 'raised' | 'cleared'; alarm: Alarm }) => void): unknown;
}

/** Actions per client per minute. */
const ACTION_RATE_PER_MINUTE = 20;
const SSE_INTERVAL_MS = 1000;
/**
 * An event-stream client that has not taken this much of what was written to it is too slow (a
 * stalled browser tab, a dead link): it is dropped rather than buffered without bound.
 */
const SSE_MAX_BUFFERED_BYTES = 1024 * 1024;

interface SseClient {
  reply: FastifyReply;
  /** Set when the client went away or was dropped: nothing is written to it any more. */
  gone: boolean;
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export class HealthServer implements RouteRegistry {
  private readonly app: FastifyInstance;
  private address: { host: string; port: number } | null = null;
  private readonly actionLog = new Map<string, number[]>();
  private readonly logger: Logger;
  private readonly sseClients = new Set<SseClient>();
  private sseTimer: NodeJS.Timeout | null = null;
  private readonly onAlarm = (event: { event: 'raised' | 'cleared'; alarm: Alarm }): void => this.broadcast('alarm', event);
  /** Event-stream clients dropped for not keeping up, since start. */
  sseDropped = 0;

  constructor(
    private readonly options: { bind: string; port: number; token?: string | undefined; sseMaxBufferedBytes?: number; sseIntervalMs?: number },
    private readonly source: HealthSource,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: 'http' });
    // Request lines at warn and above only: a dashboard polling every second must not flood the journal.
    // Bodies are parsed on the main thread: the default limit fits an action; the push route sets its own.
    this.app = Fastify({ loggerInstance: logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger, bodyLimit: 64 * 1024 });
    const app = this.app;

    app.get('/healthz', async () => ({ status: 'alive' }));
    app.get('/readyz', async (_request, reply) => {
      const readiness = this.source.readiness();
      return reply.code(readiness.ready ? 200 : 503).send(readiness);
    });
    app.get('/metrics', async (_request, reply) => {
      const { contentType, body } = await this.source.metrics.render();
      return reply.type(contentType).send(body);
    });
    app.get('/api/v1/status', async () => this.source.status());
    app.get('/api/v1/history', async () => ({ points: this.source.historyPoints() }));
    app.get('/api/v1/quarantine', async () => this.source.quarantined());
    app.get('/api/v1/openapi.json', async () => openApiDocument);
    app.get('/api/v1/events', (request, reply) => this.events(request, reply));

    // One route per command of the catalogue (src/record/command.ts), executed by the daemon's
    // ControlActions exactly as a remote command is; `status` is GET /api/v1/status, and `ping`
    // (a remote round-trip check) is what GET /healthz already is locally.
    for (const name of Object.keys(COMMANDS)) {
      if (name === 'status' || name === 'ack-alarm' || name === 'ping') continue;
      app.post(`/api/v1/actions/${name}`, (request, reply) => this.action(request, reply, name, request.body ?? {}));
    }
    app.post('/api/v1/alarms/:code/ack', (request, reply) => this.action(request, reply, 'ack-alarm', { code: (request.params as { code: string }).code }));

    app.get('/', async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('content-security-policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
        .header('x-content-type-options', 'nosniff')
        .send(dashboardAssets['index.html']),
    );
    app.get('/assets/:name', async (request, reply) => {
      const name = (request.params as { name: string }).name;
      const asset = dashboardAssets[name];
      if (asset === undefined) return reply.code(404).send(errorBody('SKY_ERR_NOT_FOUND', `no asset ${name}`));
      const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'application/octet-stream';
      return reply.type(type).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(asset);
    });
  }

  /** Who did it, for the audit line: the operator's self-declared name, the client address, a token fingerprint. */
  private who(request: FastifyRequest): string {
    const operator = request.headers['x-skyhaul-operator'];
    const name = typeof operator === 'string' && /^[\w .@-]{1,64}$/.test(operator) ? operator : 'operator';
    return `${name}@${request.ip}`;
  }

  private authorised(request: FastifyRequest): 'ok' | 'disabled' | 'denied' {
    const token = this.options.token;
    if (token === undefined || token === '') return 'disabled';
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(token).digest();
    return timingSafeEqual(a, b) ? 'ok' : 'denied';
  }

  private rateLimited(key: string): boolean {
    const now = monotonicMs();
    const recent = (this.actionLog.get(key) ?? []).filter((t) => now - t < 60_000);
    const limited = recent.length >= ACTION_RATE_PER_MINUTE;
    if (!limited) recent.push(now);
    this.actionLog.set(key, recent);
    return limited;
  }

  /** Authorises (bearer token, rate limit), then runs the command through ControlActions; every refusal is audited too. */
  private async action(request: FastifyRequest, reply: FastifyReply, name: string, params: unknown): Promise<FastifyReply> {
    const origin: ActionOrigin = { via: 'http', who: this.who(request) };
    const control = this.source.control;
    const auth = this.authorised(request);
    if (auth === 'disabled') {
      control.audit(name, params, origin, { state: 'disabled', error: { code: 'SKY_ERR_ACTIONS_DISABLED', message: 'actions are disabled (no http.token configured)' } });
      return reply.code(403).send(errorBody('SKY_ERR_ACTIONS_DISABLED', 'actions are disabled: set http.token in the configuration to enable them'));
    }
    if (auth === 'denied') {
      control.audit(name, params, origin, { state: 'denied', error: { code: 'SKY_ERR_UNAUTHORIZED', message: 'bad or missing bearer token' } });
      return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('SKY_ERR_UNAUTHORIZED', 'missing or wrong bearer token'));
    }
    if (this.rateLimited(request.ip)) {
      control.audit(name, params, origin, { state: 'rate-limited', error: { code: 'SKY_ERR_RATE_LIMITED', message: 'rate limit' } });
      return reply.code(429).header('retry-after', '60').send(errorBody('SKY_ERR_RATE_LIMITED', `at most ${ACTION_RATE_PER_MINUTE} actions per minute`));
    }
    const outcome = await control.execute(name, params, origin);
    if (outcome.state === 'done') return reply.send({ ok: true, action: name, by: origin.who, at: new Date().toISOString(), ...outcome.result });
    const error = outcome.error ?? { code: 'SKY_ERR_ACTION_FAILED', message: `${name} failed` };
    // refused: the request was wrong (400); failed: not possible now (404 for what does not exist, else 409).
    const status = outcome.state === 'refused' ? 400 : error.code === 'SKY_ERR_NOT_FOUND' ? 404 : 409;
    return reply.code(status).send({ ...errorBody(error.code, error.message), ...(outcome.result === undefined ? {} : { result: outcome.result }) });
  }

  /**
   * Server-Sent Events: a `status` event every second and an `alarm` event on each change. The
   * status is computed and serialised once per tick for all clients, and a client that falls
   * behind by more than SSE_MAX_BUFFERED_BYTES is dropped (it reconnects when it can keep up).
   */
  private events(request: FastifyRequest, reply: FastifyReply): void {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const client: SseClient = { reply, gone: false };
    raw.on('error', () => this.forget(client));
    request.raw.on('close', () => this.forget(client));
    this.write(client, `retry: 2000

${frame('status', this.source.status())}`);
    if (this.sseClients.size === 0) {
      this.source.on('alarm', this.onAlarm);
      this.sseTimer = setInterval(() => this.tick(), this.options.sseIntervalMs ?? SSE_INTERVAL_MS);
      this.sseTimer.unref();
    }
    this.sseClients.add(client);
  }

  private tick(): void {
    if (this.sseClients.size === 0) return;
    this.broadcast('status', this.source.status());
  }

  private broadcast(event: string, data: unknown): void {
    const text = frame(event, data);
    for (const client of this.sseClients) this.write(client, text);
  }

  private write(client: SseClient, text: string): void {
    const raw = client.reply.raw;
    if (client.gone || raw.writableEnded || raw.destroyed) return this.forget(client);
    if (raw.writableLength > (this.options.sseMaxBufferedBytes ?? SSE_MAX_BUFFERED_BYTES)) {
      this.sseDropped += 1;
      this.logger.warn({ buffered: raw.writableLength }, 'event-stream client too slow: dropped');
      raw.destroy();
      return this.forget(client);
    }
    raw.write(text);
  }

  private forget(client: SseClient): void {
    client.gone = true;
    if (!this.sseClients.delete(client) || this.sseClients.size > 0) return;
    if (this.sseTimer !== null) clearInterval(this.sseTimer);
    this.sseTimer = null;
    this.source.off('alarm', this.onAlarm);
  }

  post: RouteRegistry['post'] = (path, handler, options = {}) => {
    this.app.post(path, { ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }) }, async (request, reply) => {
      const result = await handler({ body: request.body, headers: request.headers });
      return reply.code(result.status).send(result.body);
    });
  };

  async start(): Promise<{ host: string; port: number }> {
    if (this.address !== null) return this.address;
    await this.app.listen({ host: this.options.bind, port: this.options.port });
    const info = this.app.server.address();
    this.address = typeof info === 'object' && info !== null ? { host: info.address, port: info.port } : { host: this.options.bind, port: this.options.port };
    return this.address;
  }

  /**
   * Stops listening and closes every connection. Requests in flight get `graceMs` (default 5,000 ms)
   * to finish; then their connections are cut. A cut push request was never answered, so its
   * client still holds and resends its records: cutting loses nothing, and it keeps the daemon's
   * stop inside systemd's TimeoutStopSec however many clients keep pushing.
   */
  async stop(graceMs = 5000): Promise<void> {
    if (this.address === null) return;
    this.address = null;
    for (const client of [...this.sseClients]) {
      this.forget(client);
      client.reply.raw.end();
    }
    const cut = setTimeout(() => this.app.server.closeAllConnections(), graceMs);
    try {
      await this.app.close();
    } finally {
      clearTimeout(cut);
    }
  }
}
