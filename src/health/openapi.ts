/**
 * OpenAPI 3.1 description of the local API, served at /api/v1/openapi.json. A test checks that
 * every route the server answers is described here and every described route answers. Action
 * bodies are the command catalogue's parameter schemas (src/record/command.ts), the same the
 * governance service checks remote commands against.
 */
import { COMMANDS } from '../record/command.ts';

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
} as const;

const bearer = [{ bearer: [] }];
const actionResponses = {
  '200': { description: 'Done', content: { 'application/json': { schema: { type: 'object', required: ['ok', 'action', 'by', 'at'] } } } },
  '401': { description: 'Missing or wrong bearer token', content: { 'application/json': { schema: errorSchema } } },
  '403': { description: 'Actions are disabled (no http.token configured)', content: { 'application/json': { schema: errorSchema } } },
  '400': { description: 'Refused: bad parameters (the message names the parameter and the rule)', content: { 'application/json': { schema: errorSchema } } },
  '409': { description: 'Not possible now (e.g. forwarding is off in this configuration, the replay range is no longer buffered)', content: { 'application/json': { schema: errorSchema } } },
  '429': { description: 'Rate limited (20 actions per minute per client)', content: { 'application/json': { schema: errorSchema } } },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Skyhaul edge daemon — local API',
    version: '1',
    description: 'Health, status, metrics and operator actions of one Skyhaul site daemon. Bound to 127.0.0.1 by default.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The http.token from the configuration.' } },
    schemas: { Error: errorSchema },
  },
  paths: {
    '/healthz': { get: { summary: 'Liveness: the process answers.', responses: { '200': { description: 'Alive' } } } },
    '/readyz': {
      get: {
        summary: 'Readiness: buffer open and inputs started; otherwise the reasons.',
        responses: {
          '200': { description: 'Ready (reasons may still list informational items, e.g. a quarantined buffer file)' },
          '503': { description: 'Not ready', content: { 'application/json': { schema: { type: 'object', required: ['ready', 'reasons'] } } } },
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics (skyhaul_*), text exposition format.', responses: { '200': { description: 'Metrics' } } } },
    '/api/v1/status': {
      get: {
        summary: 'Link state, backlog per stream and priority, rates, drain ETA, drops, disk, host, instruments, replication, alarms, jobs, self-test.',
        responses: {
          '200': {
            description: 'Status document',
            content: { 'application/json': { schema: { type: 'object', required: ['site', 'link', 'backlog', 'rates', 'drops', 'disk', 'alarms', 'instruments'] } } },
          },
        },
      },
    },
    '/api/v1/history': { get: { summary: 'Backlog and rates every 5 s over the last hour.', responses: { '200': { description: 'History points' } } } },
    '/api/v1/events': {
      get: {
        summary: 'Live updates (Server-Sent Events): `status` every second, `alarm` on each change.',
        responses: { '200': { description: 'text/event-stream', content: { 'text/event-stream': {} } } },
      },
    },
    '/api/v1/quarantine': {
      get: { summary: 'Bad frames: counts by input, adapter and error code, and the most recent ones (raw bytes as hex) for diagnosis.', responses: { '200': { description: 'Quarantine' } } },
    },
    '/api/v1/openapi.json': { get: { summary: 'This document.', responses: { '200': { description: 'OpenAPI 3.1' } } } },
    '/api/v1/actions/pause': { post: { summary: COMMANDS.pause.summary, security: bearer, responses: actionResponses } },
    '/api/v1/actions/resume': { post: { summary: COMMANDS.resume.summary, security: bearer, responses: actionResponses } },
    '/api/v1/actions/bandwidth': {
      post: { summary: COMMANDS.bandwidth.summary, security: bearer, requestBody: { required: true, content: { 'application/json': { schema: COMMANDS.bandwidth.params } } }, responses: actionResponses },
    },
    '/api/v1/actions/replay': {
      post: { summary: COMMANDS.replay.summary, security: bearer, requestBody: { required: true, content: { 'application/json': { schema: COMMANDS.replay.params } } }, responses: actionResponses },
    },
    '/api/v1/actions/self-test': { post: { summary: COMMANDS['self-test'].summary, security: bearer, responses: actionResponses } },
    '/api/v1/actions/reload': { post: { summary: COMMANDS.reload.summary, security: bearer, responses: actionResponses } },
    '/api/v1/alarms/{code}/ack': {
      post: {
        summary: 'Acknowledge an active alarm (it stays active until its cause clears).',
        security: bearer,
        parameters: [{ name: 'code', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { ...actionResponses, '404': { description: 'No such active alarm', content: { 'application/json': { schema: errorSchema } } } },
      },
    },
    '/api/v1/inputs/{name}/records': {
      post: {
        summary: 'HTTP push input (only for inputs of type http): the response is sent after every record is durably committed.',
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['records'] } } } },
        responses: {
          '200': { description: 'Every record committed, with its sequence' },
          '400': { description: 'Bad body', content: { 'application/json': { schema: errorSchema } } },
          '401': { description: 'Input token required', content: { 'application/json': { schema: errorSchema } } },
          '503': { description: 'Some records were not committed (see per-record errors)' },
        },
      },
    },
    '/': { get: { summary: 'The dashboard (all assets served by the daemon; no CDN).', responses: { '200': { description: 'HTML' } } } },
    '/assets/{name}': {
      get: {
        summary: 'Dashboard assets.',
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'Asset' }, '404': { description: 'No such asset' } },
      },
    },
  },
} as const;
