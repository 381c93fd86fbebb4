/**
 * Loading configuration: YAML (with line numbers kept for errors), then `SKYHAUL_<PATH>`
 * environment overrides, then schema validation with defaults, then normalisation into the
 * typed `Config`. Every problem is reported at once, each naming the path, the line, what was
 * expected and what was found.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import AjvModule, { type ErrorObject } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { adapters, validateAdapterOptions } from '../../firmware-adapters/index.ts';
import { SkyhaulError } from '../errors.ts';
import { configSchema } from './schema.ts';
import type { Config, RawConfig } from './types.ts';
import { parseBytes, parseDuration } from './units.ts';

export interface ConfigProblem {
  path: string;
  line: number | null;
  message: string;
}

export class ConfigError extends SkyhaulError {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super('SKY_ERR_CONFIG', `${file}: ${problems.length} problem(s)\n${problems.map((p) => `  ${formatProblem(file, p)}`).join('\n')}`);
  }
}

export function formatProblem(file: string, problem: ConfigProblem): string {
  return `${file}${problem.line === null ? '' : `:${problem.line}`}: ${problem.path || '(top level)'}: ${problem.message}`;
}

interface SchemaNode {
  type?: string | readonly string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  anyOf?: readonly SchemaNode[];
}

/** Env names for every scalar setting the schema reaches through objects: SKYHAUL_FORWARD_DEAD_LINK_TIMEOUT. */
export function envOverrides(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (node: SchemaNode, path: string[]): void => {
    if (node.properties !== undefined) {
      for (const [key, child] of Object.entries(node.properties)) walk(child, [...path, key]);
      return;
    }
    if (node.type === 'array' || node.items !== undefined) return;
    const name = `SKYHAUL_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
    out.set(name, path);
  };
  walk(configSchema as unknown as SchemaNode, []);
  return out;
}

// ajv ships CommonJS with a default export; under NodeNext that is `.default`.
const Ajv = AjvModule.default;
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true, verbose: true });
const validate = ajv.compile(configSchema);

function lineOf(doc: Document, counter: LineCounter, path: (string | number)[]): number | null {
  // Walk up to the nearest node that exists in the file (a missing key reports its parent).
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node?.range !== undefined) return counter.linePos(node.range[0]).line;
    const range = doc.contents?.range;
    if (depth === 0 && range != null) return counter.linePos(range[0]).line;
  }
  return null;
}

function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}"`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

/** Turns ajv's errors into one message per offending path, the most specific first. */
function problemsFrom(errors: ErrorObject[], data: unknown, doc: Document, counter: LineCounter): ConfigProblem[] {
  const byPath = new Map<string, ErrorObject[]>();
  for (const error of errors) {
    const path = error.instancePath;
    const list = byPath.get(path) ?? [];
    list.push(error);
    byPath.set(path, list);
  }
  const problems: ConfigProblem[] = [];
  for (const [pointer, list] of byPath) {
    const segments = pointer
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const shown = segments.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('').replace(/^\./, '');
    const found = describeFound(valueAt(data, segments));
    const messages = new Set<string>();
    for (const error of list) {
      switch (error.keyword) {
        case 'additionalProperties': {
          const key = (error.params as { additionalProperty: string }).additionalProperty;
          const allowed = Object.keys((error.parentSchema as SchemaNode).properties ?? {});
          problems.push({
            path: shown ? `${shown}.${key}` : key,
            line: lineOf(doc, counter, [...segments, key]),
            message: `unknown key '${key}'; expected one of: ${allowed.join(', ')}`,
          });
          continue;
        }
        case 'required': {
          const key = (error.params as { missingProperty: string }).missingProperty;
          problems.push({ path: shown ? `${shown}.${key}` : key, line: lineOf(doc, counter, segments), message: 'required but missing' });
          continue;
        }
        case 'enum':
          messages.add(`expected one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}, found ${found}`);
          break;
        case 'type':
          messages.add(`expected ${(error.params as { type: string }).type}, found ${found}`);
          break;
        case 'pattern':
          messages.add(`expected a value matching ${(error.params as { pattern: string }).pattern}, found ${found}`);
          break;
        case 'anyOf':
        case 'oneOf':
        case 'if':
          break;
        case 'const':
          break;
        default:
          messages.add(`${error.message ?? error.keyword}, found ${found}`);
      }
    }
    const anyOf = list.find((e) => e.keyword === 'anyOf');
    if (anyOf !== undefined) {
      const schema = anyOf.parentSchema as { description?: string; 'x-expected'?: string; anyOf?: Array<{ 'x-expected'?: string; type?: string }> };
      const expected = schema['x-expected'] ?? schema.anyOf?.map((branch) => branch['x-expected'] ?? branch.type).filter(Boolean).join(' or ');
      messages.clear();
      messages.add(`expected ${expected ?? 'another value'}, found ${found}`);
    }
    if (messages.size === 0 && list.some((e) => e.keyword === 'oneOf')) {
      messages.add(`does not match any known form (check 'type' and the keys for that type); found ${found}`);
    }
    if (messages.size > 0) problems.push({ path: shown, line: lineOf(doc, counter, segments), message: [...messages].join('; ') });
  }
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

function applyEnv(data: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const [name, path] of envOverrides()) {
    const raw = env[name];
    if (raw === undefined) continue;
    const value: unknown = parseDocument(raw).toJS();
    let node = data;
    for (const key of path.slice(0, -1)) {
      if (node[key] === undefined || node[key] === null || typeof node[key] !== 'object') node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
}

/** Parses and validates configuration text; throws ConfigError listing every problem. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', line: counter.linePos(e.pos[0]).line, message: `bad YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  const parsed: unknown = doc.toJS() ?? {};
  if (!isMap(doc.contents) && doc.contents !== null && (isSeq(doc.contents) || isScalar(doc.contents))) {
    throw new ConfigError(file, [{ path: '', line: 1, message: `expected a mapping at the top level, found ${describeFound(parsed)}` }]);
  }
  const data = parsed as Record<string, unknown>;
  applyEnv(data, env);
  if (!validate(data)) throw new ConfigError(file, problemsFrom(validate.errors ?? [], data, doc, counter));
  return normalise(data as unknown as RawConfig, dirname(resolve(file)), file, (path) => lineOf(doc, counter, path));
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [{ path: '', line: null, message: `cannot read the file: ${(error as Error).message}` }]);
  }
  return parseConfig(text, file, env);
}

type Locate = (path: (string | number)[]) => number | null;

function normalise(raw: RawConfig, baseDir: string, file: string, locate: Locate): Config {
  const dataDir = isAbsolute(raw.dataDir) ? raw.dataDir : resolve(baseDir, raw.dataDir);
  const problems: ConfigProblem[] = [];
  const disk = {
    minFreeBytes: parseBytes(raw.buffer.disk.minFree),
    resumeFreeBytes: parseBytes(raw.buffer.disk.resumeFree),
    checkIntervalMs: parseDuration(raw.buffer.disk.checkInterval),
  };
  if (disk.resumeFreeBytes < disk.minFreeBytes) {
    problems.push({ path: 'buffer.disk.resumeFree', line: locate(['buffer', 'disk', 'resumeFree']), message: 'must be at least buffer.disk.minFree (the watchdog needs hysteresis)' });
  }
  if (raw.forward.url !== null && !/^(https?|wss?):\/\//.test(raw.forward.url)) {
    problems.push({ path: 'forward.url', line: locate(['forward', 'url']), message: `expected http(s):// or ws(s)://, found "${raw.forward.url}"` });
  }
  problems.push(...adapterProblems(raw.inputs as Parameters<typeof adapterProblems>[0], locate));
  if (problems.length > 0) throw new ConfigError(file, problems);
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
    jobs: raw.jobs,
    alarms: {
      backlogAgeMs: raw.alarms.backlogAge === null ? null : parseDuration(raw.alarms.backlogAge),
      diskFreeBytes: raw.alarms.diskFree === null ? null : parseBytes(raw.alarms.diskFree),
      linkDownMs: raw.alarms.linkDown === null ? null : parseDuration(raw.alarms.linkDown),
      staleInstruments: raw.alarms.staleInstruments,
      record: raw.alarms.record,
    },
    inputs: raw.inputs.map(withBranchDefaults),
  };
}

/**
 * ajv does not apply defaults inside oneOf branches: validate each input against its own branch
 * (compiled once, with defaults) so nested defaults (backoff, tls…) are filled as well.
 */
const branchValidators = new Map<string, ReturnType<typeof ajv.compile>>();
function withBranchDefaults<T extends { type: string }>(input: T): T {
  const branches = configSchema.properties.inputs.items.oneOf as unknown as Array<{ properties: { type: { const: string } } }>;
  let validateBranch = branchValidators.get(input.type);
  if (validateBranch === undefined) {
    const branch = branches.find((b) => b.properties.type.const === input.type);
    if (branch === undefined) return input;
    validateBranch = ajv.compile(branch);
    branchValidators.set(input.type, validateBranch);
  }
  const filled = structuredClone(input);
  validateBranch(filled);
  return filled;
}

/** Adapter names and options are checked with the config, so a typo is caught before anything opens. */
function adapterProblems(
  inputs: Array<{ type: string; adapter?: string; adapterOptions?: unknown; subscriptions?: Array<{ adapter: string; adapterOptions?: unknown }> }>,
  locate: Locate,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  inputs.forEach((input, i) => {
    const uses: Array<{ path: (string | number)[]; adapter: string; options: unknown }> = [];
    if (input.adapter !== undefined) uses.push({ path: ['inputs', i], adapter: input.adapter, options: input.adapterOptions });
    input.subscriptions?.forEach((sub, j) => uses.push({ path: ['inputs', i, 'subscriptions', j], adapter: sub.adapter, options: sub.adapterOptions }));
    for (const use of uses) {
      const checked = validateAdapterOptions(use.adapter, use.options ?? {});
      if (checked.ok) continue;
      const key = use.adapter in adapters ? 'adapterOptions' : 'adapter';
      const shown = use.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
      problems.push({ path: `${shown}.${key}`, line: locate([...use.path, key]), message: checked.errors.join('; ') });
    }
  });
  return problems;
}
