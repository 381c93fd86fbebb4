/**
 * Reading times: is the instrument's time plausible, is the receipt time trustworthy, and the GPS
 * week-number rollover arithmetic. Pure functions over ms since the Unix epoch (no clock: the
 * input's `receivedAt` is the only "now").
 *
 * Why this exists: `sourceTime` orders, files and ages a record downstream (TTL, the archive's
 * time partitions, aggregates). An instrument whose clock is decades off (a GPS receiver past its
 * week-number rollover, a controller whose RTC reset to 2000 or 1970) would file its readings
 * decades away, silently. `safeDecode` therefore runs `checkSourceTime` on every reading of every
 * adapter; GPS-specific correction (`gpsWeekRolloverCorrection`) is the NMEA adapter's call.
 *
 * Limits, in numbers: a source time is plausible from `SOURCE_TIME_MAX_PAST_MS` (366 days) before
 * the receipt time to `SOURCE_TIME_MAX_FUTURE_MS` (1 day) after it; a receipt time is trusted,
 * unless the caller says otherwise, in [`RECEIPT_TIME_FLOOR_MS`, `RECEIPT_TIME_CEILING_MS`)
 * = [2019-04-07, 2100-01-01); a rollover is corrected when the result lands from
 * `GPS_ROLLOVER_TOLERANCE_MS` (7 days) before a trusted receipt time to 1 day after it.
 */
import { addFlag, type DecodeMeta, type DecodedReading } from './adapter.ts';

const DAY_MS = 86_400_000;

/**
 * 1024 weeks = 7,168 days. GPS broadcasts the week number modulo 1024 (IS-GPS-200, subframe 1
 * "transmission week number", 10 bits); a receiver resolves it against a pivot date built into its
 * firmware, and once past the pivot's epoch it reports dates exactly this much too early.
 */
export const GPS_WEEK_EPOCH_MS = 1024 * 7 * DAY_MS;

/**
 * 2019-04-07T00:00:00Z, the start of GPS week 2048 (the most recent week-number rollover before
 * this code was written). A host clock earlier than that is not synchronised: every value a clock
 * falls back to without RTC or NTP (1970-01-01 Unix epoch, 1980-01-06 GPS epoch, 2000-01-01 RTC
 * reset) is far below it. It is deliberately not "the build date": captures from 2019 on (the
 * field reports include one received on 2020-05-30) must replay with their own receipt time.
 */
export const RECEIPT_TIME_FLOOR_MS = Date.UTC(2019, 3, 7);

/** 2100-01-01: a receipt time beyond it is an RTC holding garbage (e.g. 2106, 32-bit overflow), not a clock. */
export const RECEIPT_TIME_CEILING_MS = Date.UTC(2100, 0, 1);

/**
 * How far before its receipt a reading may have been taken: a year (366 days) leaves room for an
 * instrument that uploads a stored backlog after weeks off-line, while every clock fault this
 * guards against (a GPS rollover, 19.6 years; an RTC reset to 2000 or 1970) is many years off.
 */
export const SOURCE_TIME_MAX_PAST_MS = 366 * DAY_MS;

/**
 * How far after its receipt a reading may claim to have been taken: a reading cannot come from the
 * future, so one day only, which covers a device writing local time as UTC (at most 14 h) and a
 * receipt clock that lags.
 */
export const SOURCE_TIME_MAX_FUTURE_MS = DAY_MS;

/**
 * A rolled-over GPS time keeps its time of week exactly, so once moved by whole epochs it should
 * agree with a synchronised receipt clock to within seconds. A week leaves room for replaying a
 * capture with an approximate `--received-at` (a date only, or one time for a capture that spans
 * days) without letting an unrelated clock fault be "corrected" by coincidence.
 */
export const GPS_ROLLOVER_TOLERANCE_MS = 7 * DAY_MS;

/**
 * Whether `meta.receivedAt` may be used as a reference: what the caller says (`receivedAtTrusted`),
 * or, when it says nothing, whether the time lies in [`RECEIPT_TIME_FLOOR_MS`, `RECEIPT_TIME_CEILING_MS`).
 * A non-finite receipt time is never trusted.
 */
export function receiptTimeTrusted(meta: DecodeMeta): boolean {
  if (!Number.isFinite(meta.receivedAt)) return false;
  if (meta.receivedAtTrusted !== undefined) return meta.receivedAtTrusted;
  return meta.receivedAt >= RECEIPT_TIME_FLOOR_MS && meta.receivedAt < RECEIPT_TIME_CEILING_MS;
}

/**
 * The GPS time a receiver meant, when `deviceTime` (ms) lies a whole number n ≥ 1 of 1024-week
 * epochs behind a trusted receipt time: `deviceTime + n × GPS_WEEK_EPOCH_MS`, n chosen to land
 * nearest the receipt time, provided it lands no more than `GPS_ROLLOVER_TOLERANCE_MS` before it
 * and no more than `SOURCE_TIME_MAX_FUTURE_MS` after it (a corrected time must itself be
 * plausible). Otherwise null: no rollover, or nothing trustworthy to correct toward (a board that
 * booted at 1970 must not drag a good GPS date anywhere).
 *
 * Example: device 2000-10-14T09:30:00Z, received 2020-05-30T12:00:00Z → 2020-05-30T09:30:00Z.
 */
export function gpsWeekRolloverCorrection(deviceTime: number, meta: DecodeMeta): number | null {
  if (!Number.isFinite(deviceTime) || !receiptTimeTrusted(meta)) return null;
  const epochs = Math.round((meta.receivedAt - deviceTime) / GPS_WEEK_EPOCH_MS);
  if (epochs < 1) return null;
  const corrected = deviceTime + epochs * GPS_WEEK_EPOCH_MS;
  const ahead = corrected - meta.receivedAt;
  return ahead <= SOURCE_TIME_MAX_FUTURE_MS && -ahead <= GPS_ROLLOVER_TOLERANCE_MS ? corrected : null;
}

/**
 * Checks one reading's times against the receipt time; `safeDecode` runs it on every reading.
 * Mutates the reading:
 *
 * - receipt time not trusted (`receiptTimeTrusted`): flag `RECEIPT_TIME_UNSYNCHRONISED` on every
 *   reading, since its ingest time comes from that clock too;
 * - a `sourceTime` that is not plausible: flag `SOURCE_TIME_IMPLAUSIBLE`, move the value to
 *   `deviceTime` (unless a decoder already put the device's own value there) and set `sourceTime`
 *   to null. Plausible means within [receipt − 366 d, receipt + 1 d] when the receipt time is
 *   trusted; when it is not, there is no reference, so only [floor, ceiling) is checked and a
 *   source time in it is kept (it is then the better of the two clocks).
 *
 * Why null rather than passing the value on with a flag: the record's source time is what
 * retention, ordering and the archive's partitions use; a value decades off misfiles the reading
 * where no one looks for it (or where retention already deleted), whereas null is the ordinary
 * "the instrument gave no time" that every consumer handles (ingest time stands in). The device's
 * value is not lost: it is in `deviceTime` (payload `device_time`), next to the flag.
 */
export function checkSourceTime(reading: DecodedReading, meta: DecodeMeta): void {
  const trusted = receiptTimeTrusted(meta);
  if (!trusted) addFlag(reading, 'RECEIPT_TIME_UNSYNCHRONISED');
  const t = reading.sourceTime;
  if (t === undefined || t === null) return;
  if (!Number.isFinite(t)) {
    // A conversion bug, not an instrument's claim: treated like a non-finite field value.
    reading.sourceTime = null;
    return;
  }
  const plausible = trusted
    ? t - meta.receivedAt <= SOURCE_TIME_MAX_FUTURE_MS && meta.receivedAt - t <= SOURCE_TIME_MAX_PAST_MS
    : t >= RECEIPT_TIME_FLOOR_MS && t < RECEIPT_TIME_CEILING_MS;
  if (plausible) return;
  reading.deviceTime ??= t;
  reading.sourceTime = null;
  addFlag(reading, 'SOURCE_TIME_IMPLAUSIBLE');
}
