/**
 * Reader and ack (contract in `./index.ts`, "Reading and acknowledging"): per-stream reads in
 * sequence order up to the durable watermark (a commit whose fsync still runs is not readable),
 * with every record's checksum verified; acks delete a stream's prefix and advance its cursor in
 * one transaction (invariant 2: a record leaves the buffer only after the broker acknowledged
 * it); the forwarder's one exception, discard() of a record its transport cannot carry.
 *
 * Functions over the buffer's state (`RecordBuffer`), which exposes them as read/ack/ackMany/discard.
 */
import type { TelemetryRecord } from '../record/record.ts';
import { bodyChecksum, checksumMatches, finishChecksum, stableChecksum } from './checksum.ts';
import type { RecordRow, StreamRow } from './journal.ts';
import type { Statements } from './statements.ts';
import { checkInteger, usage } from './errors.ts';
import { adjust } from './quota.ts';
import type { DropReason } from './types.ts';
import type { RecordBuffer } from './buffer.ts';

/**
 * Records of `stream` with sequence > afterSequence, in sequence order, at most `limit` of them
 * and (after the first) at most `maxBytes` of accounted size. Each record's checksum is verified;
 * a bad record is removed, counted ('checksum'), alarmed and skipped.
 */
export function readRecords(b: RecordBuffer, stream: string, afterSequence: number, limit: number, maxBytes = Number.POSITIVE_INFINITY): TelemetryRecord[] {
  b.requireOpen();
  checkInteger('limit', limit, 1);
  const s = b.streamsByName.get(stream);
  if (s === undefined || s.records === 0) return [];
  const out: TelemetryRecord[] = [];
  let bytes = 0;
  let after = Math.max(0, Math.floor(afterSequence));
  let full = false;
  // The stable part of the checksum (stream, content type, schema ref) rarely changes within a stream.
  let stable = { contentType: '', schemaRef: null as string | null, crc: -1 };
  while (!full && out.length < limit) {
    const want = limit - out.length;
    const rows = b.rec.readChunk.all(s.id, after, want);
    const bad: RecordRow[] = [];
    for (const row of rows) {
      if (row.sequence >= s.durableNext) {
        full = true; // committed, but its fsync is still running: not readable yet
        break;
      }
      const rec: TelemetryRecord = {
        siteId: b.siteId,
        producerId: producerOf(b, s, row.sequence),
        stream,
        sequence: row.sequence,
        sourceTime: row.source_time,
        ingestTime: row.ingest_time,
        contentType: row.content_type,
        schemaRef: row.schema_ref,
        payload: row.payload,
        traceparent: row.traceparent,
      };
      if (stable.crc < 0 || stable.contentType !== rec.contentType || stable.schemaRef !== rec.schemaRef) {
        stable = { contentType: rec.contentType, schemaRef: rec.schemaRef, crc: stableChecksum(stream, rec.contentType, rec.schemaRef) };
      }
      const crc = finishChecksum(bodyChecksum(stable.crc, rec.sourceTime, rec.ingestTime, rec.traceparent, rec.payload), rec.sequence);
      if (!checksumMatches(row.crc, crc, rec.payload, rec.sequence)) {
        bad.push(row);
        after = row.sequence;
        continue;
      }
      if (out.length > 0 && bytes + row.size > maxBytes) {
        full = true;
        break;
      }
      out.push(rec);
      bytes += row.size;
      after = row.sequence;
    }
    if (bad.length > 0) {
      // Read-only (an offline tool): report, never delete; checkIntegrity() lists them too.
      if (b.readOnly) b.logger.error({ stream, sequences: bad.map((r) => r.sequence) }, 'buffer: records fail their checksum');
      else removeCorrupt(b, s, bad);
    }
    if (rows.length < want) break;
  }
  return out;
}

export function removeCorrupt(b: RecordBuffer, s: StreamRow, rows: RecordRow[]): void {
  b.transact((j) => {
    j.touch(s);
    for (const row of rows) {
      b.rec.deleteOne.run(s.id, row.sequence);
      adjust(b, s, -1, -row.size);
      j.countDrop(s.name, 'checksum', 1);
      j.checksumFailures.push({ stream: s.name, sequence: row.sequence });
    }
    s.oldestIngestTime = s.records === 0 ? null : undefined;
    j.freed = true;
  });
}

/** Several acks in one transaction. Acks at or below a stream's cursor are no-ops (idempotent). */
export function ackRecords(b: RecordBuffer, acks: Array<{ stream: string; sequence: number }>): void {
  b.requireWritable();
  for (const a of acks) {
    const s = b.streamsByName.get(a.stream);
    if (s === undefined) throw usage(`ack for unknown stream '${a.stream}'`);
    if (!Number.isSafeInteger(a.sequence) || a.sequence < 0) throw usage(`ack of '${a.stream}' with bad sequence ${a.sequence}`);
    if (a.sequence >= s.nextSequence) {
      throw usage(`ack of '${a.stream}' up to ${a.sequence}, but only sequences below ${s.nextSequence} were ever assigned`);
    }
  }
  b.transact((j) => {
    // What each ack deletes, for every stream in one query (on the writer thread a query is a
    // round trip; the forwarder acks dozens of streams at once). The last ack of a stream counts.
    const upTo = new Map<StreamRow, number>();
    for (const a of acks) {
      const s = b.streamsByName.get(a.stream) as StreamRow;
      if (a.sequence > s.ackedSequence) upTo.set(s, Math.max(a.sequence, upTo.get(s) ?? 0));
    }
    if (upTo.size === 0) return;
    const query =
      upTo.size === 1
        ? [...upTo].map(([s, seq]) => ({ id: s.id, ...(b.rec.rangeTotals.get(s.id, seq) ?? { n: 0, bytes: 0 }) }))
        : b.rec.rangeTotalsMany.all(JSON.stringify([...upTo].map(([s, seq]) => [s.id, seq])));
    const totalsById = new Map(query.map((t) => [t.id, t]));
    for (const [s, sequence] of upTo) {
      const totals = totalsById.get(s.id) ?? { n: 0, bytes: 0 };
      j.touch(s);
      if (totals.n > 0) {
        b.rec.deleteUpTo.run(s.id, sequence);
        adjust(b, s, -totals.n, -totals.bytes);
        if (s.records > 0) s.oldestIngestTime = undefined;
        j.freed = true;
      }
      s.ackedSequence = sequence;
      if (s.epochs.length > 0 && (s.epochs[0] as { upTo: number }).upTo <= sequence) {
        (b.stmt as Statements).pruneEpochs.run(s.name, sequence);
        s.epochs = s.epochs.filter((e) => e.upTo > sequence);
      }
    }
  });
}

/**
 * Sets one buffered record aside as a counted drop (the forwarder, for a record its transport
 * cannot carry: reason 'oversize'). Like a checksum failure, the one exception to prefix-only
 * deletes; the forwarder treats the hole as a gap. Returns false when the record is not there.
 */
export function discardRecord(b: RecordBuffer, stream: string, sequence: number, reason: Extract<DropReason, 'oversize'>): boolean {
  b.requireWritable();
  const s = b.streamsByName.get(stream);
  if (s === undefined || sequence <= s.ackedSequence || sequence >= s.nextSequence) return false;
  const row = b.rec.readChunk.get(s.id, sequence - 1, 1);
  if (row === undefined || row.sequence !== sequence) return false;
  b.transact((j) => {
    j.touch(s);
    b.rec.deleteOne.run(s.id, sequence);
    adjust(b, s, -1, -row.size);
    if (s.records > 0) s.oldestIngestTime = undefined;
    j.countDrop(s.name, reason, 1);
    j.freed = true;
  });
  return true;
}

/** The producer identity a record was (or will be) sent under: a retired one for records from before a renewal. */
export function producerOf(b: RecordBuffer, s: StreamRow, sequence: number): string {
  for (const e of s.epochs) if (sequence <= e.upTo) return e.producerId;
  return b.producerId;
}
