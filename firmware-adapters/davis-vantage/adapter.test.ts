import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { crc16Xmodem } from '../checksum.ts';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming } from '../testing.ts';
import { LOOP_LENGTH, buildLoopPacket, loopCrcOk } from './adapter.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const session = readFileSync(join(dir, 'fixtures/loop-session.bin'));
const adapter = getAdapter('davis-vantage');
const packets = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

/** Recomputes the CRC of a (mutated) 99-byte packet. */
function reseal(frame: Buffer): Buffer {
  if (frame.length !== LOOP_LENGTH) return frame;
  const out = Buffer.from(frame);
  out.writeUInt16BE(crc16Xmodem(out.subarray(0, 97)), 97);
  return out;
}

describe('davis-vantage', () => {
  it('the framer finds both packets; wake-up answer and ACK bytes are idle, not garbage', () => {
    const events = frameAll(adapter.framing, [session]);
    expect(events.map((e) => e.kind)).toEqual(['frame', 'frame']);
    for (const p of packets(session)) expect(loopCrcOk(p)).toBe(true);
  });

  it('decodes a packet: °F/10 to Cel, inHg/1000 to hPa, mph to m/s, clicks to mm, storm date, sun times', () => {
    const [typical] = packets(session);
    const r = decodeChecked(adapter, typical!);
    expect(r.ok && r.readings[0]!.fields).toMatchObject({
      bar_trend: -20,
      bar_trend_text: 'falling_slowly',
      barometer: 1013.2415,
      inside_temperature: 22.5,
      outside_temperature: 3.72222,
      wind_speed: 4.02336,
      wind_speed_10min_avg: 3.12928,
      wind_direction: 247,
      outside_humidity: 86,
      rain_rate: 3.048,
      storm_rain: 11.43,
      storm_start: '2024-01-14',
      day_rain: 5.842,
      day_et: 0.3048,
      uv_index: null,
      solar_radiation: null,
      extra_temperature_1: null,
      console_battery_voltage: 4.72,
      sunrise: '07:12',
      sunset: '17:35',
    });
    expect(r.ok && r.readings[0]!.sourceTime).toBeNull();
  });

  it('no-data values: transmitter lost', () => {
    const [, lost] = packets(session);
    const r = decodeChecked(adapter, lost!);
    expect(r.ok && r.readings[0]!.fields).toMatchObject({
      bar_trend: null,
      bar_trend_text: null,
      outside_temperature: null,
      outside_humidity: null,
      wind_speed: null,
      wind_speed_10min_avg: null,
      wind_direction: null,
      storm_start: null,
      transmitter_battery_status: 1,
      inside_temperature: 22.55556,
    });
  });

  it('field report davis-loop-unused-leaf-slots.hex: leaf wetness 4 = 0 in a real packet is null; every other field as before', () => {
    const hex = readFileSync(join(dir, 'fixtures/field-reports/davis-loop-unused-leaf-slots.hex'), 'latin1');
    const packet = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
    expect(loopCrcOk(packet)).toBe(true);
    expect(packet[69]).toBe(0); // leaf wetness 4, as the console left it
    const r = decodeChecked(adapter, packet);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.readings[0]!.fields).toEqual({
      bar_trend: 60,
      bar_trend_text: 'rising_rapidly',
      next_archive_record: 2438,
      barometer: 1015.4765,
      inside_temperature: 20.66667,
      inside_humidity: 50,
      outside_temperature: 6.38889,
      wind_speed: 6.7056,
      wind_speed_10min_avg: 3.12928,
      wind_direction: 322,
      ...Object.fromEntries(['extra_temperature_1', 'extra_temperature_2', 'extra_temperature_3', 'extra_temperature_4', 'extra_temperature_5', 'extra_temperature_6', 'extra_temperature_7'].map((f) => [f, null])),
      ...Object.fromEntries(['soil_temperature_1', 'soil_temperature_2', 'soil_temperature_3', 'soil_temperature_4', 'leaf_temperature_1', 'leaf_temperature_2', 'leaf_temperature_3', 'leaf_temperature_4'].map((f) => [f, null])),
      outside_humidity: 78,
      ...Object.fromEntries(['extra_humidity_1', 'extra_humidity_2', 'extra_humidity_3', 'extra_humidity_4', 'extra_humidity_5', 'extra_humidity_6', 'extra_humidity_7'].map((f) => [f, null])),
      rain_rate: 0,
      uv_index: 0,
      solar_radiation: 0,
      storm_rain: 10.922,
      storm_start: '2017-11-10',
      day_rain: 1.778,
      month_rain: 34.29,
      year_rain: 740.156,
      day_et: 0.889,
      month_et: 8.128,
      year_et: 141.732,
      ...Object.fromEntries(['soil_moisture_1', 'soil_moisture_2', 'soil_moisture_3', 'soil_moisture_4', 'leaf_wetness_1', 'leaf_wetness_2', 'leaf_wetness_3', 'leaf_wetness_4'].map((f) => [f, null])),
      transmitter_battery_status: 0,
      console_battery_voltage: 4.8,
      forecast_icon: 6,
      forecast_rule: 75,
      sunrise: '07:16',
      sunset: '16:25',
    });
  });

  it('leaf temperature and leaf wetness slots 3-4 are always null; slots 1-2 decode', () => {
    // Davis support, quoted in weewx issue #771: the VP2 supports 2 leaf wetness sensors; "The values
    // for leaf 'sensors' 3 and 4 should always be ignored." (The same holds for leaf temperatures.)
    const packet = buildLoopPacket((p) => {
      p.set([90 + 50, 90 + 68, 0, 100], 29); // leaf temperatures 1-4, °F + 90
      p.set([3, 15, 0, 7], 66); // leaf wetnesses 1-4
    });
    const r = decodeChecked(adapter, packet);
    expect(r.ok && r.readings[0]!.fields).toMatchObject({
      leaf_temperature_1: 10,
      leaf_temperature_2: 20,
      leaf_temperature_3: null,
      leaf_temperature_4: null,
      leaf_wetness_1: 3,
      leaf_wetness_2: 15,
      leaf_wetness_3: null,
      leaf_wetness_4: null,
    });
  });

  it("every dash value of the LOOP format is null, never a reading", () => {
    // Davis "Vantage Pro, Pro2 and Vue Serial Communication Reference Manual", LOOP data format, and
    // the no-data values weewx's vantage.py applies to it (_big_val 0x7FFF, _little_val 0xFF,
    // _val1000Zero for the barometer, 0xFFFF for rain rate and the storm start date); wind
    // direction 0 is "no wind data" in the manual; bar trend 'P' (80) is a Rev A packet's.
    const packet = buildLoopPacket((p) => {
      p.writeInt8(80, 3); // bar trend 'P'
      p.writeUInt16LE(0, 7); // barometer
      p.writeInt16LE(32767, 9); // inside temperature
      p.writeUInt8(255, 11); // inside humidity
      p.writeInt16LE(32767, 12); // outside temperature
      p.writeUInt8(255, 14); // wind speed
      p.writeUInt8(255, 15); // 10-minute average wind speed
      p.writeUInt16LE(0, 16); // wind direction
      p.fill(255, 18, 41); // extra / soil / leaf temperatures, outside and extra humidities
      p.writeUInt16LE(0xffff, 41); // rain rate
      p.writeUInt8(255, 43); // UV
      p.writeUInt16LE(32767, 44); // solar radiation
      p.writeUInt16LE(0xffff, 48); // storm start
      p.fill(255, 62, 70); // soil moistures, leaf wetnesses
      p.writeUInt16LE(0xffff, 91); // sunrise
      p.writeUInt16LE(0x7fff, 93); // sunset
    });
    const r = decodeChecked(adapter, packet);
    if (!r.ok) throw new Error(r.error.message);
    const fields = r.readings[0]!.fields;
    const dashed = [
      'bar_trend', 'bar_trend_text', 'barometer', 'inside_temperature', 'inside_humidity', 'outside_temperature', 'wind_speed', 'wind_speed_10min_avg', 'wind_direction',
      'rain_rate', 'uv_index', 'solar_radiation', 'storm_start', 'sunrise', 'sunset', 'outside_humidity',
      ...['extra_temperature', 'extra_humidity'].flatMap((p) => [1, 2, 3, 4, 5, 6, 7].map((i) => `${p}_${i}`)),
      ...['soil_temperature', 'leaf_temperature', 'soil_moisture', 'leaf_wetness'].flatMap((p) => [1, 2, 3, 4].map((i) => `${p}_${i}`)),
    ];
    for (const f of dashed) expect(fields[f], f).toBeNull();
    // A direction of 0x7FFF (weewx's dash for the 2-byte direction) is no more a direction than 0.
    const dir = decodeChecked(adapter, buildLoopPacket((p) => p.writeUInt16LE(0x7fff, 16)));
    expect(dir.ok && dir.readings[0]!.fields.wind_direction).toBeNull();
  });

  it('metric rain collector', () => {
    const metric = getAdapter('davis-vantage', { rainCollector: '0.2mm' });
    const r = decodeChecked(metric, packets(session)[0]!);
    expect(r.ok && r.readings[0]!.fields).toMatchObject({ rain_rate: 2.4, day_rain: 4.6, storm_rain: 9 });
  });

  it('north is 0°, LOOP2 skipped', () => {
    const north = buildLoopPacket((p) => p.writeUInt16LE(360, 16));
    expect(decodeChecked(adapter, north)).toMatchObject({ ok: true, readings: [{ fields: { wind_direction: 0 } }] });
    const loop2 = buildLoopPacket((p) => p.writeUInt8(1, 4));
    expect(decodeChecked(adapter, loop2)).toMatchObject({ ok: true, readings: [], skipped: { code: 'ADAPTER_UNSUPPORTED' } });
  });

  it('declares the wake-up and LOOP 1 polling with ACK/NAK', () => {
    expect(adapter.polling).toMatchObject({
      intervalMs: 2500,
      wake: { send: Buffer.from('\n'), expect: Buffer.from('\n\r'), attempts: 3 },
      requests: [{ send: Buffer.from('LOOP 1\n'), ack: 0x06, nak: 0x21, replyFrames: 1, retries: 2 }],
    });
  });

  it('bad CRC, truncated, garbage; the framer resyncs past a false LOO and a corrupted packet', () => {
    const good = packets(session)[0]!;
    const corrupt = Buffer.from(good);
    corrupt[12] = corrupt[12]! ^ 0x01;
    expectError(adapter, corrupt, 'ADAPTER_CHECKSUM');
    expectError(adapter, good.subarray(0, 60), 'ADAPTER_TRUNCATED');
    expectError(adapter, Buffer.from('garbage'), 'ADAPTER_PARSE');
    expectError(adapter, Buffer.concat([good, Buffer.from([0])]), 'ADAPTER_PARSE');
    const noisy = Buffer.concat([Buffer.from('xxLOOjunk'), corrupt, good]);
    const codes = frameAll(adapter.framing, [noisy]).map((e) => (e.kind === 'frame' ? 'frame' : e.code));
    expect(codes.filter((c) => c === 'frame')).toHaveLength(1);
    expect(codes).toContain('FRAMING_CHECK');
    expect(codes.at(-1)).toBe('frame');
  });

  it('fuzzing: decode never throws (with resealed CRCs too); framing', () => {
    fuzzDecoder(adapter, packets(session), { reseal });
    fuzzFraming(adapter.framing, session);
  });

  it('folder: schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'davis-vantage');
    checkReadmeExample(dir);
  });
});
