/**
 * JSON Schema in the registry: validation with ajv (a maintained validator: draft-07 by default,
 * 2019-09 and 2020-12 by `$schema`), and compatibility by OUR OWN structural rules.
 *
 * Why our own code here: the project's rule is "our own code only where nothing maintained
 * exists". A maintained npm package that compares two JSON Schemas does exist — `json-schema-diff`
 * (Atlassian, Apache-2.0: it reports the values a new schema adds and removes) — but it is not
 * installed in this workspace and could not be installed for this change. So this module
 * implements the narrow rules Confluent documents for JSON Schema compatibility ("JSON Schema
 * compatibility rules" in Confluent's serdes documentation): the reader must accept every document
 * the writer accepts, judged keyword by keyword, with Confluent's content models for objects:
 *
 *  - type: the reader's types include the writer's (`integer` reads as `number`, not back);
 *  - enum/const: the reader's values include the writer's;
 *  - string/number/array/object bounds (maxLength, minimum, maxItems, minProperties, multipleOf,
 *    …): the reader's are as wide or wider; `pattern`, `format`, `uniqueItems` may be dropped,
 *    not added or changed;
 *  - properties: a property both declare is compared recursively; one the reader drops must be
 *    covered by the reader's additionalProperties/patternProperties (an open content model covers
 *    all); one the reader adds is fine when the writer's content model is closed, and refused when
 *    it is open (the writer may have written anything under that name) unless the new property
 *    accepts anything; a property the reader newly requires is refused unless it has a default
 *    (Confluent's exception);
 *  - additionalProperties: the reader may open, not close or narrow, a writer's content model;
 *  - anyOf/oneOf: every writer branch must be readable by some reader branch; allOf: the reader's
 *    every branch must read the writer, a writer's allOf is read when one of its branches is;
 *  - local `$ref`s (`#/definitions/…`, `#/$defs/…`) are followed;
 *  - any other validation keyword (if/then/else, not, dependencies, contains, propertyNames,
 *    unevaluated*, prefixItems, tuple `items`, remote $ref, …) must be unchanged: a change there
 *    is refused as "not checked by this registry" rather than passed unchecked.
 *
 * Annotations (title, description, default, examples, $comment, $id, $schema, readOnly,
 * writeOnly, deprecated) never matter.
 */
import AjvModule from 'ajv';
import Ajv2019Module from 'ajv/dist/2019.js';
import Ajv2020Module from 'ajv/dist/2020.js';
import { sortedJson } from './avro.ts';
import type { Direction, Problem, SchemaFormat } from './compatibility.ts';
import { invalidSchema } from './errors.ts';

/** A parsed JSON Schema (a boolean schema or an object). */
export interface ParsedJsonSchema {
  root: boolean | Record<string, unknown>;
  text: string;
  canonical: string;
}

type Schema = boolean | Record<string, unknown>;

// ajv instances are costly to build; one per dialect. `strict: false`: unknown keywords and formats
// are allowed, as every registry allows them (they are annotations to a validator that does not know them).
// ajv is CommonJS: under Node's ESM loader its classes are the module's `default` (as lib/schema-config uses it).
const Ajv = AjvModule.default;
const Ajv2019 = Ajv2019Module.default;
const Ajv2020 = Ajv2020Module.default;
type Validator = InstanceType<typeof Ajv>;
const options = { strict: false, allErrors: false, logger: false as const, validateFormats: false };
let validators: { draft07: Validator; d2019: Validator; d2020: Validator } | null = null;
function validatorFor(schema: Schema): Validator {
  validators ??= { draft07: new Ajv(options), d2019: new Ajv2019(options) as Validator, d2020: new Ajv2020(options) as Validator };
  const dialect = typeof schema === 'object' && typeof schema.$schema === 'string' ? schema.$schema : '';
  if (dialect.includes('2020-12')) return validators.d2020;
  if (dialect.includes('2019-09')) return validators.d2019;
  return validators.draft07;
}

/** Parses and validates a JSON Schema text (ajv compiles it); RegistryError 42201 when it is not one. */
export function parseJsonSchema(text: string): ParsedJsonSchema {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    throw invalidSchema(`not JSON: ${(error as Error).message}`);
  }
  if (typeof root !== 'boolean' && (root === null || typeof root !== 'object' || Array.isArray(root))) throw invalidSchema('a JSON Schema is an object or a boolean');
  try {
    const ajv = validatorFor(root as Schema);
    ajv.compile(root as Schema);
    // compile() caches by $id: remove it again so a later text with the same $id compiles afresh.
    if (typeof root === 'object' && typeof (root as Record<string, unknown>).$id === 'string') ajv.removeSchema((root as Record<string, unknown>).$id as string);
  } catch (error) {
    throw invalidSchema(`not a JSON Schema: ${(error as Error).message}`);
  }
  return { root: root as Schema, text: JSON.stringify(root), canonical: sortedJson(root) };
}

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', '$id', 'id', '$schema', 'readOnly', 'writeOnly', 'deprecated', 'definitions', '$defs']);
/** Keywords this module reasons about; any other must be unchanged. */
const HANDLED = new Set([
  'type', 'enum', 'const', 'maxLength', 'minLength', 'pattern', 'format', 'maximum', 'minimum', 'exclusiveMaximum', 'exclusiveMinimum', 'multipleOf',
  'properties', 'required', 'additionalProperties', 'patternProperties', 'maxProperties', 'minProperties', 'items', 'additionalItems', 'maxItems', 'minItems', 'uniqueItems',
  'anyOf', 'oneOf', 'allOf', '$ref',
]);
const TYPES = ['null', 'boolean', 'object', 'array', 'number', 'integer', 'string'];

class Comparison {
  readonly problems: Problem[] = [];
  private readonly active = new Set<string>();

  constructor(
    private readonly readerRoot: Schema,
    private readonly writerRoot: Schema,
    private readonly direction: Direction,
  ) {}

  private add(field: string, rule: string): void {
    this.problems.push({ field, rule });
  }

  /** old -> new wording for a pair given as (writer, reader). */
  private change(writerValue: string, readerValue: string): string {
    return this.direction === 'backward' ? `from ${writerValue} to ${readerValue}` : `from ${readerValue} to ${writerValue}`;
  }

  /** Words a rule about what the reader does that the writer does not, from the older schema to the newer. */
  private narrowed(what: string): string {
    return this.direction === 'backward' ? `${what} added or narrowed` : `${what} removed or widened`;
  }

  private resolve(schema: Schema, root: Schema, field: string): Schema | null {
    let current = schema;
    for (let hops = 0; typeof current === 'object' && typeof current.$ref === 'string' && hops < 32; hops++) {
      const ref = current.$ref as string;
      if (!ref.startsWith('#')) {
        this.add(field, `$ref ${ref} is not local: not checked by this registry`);
        return null;
      }
      const target = ref
        .slice(1)
        .split('/')
        .filter((p) => p !== '')
        .map((p) => decodeURIComponent(p).replaceAll('~1', '/').replaceAll('~0', '~'))
        .reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), root);
      if (typeof target !== 'boolean' && (target === null || typeof target !== 'object')) {
        this.add(field, `$ref ${ref} does not resolve`);
        return null;
      }
      // Sibling keywords of a $ref (2019-09+) apply too: merge them over the target conservatively.
      const { $ref: _ref, ...siblings } = current;
      const meaningful = Object.keys(siblings).filter((k) => !ANNOTATIONS.has(k));
      current = meaningful.length === 0 ? (target as Schema) : { allOf: [target, siblings] };
    }
    return current;
  }

  /** Can `reader` accept every document `writer` accepts? Problems are recorded at `field`. */
  compare(writerIn: Schema, readerIn: Schema, field: string): void {
    const writer = this.resolve(writerIn, this.writerRoot, field);
    const reader = this.resolve(readerIn, this.readerRoot, field);
    if (writer === null || reader === null) return;
    const key = `${field}|${sortedJson(writer)}|${sortedJson(reader)}`;
    if (this.active.has(key)) return; // a recursive schema: this pair is being compared further up
    this.active.add(key);
    try {
      this.compareResolved(writer, reader, field);
    } finally {
      this.active.delete(key);
    }
  }

  private acceptsAnything(schema: Schema): boolean {
    return schema === true || (typeof schema === 'object' && Object.keys(schema).every((k) => ANNOTATIONS.has(k)));
  }

  private compareResolved(writer: Schema, reader: Schema, field: string): void {
    if (writer === false || this.acceptsAnything(reader)) return;
    if (reader === false) return this.add(field, this.direction === 'backward' ? 'schema changed to false (accepts nothing)' : 'schema changed from false (accepted nothing)');
    if (writer === true || this.acceptsAnything(writer)) return this.add(field, this.narrowed('constraints'));
    const w = writer as Record<string, unknown>;
    const r = reader as Record<string, unknown>;

    // Combinators first: they decide how the rest is matched.
    const readerSum = (r.anyOf ?? r.oneOf) as Schema[] | undefined;
    const writerSum = (w.anyOf ?? w.oneOf) as Schema[] | undefined;
    if (Array.isArray(r.allOf)) {
      const { allOf, ...rest } = r;
      for (const [i, branch] of (allOf as Schema[]).entries()) this.compare(writer, branch, `${field}.allOf[${i}]`);
      if (Object.keys(rest).some((k) => !ANNOTATIONS.has(k))) this.compare(writer, rest, field);
      return;
    }
    if (Array.isArray(w.allOf)) {
      const { allOf, ...rest } = w;
      const candidates = [...(allOf as Schema[]), ...(Object.keys(rest).some((k) => !ANNOTATIONS.has(k)) ? [rest] : [])];
      if (candidates.some((branch) => this.trial(branch, reader, field))) return;
      return this.add(field, `no part of the allOf is read by the other schema`);
    }
    if (Array.isArray(writerSum)) {
      const { anyOf: _a, oneOf: _o, ...rest } = w;
      for (const [i, branch] of writerSum.entries()) {
        const merged = Object.keys(rest).some((k) => !ANNOTATIONS.has(k)) ? { allOf: [rest, branch] } : branch;
        this.compare(merged, reader, `${field}.${w.anyOf !== undefined ? 'anyOf' : 'oneOf'}[${i}]`);
      }
      return;
    }
    if (Array.isArray(readerSum)) {
      const { anyOf: _a, oneOf: _o, ...rest } = r;
      const restMatters = Object.keys(rest).some((k) => !ANNOTATIONS.has(k));
      if (restMatters && !this.trial(writer, rest, field)) return this.compare(writer, rest, field);
      if (readerSum.some((branch) => this.trial(writer, branch, field))) return;
      return this.add(field, `type changed ${this.change(describeType(w), readerSum.map((b) => describeType(b)).join(' | '))}`);
    }

    for (const keyword of new Set([...Object.keys(w), ...Object.keys(r)])) {
      if (ANNOTATIONS.has(keyword) || HANDLED.has(keyword)) continue;
      if (sortedJson(w[keyword]) !== sortedJson(r[keyword])) this.add(field, `keyword ${keyword} changed: not checked by this registry`);
    }

    // type
    const wTypes = typesOf(w);
    const rTypes = typesOf(r);
    const unreadable = [...wTypes].filter((t) => !rTypes.has(t) && !(t === 'integer' && rTypes.has('number')));
    if (unreadable.length > 0) return this.add(field, `type changed ${this.change(describeType(w), describeType(r))}`);

    // enum / const
    const wValues = valuesOf(w);
    const rValues = valuesOf(r);
    if (rValues !== null) {
      if (wValues === null) this.add(field, this.narrowed('enum'));
      else {
        const missing = wValues.filter((v) => !rValues.some((x) => sortedJson(x) === sortedJson(v)));
        if (missing.length > 0) this.add(field, `enum values ${this.direction === 'backward' ? 'removed' : 'added'}: ${missing.map((v) => JSON.stringify(v)).join(', ')}`);
      }
    }

    // Bounds: the reader's must be as wide.
    const upper = (name: string): void => {
      const a = w[name];
      const b = r[name];
      if (typeof b !== 'number') return;
      if (typeof a !== 'number' || a > b) this.add(field, typeof a === 'number' ? `${name} ${this.change(String(a), String(b))}` : this.narrowed(name));
    };
    const lower = (name: string): void => {
      const a = w[name];
      const b = r[name];
      if (typeof b !== 'number') return;
      if (typeof a !== 'number' || a < b) this.add(field, typeof a === 'number' ? `${name} ${this.change(String(a), String(b))}` : this.narrowed(name));
    };
    const same = (name: string): void => {
      if (r[name] === undefined || sortedJson(r[name]) === sortedJson(w[name])) return;
      this.add(field, w[name] === undefined ? this.narrowed(name) : `${name} ${this.change(JSON.stringify(w[name]), JSON.stringify(r[name]))}`);
    };
    for (const name of ['maxLength', 'maximum', 'exclusiveMaximum', 'maxItems', 'maxProperties']) upper(name);
    for (const name of ['minLength', 'minimum', 'exclusiveMinimum', 'minItems', 'minProperties']) lower(name);
    for (const name of ['pattern', 'format']) same(name);
    if (typeof r.multipleOf === 'number' && !(typeof w.multipleOf === 'number' && Number.isInteger(w.multipleOf / r.multipleOf))) {
      this.add(field, typeof w.multipleOf === 'number' ? `multipleOf ${this.change(String(w.multipleOf), String(r.multipleOf))}` : this.narrowed('multipleOf'));
    }
    if (r.uniqueItems === true && w.uniqueItems !== true) this.add(field, this.narrowed('uniqueItems'));

    if (wTypes.has('object') || w.properties !== undefined || r.properties !== undefined) this.compareObjects(w, r, field);
    if (wTypes.has('array') || w.items !== undefined || r.items !== undefined) this.compareArrays(w, r, field);
  }

  /** Records into a scratch list: true when `reader` reads `writer` without problems. */
  private trial(writer: Schema, reader: Schema, field: string): boolean {
    const scratch = new Comparison(this.readerRoot, this.writerRoot, this.direction);
    scratch.compare(writer, reader, field);
    return scratch.problems.length === 0;
  }

  private compareObjects(w: Record<string, unknown>, r: Record<string, unknown>, field: string): void {
    const wProps = (w.properties ?? {}) as Record<string, Schema>;
    const rProps = (r.properties ?? {}) as Record<string, Schema>;
    const wRequired = new Set((w.required ?? []) as string[]);
    const rRequired = new Set((r.required ?? []) as string[]);
    const at = (name: string): string => (field === '(root)' ? name : `${field}.${name}`);

    for (const name of rRequired) {
      if (wRequired.has(name)) continue;
      const declared = rProps[name];
      if (typeof declared === 'object' && declared.default !== undefined) continue; // Confluent: a new required property with a default is compatible
      this.add(at(name), this.direction === 'backward' ? 'property became required (without a default)' : 'property no longer required, and the older schema requires it');
    }
    for (const name of new Set([...Object.keys(wProps), ...Object.keys(rProps)])) {
      const ws = wProps[name];
      const rs = rProps[name];
      if (ws !== undefined && rs !== undefined) {
        this.compare(ws, rs, at(name));
      } else if (ws !== undefined) {
        // The reader no longer declares it: its content model must take whatever the writer wrote there.
        const cover = additionalFor(r, name);
        if (cover === false) this.add(at(name), this.direction === 'backward' ? 'property removed from a closed content model' : 'property added to a closed content model');
        else if (cover !== true) this.compare(ws, cover, at(name));
      } else if (rs !== undefined) {
        // The writer never declared it: whatever its content model let it write under this name must read.
        const source = additionalFor(w, name);
        if (source === true) {
          if (!this.acceptsAnything(rs)) this.add(at(name), this.direction === 'backward' ? 'property added to an open content model' : 'property removed from an open content model');
        } else if (source !== false) {
          this.compare(source, rs, at(name));
        }
      }
    }
    // additionalProperties: what neither declares.
    const wAdditional = w.additionalProperties ?? true;
    const rAdditional = r.additionalProperties ?? true;
    if (wAdditional !== false && !this.acceptsAnything(rAdditional as Schema)) {
      if (rAdditional === false) this.add(`${at('additionalProperties')}`, this.direction === 'backward' ? 'content model closed' : 'content model opened');
      else this.compare(wAdditional as Schema, rAdditional as Schema, at('additionalProperties'));
    }
    if (sortedJson(w.patternProperties ?? {}) !== sortedJson(r.patternProperties ?? {}) && r.patternProperties !== undefined) {
      this.add(at('patternProperties'), `patternProperties changed: not checked by this registry`);
    }
  }

  private compareArrays(w: Record<string, unknown>, r: Record<string, unknown>, field: string): void {
    const wItems = w.items ?? true;
    const rItems = r.items ?? true;
    if (Array.isArray(wItems) || Array.isArray(rItems)) {
      if (sortedJson(wItems) !== sortedJson(rItems) || sortedJson(w.additionalItems ?? true) !== sortedJson(r.additionalItems ?? true)) {
        this.add(`${field}[]`, 'tuple items changed: not checked by this registry');
      }
      return;
    }
    this.compare(wItems as Schema, rItems as Schema, `${field}[]`);
  }
}

/** What an object schema says about a property it does not declare: true (anything), false, or a schema. */
function additionalFor(schema: Record<string, unknown>, name: string): Schema {
  for (const [pattern, sub] of Object.entries((schema.patternProperties ?? {}) as Record<string, Schema>)) {
    if (new RegExp(pattern, 'u').test(name)) return sub;
  }
  const additional = schema.additionalProperties;
  return additional === undefined ? true : (additional as Schema);
}

function typesOf(schema: Record<string, unknown>): Set<string> {
  if (typeof schema.type === 'string') return new Set([schema.type]);
  if (Array.isArray(schema.type)) return new Set(schema.type as string[]);
  if (schema.const !== undefined || Array.isArray(schema.enum)) {
    const values = valuesOf(schema) ?? [];
    return new Set(values.map((v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v === 'number' ? 'number' : typeof v)));
  }
  return new Set(TYPES);
}

function valuesOf(schema: Record<string, unknown>): unknown[] | null {
  if (schema.const !== undefined) return [schema.const];
  if (Array.isArray(schema.enum)) return schema.enum as unknown[];
  return null;
}

function describeType(schema: Schema): string {
  if (typeof schema === 'boolean') return String(schema);
  if (typeof schema.type === 'string') return schema.type;
  if (Array.isArray(schema.type)) return `[${(schema.type as string[]).join(',')}]`;
  if (typeof schema.$ref === 'string') return schema.$ref;
  if (Array.isArray(schema.enum) || schema.const !== undefined) return `enum ${JSON.stringify(valuesOf(schema))}`;
  return 'any';
}

/** JSON Schema compatibility by the rules above. */
export const jsonSchemaFormat: SchemaFormat<ParsedJsonSchema> = {
  readProblems(reader, writer, direction) {
    const comparison = new Comparison(reader.root, writer.root, direction);
    comparison.compare(writer.root, reader.root, '(root)');
    return comparison.problems;
  },
};
