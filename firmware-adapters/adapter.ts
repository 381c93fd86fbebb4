/**
 * The contract every firmware adapter meets (one folder per instrument under firmware-adapters/).
 *
 * An adapter is pure: it declares how its instrument's byte stream is cut into frames (`framing`),
 * what the input must send to the instrument and when (`polling`), and the JSON Schema of each
 * stream it produces (`schemas`); its `decode` turns one frame into readings or a typed error,
 * with no I/O, no clock (the input passes `receivedAt`), no state between calls, and no throw
 * (the registry's `safeDecode` catches one anyway and reports `ADAPTER_INTERNAL`).
 *
 * Values are converted to canonical units, named by their UCUM code (`Cel`, `hPa`, `m/s`, ...).
 * A field that the instrument marks invalid, or whose sentinel means "no data", is `null`.
 */
import type { IncomingRecord } from '../src/record/record.ts';

/** A JSON Schema (draft-07) object, as ajv compiles it. */
export type JSONSchemaObject = { [keyword: string]: unknown };

export type FieldValue = number | string | boolean | null;

/**
 * Stable codes a reading may carry in `flags`: something about the reading that a consumer must
 * be able to see and that the input counts (metrics by instrument, adapter and flag). A flag
 * never drops the reading; it says what was done to it. The codes, their meaning and who sets them:
 *
 * - `GPS_WEEK_ROLLOVER_CORRECTED` (nmea0183): the receiver's date was a whole number of 1024-week
 *   GPS epochs (7,168 days) behind a trusted receipt time; `sourceTime` (and the `date` field) were
 *   moved forward to the epoch nearest the receipt time; `deviceTime` keeps what the receiver said.
 *   Source: IS-GPS-200 (subframe 1 transmission week number: 10 bits, modulo 1024).
 * - `SOURCE_TIME_IMPLAUSIBLE` (`safeDecode`, every adapter): the instrument's time is too far from
 *   the receipt time to be a reading time (more than `SOURCE_TIME_MAX_PAST_MS` before it or
 *   `SOURCE_TIME_MAX_FUTURE_MS` after it), or, when the receipt clock is not trusted, lies outside
 *   [`RECEIPT_TIME_FLOOR_MS`, `RECEIPT_TIME_CEILING_MS`). `sourceTime` is null; `deviceTime` keeps it.
 * - `RECEIPT_TIME_UNSYNCHRONISED` (`safeDecode`, every adapter): `receivedAt` itself is not trusted
 *   (`meta.receivedAtTrusted === false`, or unknown and outside [floor, ceiling), e.g. a board
 *   without a real-time clock that booted at 1970); no time was corrected toward it.
 * - `TEXT_VALUE_INVALID_UTF8` (nut-upsd, csv, json-lines, vaisala-wxt): a text value held bytes that
 *   are not UTF-8; each bad sequence was replaced by U+FFFD and the rest of the reading kept.
 * - `LEADING_BYTES_DISCARDED` (NMEA envelope: nmea0183, boltek-ld250): bytes before the sentence
 *   start that were neither idle bytes (NUL, whitespace, XON/XOFF) nor a valid NMEA 4.0 TAG block
 *   (a modem prefix, line noise, the cut-off start of an earlier sentence) were discarded.
 */
export const READING_FLAGS = [
  'GPS_WEEK_ROLLOVER_CORRECTED',
  'SOURCE_TIME_IMPLAUSIBLE',
  'RECEIPT_TIME_UNSYNCHRONISED',
  'TEXT_VALUE_INVALID_UTF8',
  'LEADING_BYTES_DISCARDED',
] as const;

export type ReadingFlag = (typeof READING_FLAGS)[number];

export interface DecodedReading {
  /** Stream suffix, e.g. `wind` or `gga`; the input prefixes its instrument name (`wxt/wind`). */
  stream: string;
  fields: Record<string, FieldValue>;
  /** UCUM code per field that has a physical unit (fields without one are absent here). */
  units: Record<string, string>;
  /** When the instrument took the reading (ms since epoch), when the frame says; else null. */
  sourceTime?: number | null;
  /** Codes from `READING_FLAGS`, each at most once; absent or empty when there is nothing to say. */
  flags?: ReadingFlag[];
  /**
   * The instrument's own time (ms since epoch) when it was not passed on unchanged as `sourceTime`
   * (corrected: `GPS_WEEK_ROLLOVER_CORRECTED`; dropped to null: `SOURCE_TIME_IMPLAUSIBLE`), so the
   * value the device sent stays visible. Payload key `device_time`.
   */
  deviceTime?: number;
}

/** Adds a flag to a reading once (keeps the order flags were raised in). */
export function addFlag(reading: DecodedReading, flag: ReadingFlag): void {
  if (reading.flags === undefined) reading.flags = [flag];
  else if (!reading.flags.includes(flag)) reading.flags.push(flag);
}

/** Stable codes for a frame that yields nothing (logs, metrics and the quarantine key on them). */
export type AdapterErrorCode =
  /** Checksum or CRC does not match. */
  | 'ADAPTER_CHECKSUM'
  /** The frame ends before its declared or expected content does. */
  | 'ADAPTER_TRUNCATED'
  /** The frame is complete but its content is not what the protocol allows. */
  | 'ADAPTER_PARSE'
  /** Well-formed, but a message kind this adapter does not decode (see `skipped`). */
  | 'ADAPTER_UNSUPPORTED'
  /** The instrument itself reports an error (e.g. upsd `ERR DATA-STALE`). */
  | 'ADAPTER_DEVICE_ERROR'
  /** The decoder threw: a bug in the adapter, caught by `safeDecode`. */
  | 'ADAPTER_INTERNAL';

export interface DecodeError {
  code: AdapterErrorCode;
  message: string;
}

/**
 * Why a good frame produced no reading: `ADAPTER_UNSUPPORTED` (a valid message kind this adapter
 * does not decode, e.g. NMEA GSV) or `ADAPTER_CONTROL` (protocol chatter: a poll request, a CSV
 * header, upsd `OK`). Inputs count these by code; they are not errors and are not quarantined.
 */
export interface SkipReason {
  code: 'ADAPTER_UNSUPPORTED' | 'ADAPTER_CONTROL';
  message: string;
}

export type DecodeResult =
  | { ok: true; readings: DecodedReading[]; skipped?: SkipReason }
  | { ok: false; error: DecodeError };

export interface DecodeMeta {
  /** When the input received the frame (ms since epoch); decoders use it instead of a clock. */
  receivedAt: number;
  /**
   * Whether `receivedAt` comes from a clock known to be right: `true` when the caller vouches for
   * it (an engineer replaying a capture with `skyhaul decode --received-at`, or an input whose host
   * clock is known to be synchronised), `false` when it is known not to be. Absent: unknown, and
   * `receivedAt` is trusted only inside [`RECEIPT_TIME_FLOOR_MS`, `RECEIPT_TIME_CEILING_MS`)
   * (see source-time.ts). Nothing is corrected toward an untrusted receipt time.
   */
  receivedAtTrusted?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Framing: how an input finds frame boundaries in a byte stream (executed by framing.ts).

export type Framing = LineFraming | DelimitedFraming | FixedFraming | BlockFraming | DatagramFraming;

/**
 * Text lines. The frame is the line without its terminator. With `\r\n` (or `\n`) a bare `\n`
 * also ends a line and a trailing `\r` is removed; with `\r` a leading `\n` is removed. Empty
 * lines are skipped. A line longer than `maxLength` is reported `FRAMING_OVERLONG` and dropped
 * up to the next terminator.
 */
export interface LineFraming {
  kind: 'line';
  terminator: '\r\n' | '\n' | '\r';
  maxLength: number;
}

/**
 * `start` … `end` plus `trailer` bytes after `end` (e.g. STX…ETX + two checksum characters).
 * The frame handed to decode includes the delimiters and the trailer. Bytes between frames
 * other than `idle` ones are reported as `FRAMING_GARBAGE`.
 */
export interface DelimitedFraming {
  kind: 'delimited';
  start: number;
  end: number;
  trailer: number;
  maxLength: number;
  /** Bytes that may appear between frames without being garbage (e.g. CR LF). */
  idle?: number[];
}

/**
 * Fixed-length binary frames, found by their `sync` prefix when given. When `check` is given and
 * fails, the framer reports `FRAMING_CHECK` and hunts for the next sync one byte further on, so a
 * real frame that a false sync overlapped is still found.
 */
export interface FixedFraming {
  kind: 'fixed';
  length: number;
  sync?: number[];
  check?: (frame: Buffer) => boolean;
  /** Bytes that may appear between frames without being garbage (e.g. Davis's ACK 0x06). */
  idle?: number[];
}

/**
 * Line-oriented replies grouped in blocks: a line starting with `begin` opens a block, a line
 * starting with `end` closes it, and the whole block (lines joined with `\n`) is one frame. Each
 * line outside a block is a frame of its own (e.g. upsd's `ERR ...`).
 */
export interface BlockFraming {
  kind: 'block';
  terminator: '\r\n' | '\n';
  begin: string;
  end: string;
  /** Longest line, and longest block in bytes. */
  maxLength: number;
  maxLines: number;
}

/** One datagram (UDP payload, MQTT message) is one frame. */
export interface DatagramFraming {
  kind: 'datagram';
  maxLength: number;
}

// ---------------------------------------------------------------------------------------------
// Polling: what the input sends to the instrument, and when.

export interface WakeUp {
  /** Sent on connect, and again when a poll gets no answer. */
  send: Buffer;
  /** The instrument's answer that means it is awake. */
  expect: Buffer;
  timeoutMs: number;
  attempts: number;
}

export interface PollRequest {
  send: Buffer;
  /** Byte the instrument sends first to accept the command (Davis: 0x06); the input watches for it in the raw bytes. */
  ack?: number;
  /** Byte the instrument sends to refuse it; the input resends (up to `retries`). */
  nak?: number;
  /** Frames expected in reply (0: none, e.g. a mode-setting command). */
  replyFrames: number;
  replyTimeoutMs: number;
  /** Resends after a NAK or a timeout; then the input wakes the instrument again. */
  retries: number;
}

export interface Polling {
  /** Time between poll cycles (the adapter's options may set it). */
  intervalMs: number;
  wake?: WakeUp;
  /** Sent in order each cycle. */
  requests: PollRequest[];
  /**
   * Host-to-instrument acknowledgement after each frame (Boltwood): `ack` once the frame decoded
   * and its records, if any, committed (Skyhaul's invariant 1: acknowledge only after a durable
   * commit; a skipped frame such as a poll frame is acknowledged too), `nak` when it did not
   * decode or frame.
   */
  reply?: { ack: Buffer; nak: Buffer };
}

// ---------------------------------------------------------------------------------------------

export interface FirmwareAdapter {
  /** Registry name, e.g. `vaisala-wxt`. */
  name: string;
  description: string;
  /** Bumped when a stream's schema changes incompatibly; part of the record's schema reference. */
  schemaVersion: number;
  framing: Framing;
  polling?: Polling;
  /**
   * JSON Schema per stream suffix: each reading's `{ fields, units }` object validates against it.
   * Key `*` applies to streams named by the data (json-lines with a stream field).
   */
  schemas: Record<string, JSONSchemaObject>;
  decode(frame: Buffer, meta: DecodeMeta): DecodeResult;
}

/** What the registry holds: options (validated against `optionsSchema`, defaults filled) make an adapter. */
export interface AdapterDefinition<Options = unknown> {
  name: string;
  description: string;
  /** JSON Schema of the adapter's options (`adapterOptions` in the input's configuration). */
  optionsSchema: JSONSchemaObject;
  create(options: Options): FirmwareAdapter;
}

// ---------------------------------------------------------------------------------------------
// Helpers for decoders.

export function ok(readings: DecodedReading[]): DecodeResult {
  return { ok: true, readings };
}

export function skip(code: SkipReason['code'], message: string): DecodeResult {
  return { ok: true, readings: [], skipped: { code, message } };
}

export function fail(code: AdapterErrorCode, message: string): DecodeResult {
  return { ok: false, error: { code, message } };
}

/** Printable excerpt of a frame for error messages (bounded, control bytes escaped). */
export function excerpt(frame: Buffer | string, max = 40): string {
  const text = typeof frame === 'string' ? frame : frame.subarray(0, max + 1).toString('latin1');
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut);
}

/** `skyhaul.adapter.<name>/v<schemaVersion>`: the record's schema reference. */
export function schemaRef(adapter: Pick<FirmwareAdapter, 'name' | 'schemaVersion'>): string {
  return `skyhaul.adapter.${adapter.name}/v${adapter.schemaVersion}`;
}

/**
 * The JSON payload of a reading: `{"fields":…,"units":…}`, plus `"flags":[…]` only when the reading
 * has flags and `"device_time":ms` only when it has a `deviceTime` (consumers of readings without
 * either see exactly the two keys they always saw).
 */
export function readingPayload(reading: DecodedReading): { fields: Record<string, FieldValue>; units: Record<string, string>; flags?: ReadingFlag[]; device_time?: number } {
  const payload: ReturnType<typeof readingPayload> = { fields: reading.fields, units: reading.units };
  if (reading.flags !== undefined && reading.flags.length > 0) payload.flags = reading.flags;
  if (reading.deviceTime !== undefined) payload.device_time = reading.deviceTime;
  return payload;
}

/**
 * One reading as the record an input hands to the buffer: stream `<instrument>/<suffix>`,
 * payload `readingPayload(reading)` as JSON (`{"fields":…,"units":…}`, with `flags` and
 * `device_time` only when present).
 */
export function toIncomingRecord(
  instrument: string,
  adapter: Pick<FirmwareAdapter, 'name' | 'schemaVersion'>,
  reading: DecodedReading,
  meta: DecodeMeta,
): IncomingRecord {
  return {
    stream: `${instrument}/${reading.stream}`,
    payload: Buffer.from(JSON.stringify(readingPayload(reading))),
    contentType: 'application/json',
    schemaRef: schemaRef(adapter),
    sourceTime: reading.sourceTime ?? null,
    ingestTime: meta.receivedAt,
  };
}

/**
 * A schema for one stream: an object `{ fields, units }` with these fields (all nullable unless
 * listed in `required`), and the optional `flags` (codes from `READING_FLAGS`, unique, at least one)
 * and `device_time` (ms since epoch) that `readingPayload` adds when a reading has them.
 */
export function streamSchema(
  title: string,
  fields: Record<string, JSONSchemaObject>,
  units: Record<string, string>,
  options: { additionalFields?: boolean } = {},
): JSONSchemaObject {
  return {
    type: 'object',
    title,
    additionalProperties: false,
    required: ['fields', 'units'],
    properties: {
      fields: {
        type: 'object',
        additionalProperties: options.additionalFields === true ? { type: ['number', 'string', 'boolean', 'null'] } : false,
        properties: fields,
      },
      units: {
        type: 'object',
        additionalProperties: options.additionalFields === true ? { type: 'string' } : false,
        properties: Object.fromEntries(Object.entries(units).map(([k, u]) => [k, { const: u }])),
      },
      flags: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...READING_FLAGS] }, description: 'What was done to the reading (see READING_FLAGS).' },
      device_time: { type: 'number', description: "The instrument's own time (ms since epoch) when sourceTime is not it." },
    },
  };
}

/** Field-schema shorthands. */
export const num = (description: string): JSONSchemaObject => ({ type: ['number', 'null'], description });
export const int = (description: string): JSONSchemaObject => ({ type: ['integer', 'null'], description });
export const str = (description: string): JSONSchemaObject => ({ type: ['string', 'null'], description });
export const bool = (description: string): JSONSchemaObject => ({ type: ['boolean', 'null'], description });

/** True if the text holds a C0 control character or DEL, other than those in `allowed`. */
export function hasControlChars(text: string, allowed = ''): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 || c === 0x7f) && !allowed.includes(text[i]!)) return true;
  }
  return false;
}
