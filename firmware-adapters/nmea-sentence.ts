/**
 * NMEA 0183 sentence envelope, shared by adapters whose instruments speak it (GPS receivers,
 * Boltek LD-250): `$<address>,<field>,…*<hh>` where hh is the XOR of every byte between `$` and
 * `*`. Only the envelope: the adapters interpret the fields.
 *
 * What may stand before the sentence start, and must not hide the sentence:
 * - idle bytes: NUL (some receivers send one before each `$`), whitespace, XON/XOFF;
 * - NMEA 4.0 TAG blocks `\<tag>,<tag>*hh\` directly before the sentence (source, time, grouping
 *   from a multiplexer or an IEC 61162-450 network); hh is the XOR of the bytes between `\` and
 *   `*`. A good TAG block is stripped (its content is in `Sentence.tagBlocks`), a bad checksum is
 *   `ADAPTER_CHECKSUM`; text between backslashes without `*hh` is not a TAG block (the checksum is
 *   mandatory) and is discarded like any other prefix. Source: NMEA 0183 v4.00 "TAG
 *   blocks", as documented by gpsd ("AIVDM/AIVDO protocol decoding", NMEA 4.0 TAG blocks);
 * - anything else (a modem or gateway prefix, line noise, the cut-off start of an earlier
 *   sentence): discarded and counted in `Sentence.discardedLeadingBytes`, which the adapters turn
 *   into the reading flag `LEADING_BYTES_DISCARDED`.
 * The sentence starts at the last `$` or `!` of the frame: both are reserved characters that no
 * field, TAG block or checksum may contain, so an earlier one can only belong to something cut off.
 */
import { addFlag, fail, type DecodeResult, excerpt } from './adapter.ts';
import { hex2, parseHex2, xor8 } from './checksum.ts';

export interface Sentence {
  /** The address field, e.g. `GPGGA` or `WIMLI`. */
  address: string;
  /** The fields after the address (empty strings for empty fields). */
  fields: string[];
  /** Whether a checksum was present (and correct). */
  checked: boolean;
  /** Contents of the TAG blocks before the sentence, checksum verified and removed (e.g. `s:r3669961,c:1241544035`). */
  tagBlocks: string[];
  /** Bytes before the sentence (and its TAG blocks) that were not idle bytes: discarded. */
  discardedLeadingBytes: number;
}

/** NUL, TAB, LF, CR, XON, XOFF, space: what a line carries between sentences without meaning anything. */
const IDLE = new Set([0x00, 0x09, 0x0a, 0x0d, 0x11, 0x13, 0x20]);

const TAG_BLOCK = /^([\x20-\x7e]*)\*([0-9A-Fa-f]{2})$/;

/** Parses the envelope; the error is a ready DecodeResult. */
export function parseSentence(frame: Buffer, requireChecksum: boolean): { ok: true; sentence: Sentence } | { ok: false; result: DecodeResult } {
  const whole = frame.toString('latin1');
  const start = Math.max(whole.lastIndexOf('$'), whole.lastIndexOf('!'));
  if (start === -1) {
    return { ok: false, result: fail('ADAPTER_PARSE', `not an NMEA sentence (expected '$'): ${excerpt(whole)}`) };
  }
  const tagBlocks: string[] = [];
  let prefixEnd = start;
  while (prefixEnd > 0 && whole[prefixEnd - 1] === '\\') {
    const open = prefixEnd >= 2 ? whole.lastIndexOf('\\', prefixEnd - 2) : -1;
    const block = open === -1 ? '' : whole.slice(open + 1, prefixEnd - 1);
    const m = open === -1 ? null : TAG_BLOCK.exec(block);
    // Without `*hh` it is not a TAG block NMEA 4.0 allows (the checksum is mandatory): a stray
    // backslash or noise, discarded and counted with the rest of the prefix.
    if (m === null) break;
    const actual = xor8(Buffer.from(m[1]!, 'latin1'));
    if (actual !== parseInt(m[2]!, 16)) {
      return { ok: false, result: fail('ADAPTER_CHECKSUM', `TAG block checksum ${m[2]!} does not match computed ${hex2(actual)}: ${excerpt(block)}`) };
    }
    tagBlocks.unshift(m[1]!);
    prefixEnd = open;
  }
  let discardedLeadingBytes = 0;
  for (let i = 0; i < prefixEnd; i++) if (!IDLE.has(whole.charCodeAt(i))) discardedLeadingBytes++;
  const text = whole.slice(start);
  if (!/^[\x20-\x7e]*$/.test(text)) {
    return { ok: false, result: fail('ADAPTER_PARSE', `non-printable bytes in sentence: ${excerpt(text)}`) };
  }
  const star = text.lastIndexOf('*');
  let body: string;
  let checked = false;
  if (star === -1) {
    if (requireChecksum) return { ok: false, result: fail('ADAPTER_TRUNCATED', `no checksum (sentence cut short?): ${excerpt(text)}`) };
    body = text.slice(1);
  } else {
    body = text.slice(1, star);
    const given = text.slice(star + 1);
    if (given.length < 2) return { ok: false, result: fail('ADAPTER_TRUNCATED', `checksum cut short: ${excerpt(text)}`) };
    const expected = parseHex2(given);
    if (Number.isNaN(expected)) return { ok: false, result: fail('ADAPTER_PARSE', `checksum is not two hex digits: ${excerpt(given)}`) };
    const actual = xor8(Buffer.from(body, 'latin1'));
    if (actual !== expected) {
      return { ok: false, result: fail('ADAPTER_CHECKSUM', `checksum ${given} does not match computed ${hex2(actual)}: ${excerpt(text)}`) };
    }
    checked = true;
  }
  const parts = body.split(',');
  const address = parts[0] ?? '';
  if (!/^[A-Z0-9]{1,10}$/.test(address)) return { ok: false, result: fail('ADAPTER_PARSE', `bad address field: ${excerpt(address)}`) };
  return { ok: true, sentence: { address, fields: parts.slice(1), checked, tagBlocks, discardedLeadingBytes } };
}

/** Marks every reading of a decoded sentence with what its envelope says (`LEADING_BYTES_DISCARDED`); returns `result`. */
export function withEnvelopeFlags(result: DecodeResult, sentence: Sentence): DecodeResult {
  if (result.ok && sentence.discardedLeadingBytes > 0) for (const reading of result.readings) addFlag(reading, 'LEADING_BYTES_DISCARDED');
  return result;
}

/** Field parsers: `null` for an empty field, `undefined` for a malformed one. */
export function decimal(field: string | undefined): number | null | undefined {
  if (field === undefined || field === '') return null;
  return /^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(field) ? Number(field) : undefined;
}

export function integer(field: string | undefined): number | null | undefined {
  if (field === undefined || field === '') return null;
  return /^[-+]?\d+$/.test(field) ? Number(field) : undefined;
}
