/**
 * The small part of JSON Schema (draft-07) that the catalogue uses, read strictly: a keyword this
 * module does not map is a CatalogueError (never silently ignored, or a payload could pass the
 * bridge that the adapter's own schema refuses); and the checks on payload values that go with it.
 */
import { TextDecoder } from 'node:util';
import { CatalogueError, SchemaMismatchError } from './errors.ts';
import type { JsonSchema } from './catalogue.ts';

/** Keywords that only annotate: allowed anywhere, ignored by the mapping (they become Avro `doc`). */
const ANNOTATIONS = new Set(['title', 'description', '$comment']);

/** The JSON scalar types a payload value may have, and the Avro primitive type each maps to. */
export type JsonScalarType = 'number' | 'integer' | 'string' | 'boolean';
export type AvroScalarType = 'double' | 'long' | 'string' | 'boolean';

export const AVRO_SCALAR: Record<JsonScalarType, AvroScalarType> = { number: 'double', integer: 'long', string: 'string', boolean: 'boolean' };

/** Throws CatalogueError if `schema` has a keyword outside `allowed` (annotations always allowed). */
export function onlyKeywords(schema: JsonSchema, allowed: string[], where: string): void {
  for (const keyword of Object.keys(schema)) {
    if (!allowed.includes(keyword) && !ANNOTATIONS.has(keyword)) throw new CatalogueError(`${where}: JSON Schema keyword '${keyword}' has no Avro mapping here`);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** A subschema, or CatalogueError. */
export function subschema(value: unknown, where: string): JsonSchema {
  if (!isPlainObject(value)) throw new CatalogueError(`${where}: not a JSON Schema object`);
  return value;
}

/** `type` as a list (a single name or an array of names). */
export function typeList(schema: JsonSchema, where: string): string[] {
  const type = schema.type;
  const list = typeof type === 'string' ? [type] : Array.isArray(type) ? type : undefined;
  if (list === undefined || list.length === 0 || !list.every((t) => typeof t === 'string')) throw new CatalogueError(`${where}: 'type' missing or malformed`);
  return list as string[];
}

/**
 * A scalar field's schema: `{ type: T }` or `{ type: [T, 'null'] }` with T one of number,
 * integer, string, boolean, and optionally `enum` (strings, with type string).
 */
export function scalarOf(schema: JsonSchema, where: string): { type: JsonScalarType; nullable: boolean; enum: string[] | null } {
  onlyKeywords(schema, ['type', 'enum'], where);
  const types = typeList(schema, where);
  const nonNull = types.filter((t) => t !== 'null');
  const type = nonNull[0];
  if (nonNull.length !== 1 || !(type === 'number' || type === 'integer' || type === 'string' || type === 'boolean')) {
    throw new CatalogueError(`${where}: type ${JSON.stringify(schema.type)} is not one scalar type (number, integer, string, boolean), nullable or not`);
  }
  let values: string[] | null = null;
  if (schema.enum !== undefined) {
    if (type !== 'string' || !Array.isArray(schema.enum) || !schema.enum.every((v) => typeof v === 'string')) throw new CatalogueError(`${where}: only an enum of strings is mapped`);
    values = schema.enum as string[];
  }
  return { type, nullable: types.includes('null'), enum: values };
}

// A lone UTF-16 surrogate: JSON.parse accepts "\ud800", but Avro strings are UTF-8, which cannot
// encode it (avsc would write U+FFFD): the value would not come back as it went in.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Throws SchemaMismatchError `range` if the string cannot cross UTF-8 unchanged. */
export function checkText(subject: string, field: string, text: string): void {
  if (LONE_SURROGATE.test(text)) throw new SchemaMismatchError(subject, field, 'range', 'a string with a lone UTF-16 surrogate cannot be encoded as an Avro string (UTF-8)');
}

/**
 * Throws SchemaMismatchError `propertyNames` for a key avsc cannot carry in a map (`__proto__`),
 * and `range` for one UTF-8 cannot encode; `parent` is the JSON path of the object holding it.
 */
export function checkKey(subject: string, parent: string, key: string): void {
  // avsc rebuilds a map with `obj[key] = value`: a key `__proto__` would set the prototype instead.
  if (key === '__proto__') throw new SchemaMismatchError(subject, `${parent}.${key}`, 'propertyNames', "the name '__proto__' cannot cross an Avro map (avsc)");
  checkText(subject, `${parent}.${key}`, key);
}

/**
 * Checks a JSON value against a scalar type: `type` for the wrong JSON type (integer: a number
 * with a fraction), `range` for what Avro cannot carry (a non-finite double, an integer beyond
 * ±(2^53-1), which avsc's `long` refuses and a JSON reader could not hold exactly anyway).
 */
export function checkScalar(subject: string, field: string, value: unknown, type: JsonScalarType): void {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw mismatchType(subject, field, value, 'a string');
      checkText(subject, field, value);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw mismatchType(subject, field, value, 'a boolean');
      return;
    case 'number':
      if (typeof value !== 'number') throw mismatchType(subject, field, value, 'a number');
      if (!Number.isFinite(value)) throw new SchemaMismatchError(subject, field, 'range', `${value} is not a finite number`);
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw mismatchType(subject, field, value, 'an integer');
      if (!Number.isSafeInteger(value)) throw new SchemaMismatchError(subject, field, 'range', `${value} is beyond ±(2^53-1), which Avro long (avsc) cannot carry exactly`);
      return;
  }
}

export function mismatchType(subject: string, field: string | null, value: unknown, expected: string): SchemaMismatchError {
  return new SchemaMismatchError(subject, field, 'type', `${describe(value)} is not ${expected}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `the ${typeof value} ${String(value)}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The payload as a JSON value: SchemaMismatchError `json` if it is not UTF-8 JSON text. */
export function parseJsonPayload(subject: string, payload: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new SchemaMismatchError(subject, null, 'json', 'the payload is not UTF-8 text');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new SchemaMismatchError(subject, null, 'json', `the payload is not JSON (${(error as Error).message})`);
  }
}
