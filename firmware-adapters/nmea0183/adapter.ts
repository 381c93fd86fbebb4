/**
 * NMEA 0183 GPS / time receivers: RMC, GGA and ZDA sentences from any talker (GP, GN, GL, GA,
 * BD, …). Other well-formed sentences (GSA, GSV, VTG, proprietary `$P…`) are skipped with
 * `ADAPTER_UNSUPPORTED`: counted by the input, not quarantined; a bad checksum is an error
 * whatever the sentence. NMEA allows 82 characters; many receivers send more, so lines up to
 * `maxLength` (default 256) are accepted.
 */
import {
  addFlag,
  type AdapterDefinition,
  type DecodedReading,
  type DecodeMeta,
  type DecodeResult,
  type FirmwareAdapter,
  bool,
  excerpt,
  fail,
  int,
  num,
  ok,
  skip,
  str,
  streamSchema,
} from '../adapter.ts';
import { type Sentence, decimal, integer, parseSentence, withEnvelopeFlags } from '../nmea-sentence.ts';
import { gpsWeekRolloverCorrection, receiptTimeTrusted } from '../source-time.ts';
import { UCUM, knotsToMetresPerSecond, round } from '../units.ts';

export interface Nmea0183Options {
  maxLength: number;
  requireChecksum: boolean;
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxLength: { type: 'integer', minimum: 82, maximum: 4096, default: 256, description: 'Longest sentence accepted (NMEA says 82; many receivers exceed it).' },
    requireChecksum: { type: 'boolean', default: true, description: 'Reject sentences without a `*hh` checksum.' },
  },
};

const schemaUnits = {
  gga: { latitude: UCUM.degree, longitude: UCUM.degree, altitude: UCUM.metre, geoid_separation: UCUM.metre, dgps_age: UCUM.second },
  rmc: { latitude: UCUM.degree, longitude: UCUM.degree, speed: UCUM.metrePerSecond, course: UCUM.degree, magnetic_variation: UCUM.degree },
};

const position = {
  latitude: num('Degrees, negative south (WGS84 unless the receiver says otherwise).'),
  longitude: num('Degrees, negative west.'),
};

const schemas = {
  gga: streamSchema(
    'GGA: fix data',
    {
      talker: str('Talker id, e.g. GP (GPS), GN (multi-constellation).'),
      time_utc: str('UTC time of the fix, hh:mm:ss[.sss].'),
      ...position,
      fix_quality: int('0 invalid, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 estimated, …'),
      satellites: int('Satellites used.'),
      hdop: num('Horizontal dilution of precision.'),
      altitude: num('Antenna altitude above mean sea level.'),
      geoid_separation: num('Geoid minus WGS84 ellipsoid.'),
      dgps_age: num('Age of differential corrections.'),
      dgps_station: str('Differential reference station id.'),
    },
    schemaUnits.gga,
  ),
  rmc: streamSchema(
    'RMC: recommended minimum',
    {
      talker: str('Talker id.'),
      time_utc: str('UTC time, hh:mm:ss[.sss].'),
      date: str('UTC date, yyyy-mm-dd.'),
      valid: bool('Status A (true) or V (void, false).'),
      ...position,
      speed: num('Speed over ground.'),
      course: num('Course over ground, true.'),
      magnetic_variation: num('Magnetic variation, negative west.'),
      mode: str('Mode indicator (NMEA 2.3+): A autonomous, D differential, E estimated, N not valid, …'),
      nav_status: str('Navigational status (NMEA 4.1+).'),
    },
    schemaUnits.rmc,
  ),
  zda: streamSchema(
    'ZDA: time and date',
    {
      talker: str('Talker id.'),
      time_utc: str('UTC time, hh:mm:ss[.sss].'),
      date: str('UTC date, yyyy-mm-dd.'),
      local_zone_hours: int('Local zone offset hours.'),
      local_zone_minutes: int('Local zone offset minutes.'),
    },
    {},
  ),
};

type Parsed<T> = { value: T } | { error: string };

function parseTime(field: string | undefined): Parsed<{ text: string; ms: number } | null> {
  if (field === undefined || field === '') return { value: null };
  const m = /^(\d{2})(\d{2})(\d{2})(\.\d+)?$/.exec(field);
  if (!m) return { error: `bad time ${excerpt(field)}` };
  const [h, min, s] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (h > 23 || min > 59 || s > 60) return { error: `time out of range ${excerpt(field)}` };
  const frac = m[4] ?? '';
  const ms = ((h * 60 + min) * 60 + s) * 1000 + Math.round(Number(`0${frac || '.0'}`) * 1000);
  return { value: { text: `${m[1]}:${m[2]}:${m[3]}${frac}`, ms } };
}

function parseDate(day: number, month: number, year: number): Parsed<{ text: string; ms: number }> {
  if (month < 1 || month > 12 || day < 1 || day > 31) return { error: `date out of range ${day}/${month}/${year}` };
  const ms = Date.UTC(year, month - 1, day);
  if (new Date(ms).getUTCDate() !== day) return { error: `no such date ${day}/${month}/${year}` };
  return { value: { text: `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`, ms } };
}

function parseCoordinate(value: string | undefined, hemisphere: string | undefined, degreeDigits: 2 | 3): Parsed<number | null> {
  if ((value === undefined || value === '') && (hemisphere === undefined || hemisphere === '')) return { value: null };
  const m = degreeDigits === 2 ? /^(\d{2})(\d{2}(\.\d+)?)$/.exec(value ?? '') : /^(\d{3})(\d{2}(\.\d+)?)$/.exec(value ?? '');
  if (!m) return { error: `bad coordinate ${excerpt(value ?? '')}` };
  const minutes = Number(m[2]);
  const degrees = Number(m[1]) + minutes / 60;
  if (minutes >= 60 || degrees > (degreeDigits === 2 ? 90 : 180)) return { error: `coordinate out of range ${excerpt(value ?? '')}` };
  const negative = degreeDigits === 2 ? hemisphere === 'S' : hemisphere === 'W';
  const valid = degreeDigits === 2 ? hemisphere === 'N' || hemisphere === 'S' : hemisphere === 'E' || hemisphere === 'W';
  if (!valid) return { error: `bad hemisphere ${excerpt(hemisphere ?? '')}` };
  return { value: round(negative ? -degrees : degrees, 8) };
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * RMC and ZDA carry a full UTC date from the receiver. After its GPS week-number rollover a
 * receiver reports a date whole 1024-week epochs early (source-time.ts); when the receipt time is
 * trusted and the moved date lands at most a week before it (or a day after), the reading gets
 * the moved time as `sourceTime` and as its `date` field, the receiver's own time in
 * `deviceTime`, and the flag `GPS_WEEK_ROLLOVER_CORRECTED`. Anything else decades off is left to safeDecode's plausibility
 * check (`SOURCE_TIME_IMPLAUSIBLE`).
 */
function correctRollover(reading: DecodedReading, meta: DecodeMeta): DecodedReading {
  const deviceTime = reading.sourceTime;
  if (deviceTime === undefined || deviceTime === null) return reading;
  const corrected = gpsWeekRolloverCorrection(deviceTime, meta);
  if (corrected === null) return reading;
  reading.sourceTime = corrected;
  reading.deviceTime = deviceTime;
  // The date field follows the corrected instant (whole days were added: time_utc is unchanged).
  reading.fields.date = isoDate(corrected);
  addFlag(reading, 'GPS_WEEK_ROLLOVER_CORRECTED');
  return reading;
}

/** A time of day with no date (GGA): the instant on the UTC day nearest to when it was received. */
function nearestInstant(timeOfDayMs: number, receivedAt: number): number {
  const day = 86_400_000;
  const base = Math.floor(receivedAt / day) * day + timeOfDayMs;
  return [base - day, base, base + day].reduce((best, t) => (Math.abs(t - receivedAt) < Math.abs(best - receivedAt) ? t : best));
}

function decodeGga(talker: string, f: string[], meta: DecodeMeta): DecodeResult {
  if (f.length < 6) return fail('ADAPTER_PARSE', `GGA has ${f.length} fields, needs at least 6`);
  const time = parseTime(f[0]);
  const lat = parseCoordinate(f[1], f[2], 2);
  const lon = parseCoordinate(f[3], f[4], 3);
  for (const p of [time, lat, lon]) if ('error' in p) return fail('ADAPTER_PARSE', `GGA ${p.error}`);
  const quality = integer(f[5]);
  const satellites = integer(f[6]);
  const hdop = decimal(f[7]);
  const altitude = decimal(f[8]);
  const separation = decimal(f[10]);
  const age = decimal(f[12]);
  const numbers = { fix_quality: quality, satellites, hdop, altitude, geoid_separation: separation, dgps_age: age };
  for (const [name, value] of Object.entries(numbers)) if (value === undefined) return fail('ADAPTER_PARSE', `GGA ${name} is not a number`);
  if ((f[9] ?? 'M') !== 'M' && f[9] !== '') return fail('ADAPTER_PARSE', `GGA altitude unit ${excerpt(f[9] ?? '')} is not M`);
  const t = (time as { value: { text: string; ms: number } | null }).value;
  const reading: DecodedReading = {
    stream: 'gga',
    fields: {
      talker,
      time_utc: t?.text ?? null,
      latitude: (lat as { value: number | null }).value,
      longitude: (lon as { value: number | null }).value,
      fix_quality: quality ?? null,
      satellites: satellites ?? null,
      hdop: hdop ?? null,
      altitude: altitude ?? null,
      geoid_separation: separation ?? null,
      dgps_age: age ?? null,
      dgps_station: f[13] === undefined || f[13] === '' ? null : f[13],
    },
    units: schemaUnits.gga,
    // The date comes from the receipt clock; from an untrusted one it would be invented (1970 on a
    // board without RTC), so no source time rather than a wrong one (safeDecode flags the reading).
    sourceTime: t === null || !receiptTimeTrusted(meta) ? null : nearestInstant(t.ms, meta.receivedAt),
  };
  return ok([reading]);
}

function decodeRmc(talker: string, f: string[], meta: DecodeMeta): DecodeResult {
  if (f.length < 9) return fail('ADAPTER_PARSE', `RMC has ${f.length} fields, needs at least 9`);
  const time = parseTime(f[0]);
  const lat = parseCoordinate(f[2], f[3], 2);
  const lon = parseCoordinate(f[4], f[5], 3);
  for (const p of [time, lat, lon]) if ('error' in p) return fail('ADAPTER_PARSE', `RMC ${p.error}`);
  if (f[1] !== 'A' && f[1] !== 'V' && f[1] !== '') return fail('ADAPTER_PARSE', `RMC status ${excerpt(f[1] ?? '')} is not A or V`);
  const speedKnots = decimal(f[6]);
  const course = decimal(f[7]);
  const variation = decimal(f[9]);
  for (const [name, value] of Object.entries({ speed: speedKnots, course, magnetic_variation: variation })) {
    if (value === undefined) return fail('ADAPTER_PARSE', `RMC ${name} is not a number`);
  }
  let date: { text: string; ms: number } | null = null;
  if (f[8] !== undefined && f[8] !== '') {
    const m = /^(\d{2})(\d{2})(\d{2})$/.exec(f[8]);
    if (!m) return fail('ADAPTER_PARSE', `RMC bad date ${excerpt(f[8])}`);
    const yy = Number(m[3]);
    const parsed = parseDate(Number(m[1]), Number(m[2]), yy < 80 ? 2000 + yy : 1900 + yy);
    if ('error' in parsed) return fail('ADAPTER_PARSE', `RMC ${parsed.error}`);
    date = parsed.value;
  }
  const variationEw = f[10] ?? '';
  if (variationEw !== '' && variationEw !== 'E' && variationEw !== 'W') return fail('ADAPTER_PARSE', `RMC variation direction ${excerpt(variationEw)}`);
  const t = (time as { value: { text: string; ms: number } | null }).value;
  const reading: DecodedReading = {
    stream: 'rmc',
    fields: {
      talker,
      time_utc: t?.text ?? null,
      date: date?.text ?? null,
      valid: f[1] === '' ? null : f[1] === 'A',
      latitude: (lat as { value: number | null }).value,
      longitude: (lon as { value: number | null }).value,
      speed: speedKnots === null || speedKnots === undefined ? null : knotsToMetresPerSecond(speedKnots),
      course: course ?? null,
      magnetic_variation: variation === null || variation === undefined ? null : variationEw === 'W' ? -variation : variation,
      mode: f[11] === undefined || f[11] === '' ? null : f[11],
      nav_status: f[12] === undefined || f[12] === '' ? null : f[12],
    },
    units: schemaUnits.rmc,
    sourceTime: t !== null && date !== null ? date.ms + t.ms : null,
  };
  return ok([correctRollover(reading, meta)]);
}

function decodeZda(talker: string, f: string[], meta: DecodeMeta): DecodeResult {
  if (f.length < 4) return fail('ADAPTER_PARSE', `ZDA has ${f.length} fields, needs at least 4`);
  const time = parseTime(f[0]);
  if ('error' in time) return fail('ADAPTER_PARSE', `ZDA ${time.error}`);
  const [day, month, year, zoneHours, zoneMinutes] = [integer(f[1]), integer(f[2]), integer(f[3]), integer(f[4]), integer(f[5])];
  for (const [name, value] of Object.entries({ day, month, year, local_zone_hours: zoneHours, local_zone_minutes: zoneMinutes })) {
    if (value === undefined) return fail('ADAPTER_PARSE', `ZDA ${name} is not an integer`);
  }
  let date: { text: string; ms: number } | null = null;
  if (day !== null && month !== null && year !== null && day !== undefined && month !== undefined && year !== undefined) {
    if (year < 1980 || year > 9999) return fail('ADAPTER_PARSE', `ZDA year ${year} out of range`);
    const parsed = parseDate(day, month, year);
    if ('error' in parsed) return fail('ADAPTER_PARSE', `ZDA ${parsed.error}`);
    date = parsed.value;
  }
  const t = time.value;
  const reading: DecodedReading = {
    stream: 'zda',
    fields: {
      talker,
      time_utc: t?.text ?? null,
      date: date?.text ?? null,
      local_zone_hours: zoneHours ?? null,
      local_zone_minutes: zoneMinutes ?? null,
    },
    units: {},
    sourceTime: t !== null && date !== null ? date.ms + t.ms : null,
  };
  return ok([correctRollover(reading, meta)]);
}
function decodeSentence({ address, fields }: Sentence, meta: DecodeMeta): DecodeResult {
  if (address.startsWith('P') || address.length !== 5) return skip('ADAPTER_UNSUPPORTED', `sentence ${address} is not decoded`);
  const talker = address.slice(0, 2);
  switch (address.slice(2)) {
    case 'GGA':
      return decodeGga(talker, fields, meta);
    case 'RMC':
      return decodeRmc(talker, fields, meta);
    case 'ZDA':
      return decodeZda(talker, fields, meta);
    default:
      return skip('ADAPTER_UNSUPPORTED', `sentence ${address} is not decoded`);
  }
}

export function createNmea0183(options: Nmea0183Options): FirmwareAdapter {
  return {
    name: 'nmea0183',
    description: 'NMEA 0183 GPS/time receivers: RMC, GGA, ZDA',
    schemaVersion: 1,
    framing: { kind: 'line', terminator: '\r\n', maxLength: options.maxLength },
    schemas,
    decode(frame: Buffer, meta: DecodeMeta): DecodeResult {
      if (frame.length > options.maxLength) return fail('ADAPTER_PARSE', `sentence of ${frame.length} bytes exceeds ${options.maxLength}`);
      const parsed = parseSentence(frame, options.requireChecksum);
      if (!parsed.ok) return parsed.result;
      return withEnvelopeFlags(decodeSentence(parsed.sentence, meta), parsed.sentence);
    },
  };
}

const definition: AdapterDefinition<Nmea0183Options> = {
  name: 'nmea0183',
  description: 'NMEA 0183 GPS/time receivers: RMC, GGA, ZDA (other sentences skipped as unsupported)',
  optionsSchema,
  create: createNmea0183,
};

export default definition;
