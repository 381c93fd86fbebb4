/**
 * The governance service's HTTP API (fastify) and operator page; described by OpenAPI 3.1
 * (./openapi.ts, served at /api/v1/openapi.json; a test checks that every route is described and
 * every described route answers).
 *
 * Authentication: `Authorization: Bearer <token>` on every /api/v1 route except the OpenAPI
 * document and the catalogue (./auth.ts). A missing or unknown token is 401 and logged (not
 * audited in Kafka: an anonymous caller could otherwise fill the audit); everything an
 * authenticated operator asks for is audited.
 *
 * POST /api/v1/commands takes:
 *   - `Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header): the same key with the
 *     same body names the same command, answered again without running it twice; with another
 *     body, 422.
 *   - `Prefer: wait=<seconds>` (RFC 7240) or `?wait=<duration>`: how long to wait for the site's
 *     outcome (default governance.replyTimeout, at most maxReplyTimeout, 0 to return at once).
 *   - `X-Correlation-Id` (else the command id) and `traceparent` (W3C Trace Context; else a new one).
 * It answers 200 with the command once it finished (done, failed, expired, or refused by the site),
 * 202 with `Location: /api/v1/commands/<id>` while it is still on its way; 400/403/404/422 when the
 * governance service refused it (audited), 503 when it could not be audited or published (nothing sent).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { COMMANDS, ROLES, TERMINAL_STATES, type CommandState } from '../../../src/record/command.ts';
import { parseDuration } from '../../../lib/schema-config/units.ts';
import { Authenticator, maySee, type Identity } from './auth.ts';
import { operatorPage } from './page/assets.ts';
import { openApiDocument } from './openapi.ts';
import type { GovernanceService } from './service.ts';
import type { CommandView } from './state.ts';

function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

/** `Prefer: wait=N` (seconds, RFC 7240 §4.3) or `?wait=` (ms or a duration), bounded by the configuration. */
function waitMs(request: FastifyRequest, defaultMs: number, maxMs: number): number | null {
  const query = (request.query as { wait?: string }).wait;
  let ms: number = defaultMs;
  if (query !== undefined) {
    if (!/^\d+(\.\d+)?\s*(ms|s|m|h|d)?$/.test(query)) return null;
    ms = /^\d+$/.test(query) ? Number(query) : parseDuration(query);
  } else {
    const prefer = /(?:^|[,;\s])wait=(\d+)/.exec(String(request.headers.prefer ?? ''));
    if (prefer !== null) ms = Number(prefer[1]) * 1000;
  }
  return Math.min(ms, maxMs);
}

function header(request: FastifyRequest, name: string, max = 200): string | null {
  const value = request.headers[name];
  return typeof value === 'string' && value.length > 0 && value.length <= max && /^[\x20-\x7e]+$/.test(value) ? value : null;
}

export function governanceRoutes(app: FastifyInstance, service: GovernanceService): void {
  const auth = new Authenticator(service.settings.tokens);
  const log = app.log;

  const identify = (request: FastifyRequest, reply: FastifyReply): Identity | null => {
    const identity = auth.authenticate(request.headers.authorization);
    if (identity === null) {
      log.warn({ component: 'auth', ip: request.ip, route: request.routeOptions.url }, 'request without a valid bearer token refused');
      void reply.code(401).header('www-authenticate', 'Bearer realm="skyhaul-governance"').send(errorBody('SKY_ERR_UNAUTHORIZED', 'missing or unknown bearer token'));
    }
    return identity;
  };

  const present = (view: CommandView): Record<string, unknown> => ({ ...view, finished: TERMINAL_STATES.has(view.state) });

  app.get('/api/v1/openapi.json', async () => openApiDocument);
  app.get('/api/v1/catalogue', async () => ({ roles: ROLES, states: ['accepted', 'delivered', 'done', 'failed', 'expired', 'refused'], commands: Object.values(COMMANDS) }));

  app.get('/api/v1/whoami', async (request, reply) => {
    const identity = identify(request, reply);
    if (identity === null) return reply;
    return { name: identity.name, role: identity.role, sites: identity.sites };
  });

  app.post('/api/v1/commands', async (request, reply) => {
    const identity = identify(request, reply);
    if (identity === null) return reply;
    const settings = service.settings;
    const wait = waitMs(request, settings.replyTimeoutMs, settings.maxReplyTimeoutMs);
    if (wait === null) return reply.code(400).send(errorBody('SKY_ERR_BAD_REQUEST', "wait must be milliseconds or a duration such as '5s'"));
    const idempotencyKey = request.headers['idempotency-key'] === undefined ? null : header(request, 'idempotency-key');
    if (request.headers['idempotency-key'] !== undefined && idempotencyKey === null) {
      return reply.code(400).send(errorBody('SKY_ERR_BAD_REQUEST', 'Idempotency-Key must be 1 to 200 printable ASCII characters'));
    }
    const answer = await service.submit({
      identity,
      body: request.body,
      idempotencyKey,
      correlationId: header(request, 'x-correlation-id'),
      traceparent: header(request, 'traceparent', 55),
      waitMs: wait,
    });
    if (answer.command !== null) {
      void reply.header('location', `/api/v1/commands/${answer.command.id}`);
      if (answer.status === 202) void reply.header('retry-after', '1');
    }
    if (answer.replayed === true) void reply.header('idempotent-replayed', 'true');
    return reply.code(answer.status).send({ ...(answer.command === null ? {} : { command: present(answer.command) }), ...(answer.error === undefined ? {} : errorBody(answer.error.code, answer.error.message)) });
  });

  app.get('/api/v1/commands', async (request, reply) => {
    const identity = identify(request, reply);
    if (identity === null) return reply;
    const query = request.query as { site?: string; limit?: string; state?: string };
    const limit = Math.min(1000, Math.max(1, Number(query.limit ?? 100) || 100));
    const commands = service.store
      .list({ ...(query.site === undefined ? {} : { site: query.site }), limit: limit * 4 })
      .filter((c) => maySee(identity, c.site) && (query.state === undefined || c.state === (query.state as CommandState)))
      .slice(0, limit)
      .map(present);
    return { commands };
  });

  app.get('/api/v1/commands/:id', async (request, reply) => {
    const identity = identify(request, reply);
    if (identity === null) return reply;
    const id = (request.params as { id: string }).id;
    const view = service.store.get(id);
    if (view === null || !maySee(identity, view.site)) return reply.code(404).send(errorBody('SKY_ERR_NOT_FOUND', `no command ${id}`));
    const wait = waitMs(request, 0, service.settings.maxReplyTimeoutMs);
    const current = wait === null || wait === 0 || TERMINAL_STATES.has(view.state) ? view : ((await service.store.waitFor(id, (v) => TERMINAL_STATES.has(v.state), wait)) ?? view);
    return { command: present(current) };
  });

  app.get('/api/v1/sites', async (request, reply) => {
    const identity = identify(request, reply);
    if (identity === null) return reply;
    const sites = service
      .siteList()
      .filter((s) => maySee(identity, s.id))
      .map((s) => {
        const recent = service.store.list({ site: s.id, limit: 1 })[0] ?? null;
        return { id: s.id, name: s.name ?? null, report: service.store.report(s.id), lastCommand: recent === null ? null : { id: recent.id, command: recent.command, state: recent.state, at: recent.updatedAt } };
      });
    return { sites };
  });

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').headers(SECURITY_HEADERS).send(operatorPage['index.html']));
  app.get('/assets/:name', async (request, reply) => {
    const name = (request.params as { name: string }).name;
    const asset = operatorPage[name];
    if (asset === undefined || name === 'index.html') return reply.code(404).send(errorBody('SKY_ERR_NOT_FOUND', `no asset ${name}`));
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'application/octet-stream';
    return reply.type(type).headers(SECURITY_HEADERS).send(asset);
  });
}
