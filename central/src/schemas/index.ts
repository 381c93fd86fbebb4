/**
 * Registry subjects and Avro values for records, from the schema catalogue of the record
 * contract (src/record/adapter-schemas.json; see catalogue.ts). Pure: no I/O, no registry calls;
 * the bridge registers `avroSchemaFor(subject)` under `subject` (compatibility
 * BACKWARD_TRANSITIVE, set per subject) and encodes `toAvroValue(...)` in the Confluent wire
 * format with the registry client.
 *
 *   const subject = subjectFor(record.schemaRef, record.stream, record.contentType);
 *   const value = toAvroValue(subject, record);        // SchemaMismatchError -> dead-letter topic
 *   ...
 *   const payload = fromAvroValue(subject, decoded);    // the payload back (ETL, archive, tests)
 *
 * Subjects (letters, digits, `.`, `-`, `_`), one per payload kind and version:
 *
 *   skyhaul.adapter.<adapter>.v<N>.<suffix>   a stream an adapter declares (`…vaisala-wxt.v1.ptu`)
 *   skyhaul.adapter.<adapter>.v<N>            every stream of an adapter with a `*` schema
 *                                             (csv, json-lines: streams named by the site)
 *   skyhaul.alarm.v1, skyhaul.selftest.v1     the daemon's own payloads
 *   skyhaul.opaque.v1                         everything else, byte for byte
 *
 * The schema reference (`skyhaul.adapter.vaisala-wxt/v1`) gives the subject's prefix (`/` -> `.`),
 * the stream's last `/` segment its suffix (`site-wxt/ptu` -> `ptu`). A record without a schema
 * reference, with one the catalogue does not know (another edge version, a pusher's own), with
 * a stream suffix its adapter does not declare, or with a content type that is not JSON goes to
 * the opaque subject: it crosses unvalidated but unchanged rather than being refused for lack of a
 * schema. A record whose schema is known but whose payload breaks it is refused: SchemaMismatchError.
 */
import type { TelemetryRecord } from '../../../src/record/record.ts';
import type { AvroRecordSchema, AvroRecordValue, SubjectKind } from './avro.ts';
import { CATALOGUE, type Catalogue } from './catalogue.ts';
import { daemonPayloadKind } from './daemon-payload.ts';
import { CatalogueError, SchemaMismatchError, UnknownSubjectError } from './errors.ts';
import { SUBJECT_PATTERN } from './names.ts';
import { opaqueKind } from './opaque.ts';
import { readingKind } from './reading.ts';

export { SchemaMismatchError, UnknownSubjectError, CatalogueError, type SchemaRule } from './errors.ts';
export type { AvroRecordSchema, AvroRecordValue, AvroField, AvroType } from './avro.ts';
export type { Catalogue, AdapterEntry, DaemonPayloadEntry, JsonSchema } from './catalogue.ts';
export { toAvroName, fromAvroName, isAvroName, SUBJECT_PATTERN } from './names.ts';

/** The subject of every payload that has no schema in the catalogue. */
export const OPAQUE_SUBJECT = 'skyhaul.opaque.v1';

/**
 * True for a JSON media type: `application/json` or a `+json` structured syntax suffix (RFC 6839),
 * parameters (`; charset=utf-8`) and case ignored.
 */
export function isJsonContentType(contentType: string): boolean {
  const essence = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return essence === 'application/json' || /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*\+json$/.test(essence);
}

/** The payload part of a record, as toAvroValue takes it. */
export type RecordPayload = Pick<TelemetryRecord, 'payload' | 'contentType'>;

/** The API over one catalogue (the committed one: the module-level functions below). */
export interface SchemaCatalogue {
  /**
   * The registry subject for a record (see the module comment), from its schema reference (Pulsar
   * property `schema`, null when absent), stream (`<instrument>/<suffix>`) and content type.
   * Never throws: what the catalogue does not know is `skyhaul.opaque.v1`.
   */
  subjectFor(schemaRef: string | null, stream: string, contentType: string): string;
  /**
   * The subject's Avro schema (JSON form, for `avsc.Type.forSchema` and the registry's
   * `POST /subjects/{subject}/versions`): a fresh copy on every call. UnknownSubjectError for a
   * subject not in `subjects()`.
   */
  avroSchemaFor(subject: string): AvroRecordSchema;
  /**
   * The value to encode with `avroSchemaFor(subject)` (avsc's default union representation) for a
   * record's payload. JSON subjects: the payload parsed and checked against the catalogue's JSON
   * Schema; opaque: `{ content_type, payload }`. Throws SchemaMismatchError (subject, field, rule)
   * when the payload does not fit, UnknownSubjectError for an unknown subject.
   */
  toAvroValue(subject: string, record: RecordPayload): AvroRecordValue;
  /**
   * The payload back from a decoded Avro value: for JSON subjects UTF-8 JSON text equal as a JSON
   * value to the payload toAvroValue took (key order may differ), for the opaque subject the same
   * bytes. A value decoded with an earlier version of the subject's schema works too.
   * SchemaMismatchError `avro` for a value that is not of the subject's shape.
   */
  fromAvroValue(subject: string, value: unknown): Buffer;
  /** Every subject of the catalogue, sorted: what the bridge may register. */
  subjects(): string[];
}

/** `skyhaul.adapter.vaisala-wxt/v1` -> [`skyhaul.adapter.vaisala-wxt`, `v1`]. */
function splitSchemaRef(schemaRef: string): [string, string] {
  const match = /^([A-Za-z0-9][A-Za-z0-9._-]*)\/(v[1-9][0-9]*)$/.exec(schemaRef);
  if (match === null) throw new CatalogueError(`schema reference '${schemaRef}' is not <name>/v<N>`);
  return [match[1]!, match[2]!];
}

type Route = { subject: string } | { streams: Map<string, string>; any: string | null };

/** Builds (and checks: CatalogueError) the subjects of a catalogue. */
export function createSchemaCatalogue(catalogue: Catalogue): SchemaCatalogue {
  const kinds = new Map<string, SubjectKind>();
  const routes = new Map<string, Route>();
  const add = (kind: SubjectKind): string => {
    if (!SUBJECT_PATTERN.test(kind.subject)) throw new CatalogueError(`subject '${kind.subject}' has characters other than letters, digits, '.', '-', '_'`);
    if (kinds.has(kind.subject)) throw new CatalogueError(`subject '${kind.subject}' defined twice`);
    kinds.set(kind.subject, kind);
    return kind.subject;
  };

  for (const [name, entry] of Object.entries(catalogue.adapters)) {
    const [base, version] = splitSchemaRef(entry.schemaRef);
    if (entry.name !== name || base !== `skyhaul.adapter.${name}` || version !== `v${entry.schemaVersion}`) {
      throw new CatalogueError(`adapter '${name}': schemaRef '${entry.schemaRef}' is not skyhaul.adapter.${name}/v${entry.schemaVersion}`);
    }
    // Avro names cannot hold '-': registry names are lower-case with single hyphens, so '_' is free.
    const namespace = `skyhaul.adapter.${name.replaceAll('-', '_')}`;
    const route = { streams: new Map<string, string>(), any: null as string | null };
    for (const [suffix, schema] of Object.entries(entry.streams)) {
      if (suffix === '*') route.any = add(readingKind(`${base}.${version}`, namespace, schema));
      else route.streams.set(suffix, add(readingKind(`${base}.${version}.${suffix}`, `${namespace}.${suffix}`, schema)));
    }
    if (routes.has(entry.schemaRef)) throw new CatalogueError(`schema reference '${entry.schemaRef}' listed twice`);
    routes.set(entry.schemaRef, route);
  }
  for (const [schemaRef, entry] of Object.entries(catalogue.daemon)) {
    const [base, version] = splitSchemaRef(schemaRef);
    if (entry.schemaRef !== schemaRef) throw new CatalogueError(`daemon payload '${schemaRef}': schemaRef '${entry.schemaRef}' differs`);
    const last = base.slice(base.lastIndexOf('.') + 1);
    const name = `${last.charAt(0).toUpperCase()}${last.slice(1)}`;
    if (routes.has(schemaRef)) throw new CatalogueError(`schema reference '${schemaRef}' listed twice`);
    routes.set(schemaRef, { subject: add(daemonPayloadKind(`${base}.${version}`, base, name, entry.schema)) });
  }
  const opaque = opaqueKind(OPAQUE_SUBJECT);
  add(opaque);

  const kindOf = (subject: string): SubjectKind => {
    const kind = kinds.get(subject);
    if (kind === undefined) throw new UnknownSubjectError(subject);
    return kind;
  };

  return {
    subjectFor(schemaRef, stream, contentType) {
      if (schemaRef === null || !isJsonContentType(contentType)) return OPAQUE_SUBJECT;
      const route = routes.get(schemaRef);
      if (route === undefined) return OPAQUE_SUBJECT;
      if ('subject' in route) return route.subject;
      return route.streams.get(stream.slice(stream.lastIndexOf('/') + 1)) ?? route.any ?? OPAQUE_SUBJECT;
    },
    avroSchemaFor: (subject) => structuredClone(kindOf(subject).avroSchema),
    toAvroValue(subject, record) {
      const kind = kindOf(subject);
      if (kind !== opaque && !isJsonContentType(record.contentType)) {
        throw new SchemaMismatchError(subject, null, 'contentType', `'${record.contentType}' is not JSON`);
      }
      return kind.toAvro(record.payload, record.contentType);
    },
    fromAvroValue: (subject, value) => kindOf(subject).fromAvro(value),
    subjects: () => [...kinds.keys()].sort(),
  };
}

const committed = createSchemaCatalogue(CATALOGUE);

/** `SchemaCatalogue.subjectFor` over the committed catalogue. */
export const subjectFor: SchemaCatalogue['subjectFor'] = (schemaRef, stream, contentType) => committed.subjectFor(schemaRef, stream, contentType);
/** `SchemaCatalogue.avroSchemaFor` over the committed catalogue. */
export const avroSchemaFor: SchemaCatalogue['avroSchemaFor'] = (subject) => committed.avroSchemaFor(subject);
/** `SchemaCatalogue.toAvroValue` over the committed catalogue. */
export const toAvroValue: SchemaCatalogue['toAvroValue'] = (subject, record) => committed.toAvroValue(subject, record);
/** `SchemaCatalogue.fromAvroValue` over the committed catalogue. */
export const fromAvroValue: SchemaCatalogue['fromAvroValue'] = (subject, value) => committed.fromAvroValue(subject, value);
/** `SchemaCatalogue.subjects` over the committed catalogue. */
export const subjects: SchemaCatalogue['subjects'] = () => committed.subjects();
