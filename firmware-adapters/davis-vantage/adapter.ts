/**
 * Davis Vantage Pro2 / Vantage Vue console (or WeatherLink logger) LOOP packets, "Rev B":
 * 99 bytes starting `LOO`, little-endian fields, `\n\r` at 95-96, and a CRC-CCITT (XMODEM)
 * sent most significant byte first at 97-98, so that the CRC over all 99 bytes is 0.
 * The input wakes the console (`\n` → `\n\r`), then sends `LOOP 1\n`; the console answers ACK
 * (0x06) and one packet. Field offsets: Davis "Vantage Serial Protocol Reference", LOOP data
 * format (see README for the table used).
 */
import { type AdapterDefinition, type DecodeResult, type FieldValue, type FirmwareAdapter, excerpt, fail, int, num, ok, skip, str, streamSchema } from '../adapter.ts';
import { crc16Xmodem } from '../checksum.ts';
import { UCUM, fahrenheitToCelsius, inHgToHectopascal, inchesToMillimetres, mphToMetresPerSecond, round } from '../units.ts';

export interface DavisVantageOptions {
  /** The rain collector's click size (console setup): 0.01 in (US) or 0.2 mm / 0.1 mm (metric). */
  rainCollector: '0.01in' | '0.2mm' | '0.1mm';
  intervalMs: number;
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    rainCollector: { type: 'string', enum: ['0.01in', '0.2mm', '0.1mm'], default: '0.01in', description: "The rain collector's click size, as set on the console." },
    intervalMs: { type: 'integer', minimum: 2000, maximum: 3_600_000, default: 2500, description: 'Time between LOOP 1 requests (the console updates every 2.5 s).' },
  },
};

export const LOOP_LENGTH = 99;
const ACK = 0x06;
const NAK = 0x21;

const CLICK_MM: Record<DavisVantageOptions['rainCollector'], number> = { '0.01in': 0.254, '0.2mm': 0.2, '0.1mm': 0.1 };

const BAR_TREND: Record<number, string> = { [-60]: 'falling_rapidly', [-20]: 'falling_slowly', 0: 'steady', 20: 'rising_slowly', 60: 'rising_rapidly' };

const range = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}_${i + 1}`);

/** Index of the first leaf slot no hardware fills: the Vantage Pro2 supports 2 leaf wetness and 2 leaf temperature sensors. */
const UNUSED_LEAF_SLOT = 2;

const UNITS: Record<string, string> = {
  barometer: UCUM.hectopascal,
  inside_temperature: UCUM.celsius,
  inside_humidity: UCUM.percent,
  outside_temperature: UCUM.celsius,
  wind_speed: UCUM.metrePerSecond,
  wind_speed_10min_avg: UCUM.metrePerSecond,
  wind_direction: UCUM.degree,
  ...Object.fromEntries([...range('extra_temperature', 7), ...range('soil_temperature', 4), ...range('leaf_temperature', 4)].map((f) => [f, UCUM.celsius])),
  outside_humidity: UCUM.percent,
  ...Object.fromEntries(range('extra_humidity', 7).map((f) => [f, UCUM.percent])),
  rain_rate: UCUM.millimetrePerHour,
  uv_index: UCUM.uvIndex,
  solar_radiation: UCUM.wattPerSquareMetre,
  storm_rain: UCUM.millimetre,
  day_rain: UCUM.millimetre,
  month_rain: UCUM.millimetre,
  year_rain: UCUM.millimetre,
  day_et: UCUM.millimetre,
  month_et: UCUM.millimetre,
  year_et: UCUM.millimetre,
  ...Object.fromEntries(range('soil_moisture', 4).map((f) => [f, UCUM.centibar])),
  ...Object.fromEntries(range('leaf_wetness', 4).map((f) => [f, UCUM.leafWetness])),
  console_battery_voltage: UCUM.volt,
};

const schemas = {
  loop: streamSchema(
    'Vantage LOOP packet (Rev B)',
    {
      bar_trend: int('3-hour barometer trend: -60, -20, 0, 20, 60; null when unknown.'),
      bar_trend_text: str('falling_rapidly, falling_slowly, steady, rising_slowly, rising_rapidly; null when unknown.'),
      next_archive_record: int('Archive memory location of the next record.'),
      ...Object.fromEntries(
        Object.entries(UNITS).map(([f, u]) => [f, num(/^leaf_(temperature|wetness)_[34]$/.test(f) ? `In ${u}; always null (no Davis hardware fills this slot).` : `In ${u}; null when the console reports no data.`)]),
      ),
      storm_start: str('Start date of the current storm, yyyy-mm-dd; null when no storm.'),
      transmitter_battery_status: int('Bit per transmitter: 1 = low battery.'),
      forecast_icon: int('Forecast icon bits (rain 1, cloud 2, partly cloudy 4, sun 8, snow 16).'),
      forecast_rule: int('Forecast rule number (0-196).'),
      sunrise: str('Sunrise, hh:mm console local time.'),
      sunset: str('Sunset, hh:mm console local time.'),
    },
    UNITS,
  ),
};

/** Pure validity check used by the framing too: length, `LOO`, CRC over the whole packet is 0. */
export function loopCrcOk(packet: Buffer): boolean {
  return packet.length === LOOP_LENGTH && packet[0] === 0x4c && packet[1] === 0x4f && packet[2] === 0x4f && crc16Xmodem(packet) === 0;
}

function hhmm(v: number): string | null {
  if (v === 0xffff || v === 0x7fff) return null;
  const h = Math.floor(v / 100);
  const m = v % 100;
  return h < 24 && m < 60 ? `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}` : null;
}

export function createDavisVantage(options: DavisVantageOptions): FirmwareAdapter {
  const clickMm = CLICK_MM[options.rainCollector];
  const clicks = (v: number): number | null => (v === 0xffff ? null : round(v * clickMm, 3));

  function decode(frame: Buffer): DecodeResult {
    if (frame.length < 3 || frame.toString('latin1', 0, 3) !== 'LOO') return fail('ADAPTER_PARSE', `not a LOOP packet (no 'LOO'): ${excerpt(frame.subarray(0, 8))}`);
    if (frame.length < LOOP_LENGTH) return fail('ADAPTER_TRUNCATED', `LOOP packet of ${frame.length} bytes, expected ${LOOP_LENGTH}`);
    if (frame.length > LOOP_LENGTH) return fail('ADAPTER_PARSE', `LOOP packet of ${frame.length} bytes, expected ${LOOP_LENGTH}`);
    const crc = crc16Xmodem(frame);
    if (crc !== 0) return fail('ADAPTER_CHECKSUM', `CRC over the packet is 0x${crc.toString(16).padStart(4, '0')}, not 0`);
    const type = frame.readUInt8(4);
    if (type !== 0) return skip('ADAPTER_UNSUPPORTED', type === 1 ? 'LOOP2 packet (type 1) is not decoded' : `LOOP packet type ${type} is not decoded`);
    if (frame[95] !== 0x0a || frame[96] !== 0x0d) return fail('ADAPTER_PARSE', 'no LF CR at bytes 95-96');

    const u8 = (o: number): number => frame.readUInt8(o);
    const u16 = (o: number): number => frame.readUInt16LE(o);
    const s16 = (o: number): number => frame.readInt16LE(o);
    const tenthsF = (o: number): number | null => {
      const v = s16(o);
      return v === 32767 || v === -32768 ? null : fahrenheitToCelsius(v / 10);
    };
    const byteTemp = (o: number): number | null => (u8(o) === 255 ? null : fahrenheitToCelsius(u8(o) - 90));
    const byteOrNull = (o: number): number | null => (u8(o) === 255 ? null : u8(o));

    const fields: Record<string, FieldValue> = {};
    const trend = frame.readInt8(3);
    fields.bar_trend = BAR_TREND[trend] === undefined ? null : trend;
    fields.bar_trend_text = BAR_TREND[trend] ?? null;
    fields.next_archive_record = u16(5);
    fields.barometer = u16(7) === 0 ? null : inHgToHectopascal(u16(7) / 1000);
    fields.inside_temperature = tenthsF(9);
    fields.inside_humidity = byteOrNull(11);
    fields.outside_temperature = tenthsF(12);
    fields.wind_speed = u8(14) === 255 ? null : mphToMetresPerSecond(u8(14));
    fields.wind_speed_10min_avg = u8(15) === 255 ? null : mphToMetresPerSecond(u8(15));
    const dir = u16(16);
    fields.wind_direction = dir === 0 || dir > 360 ? null : dir % 360; // 0 = no data; 360 = north
    range('extra_temperature', 7).forEach((f, i) => (fields[f] = byteTemp(18 + i)));
    range('soil_temperature', 4).forEach((f, i) => (fields[f] = byteTemp(25 + i)));
    // Slots 3-4 of leaf temperature and leaf wetness exist in the packet but no Davis station fills
    // them; consoles may leave a non-dash value there that is never overwritten (the field report
    // shows leaf wetness 4 = 0). Davis support: "The values for leaf 'sensors' 3 and 4 should always
    // be ignored" (quoted in weewx issue #771). So they are null whatever the bytes say.
    range('leaf_temperature', 4).forEach((f, i) => (fields[f] = i < UNUSED_LEAF_SLOT ? byteTemp(29 + i) : null));
    fields.outside_humidity = byteOrNull(33);
    range('extra_humidity', 7).forEach((f, i) => (fields[f] = byteOrNull(34 + i)));
    fields.rain_rate = clicks(u16(41));
    fields.uv_index = u8(43) === 255 ? null : round(u8(43) / 10, 1);
    fields.solar_radiation = u16(44) === 32767 ? null : u16(44);
    fields.storm_rain = clicks(u16(46));
    const start = u16(48);
    const month = (start >> 12) & 0x0f;
    const day = (start >> 7) & 0x1f;
    const year = (start & 0x7f) + 2000;
    fields.storm_start =
      start === 0xffff || month < 1 || month > 12 || day < 1 ? null : `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
    fields.day_rain = clicks(u16(50));
    fields.month_rain = clicks(u16(52));
    fields.year_rain = clicks(u16(54));
    fields.day_et = inchesToMillimetres(u16(56) / 1000);
    fields.month_et = inchesToMillimetres(u16(58) / 100);
    fields.year_et = inchesToMillimetres(u16(60) / 100);
    range('soil_moisture', 4).forEach((f, i) => (fields[f] = byteOrNull(62 + i)));
    range('leaf_wetness', 4).forEach((f, i) => (fields[f] = i < UNUSED_LEAF_SLOT ? byteOrNull(66 + i) : null));
    // 70-85: alarm bits, not decoded.
    fields.transmitter_battery_status = u8(86);
    fields.console_battery_voltage = round(((u16(87) * 300) / 512) / 100, 2);
    fields.forecast_icon = u8(89);
    fields.forecast_rule = u8(90);
    fields.sunrise = hhmm(u16(91));
    fields.sunset = hhmm(u16(93));
    return ok([{ stream: 'loop', fields, units: { ...UNITS }, sourceTime: null }]);
  }

  return {
    name: 'davis-vantage',
    description: 'Davis Vantage Pro2 / Vue LOOP packets',
    schemaVersion: 1,
    framing: { kind: 'fixed', length: LOOP_LENGTH, sync: [0x4c, 0x4f, 0x4f], check: loopCrcOk, idle: [ACK, NAK, 0x0a, 0x0d] },
    polling: {
      intervalMs: options.intervalMs,
      wake: { send: Buffer.from('\n'), expect: Buffer.from('\n\r'), timeoutMs: 1200, attempts: 3 },
      requests: [{ send: Buffer.from('LOOP 1\n'), ack: ACK, nak: NAK, replyFrames: 1, replyTimeoutMs: 2000, retries: 2 }],
    },
    schemas,
    decode,
  };
}

/** Builds a LOOP packet (tests, simulator): fills `LOO`, type 0, LF CR and the CRC around `fill`. */
export function buildLoopPacket(fill: (packet: Buffer) => void): Buffer {
  const packet = Buffer.alloc(LOOP_LENGTH, 0);
  packet.write('LOO', 0, 'latin1');
  fill(packet);
  packet[95] = 0x0a;
  packet[96] = 0x0d;
  packet.writeUInt16BE(crc16Xmodem(packet.subarray(0, 97)), 97);
  return packet;
}

const definition: AdapterDefinition<DavisVantageOptions> = {
  name: 'davis-vantage',
  description: 'Davis Vantage Pro2 / Vue: wake-up, LOOP 1 polling, 99-byte LOOP packets with CRC-CCITT',
  optionsSchema,
  create: createDavisVantage,
};

export default definition;
