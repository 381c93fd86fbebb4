/**
 * Text values from instruments (upsd variables, CSV string cells, JSON strings, a WXT's Id field):
 * UTF-8 when the bytes are UTF-8. When they are not — one flipped bit on a serial line, a driver
 * copying a vendor string byte for byte — only that value is affected: each invalid sequence
 * becomes U+FFFD and the reading carries `TEXT_VALUE_INVALID_UTF8`, instead of the whole frame
 * being rejected (which, for upsd, lost every variable of every poll).
 *
 * Why U+FFFD rather than dropping the value or writing `\xNN`: it is the Unicode standard's
 * substitution (WHATWG decoding, one U+FFFD per maximal invalid subpart, so no ASCII byte around it
 * is swallowed), the valid part of the value stays readable for an operator (a serial number with
 * one damaged character is still recognisable), it cannot be confused with text the device sent
 * (an escape such as `\x9b` can: upsd and CSV values may contain backslashes), and the flag says
 * that a substitution happened.
 */
import { isUtf8 } from 'node:buffer';

// The WHATWG decoder (replacement mode); ignoreBOM keeps a leading U+FEFF as the device sent it.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** A text value decoded from bytes: `valid` false when the bytes were not UTF-8 and U+FFFD stands in for the bad sequences. */
export interface TextValue {
  text: string;
  valid: boolean;
}

/** Decodes `bytes` as UTF-8 (a BOM is kept as U+FEFF: the device's bytes, not a file marker). */
export function decodeText(bytes: Buffer): TextValue {
  return { text: decoder.decode(bytes), valid: isUtf8(bytes) };
}

/** The same for a value held as a latin1 string (one char per byte, as the ASCII-framed decoders slice their frames). */
export function decodeLatin1Text(bytesAsLatin1: string): TextValue {
  return decodeText(Buffer.from(bytesAsLatin1, 'latin1'));
}
