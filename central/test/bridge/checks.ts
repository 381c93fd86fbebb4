/** What the bridge tests check of Kafka's content, and their polling. */
import type { KafkaSeen } from '../support/central.ts';

/**
 * Reads until `ok` holds (every 250 ms), or throws naming `what` after `timeoutMs`. A read that
 * throws is tried again (a broker just restarted refuses for a while: its group coordinator
 * loads), and its error is named if the time runs out.
 */
export async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    try {
      const value = await read();
      if (ok(value)) return value;
      last = Array.isArray(value) ? `${value.length} items` : (JSON.stringify(value)?.slice(0, 300) ?? String(value));
    } catch (error) {
      last = `error: ${(error as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last read: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Every (producer, stream, sequence 1..count) once, and per stream Kafka's order (partition, then
 * offset, as readRaw returns it) is sequence order. `expected`: `producer|stream` -> count.
 */
export function checkOnceInOrder(seen: KafkaSeen[], expected: Map<string, number>): { duplicates: number; missing: number; outOfOrder: number } {
  const perStream = new Map<string, number[]>();
  for (const s of seen) {
    const key = `${s.record.producerId}|${s.record.stream}`;
    const list = perStream.get(key) ?? [];
    list.push(s.record.sequence);
    perStream.set(key, list);
  }
  let duplicates = 0;
  let missing = 0;
  let outOfOrder = 0;
  for (const [key, count] of expected) {
    const got = perStream.get(key) ?? [];
    const distinct = new Set(got);
    duplicates += got.length - distinct.size;
    for (let i = 1; i <= count; i++) if (!distinct.has(i)) missing += 1;
    for (let i = 1; i < got.length; i++) if (got[i]! < got[i - 1]!) outOfOrder += 1;
  }
  return { duplicates, missing, outOfOrder };
}
