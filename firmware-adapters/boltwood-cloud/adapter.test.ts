import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { crc16Xmodem } from '../checksum.ts';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming } from '../testing.ts';
import { encodeDataFrame } from './adapter.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const stream = readFileSync(join(dir, 'fixtures/cloud-sensor-ii.bin'));
const adapter = getAdapter('boltwood-cloud');
const frames = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

/** Recomputes the CRC of a mutated `STX M … CRC LF` frame. */
function reseal(frame: Buffer): Buffer {
  if (frame.length < 7 || frame[0] !== 0x02 || frame[1] !== 0x4d) return frame;
  return encodeDataFrame(frame.subarray(2, frame.length - 5).toString('latin1'));
}

describe('boltwood-cloud', () => {
  it('CRC-16/XMODEM check value', () => {
    expect(crc16Xmodem(Buffer.from('123456789'))).toBe(0x31c3);
  });

  it('frames the stream (0x00 before the poll frame is idle) and decodes clear, wet and poll frames', () => {
    const all = frameAll(adapter.framing, [stream]);
    expect(all.map((e) => e.kind)).toEqual(['frame', 'frame', 'frame', 'frame', 'frame']);
    const [clear, poll, wet, night, thresholds] = frames(stream).map((f) => decodeChecked(adapter, f));
    expect(clear!.ok && clear!.readings[0]!.fields).toMatchObject({
      cloud_condition: 3,
      sky_condition: 3,
      roof_close_requested: true,
      sky_minus_ambient: -3.1,
      sky_status: 'ok',
      ambient_temperature: 29.3,
      wind_speed: 0,
      wind_status: 'ok',
      wet_state: 'dry',
      wet: false,
      rain_state: 'none',
      relative_humidity: 22,
      dew_point: 5.2,
      case_temperature: 41.2,
      black_body_temperature: null,
      supply_voltage: 24.4,
      day_condition: 3,
      daylight_adc: 502,
    });
    expect(poll).toMatchObject({ ok: true, readings: [], skipped: { code: 'ADAPTER_CONTROL' } });
    expect(wet!.ok && wet!.readings[0]!.fields).toMatchObject({ sky_minus_ambient: null, sky_status: 'wet', wind_speed: null, wind_status: 'wet', wet: true, rain: true });
    expect(night!.ok && night!.readings[0]!.fields).toMatchObject({ sky_minus_ambient: -31.7, wind_speed: 3.5, cloud_condition: 1 });
    expect(thresholds).toMatchObject({ ok: true, readings: [], skipped: { code: 'ADAPTER_UNSUPPORTED' } });
  });

  it('sky sentinels: saturated hot and cold; ambient -40 with 0 % means no sensor communication', () => {
    // eddyem/boltwood Protocol.md (D record) and the Clarity II data file key: sky 999.9 saturated
    // hot, -999.9 saturated cold, -998 wet; wind -1 still heating … -6 no probe; -40 with 0 %.
    const report = (sky: string, amb: string, hum: string) =>
      decodeChecked(adapter, encodeDataFrame(`D 0 0 1 1 0 0 ${sky} ${amb} 5.0 N N ${hum} 1.0 20.0 0 -99.9 1 24.0 20.0`));
    expect(report('999.9', '10.0', '50')).toMatchObject({ ok: true, readings: [{ fields: { sky_minus_ambient: null, sky_status: 'saturated_hot' } }] });
    expect(report('-999.9', '10.0', '50')).toMatchObject({ ok: true, readings: [{ fields: { sky_minus_ambient: null, sky_status: 'saturated_cold' } }] });
    expect(report('-20.0', '-40', '0')).toMatchObject({ ok: true, readings: [{ fields: { ambient_temperature: null, relative_humidity: null, ambient_status: 'no_sensor_comm' } }] });
    const heating = decodeChecked(adapter, encodeDataFrame('D 0 0 0 1 1 0 -20.0 10.0 -1.0 N N 50 1.0 20.0 0 -99.9 1 24.0 20.0'));
    expect(heating).toMatchObject({ ok: true, readings: [{ fields: { wind_speed: null, wind_status: 'heating_up' } }] });
  });

  it('humidity/ambient sensor failures: the failed reading and the dew point computed from it are null', () => {
    // eddyem/boltwood Protocol.md, D record field 1 (humidstatTempCode): 1 write failure, 2 never
    // finished, 5 data line not high — humidity; 3, 4, 6 the same for ambient; field 8: -40 with
    // humidity 0 means no communication with those sensors.
    const report = (code: number, amb: string, hum: string) => {
      const r = decodeChecked(adapter, encodeDataFrame(`D ${code} 0 1 1 0 0 -20.0 ${amb} 5.0 N N ${hum} 1.0 20.0 0 -99.9 1 24.0 20.0`));
      if (!r.ok) throw new Error(r.error.message);
      return r.readings[0]!.fields;
    };
    expect(report(0, '10.0', '50')).toMatchObject({ ambient_status: 'ok', ambient_temperature: 10, relative_humidity: 50, dew_point: 1 });
    for (const code of [1, 2, 5]) expect(report(code, '10.0', '50'), `code ${code}`).toMatchObject({ ambient_status: 'humidity_read_failed', ambient_temperature: 10, relative_humidity: null, dew_point: null });
    for (const code of [3, 4, 6]) expect(report(code, '10.0', '50'), `code ${code}`).toMatchObject({ ambient_status: 'ambient_read_failed', ambient_temperature: null, relative_humidity: 50, dew_point: null });
    expect(report(0, '-40', '0')).toMatchObject({ ambient_status: 'no_sensor_comm', ambient_temperature: null, relative_humidity: null, dew_point: null });
  });

  it('polls with 0x01 and acknowledges frames with STX a LF', () => {
    expect(adapter.polling).toMatchObject({ intervalMs: 5000, requests: [{ send: Buffer.from([1]) }], reply: { ack: Buffer.from('\x02a\n'), nak: Buffer.from('\x02n\n') } });
  });

  it('bad CRC, truncated, garbage', () => {
    const good = frames(stream)[0]!;
    const flipped = Buffer.from(good);
    flipped[10] = 0x39; // a digit changed in the data
    expectError(adapter, flipped, 'ADAPTER_CHECKSUM');
    const badCrc = Buffer.from(good);
    badCrc[badCrc.length - 2] = badCrc[badCrc.length - 2] === 0x30 ? 0x31 : 0x30;
    expectError(adapter, badCrc, 'ADAPTER_CHECKSUM');
    expectError(adapter, good.subarray(0, 40), 'ADAPTER_TRUNCATED');
    expectError(adapter, encodeDataFrame('D 0 3 1 1 3 1 -3.1 29.3'), 'ADAPTER_PARSE'); // CRC fine, too few values
    expectError(adapter, encodeDataFrame('D 0 3 1 1 3 1 -3.1 29.3 0.0 X N 22 5.2 41.2'), 'ADAPTER_PARSE');
    expectError(adapter, Buffer.from('\x02MD 0 3 1\n', 'latin1'), 'ADAPTER_PARSE');
    expectError(adapter, Buffer.from('garbage\n'), 'ADAPTER_PARSE');
    const codes = frameAll(adapter.framing, [Buffer.concat([Buffer.from('zz'), good.subarray(0, 30), good])]).map((e) => (e.kind === 'frame' ? 'frame' : e.code));
    expect(codes).toEqual(['FRAMING_GARBAGE', 'FRAMING_TRUNCATED', 'frame']);
  });

  it('fuzzing: decode never throws; framing', () => {
    fuzzDecoder(adapter, frames(stream), { reseal });
    fuzzFraming(adapter.framing, stream);
  });

  it('folder: schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'boltwood-cloud');
    checkReadmeExample(dir);
  });
});
