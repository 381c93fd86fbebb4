/**
 * Readings: an adapter stream's payload `{ fields, units, flags?, device_time? }` (firmware-adapters/
 * adapter.ts `readingPayload`, schema `streamSchema`) as an Avro record.
 *
 * Avro record `<namespace>.Reading`, namespace `skyhaul.adapter.<adapter>.<suffix>` (`-` -> `_`;
 * no suffix for a `*` stream); its fields, in this order, each only when the JSON Schema has
 * what it carries:
 *
 *   fields             record `<namespace>.Fields`, default {}: one field per declared JSON field,
 *                      sorted by JSON name, named by `toAvroName`, type ["null", double|long|
 *                      string|boolean] (JSON number|integer|string|boolean), default null. Null
 *                      when the payload had null or did not have the field.
 *   additional_fields  map of ["null","boolean","double","string"], default {}: the fields an
 *                      open schema (`additionalFields`: json-lines, csv, nut-upsd's unknown
 *                      variables) allows beyond the declared ones, by their JSON names, unmapped.
 *                      A JSON integer travels as a double (exact up to 2^53, as in JSON itself).
 *   null_fields        array of string, default []: the declared fields the payload set to JSON
 *                      null (the instrument marked the value invalid or "no data"), by JSON name.
 *                      A declared field null in `fields` but not listed here was absent from the
 *                      payload (the instrument did not send it): the two differ in JSON, and a
 *                      round trip must give the payload back.
 *   units              map of string, default {}: UCUM code per field (JSON names).
 *   flags              array of string, default []: READING_FLAGS codes; [] when the payload had none.
 *   device_time        ["null","long"], default null: the instrument's own time (ms since epoch).
 *
 * Every field has a default, so an adapter change that adds a field (declared or not) leaves the
 * new schema able to read data written with the old one (BACKWARD), and a change of a field's
 * type does not (Avro schema resolution; avsc's `createResolver` and the registry agree).
 *
 * toAvro checks the payload against the whole JSON Schema (types, declared and additional
 * properties, units' `const`, flags' `enum`/`minItems`/`uniqueItems`), not only against what Avro
 * could hold: the registry accepted the adapter's schema, and a record that breaks it goes to the
 * dead-letter topic with the reason rather than into the lake (central invariant 10).
 */
import type { JsonSchema } from './catalogue.ts';
import { checkNamespace, recordValue, type AvroField, type AvroPrimitive, type AvroRecordSchema, type AvroRecordValue, type SubjectKind } from './avro.ts';
import { CatalogueError, SchemaMismatchError } from './errors.ts';
import { AVRO_SCALAR, checkKey, checkScalar, checkText, isPlainObject, mismatchType, onlyKeywords, parseJsonPayload, scalarOf, subschema, typeList, type JsonScalarType } from './json.ts';
import { fromAvroName, toAvroName } from './names.ts';

interface DeclaredField {
  json: string;
  avro: string;
  type: JsonScalarType;
  nullable: boolean;
}

/** Additional field value types an open `fields` schema may allow, in Avro union order. */
const ADDITIONAL_TYPES: Array<['null' | 'boolean' | 'number' | 'string', AvroPrimitive]> = [
  ['null', 'null'],
  ['boolean', 'boolean'],
  ['number', 'double'],
  ['string', 'string'],
];

/** Compiles one stream's JSON Schema (`streamSchema` shape) into its subject kind. */
export function readingKind(subject: string, namespace: string, schema: JsonSchema): SubjectKind {
  const where = `subject ${subject}`;
  checkNamespace(namespace, where);
  onlyKeywords(schema, ['type', 'additionalProperties', 'required', 'properties'], where);
  if (schema.type !== 'object' || schema.additionalProperties !== false) throw new CatalogueError(`${where}: a reading schema is a closed object`);
  const properties = subschema(schema.properties, `${where}: properties`);
  const known = ['fields', 'units', 'flags', 'device_time'];
  for (const key of Object.keys(properties)) if (!known.includes(key)) throw new CatalogueError(`${where}: reading property '${key}' has no Avro mapping`);
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  for (const key of ['fields', 'units']) if (!required.includes(key) || properties[key] === undefined) throw new CatalogueError(`${where}: '${key}' must be a required property`);
  for (const key of required) if (key !== 'fields' && key !== 'units') throw new CatalogueError(`${where}: only fields and units may be required`);

  // fields: declared (properties) and additional (additionalProperties).
  const fieldsSchema = subschema(properties.fields, `${where}: fields`);
  onlyKeywords(fieldsSchema, ['type', 'properties', 'additionalProperties'], `${where}: fields`);
  if (fieldsSchema.type !== 'object') throw new CatalogueError(`${where}: fields must be of type object`);
  const declaredSchemas = subschema(fieldsSchema.properties ?? {}, `${where}: fields.properties`);
  const declared: DeclaredField[] = Object.keys(declaredSchemas)
    .sort()
    .map((json) => {
      const scalar = scalarOf(subschema(declaredSchemas[json], `${where}: fields.${json}`), `${where}: fields.${json}`);
      if (scalar.enum !== null) throw new CatalogueError(`${where}: fields.${json}: enum is not mapped`);
      return { json, avro: toAvroName(json), type: scalar.type, nullable: scalar.nullable };
    });
  const byJson = new Map(declared.map((d) => [d.json, d]));
  let additional: Set<string> | null = null;
  if (fieldsSchema.additionalProperties !== undefined && fieldsSchema.additionalProperties !== false) {
    const a = subschema(fieldsSchema.additionalProperties, `${where}: fields.additionalProperties`);
    onlyKeywords(a, ['type'], `${where}: fields.additionalProperties`);
    const types = typeList(a, `${where}: fields.additionalProperties`);
    // Avro unions of long and double are ambiguous for JavaScript numbers (avsc would wrap them).
    if (!types.every((t) => ADDITIONAL_TYPES.some(([j]) => j === t))) throw new CatalogueError(`${where}: additional fields of type ${JSON.stringify(types)}: only null, boolean, number, string are mapped`);
    additional = new Set(types);
  }

  // units: a `const` per declared unit, and any string for additional fields when open.
  const unitsSchema = subschema(properties.units, `${where}: units`);
  onlyKeywords(unitsSchema, ['type', 'properties', 'additionalProperties'], `${where}: units`);
  const unitConsts = new Map<string, string>();
  for (const [field, s] of Object.entries(subschema(unitsSchema.properties ?? {}, `${where}: units.properties`))) {
    const unit = subschema(s, `${where}: units.${field}`);
    onlyKeywords(unit, ['const'], `${where}: units.${field}`);
    if (typeof unit.const !== 'string') throw new CatalogueError(`${where}: units.${field} must be a string const`);
    unitConsts.set(field, unit.const);
  }
  let openUnits = false;
  if (unitsSchema.additionalProperties !== undefined && unitsSchema.additionalProperties !== false) {
    const a = subschema(unitsSchema.additionalProperties, `${where}: units.additionalProperties`);
    onlyKeywords(a, ['type'], `${where}: units.additionalProperties`);
    if (a.type !== 'string') throw new CatalogueError(`${where}: additional units must be strings`);
    openUnits = true;
  }

  // flags and device_time (optional in the payload; `readingPayload` writes them only when set).
  let flags: { codes: Set<string> | null; minItems: number; unique: boolean } | null = null;
  if (properties.flags !== undefined) {
    const f = subschema(properties.flags, `${where}: flags`);
    onlyKeywords(f, ['type', 'items', 'minItems', 'uniqueItems'], `${where}: flags`);
    const items = f.items === undefined ? {} : subschema(f.items, `${where}: flags.items`);
    onlyKeywords(items, ['enum', 'type'], `${where}: flags.items`);
    if (f.type !== 'array' || (items.type !== undefined && items.type !== 'string')) throw new CatalogueError(`${where}: flags must be an array of strings`);
    if (items.enum !== undefined && (!Array.isArray(items.enum) || !items.enum.every((c) => typeof c === 'string'))) throw new CatalogueError(`${where}: flags.items.enum must be strings`);
    const codes = items.enum === undefined ? null : new Set(items.enum as string[]);
    flags = { codes, minItems: typeof f.minItems === 'number' ? f.minItems : 0, unique: f.uniqueItems === true };
  }
  let deviceTime = false;
  if (properties.device_time !== undefined) {
    const d = subschema(properties.device_time, `${where}: device_time`);
    onlyKeywords(d, ['type'], `${where}: device_time`);
    if (d.type !== 'number' && d.type !== 'integer') throw new CatalogueError(`${where}: device_time must be a number`);
    deviceTime = true;
  }

  const avroSchema = readingAvroSchema(namespace, subject, schema, declaredSchemas, declared, unitConsts, additional, flags !== null, deviceTime);

  function toAvro(payload: Buffer): AvroRecordValue {
    const value = parseJsonPayload(subject, payload);
    if (!isPlainObject(value)) throw mismatchType(subject, null, value, 'a JSON object');
    // Object.hasOwn, not `in`: a key such as `toString` must not pass for a property.
    for (const key of Object.keys(value)) if (!Object.hasOwn(properties, key)) throw new SchemaMismatchError(subject, key, 'additionalProperties', 'not a property of a reading');
    for (const key of required) if (!Object.hasOwn(value, key)) throw new SchemaMismatchError(subject, key, 'required', 'missing');

    const fields = value.fields;
    if (!isPlainObject(fields)) throw mismatchType(subject, 'fields', fields, 'an object');
    const avroFields: Array<[string, unknown]> = declared.map((d) => [d.avro, null]);
    const index = new Map(declared.map((d, i) => [d.json, i]));
    const nullFields: string[] = [];
    const additionalFields: Array<[string, unknown]> = [];
    for (const [name, v] of Object.entries(fields)) {
      const path = `fields.${name}`;
      checkKey(subject, 'fields', name);
      const d = byJson.get(name);
      if (d !== undefined) {
        if (v === null) {
          if (!d.nullable) throw mismatchType(subject, path, v, `a ${d.type}`);
          nullFields.push(name);
        } else {
          checkScalar(subject, path, v, d.type);
          avroFields[index.get(name)!]![1] = v;
        }
      } else if (additional !== null) {
        const type = v === null ? 'null' : typeof v;
        if (!additional.has(type)) throw mismatchType(subject, path, v, `one of ${[...additional].join(', ')}`);
        if (typeof v === 'number' || typeof v === 'string') checkScalar(subject, path, v, type as JsonScalarType);
        additionalFields.push([name, v]);
      } else {
        throw new SchemaMismatchError(subject, path, 'additionalProperties', `'${name}' is not a field of this stream`);
      }
    }

    const units = value.units;
    if (!isPlainObject(units)) throw mismatchType(subject, 'units', units, 'an object');
    for (const [name, unit] of Object.entries(units)) {
      const path = `units.${name}`;
      checkKey(subject, 'units', name);
      if (typeof unit !== 'string') throw mismatchType(subject, path, unit, 'a string (a UCUM code)');
      checkText(subject, path, unit);
      const expected = unitConsts.get(name);
      if (expected !== undefined && unit !== expected) throw new SchemaMismatchError(subject, path, 'const', `unit '${unit}' is not the stream's '${expected}'`);
      if (expected === undefined && !openUnits) throw new SchemaMismatchError(subject, path, 'additionalProperties', `'${name}' has no unit in this stream`);
    }

    const out: AvroRecordValue = {};
    if (declared.length > 0) out.fields = Object.fromEntries(avroFields);
    if (additional !== null) out.additional_fields = Object.fromEntries(additionalFields);
    if (declared.length > 0) out.null_fields = nullFields;
    out.units = Object.fromEntries(Object.entries(units));
    if (flags !== null) out.flags = checkFlags(value.flags);
    if (deviceTime) out.device_time = checkDeviceTime(value.device_time);
    return out;
  }

  function checkFlags(value: unknown): string[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw mismatchType(subject, 'flags', value, 'an array');
    if (value.length < flags!.minItems) throw new SchemaMismatchError(subject, 'flags', 'minItems', `fewer than ${flags!.minItems} (a reading without flags has no flags key)`);
    value.forEach((flag: unknown, i) => {
      if (typeof flag !== 'string') throw mismatchType(subject, `flags[${i}]`, flag, 'a string');
      if (flags!.codes !== null && !flags!.codes.has(flag)) throw new SchemaMismatchError(subject, `flags[${i}]`, 'enum', `'${flag}' is not a READING_FLAGS code`);
      checkText(subject, `flags[${i}]`, flag);
      if (flags!.unique && value.indexOf(flag) !== i) throw new SchemaMismatchError(subject, `flags[${i}]`, 'uniqueItems', `'${flag}' repeated`);
    });
    return value as string[];
  }

  function checkDeviceTime(value: unknown): number | null {
    if (value === undefined) return null;
    checkScalar(subject, 'device_time', value, 'number');
    if (!Number.isSafeInteger(value)) throw new SchemaMismatchError(subject, 'device_time', 'range', `${String(value)} is not a whole number of ms since epoch (Avro long)`);
    return value as number;
  }

  function fromAvro(raw: unknown): Buffer {
    const value = recordValue(subject, null, raw);
    const fields: Array<[string, unknown]> = [];
    // Names are decoded by `fromAvroName`, not looked up in today's schema, so a value written
    // under an earlier version of this subject's schema comes back with its own fields.
    const nullFields = new Set(arrayOf(value.null_fields, 'null_fields'));
    if (value.fields !== undefined) {
      for (const [avroName, v] of Object.entries(recordValue(subject, 'fields', value.fields))) {
        const name = fromAvroName(avroName);
        if (v !== null) fields.push([name, v]);
        else if (nullFields.has(name)) fields.push([name, null]);
      }
    }
    if (value.additional_fields !== undefined) fields.push(...Object.entries(recordValue(subject, 'additional_fields', value.additional_fields)));
    const payload: Record<string, unknown> = {
      fields: Object.fromEntries(fields),
      units: value.units === undefined ? {} : Object.fromEntries(Object.entries(recordValue(subject, 'units', value.units))),
    };
    const flagList = arrayOf(value.flags, 'flags');
    if (flagList.length > 0) payload.flags = flagList;
    if (value.device_time !== undefined && value.device_time !== null) payload.device_time = value.device_time;
    return Buffer.from(JSON.stringify(payload));
  }

  function arrayOf(v: unknown, field: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new SchemaMismatchError(subject, field, 'avro', 'not an Avro array value');
    return v;
  }

  return { subject, avroSchema, toAvro, fromAvro };
}

function readingAvroSchema(
  namespace: string,
  subject: string,
  schema: JsonSchema,
  declaredSchemas: JsonSchema,
  declared: DeclaredField[],
  unitConsts: Map<string, string>,
  additional: Set<string> | null,
  flags: boolean,
  deviceTime: boolean,
): AvroRecordSchema {
  const title = typeof schema.title === 'string' ? `${schema.title}. ` : '';
  const fields: AvroField[] = [];
  if (declared.length > 0) {
    fields.push({
      name: 'fields',
      doc: 'Declared fields; null when the payload had null (see null_fields) or did not have the field.',
      // Every member has a default, so the record has one too: a stream that declares its first
      // field (or a generic one that starts declaring) still reads data written before.
      default: {},
      type: {
        type: 'record',
        name: 'Fields',
        fields: declared.map((d) => {
          const description = (declaredSchemas[d.json] as JsonSchema).description;
          const doc = [typeof description === 'string' ? description : '', unitConsts.has(d.json) ? `Unit: ${unitConsts.get(d.json)} (UCUM).` : '', d.avro === d.json ? '' : `JSON name: ${d.json}.`]
            .filter((s) => s !== '')
            .join(' ');
          return { name: d.avro, type: ['null', AVRO_SCALAR[d.type]], default: null, ...(doc === '' ? {} : { doc }) };
        }),
      },
    });
  }
  if (additional !== null) {
    const union = ADDITIONAL_TYPES.filter(([j]) => additional.has(j)).map(([, a]) => a);
    fields.push({
      name: 'additional_fields',
      doc: 'Fields beyond the declared ones, by JSON name (an integer travels as a double).',
      type: { type: 'map', values: union.length === 1 ? union[0]! : union },
      default: {},
    });
  }
  if (declared.length > 0) {
    fields.push({ name: 'null_fields', doc: 'Declared fields the payload set to null (value invalid or no data), by JSON name; other nulls in fields were absent.', type: { type: 'array', items: 'string' }, default: [] });
  }
  fields.push({ name: 'units', doc: 'UCUM code per field, by JSON name.', type: { type: 'map', values: 'string' }, default: {} });
  if (flags) fields.push({ name: 'flags', doc: 'READING_FLAGS codes: what was done to the reading.', type: { type: 'array', items: 'string' }, default: [] });
  if (deviceTime) fields.push({ name: 'device_time', doc: "The instrument's own time (ms since epoch) when the record's source time is not it.", type: ['null', 'long'], default: null });
  return { type: 'record', name: 'Reading', namespace, doc: `${title}Subject ${subject}.`, fields };
}
