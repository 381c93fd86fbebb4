/**
 * Values in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body) against the
 * schema registry, through a maintained client (`@kafkajs/confluent-schema-registry`, which also
 * encodes with avsc): each subject is registered (or found) on first sight, with its
 * compatibility set to BACKWARD_TRANSITIVE, and cached. A subject the registry refuses (an
 * incompatible change) is remembered as refused, with the registry's message, for
 * REFUSAL_RETRY_MS, so its records go to the dead-letter topic with that reason instead of
 * asking the registry again for every record (ARCHITECTURE.md central invariant 10).
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { avroSchemaFor, subjectFor, toAvroValue } from '../schemas/index.ts';
import type { TelemetryRecord } from '../../../src/record/record.ts';

const REFUSAL_RETRY_MS = 60_000;

/** Why a record cannot be written: becomes the dead-letter reason (`dlq_reason` header). */
export class RecordRefused extends Error {
  constructor(
    readonly reason: 'schema_incompatible' | 'schema_mismatch' | 'registry_unavailable',
    message: string,
  ) {
    super(message);
  }
}

export interface Encoded {
  subject: string;
  schemaId: number;
  value: Buffer;
}

export class SchemaEncoder {
  private readonly registry: SchemaRegistry;
  private readonly ids = new Map<string, number>();
  private readonly refused = new Map<string, { message: string; until: number }>();

  constructor(url: string) {
    this.registry = new SchemaRegistry({ host: url, retry: { retries: 2, initialRetryTimeInSecs: 0.2, maxRetryTimeInSecs: 2 } });
  }

  /** Subjects registered so far, with their ids. */
  registered(): ReadonlyMap<string, number> {
    return this.ids;
  }

  /**
   * The record's value in the wire format. Throws RecordRefused (schema_mismatch: the payload
   * does not fit its schema; schema_incompatible: the registry refused the schema) or, when the
   * registry cannot be reached, an Error the caller retries (the record must wait, not be lost).
   */
  async encode(record: TelemetryRecord): Promise<Encoded> {
    const subject = subjectFor(record.schemaRef, record.stream, record.contentType);
    const schemaId = await this.idOf(subject);
    let value: unknown;
    try {
      value = toAvroValue(subject, record);
    } catch (error) {
      throw new RecordRefused('schema_mismatch', (error as Error).message);
    }
    return { subject, schemaId, value: await this.registry.encode(schemaId, value) };
  }

  private async idOf(subject: string): Promise<number> {
    const known = this.ids.get(subject);
    if (known !== undefined) return known;
    const refusal = this.refused.get(subject);
    if (refusal !== undefined && performance.now() < refusal.until) throw new RecordRefused('schema_incompatible', refusal.message);
    try {
      const { id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(avroSchemaFor(subject)) },
        { subject, compatibility: 'BACKWARD_TRANSITIVE' as never },
      );
      this.ids.set(subject, id);
      this.refused.delete(subject);
      return id;
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 409 || status === 422 || /Compatibility does not match/.test(String(error))) {
        const message = `registry refused subject ${subject}: ${(error as Error).message}`;
        this.refused.set(subject, { message, until: performance.now() + REFUSAL_RETRY_MS });
        throw new RecordRefused('schema_incompatible', message);
      }
      throw new Error(`schema registry unavailable for subject ${subject}: ${(error as Error).message}`, { cause: error });
    }
  }
}
