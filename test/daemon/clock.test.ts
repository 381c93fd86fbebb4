/**
 * Field report scenario 1, under a real wrong clock: a board without a real-time clock runs the
 * daemon while the system clock reads 1970 (libfaketime from Debian's `faketime`, which changes
 * the wall clock only: the monotonic clock runs on, as on such a board). Then NTP sets the clock
 * and the daemon restarts. Nothing may be expired by TTL that is not really older than its TTL,
 * the backlog age must not read 500,000 hours, and the clock problem shows in status and metrics.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../support/daemon.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('a wrong wall clock', () => {
  it('records stamped in 1970 are kept (not expired by TTL once NTP corrects the clock); status and metrics say the clock is unsynchronised', async () => {
    // The dev stack installs faketime (packaging/dev-stack/stack.ts); without it this test cannot run.
    expect(existsSync(LIBFAKETIME), `${LIBFAKETIME} (apt-get install faketime)`).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-clock-'));
    dirs.push(dir);
    const config = {
      site: { id: 'clock-site' },
      forward: { enabled: false },
      streams: [{ match: 'weather/**', ttl: '1h' }],
      jobs: { ttlSweep: '* * * * * *' },
      alarms: { backlogAge: '1h' },
      inputs: [{ type: 'http', name: 'push' }],
    };
    const early = await startDaemon({
      dir,
      config,
      env: { LD_PRELOAD: LIBFAKETIME, FAKETIME: '@1970-01-02 00:00:00', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    });
    try {
      const pushed = await early.push([1, 2, 3].map((i) => ({ stream: 'weather/wxt536', payload: `Ta=1${i}.0C` })));
      expect(pushed.status).toBe(200);
      const status = await early.status();
      expect(new Date(status.now).getUTCFullYear()).toBe(1970);
      expect(status.clock.state).toBe('unsynchronised');
      expect(status.alarms.map((a) => a.code)).toContain('clock_unsynchronised');
      expect(status.backlog.streams.find((s) => s.stream === 'weather/wxt536')?.oldestAgeSeconds).toBeNull();
      const metrics = await (await fetch(`${early.url}/metrics`)).text();
      expect(metrics).toMatch(/^skyhaul_clock_synchronised 0$/m);
    } finally {
      expect(await early.kill('SIGTERM')).toBe(0);
    }

    // NTP has set the clock; the daemon restarts with the backlog stamped 1970.
    const later = await startDaemon({ dir, config });
    try {
      await new Promise((resolve) => setTimeout(resolve, 3500)); // three TTL sweeps
      const status = await later.status();
      expect(status.clock.state).toBe('synchronised');
      const stream = status.backlog.streams.find((s) => s.stream === 'weather/wxt536')!;
      expect(stream.records).toBe(3);
      expect(status.drops.filter((d) => d.reason === 'ttl')).toEqual([]);
      expect(stream.oldestAgeSeconds).toBeNull(); // unknown, not 500,000 hours
      expect(status.alarms.map((a) => a.code)).not.toContain('backlog_age');
      const jobs = status.jobs.find((j) => j.name === 'ttlSweep');
      expect(jobs?.runs ?? 0).toBeGreaterThanOrEqual(2);
      // New records get today's time, never earlier than what the stream already holds.
      const fresh = await later.push([{ stream: 'weather/wxt536', payload: 'Ta=14.0C' }]);
      expect(fresh.status).toBe(200);
      const metrics = await (await fetch(`${later.url}/metrics`)).text();
      expect(metrics).toMatch(/^skyhaul_clock_synchronised 1$/m);
      expect(metrics).toMatch(/^skyhaul_backlog_oldest_age_seconds\{priority="telemetry"\} -1$/m);
    } finally {
      await later.kill('SIGTERM');
    }
  }, 90_000);
});
