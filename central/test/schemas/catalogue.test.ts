/**
 * The schema catalogue (src/record/adapter-schemas.json) is current and says what the code does:
 * the adapters' own stream schemas, a `*` schema that every configuration's readings of a
 * configurable adapter fit, and the daemon's payloads as src/daemon.ts writes them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule from 'ajv';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { adapterNames, getAdapter, readingPayload, safeDecode, schemaRef } from '../../../firmware-adapters/index.ts';
import { CATALOGUE_FILE, renderCatalogue } from '../../../packaging/adapter-schemas.ts';
import { CATALOGUE } from '../../src/schemas/catalogue.ts';
import { fixtureRecords, repoRoot } from './readings.ts';

const Ajv = AjvModule.default;
const ajv = new Ajv({ strict: false, allowUnionTypes: true });
/** Adapters whose streams and fields the site's configuration sets. */
const CONFIGURABLE = ['csv', 'json-lines'];

describe('src/record/adapter-schemas.json', () => {
  it('is what packaging/adapter-schemas.ts generates from the code now', () => {
    expect(readFileSync(CATALOGUE_FILE, 'utf8'), 'src/record/adapter-schemas.json is out of date: run npm run schemas').toBe(renderCatalogue());
  });

  it("lists every registered adapter with its schema reference and, unless configurable, its own stream schemas", () => {
    expect(Object.keys(CATALOGUE.adapters)).toEqual(adapterNames());
    for (const name of adapterNames()) {
      const entry = CATALOGUE.adapters[name]!;
      if (CONFIGURABLE.includes(name)) {
        expect(Object.keys(entry.streams), name).toEqual(['*']);
        continue;
      }
      const adapter = getAdapter(name);
      expect(entry, name).toEqual({ name, schemaRef: schemaRef(adapter), schemaVersion: adapter.schemaVersion, streams: JSON.parse(JSON.stringify(adapter.schemas)) });
    }
  });

  it("a configurable adapter's `*` schema takes the readings of any configuration of it, not other shapes", () => {
    const csv = ajv.compile(CATALOGUE.adapters.csv!.streams['*']!);
    const jsonLines = ajv.compile(CATALOGUE.adapters['json-lines']!.streams['*']!);
    // The fixture configurations (sample.yaml)...
    for (const { adapter, record } of fixtureRecords().filter((r) => CONFIGURABLE.includes(r.adapter))) {
      const validate = adapter === 'csv' ? csv : jsonLines;
      expect(validate(JSON.parse(record.payload.toString())), `${record.payload.toString()}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
    // ...and others: every column type, a stream named by the data, units, nesting.
    const columns = getAdapter('csv', { stream: 'dome', columns: [{ name: 'n', type: 'number', unit: 'Cel' }, { name: 'i', type: 'integer' }, { name: 's', type: 'string' }, { name: 'b', type: 'boolean' }] });
    const lines = getAdapter('json-lines', { streamField: 'kind', units: { 'a.b': 'deg' } });
    const decoded = [
      [csv, safeDecode(columns, Buffer.from('1.5,2,x,true'), { receivedAt: Date.UTC(2025, 0, 1) })],
      [csv, safeDecode(columns, Buffer.from('NA,NA,NA,NA'), { receivedAt: Date.UTC(2025, 0, 1) })],
      [jsonLines, safeDecode(lines, Buffer.from('{"kind":"mount","a":{"b":12.5},"c":[1],"d":null,"e":false}'), { receivedAt: 0 })],
    ] as const;
    for (const [validate, result] of decoded) {
      if (!result.ok) throw new Error(result.error.message);
      for (const reading of result.readings) expect(validate(JSON.parse(JSON.stringify(readingPayload(reading)))), ajv.errorsText(validate.errors)).toBe(true);
    }
    expect(csv({ fields: { n: { nested: 1 } }, units: {} })).toBe(false);
    expect(jsonLines({ fields: {}, units: { a: 1 } })).toBe(false);
  });

  it("describes the daemon's own payloads with the streams and keys src/daemon.ts writes", () => {
    const written = daemonAppends();
    expect(written.map((w) => w.schemaRef).sort()).toEqual(Object.keys(CATALOGUE.daemon).sort());
    for (const w of written) {
      const entry = CATALOGUE.daemon[w.schemaRef]!;
      expect(w.contentType, w.schemaRef).toBe('application/json');
      expect(w.stream, w.schemaRef).toBe(entry.stream);
      expect(w.keys.sort(), w.schemaRef).toEqual(Object.keys(entry.schema.properties as object).sort());
      expect((entry.schema.required as string[]).slice().sort(), w.schemaRef).toEqual(w.keys.sort());
    }
  });
});

interface DaemonAppend {
  schemaRef: string;
  stream: string;
  contentType: string;
  keys: string[];
}

/**
 * Every object literal in src/daemon.ts with a literal `schemaRef` (a buffer.append argument):
 * its stream (resolved through the module's string constants), content type, and the keys of the
 * object literal its payload JSON.stringify-s.
 */
function daemonAppends(): DaemonAppend[] {
  const file = join(repoRoot, 'src', 'daemon.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const constants = new Map<string, string>();
  const found: DaemonAppend[] = [];
  const text = (node: ts.Expression | undefined): string | undefined => {
    if (node === undefined) return undefined;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
    if (ts.isIdentifier(node)) return constants.get(node.text);
    return undefined;
  };
  const stringifiedKeys = (node: ts.Node): string[] | undefined => {
    if (ts.isCallExpression(node) && node.expression.getText(source) === 'JSON.stringify' && node.arguments[0] !== undefined && ts.isObjectLiteralExpression(node.arguments[0])) {
      return node.arguments[0].properties.map((p) => p.name?.getText(source) ?? '...');
    }
    return ts.forEachChild(node, stringifiedKeys);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer !== undefined && ts.isStringLiteral(node.initializer)) constants.set(node.name.text, node.initializer.text);
    if (ts.isObjectLiteralExpression(node)) {
      const props = new Map(node.properties.filter(ts.isPropertyAssignment).map((p) => [p.name.getText(source), p.initializer]));
      const ref = text(props.get('schemaRef'));
      if (ref !== undefined) {
        const payload = props.get('payload');
        found.push({ schemaRef: ref, stream: text(props.get('stream')) ?? '?', contentType: text(props.get('contentType')) ?? '?', keys: payload === undefined ? [] : (stringifiedKeys(payload) ?? []) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}
