import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DecodeResult } from '../adapter.ts';
import { hex2, xor8 } from '../checksum.ts';
import { GPS_WEEK_EPOCH_MS, getAdapter, safeDecode } from '../index.ts';
import {
  EXAMPLE_RECEIVED_AT,
  checkReadmeExample,
  checkSampleConfig,
  checkSchemas,
  decodeChecked,
  expectError,
  frameAll,
  fuzzDecoder,
  fuzzFraming,
} from '../testing.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const capture = readFileSync(join(dir, 'fixtures/bu353s4-excerpt.log'));
const constructed = readFileSync(join(dir, 'fixtures/constructed.log'));
const adapter = getAdapter('nmea0183');
const lines = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

/** Recomputes the checksum of `$…*hh` (for fuzzing past the checksum). */
function reseal(frame: Buffer): Buffer {
  const text = frame.toString('latin1');
  const star = text.lastIndexOf('*');
  if (!text.startsWith('$') || star < 1) return frame;
  const body = text.slice(1, star);
  return Buffer.from(`$${body}*${hex2(xor8(Buffer.from(body, 'latin1')))}`, 'latin1');
}

describe('nmea0183: real frames (gpsd bu353s4 capture)', () => {
  it('decodes the capture: every GGA and RMC, skips GSA/GSV as unsupported, no errors', () => {
    const frames = lines(capture);
    expect(frames).toHaveLength(30);
    const counts: Record<string, number> = {};
    for (const frame of frames) {
      const result = decodeChecked(adapter, frame, Date.UTC(2014, 11, 31, 3, 10));
      if (!result.ok) throw new Error(`${frame.toString()}: ${result.error.message}`);
      const key = result.readings[0]?.stream ?? result.skipped!.code;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    expect(counts).toEqual({ gga: 8, rmc: 8, ADAPTER_UNSUPPORTED: 14 });
  });

  it('GGA: position south/east as negative/positive degrees, altitude in m, time on the nearest UTC day', () => {
    // A 2014 capture replayed as received then: the receipt time is vouched for (as --received-at does).
    const result = decodeChecked(adapter, '$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D', { receivedAt: Date.UTC(2014, 11, 31, 3, 7, 21), receivedAtTrusted: true });
    expect(result).toEqual({
      ok: true,
      readings: [
        {
          stream: 'gga',
          fields: {
            talker: 'GP',
            time_utc: '03:07:19.000',
            latitude: -37.78478833,
            longitude: 175.31489667,
            fix_quality: 1,
            satellites: 8,
            hdop: 1.1,
            altitude: 59.9,
            geoid_separation: 23.7,
            dgps_age: null,
            dgps_station: '0000',
          },
          units: { latitude: 'deg', longitude: 'deg', altitude: 'm', geoid_separation: 'm', dgps_age: 's' },
          sourceTime: Date.UTC(2014, 11, 31, 3, 7, 19),
        },
      ],
    });
  });

  it('GGA just after midnight, received just before it: the fix belongs to the next day', () => {
    const result = decodeChecked(adapter, reseal(Buffer.from('$GPGGA,000001.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,*00')), Date.UTC(2024, 11, 31, 23, 59, 59));
    expect(result.ok && result.readings[0]!.sourceTime).toBe(Date.UTC(2025, 0, 1, 0, 0, 1));
  });

  it('GGA received on an untrusted clock (a board that booted at 1970, or a clock said to be unsynchronised): no source time rather than an invented date', () => {
    const gga = '$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D';
    for (const meta of [{ receivedAt: 0 }, { receivedAt: Date.UTC(2025, 0, 1), receivedAtTrusted: false }]) {
      const result = decodeChecked(adapter, gga, meta);
      expect(result.ok && result.readings[0]!.sourceTime).toBeNull();
      expect(result.ok && result.readings[0]!.fields.time_utc).toBe('03:07:19.000');
    }
  });

  it('RMC: knots to m/s, date and time to sourceTime', () => {
    const result = decodeChecked(adapter, '$GPRMC,030720.000,A,3747.0875,S,17518.8938,E,1.15,181.39,311214,,,A*7B');
    expect(result.ok && result.readings[0]).toEqual({
      stream: 'rmc',
      fields: {
        talker: 'GP',
        time_utc: '03:07:20.000',
        date: '2014-12-31',
        valid: true,
        latitude: -37.78479167,
        longitude: 175.31489667,
        speed: 0.59161,
        course: 181.39,
        magnetic_variation: null,
        mode: 'A',
        nav_status: null,
      },
      units: { latitude: 'deg', longitude: 'deg', speed: 'm/s', course: 'deg', magnetic_variation: 'deg' },
      sourceTime: Date.UTC(2014, 11, 31, 3, 7, 20),
    });
  });
});

describe('nmea0183: constructed frames (ZDA, other talkers, void fixes)', () => {
  it('ZDA gives the full UTC instant and the local zone', () => {
    const [a, b] = lines(constructed).map((f) => decodeChecked(adapter, f)) as [DecodeResult, DecodeResult];
    expect(a.ok && a.readings[0]).toEqual({
      stream: 'zda',
      fields: { talker: 'GP', time_utc: '03:07:19.00', date: '2014-12-31', local_zone_hours: 0, local_zone_minutes: 0 },
      units: {},
      sourceTime: Date.UTC(2014, 11, 31, 3, 7, 19),
    });
    expect(b.ok && b.readings[0]!.fields).toMatchObject({ talker: 'GN', date: '2024-02-28', local_zone_hours: -3, local_zone_minutes: 30 });
    expect(b.ok && b.readings[0]!.sourceTime).toBe(Date.UTC(2024, 1, 28, 23, 59, 59, 500));
  });

  it('a void RMC with empty fields decodes to nulls (no fix is data too)', () => {
    // NMEA 0183 null fields (gpsd, "NMEA Revealed"): an empty field is "no value", never 0.
    const result = decodeChecked(adapter, reseal(Buffer.from('$GNRMC,030720.000,V,,,,,,,311214,,,N*00')));
    expect(result.ok && result.readings[0]!.fields).toMatchObject({ valid: false, latitude: null, longitude: null, speed: null, course: null, mode: 'N' });
  });

  it('accepts sentences longer than 82 characters up to maxLength', () => {
    const long = reseal(Buffer.from(`$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000,${'X'.repeat(100)}*00`));
    expect(long.length).toBeGreaterThan(82);
    expect(decodeChecked(adapter, long).ok).toBe(true);
    expect(frameAll(adapter.framing, [Buffer.concat([long, Buffer.from('\r\n')])])[0]!.kind).toBe('frame');
    const tooLong = Buffer.concat([reseal(Buffer.from(`$GPTXT,${'Y'.repeat(300)}*00`)), Buffer.from('\r\n')]);
    expect(frameAll(adapter.framing, [tooLong]).map((e) => (e.kind === 'error' ? e.code : 'frame'))).toEqual(['FRAMING_OVERLONG']);
  });
});

describe('nmea0183: GPS week-number rollover (field report nmea-week-rollover.txt)', () => {
  // A receiver past its 1024-week rollover reports 2000-10-14 for 2020-05-30 (7,168 days later).
  const report = lines(readFileSync(join(dir, 'fixtures/field-reports/nmea-week-rollover.txt')));
  const received = Date.UTC(2020, 4, 30, 12, 0, 0);

  it('received on 2020-05-30, RMC and ZDA are moved to 2020-05-30T09:30:00Z and flagged; the receiver’s time is kept', () => {
    expect(report).toHaveLength(2);
    const [rmc, zda] = report.map((f) => decodeChecked(adapter, f, received)) as [DecodeResult, DecodeResult];
    for (const r of [rmc, zda]) {
      if (!r.ok) throw new Error(r.error.message);
      expect(r.readings[0]).toMatchObject({
        sourceTime: Date.UTC(2020, 4, 30, 9, 30),
        deviceTime: Date.UTC(2000, 9, 14, 9, 30),
        flags: ['GPS_WEEK_ROLLOVER_CORRECTED'],
        fields: { date: '2020-05-30', time_utc: '09:30:00.00' },
      });
    }
    expect(rmc.ok && rmc.readings[0]!.fields).toMatchObject({ latitude: 49.27416667, longitude: -123.18533333, speed: 0.01029, valid: true });
    // safeDecode keeps the correction and adds nothing: the corrected time agrees with the receipt time.
    expect(safeDecode(adapter, report[1]!, { receivedAt: received })).toEqual(zda);
  });

  it('several epochs behind: moved by as many (the epoch nearest the receipt time)', () => {
    const device = Date.UTC(2020, 4, 30, 9, 30) - 2 * GPS_WEEK_EPOCH_MS;
    const d = new Date(device);
    const zda = reseal(Buffer.from(`$GPZDA,093000.00,${String(d.getUTCDate()).padStart(2, '0')},${String(d.getUTCMonth() + 1).padStart(2, '0')},${d.getUTCFullYear()},00,00*00`));
    const r = decodeChecked(adapter, zda, received);
    expect(r.ok && r.readings[0]).toMatchObject({ sourceTime: Date.UTC(2020, 4, 30, 9, 30), deviceTime: device, flags: ['GPS_WEEK_ROLLOVER_CORRECTED'] });
  });

  it('not corrected toward a receipt time that cannot be trusted (a board booted at 1970, one said unsynchronised), nor one that does not match within a week: flagged instead', () => {
    // 1970; said unsynchronised; a month after the corrected date; 2 days before it (a corrected time from the future).
    for (const meta of [{ receivedAt: 0 }, { receivedAt: received, receivedAtTrusted: false }, { receivedAt: Date.UTC(2020, 6, 1) }, { receivedAt: Date.UTC(2020, 4, 28, 9, 30) }]) {
      const direct = decodeChecked(adapter, report[1]!, meta);
      expect(direct.ok && direct.readings[0]).toMatchObject({ sourceTime: Date.UTC(2000, 9, 14, 9, 30), fields: { date: '2000-10-14' } });
      expect(direct.ok && direct.readings[0]!.flags).toBeUndefined();
      const safe = safeDecode(adapter, report[1]!, meta);
      expect(safe.ok && safe.readings[0]).toMatchObject({ sourceTime: null, deviceTime: Date.UTC(2000, 9, 14, 9, 30) });
      expect(safe.ok && safe.readings[0]!.flags).toContain('SOURCE_TIME_IMPLAUSIBLE');
    }
  });

  it('a good GPS date is never moved: not by a receipt clock behind it, nor when it agrees', () => {
    const good = reseal(Buffer.from('$GPZDA,093000.00,30,05,2020,00,00*00'));
    for (const receivedAt of [0, Date.UTC(2020, 4, 30, 9, 30, 1)]) {
      const r = decodeChecked(adapter, good, receivedAt);
      expect(r.ok && r.readings[0]).toMatchObject({ sourceTime: Date.UTC(2020, 4, 30, 9, 30), fields: { date: '2020-05-30' } });
      expect(r.ok && r.readings[0]!.deviceTime).toBeUndefined();
    }
  });
});

describe('nmea0183: what stands before the sentence start (field report nmea-nul-before-dollar.hex)', () => {
  const hex = readFileSync(join(dir, 'fixtures/field-reports/nmea-nul-before-dollar.hex'), 'latin1');
  const bytes = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  // The RMC is the classic example sentence of 1994-11-19: replayed as received then.
  const replay = { receivedAt: Date.UTC(1994, 10, 19, 22, 54, 47), receivedAtTrusted: true };
  const withChecksum = (body: string): string => `${body}*${hex2(xor8(Buffer.from(body.slice(1), 'latin1')))}`;
  const rmc = withChecksum('$GPRMC,225446,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E');

  it('a NUL before each $ no longer hides the sentence: WIMWV skipped as unsupported, RMC decoded, nothing flagged', () => {
    const frames = lines(bytes);
    expect(frames.map((f) => f[0])).toEqual([0x00, 0x00]);
    const [mwv, rmcResult] = frames.map((f) => safeDecode(adapter, f, replay)) as [DecodeResult, DecodeResult];
    expect(mwv).toMatchObject({ ok: true, readings: [], skipped: { code: 'ADAPTER_UNSUPPORTED' } });
    expect(rmcResult).toEqual({
      ok: true,
      readings: [
        {
          stream: 'rmc',
          fields: {
            talker: 'GP',
            time_utc: '22:54:46',
            date: '1994-11-19',
            valid: true,
            latitude: 49.27416667,
            longitude: -123.18533333,
            speed: 0.25722,
            course: 54.7,
            magnetic_variation: 20.3,
            mode: null,
            nav_status: null,
          },
          units: { latitude: 'deg', longitude: 'deg', speed: 'm/s', course: 'deg', magnetic_variation: 'deg' },
          sourceTime: Date.UTC(1994, 10, 19, 22, 54, 46),
        },
      ],
    });
  });

  it('idle bytes (NUL, spaces, XON/XOFF, CR) before the sentence are dropped without a flag', () => {
    const r = decodeChecked(adapter, `\x00\x00 \x11\x13\r${rmc}`, replay);
    expect(r.ok && r.readings[0]!.fields.latitude).toBe(49.27416667);
    expect(r.ok && r.readings[0]!.flags).toBeUndefined();
  });

  it('an NMEA 4.0 TAG block is checked and stripped; a bad TAG checksum is ADAPTER_CHECKSUM', () => {
    // The TAG block example in gpsd's "AIVDM/AIVDO protocol decoding" (checksum 4A verified).
    const tag = '\\g:1-2-73874,n:157036,s:r003669945,c:1241544035*4A\\';
    const r = decodeChecked(adapter, `${tag}${rmc}`, replay);
    expect(r.ok && r.readings[0]).toMatchObject({ stream: 'rmc', fields: { latitude: 49.27416667 } });
    expect(r.ok && r.readings[0]!.flags).toBeUndefined();
    // Two TAG blocks in a row, after idle bytes.
    const second = `\\${withChecksum('$s:GPS1').slice(1)}\\`;
    expect(decodeChecked(adapter, `\x00${tag}${second}${rmc}`, replay).ok).toBe(true);
    expect(expectError(adapter, `${tag.replace('*4A', '*4B')}${rmc}`, 'ADAPTER_CHECKSUM')).toContain('TAG block');
    // The sentence's own checksum is still checked behind a good TAG block.
    expectError(adapter, `${tag}${rmc.slice(0, -1)}0`, 'ADAPTER_CHECKSUM');
  });

  it('a modem prefix, line noise or a cut-off earlier sentence is discarded and the reading flagged LEADING_BYTES_DISCARDED', () => {
    for (const prefix of ['CONNECT 9600 ', 'UdPbC\x00', '\xff\xfe#@', '$GPGGA,2254', 'stray\\no-tag\\', '\\']) {
      const r = decodeChecked(adapter, `${prefix}${rmc}`, replay);
      if (!r.ok) throw new Error(`${JSON.stringify(prefix)}: ${r.error.message}`);
      expect(r.readings[0]!.fields.latitude, JSON.stringify(prefix)).toBe(49.27416667);
      expect(r.readings[0]!.flags, JSON.stringify(prefix)).toEqual(['LEADING_BYTES_DISCARDED']);
    }
    // Without any sentence start it is still not an NMEA sentence.
    expectError(adapter, 'CONNECT 9600', 'ADAPTER_PARSE');
  });
});

describe('nmea0183: bad frames', () => {
  it('bad checksum', () => {
    expect(expectError(adapter, '$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7E', 'ADAPTER_CHECKSUM')).toContain('7D');
    // One changed digit in the data, checksum as captured.
    expectError(adapter, '$GPRMC,030720.000,A,3747.0875,S,17518.8938,E,1.16,181.39,311214,,,A*7B', 'ADAPTER_CHECKSUM');
  });

  it('truncated sentences (cut in the data or in the checksum)', () => {
    expectError(adapter, '$GPGGA,030719.000,3747.08', 'ADAPTER_TRUNCATED');
    expectError(adapter, '$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7', 'ADAPTER_TRUNCATED');
  });

  it('garbage and malformed fields', () => {
    expectError(adapter, '\x00\xffgarbage', 'ADAPTER_PARSE');
    expectError(adapter, 'GPGGA,030719.000*00', 'ADAPTER_PARSE');
    expectError(adapter, reseal(Buffer.from('$GPGGA,030719.000,3747.0873,Q,17518.8938,E,1,08*00')), 'ADAPTER_PARSE');
    expectError(adapter, reseal(Buffer.from('$GPGGA,256199.000,3747.0873,S,17518.8938,E,1,08*00')), 'ADAPTER_PARSE');
    expectError(adapter, reseal(Buffer.from('$GPRMC,030720.000,A,3747.0875,S,17518.8938,E,1.15,181.39,310214,,,A*00')), 'ADAPTER_PARSE');
    expectError(adapter, reseal(Buffer.from('$GPRMC,030720.000,A*00')), 'ADAPTER_PARSE');
  });

  it('a checksum is required unless the options say otherwise', () => {
    const bare = '$GPZDA,030719.00,31,12,2014,00,00';
    expectError(adapter, bare, 'ADAPTER_TRUNCATED');
    const lenient = getAdapter('nmea0183', { requireChecksum: false });
    expect(decodeChecked(lenient, bare).ok).toBe(true);
  });

  it('proprietary and unknown sentences are skipped, not errors', () => {
    const result = decodeChecked(adapter, reseal(Buffer.from('$PSRF150,1*00')));
    expect(result).toMatchObject({ ok: true, readings: [], skipped: { code: 'ADAPTER_UNSUPPORTED' } });
  });

  it('framing a stream with garbage between lines keeps the good sentences', () => {
    const stream = Buffer.concat([Buffer.from('\xff\xfe\r\n', 'latin1'), capture.subarray(0, 200), Buffer.from('\x00\x00junk'), capture.subarray(200)]);
    const results = lines(stream).map((f) => safeDecode(adapter, f, { receivedAt: EXAMPLE_RECEIVED_AT }));
    expect(results.filter((r) => r.ok).length).toBeGreaterThanOrEqual(28);
  });
});

describe('nmea0183: fuzzing', () => {
  it('decode never throws on random bytes, random sentences, or mutated real sentences (resealed or not)', () => {
    fuzzDecoder(adapter, [...lines(capture), ...lines(constructed)], { reseal });
  });

  it('framing is chunking-invariant, survives random bytes, and frames 1 MB in under a second', () => {
    fuzzFraming(adapter.framing, capture);
  });
});

describe('nmea0183: folder', () => {
  it('schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'nmea0183');
    checkReadmeExample(dir);
  });
});
