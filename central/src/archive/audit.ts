/**
 * The control plane's audit records (JSON, `src/record/command.ts` AuditRecord, schema
 * `skyhaul.control.audit/v1`; the governance service writes them to `governance.auditTopic`)
 * archived like the telemetry: each becomes a curated-shaped row, so the lake has one layout,
 * one manifest and one reader for both. List the audit topic in `archive.topics`.
 *
 *   site_id      the command's site          stream   `_control/audit`
 *   producer_id  the writer (`governance/<host>/<pid>`)   sequence 0 (order: kafka_offset)
 *   event_time, ingest_time  the step's time (`at`)       raw_subject `skyhaul.control.audit.v1`
 *   text         event, event_id, command_id, correlation_id, operator, role, command, state,
 *                source, idempotency_key
 *   values       deadline (ms since the epoch), when set
 *   payload      {params, result, error} as JSON text
 *
 * A retried audit step is written again with the same `event_id` (at least once into Kafka);
 * the lake keeps what the topic holds, so a reader keeps the first row per `event_id`.
 */
import { AUDIT_SCHEMA_REF, type AuditRecord } from '../../../src/record/command.ts';
import type { CuratedReading } from '../curated/index.ts';

export const AUDIT_STREAM = '_control/audit';
export const AUDIT_RAW_SUBJECT = 'skyhaul.control.audit.v1';

/** True when `value` looks like a JSON audit record (a curated value starts with the wire format's magic byte 0). */
export function isAuditValue(value: Buffer | null): boolean {
  return value !== null && value.length > 1 && value[0] === 0x7b; // '{'
}

/**
 * The audit record in `value` as a curated-shaped row; throws Error naming what is wrong for
 * JSON that is not an audit record (the caller keeps it under `_rejected/`).
 */
export function auditReading(value: Buffer): CuratedReading {
  let record: AuditRecord;
  try {
    record = JSON.parse(value.toString('utf8')) as AuditRecord;
  } catch (error) {
    throw new Error(`not JSON: ${(error as Error).message}`);
  }
  if (record === null || typeof record !== 'object' || record.v !== 1) throw new Error(`not a ${AUDIT_SCHEMA_REF} record (v is ${String((record as { v?: unknown } | null)?.v)})`);
  for (const field of ['eventId', 'event', 'id', 'site', 'writer'] as const) {
    if (typeof record[field] !== 'string' || record[field] === '') throw new Error(`${AUDIT_SCHEMA_REF}: field ${field} missing or empty`);
  }
  if (!Number.isFinite(record.at)) throw new Error(`${AUDIT_SCHEMA_REF}: field at is not a number`);
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    site_id: record.site,
    site_name: null,
    latitude: null,
    longitude: null,
    elevation_m: null,
    instrument_model: null,
    instrument_serial: null,
    producer_id: record.writer,
    stream: AUDIT_STREAM,
    sequence: 0,
    event_time: record.at,
    source_time: record.at,
    ingest_time: record.at,
    device_time: null,
    traceparent: text(record.traceparent) ?? '',
    content_type: 'application/json',
    raw_subject: AUDIT_RAW_SUBJECT,
    values: typeof record.deadline === 'number' ? { deadline: record.deadline } : {},
    units: {},
    text: {
      event: record.event,
      event_id: record.eventId,
      command_id: record.id,
      correlation_id: text(record.correlationId),
      operator: text(record.operator),
      role: text(record.role),
      command: text(record.command),
      state: text(record.state),
      source: text(record.source),
      idempotency_key: text(record.idempotencyKey),
    },
    booleans: {},
    flags: [],
    payload: JSON.stringify({ params: record.params ?? null, result: record.result ?? null, error: record.error ?? null }),
    payload_encoding: 'json',
  };
}
