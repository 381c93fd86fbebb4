import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sdi12Crc } from '../checksum.ts';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming } from '../testing.ts';
import { pollCommand } from './adapter.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const manual = readFileSync(join(dir, 'fixtures/vaisala-manual-examples.txt'));
const device = readFileSync(join(dir, 'fixtures/wxt520-weewx-driver.txt'));
const adapter = getAdapter('vaisala-wxt');
const lines = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

/** For `ar…` replies: recompute the CRC over the (mutated) data. */
function reseal(frame: Buffer): Buffer {
  const text = frame.toString('latin1');
  if (!/^[0-9A-Za-z]r/.test(text) || text.length < 6) return frame;
  const data = text.slice(0, -3);
  return Buffer.from(data + sdi12Crc(Buffer.from(data, 'latin1')), 'latin1');
}

describe('vaisala-wxt: examples from Vaisala manuals and a WXT520 in the field', () => {
  it('every line decodes, CRC lines included', () => {
    for (const frame of [...lines(manual), ...lines(device)]) {
      const result = decodeChecked(adapter, frame);
      if (!result.ok) throw new Error(`${frame.toString()}: ${result.error.message}`);
      expect(result.readings.length).toBeGreaterThan(0);
    }
  });

  it('converts unit letters to canonical units (°F, inches, km/h, knots, mph, mmHg, inHg, Pa, bar)', () => {
    const ptu = decodeChecked(adapter, '0R2,Ta=74.6F,Ua=14.7P,Pa=1012.9H');
    expect(ptu.ok && ptu.readings).toEqual([
      { stream: 'ptu', fields: { air_temperature: 23.66667, relative_humidity: 14.7, air_pressure: 1012.9 }, units: { air_temperature: 'Cel', relative_humidity: '%', air_pressure: 'hPa' } },
    ]);
    const f = (line: string, stream: string): Record<string, unknown> => {
      const r = decodeChecked(adapter, line);
      if (!r.ok) throw new Error(r.error.message);
      return r.readings.find((x) => x.stream === stream)!.fields;
    };
    expect(f('0R1,Sn=36.0K,Sm=10.0N,Sx=10.0S', 'wind')).toEqual({ wind_speed_min: 10, wind_speed_avg: 5.14444, wind_speed_max: 4.4704 });
    expect(f('0R2,Pa=760.0M', 'ptu')).toEqual({ air_pressure: 1013.2501 });
    expect(f('0R2,Pa=29.92I', 'ptu')).toEqual({ air_pressure: 1013.2076 });
    expect(f('0R2,Pa=101325P', 'ptu')).toEqual({ air_pressure: 1013.25 });
    expect(f('0R2,Pa=1.01325B', 'ptu')).toEqual({ air_pressure: 1013.25 });
    expect(f('0R0,Rc=0.000I,Ri=0.10I', 'precip')).toEqual({ rain_accumulation: 0, rain_intensity: 2.54 });
    expect(f('0R3,Hc=6.4516I,Hi=12H', 'precip')).toEqual({ hail_accumulation: 1, hail_count_rate: 12 });
  });

  it("'#' instead of the unit letter marks an invalid value: null, with its unit still named", () => {
    const result = decodeChecked(adapter, lines(device)[0]!);
    expect(result.ok && result.readings[0]).toEqual({
      stream: 'wind',
      fields: { wind_direction_min: null, wind_direction_avg: null, wind_direction_max: null, wind_speed_min: null, wind_speed_avg: null, wind_speed_max: null },
      units: { wind_direction_min: 'deg', wind_direction_avg: 'deg', wind_direction_max: 'deg', wind_speed_min: 'm/s', wind_speed_avg: 'm/s', wind_speed_max: 'm/s' },
    });
  });

  it("'#' is never a reading: every parameter marked invalid is null, and Vh's '#' is no heating state", () => {
    // Vaisala WXT510/WXT520 user's guide, data messages: '#' in place of the unit character
    // marks invalid data (the manual's own example: 0r5,…,Vh=10.6#,…).
    const r = decodeChecked(adapter, '0R0,Dn=000#,Dm=000#,Dx=000#,Sn=0.0#,Sm=0.0#,Sx=0.0#,Ta=0.0#,Tp=0.0#,Ua=0.0#,Pa=0.0#,Rc=0.00#,Rd=0#,Ri=0.0#,Rp=0.0#,Hc=0.0#,Hd=0#,Hi=0.0#,Hp=0.0#,Th=0.0#,Vh=0.0#,Vs=0.0#,Vr=0.000#');
    if (!r.ok) throw new Error(r.error.message);
    expect(r.readings.map((x) => x.stream)).toEqual(['wind', 'ptu', 'precip', 'supervisor']);
    for (const reading of r.readings) for (const [field, value] of Object.entries(reading.fields)) expect(value, field).toBeNull();
    expect(r.readings[3]!.fields).toHaveProperty('heating_state', null);
  });

  it('checks the CRC of lower-case replies (algorithm verified on the manual examples)', () => {
    expect(sdi12Crc(Buffer.from('0r1,Sn=0.1M,Sm=0.1M,Sx=0.1M'))).toBe('GOG');
    const result = decodeChecked(adapter, '0r5,Th=25.0C,Vh=10.6#,Vs=10.8V,Vr=3.369VO]T');
    expect(result.ok && result.readings[0]!.fields).toEqual({ heating_temperature: 25, heating_voltage: null, heating_state: null, supply_voltage: 10.8, reference_voltage: 3.369 });
    expectError(adapter, '0r1,Sn=0.1M,Sm=0.2M,Sx=0.1MGOG', 'ADAPTER_CHECKSUM');
    expectError(adapter, '0r2,Ta=22.7C,Ua=55.5P,Pa=1004.7H@Fm', 'ADAPTER_CHECKSUM');
  });

  it('text messages, command replies', () => {
    expect(decodeChecked(adapter, '0TX,Start-up')).toEqual({ ok: true, readings: [{ stream: 'text', fields: { message: 'Start-up' }, units: {} }] });
    expect(decodeChecked(adapter, '0XU,A=0,M=P,T=0,C=2,I=0,B=19200,D=8,P=N,S=1,L=25,N=WXT520,V=2.14')).toMatchObject({ ok: true, readings: [], skipped: { code: 'ADAPTER_CONTROL' } });
    expect(decodeChecked(adapter, '0')).toMatchObject({ ok: true, skipped: { code: 'ADAPTER_CONTROL' } });
  });

  it('polled mode declares the command (with CRC when asked)', () => {
    expect(adapter.polling).toBeUndefined();
    const polled = getAdapter('vaisala-wxt', { mode: 'polled', crc: true, intervalMs: 10000 });
    expect(polled.polling?.intervalMs).toBe(10000);
    expect(polled.polling?.requests[0]?.send.toString('latin1')).toBe(pollCommand({ address: '0', command: 'R0', crc: true }).toString('latin1'));
    expect(pollCommand({ address: '0', command: 'R0', crc: false }).toString()).toBe('0R0\r\n');
    expect(pollCommand({ address: '0', command: 'R0', crc: true }).toString()).toMatch(/^0r0[@-\x7f]{3}\r\n$/);
  });
});

describe('vaisala-wxt: text values', () => {
  it('a byte that is not UTF-8 in the Id field or an aTX text keeps the message: U+FFFD, reading flagged; in a number it is a bad value', () => {
    const r = decodeChecked(adapter, Buffer.from('0R5,Th=25.9C,Vh=12.0N,Vs=15.2V,Vr=3.475V,Id=HEL\x9b__', 'latin1'));
    expect(r.ok && r.readings).toEqual([
      {
        stream: 'supervisor',
        fields: { heating_temperature: 25.9, heating_voltage: 12, heating_state: 'N', supply_voltage: 15.2, reference_voltage: 3.475, information: 'HEL\ufffd__' },
        units: { heating_temperature: 'Cel', heating_voltage: 'V', supply_voltage: 'V', reference_voltage: 'V' },
        flags: ['TEXT_VALUE_INVALID_UTF8'],
      },
    ]);
    const composite = decodeChecked(adapter, Buffer.from('0R0,Dm=051D,Sm=0.1M,Ta=27.9C,Id=\xff', 'latin1'));
    expect(composite.ok && composite.readings.map((x) => [x.stream, x.flags])).toEqual([['wind', undefined], ['ptu', undefined], ['supervisor', ['TEXT_VALUE_INVALID_UTF8']]]);
    const tx = decodeChecked(adapter, Buffer.from('0TX,Start-up \xc3', 'latin1'));
    expect(tx).toEqual({ ok: true, readings: [{ stream: 'text', fields: { message: 'Start-up \ufffd' }, units: {}, flags: ['TEXT_VALUE_INVALID_UTF8'] }] });
    expectError(adapter, Buffer.from('0R2,Ta=74.6\xb0F', 'latin1'), 'ADAPTER_PARSE');
    expectError(adapter, Buffer.from('0R5,Id=HEL\x01', 'latin1'), 'ADAPTER_PARSE');
  });
});

describe('vaisala-wxt: bad frames', () => {
  it('truncated lines', () => {
    expectError(adapter, '0R2,Ta=74.6F,Ua=14.7P,Pa=1012.', 'ADAPTER_TRUNCATED');
    expectError(adapter, '0R2,Ta=74.6F,Ua=14.7P,P', 'ADAPTER_TRUNCATED');
    expectError(adapter, '0r2', 'ADAPTER_TRUNCATED');
  });

  it('garbage and malformed parameters', () => {
    expectError(adapter, '\x00\x13\xfe', 'ADAPTER_PARSE');
    expectError(adapter, 'hello world', 'ADAPTER_PARSE');
    expectError(adapter, '0R1,Dn=0m=032D,Sm=0.1M', 'ADAPTER_PARSE'); // seen in the field: two parameters run together
    expectError(adapter, '0R2,Ta=74.6Q', 'ADAPTER_PARSE'); // unknown unit letter
    expectError(adapter, '0R2Ta=74.6F', 'ADAPTER_PARSE');
  });

  it('unknown parameters are ignored (newer firmware), known ones still decode', () => {
    const r = decodeChecked(adapter, '0R2,Ta=20.0C,Zz=1.0M');
    expect(r.ok && r.readings[0]!.fields).toEqual({ air_temperature: 20 });
  });
});

describe('vaisala-wxt: fuzzing', () => {
  it('decode never throws', () => {
    fuzzDecoder(adapter, [...lines(manual), ...lines(device)], { reseal });
  });

  it('framing', () => {
    fuzzFraming(adapter.framing, Buffer.concat([manual, device]));
  });
});

describe('vaisala-wxt: folder', () => {
  it('schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'vaisala-wxt');
    checkReadmeExample(dir);
  });
});
