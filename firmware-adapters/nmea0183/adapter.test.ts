import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DecodeResult } from '../adapter.ts';
import { hex2, xor8 } from '../checksum.ts';
import { getAdapter, safeDecode } from '../index.ts';
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
    const result = decodeChecked(adapter, '$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D', Date.UTC(2014, 11, 31, 3, 7, 21));
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
    const result = decodeChecked(adapter, reseal(Buffer.from('$GPGGA,000001.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,*00')), Date.UTC(2014, 11, 31, 23, 59, 59));
    expect(result.ok && result.readings[0]!.sourceTime).toBe(Date.UTC(2015, 0, 1, 0, 0, 1));
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
