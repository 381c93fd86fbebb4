/**
 * The registry's errors as Confluent Schema Registry reports them: an HTTP status and a JSON body
 * `{ error_code, message }`, where `error_code` is Confluent's own number (the status followed by
 * two digits, or the bare status). Clients branch on these numbers (e.g. a 404 from
 * `GET /config/{subject}` means "no subject-level configuration" to @kafkajs/confluent-schema-registry),
 * so they are kept exactly as Confluent's API reference lists them ("Errors" under each route of
 * https://docs.confluent.io/platform/current/schema-registry/develop/api.html).
 */

/** Confluent's error codes that this registry returns. */
export const ErrorCode = {
  SUBJECT_NOT_FOUND: 40401,
  VERSION_NOT_FOUND: 40402,
  SCHEMA_NOT_FOUND: 40403,
  SUBJECT_SOFT_DELETED: 40404,
  SUBJECT_NOT_SOFT_DELETED: 40405,
  VERSION_SOFT_DELETED: 40406,
  VERSION_NOT_SOFT_DELETED: 40407,
  SUBJECT_COMPATIBILITY_NOT_CONFIGURED: 40408,
  /** The API reference documents the incompatible-schema error as error code 409 (newer servers also use 40901). */
  INCOMPATIBLE_SCHEMA: 409,
  INVALID_SCHEMA: 42201,
  INVALID_VERSION: 42202,
  INVALID_COMPATIBILITY_LEVEL: 42203,
  /** Not Confluent's: a request body that is not the JSON the route takes (Confluent answers 400/422 without a fixed code). */
  BAD_REQUEST: 400,
  /** The backing store (Kafka) failed or timed out. */
  STORE_ERROR: 50001,
  /** Another instance kept taking the writer role while this one retried (see store.ts). */
  OPERATION_TIMEOUT: 50002,
  /** Not caught up with `_schemas` yet (start-up): the registry cannot answer truthfully. */
  NOT_READY: 50301,
} as const;

/** A failure answered as `{ error_code, message }` with `status`. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';

  constructor(
    /** HTTP status. */
    readonly status: number,
    /** Confluent's error code (ErrorCode). */
    readonly errorCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The response body, Confluent's shape. */
  toJSON(): { error_code: number; message: string } {
    return { error_code: this.errorCode, message: this.message };
  }
}

export const subjectNotFound = (subject: string): RegistryError => new RegistryError(404, ErrorCode.SUBJECT_NOT_FOUND, `Subject '${subject}' not found.`);
export const versionNotFound = (version: number | string): RegistryError => new RegistryError(404, ErrorCode.VERSION_NOT_FOUND, `Version ${version} not found.`);
export const schemaNotFound = (id?: number): RegistryError => new RegistryError(404, ErrorCode.SCHEMA_NOT_FOUND, id === undefined ? 'Schema not found' : `Schema ${id} not found`);
export const invalidSchema = (detail: string): RegistryError => new RegistryError(422, ErrorCode.INVALID_SCHEMA, `Invalid schema: ${detail}`);
export const invalidVersion = (version: string): RegistryError =>
  new RegistryError(422, ErrorCode.INVALID_VERSION, `The specified version '${version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`);
export const invalidCompatibility = (level: unknown): RegistryError =>
  new RegistryError(422, ErrorCode.INVALID_COMPATIBILITY_LEVEL, `Invalid compatibility level ${JSON.stringify(level)}: valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE`);
export const badRequest = (detail: string): RegistryError => new RegistryError(400, ErrorCode.BAD_REQUEST, detail);
