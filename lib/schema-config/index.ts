/**
 * Configuration files as both Skyhaul programs read them (the edge daemon, src/config/, and the
 * data-centre services, central/src/config/): YAML with line numbers kept, `<PREFIX>_<PATH>`
 * environment overrides, validation against a JSON Schema with defaults filled (ajv), and every
 * problem reported at once, each naming the path, the line (or the variable that set it), what
 * was expected and what was found. Generic: it knows no setting of either program.
 *
 * A `oneOf` with `discriminator: { propertyName }` validates only the branch the property selects;
 * a failed anyOf/oneOf is one problem, not one per branch.
 */
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';

/** One mistake in a configuration file: where (path and line) and what (expected, found). */
export interface ConfigProblem {
  /** Dotted path with list indices, e.g. `inputs[0].tag_prefix`; '' for the file as a whole. */
  path: string;
  /** 1-based line in the file; the nearest enclosing line when the key is missing; null when unknown. */
  line: number | null;
  message: string;
}

/** `file:line: path: message`, as `check-config` prints it. */
export function formatProblem(file: string, problem: ConfigProblem): string {
  return `${file}${problem.line === null ? '' : `:${problem.line}`}: ${problem.path || '(top level)'}: ${problem.message}`;
}

interface SchemaNode {
  type?: string | readonly string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  anyOf?: readonly SchemaNode[];
  oneOf?: readonly SchemaNode[];
  enum?: readonly unknown[];
  const?: unknown;
  'x-expected'?: string;
}

/**
 * Environment variable names for every scalar setting the schema reaches through objects:
 * `${prefix}_FORWARD_DEAD_LINK_TIMEOUT` for `forward.deadLinkTimeout`.
 */
export function envOverrides(schema: object, prefix: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (node: SchemaNode, path: string[]): void => {
    if (node.properties !== undefined) {
      for (const [key, child] of Object.entries(node.properties)) walk(child, [...path, key]);
      return;
    }
    if (node.type === 'array' || node.items !== undefined) return;
    const name = `${prefix}_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
    out.set(name, path);
  };
  walk(schema as SchemaNode, []);
  return out;
}

// ajv ships CommonJS with a default export; under NodeNext that is `.default`.
const Ajv = AjvModule.default;
// `discriminator`: a oneOf with `discriminator: { propertyName }` validates only the branch the
// property selects (and applies that branch's defaults), instead of every branch.
const ajv = new Ajv({ allErrors: true, useDefaults: true, discriminator: true, strict: false, allowUnionTypes: true, verbose: true });

export type Segment = string | number;

type Range = [number, number, number];

/** A problem and the offset in the file it points at, to list problems in file order. */
export interface Placed {
  problem: ConfigProblem;
  at: number;
}

/** Where a path is: its line in the parsed file, or the environment variable that set it. */
export class Locator {
  constructor(
    private readonly doc: Document,
    private readonly counter: LineCounter,
    /** Settings from `SKYHAUL_<PATH>`: shown path -> variable name. */
    private readonly overrides: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** The offset of `path`'s key (or list item); for a path not in the file, that of its nearest ancestor. */
  offset(path: Segment[]): number | null {
    for (let depth = path.length; depth >= 1; depth--) {
      const parent = this.doc.getIn(path.slice(0, depth - 1), true);
      const last = path[depth - 1];
      let range: Range | null | undefined;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === last);
        range = (pair?.key as { range?: Range } | undefined)?.range;
      } else if (isSeq(parent) && typeof last === 'number') {
        range = (parent.items[last] as { range?: Range } | undefined)?.range;
      }
      if (range != null) return range[0];
    }
    return this.doc.contents?.range?.[0] ?? null;
  }

  place(path: Segment[], message: string): Placed {
    const shown = showPath(path);
    for (let depth = path.length; depth >= 1; depth--) {
      // The file's line would point at a value the environment replaced: name the variable instead.
      const variable = this.overrides.get(showPath(path.slice(0, depth)));
      if (variable !== undefined) return { problem: { path: shown, line: null, message: `${message} (set by ${variable})` }, at: 0 };
    }
    const offset = this.offset(path);
    return { problem: { path: shown, line: offset === null ? null : this.counter.linePos(offset).line, message }, at: offset ?? 0 };
  }
}

export function inFileOrder(placed: Placed[]): ConfigProblem[] {
  return placed.sort((a, b) => a.at - b.at).map((p) => p.problem);
}

export function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}"`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, path: Segment[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

function segmentsOf(pointer: string): Segment[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** `inputs[0].tag_prefix` */
export function showPath(segments: Segment[]): string {
  return segments.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('').replace(/^\./, '');
}

/** What an anyOf/oneOf accepts, in words: its `x-expected`, else each branch's. */
function expectedOf(schema: SchemaNode): string {
  if (schema['x-expected'] !== undefined) return schema['x-expected'];
  const branches = schema.anyOf ?? schema.oneOf ?? [];
  const words = branches.map((branch) => {
    if (branch['x-expected'] !== undefined) return branch['x-expected'];
    if (branch.const !== undefined) return JSON.stringify(branch.const);
    if (branch.enum !== undefined) return `one of ${branch.enum.map((v) => JSON.stringify(v)).join(', ')}`;
    if (branch.type !== undefined) return typeWords(branch.type);
    return 'another form';
  });
  return words.join(', or ');
}

function typeWords(type: string | readonly string[]): string {
  return (Array.isArray(type) ? type : [type]).join(' or ');
}

/** The values of a discriminator's property that select a branch, in the schema's order. */
function tagValues(schema: SchemaNode, tag: string): string[] {
  return (schema.oneOf ?? []).flatMap((branch) => {
    const property = branch.properties?.[tag];
    return property?.const !== undefined ? [String(property.const)] : (property?.enum ?? []).map(String);
  });
}

interface Finding {
  segments: Segment[];
  message: string;
  /** Says what the whole value should have been (anyOf, oneOf, discriminator): the other findings at its path are its details. */
  whole: boolean;
}

function findingOf(error: ErrorObject, data: unknown): Finding {
  const segments = segmentsOf(error.instancePath);
  const found = describeFound(valueAt(data, segments));
  const params = error.params as Record<string, unknown>;
  const parent = error.parentSchema as SchemaNode;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = params.additionalProperty as string;
      return { segments: [...segments, key], message: `unknown key '${key}'; expected one of: ${Object.keys(parent.properties ?? {}).join(', ')}`, whole: false };
    }
    case 'required':
      return { segments: [...segments, params.missingProperty as string], message: 'required but missing', whole: false };
    case 'discriminator': {
      const tag = params.tag as string;
      const value = valueAt(data, [...segments, tag]);
      const known = tagValues(parent, tag).join(', ');
      const message = value === undefined ? `required but missing; expected one of: ${known}` : `expected one of: ${known}, found ${describeFound(value)}`;
      return { segments: [...segments, tag], message, whole: true };
    }
    case 'anyOf':
    case 'oneOf':
      // A oneOf that failed because two branches matched has no branch errors to explain it.
      if (params.passingSchemas != null) return { segments, message: `matches more than one form of ${expectedOf(parent)}; found ${found}`, whole: true };
      return { segments, message: `expected ${expectedOf(parent)}, found ${found}`, whole: true };
    case 'enum':
      return { segments, message: `expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, found ${found}`, whole: false };
    case 'const':
      return { segments, message: `expected ${JSON.stringify(params.allowedValue)}, found ${found}`, whole: false };
    case 'type':
      return { segments, message: `expected ${typeWords(params.type as string | string[])}, found ${found}`, whole: false };
    case 'pattern':
      return { segments, message: `expected a value matching ${params.pattern as string}, found ${found}`, whole: false };
    default:
      return { segments, message: `${error.message ?? error.keyword}, found ${found}`, whole: false };
  }
}

/**
 * Turns ajv's errors into one problem per mistake. ajv reports a failed anyOf/oneOf together with
 * every branch's own errors; those are details of the one mistake (a duration that is neither a
 * number nor a duration string), so the anyOf's message stands for them all. Inputs are a oneOf
 * with a discriminator, so only the branch their `type` selects is validated at all.
 */
function problemsFrom(errors: ErrorObject[], data: unknown, locator: Locator): Placed[] {
  const composites = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  // The same schema applies to every entry of a list: an error is a composite's detail only when
  // it is both under the composite's schema and at (or under) the value it failed on.
  const insideComposite = (error: ErrorObject): boolean =>
    composites.some(
      (c) => error.schemaPath.startsWith(`${c.schemaPath}/`) && (error.instancePath === c.instancePath || error.instancePath.startsWith(`${c.instancePath}/`)),
    );
  const byPath = new Map<string, Finding[]>();
  for (const error of errors) {
    if (insideComposite(error)) continue;
    const finding = findingOf(error, data);
    const key = showPath(finding.segments);
    byPath.set(key, [...(byPath.get(key) ?? []), finding]);
  }
  return [...byPath.values()].map((findings) => {
    const whole = findings.filter((f) => f.whole);
    const messages = new Set((whole.length > 0 ? whole : findings).map((f) => f.message));
    return locator.place(findings[0]!.segments, [...messages].join('; '));
  });
}

/** Sets the overridden settings in `data`; returns which: shown path -> variable name. */
function applyEnv(data: Record<string, unknown>, env: NodeJS.ProcessEnv, overrides: Map<string, string[]>): Map<string, string> {
  const applied = new Map<string, string>();
  for (const [name, path] of overrides) {
    const raw = env[name];
    if (raw === undefined) continue;
    applied.set(showPath(path), name);
    const value: unknown = parseDocument(raw).toJS();
    let node = data;
    for (const key of path.slice(0, -1)) {
      if (node[key] === undefined || node[key] === null || typeof node[key] !== 'object') node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return applied;
}


/** A file's problems, all of them (`problems` are in file order). */
export class ConfigProblems extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`${file}: ${problems.length} problem(s)\n${problems.map((p) => `  ${formatProblem(file, p)}`).join('\n')}`);
    this.name = 'ConfigProblems';
  }
}

/** What parsing gives the program: the validated data (defaults filled) and where each path is, for its own checks. */
export interface Parsed<T> {
  data: T;
  locator: Locator;
}

/**
 * One configuration format: a JSON Schema and the prefix of its environment overrides.
 * `parse` throws ConfigProblems listing every problem: bad YAML, a top level that is not a
 * mapping, or schema errors (with `extra` problems the program finds in the same pass, so one run
 * lists every mistake).
 */
export class SchemaConfig<T> {
  private readonly validate: ValidateFunction;
  readonly overrides: Map<string, string[]>;

  constructor(
    readonly schema: object,
    readonly envPrefix: string,
  ) {
    this.validate = ajv.compile(schema);
    this.overrides = envOverrides(schema, envPrefix);
  }

  parse(text: string, file: string, env: NodeJS.ProcessEnv, extra: (data: Record<string, unknown>, errors: ErrorObject[], locator: Locator) => Placed[] = () => []): Parsed<T> {
    const counter = new LineCounter();
    const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new ConfigProblems(
        file,
        doc.errors.map((e) => ({ path: '', line: counter.linePos(e.pos[0]).line, message: `bad YAML: ${e.message.split('\n')[0]}` })),
      );
    }
    const parsed: unknown = doc.toJS() ?? {};
    if (!isMap(doc.contents) && doc.contents !== null && (isSeq(doc.contents) || isScalar(doc.contents))) {
      throw new ConfigProblems(file, [{ path: '', line: 1, message: `expected a mapping at the top level, found ${describeFound(parsed)}` }]);
    }
    const data = parsed as Record<string, unknown>;
    const locator = new Locator(doc, counter, applyEnv(data, env, this.overrides));
    if (!this.validate(data)) {
      const errors = this.validate.errors ?? [];
      throw new ConfigProblems(file, inFileOrder([...problemsFrom(errors, data, locator), ...extra(data, errors, locator)]));
    }
    return { data: data as T, locator };
  }
}
