/**
 * Maintenance on the main thread stays short (the event loop keeps serving inputs and the API),
 * and time-based expiry trusts only a clock that was right (contract, "TTL" and "Time").
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openBuffer, range, rec, sequencesOf, tempDir } from './helpers.ts';

describe('maintenance without stalls', () => {
  it('incremental vacuum returns pages in bounded steps', async () => {
    const b = openBuffer({ path: path.join(tempDir(), 'v.db'), groupCommit: { maxRecords: 5000, maxDelayMs: 1 } });
    await b.appendBatch(range(1, 5000).map((i) => rec('wx', i, 400)));
    b.ack('wx', 5000);
    b.checkpoint();
    const free = b.pageStats().freelistCount;
    expect(free).toBeGreaterThan(600);
    expect(await b.incrementalVacuum(600)).toBe(600);
    expect(b.pageStats().freelistCount).toBe(free - 600);
    expect(await b.incrementalVacuum()).toBe(free - 600);
    expect(b.pageStats().freelistCount).toBe(0);
  });
});

describe('time', () => {
  it('never expires by TTL a record stamped while the clock was below the floor (its age is unknown)', async () => {
    const floor = Date.parse('2026-11-01T00:00:00Z');
    let now = Date.parse('1970-01-02T00:00:00Z'); // a board without an RTC, before NTP
    const file = path.join(tempDir(), 'clock.db');
    const early = openBuffer({ path: file, clock: () => now, timeFloor: floor, streamConfig: () => ({ priority: 'telemetry', ttlMs: 3_600_000 }) });
    await Promise.all(range(1, 3).map((i) => early.append(rec('wx', i))));
    await early.close();
    now = Date.parse('2026-11-30T12:00:00Z'); // NTP corrected the clock
    const b = openBuffer({ path: file, clock: () => now, timeFloor: floor, streamConfig: () => ({ priority: 'telemetry', ttlMs: 3_600_000 }) });
    expect(await b.sweepTtl()).toBe(0);
    expect(sequencesOf(b, 'wx')).toEqual([1, 2, 3]);
    // Ingest times stay non-decreasing, and records stamped by the good clock do expire.
    const fresh = await b.append(rec('wx', 4));
    expect(fresh.ingestTime).toBe(now);
    now += 2 * 3_600_000;
    expect(await b.sweepTtl()).toBe(0); // #4 waits behind #1..#3, whose age is unknown
    b.ack('wx', 3);
    expect(await b.sweepTtl()).toBe(1);
  });
});
