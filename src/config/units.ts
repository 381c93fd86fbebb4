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

/** "15s" -> 15000; numbers are milliseconds already. The schema has checked the form. */
export function parseDuration(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) throw new Error(`not a duration: '${value}'`);
  return Math.round(Number(match[1]) * DURATION_MS[match[2]!]!);
}

/** "64MiB" -> 67108864; numbers are bytes already. */
export function parseBytes(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/.exec(value.trim());
  if (!match) throw new Error(`not a size: '${value}'`);
  return Math.round(Number(match[1]) * SIZE_BYTES[match[2]!]!);
}
