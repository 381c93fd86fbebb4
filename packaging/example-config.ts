/**
 * Writes the documented configuration files from the schema (src/config/schema.ts, which takes
 * each input's options from src/inputs/<transport>/schema.ts), so that the docs cannot drift from
 * what the daemon accepts:
 *
 *   config/skyhaul.example.yaml   every setting, set to its default, its description above it;
 *                                 a valid configuration as it stands (site.id: example-site).
 *                                 Committed; test/packaging/deb.test.ts fails when it is stale.
 *   template (packages only)      /etc/skyhaul/skyhaul.yaml in the .deb and the tarball: the same
 *                                 text with every default commented out, dataDir set to
 *                                 /var/lib/skyhaul, and no site: the daemon refuses to run
 *                                 (exit 2, "site: required") until the site engineer sets one.
 *
 *   tsx packaging/example-config.ts            rewrite config/skyhaul.example.yaml
 *   tsx packaging/example-config.ts --check    exit 1 if it is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { configSchema } from '../src/config/schema.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const EXAMPLE_CONFIG = join(root, 'config', 'skyhaul.example.yaml');
/** Where the template is installed, and the data directory it sets. */
export const SYSTEM_CONFIG = '/etc/skyhaul/skyhaul.yaml';
export const SYSTEM_DATA_DIR = '/var/lib/skyhaul';

interface Node {
  type?: string | readonly string[];
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Record<string, Node>;
  required?: readonly string[];
  items?: Node;
  anyOf?: readonly Node[];
  oneOf?: readonly Node[];
  'x-expected'?: string;
}

/** Values for settings that have no default but need one in an example. */
const EXAMPLE_VALUES: Record<string, unknown> = {
  'site.id': 'example-site',
  'site.name': 'Example site',
  'streams[].match': 'weather/**',
  'forward.bandwidth.schedule[].from': '20:00',
  'forward.bandwidth.schedule[].to': '06:00',
  'forward.bandwidth.schedule[].limit': '64KiB',
};

type Mode = 'example' | 'template';

interface Line {
  /** Text without indentation. */
  text: string;
  depth: number;
  /** A setting (`key: value` or `key:`) rather than a description. */
  setting: boolean;
  /** Commented out in the example too (no default, or nothing but such settings inside). */
  optional?: boolean;
  /** Part of a list's commented example entries. */
  item?: boolean;
}

function scalar(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value) && value.length === 0) return '[]';
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) return '{}';
  return stringify(value, { lineWidth: 0 }).trim();
}

function isObject(node: Node): boolean {
  return node.properties !== undefined && node.oneOf === undefined;
}

/** What a value must look like, in words: enum, range, pattern, or the shared forms' wording. */
function constraints(node: Node): string[] {
  if (node.const !== undefined) return [];
  const out: string[] = [];
  const branches = node.anyOf ?? [];
  const nullable = branches.some((b) => b.type === 'null') || (Array.isArray(node.type) && node.type.includes('null'));
  const shape = branches.find((b) => b.type !== 'null') ?? node;
  const expected = shape['x-expected'] ?? node['x-expected'];
  if (shape.enum !== undefined) out.push(`One of: ${shape.enum.map((v) => String(v)).join(', ')}.`);
  if (expected === undefined) {
    const range: string[] = [];
    if (shape.minimum !== undefined) range.push(`at least ${shape.minimum}`);
    if (shape.exclusiveMinimum !== undefined) range.push(`more than ${shape.exclusiveMinimum}`);
    if (shape.maximum !== undefined) range.push(`at most ${shape.maximum}`);
    if (range.length > 0) out.push(`${shape.type === 'integer' ? 'An integer' : 'A number'}, ${range.join(' and ')}.`);
    if (shape.pattern !== undefined && shape.enum === undefined) out.push(`Must match ${shape.pattern}`);
  } else if (!/^A (size|duration):/.test(node.description ?? '')) {
    out.push(`${expected.charAt(0).toUpperCase()}${expected.slice(1)}.`);
  }
  if (nullable && node.default !== null) out.push('null turns it off.');
  return out;
}

function note(node: Node, required: boolean): string {
  return [node.description, ...constraints(node), required ? 'Required.' : undefined].filter((t): t is string => t !== undefined && t !== '').join(' ');
}

/** Comment lines of at most ~92 characters. */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (current.length > 0 && current.length + word.length + 1 > 92) {
      lines.push(current);
      current = word;
    } else current = current.length === 0 ? word : `${current} ${word}`;
  }
  if (current.length > 0) lines.push(current);
  return lines.map((l) => `# ${l}`);
}

function placeholder(node: Node, path: string): unknown {
  if (path in EXAMPLE_VALUES) return EXAMPLE_VALUES[path];
  if (node.const !== undefined) return node.const;
  if (node.enum !== undefined) return node.enum[0];
  const type = Array.isArray(node.type) ? node.type[0] : (node.type ?? node.anyOf?.[0]?.type);
  return `<${String(type ?? 'value')}>`;
}

/** Lines for one property (and what it contains). */
function property(key: string, node: Node, path: string, depth: number, required: boolean, lines: Line[]): void {
  for (const text of wrap(note(node, required))) lines.push({ text, depth, setting: false });
  if (isObject(node)) {
    const header: Line = { text: `${key}:`, depth, setting: true };
    lines.push(header);
    const from = lines.length;
    object(node, path, depth + 1, lines);
    // Nothing set inside: comment the key out too (a bare `key:` would be null, not {}).
    if (!lines.slice(from).some((l) => l.setting && l.optional !== true)) header.optional = true;
    return;
  }
  if (node.type === 'array' && node.items !== undefined) {
    lines.push({ text: `${key}: ${scalar(node.default ?? [])}`, depth, setting: true });
    for (const text of entries(node.items, `${path}[]`)) lines.push({ text: text.startsWith('# ') ? text : `#   ${text}`, depth, setting: false, item: true });
    return;
  }
  if (node.default !== undefined) {
    lines.push({ text: `${key}: ${scalar(node.default)}`, depth, setting: true });
    return;
  }
  const value = placeholder(node, path);
  lines.push({ text: `${key}: ${scalar(value)}`, depth, setting: true, optional: !(required && path in EXAMPLE_VALUES) });
}

function object(node: Node, path: string, depth: number, lines: Line[]): void {
  const required = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    property(key, child, path === '' ? key : `${path}.${key}`, depth, required.has(key), lines);
  }
}

/** YAML for one example value of `node` under `key`, each line with a trailing note. */
function exampleValue(key: string, node: Node, path: string, required: boolean): string[] {
  const comment = note(node, required && node.default === undefined && node.const === undefined);
  const suffix = comment === '' ? '' : `   # ${comment}`;
  if (isObject(node) && Object.keys(node.properties ?? {}).length > 0) {
    const childRequired = new Set(node.required ?? []);
    return [`${key}:${suffix}`, ...Object.entries(node.properties ?? {}).flatMap(([k, c]) => exampleValue(k, c, `${path}.${k}`, childRequired.has(k)).map((l) => `  ${l}`))];
  }
  if (node.type === 'array' && node.items !== undefined && node.default === undefined) {
    return [`${key}:${suffix}`, ...entries(node.items, `${path}[]`).map((l) => `  ${l}`)];
  }
  const value = node.default !== undefined ? node.default : placeholder(node, path);
  return [`${key}: ${scalar(value)}${suffix}`];
}

/**
 * A list's entries as YAML (not yet commented): one example entry per form (the inputs have one
 * per type), each after a `# ...` title line.
 */
function entries(items: Node, path: string): string[] {
  const out: string[] = [];
  const forms = items.oneOf ?? [items];
  for (const form of forms) {
    const shared = items.oneOf === undefined ? {} : (items.properties ?? {});
    const keys = [...new Set([...Object.keys(shared), ...Object.keys(form.properties ?? {})])];
    const required = new Set([...(items.required ?? []), ...(form.required ?? [])]);
    const typeName = form.properties?.type?.const;
    const title = typeName === undefined ? 'Each entry' : `An entry of type ${String(typeName)}`;
    out.push(`# ${title}${form.description === undefined ? ':' : ` - ${form.description}`}`);
    keys.forEach((key, i) => {
      const child: Node = { ...shared[key], ...form.properties?.[key] };
      exampleValue(key, child, `${path}.${key}`, required.has(key)).forEach((line, j) => {
        out.push(`${i === 0 && j === 0 ? '- ' : '  '}${line}`);
      });
    });
  }
  return out;
}

const HEADER = `# Skyhaul configuration: every setting, with its default and what it does.
#
# Generated from the schema (src/config/schema.ts; each input type's options come from
# src/inputs/<type>/schema.ts, with a sample.yaml and README.md beside it) by
# packaging/example-config.ts; do not edit by hand: \`npm run package:config\` rewrites it.
# Validate a file with \`skyhaul check-config FILE\`. Any scalar setting can also come from the
# environment: SKYHAUL_<PATH>, e.g. SKYHAUL_FORWARD_URL, SKYHAUL_LOGGING_LEVEL (they win over
# the file).
# Durations: milliseconds or "250ms", "15s", "30m", "12h", "7d". Sizes: bytes or "512KiB",
# "64MiB", "10GiB", "500MB".
`;

const TEMPLATE_HEADER = `# /etc/skyhaul/skyhaul.yaml - this site's Skyhaul configuration.
#
# Skyhaul does not start until site.id is set below (it exits with status 2, "site: required").
# Set it, point forward.url at the site's Pulsar web service (http://host:8080) and
# forward.serviceUrl at its binary protocol (pulsar://host:6650), add the instruments under
# inputs, then:
#   skyhaul check-config /etc/skyhaul/skyhaul.yaml && systemctl restart skyhaul
# Every other setting is shown commented out at its default. The same file with every setting
# uncommented: /usr/share/doc/skyhaul/examples/skyhaul.example.yaml.
`;

/** The configuration file text: `example` (valid, defaults set) or `template` (site unset). */
export function renderConfig(mode: Mode = 'example', schema: Node = configSchema as unknown as Node): string {
  const lines: Line[] = [];
  object(schema, '', 0, lines);
  const out: string[] = [mode === 'example' ? HEADER : TEMPLATE_HEADER];
  lines.forEach((line, i) => {
    // A blank line before each top-level setting (with its description), none inside a list's entries.
    const previous = lines[i - 1];
    if (line.depth === 0 && line.item !== true && previous !== undefined && (previous.depth !== 0 || previous.setting || previous.item === true)) out.push('');
    const indent = '  '.repeat(line.depth);
    let text = `${indent}${line.text}`;
    if (line.setting) {
      if (mode === 'template' && line.depth === 0 && line.text.startsWith('dataDir:')) text = `dataDir: ${SYSTEM_DATA_DIR}`;
      else if (line.optional === true || mode === 'template') text = `${indent}# ${line.text}`;
    }
    out.push(text);
  });
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n')}\n`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderConfig('example');
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(EXAMPLE_CONFIG, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      process.stderr.write(`${EXAMPLE_CONFIG} is out of date: run npm run package:config\n`);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(EXAMPLE_CONFIG, text);
    process.stdout.write(`wrote ${EXAMPLE_CONFIG}\n`);
  }
}
