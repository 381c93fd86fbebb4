/**
 * The control plane's wire contract: what the governance service (central/src/governance/) and
 * the edge daemon (src/control/) say to each other over RabbitMQ, and what the audit topic in
 * Kafka holds. Shared like the record (ARCHITECTURE: central/ shares src/record/ and nothing
 * else): the command catalogue with each command's parameter schema and the least role that may
 * send it, the RabbitMQ topology's names, the message bodies, the command states and the audit
 * record. Pure data and pure functions; each side validates with its own ajv.
 *
 * Versioned by `v` in every body (1 here): a reader refuses a version it does not know, with a
 * reason that names it, rather than guessing.
 *
 * AMQP 0-9-1 terms are RabbitMQ's ("AMQP 0-9-1 Model Explained", "Publishers", "Consumer
 * Acknowledgements and Publisher Confirms", "Dead Letter Exchanges", "Quorum Queues").
 */

/** Who may do what, lowest first: each role may do everything the roles before it may. */
export const ROLES = ['observer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(role: Role, least: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(least);
}

/** A JSON Schema (draft-07, as ajv validates it). */
export type JsonSchema = { [keyword: string]: unknown };

const EMPTY: JsonSchema = { type: 'object', additionalProperties: false, properties: {} };
const BYTES_PER_SECOND = { type: 'integer', minimum: 1, description: 'Bytes per second.' } as const;
const HHMM = { type: 'string', pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'Local time at the site, HH:MM.' } as const;

export interface CommandSpec {
  name: string;
  summary: string;
  /** The least role that may send it (ROLES order). */
  role: Role;
  /** Whether it changes the site (an observer may send only the ones that do not). */
  mutates: boolean;
  /** JSON Schema of `params`. */
  params: JsonSchema;
}

/**
 * The command catalogue. The edge daemon's local HTTP actions are the same commands with the
 * same parameters (src/control/actions.ts executes both).
 */
export const COMMANDS = {
  pause: { name: 'pause', summary: 'Pause forwarding (records keep buffering).', role: 'operator', mutates: true, params: EMPTY },
  resume: { name: 'resume', summary: 'Resume forwarding.', role: 'operator', mutates: true, params: EMPTY },
  bandwidth: {
    name: 'bandwidth',
    summary:
      'Set the forwarding bandwidth cap: `bytesPerSecond` (a number, null for unlimited, "schedule" to return to the schedule), or replace the time-of-day `schedule` (and the cap outside its windows, `default`).',
    role: 'operator',
    mutates: true,
    params: {
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['bytesPerSecond'],
          properties: { bytesPerSecond: { oneOf: [BYTES_PER_SECOND, { type: 'null' }, { const: 'schedule' }] } },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['schedule'],
          properties: {
            schedule: {
              type: 'array',
              maxItems: 48,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['from', 'to', 'bytesPerSecond'],
                properties: { from: HHMM, to: HHMM, bytesPerSecond: { oneOf: [BYTES_PER_SECOND, { type: 'null' }] } },
              },
            },
            default: { oneOf: [BYTES_PER_SECOND, { type: 'null' }], description: 'The cap outside every window (default: the configured forward.bandwidth.limit).' },
          },
        },
      ],
    },
  },
  replay: {
    name: 'replay',
    summary:
      'Send a sequence range of a stream again from the buffer (the forwarder rewinds the stream; the broker and the bridge drop what already landed). Only records the buffer still holds can be sent: a record leaves it once Pulsar acknowledged it.',
    role: 'operator',
    mutates: true,
    params: {
      type: 'object',
      additionalProperties: false,
      required: ['stream', 'fromSequence', 'toSequence'],
      properties: {
        stream: { type: 'string', minLength: 1, maxLength: 200 },
        fromSequence: { type: 'integer', minimum: 1 },
        toSequence: { type: 'integer', minimum: 1 },
      },
    },
  },
  'self-test': { name: 'self-test', summary: 'Run the self-test now: a canary through the buffer and, with the link up, Pulsar.', role: 'operator', mutates: false, params: EMPTY },
  reload: {
    name: 'reload',
    summary: "Re-read the daemon's configuration file and apply it (as SIGHUP); an invalid file is refused and the running configuration kept.",
    role: 'admin',
    mutates: true,
    params: EMPTY,
  },
  ping: {
    name: 'ping',
    summary: 'Do nothing and answer: the round trip operator -> governance -> RabbitMQ -> daemon -> reply, with nothing executed at the site (a liveness check and the benchmark of the control path).',
    role: 'observer',
    mutates: false,
    params: EMPTY,
  },
  status: { name: 'status', summary: "A snapshot of the daemon's status (link, backlog, drops, alarms, inputs).", role: 'observer', mutates: false, params: EMPTY },
  'ack-alarm': {
    name: 'ack-alarm',
    summary: 'Acknowledge an active alarm (it stays active until its cause clears).',
    role: 'operator',
    mutates: true,
    params: { type: 'object', additionalProperties: false, required: ['code'], properties: { code: { type: 'string', minLength: 1, maxLength: 100 } } },
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.hasOwn(COMMANDS, name);
}

/**
 * A command's life. `accepted`: validated, authorised, given an id, on its way to the site's
 * queue; `delivered`: the site took it off the queue; then exactly one terminal state.
 *
 *   accepted → delivered → done | failed | refused
 *   accepted → expired                            (not delivered within its TTL: dead-lettered by RabbitMQ)
 *   refused                                       (by the governance service: role, site, schema)
 */
export const COMMAND_STATES = ['accepted', 'delivered', 'done', 'failed', 'expired', 'refused'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<CommandState> = new Set(['done', 'failed', 'expired', 'refused']);

/** A stable error code and a sentence for the operator. */
export interface CommandError {
  code: string;
  message: string;
}

// --- RabbitMQ topology ----------------------------------------------------------------------------

/**
 * The names the topology uses (declared by the governance service at start, see
 * central/src/governance/topology.ts; the sites only consume and publish):
 *
 *   commands exchange (direct) --routing key = site id--> site queue (quorum, one per site)
 *   site queue --expired | rejected | delivery limit--> dead-letter exchange (fanout) --> dead queue
 *   results exchange (direct) --routing key 'result'|'report'--> results queue (quorum)
 */
export const TOPOLOGY = {
  commandsExchange: 'skyhaul.control.commands',
  resultsExchange: 'skyhaul.control.results',
  resultsQueue: 'skyhaul.control.results',
  deadLetterExchange: 'skyhaul.control.dlx',
  deadLetterQueue: 'skyhaul.control.dead',
  /** Routing keys on the results exchange. */
  resultKey: 'result',
  reportKey: 'report',
} as const;

/** The site's command queue. Site ids are `^[a-z0-9][a-z0-9-]{0,62}$` (the edge's site.id). */
export function siteQueue(site: string): string {
  return `skyhaul.control.site.${site}`;
}

export const SITE_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';

/** AMQP message header names (application headers) besides the standard properties. */
export const HEADER = {
  /** ms since the epoch (governance clock): a command must not start after it. */
  deadline: 'x-skyhaul-deadline',
  traceparent: 'traceparent',
  site: 'x-skyhaul-site',
  operator: 'x-skyhaul-operator',
} as const;

// --- Message bodies (JSON) -------------------------------------------------------------------------

/** Governance → site, on the commands exchange. AMQP properties: messageId = id, correlationId, type = command, expiration = TTL. */
export interface CommandMessage {
  v: 1;
  id: string;
  correlationId: string;
  site: string;
  command: CommandName;
  params: Record<string, unknown>;
  operator: string;
  /** ms since the epoch (governance clock). */
  issuedAt: number;
  /** ms since the epoch: not started after this (the queue's TTL also expires it before delivery). */
  deadline: number;
  traceparent: string;
}

/** Site → governance, on the results exchange (key `result`): the command was taken, or its outcome. */
export interface ResultMessage {
  v: 1;
  kind: 'delivered' | 'outcome';
  id: string;
  correlationId: string;
  site: string;
  command: string;
  /** For kind 'outcome'. */
  state?: 'done' | 'failed' | 'refused' | 'expired';
  result?: Record<string, unknown>;
  error?: CommandError;
  /** ms since the epoch (site clock). */
  at: number;
  traceparent: string;
  /** Sent again from the site's journal (a redelivery of a command already executed): not executed again. */
  fromJournal?: boolean;
}

/** Site → governance, on the results exchange (key `report`), every control.reportInterval and on connect. */
export interface SiteReport {
  v: 1;
  site: string;
  producerId: string;
  version: string;
  at: number;
  link: string;
  paused: boolean;
  bandwidthBytesPerSecond: number | null;
  backlogRecords: number;
  alarms: string[];
}

export const COMMAND_MESSAGE_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'id', 'correlationId', 'site', 'command', 'params', 'operator', 'issuedAt', 'deadline', 'traceparent'],
  properties: {
    v: { const: 1 },
    id: { type: 'string', minLength: 1, maxLength: 100 },
    correlationId: { type: 'string', minLength: 1, maxLength: 200 },
    site: { type: 'string', pattern: SITE_ID_PATTERN },
    command: { type: 'string' },
    params: { type: 'object' },
    operator: { type: 'string', maxLength: 200 },
    issuedAt: { type: 'integer' },
    deadline: { type: 'integer' },
    traceparent: { type: 'string', pattern: '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
  },
};

export const RESULT_MESSAGE_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['v', 'kind', 'id', 'correlationId', 'site', 'command', 'at', 'traceparent'],
  properties: {
    v: { const: 1 },
    kind: { enum: ['delivered', 'outcome'] },
    id: { type: 'string', minLength: 1, maxLength: 100 },
    correlationId: { type: 'string', maxLength: 200 },
    site: { type: 'string', pattern: SITE_ID_PATTERN },
    command: { type: 'string', maxLength: 100 },
    state: { enum: ['done', 'failed', 'refused', 'expired'] },
    result: { type: 'object' },
    error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
    at: { type: 'integer' },
    traceparent: { type: 'string' },
    fromJournal: { type: 'boolean' },
  },
  if: { properties: { kind: { const: 'outcome' } } },
  then: { required: ['state'] },
};

export const SITE_REPORT_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['v', 'site', 'producerId', 'at', 'link'],
  properties: {
    v: { const: 1 },
    site: { type: 'string', pattern: SITE_ID_PATTERN },
    producerId: { type: 'string' },
    version: { type: 'string' },
    at: { type: 'integer' },
    link: { type: 'string' },
    paused: { type: 'boolean' },
    bandwidthBytesPerSecond: { type: ['integer', 'null'] },
    backlogRecords: { type: 'integer' },
    alarms: { type: 'array', items: { type: 'string' } },
  },
};

// --- The audit record (Kafka) -----------------------------------------------------------------------

/**
 * What is audited, one record per step:
 *   requested      an operator's request reached the governance service (with who and what)
 *   authorised     it passed role, site and schema checks and got its id (state accepted)
 *   refused        it did not (state refused; `error` says why), or the site refused it
 *   published      RabbitMQ confirmed the command into the site's queue
 *   publish_failed RabbitMQ did not take it (queue full, broker away): state failed
 *   delivered      the site took it off its queue
 *   done | failed  the site's outcome (`result` or `error`)
 *   expired        not delivered in time: dead-lettered by RabbitMQ, or past its deadline at the site
 *   dead_lettered  RabbitMQ dead-lettered a message that is not an expiry (rejected as malformed, delivery limit)
 */
export const AUDIT_EVENTS = ['requested', 'authorised', 'refused', 'published', 'publish_failed', 'delivered', 'done', 'failed', 'expired', 'dead_lettered'] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** The audit topic's value (JSON, content type application/json, `schema` header `skyhaul.control.audit/v1`). */
export interface AuditRecord {
  v: 1;
  /** `<id>/<event>` (a retried step writes the same eventId: readers keep the first). */
  eventId: string;
  event: AuditEvent;
  id: string;
  correlationId: string;
  traceparent: string;
  operator: string;
  /** The operator's role when the governance service decided; null for steps the site reported. */
  role: Role | null;
  site: string;
  command: string;
  params: Record<string, unknown> | null;
  /** The command's state after this step (null for `requested`: no decision yet). */
  state: CommandState | null;
  /** Who took the step: the governance service, the site (its reported delivery and outcome), or RabbitMQ (a dead-lettering). */
  source: 'governance' | 'site' | 'rabbitmq';
  /** ms since the epoch of the step (the site's clock for steps the site reported). */
  at: number;
  /** ms since the epoch: the command's deadline (TTL end). */
  deadline: number | null;
  idempotencyKey: string | null;
  result: Record<string, unknown> | null;
  error: CommandError | null;
  /** Which process wrote it: `governance/<host>/<pid>`. */
  writer: string;
}

export const AUDIT_SCHEMA_REF = 'skyhaul.control.audit/v1';

export const AUDIT_RECORD_SCHEMA: JsonSchema = {
  $id: 'https://skyhaul.dev/schema/control-audit-v1.json',
  title: 'Skyhaul control-plane audit record',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'eventId', 'event', 'id', 'correlationId', 'traceparent', 'operator', 'role', 'site', 'command', 'params', 'state', 'source', 'at', 'deadline', 'idempotencyKey', 'result', 'error', 'writer'],
  properties: {
    v: { const: 1 },
    eventId: { type: 'string' },
    event: { enum: [...AUDIT_EVENTS] },
    id: { type: 'string' },
    correlationId: { type: 'string' },
    traceparent: { type: 'string' },
    operator: { type: 'string' },
    role: { enum: [...ROLES, null] },
    site: { type: 'string' },
    command: { type: 'string' },
    params: { type: ['object', 'null'] },
    state: { enum: [...COMMAND_STATES, null] },
    source: { enum: ['governance', 'site', 'rabbitmq'] },
    at: { type: 'integer' },
    deadline: { type: ['integer', 'null'] },
    idempotencyKey: { type: ['string', 'null'] },
    result: { type: ['object', 'null'] },
    error: { oneOf: [{ type: 'null' }, { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } }] },
    writer: { type: 'string' },
  },
};

/** Kafka headers of an audit record (strings), so a consumer can filter without parsing the value. */
export function auditHeaders(record: AuditRecord): Record<string, string> {
  return {
    correlation_id: record.correlationId,
    command_id: record.id,
    event_id: record.eventId,
    event: record.event,
    operator: record.operator,
    site: record.site,
    traceparent: record.traceparent,
    content_type: 'application/json',
    schema: AUDIT_SCHEMA_REF,
  };
}
