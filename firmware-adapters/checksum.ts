/** Checksums the instrument protocols use; pure functions over bytes. */

/** NMEA 0183 (and look-alikes: Boltek, Gill): XOR of all bytes. */
export function xor8(bytes: Buffer): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

/** Two upper-case hex digits, as NMEA writes a checksum. */
export function hex2(value: number): string {
  return (value & 0xff).toString(16).toUpperCase().padStart(2, '0');
}

/** Parses exactly two hex digits (either case); NaN otherwise. */
export function parseHex2(text: string): number {
  return /^[0-9A-Fa-f]{2}$/.test(text) ? parseInt(text, 16) : Number.NaN;
}

const CRC16_XMODEM_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/**
 * CRC-16/XMODEM (CCITT polynomial 0x1021, initial value 0, no reflection): Davis Vantage's
 * "CRC-CCITT" (run over a packet including its big-endian CRC it yields 0) and the Boltwood Cloud
 * Sensor II's frame CRC. Check value: crc16Xmodem("123456789") = 0x31C3.
 */
export function crc16Xmodem(bytes: Buffer, initial = 0): number {
  let crc = initial & 0xffff;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_XMODEM_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/**
 * The SDI-12 CRC that Vaisala's ASCII protocol appends to messages of lower-case commands
 * (`0r0` …): CRC-16 with the reflected polynomial 0xA001, initial 0, over every character from
 * the address to the last data character, sent as three characters 0x40|bits 15-12, 0x40|bits
 * 11-6, 0x40|bits 5-0. Checked against the examples in Vaisala's WXT510 user's guide.
 */
export function sdi12Crc(bytes: Buffer): string {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return String.fromCharCode(0x40 | (crc >> 12), 0x40 | ((crc >> 6) & 0x3f), 0x40 | (crc & 0x3f));
}
