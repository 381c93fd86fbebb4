import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DecodeResult } from '../adapter.ts';
import { hex2, xor8 } from '../checksum.ts';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming } from '../testing.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const stream = readFileSync(join(dir, 'fixtures/windsonic.bin'));
const adapter = getAdapter('gill-windsonic');
const frames = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

/** Recomputes the XOR after ETX. */
function reseal(frame: Buffer): Buffer {
  const etx = frame.indexOf(0x03);
  if (frame[0] !== 0x02 || etx === -1) return frame;
  return Buffer.concat([frame.subarray(0, etx + 1), Buffer.from(hex2(xor8(frame.subarray(1, etx))))]);
}

describe('gill-windsonic: frames', () => {
  it("the manual's example frame, and the framer finds five frames in the fixture stream (CR LF idle)", () => {
    const all = frameAll(adapter.framing, [stream]);
    expect(all.every((e) => e.kind === 'frame')).toBe(true);
    expect(all).toHaveLength(5);
    const result = decodeChecked(adapter, '\x02Q,229,002.74,M,00,\x0316');
    expect(result).toEqual({
      ok: true,
      readings: [
        {
          stream: 'wind',
          fields: { node: 'Q', status_code: '00', status: 'ok', valid: true, wind_direction: 229, wind_speed: 2.74 },
          units: { wind_direction: 'deg', wind_speed: 'm/s' },
        },
      ],
    });
  });

  it('knots converted, direction omitted below the minimum velocity, axis failure nulls the values, UV format', () => {
    // WindSonic user manual 1405-PS-0019: the direction is blank below the minimum direction
    // velocity; status (error) codes 01/02/04 = insufficient samples on an axis: no wind value.
    const [, calm, knots, failed, uv] = frames(stream).map((f) => decodeChecked(adapter, f)) as [DecodeResult, DecodeResult, DecodeResult, DecodeResult, DecodeResult];
    expect(calm.ok && calm.readings[0]!.fields).toMatchObject({ wind_direction: null, wind_speed: 0.04, valid: true });
    expect(knots.ok && knots.readings[0]!.fields).toMatchObject({ wind_direction: 45, wind_speed: 5.14444 });
    expect(failed.ok && failed.readings[0]!.fields).toEqual({ node: 'Q', status_code: '04', status: 'axis 1 and 2 failed', valid: false, wind_direction: null, wind_speed: null });
    expect(uv.ok && uv.readings[0]).toEqual({
      stream: 'wind_uv',
      fields: { node: 'Q', status_code: '00', status: 'ok', valid: true, wind_u: 0.12, wind_v: -1.23 },
      units: { wind_u: 'm/s', wind_v: 'm/s' },
    });
  });

  it('9-padded values are never a wind reading, whatever the status code; blank fields are null', () => {
    // WindSonic user manual 1405-PS-0019, "Gill output message format": under error conditions the
    // unit pads the wind data with 9s (0+999+999.9+04). The status may not say so (08 NVM error
    // keeps valid data; a code this decoder does not know), so the padding itself is the sentinel.
    const frame = (body: string): Buffer => reseal(Buffer.from(`\x02${body}\x0300`, 'latin1'));
    const fields = (body: string): Record<string, unknown> => {
      const r = decodeChecked(adapter, frame(body));
      if (!r.ok) throw new Error(`${body}: ${r.error.message}`);
      return r.readings[0]!.fields;
    };
    expect(fields('Q,999,999.99,M,08,')).toEqual({ node: 'Q', status_code: '08', status: 'NVM error (data could be uncalibrated)', valid: true, wind_direction: null, wind_speed: null });
    expect(fields('Q,999,999.9,M,00,')).toMatchObject({ wind_direction: null, wind_speed: null, valid: true });
    expect(fields('Q,123,999.99,M,00,')).toMatchObject({ wind_direction: 123, wind_speed: null });
    expect(fields('Q,+999.99,-999.99,M,08,')).toMatchObject({ wind_u: null, wind_v: null });
    // Blank speed (documented only for the direction, below the minimum direction velocity): no value rather than a rejected frame.
    expect(fields('Q,,,M,00,')).toMatchObject({ wind_direction: null, wind_speed: null, valid: true });
    // 9.99 m/s is a wind speed, not padding.
    expect(fields('Q,090,009.99,M,00,')).toMatchObject({ wind_direction: 90, wind_speed: 9.99 });
  });

  it('bad checksum, truncated, garbage', () => {
    expectError(adapter, '\x02Q,229,002.74,M,00,\x0317', 'ADAPTER_CHECKSUM');
    expectError(adapter, '\x02Q,229,002.75,M,00,\x0316', 'ADAPTER_CHECKSUM');
    expectError(adapter, '\x02Q,229,002.74,M,00,\x031', 'ADAPTER_TRUNCATED');
    expectError(adapter, '\x02Q,229,002.74,M', 'ADAPTER_TRUNCATED');
    expectError(adapter, 'Q,229,002.74,M,00,\x0316', 'ADAPTER_PARSE');
    expectError(adapter, reseal(Buffer.from('\x02Q,229,002.74,X,00,\x0300')), 'ADAPTER_PARSE');
    expectError(adapter, reseal(Buffer.from('\x02Q,2x9,002.74,M,00,\x0300')), 'ADAPTER_PARSE');
  });

  it('framing: garbage between frames, a frame cut by a new STX, an over-long frame', () => {
    const data = Buffer.concat([Buffer.from('xx'), Buffer.from('\x02Q,229,0'), stream.subarray(0, 24), Buffer.from(`\x02${'9'.repeat(100)}\x03AA`)]);
    const codes = frameAll(adapter.framing, [data]).map((e) => (e.kind === 'frame' ? 'frame' : e.code));
    expect(codes).toEqual(['FRAMING_GARBAGE', 'FRAMING_TRUNCATED', 'frame', 'FRAMING_OVERLONG']);
  });

  it('polling only when configured', () => {
    expect(adapter.polling).toBeUndefined();
    const polled = getAdapter('gill-windsonic', { poll: { command: 'Q' } });
    expect(polled.polling).toMatchObject({ intervalMs: 1000, requests: [{ send: Buffer.from('Q'), replyFrames: 1 }] });
  });
});

describe('gill-windsonic: fuzzing', () => {
  it('decode never throws', () => {
    fuzzDecoder(adapter, frames(stream), { reseal });
  });

  it('framing', () => {
    fuzzFraming(adapter.framing, stream);
  });
});

describe('gill-windsonic: folder', () => {
  it('schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'gill-windsonic');
    checkReadmeExample(dir);
  });
});
