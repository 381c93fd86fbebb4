/**
 * The central services' configuration schema: one YAML file for every service (each reads its
 * own section and the shared connections), with the same conventions as the edge daemon's:
 * defaults filled, `skyhaul-central check-config FILE` lists every problem with file, line and
 * path, and every scalar setting can be overridden as `SKYHAUL_CENTRAL_<PATH>`
 * (`SKYHAUL_CENTRAL_KAFKA_BOOTSTRAP`, `SKYHAUL_CENTRAL_BRIDGE_HTTP_PORT`, …).
 */
import { DURATION_PATTERN, SIZE_PATTERN } from '../../../lib/schema-config/units.ts';

const HOST_PORT = '^[^:,\\s]+:\\d+$';

const duration = {
  'x-expected': 'a duration: milliseconds, or a string such as "250ms", "15s", "30m", "12h", "7d"',
  anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: DURATION_PATTERN }],
} as const;

const size = {
  'x-expected': 'a size: bytes, or a string such as "512KiB", "64MiB", "1GiB"',
  anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: SIZE_PATTERN }],
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
    objectStore: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The S3-compatible object store holding the data lake (AWS S3, versitygw, MinIO, Ceph RGW).',
      properties: {
        endpoint: { type: 'string', pattern: '^https?://', description: 'The S3 API; omit for AWS S3 itself.' },
        region: { type: 'string', default: 'us-east-1' },
        bucket: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$', default: 'skyhaul-lake', description: 'Created at start when missing.' },
        accessKeyId: { type: 'string', default: '' },
        secretAccessKey: { type: 'string', default: '', description: 'Set it with SKYHAUL_CENTRAL_OBJECT_STORE_SECRET_ACCESS_KEY rather than in the file; never logged.' },
        forcePathStyle: { type: 'boolean', default: true, description: 'http://host/bucket/key addressing (what self-hosted servers need).' },
      },
    },
    etl: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Raw Kafka records -> curated records and 1-minute aggregates, exactly once (Kafka transactions with the group offsets).',
      properties: {
        http: listen(9882, 'the ETL'),
        groupId: { type: 'string', default: 'skyhaul-etl', description: 'Kafka consumer group shared by every ETL instance.' },
        instanceId: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$', description: "This instance's stable name (default: the host name): its transactional.id is skyhaul-etl:<groupId>:<instanceId>, so a restarted instance settles the transaction its predecessor left open at once. Unique per instance." },
        sourceTopics: { type: 'string', default: '^skyhaul\\.raw\\.', description: 'Regular expression: the raw topics to read (new ones are picked up every topicRefresh).' },
        topicRefresh: { ...duration, default: '30s' },
        curatedTopic: { type: 'string', default: 'skyhaul.curated.{site}', description: 'Curated records, key = stream ({site} filled in).' },
        aggregatesTopic: { type: 'string', default: 'skyhaul.aggregates.{site}', description: 'Aggregates per stream, numeric field and window ({site} filled in).' },
        stateTopic: { type: 'string', default: 'skyhaul.etl.state', description: 'Compacted: de-duplication sequences, watermarks and open windows, in the same transactions as the output.' },
        deadLetterTopic: { type: 'string', default: 'skyhaul.etl.dlq', description: 'Raw records that cannot be curated, with the reason in headers.' },
        partitions: { type: 'integer', minimum: 1, default: 6, description: 'Partitions of the curated and aggregate topics it creates.' },
        retention: { ...duration, default: '30d', description: 'Retention of the curated topics (the lake keeps them for years).' },
        aggregatesRetention: { ...duration, default: '400d' },
        window: { ...duration, default: '1m', description: 'Aggregate window length (event time).' },
        allowedLateness: { ...duration, default: '2m', description: 'How long after a window ends (in its stream\'s event time) records still count in it; later ones are counted as late, kept in the curated topic, not aggregated.' },
        siteRegistry: { type: 'string', description: 'YAML file of site metadata (central/src/curated/sites.ts); without it records are curated without site names and locations.' },
        units: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Extra or replaced SI targets, UCUM code -> UCUM code (e.g. Cel: Cel keeps Celsius).' },
        exactlyOnce: { type: 'boolean', default: true, description: 'false: at-least-once (plain commits after the output; for measuring what the transactions cost).' },
        heartbeatInterval: { ...duration, default: '30s', description: 'While caught up with its input, how often each partition of every curated topic gets a heartbeat record (record_kind: heartbeat, heartbeat_time): it moves the archiver\'s rotation clock on idle partitions, so their last objects close by a record in the log and not by the wall clock.' },
        stuckTransaction: { ...duration, default: '30s', description: 'A transaction open longer than this raises an alarm (metric, log, readiness).' },
        batch: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            maxRecords: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 },
            maxDelay: { ...duration, default: '100ms' },
          },
        },
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
    archive: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Kafka curated topics -> the object store (Parquet, Hive layout), each record once, by deterministic keys.',
      properties: {
        http: listen(9883, 'the archiver'),
        groupId: { type: 'string', default: 'skyhaul-archive', description: 'Kafka consumer group shared by every archiver instance.' },
        topics: { type: 'array', items: { type: 'string' }, default: [], description: 'Topics archived by exact name (e.g. the audit topic), besides those matching topicPattern.' },
        topicPattern: { type: 'string', default: '^skyhaul\\.curated\\.', description: 'Regular expression: every topic whose name matches is archived; "" for none.' },
        topicRefresh: { ...duration, default: '30s', description: 'How often the cluster is listed for new matching topics.' },
        prefix: { type: 'string', pattern: '^([^/].*/)?$', default: '', description: 'Key prefix of everything the archiver writes ("" or ending in /).' },
        format: { type: 'string', enum: ['parquet', 'jsonl.gz'], default: 'parquet', description: 'Apache Parquet (SNAPPY) or gzip-compressed JSON lines.' },
        rotation: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'When an object is cut: all by the partition\'s record sequence, never the wall clock.',
          properties: {
            maxRecords: { type: 'integer', minimum: 1, maximum: 10000000, default: 100000, description: 'Records per object at most.' },
            maxBytes: { ...size, default: '32MiB', description: 'Bytes of Kafka record values per object at most.' },
            interval: { ...duration, default: '10m', description: 'An object closes once the partition shows a record (or an ETL heartbeat) this much later in ingest time than its first record.' },
          },
        },
        memoryCap: { ...size, default: '256MiB', description: 'Buffered record bytes (all partitions, plus objects being written) at most; past it the largest groups are written early.' },
        maxInFlight: { type: 'integer', minimum: 1, maximum: 64, default: 4, description: 'Objects being written at once at most.' },
        fetchMaxBytes: { ...size, default: '8MiB', description: 'Bytes per Kafka fetch at most.' },
      },
    },
  },
} as const;
