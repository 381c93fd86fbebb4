/**
 * Loading configuration: YAML (with line numbers kept for errors), then `SKYHAUL_<PATH>`
 * environment overrides, then schema validation with defaults, then normalisation into the
 * typed `Config`. Every problem is reported at once, each naming the path, the line, what was
 * expected and what was found.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { ConfigProblems, inFileOrder, SchemaConfig, type ConfigProblem, type Locator, type Placed, type Segment } from '../../lib/schema-config/index.ts';
import { adapters, validateAdapterOptions } from '../../firmware-adapters/index.ts';
import { SkyhaulError } from '../common/errors.ts';
import { parseServiceUrl } from '../forward/pulsar/transport.ts';
import { configSchema } from './schema.ts';

export { formatProblem, type ConfigProblem } from '../../lib/schema-config/index.ts';

/** `SKY_ERR_CONFIG`: the file (or its environment overrides) is invalid; `problems` lists every mistake. */
export class ConfigError extends SkyhaulError {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super('SKY_ERR_CONFIG', new ConfigProblems(file, problems).message);
  }
}

/** The daemon's configuration format: its schema, and `SKYHAUL_<PATH>` environment overrides. */
const format = new SchemaConfig<RawConfig>(configSchema, 'SKYHAUL');

/** Env names for every scalar setting the schema reaches through objects: SKYHAUL_FORWARD_DEAD_LINK_TIMEOUT. */
export function envOverrides(): Map<string, string[]> {
  return format.overrides;
}
import type { Config, RawConfig } from './types.ts';
import { parseBytes, parseDuration } from '../../lib/schema-config/units.ts';

/** Parses and validates configuration text; throws ConfigError listing every problem. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let parsed: { data: RawConfig; locator: Locator };
  try {
    parsed = format.parse(text, file, env, (data, errors, locator) => {
      // Adapter names and options of the inputs the schema accepted are checked too, so that one
      // run lists every mistake; an input with schema errors may not have the shape to check.
      const inputs = Array.isArray(data.inputs) ? (data.inputs as AdapterUser[]) : [];
      const clean = inputs.map((input, i) => (errors.some((e: ErrorObject) => e.instancePath === `/inputs/${i}` || e.instancePath.startsWith(`/inputs/${i}/`)) ? null : input));
      return adapterProblems(clean, locator);
    });
  } catch (error) {
    if (error instanceof ConfigProblems) throw new ConfigError(file, error.problems);
    throw error;
  }
  return normalise(parsed.data, dirname(resolve(file)), file, parsed.locator);
}

/** Reads `file` and parses it (see parseConfig); an unreadable file is a ConfigError too, without a line. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [{ path: '', line: null, message: `cannot read the file: ${(error as Error).message}` }]);
  }
  return parseConfig(text, file, env);
}

function normalise(raw: RawConfig, baseDir: string, file: string, locator: Locator): Config {
  const dataDir = isAbsolute(raw.dataDir) ? raw.dataDir : resolve(baseDir, raw.dataDir);
  const problems: Placed[] = [];
  const disk = {
    minFreeBytes: parseBytes(raw.buffer.disk.minFree),
    resumeFreeBytes: parseBytes(raw.buffer.disk.resumeFree),
    checkIntervalMs: parseDuration(raw.buffer.disk.checkInterval),
  };
  if (disk.resumeFreeBytes < disk.minFreeBytes) {
    problems.push(locator.place(['buffer', 'disk', 'resumeFree'], 'must be at least buffer.disk.minFree (the watchdog needs hysteresis)'));
  }
  if (raw.forward.url !== null && !/^(https?|wss?):\/\//.test(raw.forward.url)) {
    problems.push(locator.place(['forward', 'url'], `expected http(s):// or ws(s)://, found "${raw.forward.url}"`));
  }
  if (raw.forward.serviceUrl !== null && parseServiceUrl(raw.forward.serviceUrl) === null) {
    problems.push(locator.place(['forward', 'serviceUrl'], `expected pulsar://host:port or pulsar+ssl://host:port, found "${raw.forward.serviceUrl}"`));
  }
  if ((raw.forward.transport === 'binary' || raw.forward.transport === 'native') && raw.forward.serviceUrl === null) {
    problems.push(locator.place(['forward', 'serviceUrl'], `required with forward.transport ${raw.forward.transport} (pulsar://host:port or pulsar+ssl://host:port)`));
  }
  if (raw.control.url !== null && !/^amqps?:\/\//.test(raw.control.url)) {
    problems.push(locator.place(['control', 'url'], `expected amqp:// or amqps://, found "${raw.control.url}"`));
  } else if (raw.control.url !== null && /^amqps?:\/\/[^/@]*:[^/@]*@/.test(raw.control.url)) {
    problems.push(locator.place(['control', 'url'], 'holds a password: put it in control.password or control.passwordFile (a URL ends up in logs and process lists)'));
  }
  if (raw.control.enabled && raw.control.url === null) problems.push(locator.place(['control', 'url'], 'required when control.enabled is true'));
  problems.push(...adapterProblems(raw.inputs, locator));
  if (problems.length > 0) throw new ConfigError(file, inFileOrder(problems));
  return {
    site: raw.site,
    dataDir,
    logging: raw.logging,
    buffer: {
      path: isAbsolute(raw.buffer.file) ? raw.buffer.file : resolve(dataDir, raw.buffer.file),
      synchronous: raw.buffer.synchronous,
      groupCommit: raw.buffer.groupCommit,
      quotaBytes: parseBytes(raw.buffer.quota),
      policies: raw.buffer.policies,
      disk,
      maxBlockedBytes: parseBytes(raw.buffer.maxBlocked),
      maxStreams: raw.buffer.maxStreams,
      writerThread: raw.buffer.writerThread,
    },
    streams: raw.streams.map((s) => ({
      match: s.match,
      priority: s.priority,
      ttlMs: s.ttl === null ? null : parseDuration(s.ttl),
      expectedIntervalMs: s.expectedInterval === null ? null : parseDuration(s.expectedInterval),
    })),
    forward: {
      enabled: raw.forward.enabled,
      target: raw.forward.target,
      url: raw.forward.url,
      serviceUrl: raw.forward.serviceUrl,
      transport: raw.forward.transport,
      topic: raw.forward.topic,
      replicationCluster: raw.forward.replicationCluster,
      window: raw.forward.window,
      sendTimeoutMs: parseDuration(raw.forward.sendTimeout),
      maxMessageBytes: raw.forward.maxMessageSize === null ? null : parseBytes(raw.forward.maxMessageSize),
      brokerChecks: {
        enabled: raw.forward.brokerChecks.enabled,
        intervalMs: parseDuration(raw.forward.brokerChecks.interval),
        outageHorizonMs: parseDuration(raw.forward.brokerChecks.outageHorizon),
        bookieUrl: raw.forward.brokerChecks.bookieUrl,
      },
      deadLinkTimeoutMs: parseDuration(raw.forward.deadLinkTimeout),
      backoff: { initialMs: parseDuration(raw.forward.backoff.initial), maxMs: parseDuration(raw.forward.backoff.max) },
      bandwidth: {
        bytesPerSecond: raw.forward.bandwidth.limit === null ? null : parseBytes(raw.forward.bandwidth.limit),
        schedule: raw.forward.bandwidth.schedule.map((w) => ({
          from: w.from,
          to: w.to,
          bytesPerSecond: w.limit === null ? null : parseBytes(w.limit),
        })),
      },
      tls: raw.forward.tls,
      token: raw.forward.auth.token ?? (raw.forward.auth.tokenFile === undefined ? undefined : readFileSync(raw.forward.auth.tokenFile, 'utf8').trim()),
    },
    http: raw.http,
    control: {
      enabled: raw.control.enabled,
      url: raw.control.url,
      password: raw.control.password ?? (raw.control.passwordFile === undefined ? undefined : readFileSync(raw.control.passwordFile, 'utf8').trim()),
      queue: raw.control.queue,
      heartbeatMs: parseDuration(raw.control.heartbeat),
      backoff: { initialMs: parseDuration(raw.control.backoff.initial), maxMs: parseDuration(raw.control.backoff.max) },
      reportIntervalMs: parseDuration(raw.control.reportInterval),
      journal: { retentionMs: parseDuration(raw.control.journal.retention), maxEntries: raw.control.journal.maxEntries },
      tls: raw.control.tls,
    },
    jobs: raw.jobs,
    alarms: {
      backlogAgeMs: raw.alarms.backlogAge === null ? null : parseDuration(raw.alarms.backlogAge),
      diskFreeBytes: raw.alarms.diskFree === null ? null : parseBytes(raw.alarms.diskFree),
      linkDownMs: raw.alarms.linkDown === null ? null : parseDuration(raw.alarms.linkDown),
      staleInstruments: raw.alarms.staleInstruments,
      record: raw.alarms.record,
    },
    inputs: raw.inputs,
  };
}

type AdapterUser = { name: string; adapter?: string; adapterOptions?: unknown; subscriptions?: Array<{ adapter: string; adapterOptions?: unknown }> };

/**
 * Adapter names and options are checked with the config, so a typo is caught before anything
 * opens. `inputs` are schema-valid inputs; null entries (inputs with schema errors) are skipped.
 */
function adapterProblems(inputs: ReadonlyArray<AdapterUser | null>, locator: Locator): Placed[] {
  const problems: Placed[] = [];
  inputs.forEach((input, i) => {
    if (input === null) return;
    const uses: Array<{ path: Segment[]; adapter: string; options: unknown }> = [];
    if (input.adapter !== undefined) uses.push({ path: ['inputs', i], adapter: input.adapter, options: input.adapterOptions });
    input.subscriptions?.forEach((sub, j) => uses.push({ path: ['inputs', i, 'subscriptions', j], adapter: sub.adapter, options: sub.adapterOptions }));
    for (const use of uses) {
      const checked = validateAdapterOptions(use.adapter, use.options ?? {});
      if (checked.ok) continue;
      problems.push(locator.place([...use.path, use.adapter in adapters ? 'adapterOptions' : 'adapter'], checked.errors.join('; ')));
    }
  });
  return problems;
}
