/**
 * Per-record checksum and accounted size (contract in `./index.ts`, "Checksum" and "Quota
 * accounting"). Shared by the writer, the reader and `checkIntegrity()`.
 *
 * The checksum is CRC-32 (zlib polynomial) over, in this order:
 *
 *     UTF-8 of `${stream}\n${contentType}\n${schemaRef ?? '\u0000'}\n`   ("stable part")
 *     float64 big-endian of sourceTime (NaN when null)
 *     float64 big-endian of ingestTime
 *     UTF-8 of traceparent
 *     the payload bytes
 *     float64 big-endian of sequence
 *
 * The order serves the writer: the stable part is the same for every record of a stream (its CRC
 * is cached), the payload is checksummed when the record is appended, and only the sequence is
 * folded in inside the commit transaction. Numbers are hashed as binary so that no text is built
 * per record. Small parts use a table CRC in JavaScript (cheaper than a native call at this size);
 * the payload uses zlib.crc32. Both compute the same CRC-32.
 */
import zlib from 'node:zlib';
import type { TelemetryRecord } from '../record/record.ts';

const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/** CRC-32 of bytes[0, length) continuing from `crc` (a finished CRC value, like zlib's). */
function crcBytes(bytes: Uint8Array, length: number, crc: number): number {
  let c = ~crc;
  for (let i = 0; i < length; i++) c = (TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

type Crc32 = (data: string | Buffer | Uint8Array, value?: number) => number;
/** zlib.crc32 exists from Node 20.15; older 20.x use the table (same polynomial, same values). */
const nativeCrc32: Crc32 =
  typeof zlib.crc32 === 'function'
    ? zlib.crc32
    : (data, value = 0) => {
        const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
        return crcBytes(bytes, bytes.length, value);
      };

export type ChecksummedFields = Pick<
  TelemetryRecord,
  'stream' | 'sequence' | 'sourceTime' | 'ingestTime' | 'contentType' | 'schemaRef' | 'traceparent' | 'payload'
>;

/** CRC of the stable part; the writer caches it per stream. */
export function stableChecksum(stream: string, contentType: string, schemaRef: string | null): number {
  return nativeCrc32(`${stream}\n${contentType}\n${schemaRef ?? '\u0000'}\n`);
}

// Reused scratch space: every use below writes and hashes it synchronously.
const TRACEPARENT_LENGTH = 55;
const scratch = Buffer.alloc(16 + TRACEPARENT_LENGTH);
const seqScratch = Buffer.alloc(8);

/** Continues `stable` with the times, traceparent and payload. */
export function bodyChecksum(stable: number, sourceTime: number | null, ingestTime: number, traceparent: string, payload: Uint8Array): number {
  scratch.writeDoubleBE(sourceTime ?? Number.NaN, 0);
  scratch.writeDoubleBE(ingestTime, 8);
  let crc: number;
  // Fast path for a well-formed (ASCII, 55-character) traceparent; anything else takes the
  // general path, which hashes the same bytes.
  if (traceparent.length === TRACEPARENT_LENGTH && scratch.write(traceparent, 16, 'utf8') === TRACEPARENT_LENGTH) {
    crc = crcBytes(scratch, scratch.length, stable);
  } else {
    crc = crcBytes(scratch, 16, stable);
    crc = nativeCrc32(Buffer.from(traceparent, 'utf8'), crc);
  }
  // A CRC over no bytes leaves the running value as it was. Node 20's zlib.crc32 returns 0 instead
  // for a Buffer with no backing store (Buffer.allocUnsafe(0), the writer's copy of an empty
  // payload), which made every empty record fail its checksum when read back.
  return payload.length === 0 ? crc : nativeCrc32(payload, crc);
}

/**
 * Whether a record's stored checksum is right: equal to `computed`, or, for an empty payload, the
 * value that builds before the zlib.crc32 work-around above stored (their body CRC came out 0),
 * so such records in an existing buffer are still delivered instead of removed as corrupt.
 */
export function checksumMatches(stored: number, computed: number, payload: Uint8Array, sequence: number): boolean {
  return stored === computed || (payload.length === 0 && stored === finishChecksum(0, sequence));
}

/** Folds the sequence in: the last step, done by the writer inside the commit transaction. */
export function finishChecksum(body: number, sequence: number): number {
  seqScratch.writeDoubleBE(sequence, 0);
  return crcBytes(seqScratch, 8, body);
}

export function recordChecksum(r: ChecksummedFields): number {
  const stable = stableChecksum(r.stream, r.contentType, r.schemaRef);
  return finishChecksum(bodyChecksum(stable, r.sourceTime, r.ingestTime, r.traceparent, r.payload), r.sequence);
}

/** Fixed per-row overhead counted against the quota: sequence, times, size, crc and row header. */
export const ROW_OVERHEAD_BYTES = 48;

/**
 * Accounted size of one buffered record: what its row stores. The stream name is not stored per
 * row (each stream has its own table), so it is not counted.
 */
export function recordSize(r: Pick<TelemetryRecord, 'contentType' | 'schemaRef' | 'traceparent' | 'payload'>): number {
  return metadataSize(r.contentType, r.schemaRef) + r.payload.length + r.traceparent.length + ROW_OVERHEAD_BYTES;
}

/** The part of recordSize that is usually constant per stream (the writer caches it). */
export function metadataSize(contentType: string, schemaRef: string | null): number {
  return Buffer.byteLength(contentType, 'utf8') + (schemaRef === null ? 0 : Buffer.byteLength(schemaRef, 'utf8'));
}
