/** Timestamps in generic data (json-lines, csv), as configured: ISO 8601, or epoch seconds/milliseconds. */
export type TimeFormat = 'iso8601' | 'epoch_s' | 'epoch_ms';

export const timeFormatSchema = {
  type: 'string',
  enum: ['iso8601', 'epoch_s', 'epoch_ms'],
  default: 'iso8601',
  description: 'iso8601 (with a zone: Z or ±hh:mm), epoch_s or epoch_ms.',
} as const;

const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
/** 1970 … 9999: anything else is a unit mix-up (seconds read as ms) rather than a time. */
const MAX_MS = Date.UTC(9999, 11, 31);

/** ms since epoch, or undefined if the value is not a time in that format. */
export function parseTimestamp(value: unknown, format: TimeFormat): number | undefined {
  let ms: number;
  if (format === 'iso8601') {
    if (typeof value !== 'string' || !ISO.test(value)) return undefined;
    ms = Date.parse(value.replace(' ', 'T'));
  } else {
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
    ms = format === 'epoch_s' ? n * 1000 : n;
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_MS) return undefined;
  return Math.round(ms);
}
