/**
 * Loading the central configuration (lib/schema-config: YAML with lines, env overrides
 * `SKYHAUL_CENTRAL_<PATH>`, every problem at once) into the typed `CentralConfig`.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigProblems, SchemaConfig, type ConfigProblem } from '../../../lib/schema-config/index.ts';
import { parseBytes, parseDuration } from '../../../lib/schema-config/units.ts';
import { centralSchema } from './schema.ts';

export { ConfigProblems, formatProblem, type ConfigProblem } from '../../../lib/schema-config/index.ts';

type Duration = number | string;

interface RawCentral {
  logging: { level: string };
  kafka: { bootstrap: string[] | string; clientId: string; replicationFactor: number; minInsyncReplicas: number };
  pulsar: { webServiceUrl: string; namespace: string; token?: string };
  registry: { url: string; listen: { bind: string; port: number }; topic: string; compatibility: string };
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
  const { data } = format.parse(text, file, env);
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
