/**
 * The two unit forms the configuration accepts, as one regular expression each: the schema
 * (src/config/forms.ts, central/src/config/schema.ts) validates with the same pattern the parsers below read with, so a value
 * the schema accepts always parses.
 */
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_BYTES: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/** A duration string: a number and one of ms, s, m, h, d ("250ms", "1.5h"). */
export const DURATION_PATTERN = '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$';
/** A size string: a number and a decimal or binary unit ("500MB", "64MiB"). */
export const SIZE_PATTERN = '^(\\d+(?:\\.\\d+)?)\\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$';

const DURATION = new RegExp(DURATION_PATTERN);
const SIZE = new RegExp(SIZE_PATTERN);

/** "15s" -> 15000; numbers are milliseconds already. The schema has checked the form. */
export function parseDuration(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = DURATION.exec(value.trim());
  if (!match) throw new Error(`not a duration: '${value}'`);
  return Math.round(Number(match[1]) * DURATION_MS[match[2]!]!);
}

/** "64MiB" -> 67108864; numbers are bytes already. */
export function parseBytes(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = SIZE.exec(value.trim());
  if (!match) throw new Error(`not a size: '${value}'`);
  return Math.round(Number(match[1]) * SIZE_BYTES[match[2]!]!);
}
