/**
 * One raw Kafka record (as the bridge wrote it: the record's properties in headers, the value in
 * the Confluent wire format) into its curated form, or the reason it cannot be:
 *
 *   decode             the value is not in the wire format, or the registry has no such schema id
 *   unknown_subject    a subject this build's catalogue does not know (a newer adapter): it waits
 *                      in the dead-letter topic for a central upgrade and a replay
 *   schema_mismatch    the payload breaks its subject's schema (units, flags, types), checked again
 *                      here because a raw topic may have writers other than the bridge
 *   bad_record         the headers do not make a record (src/record/record.ts says what is missing)
 */
import { fromPulsarMessage, type TelemetryRecord } from '../../../src/record/record.ts';
import { curate, type CuratedReading, type CurateNotes } from '../curated/index.ts';
import type { SiteRegistry } from '../curated/sites.ts';
import type { UnitNormaliser } from '../curated/units.ts';
import type { InRecord } from '../kafka/index.ts';
import { fromAvroValue, isJsonContentType, SchemaMismatchError, toAvroValue, UnknownSubjectError } from '../schemas/index.ts';

export type RefusalReason = 'decode' | 'unknown_subject' | 'schema_mismatch' | 'bad_record';

export type Transformed = { ok: true; record: TelemetryRecord; curated: CuratedReading; notes: CurateNotes } | { ok: false; reason: RefusalReason; message: string };

/** What the transform needs of the registry: the Avro value of a wire-format buffer. */
export interface ValueDecoder {
  decode(value: Buffer): Promise<unknown>;
}

export async function transform(raw: InRecord, decoder: ValueDecoder, sites: SiteRegistry, units: UnitNormaliser): Promise<Transformed> {
  const subject = raw.headers.schema_subject;
  if (raw.value === null || subject === undefined) return { ok: false, reason: 'decode', message: `${raw.topic}/${raw.partition}@${raw.offset}: no value or no schema_subject header` };
  let decoded: unknown;
  try {
    decoded = await decoder.decode(raw.value);
  } catch (error) {
    if (isUnavailable(error)) throw error;
    return { ok: false, reason: 'decode', message: `${raw.topic}/${raw.partition}@${raw.offset}: ${(error as Error).message}` };
  }
  let payload: Buffer;
  try {
    payload = fromAvroValue(subject, decoded);
  } catch (error) {
    if (error instanceof UnknownSubjectError) return { ok: false, reason: 'unknown_subject', message: error.message };
    return { ok: false, reason: 'schema_mismatch', message: (error as Error).message };
  }
  let record: TelemetryRecord;
  try {
    record = fromPulsarMessage({ key: raw.key, payload, properties: raw.headers });
  } catch (error) {
    return { ok: false, reason: 'bad_record', message: (error as Error).message };
  }
  try {
    toAvroValue(subject, record);
  } catch (error) {
    if (error instanceof SchemaMismatchError) return { ok: false, reason: 'schema_mismatch', message: error.message };
    throw error;
  }
  let json: unknown;
  if (isJsonContentType(record.contentType)) {
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch (error) {
      return { ok: false, reason: 'schema_mismatch', message: `${subject}: payload is not JSON: ${(error as Error).message}` };
    }
  }
  const { curated, notes } = curate(record, json, subject, sites, units);
  return { ok: true, record, curated, notes };
}

/** The registry could not be asked (network, 5xx): the record must wait, not be dead-lettered. */
export function isUnavailable(error: unknown): boolean {
  const status = (error as { status?: number }).status;
  if (typeof status === 'number') return status >= 500 || status === 408 || status === 429;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|fetch failed|socket hang up|EAI_AGAIN/.test(String((error as Error)?.message ?? error));
}
