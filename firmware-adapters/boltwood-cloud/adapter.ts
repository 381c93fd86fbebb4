/**
 * Boltwood Cloud Sensor II (Diffraction Limited) sensor-head serial protocol, as the head talks
 * to the Clarity II software: frames start with STX (0x02) and end with LF. The host sends 0x01
 * (REQUEST_POLL); the head answers with `STX M <type> <text><CRC>\n` data frames, `STX P \n`
 * poll frames (preceded by a 0x00 byte), or `STX A`/`STX N` (its ACK/NAK of a host command).
 * The host acknowledges each data frame with `STX a \n` (NAK `STX n \n`).
 *
 * The CRC: four hex digits just before the LF, CRC-16/XMODEM over the bytes from the type
 * character up to the CRC. The `D` (sensor report) record is decoded; its sentinel values
 * (saturated or wet sky sensor, anemometer states) become null plus a status field.
 */
import { type AdapterDefinition, type DecodeResult, type FieldValue, type FirmwareAdapter, bool, excerpt, fail, int, num, ok, skip, str, streamSchema } from '../adapter.ts';
import { crc16Xmodem } from '../checksum.ts';
import { UCUM, kmhToMetresPerSecond } from '../units.ts';

export interface BoltwoodCloudOptions {
  intervalMs: number;
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    intervalMs: { type: 'integer', minimum: 1000, maximum: 3_600_000, default: 5000, description: 'Time between poll requests (the head reports about every 2 s while polled).' },
  },
};

const STX = 0x02;
const LF = 0x0a;

/** Order of the D record's whitespace-separated values (Diffraction Limited's "Cloud Sensor II Application messages"; eddyem/boltwood Protocol.md). */
const D_FIELDS = [
  'humidity_temp_code',
  'cloud_condition',
  'wind_condition',
  'rain_condition',
  'sky_condition',
  'roof_close_requested',
  'sky_minus_ambient',
  'ambient_temperature',
  'wind_speed',
  'wet',
  'rain',
  'relative_humidity',
  'dew_point',
  'case_temperature',
  'rain_heater_percent',
  'black_body_temperature',
  'rain_heater_state',
  'supply_voltage',
  'anemometer_temperature_difference',
  'wetness_drop',
  'wetness_avg',
  'wetness_dry',
  'rain_heater_pwm',
  'anemometer_heater_pwm',
  'thermopile_adc',
  'thermistor_adc',
  'power_adc',
  'block_adc',
  'anemometer_thermistor_adc',
  'davis_vane_adc',
  'dk_mph',
  'external_anemometer_direction',
  'raw_wetness_oscillator',
  'day_condition',
  'daylight_adc',
] as const;

/** The first 14 values (through the case temperature) are required; later ones are decoded when present. */
const REQUIRED_VALUES = 14;

const INTEGER_FIELDS = [
  'humidity_temp_code',
  'cloud_condition',
  'wind_condition',
  'rain_condition',
  'sky_condition',
  'rain_heater_state',
  'wetness_drop',
  'wetness_avg',
  'wetness_dry',
  'rain_heater_pwm',
  'anemometer_heater_pwm',
  'thermopile_adc',
  'thermistor_adc',
  'power_adc',
  'block_adc',
  'anemometer_thermistor_adc',
  'davis_vane_adc',
  'raw_wetness_oscillator',
  'day_condition',
  'daylight_adc',
];

const UNITS: Record<string, string> = {
  sky_minus_ambient: 'K',
  ambient_temperature: UCUM.celsius,
  wind_speed: UCUM.metrePerSecond,
  relative_humidity: UCUM.percent,
  dew_point: UCUM.celsius,
  case_temperature: UCUM.celsius,
  rain_heater_percent: UCUM.percent,
  black_body_temperature: UCUM.celsius,
  supply_voltage: UCUM.volt,
  anemometer_temperature_difference: 'K',
};

/** humidity_temp_code values: 1 write failure, 2 measurement never finished, 5 data line not high — for humidity; 3, 4, 6 the same for ambient. */
const HUMIDITY_FAILED = [1, 2, 5];
const AMBIENT_FAILED = [3, 4, 6];

const WIND_STATUS: Record<number, string> = { [-1]: 'heating_up', [-2]: 'wet', [-3]: 'bad_ad', [-4]: 'not_heating', [-5]: 'shorted', [-6]: 'no_probe' };
const WET: Record<string, string> = { N: 'dry', W: 'wet', w: 'wet_last_minute' };
const RAIN: Record<string, string> = { N: 'none', R: 'rain', r: 'rain_last_minute' };

const schemas = {
  report: streamSchema(
    'Cloud Sensor II sensor report (D record)',
    {
      humidity_temp_code: int('Humidity/ambient sensor code: 0 ok, 1-6 read failures.'),
      cloud_condition: int('0 unknown, 1 clear, 2 cloudy, 3 very cloudy.'),
      wind_condition: int('0 unknown, 1 calm, 2 windy, 3 very windy.'),
      rain_condition: int('0 unknown, 1 dry, 2 wet (recently), 3 rain.'),
      sky_condition: int('0 unknown, 1 clear, 2 cloudy, 3 very cloudy, 4 wet.'),
      roof_close_requested: bool('The head requested a roof close this cycle.'),
      sky_minus_ambient: num('Sky minus ambient temperature (a difference); null when saturated or wet.'),
      sky_status: str("'ok', 'saturated_hot' (999.9), 'saturated_cold' (-999.9), 'wet' (-998)."),
      ambient_temperature: num('Ambient temperature.'),
      ambient_status: str(
        "'ok'; 'no_sensor_comm' when the head reports -40 and 0 % (both nulled); 'humidity_read_failed' (humidity_temp_code 1, 2, 5: humidity nulled) or 'ambient_read_failed' (3, 4, 6: ambient nulled). Not 'ok': dew point nulled.",
      ),
      wind_speed: num('Wind speed (heated-tip anemometer); null for the status codes.'),
      wind_status: str("'ok', 'heating_up', 'wet', 'bad_ad', 'not_heating', 'shorted', 'no_probe'."),
      wet_state: str("'dry', 'wet' (now), 'wet_last_minute'."),
      wet: bool('The wetness sensor is wet now.'),
      rain_state: str("'none', 'rain' (drops this cycle), 'rain_last_minute'."),
      rain: bool('Rain drops hit this cycle.'),
      relative_humidity: num('Relative humidity.'),
      dew_point: num('Dew point; null when ambient_status is not ok (computed from a failed reading).'),
      case_temperature: num('Thermopile case temperature; null when saturated.'),
      rain_heater_percent: num('Rain heater PWM.'),
      black_body_temperature: num('Calibration black body (factory use); null when saturated.'),
      rain_heater_state: int('0 too hot, 1 at temperature, 2-5 too cold, 6 saturated case, 7 normal control.'),
      supply_voltage: num('The +24 V line at the head.'),
      anemometer_temperature_difference: num('Anemometer tip minus ambient.'),
      ...Object.fromEntries(
        ['wetness_drop', 'wetness_avg', 'wetness_dry', 'rain_heater_pwm', 'anemometer_heater_pwm', 'thermopile_adc', 'thermistor_adc', 'power_adc', 'block_adc', 'anemometer_thermistor_adc', 'davis_vane_adc', 'raw_wetness_oscillator'].map((f) => [
          f,
          int('Raw value (diagnostics).'),
        ]),
      ),
      day_condition: int('0 unknown, 1 dark, 2 light (twilight), 3 very light (daylight).'),
      daylight_adc: int('Daylight photodiode A/D, 0 dark … 1023.'),
    },
    UNITS,
  ),
};

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)$/;

function decodeReport(values: string[]): DecodeResult {
  if (values.length < REQUIRED_VALUES) return fail('ADAPTER_PARSE', `D record has ${values.length} values, needs at least ${REQUIRED_VALUES}`);
  const fields: Record<string, FieldValue> = {};
  const units: Record<string, string> = {};
  for (const [i, name] of D_FIELDS.entries()) {
    const raw = values[i];
    if (raw === undefined) break;
    if (name === 'dk_mph' || name === 'external_anemometer_direction') continue; // factory calibration only
    if (name === 'wet') {
      const state = WET[raw];
      if (state === undefined) return fail('ADAPTER_PARSE', `wet flag ${excerpt(raw)} is not N, W or w`);
      fields.wet_state = state;
      fields.wet = raw === 'W';
      continue;
    }
    if (name === 'rain') {
      const state = RAIN[raw];
      if (state === undefined) return fail('ADAPTER_PARSE', `rain flag ${excerpt(raw)} is not N, R or r`);
      fields.rain_state = state;
      fields.rain = raw === 'R';
      continue;
    }
    if (!NUMBER.test(raw)) return fail('ADAPTER_PARSE', `${name} is not a number: ${excerpt(raw)}`);
    const v = Number(raw);
    if (INTEGER_FIELDS.includes(name) && !Number.isInteger(v)) return fail('ADAPTER_PARSE', `${name} is not an integer: ${excerpt(raw)}`);
    if (name === 'roof_close_requested') {
      if (v !== 0 && v !== 1) return fail('ADAPTER_PARSE', `roof_close_requested is ${raw}`);
      fields[name] = v === 1;
      continue;
    }
    fields[name] = v;
    const unit = UNITS[name];
    if (unit !== undefined) units[name] = unit;
  }
  // Sentinels.
  const sky = fields.sky_minus_ambient as number;
  fields.sky_status = sky >= 999 ? 'saturated_hot' : sky <= -999 ? 'saturated_cold' : sky <= -998 ? 'wet' : 'ok';
  if (fields.sky_status !== 'ok') fields.sky_minus_ambient = null;
  const wind = fields.wind_speed as number;
  if (wind < 0) {
    fields.wind_status = WIND_STATUS[Math.round(wind)] ?? `code ${wind}`;
    fields.wind_speed = null;
  } else {
    fields.wind_status = 'ok';
    fields.wind_speed = kmhToMetresPerSecond(wind);
  }
  // The humidity/ambient sensor: -40 °C with 0 % is "no communication with those sensors", and
  // codes 1-6 of humidity_temp_code say which reading failed this cycle (eddyem/boltwood
  // Protocol.md, `humidstatTempCode`). A failed reading is not a measurement, and neither is the
  // dew point the head computes from it.
  fields.ambient_status = 'ok';
  const code = fields.humidity_temp_code as number;
  if (fields.ambient_temperature === -40 && fields.relative_humidity === 0) {
    fields.ambient_status = 'no_sensor_comm';
    fields.ambient_temperature = null;
    fields.relative_humidity = null;
  } else if (HUMIDITY_FAILED.includes(code)) {
    fields.ambient_status = 'humidity_read_failed';
    fields.relative_humidity = null;
  } else if (AMBIENT_FAILED.includes(code)) {
    fields.ambient_status = 'ambient_read_failed';
    fields.ambient_temperature = null;
  }
  if (fields.ambient_status !== 'ok') fields.dew_point = null;
  for (const name of ['case_temperature', 'black_body_temperature']) {
    const t = fields[name];
    if (typeof t === 'number' && (t >= 999 || t <= -99.9)) fields[name] = null;
  }
  return ok([{ stream: 'report', fields, units }]);
}

function decode(frame: Buffer): DecodeResult {
  if (frame.length === 0 || frame[0] !== STX) return fail('ADAPTER_PARSE', `frame does not start with STX: ${excerpt(frame)}`);
  if (frame[frame.length - 1] !== LF) return fail('ADAPTER_TRUNCATED', `frame does not end with LF: ${excerpt(frame)}`);
  const body = frame.subarray(1, frame.length - 1);
  const kind = String.fromCharCode(body[0] ?? 0);
  if (kind === 'P' || kind === 'A' || kind === 'N') {
    if (body.length > 1 && body.subarray(1).toString('latin1').trim() !== '') return fail('ADAPTER_PARSE', `unexpected text after '${kind}': ${excerpt(body)}`);
    return skip('ADAPTER_CONTROL', kind === 'P' ? 'poll frame' : kind === 'A' ? 'head acknowledged a command' : 'head refused a command');
  }
  if (kind !== 'M') return fail('ADAPTER_PARSE', `unknown frame type ${excerpt(kind)}`);
  const text = body.subarray(1).toString('latin1');
  if (!/^[\x20-\x7e]*$/.test(text)) return fail('ADAPTER_PARSE', `non-printable bytes: ${excerpt(text)}`);
  if (text.length < 5) return fail('ADAPTER_TRUNCATED', `data frame too short for its CRC: ${excerpt(text)}`);
  const crcText = text.slice(-4);
  if (!/^[0-9A-Fa-f]{4}$/.test(crcText)) return fail('ADAPTER_PARSE', `no CRC before LF: ${excerpt(text.slice(-8))}`);
  const data = text.slice(0, -4);
  const computed = crc16Xmodem(Buffer.from(data, 'latin1'));
  if (computed !== parseInt(crcText, 16)) {
    return fail('ADAPTER_CHECKSUM', `CRC ${crcText} does not match computed ${computed.toString(16).toUpperCase().padStart(4, '0')}: ${excerpt(text)}`);
  }
  const type = data[0]!;
  if (type !== 'D') return skip('ADAPTER_UNSUPPORTED', `record type '${type}' is not decoded (C, I, K, Q, R, T, W … are calibration and diagnostics)`);
  return decodeReport(data.slice(1).trim().split(/\s+/).filter((s) => s !== ''));
}

/** A data frame as the head sends it: STX 'M' + text + CRC + LF (for tests and the simulator). */
export function encodeDataFrame(text: string): Buffer {
  const crc = crc16Xmodem(Buffer.from(text, 'latin1')).toString(16).toUpperCase().padStart(4, '0');
  return Buffer.concat([Buffer.from([STX]), Buffer.from(`M${text}${crc}`, 'latin1'), Buffer.from([LF])]);
}

export function createBoltwoodCloud(options: BoltwoodCloudOptions): FirmwareAdapter {
  return {
    name: 'boltwood-cloud',
    description: 'Boltwood Cloud Sensor II sensor-head protocol (D sensor reports)',
    schemaVersion: 1,
    framing: { kind: 'delimited', start: STX, end: LF, trailer: 0, maxLength: 512, idle: [0x00, 0x0d] },
    polling: {
      intervalMs: options.intervalMs,
      requests: [{ send: Buffer.from([0x01]), replyFrames: 1, replyTimeoutMs: 5000, retries: 2 }],
      reply: { ack: Buffer.from('\x02a\n', 'latin1'), nak: Buffer.from('\x02n\n', 'latin1') },
    },
    schemas,
    decode,
  };
}

const definition: AdapterDefinition<BoltwoodCloudOptions> = {
  name: 'boltwood-cloud',
  description: 'Boltwood Cloud Sensor II: polled sensor reports (sky-ambient temperature, wind, wet/rain, humidity, daylight)',
  optionsSchema,
  create: createBoltwoodCloud,
};

export default definition;
