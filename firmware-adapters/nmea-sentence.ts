/**
 * NMEA 0183 sentence envelope, shared by adapters whose instruments speak it (GPS receivers,
 * Boltek LD-250): `$<address>,<field>,…*<hh>` where hh is the XOR of every byte between `$` and
 * `*`. Only the envelope: the adapters interpret the fields.
 */
import { fail, type DecodeResult, excerpt } from './adapter.ts';
import { hex2, parseHex2, xor8 } from './checksum.ts';

export interface Sentence {
  /** The address field, e.g. `GPGGA` or `WIMLI`. */
  address: string;
  /** The fields after the address (empty strings for empty fields). */
  fields: string[];
  /** Whether a checksum was present (and correct). */
  checked: boolean;
}

/** Parses the envelope; the error is a ready DecodeResult. */
export function parseSentence(frame: Buffer, requireChecksum: boolean): { ok: true; sentence: Sentence } | { ok: false; result: DecodeResult } {
  const text = frame.toString('latin1');
  if (text.length === 0 || (text[0] !== '$' && text[0] !== '!')) {
    return { ok: false, result: fail('ADAPTER_PARSE', `not an NMEA sentence (expected '$'): ${excerpt(text)}`) };
  }
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
  return { ok: true, sentence: { address, fields: parts.slice(1), checked } };
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
