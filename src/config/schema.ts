/**
 * The configuration schema: the one source for validation, defaults, env overrides
 * (`SKYHAUL_<PATH>`), and the documented example file. Descriptions are written for the site
 * engineer who reads `config/skyhaul.example.yaml`.
 *
 * Each input transport's options come from its own src/inputs/<transport>/schema.ts, through the
 * registry src/inputs/schemas.ts; this file adds the keys every input has (`type`, `name`).
 */
import * as inputSchemas from '../inputs/schemas.ts';
import { bytes, duration, type InputSchema } from './forms.ts';

const priority = { type: 'string', enum: ['alarm', 'control', 'telemetry', 'bulk'] } as const;
const policy = { type: 'string', enum: ['block', 'drop-oldest', 'drop-newest'] } as const;

/**
 * One `oneOf` branch per registered transport, selected by its `type`, by type name (a module
 * namespace's key order differs between loaders; the example configuration must not).
 */
const inputForms = (Object.values(inputSchemas) as Array<InputSchema<{ type: string; name: string }>>)
  .sort((a, b) => a.type.localeCompare(b.type))
  .map((form) => ({
  additionalProperties: false,
  description: form.options.description,
  ...(form.options.required === undefined ? {} : { required: form.options.required }),
  properties: { type: { const: form.type }, name: { type: 'string' }, ...form.options.properties },
}));

export const configSchema = {
  $id: 'https://skyhaul.dev/schema/config.json',
  type: 'object',
  additionalProperties: false,
  required: ['site'],
  properties: {
    site: {
      type: 'object',
      additionalProperties: false,
      required: ['id'],
      description: 'This site.',
      properties: {
        id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'Site id (lower case, digits, dashes); the data centre keys on it.' },
        name: { type: 'string', description: 'Human-readable site name for the dashboard.' },
      },
    },
    dataDir: { type: 'string', default: './data', description: 'Where the buffer and state live (the systemd unit uses /var/lib/skyhaul).' },
    logging: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], default: 'info' },
      },
    },
    buffer: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The durable local buffer (SQLite in WAL mode).',
      properties: {
        file: { type: 'string', default: 'buffer.sqlite', description: 'File name under dataDir (or an absolute path).' },
        synchronous: {
          type: 'string',
          enum: ['OFF', 'NORMAL', 'FULL', 'EXTRA'],
          default: 'FULL',
          description: 'SQLite durability. FULL: a power cut loses nothing acknowledged. NORMAL: faster, may lose the last commits on power loss.',
        },
        groupCommit: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            maxRecords: {
              type: 'integer',
              minimum: 1,
              maximum: 100000,
              default: 1000,
              description: 'Records per commit; this many waiting commit at once. On the writer thread, a commit takes what arrived while the previous one ran, up to 16 times this.',
            },
            maxDelayMs: { type: 'integer', minimum: 0, maximum: 1000, default: 5, description: "Longest the next commit waits for the previous commit's fsync to finish, ms (an idle writer commits at once)." },
          },
        },
        quota: { ...bytes, default: '1GiB', description: 'Disk quota for buffered records.' },
        policies: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'What happens per priority class when the quota is reached.',
          properties: {
            alarm: { ...policy, default: 'block' },
            control: { ...policy, default: 'block' },
            telemetry: { ...policy, default: 'drop-oldest' },
            bulk: { ...policy, default: 'drop-oldest' },
          },
        },
        disk: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Stop accepting below minFree free space on the buffer disk; resume above resumeFree.',
          properties: {
            minFree: { ...bytes, default: '256MiB' },
            resumeFree: { ...bytes, default: '512MiB' },
            checkInterval: { ...duration, default: '5s' },
          },
        },
        maxBlocked: { ...bytes, default: '32MiB', description: 'Records held in memory while the buffer blocks; beyond it the newest are dropped and counted.' },
        maxStreams: {
          type: 'integer',
          minimum: 1,
          default: 10000,
          description: "Most streams the buffer keeps state for; records of further streams are dropped, counted as 'stream_limit', and alarmed.",
        },
        writerThread: {
          type: 'boolean',
          default: true,
          description:
            'Run SQLite (inserts, commits, checkpoints) on a thread of its own, so the inputs keep receiving and decoding while it writes. false keeps it on the main thread (single-core hardware).',
        },
      },
    },
    streams: {
      type: 'array',
      default: [],
      description: 'Per-stream settings; the first entry whose glob matches a stream name applies.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['match'],
        properties: {
          match: { type: 'string', description: 'Glob over stream names: `*` within a segment, `**` across segments.' },
          priority: { ...priority, default: 'telemetry' },
          ttl: { anyOf: [duration, { type: 'null' }], default: null, description: 'Drop (and count) records older than this.' },
          expectedInterval: { anyOf: [duration, { type: 'null' }], default: null, description: 'Readings are expected at least this often; later ones mark the stream stale.' },
        },
      },
    },
    forward: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Forwarding to Apache Pulsar.',
      properties: {
        enabled: { type: 'boolean', default: true },
        target: {
          type: 'string',
          enum: ['site', 'central'],
          default: 'site',
          description: "'site': the site's Pulsar standalone, which geo-replicates to the central cluster (status shows the replication backlog). 'central': the central cluster directly.",
        },
        url: {
          type: ['string', 'null'],
          default: null,
          description: 'Pulsar web service (http:// or https://), which serves the WebSocket API. null: buffer only, the link shows down.',
        },
        serviceUrl: { type: ['string', 'null'], default: null, description: 'Binary protocol URL (pulsar:// or pulsar+ssl://) for the binary and native transports.' },
        transport: {
          type: 'string',
          enum: ['auto', 'websocket', 'binary', 'native'],
          default: 'auto',
          description:
            "'websocket': Pulsar's WebSocket API at url. 'binary': Pulsar's binary protocol at serviceUrl, in TypeScript; the broker at serviceUrl must own the topics (a site's standalone, a single broker; no topic lookup, so not a multi-broker cluster or a Pulsar proxy). 'native': the pulsar-client addon, where it loads. 'auto': with serviceUrl set, native where it loads, else binary; without, websocket.",
        },
        topic: {
          type: 'string',
          default: 'persistent://skyhaul/telemetry/{site}',
          description: 'Topic template: {site}, {priority} and {stream} (with / as .) are filled in.',
        },
        replicationCluster: { type: 'string', default: 'central', description: "With target 'site': the remote cluster whose replication backlog to report." },
        window: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            maxMessages: { type: 'integer', minimum: 1, default: 4000, description: 'Messages in flight (sent, not yet acknowledged) across all streams.' },
            maxMessagesPerStream: { type: 'integer', minimum: 1, default: 1000 },
          },
        },
        sendTimeout: { ...duration, default: '30s' },
        brokerChecks: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: "Checks of the broker settings exactly-once rests on (de-duplication, its producer window, journal sync, topic deletion, TTL), at start, periodically and when the link returns; each problem is an alarm.",
          properties: {
            enabled: { type: 'boolean', default: true },
            interval: { ...duration, default: '10m' },
            outageHorizon: {
              ...duration,
              default: '7d',
              description: "The longest outage the site must ride out: the broker must remember this daemon's producers at least this long (or the longest stream TTL, if longer).",
            },
            bookieUrl: {
              type: ['string', 'null'],
              default: null,
              description: "The site bookie's HTTP admin, to read its journal settings (the shipped standalone.conf serves it on http://127.0.0.1:8000). null: that address when forward.url is on loopback and target is 'site', otherwise unchecked.",
            },
          },
        },
        maxMessageSize: {
          anyOf: [bytes, { type: 'null' }],
          default: null,
          description:
            "The largest message the broker side accepts (the WebSocket proxy's webSocketMaxTextFrameSize, or the broker's maxMessageSize for the native client). null: Pulsar's defaults, 1 MiB and 5 MiB. Records whose payload could not fit are refused at ingest.",
        },
        deadLinkTimeout: { ...duration, default: '15s', description: 'A connection with nothing coming back for this long is declared dead (black hole).' },
        backoff: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { initial: { ...duration, default: '250ms' }, max: { ...duration, default: '30s' } },
        },
        bandwidth: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            limit: { anyOf: [bytes, { type: 'null' }], default: null, description: 'Bytes per second; null: unlimited.' },
            schedule: {
              type: 'array',
              default: [],
              description: 'Time-of-day windows (local time) with their own limit, e.g. nights reserved for science data.',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['from', 'to', 'limit'],
                properties: {
                  from: { type: 'string', pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' },
                  to: { type: 'string', pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' },
                  limit: { anyOf: [bytes, { type: 'null' }] },
                },
              },
            },
          },
        },
        tls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            caFile: { type: 'string' },
            certFile: { type: 'string' },
            keyFile: { type: 'string' },
            allowInsecure: { type: 'boolean', default: false },
          },
        },
        auth: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            token: { type: 'string', description: 'JWT for Pulsar token auth (prefer tokenFile).' },
            tokenFile: { type: 'string' },
          },
        },
      },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Local health API, metrics and dashboard.',
      properties: {
        enabled: { type: 'boolean', default: true },
        bind: { type: 'string', default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 9880 },
        token: { type: 'string', description: 'Bearer token for actions (and for pushing records over HTTP); without it they are disabled.' },
      },
    },
    control: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        "Remote commands from the data centre's governance service over RabbitMQ (README.md, section The control plane): this site's command queue is consumed, each command executed like the local API's actions and answered.",
      properties: {
        enabled: { type: 'boolean', default: false },
        url: {
          type: ['string', 'null'],
          default: null,
          description: 'The central RabbitMQ: amqps://<site user>@host:5671/<vhost> (amqp:// without TLS). The password goes in password or passwordFile, not here.',
        },
        password: { type: 'string', description: "The site user's RabbitMQ password (prefer passwordFile)." },
        passwordFile: { type: 'string' },
        queue: { type: ['string', 'null'], default: null, description: 'The command queue; null: skyhaul.control.site.<site.id> (as the governance service declares it).' },
        heartbeat: { ...duration, default: '15s', description: 'AMQP heartbeat: a dead link is noticed after about twice this.' },
        backoff: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Reconnect delay: exponential from initial up to max.',
          properties: { initial: { ...duration, default: '1s' }, max: { ...duration, default: '30s' } },
        },
        reportInterval: { ...duration, default: '60s', description: 'How often the site reports link, backlog and alarms to the governance service (and on every connect).' },
        journal: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'The record of commands handled (dataDir/control.sqlite), so that none runs twice.',
          properties: {
            retention: { ...duration, default: '30d', description: "Longer than any command's TTL." },
            maxEntries: { type: 'integer', minimum: 100, default: 10000 },
          },
        },
        tls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            caFile: { type: 'string' },
            certFile: { type: 'string' },
            keyFile: { type: 'string' },
            allowInsecure: { type: 'boolean', default: false },
          },
        },
      },
    },
    jobs: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Schedules (cron: 5 fields, or 6 with seconds first) of maintenance jobs.',
      properties: {
        ttlSweep: { type: 'string', default: '*/30 * * * * *', description: 'Drop (and count) records past their stream TTL.' },
        checkpoint: { type: 'string', default: '*/5 * * * *', description: 'SQLite WAL checkpoint (truncates the WAL).' },
        vacuum: { type: 'string', default: '17 * * * *', description: 'Incremental vacuum: return freed pages to the disk.' },
        hostSample: { type: 'string', default: '*/15 * * * * *', description: 'Sample CPU load, memory, temperatures.' },
        selfTest: { type: 'string', default: '*/10 * * * *', description: 'Canary record through the buffer and, with the link up, Pulsar.' },
        summary: { type: 'string', default: '0 0 * * *', description: 'Daily summary log line.' },
      },
    },
    alarms: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Alarm thresholds (null: off). Alarms show in status, metrics and logs.',
      properties: {
        backlogAge: { anyOf: [duration, { type: 'null' }], default: '1h', description: 'Oldest buffered record older than this.' },
        diskFree: { anyOf: [bytes, { type: 'null' }], default: '1GiB', description: 'Less free space than this on the buffer disk.' },
        linkDown: { anyOf: [duration, { type: 'null' }], default: '5m', description: 'Link down (or black-holed) for longer than this.' },
        staleInstruments: { type: 'boolean', default: true, description: 'Alarm when a stream with an expectedInterval goes stale.' },
        record: { type: 'boolean', default: true, description: 'Also write each alarm change as a record into the alarm lane (stream _skyhaul/alarms), so the data centre hears of it first.' },
      },
    },
    inputs: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        required: ['type', 'name'],
        // ajv validates only the branch whose `type` matches (option `discriminator`), so a
        // mistake in an input is reported against its own transport, defaults inside the branch
        // are applied, and a missing or unknown `type` is one problem naming the known ones.
        discriminator: { propertyName: 'type' },
        properties: {
          type: { type: 'string' },
          name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]*$' },
        },
        oneOf: inputForms,
      },
    },
  },
} as const;
