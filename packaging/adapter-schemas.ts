/**
 * Writes src/record/adapter-schemas.json, the schema catalogue of the record contract: the JSON
 * Schema of every payload kind the edge writes with a schema reference, for the central services,
 * which share src/record/ with the edge but may not import firmware-adapters/ (ARCHITECTURE.md).
 * The bridge derives each registry subject's Avro schema from it (central/src/schemas/).
 *
 *   npm run schemas                             rewrite src/record/adapter-schemas.json
 *   tsx packaging/adapter-schemas.ts --check    exit 1 if it is out of date
 *
 * central/test/schemas/catalogue.test.ts fails when the committed file differs from what this
 * generates now. The shape is documented in central/src/schemas/catalogue.ts. Sources:
 *
 * - adapters: every registered adapter (firmware-adapters/index.ts `adapters`), made with its
 *   default options (`getAdapter(name)`); `streams` is its `schemas`, `schemaRef` its `schemaRef()`.
 *   An adapter whose streams depend on the site's configuration is made with its folder's
 *   sample.yaml options too: when it cannot be made without options (csv: its columns) or its
 *   sample options give other stream schemas than the defaults (json-lines: the stream names and
 *   units), no catalogue entry can name its streams and fields, so it gets one stream `*`: the open
 *   reading schema (`streamSchema(..., { additionalFields: true })` with no declared fields), which
 *   every reading of every configuration of it validates against.
 * - daemon: the payloads src/daemon.ts writes itself, described here by hand as it writes them
 *   (`onAlarm`, `runSelfTest`); central/test/schemas/catalogue.test.ts reads daemon.ts and fails
 *   when the keys or streams differ.
 *
 * Output is deterministic: every object's keys sorted, two-space indentation, final newline.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { AdapterEntry, Catalogue, DaemonPayloadEntry, JsonSchema } from '../central/src/schemas/catalogue.ts';
import { streamSchema, type FirmwareAdapter } from '../firmware-adapters/adapter.ts';
import { adapterNames, adapters, getAdapter, schemaRef, validateAdapterOptions } from '../firmware-adapters/index.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CATALOGUE_FILE = join(root, 'src', 'record', 'adapter-schemas.json');

/**
 * Registry names become Avro namespace segments (`-` -> `_`) and subject parts, stream suffixes
 * both as they are: lower-case letters, digits and single hyphens (names), `_` (suffixes), never
 * a dot (a dot would make two subjects ambiguous) and never a leading digit (Avro names).
 */
const ADAPTER_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const STREAM_SUFFIX = /^[a-z][a-z0-9_]*$/;

/** The options in firmware-adapters/<name>/sample.yaml (`inputs[0].adapterOptions`). */
function sampleOptions(name: string): unknown {
  const file = join(root, 'firmware-adapters', name, 'sample.yaml');
  const doc = parseYaml(readFileSync(file, 'utf8')) as { inputs?: { adapter?: string; adapterOptions?: unknown }[] };
  const input = doc.inputs?.[0];
  if (input?.adapter !== name) throw new Error(`${file}: inputs[0].adapter is not '${name}'`);
  return input.adapterOptions ?? {};
}

function adapterEntry(name: string): AdapterEntry {
  const definition = adapters[name]!;
  if (!ADAPTER_NAME.test(name)) throw new Error(`adapter name '${name}' cannot be part of an Avro namespace and a subject (${ADAPTER_NAME})`);
  const configured = getAdapter(name, sampleOptions(name));
  const byDefault: FirmwareAdapter | null = validateAdapterOptions(name, {}).ok ? getAdapter(name) : null;
  const generic = byDefault === null || JSON.stringify(sortKeys(byDefault.schemas)) !== JSON.stringify(sortKeys(configured.schemas));
  const adapter = byDefault ?? configured;
  if (adapter.name !== name || configured.schemaVersion !== adapter.schemaVersion) throw new Error(`adapter '${name}': name or schemaVersion depends on its options`);
  const streams: Record<string, JsonSchema> = generic
    ? { '*': streamSchema(`${definition.description} (streams and fields set by the site's configuration)`, {}, {}, { additionalFields: true }) }
    : adapter.schemas;
  for (const suffix of Object.keys(streams)) {
    if (suffix !== '*' && !STREAM_SUFFIX.test(suffix)) throw new Error(`adapter '${name}': stream suffix '${suffix}' cannot be part of a subject (${STREAM_SUFFIX})`);
  }
  return { name, schemaRef: schemaRef(adapter), schemaVersion: adapter.schemaVersion, streams };
}

/**
 * The daemon's own payloads, as src/daemon.ts writes them (JSON, content type application/json).
 * Times are ms since the epoch on the daemon's wall clock (`Date.now()`), hence integers.
 */
const DAEMON: DaemonPayloadEntry[] = [
  {
    schemaRef: 'skyhaul.alarm/v1',
    stream: '_skyhaul/alarms',
    schema: {
      $comment: "src/daemon.ts onAlarm(): one record per alarm raised or cleared (config alarms.record); Alarm from src/health/alarms.ts",
      type: 'object',
      title: 'Alarm raised or cleared on the edge daemon',
      additionalProperties: false,
      required: ['event', 'code', 'severity', 'message', 'since', 'at'],
      properties: {
        event: { type: 'string', enum: ['raised', 'cleared'], description: 'Whether the alarm was raised or cleared.' },
        code: { type: 'string', description: 'Stable alarm code, e.g. link_down, backlog_age, disk_free, instrument_stale, clock_unsynchronised.' },
        severity: { type: 'string', enum: ['warning', 'critical'], description: 'Severity of the alarm.' },
        message: { type: 'string', description: 'What is wrong, for an operator.' },
        since: { type: 'integer', description: 'When the alarm was raised (ms since epoch).' },
        at: { type: 'integer', description: 'When this record was written (ms since epoch).' },
      },
    },
  },
  {
    schemaRef: 'skyhaul.selftest/v1',
    stream: '_skyhaul/selftest',
    schema: {
      $comment: 'src/daemon.ts runSelfTest(): a canary through the buffer and, when forwarding is up, Pulsar',
      type: 'object',
      title: "The daemon's self-test canary",
      additionalProperties: false,
      required: ['canary'],
      properties: {
        canary: { type: 'integer', description: 'When the self-test started (ms since epoch); also the record source time.' },
      },
    },
  },
];

/** The catalogue from the code as it is now (keys not yet sorted). */
export function generateCatalogue(): Catalogue {
  return {
    $comment: 'Generated by packaging/adapter-schemas.ts from firmware-adapters/ and src/daemon.ts: do not edit, run npm run schemas. Shape: central/src/schemas/catalogue.ts.',
    adapters: Object.fromEntries(adapterNames().map((name) => [name, adapterEntry(name)])),
    daemon: Object.fromEntries(DAEMON.map((entry) => [entry.schemaRef, entry])),
  };
}

/** A copy with every object's keys in sorted order (arrays keep their order). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** The file's text: sorted keys, two-space indentation, final newline. */
export function renderCatalogue(): string {
  return `${JSON.stringify(sortKeys(generateCatalogue()), null, 2)}\n`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderCatalogue();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(CATALOGUE_FILE, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      process.stderr.write(`${CATALOGUE_FILE} is out of date: run npm run schemas\n`);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(CATALOGUE_FILE, text);
    process.stdout.write(`wrote ${CATALOGUE_FILE}\n`);
  }
}
