/**
 * Avro schemas in the registry: parsing and validation with avsc (`Type.forSchema`), identity of
 * two schema texts, and compatibility by avsc's reader/writer resolver
 * (`reader.createResolver(writer)`, Avro's schema resolution rules). The resolver alone decides;
 * when it refuses, `explain` walks both schemas to name the field and the rule for the message
 * (avsc's own error names only the two types), falling back to avsc's message.
 */
import avro from 'avsc';
import type { Direction, Problem, SchemaFormat } from './compatibility.ts';
import { invalidSchema } from './errors.ts';

/** A parsed Avro schema. */
export interface ParsedAvro {
  type: avro.Type;
  /** The text stored and served: the client's JSON, whitespace removed. */
  text: string;
  /** Identity for "the same schema": JSON with object keys sorted (key order means nothing in Avro). */
  canonical: string;
}

/** Object keys sorted at every level, arrays in order: two texts of one JSON value give one string. */
export function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${sortedJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Parses and validates an Avro schema text; RegistryError 42201 when it is not one. */
export function parseAvro(text: string): ParsedAvro {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalidSchema(`not JSON: ${(error as Error).message}`);
  }
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(json as avro.Schema);
  } catch (error) {
    throw invalidSchema(`not an Avro schema: ${(error as Error).message}`);
  }
  return { type, text: JSON.stringify(json), canonical: sortedJson(json) };
}

/** How a type is named in messages: `double`, `skyhaul.X`, `[null,double]`, `array<long>`. */
function describe(type: avro.Type): string {
  const t = type as avro.Type & { types?: avro.Type[]; itemsType?: avro.Type; valuesType?: avro.Type; name?: string };
  if (t.typeName === 'union' || t.typeName.startsWith('union:')) return `[${(t.types ?? []).map(describe).join(',')}]`;
  if (t.typeName === 'array') return `array<${describe(t.itemsType!)}>`;
  if (t.typeName === 'map') return `map<${describe(t.valuesType!)}>`;
  if (t.typeName.startsWith('logical:')) return describe((t as unknown as { underlyingType: avro.Type }).underlyingType);
  return t.name ?? t.typeName;
}

function canRead(reader: avro.Type, writer: avro.Type): Error | null {
  try {
    reader.createResolver(writer);
    return null;
  } catch (error) {
    return error as Error;
  }
}

interface Field {
  name: string;
  type: avro.Type;
  aliases: string[];
  defaultValue(): unknown;
}

const isUnion = (t: avro.Type): boolean => t.typeName === 'union' || t.typeName.startsWith('union:');
const COMPLEX = new Set(['record', 'error', 'array', 'map', 'enum', 'fixed']);
/** Same kind of type, and for named types the same unqualified name: the branch that evolved. */
function sameKind(a: avro.Type, b: avro.Type): boolean {
  if (a.typeName !== b.typeName) return false;
  const name = (t: avro.Type): string | undefined => (t as { name?: string }).name?.split('.').pop();
  return name(a) === name(b);
}

/**
 * Why `reader` cannot read `writer`'s data (empty when it can), worded from the older schema to
 * the newer: for 'backward' the reader is the newer one, for 'forward' the writer is.
 */
export function explain(reader: avro.Type, writer: avro.Type, direction: Direction, path = '(root)'): Problem[] {
  const failure = canRead(reader, writer);
  if (failure === null) return [];
  const [older, newer] = direction === 'backward' ? [writer, reader] : [reader, writer];
  const at = (name: string): string => (path === '(root)' ? name : `${path}.${name}`);
  const r = reader as avro.Type & { fields?: Field[]; name?: string; aliases?: string[]; symbols?: string[]; itemsType?: avro.Type; valuesType?: avro.Type; types?: avro.Type[]; size?: number };
  const w = writer as typeof r;

  if (isUnion(writer) || isUnion(reader)) {
    // A union changed: where a branch that cannot be read is a record, array, map or enum that the
    // other side also has, the change is inside it (a nested field): name that; else the union itself.
    const writerBranches = isUnion(writer) ? (w.types ?? []) : [writer];
    const readerBranches = isUnion(reader) ? (r.types ?? []) : [reader];
    const failing = writerBranches.filter((branch) => readerBranches.every((target) => canRead(target, branch) !== null));
    const nested = failing.flatMap((branch) => {
      const target = readerBranches.find((candidate) => sameKind(candidate, branch));
      return target !== undefined && COMPLEX.has(branch.typeName) ? explain(target, branch, direction, path) : [];
    });
    if (nested.length > 0) return nested;
    return [{ field: path, rule: `type changed from ${describe(older)} to ${describe(newer)}` }];
  }
  if (r.typeName === w.typeName && (r.typeName === 'record' || r.typeName === 'error')) {
    const names = [r.name, ...(r.aliases ?? [])].map((n) => n?.split('.').pop());
    if (!names.includes(w.name?.split('.').pop())) return [{ field: path, rule: `record name changed from ${describe(older)} to ${describe(newer)}` }];
    const problems: Problem[] = [];
    for (const field of r.fields ?? []) {
      const source = (w.fields ?? []).find((f) => f.name === field.name || field.aliases.includes(f.name));
      if (source === undefined) {
        if (field.defaultValue() === undefined) {
          problems.push({
            field: at(field.name),
            rule: direction === 'backward' ? 'field added without a default' : 'field removed, and the older schema declares it without a default',
          });
        }
      } else {
        problems.push(...explain(field.type, source.type, direction, at(field.name)));
      }
    }
    if (problems.length > 0) return problems;
  }
  if (r.typeName === 'array' && w.typeName === 'array') {
    const problems = explain(r.itemsType!, w.itemsType!, direction, `${path}[]`);
    if (problems.length > 0) return problems;
  }
  if (r.typeName === 'map' && w.typeName === 'map') {
    const problems = explain(r.valuesType!, w.valuesType!, direction, `${path}{}`);
    if (problems.length > 0) return problems;
  }
  if (r.typeName === 'enum' && w.typeName === 'enum') {
    const missing = (w.symbols ?? []).filter((s) => !(r.symbols ?? []).includes(s));
    if (missing.length > 0) {
      return [{ field: path, rule: direction === 'backward' ? `enum symbols removed: ${missing.join(', ')}` : `enum symbols added: ${missing.join(', ')}` }];
    }
  }
  if (r.typeName === 'fixed' && w.typeName === 'fixed' && r.size !== w.size) {
    return [{ field: path, rule: `fixed size changed from ${(older as typeof r).size} to ${(newer as typeof r).size}` }];
  }
  if (r.typeName === w.typeName && r.name !== undefined && w.name !== undefined && r.name !== w.name) {
    return [{ field: path, rule: `name changed from ${describe(older)} to ${describe(newer)}` }];
  }
  if (describe(reader) === describe(writer)) return [{ field: path, rule: failure.message }];
  return [{ field: path, rule: `type changed from ${describe(older)} to ${describe(newer)}` }];
}

/** Avro compatibility: avsc's resolver decides, `explain` words it. */
export const avroFormat: SchemaFormat<ParsedAvro> = {
  readProblems(reader, writer, direction) {
    return explain(reader.type, writer.type, direction);
  },
};
