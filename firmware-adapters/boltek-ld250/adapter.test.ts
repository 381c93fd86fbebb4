import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hex2, xor8 } from '../checksum.ts';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming } from '../testing.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const log = readFileSync(join(dir, 'fixtures/ld250.log'));
const adapter = getAdapter('boltek-ld250');
const lines = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

function reseal(frame: Buffer): Buffer {
  const text = frame.toString('latin1');
  const star = text.lastIndexOf('*');
  if (!text.startsWith('$') || star < 1) return frame;
  const body = text.slice(1, star);
  return Buffer.from(`$${body}*${hex2(xor8(Buffer.from(body, 'latin1')))}`, 'latin1');
}

describe('boltek-ld250', () => {
  it('decodes strikes (miles to km), status (rates, alarms) and noise', () => {
    const results = lines(log).map((f) => decodeChecked(adapter, f));
    expect(results.map((r) => (r.ok ? r.readings[0]!.stream : r.error.code))).toEqual(['status', 'status', 'strike', 'status', 'noise']);
    expect(results[2]).toEqual({
      ok: true,
      readings: [
        {
          stream: 'strike',
          fields: { corrected_distance: 67.5924, uncorrected_distance: 75.6392, bearing: 137.5 },
          units: { corrected_distance: 'km', uncorrected_distance: 'km', bearing: 'deg' },
        },
      ],
    });
    expect(results[3]!.ok && results[3]!.readings[0]!.fields).toEqual({ close_strike_rate: 27, total_strike_rate: 63, close_alarm: true, severe_alarm: true, heading: 0 });
  });

  it('no documented no-data values: heading 000.0 (north) and zero rates are readings, an empty field is not a value', () => {
    // Boltek LD-250 manual and the Rubin Observatory ts_ess LD-250 notes define no sentinel: every
    // field is a measurement, so nothing is nulled; an undocumented empty field is a malformed sentence.
    const r = decodeChecked(adapter, '$WIMST,0,0,0,0,000.0*56');
    expect(r.ok && r.readings[0]!.fields).toEqual({ close_strike_rate: 0, total_strike_rate: 0, close_alarm: false, severe_alarm: false, heading: 0 });
    expectError(adapter, reseal(Buffer.from('$WIMLI,,47,137.5*00')), 'ADAPTER_PARSE');
  });

  it('distances already in km when configured', () => {
    const km = getAdapter('boltek-ld250', { distanceUnit: 'kilometres' });
    const r = decodeChecked(km, '$WIMLI,42,47,137.5*51');
    expect(r.ok && r.readings[0]!.fields.corrected_distance).toBe(42);
  });

  it('bad checksum, truncated, garbage, unknown sentences', () => {
    expectError(adapter, '$WIMLI,42,47,137.5*50', 'ADAPTER_CHECKSUM');
    expectError(adapter, '$WIMLI,43,47,137.5*51', 'ADAPTER_CHECKSUM');
    // As published in one protocol summary, with an invalid checksum: rejected.
    expectError(adapter, '$WIMST,0,0,0,0,000.0*42', 'ADAPTER_CHECKSUM');
    expectError(adapter, '$WIMLI,42,4', 'ADAPTER_TRUNCATED');
    expectError(adapter, reseal(Buffer.from('$WIMLI,42,47*00')), 'ADAPTER_TRUNCATED');
    expectError(adapter, reseal(Buffer.from('$WIMLI,42,47,400.0*00')), 'ADAPTER_PARSE');
    expectError(adapter, reseal(Buffer.from('$WIMST,1,2,3,0,000.0*00')), 'ADAPTER_PARSE');
    expectError(adapter, '\xff\xfe', 'ADAPTER_PARSE');
    expect(decodeChecked(adapter, reseal(Buffer.from('$WIMXX,1*00')))).toMatchObject({ ok: true, skipped: { code: 'ADAPTER_UNSUPPORTED' } });
  });

  it('what stands before the $ does not hide the sentence (shared NMEA envelope): NUL and idle bytes, TAG blocks, a prefix', () => {
    const strike = { corrected_distance: 67.5924, uncorrected_distance: 75.6392, bearing: 137.5 };
    // A NUL before each $, as the field report shows for a GPS (the same envelope code).
    const nul = decodeChecked(adapter, '\x00$WIMLI,42,47,137.5*51');
    expect(nul).toEqual({ ok: true, readings: [{ stream: 'strike', fields: strike, units: { corrected_distance: 'km', uncorrected_distance: 'km', bearing: 'deg' } }] });
    // Through the framer too: a NUL-prefixed stream gives the same frames' readings.
    const framed = lines(Buffer.from('\x00$WIMST,3,12,0,0,000.0*66\r\n\x00$WIMLN*51\r\n', 'latin1')).map((f) => decodeChecked(adapter, f));
    expect(framed.map((r) => r.ok && r.readings[0]!.stream)).toEqual(['status', 'noise']);
    // An NMEA 4.0 TAG block (from a serial-to-network multiplexer): checked, stripped.
    const body = 's:LD250,c:1717243200';
    const tag = `\\${body}*${hex2(xor8(Buffer.from(body)))}\\`;
    expect(decodeChecked(adapter, `${tag}$WIMLI,42,47,137.5*51`)).toEqual(nul);
    expectError(adapter, `\\${body}*00\\$WIMLI,42,47,137.5*51`, 'ADAPTER_CHECKSUM');
    // Noise before the sentence: discarded, the reading flagged.
    const noisy = decodeChecked(adapter, '~~ATZ$WIMLI,42,47,137.5*51');
    expect(noisy.ok && noisy.readings[0]).toMatchObject({ fields: strike, flags: ['LEADING_BYTES_DISCARDED'] });
  });

  it('fuzzing: decode never throws; framing', () => {
    fuzzDecoder(adapter, lines(log), { reseal });
    fuzzFraming(adapter.framing, log);
  });

  it('folder: schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'boltek-ld250');
    checkReadmeExample(dir);
  });
});
