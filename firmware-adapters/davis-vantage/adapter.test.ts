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
