import { describe, expect, it } from 'vitest';
import { BandwidthScheduler, scheduledRate, TokenBucket } from '../../src/forward/bandwidth.ts';
import { Backoff } from '../../src/common/backoff.ts';

describe('token bucket', () => {
  it('admits bytes at the configured rate over simulated time', () => {
    let now = 0;
    const bucket = new TokenBucket(10_000, () => now);
    let sent = 0;
    // 10 simulated seconds of a sender that waits exactly as told.
    while (now < 10_000) {
      const wait = bucket.tryTake(500);
      if (wait === 0) sent += 500;
      else now += wait;
    }
    expect(sent / 10).toBeGreaterThan(9_500);
    expect(sent / 10).toBeLessThan(10_600);
  });

  it('is unlimited with a null rate and lets a message larger than the burst through', () => {
    expect(new TokenBucket(null).tryTake(1e9)).toBe(0);
    let now = 0;
    const bucket = new TokenBucket(100, () => now);
    expect(bucket.tryTake(5000)).toBe(0); // bucket full: one oversized message passes, into debt
    expect(bucket.tryTake(10)).toBeGreaterThan(1000);
    now += 60_000;
    expect(bucket.tryTake(10)).toBe(0);
  });
});

describe('bandwidth schedule', () => {
  const config = {
    bytesPerSecond: 100_000,
    schedule: [
      { from: '20:00', to: '06:00', bytesPerSecond: 10_000 },
      { from: '12:00', to: '13:00', bytesPerSecond: null },
    ],
  };
  const at = (h: number, m = 0): Date => new Date(2026, 0, 1, h, m);

  it('picks the window in force, wrapping midnight', () => {
    expect(scheduledRate(config, at(21))).toBe(10_000);
    expect(scheduledRate(config, at(2, 30))).toBe(10_000);
    expect(scheduledRate(config, at(6))).toBe(100_000);
    expect(scheduledRate(config, at(12, 59))).toBeNull();
    expect(scheduledRate(config, at(19, 59))).toBe(100_000);
  });

  it('applies the schedule and an operator override to the bucket', () => {
    let date = at(21);
    const bucket = new TokenBucket(null);
    const scheduler = new BandwidthScheduler(bucket, config, () => date);
    scheduler.start();
    expect(bucket.bytesPerSecond).toBe(10_000);
    date = at(7);
    scheduler.apply();
    expect(bucket.bytesPerSecond).toBe(100_000);
    scheduler.setOverride(5_000);
    expect(bucket.bytesPerSecond).toBe(5_000);
    scheduler.setOverride(undefined);
    expect(bucket.bytesPerSecond).toBe(100_000);
    scheduler.stop();
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter up to the cap, and resets', () => {
    const maxRandom = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(() => maxRandom.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    const minRandom = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0);
    expect(minRandom.next()).toBe(50);
    maxRandom.reset();
    expect(maxRandom.next()).toBe(100);
    const jittered = new Backoff({ initialMs: 100, maxMs: 10_000 });
    const delays = Array.from({ length: 50 }, () => jittered.next());
    expect(new Set(delays).size).toBeGreaterThan(10);
  });
});
