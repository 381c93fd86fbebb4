/**
 * OpenAPI 3.1 description of the governance API, served at /api/v1/openapi.json. The command
 * parameters are the catalogue's JSON Schemas (src/record/command.ts), the same the service and
 * the sites validate with. central/test/governance/api.test.ts checks routes and document agree.
 */
import { COMMANDS, COMMAND_STATES, ROLES } from '../../../src/record/command.ts';

const error = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
} as const;

const command = {
  type: 'object',
  required: ['id', 'correlationId', 'traceparent', 'operator', 'site', 'command', 'params', 'state', 'createdAt', 'updatedAt', 'events', 'finished'],
  properties: {
    id: { type: 'string', description: 'UUID; derived from (operator, Idempotency-Key) when the request had one.' },
    correlationId: { type: 'string' },
    traceparent: { type: 'string' },
    operator: { type: 'string' },
    role: { enum: [...ROLES, null] },
    site: { type: 'string' },
    command: { type: 'string' },
    params: { type: ['object', 'null'] },
    idempotencyKey: { type: ['string', 'null'] },
    state: { enum: [...COMMAND_STATES] },
    finished: { type: 'boolean' },
    createdAt: { type: 'integer', description: 'ms since the epoch' },
    updatedAt: { type: 'integer' },
    deadline: { type: ['integer', 'null'], description: 'Not started after this (ms since the epoch).' },
    published: { type: 'boolean' },
    result: { type: ['object', 'null'], description: "The site's result (done), e.g. the status snapshot." },
    error: { oneOf: [{ type: 'null' }, { type: 'object', required: ['code', 'message'] }] },
    events: { type: 'array', description: 'The audited steps, in order.', items: { type: 'object', required: ['event', 'at', 'state', 'source'] } },
  },
} as const;

const commandBody = { type: 'object', properties: { command }, required: ['command'] } as const;
const bearer = [{ bearer: [] }];
const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const refusal = (description: string) => json({ allOf: [error, { type: 'object', properties: { command } }] }, description);

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Skyhaul governance service',
    version: '1',
    description: 'Operator commands to the sites over RabbitMQ; every step audited in Kafka. Roles: observer < operator < admin.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token configured under governance.tokens (by its SHA-256).' } },
    schemas: { Error: error, Command: command },
  },
  paths: {
    '/healthz': { get: { summary: 'Liveness.', responses: { '200': { description: 'Alive' } } } },
    '/readyz': { get: { summary: 'Readiness: audit topic read to its end, RabbitMQ topology declared and connected; else 503 with the reasons.', responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } } } },
    '/metrics': { get: { summary: 'Prometheus metrics (skyhaul_central_governance_*).', responses: { '200': { description: 'Metrics' } } } },
    '/api/v1/openapi.json': { get: { summary: 'This document.', responses: { '200': { description: 'OpenAPI 3.1' } } } },
    '/api/v1/catalogue': { get: { summary: 'The command catalogue: each command, its parameter schema and the least role that may send it; the roles and states.', responses: { '200': { description: 'Catalogue' } } } },
    '/api/v1/whoami': { get: { summary: "The caller's operator name, role and sites.", security: bearer, responses: { '200': { description: 'Identity' }, '401': json(error, 'Missing or unknown token') } } },
    '/api/v1/commands': {
      post: {
        summary: 'Send a command to a site. Answers when the site replied within the wait, else 202 with the id to poll.',
        security: bearer,
        parameters: [
          { name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 200 }, description: 'Retrying with the same key never runs the command twice (draft-ietf-httpapi-idempotency-key-header).' },
          { name: 'Prefer', in: 'header', schema: { type: 'string', examples: ['wait=10'] }, description: 'RFC 7240 wait=<seconds>: how long to wait for the outcome.' },
          { name: 'wait', in: 'query', schema: { type: 'string', examples: ['5s', '0'] }, description: 'The same as Prefer: wait, as ms or a duration.' },
          { name: 'X-Correlation-Id', in: 'header', schema: { type: 'string', maxLength: 200 } },
          { name: 'traceparent', in: 'header', schema: { type: 'string' }, description: 'W3C Trace Context.' },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['site', 'command'],
                additionalProperties: false,
                properties: {
                  site: { type: 'string' },
                  command: { enum: Object.keys(COMMANDS) },
                  params: { type: 'object', description: "The command's parameters (see /api/v1/catalogue).", oneOf: Object.values(COMMANDS).map((c) => ({ title: c.name, ...c.params })) },
                  ttl: { anyOf: [{ type: 'integer' }, { type: 'string' }], description: 'Not delivered by then: expired, never run (default governance.commandTtl).' },
                },
              },
            },
          },
        },
        responses: {
          '200': json(commandBody, 'Finished: done, failed, expired, or refused by the site (see state)'),
          '202': json(commandBody, 'Accepted and on its way (Location names it)'),
          '400': refusal('Refused: malformed body, unknown command, bad parameters or TTL'),
          '401': json(error, 'Missing or unknown token'),
          '403': refusal('Refused: the role or the sites of the token do not allow it'),
          '404': refusal('Refused: no such site'),
          '422': refusal('The Idempotency-Key names another request'),
          '503': refusal('Not audited or not published (Kafka or RabbitMQ away, the queue full): nothing was sent'),
        },
      },
      get: {
        summary: 'Commands, newest first (the sites the token may see).',
        security: bearer,
        parameters: [
          { name: 'site', in: 'query', schema: { type: 'string' } },
          { name: 'state', in: 'query', schema: { enum: [...COMMAND_STATES] } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
        ],
        responses: { '200': json({ type: 'object', properties: { commands: { type: 'array', items: command } } }, 'Commands'), '401': json(error, 'Missing or unknown token') },
      },
    },
    '/api/v1/commands/{id}': {
      get: {
        summary: 'One command, its state and its audited steps; `?wait=` waits for it to finish.',
        security: bearer,
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'wait', in: 'query', schema: { type: 'string' } },
        ],
        responses: { '200': json(commandBody, 'The command'), '401': json(error, 'Missing or unknown token'), '404': json(error, 'No such command (or not one of your sites)') },
      },
    },
    '/api/v1/sites': {
      get: {
        summary: "The sites, each with its last report (link, backlog, alarms) and last command.",
        security: bearer,
        responses: { '200': { description: 'Sites' }, '401': json(error, 'Missing or unknown token') },
      },
    },
    '/': { get: { summary: 'The operator page (every asset served from here).', responses: { '200': { description: 'HTML' } } } },
    '/assets/{name}': {
      get: { summary: 'Operator page assets.', parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'Asset' }, '404': { description: 'No such asset' } } },
    },
  },
} as const;
