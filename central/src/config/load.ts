/**
 * Loading the central configuration (lib/schema-config: YAML with lines, env overrides
 * `SKYHAUL_CENTRAL_<PATH>`, every problem at once) into the typed `CentralConfig`.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigProblems, inFileOrder, SchemaConfig, type ConfigProblem, type Locator, type Placed } from '../../../lib/schema-config/index.ts';
import { parseBytes, parseDuration } from '../../../lib/schema-config/units.ts';
import { centralSchema } from './schema.ts';

export { ConfigProblems, formatProblem, type ConfigProblem } from '../../../lib/schema-config/index.ts';

type Duration = number | string;

interface RawCentral {
  logging: { level: string };
  kafka: { bootstrap: string[] | string; clientId: string; replicationFactor: number; minInsyncReplicas: number };
  pulsar: { webServiceUrl: string; namespace: string; token?: string };
  registry: { url: string; listen: { bind: string; port: number }; topic: string; compatibility: string };
  governance: {
    listen: { bind: string; port: number };
    url: string;
    amqp: {
      url: string;
      password?: string;
      passwordFile?: string;
      heartbeat: Duration;
      reconnect: { initial: Duration; max: Duration };
      tls: AmqpTls;
    };
    sites: GovernanceSite[];
    tokens: GovernanceToken[];
    commandTtl: Duration;
    maxCommandTtl: Duration;
    replyTimeout: Duration;
    maxReplyTimeout: Duration;
    expiryGrace: Duration;
    deliveryLimit: number;
    maxQueueLength: number;
    auditTopic: string;
    auditPartitions: number;
    auditRetention: Duration;
    sitesTopic: string;
    idempotencyKeyLifetime: Duration;
    maxCommands: number;
  };
  objectStore: { endpoint?: string; region: string; bucket: string; accessKeyId: string; secretAccessKey: string; forcePathStyle: boolean };
  etl: {
    http: { bind: string; port: number };
    groupId: string;
    instanceId?: string;
    sourceTopics: string;
    topicRefresh: Duration;
    curatedTopic: string;
    aggregatesTopic: string;
    stateTopic: string;
    deadLetterTopic: string;
    partitions: number;
    retention: Duration;
    aggregatesRetention: Duration;
    window: Duration;
    allowedLateness: Duration;
    siteRegistry?: string;
    units: Record<string, string>;
    exactlyOnce: boolean;
    heartbeatTopics: string[];
    heartbeatInterval: Duration;
    stuckTransaction: Duration;
    batch: { maxRecords: number; maxDelay: Duration };
  };
  bridge: {
    http: { bind: string; port: number };
    subscription: string;
    priorityLevel: number;
    topicRefresh: Duration;
    topic: string;
    partitions: number;
    retention: Duration;
    stateTopic: string;
    deadLetterTopic: string;
    batch: { maxRecords: number; maxDelay: Duration };
  };
  archive: {
    http: { bind: string; port: number };
    groupId: string;
    topics: string[];
    topicPattern: string;
    topicRefresh: Duration;
    prefix: string;
    format: 'parquet' | 'jsonl.gz';
    rotation: { maxRecords: number; maxBytes: number | string; interval: Duration };
    memoryCap: number | string;
    maxInFlight: number;
    fetchMaxBytes: number | string;
  };
}

export interface AmqpTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  allowInsecure: boolean;
}

export interface GovernanceSite {
  id: string;
  name?: string;
  /** The site's RabbitMQ user (validated user-id of its results). */
  user?: string;
}

export interface GovernanceToken {
  name: string;
  role: 'observer' | 'operator' | 'admin';
  /** Site ids, or '*'. */
  sites: string[];
  /** Hex SHA-256 of the bearer token. */
  sha256: string;
}

export interface Listen {
  bind: string;
  port: number;
}

/** The validated configuration, durations in ms. */
export interface CentralConfig {
  logging: { level: string };
  kafka: { bootstrap: string[]; clientId: string; replicationFactor: number; minInsyncReplicas: number };
  pulsar: RawCentral['pulsar'];
  registry: { url: string; listen: Listen; topic: string; compatibility: string };
  governance: {
    listen: Listen;
    url: string;
    amqp: { url: string; password: string | undefined; heartbeatSeconds: number; reconnect: { initialMs: number; maxMs: number }; tls: AmqpTls };
    sites: GovernanceSite[];
    tokens: GovernanceToken[];
    commandTtlMs: number;
    maxCommandTtlMs: number;
    replyTimeoutMs: number;
    maxReplyTimeoutMs: number;
    expiryGraceMs: number;
    deliveryLimit: number;
    maxQueueLength: number;
    auditTopic: string;
    auditPartitions: number;
    auditRetentionMs: number;
    sitesTopic: string;
    idempotencyKeyLifetimeMs: number;
    maxCommands: number;
  };
  objectStore: RawCentral['objectStore'];
  etl: {
    http: Listen;
    groupId: string;
    instanceId: string;
    sourceTopics: RegExp;
    topicRefreshMs: number;
    curatedTopic: string;
    aggregatesTopic: string;
    stateTopic: string;
    deadLetterTopic: string;
    partitions: number;
    retentionMs: number;
    aggregatesRetentionMs: number;
    windowMs: number;
    allowedLatenessMs: number;
    siteRegistry?: string;
    units: Record<string, string>;
    exactlyOnce: boolean;
    heartbeatTopics: string[];
    heartbeatIntervalMs: number;
    stuckTransactionMs: number;
    batch: { maxRecords: number; maxDelayMs: number };
  };
  bridge: {
    http: Listen;
    subscription: string;
    priorityLevel: number;
    topicRefreshMs: number;
    topic: string;
    partitions: number;
    retentionMs: number;
    stateTopic: string;
    deadLetterTopic: string;
    batch: { maxRecords: number; maxDelayMs: number };
  };
  /** The archiver: sizes in bytes, durations in ms. */
  archive: {
    http: Listen;
    groupId: string;
    topics: string[];
    /** null: no pattern. */
    topicPattern: RegExp | null;
    topicRefreshMs: number;
    prefix: string;
    format: 'parquet' | 'jsonl.gz';
    rotation: { maxRecords: number; maxBytes: number; intervalMs: number };
    memoryCapBytes: number;
    maxInFlight: number;
    fetchMaxBytes: number;
  };
}

const format = new SchemaConfig<RawCentral>(centralSchema, 'SKYHAUL_CENTRAL');

/** Parses and validates; throws ConfigProblems listing every problem. */
export function parseCentralConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): CentralConfig {
  const { data, locator } = format.parse(text, file, env);
  const b = data.bridge;
  const e = data.etl;
  let sourceTopics: RegExp;
  try {
    sourceTopics = new RegExp(e.sourceTopics);
  } catch (error) {
    throw new ConfigProblems(file, [{ path: 'etl.sourceTopics', line: null, message: `not a regular expression: ${(error as Error).message}` }]);
  }
  const a = data.archive;
  let topicPattern: RegExp | null = null;
  if (a.topicPattern !== '') {
    try {
      topicPattern = new RegExp(a.topicPattern);
    } catch (error) {
      throw new ConfigProblems(file, [{ path: 'archive.topicPattern', line: null, message: `not a regular expression: ${(error as Error).message}` }]);
    }
  }
  return {
    logging: data.logging,
    kafka: { ...data.kafka, bootstrap: typeof data.kafka.bootstrap === 'string' ? data.kafka.bootstrap.split(',') : data.kafka.bootstrap },
    pulsar: data.pulsar,
    registry: data.registry,
    governance: governanceOf(data.governance, file, locator),
    objectStore: data.objectStore,
    etl: {
      http: e.http,
      groupId: e.groupId,
      instanceId: e.instanceId ?? hostname(),
      sourceTopics,
      topicRefreshMs: parseDuration(e.topicRefresh),
      curatedTopic: e.curatedTopic,
      aggregatesTopic: e.aggregatesTopic,
      stateTopic: e.stateTopic,
      deadLetterTopic: e.deadLetterTopic,
      partitions: e.partitions,
      retentionMs: parseDuration(e.retention),
      aggregatesRetentionMs: parseDuration(e.aggregatesRetention),
      windowMs: parseDuration(e.window),
      allowedLatenessMs: parseDuration(e.allowedLateness),
      ...(e.siteRegistry === undefined ? {} : { siteRegistry: e.siteRegistry }),
      units: e.units,
      exactlyOnce: e.exactlyOnce,
      heartbeatTopics: e.heartbeatTopics,
      heartbeatIntervalMs: parseDuration(e.heartbeatInterval),
      stuckTransactionMs: parseDuration(e.stuckTransaction),
      batch: { maxRecords: e.batch.maxRecords, maxDelayMs: parseDuration(e.batch.maxDelay) },
    },
    bridge: {
      http: b.http,
      subscription: b.subscription,
      priorityLevel: b.priorityLevel,
      topicRefreshMs: parseDuration(b.topicRefresh),
      topic: b.topic,
      partitions: b.partitions,
      retentionMs: parseDuration(b.retention),
      stateTopic: b.stateTopic,
      deadLetterTopic: b.deadLetterTopic,
      batch: { maxRecords: b.batch.maxRecords, maxDelayMs: parseDuration(b.batch.maxDelay) },
    },
    archive: {
      http: a.http,
      groupId: a.groupId,
      topics: a.topics,
      topicPattern,
      topicRefreshMs: parseDuration(a.topicRefresh),
      prefix: a.prefix,
      format: a.format,
      rotation: { maxRecords: a.rotation.maxRecords, maxBytes: parseBytes(a.rotation.maxBytes), intervalMs: parseDuration(a.rotation.interval) },
      memoryCapBytes: parseBytes(a.memoryCap),
      maxInFlight: a.maxInFlight,
      fetchMaxBytes: parseBytes(a.fetchMaxBytes),
    },
  };
}

/** The governance section in typed form; what the schema cannot say (duplicates, a password in a URL) are problems with their lines. */
function governanceOf(g: RawCentral['governance'], file: string, locator: Locator): CentralConfig['governance'] {
  const problems: Placed[] = [];
  const ids = new Set<string>();
  for (const [i, site] of g.sites.entries()) {
    if (ids.has(site.id)) problems.push(locator.place(['governance', 'sites', i, 'id'], `site '${site.id}' is listed twice`));
    ids.add(site.id);
  }
  const names = new Set<string>();
  for (const [i, token] of g.tokens.entries()) {
    if (names.has(token.name)) problems.push(locator.place(['governance', 'tokens', i, 'name'], `'${token.name}' has two tokens: the audit would not tell them apart`));
    names.add(token.name);
  }
  if (/^amqps?:\/\/[^/@]*:[^/@]*@/.test(g.amqp.url)) problems.push(locator.place(['governance', 'amqp', 'url'], 'holds a password: put it in governance.amqp.password or passwordFile (a URL ends up in logs)'));
  let password = g.amqp.password;
  if (password === undefined && g.amqp.passwordFile !== undefined) {
    try {
      password = readFileSync(g.amqp.passwordFile, 'utf8').trim();
    } catch (error) {
      problems.push(locator.place(['governance', 'amqp', 'passwordFile'], `cannot read ${g.amqp.passwordFile}: ${(error as Error).message}`));
    }
  }
  if (parseDuration(g.commandTtl) > parseDuration(g.maxCommandTtl)) problems.push(locator.place(['governance', 'commandTtl'], 'must not exceed governance.maxCommandTtl'));
  if (parseDuration(g.replyTimeout) > parseDuration(g.maxReplyTimeout)) problems.push(locator.place(['governance', 'replyTimeout'], 'must not exceed governance.maxReplyTimeout'));
  if (problems.length > 0) throw new ConfigProblems(file, inFileOrder(problems));
  return {
    listen: g.listen,
    url: g.url,
    amqp: {
      url: g.amqp.url,
      password,
      heartbeatSeconds: Math.max(1, Math.round(parseDuration(g.amqp.heartbeat) / 1000)),
      reconnect: { initialMs: parseDuration(g.amqp.reconnect.initial), maxMs: parseDuration(g.amqp.reconnect.max) },
      tls: g.amqp.tls,
    },
    sites: g.sites,
    tokens: g.tokens,
    commandTtlMs: parseDuration(g.commandTtl),
    maxCommandTtlMs: parseDuration(g.maxCommandTtl),
    replyTimeoutMs: parseDuration(g.replyTimeout),
    maxReplyTimeoutMs: parseDuration(g.maxReplyTimeout),
    expiryGraceMs: parseDuration(g.expiryGrace),
    deliveryLimit: g.deliveryLimit,
    maxQueueLength: g.maxQueueLength,
    auditTopic: g.auditTopic,
    auditPartitions: g.auditPartitions,
    auditRetentionMs: parseDuration(g.auditRetention),
    sitesTopic: g.sitesTopic,
    idempotencyKeyLifetimeMs: parseDuration(g.idempotencyKeyLifetime),
    maxCommands: g.maxCommands,
  };
}

/** Reads and parses `file`; an unreadable file is a ConfigProblems without a line. */
export function loadCentralConfig(file: string, env: NodeJS.ProcessEnv = process.env): CentralConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const problem: ConfigProblem = { path: '', line: null, message: `cannot read the file: ${(error as Error).message}` };
    throw new ConfigProblems(file, [problem]);
  }
  return parseCentralConfig(text, file, env);
}

/** The environment variables that override settings, by dotted path. */
export function centralEnvOverrides(): Map<string, string[]> {
  return format.overrides;
}
