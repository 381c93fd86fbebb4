/**
 * The central services' configuration schema: one YAML file for every service (each reads its
 * own section and the shared connections), with the same conventions as the edge daemon's:
 * defaults filled, `skyhaul-central check-config FILE` lists every problem with file, line and
 * path, and every scalar setting can be overridden as `SKYHAUL_CENTRAL_<PATH>`
 * (`SKYHAUL_CENTRAL_KAFKA_BOOTSTRAP`, `SKYHAUL_CENTRAL_BRIDGE_HTTP_PORT`, …).
 */
import { DURATION_PATTERN } from '../../../lib/schema-config/units.ts';

const HOST_PORT = '^[^:,\\s]+:\\d+$';

const duration = {
  'x-expected': 'a duration: milliseconds, or a string such as "250ms", "15s", "30m", "12h", "7d"',
  anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: DURATION_PATTERN }],
} as const;

const listen = (port: number, what: string) =>
  ({
    type: 'object',
    additionalProperties: false,
    default: {},
    description: `Where ${what} listens: /metrics (Prometheus), /healthz, /readyz.`,
    properties: {
      bind: { type: 'string', default: '127.0.0.1' },
      port: { type: 'integer', minimum: 0, maximum: 65535, default: port },
    },
  }) as const;

export const centralSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    logging: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { level: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], default: 'info' } },
    },
    kafka: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The central Kafka cluster (the durable log every central service reads and writes).',
      properties: {
        bootstrap: {
          'x-expected': "host:port of one or more brokers: a list, or one string 'host:port,host:port' (Kafka's bootstrap.servers form, for SKYHAUL_CENTRAL_KAFKA_BOOTSTRAP)",
          anyOf: [
            { type: 'array', items: { type: 'string', pattern: HOST_PORT }, minItems: 1 },
            { type: 'string', pattern: `^${HOST_PORT.slice(1, -1)}(,${HOST_PORT.slice(1, -1)})*$` },
          ],
          default: ['127.0.0.1:9092'],
          description: 'Brokers to bootstrap from (bootstrap.servers).',
        },
        clientId: { type: 'string', default: 'skyhaul-central' },
        replicationFactor: { type: 'integer', minimum: 1, default: 3, description: 'Replicas of every topic the services create (1 on a single-broker dev cluster).' },
        minInsyncReplicas: { type: 'integer', minimum: 1, default: 2, description: 'min.insync.replicas of those topics: with acks=all, a write is acknowledged once this many replicas have it.' },
      },
    },
    pulsar: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The central Pulsar cluster that the sites geo-replicate into.',
      properties: {
        webServiceUrl: { type: 'string', pattern: '^https?://', default: 'http://127.0.0.1:8080', description: 'Web service (admin REST API and the WebSocket API).' },
        namespace: { type: 'string', pattern: '^[^/]+/[^/]+$', default: 'skyhaul/telemetry', description: 'tenant/namespace holding the site topics (persistent://<namespace>/<site>).' },
        token: { type: 'string', description: 'JWT for Pulsar token auth.' },
      },
    },
    registry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The schema registry (Confluent REST API): the one `skyhaul-central registry` serves, or a Confluent, Apicurio or Karapace registry of your own.',
      properties: {
        url: { type: 'string', pattern: '^https?://', default: 'http://127.0.0.1:8081', description: 'What the other services use.' },
        listen: { ...listen(8081, 'the registry (its REST API too)') },
        topic: { type: 'string', default: '_schemas', description: 'Compacted topic holding the schemas (as Confluent and Karapace keep them).' },
        compatibility: {
          type: 'string',
          enum: ['NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE'],
          default: 'BACKWARD_TRANSITIVE',
          description: 'Global compatibility level (per subject: PUT /config/<subject>).',
        },
      },
    },
    governance: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The control plane (central/README.md, Governance): operator commands over RabbitMQ to the sites, every step audited in Kafka.',
      properties: {
        listen: { ...listen(9882, 'the governance service (its REST API and operator page too)') },
        url: { type: 'string', pattern: '^https?://', default: 'http://127.0.0.1:9882', description: 'Where `skyhaul-central command` sends operator requests.' },
        amqp: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'The central RabbitMQ.',
          properties: {
            url: {
              type: 'string',
              pattern: '^amqps?://',
              default: 'amqp://guest@127.0.0.1:5672/',
              description: "amqps://<governance user>@host:5671/<vhost> (amqp:// without TLS); the password goes in password or passwordFile.",
            },
            password: { type: 'string', description: 'The RabbitMQ password (prefer passwordFile).' },
            passwordFile: { type: 'string' },
            heartbeat: { ...duration, default: '15s', description: 'AMQP heartbeat: a dead connection is noticed after about twice this.' },
            reconnect: {
              type: 'object',
              additionalProperties: false,
              default: {},
              description: 'Reconnect delay: exponential from initial up to max.',
              properties: { initial: { ...duration, default: '500ms' }, max: { ...duration, default: '15s' } },
            },
            tls: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: { caFile: { type: 'string' }, certFile: { type: 'string' }, keyFile: { type: 'string' }, allowInsecure: { type: 'boolean', default: false } },
            },
          },
        },
        sites: {
          type: 'array',
          default: [],
          description: 'The sites commands go to: one quorum queue each, declared at start.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['id'],
            properties: {
              id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: "The site's site.id." },
              name: { type: 'string' },
              user: { type: 'string', description: "The site's RabbitMQ user: results and reports published under another (validated) user-id are refused." },
            },
          },
        },
        tokens: {
          type: 'array',
          default: [],
          description: 'Who may use the API: bearer tokens by SHA-256 (`skyhaul-central token` makes one), each with a role and the sites it may command.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'role', 'sha256'],
            properties: {
              name: { type: 'string', pattern: '^[\\w.@-]{1,64}$', description: 'The operator, as the audit names them.' },
              role: { type: 'string', enum: ['observer', 'operator', 'admin'] },
              sites: { type: 'array', items: { type: 'string' }, default: ['*'], description: "Site ids, or '*' for every site." },
              sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Hex SHA-256 of the token.' },
            },
          },
        },
        commandTtl: { ...duration, default: '10m', description: 'A command not delivered by then expires (per-message TTL) and is never executed.' },
        maxCommandTtl: { ...duration, default: '24h', description: 'The longest TTL a request may ask for.' },
        replyTimeout: { ...duration, default: '10s', description: "How long a request waits for the site's answer by default before it is answered 202 with the command's id." },
        maxReplyTimeout: { ...duration, default: '60s' },
        expiryGrace: {
          ...duration,
          default: '5s',
          description:
            "A command with no delivery seen this long after its deadline is reported expired. RabbitMQ expires a message only when it reaches the head of its queue (quorum and classic queues alike), so behind an older command waiting for an unreachable site its dead-lettering comes late; the site refuses it anyway past the deadline.",
        },
        deliveryLimit: { type: 'integer', minimum: 1, maximum: 100, default: 5, description: 'Deliveries of one command without an ack before RabbitMQ dead-letters it (a poison command cannot loop).' },
        maxQueueLength: { type: 'integer', minimum: 1, default: 1000, description: "Commands waiting in one site's queue at most; beyond, a new command is refused (queue full)." },
        auditTopic: { type: 'string', default: 'skyhaul.control.audit', description: 'Every command, decision, delivery, result and expiry (JSON records, key = command id).' },
        auditPartitions: { type: 'integer', minimum: 1, default: 6 },
        auditRetention: { ...duration, default: '365d', description: 'How long Kafka keeps the audit (the archiver keeps it in the lake for good).' },
        sitesTopic: { type: 'string', default: 'skyhaul.control.sites', description: "Compacted: each site's last report (key = site id)." },
        idempotencyKeyLifetime: { ...duration, default: '24h', description: 'How long an Idempotency-Key names its command.' },
        maxCommands: { type: 'integer', minimum: 100, default: 100000, description: 'Commands kept in memory for the API and the page (the oldest finished ones go first; the audit topic keeps all).' },
      },
    },
    bridge: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Pulsar -> Kafka, each record once.',
      properties: {
        http: listen(9881, 'the bridge'),
        subscription: { type: 'string', default: 'skyhaul-bridge', description: 'Pulsar Failover subscription shared by every bridge instance.' },
        priorityLevel: { type: 'integer', minimum: 0, default: 0, description: "This instance's Failover priority (0 highest): the highest-priority connected instance is active on a topic, the others stand by." },
        topicRefresh: { ...duration, default: '10s', description: 'How often the namespace is listed for new site topics.' },
        topic: {
          type: 'string',
          default: 'skyhaul.raw.{site}',
          description:
            "Kafka topic of a record: {site} (its site id) and {family} (its stream's first segment, e.g. weather) are filled in. Per site by default: a site's data has one retention, one ACL and one place to replay from; per family groups an instrument kind across sites.",
        },
        partitions: { type: 'integer', minimum: 1, default: 6, description: 'Partitions of each raw topic (key = stream: one stream stays in one partition, in order).' },
        retention: { ...duration, default: '7d', description: 'How long Kafka keeps raw records for replay.' },
        stateTopic: { type: 'string', default: 'skyhaul.bridge.state', description: 'Compacted: highest sequence written per (producer_id, stream), in the same transactions as the records.' },
        deadLetterTopic: { type: 'string', default: 'skyhaul.bridge.dlq', description: 'Records that fail decoding or their schema, with the reason in headers.' },
        batch: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            maxRecords: { type: 'integer', minimum: 1, maximum: 100000, default: 500, description: 'Records per Kafka transaction at most.' },
            maxDelay: { ...duration, default: '50ms', description: 'A transaction commits at most this long after its first record.' },
          },
        },
      },
    },
  },
} as const;
