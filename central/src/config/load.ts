/**
 * Loading the central configuration (lib/schema-config: YAML with lines, env overrides
 * `SKYHAUL_CENTRAL_<PATH>`, every problem at once) into the typed `CentralConfig`.
 */
import { readFileSync } from 'node:fs';
import { ConfigProblems, SchemaConfig, type ConfigProblem } from '../../../lib/schema-config/index.ts';
import { parseDuration } from '../../../lib/schema-config/units.ts';
import { centralSchema } from './schema.ts';

export { ConfigProblems, formatProblem, type ConfigProblem } from '../../../lib/schema-config/index.ts';

type Duration = number | string;

interface RawCentral {
  logging: { level: string };
  kafka: { bootstrap: string[] | string; clientId: string; replicationFactor: number; minInsyncReplicas: number };
  pulsar: { webServiceUrl: string; namespace: string; token?: string };
  registry: { url: string; listen: { bind: string; port: number }; topic: string; compatibility: string };
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
}

const format = new SchemaConfig<RawCentral>(centralSchema, 'SKYHAUL_CENTRAL');

/** Parses and validates; throws ConfigProblems listing every problem. */
export function parseCentralConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): CentralConfig {
  const { data } = format.parse(text, file, env);
  const b = data.bridge;
  return {
    logging: data.logging,
    kafka: { ...data.kafka, bootstrap: typeof data.kafka.bootstrap === 'string' ? data.kafka.bootstrap.split(',') : data.kafka.bootstrap },
    pulsar: data.pulsar,
    registry: data.registry,
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
