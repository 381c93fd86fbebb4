/**
 * The daemon's own payloads (alarms, self-test canaries: catalogue `daemon`) as Avro records.
 *
 * Their JSON is a flat object whose every property is required and non-null (that is how
 * src/daemon.ts writes them), so the mapping is direct: Avro record `skyhaul.<kind>.<Kind>`
 * (`skyhaul.alarm/v1` -> `skyhaul.alarm.Alarm`), one field per property, sorted by JSON name,
 * named by `toAvroName`, typed long|double|string|boolean (JSON integer|number|string|boolean).
 * A JSON Schema `enum` of strings stays an Avro `string` whose value toAvro checks: a new alarm
 * event or severity is then a catalogue change, not a new Avro type with its own compatibility rules.
 */
import type { JsonSchema } from './catalogue.ts';
import { checkNamespace, recordValue, type AvroRecordSchema, type AvroRecordValue, type SubjectKind } from './avro.ts';
import { CatalogueError, SchemaMismatchError } from './errors.ts';
import { AVRO_SCALAR, checkScalar, isPlainObject, mismatchType, onlyKeywords, parseJsonPayload, scalarOf, subschema, type JsonScalarType } from './json.ts';
import { fromAvroName, isAvroName, toAvroName } from './names.ts';

interface Property {
  json: string;
  avro: string;
  type: JsonScalarType;
  enum: string[] | null;
  doc: string | undefined;
}

/** Compiles a daemon payload's JSON Schema; `namespace` e.g. `skyhaul.alarm`, `name` e.g. `Alarm`. */
export function daemonPayloadKind(subject: string, namespace: string, name: string, schema: JsonSchema): SubjectKind {
  const where = `subject ${subject}`;
  checkNamespace(namespace, where);
  if (!isAvroName(name)) throw new CatalogueError(`${where}: '${name}' is not an Avro name`);
  onlyKeywords(schema, ['type', 'additionalProperties', 'required', 'properties'], where);
  if (schema.type !== 'object' || schema.additionalProperties !== false) throw new CatalogueError(`${where}: a daemon payload schema is a closed object`);
  const propertySchemas = subschema(schema.properties, `${where}: properties`);
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  const properties: Property[] = Object.keys(propertySchemas)
    .sort()
    .map((json) => {
      const s = subschema(propertySchemas[json], `${where}: ${json}`);
      const scalar = scalarOf(s, `${where}: ${json}`);
      // Optional or nullable properties would need a presence mark to round-trip; none exist.
      if (scalar.nullable || !required.includes(json)) throw new CatalogueError(`${where}: ${json}: only required, non-null properties are mapped`);
      return { json, avro: toAvroName(json), type: scalar.type, enum: scalar.enum, doc: typeof s.description === 'string' ? s.description : undefined };
    });

  const avroSchema: AvroRecordSchema = {
    type: 'record',
    name,
    namespace,
    doc: `${typeof schema.title === 'string' ? `${schema.title}. ` : ''}Subject ${subject}.`,
    fields: properties.map((p) => ({
      name: p.avro,
      type: AVRO_SCALAR[p.type],
      ...(p.doc === undefined && p.enum === null ? {} : { doc: [p.doc ?? '', p.enum === null ? '' : `One of: ${p.enum.join(', ')}.`].filter((s) => s !== '').join(' ') }),
    })),
  };

  function toAvro(payload: Buffer): AvroRecordValue {
    const value = parseJsonPayload(subject, payload);
    if (!isPlainObject(value)) throw mismatchType(subject, null, value, 'a JSON object');
    const byJson = new Map(properties.map((p) => [p.json, p]));
    for (const key of Object.keys(value)) if (!byJson.has(key)) throw new SchemaMismatchError(subject, key, 'additionalProperties', `'${key}' is not a property of this payload`);
    const out: AvroRecordValue = {};
    for (const p of properties) {
      if (!Object.hasOwn(value, p.json)) throw new SchemaMismatchError(subject, p.json, 'required', 'missing');
      const v = value[p.json];
      checkScalar(subject, p.json, v, p.type);
      if (p.enum !== null && !p.enum.includes(v as string)) throw new SchemaMismatchError(subject, p.json, 'enum', `${JSON.stringify(v)} is not one of ${p.enum.join(', ')}`);
      out[p.avro] = v;
    }
    return out;
  }

  function fromAvro(raw: unknown): Buffer {
    const value = recordValue(subject, null, raw);
    return Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(value).map(([k, v]) => [fromAvroName(k), v]))));
  }

  return { subject, avroSchema, toAvro, fromAvro };
}
