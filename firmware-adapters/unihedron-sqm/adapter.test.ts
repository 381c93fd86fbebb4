import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming } from '../testing.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const log = readFileSync(join(dir, 'fixtures/sqm.log'));
const adapter = getAdapter('unihedron-sqm');
const lines = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

describe('unihedron-sqm', () => {
  it('decodes rx, ux and ix replies', () => {
    const results = lines(log).map((f) => decodeChecked(adapter, f));
    expect(results).toHaveLength(5);
    expect(results[0]).toEqual({
      ok: true,
      readings: [
        {
          stream: 'reading',
          fields: { sky_brightness: 19.29, frequency: 5915, period_counts: 0, period: 0, temperature: 29.9, averaged: true, saturated: false, linear_value: null, serial_number: null },
          units: { sky_brightness: '{mag/arcsec2}', frequency: 'Hz', period: 's', temperature: 'Cel' },
        },
      ],
    });
    expect(results[2]!.ok && results[2]!.readings[0]!.fields.sky_brightness).toBe(-9.42);
    expect(results[3]!.ok && results[3]!.readings[0]!.fields).toMatchObject({ averaged: false, period_counts: 110503, period: 0.161, temperature: 3.1 });
    expect(results[4]).toEqual({
      ok: true,
      readings: [{ stream: 'info', fields: { protocol_number: 4, model_number: 3, feature_number: 23, serial_number: '00002531' }, units: {} }],
    });
  });

  it('polls rx every intervalMs (and ix when asked)', () => {
    expect(adapter.polling).toMatchObject({ intervalMs: 30000, requests: [{ send: Buffer.from('rx'), replyFrames: 1 }] });
    const withInfo = getAdapter('unihedron-sqm', { intervalMs: 60000, requestInfo: true });
    expect(withInfo.polling?.requests.map((r) => r.send.toString())).toEqual(['rx', 'ix']);
  });

  it("field report sqm-trailing-linear-field.txt: newer firmware's 7th value is the linear value (45000 × Hz), not a serial number", () => {
    // Unihedron SQM-LU-DL-V operator's manual, reading request response: columns 56-65 hold
    // 45000 × the sensor frequency (0000045000 = 1 Hz); its example is this very reply.
    const [frame] = lines(readFileSync(join(dir, 'fixtures/field-reports/sqm-trailing-linear-field.txt')));
    expect(decodeChecked(adapter, frame!)).toEqual({
      ok: true,
      readings: [
        {
          stream: 'reading',
          fields: { sky_brightness: 6.7, frequency: 22921, period_counts: 20, period: 0, temperature: 39.4, averaged: true, saturated: false, linear_value: 1287103, serial_number: null },
          units: { sky_brightness: '{mag/arcsec2}', frequency: 'Hz', period: 's', temperature: 'Cel' },
        },
      ],
    });
    // A shorter 7th value is still the linear value; what a later firmware appends after it is ignored.
    const r = decodeChecked(adapter, 'u, 21.02m,0000000013Hz,0000110503c,0000000.161s, 003.1C,0000000585,1,9.72');
    expect(r.ok && r.readings[0]!.fields).toMatchObject({ linear_value: 585, serial_number: null, averaged: false });
  });

  it('0.00m is the upper brightness limit, not a sky brightness: null, with saturated true', () => {
    // SQM-LE / SQM-LU users' manuals, reading request: "A reading of 0.00m means that the light at
    // the sensor has reached the upper brightness limit of the unit."
    const r = decodeChecked(adapter, 'r, 00.00m,2147483647Hz,0000000000c,0000000.000s, 021.3C');
    expect(r.ok && r.readings[0]!.fields).toMatchObject({ sky_brightness: null, saturated: true, frequency: 2147483647 });
    const bright = decodeChecked(adapter, 'r,-09.42m,2147483647Hz,0000000000c,0000000.000s, 021.3C');
    expect(bright.ok && bright.readings[0]!.fields).toMatchObject({ sky_brightness: -9.42, saturated: false });
  });

  it('truncated, malformed, garbage, unsupported replies', () => {
    expectError(adapter, 'r, 19.29m,0000005915Hz,00000', 'ADAPTER_TRUNCATED');
    expectError(adapter, 'r, 19.29m,0000005915Hz,0000000000c,0000000.000s, 029.9X', 'ADAPTER_PARSE');
    expectError(adapter, 'r, 1a.29m,0000005915Hz,0000000000c,0000000.000s, 029.9C', 'ADAPTER_PARSE');
    expectError(adapter, 'i,00000004,00000003', 'ADAPTER_TRUNCATED');
    expectError(adapter, '\x00\x01\x02', 'ADAPTER_PARSE');
    expectError(adapter, 'hello', 'ADAPTER_PARSE');
    expect(decodeChecked(adapter, 'c,00000017.60m,0000000.000s, 023.2C,00000008.71m, 023.2C')).toMatchObject({ ok: true, skipped: { code: 'ADAPTER_UNSUPPORTED' } });
  });

  it('fuzzing: decode never throws; framing', () => {
    fuzzDecoder(adapter, lines(log));
    fuzzFraming(adapter.framing, log);
  });

  it('folder: schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'unihedron-sqm');
    checkReadmeExample(dir);
  });
});
