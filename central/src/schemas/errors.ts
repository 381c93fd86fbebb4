/**
 * Errors of the schema mapping. Each carries a stable `code` (CONVENTIONS 5) so the bridge can
 * count and route on it without parsing messages.
 */

/**
 * Which rule a payload broke. The JSON Schema keyword when the catalogue's JSON Schema says no
 * (`type`, `required`, `additionalProperties`, `propertyNames`, `const`, `enum`, `minItems`,
 * `uniqueItems`); otherwise:
 * - `json`: the payload is not UTF-8 JSON text;
 * - `contentType`: the record's content type is not JSON although its subject is a JSON one;
 * - `range`: valid JSON of the right type that Avro cannot carry faithfully (an integer beyond
 *   ±2^53-1 for `long`, a non-integer `device_time`, a non-finite number, a string with a lone
 *   UTF-16 surrogate, which UTF-8 cannot encode);
 * - `avro`: `fromAvroValue` was given a value that is not of the subject's Avro schema.
 */
export type SchemaRule =
  | 'json'
  | 'contentType'
  | 'type'
  | 'required'
  | 'additionalProperties'
  | 'propertyNames'
  | 'const'
  | 'enum'
  | 'minItems'
  | 'uniqueItems'
  | 'range'
  | 'avro';

/**
 * A record's payload does not fit the schema of its subject. The bridge sends such a record to
 * its dead-letter topic with `message` as the reason (central invariant 10); `subject`, `field`
 * and `rule` are there to count and search on.
 */
export class SchemaMismatchError extends Error {
  override readonly name = 'SchemaMismatchError';
  readonly code = 'SKY_ERR_SCHEMA_MISMATCH';

  constructor(
    /** The registry subject the record was mapped to, e.g. `skyhaul.adapter.vaisala-wxt.v1.ptu`. */
    readonly subject: string,
    /** JSON path of the offending value in the payload (`fields.air_temperature`, `flags[0]`); null for the payload as a whole. */
    readonly field: string | null,
    readonly rule: SchemaRule,
    detail: string,
  ) {
    super(`${subject}: ${field ?? '(payload)'}: ${rule}: ${detail}`);
  }
}

/** A subject that the catalogue does not define (`avroSchemaFor`, `toAvroValue`, `fromAvroValue`). */
export class UnknownSubjectError extends Error {
  override readonly name = 'UnknownSubjectError';
  readonly code = 'SKY_ERR_UNKNOWN_SUBJECT';

  constructor(readonly subject: string) {
    super(`no schema for subject '${subject}' in src/record/adapter-schemas.json`);
  }
}

/**
 * The catalogue holds something this module cannot map to Avro (a JSON Schema keyword it does not
 * know, a name that cannot be a subject). A programming error, found by the tests that derive
 * every subject: extend central/src/schemas, or change the adapter.
 */
export class CatalogueError extends Error {
  override readonly name = 'CatalogueError';
  readonly code = 'SKY_ERR_SCHEMA_CATALOGUE';
}
