/**
 * The Avro schemas this module produces (a subset of Avro 1.11's JSON schema form, as avsc's
 * `Type.forSchema` and Confluent Schema Registry take it), and what every subject kind offers.
 *
 * Values follow avsc's default representation (`wrapUnions: 'auto'`): a union of `null` and one
 * type, or of types that differ in their JavaScript type, is unwrapped (`null`, `1.5`, `"x"`), a
 * `map` is a plain object, `bytes` a Buffer. Every union this module writes is of that kind.
 */
import { isAvroName } from './names.ts';
import { CatalogueError, SchemaMismatchError } from './errors.ts';

export type AvroPrimitive = 'null' | 'boolean' | 'long' | 'double' | 'string' | 'bytes';
export type AvroType = AvroPrimitive | AvroPrimitive[] | AvroRecordSchema | AvroMapSchema | AvroArraySchema;

export interface AvroField {
  name: string;
  type: AvroType;
  doc?: string;
  default?: null | [] | Record<string, never>;
}

export interface AvroRecordSchema {
  type: 'record';
  name: string;
  namespace?: string;
  doc?: string;
  fields: AvroField[];
}

export interface AvroMapSchema {
  type: 'map';
  values: AvroType;
}

export interface AvroArraySchema {
  type: 'array';
  items: AvroType;
}

/** A value of an Avro record as avsc encodes it: field name -> value. */
export type AvroRecordValue = { [field: string]: unknown };

/** One registry subject: its Avro schema and the payload <-> Avro value mapping. */
export interface SubjectKind {
  readonly subject: string;
  readonly avroSchema: AvroRecordSchema;
  /** The payload (bytes and content type) as the Avro value; SchemaMismatchError if it does not fit. */
  toAvro(payload: Buffer, contentType: string): AvroRecordValue;
  /** The payload back from an Avro value of this subject (or of an earlier version of its schema). */
  fromAvro(value: unknown): Buffer;
}

/** Throws CatalogueError unless `namespace` is dot-separated Avro names. */
export function checkNamespace(namespace: string, where: string): string {
  if (!namespace.split('.').every(isAvroName)) throw new CatalogueError(`${where}: '${namespace}' is not a valid Avro namespace`);
  return namespace;
}

/** The value as a record value, or SchemaMismatchError `avro` (fromAvroValue's input check). */
export function recordValue(subject: string, field: string | null, value: unknown): AvroRecordValue {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) {
    throw new SchemaMismatchError(subject, field, 'avro', 'not an Avro record value (an object)');
  }
  return value as AvroRecordValue;
}
