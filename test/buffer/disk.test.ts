import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { isSkyhaulError } from '../../src/common/errors.ts';
import { ALARM, ROW_OVERHEAD_BYTES } from '../../src/buffer/index.ts';
import type { BufferAlarm } from '../../src/buffer/index.ts';
import { openBuffer, range, rec, sequencesOf, settlesWithin, tempDir } from './helpers.ts';

const S = 32 + 'application/octet-stream'.length + 55 + ROW_OVERHEAD_BYTES;

describe('disk watchdog', () => {
  it('stops accepting below minFreeBytes, resumes only above resumeFreeBytes (hysteresis); waiters are bounded and then committed', async () => {
    let free = 10_000;
    let now = 0;
    const dirs: string[] = [];
    const dir = tempDir();
    const b = openBuffer({
      path: path.join(dir, 'b.db'),
      monotonic: () => now,
      // long interval: only the explicit and the staleness-triggered checks run in this test
      disk: { minFreeBytes: 1000, resumeFreeBytes: 2000, checkIntervalMs: 60_000 },
      statfs: (d) => {
        dirs.push(d);
        return { freeBytes: free };
      },
      maxBlockedBytes: 3 * S,
    });
    const accepting: boolean[] = [];
    const alarms: BufferAlarm[] = [];
    const cleared: string[] = [];
    b.on('accepting', (a: boolean) => accepting.push(a));
    b.on('alarm', (a: BufferAlarm) => alarms.push(a));
    b.on('alarm_cleared', (c: string) => cleared.push(c));
    expect(dirs).toEqual([dir]); // checked on open, on the buffer's directory
    expect(b.stats()).toMatchObject({ accepting: true, diskFreeBytes: 10_000 });
    expect((await b.append(rec('wx', 1))).sequence).toBe(1);

    // Disk fills; the next append finds the sample stale and checks before accepting.
    free = 500;
    now += 60_000;
    const first = b.append(rec('wx', 2));
    expect(accepting).toEqual([false]);
    expect(alarms.map((a) => a.code)).toEqual([ALARM.diskLow]);
    expect(alarms[0]!.details).toMatchObject({ freeBytes: 500, minFreeBytes: 1000 });
    expect(await settlesWithin(first, 30)).toBe(false);

    // An ack frees space while the disk is low: the waiter must still wait, and nothing polls.
    b.ack('wx', 1);
    // (the group commit lives in src/buffer/writer.ts: a retry would show as a transaction)
    const flushes = vi.spyOn(b as unknown as { tryTransact(): unknown }, 'tryTransact');
    await new Promise((r) => setTimeout(r, 40));
    expect(flushes).not.toHaveBeenCalled();
    flushes.mockRestore();

    // Above min but below resume: still not accepting.
    free = 1500;
    expect(b.checkDisk()).toBe(false);
    const more = [b.append(rec('wx', 3)), b.append(rec('wx', 4))];
    const overflow = b.append(rec('wx', 5)); // 4th waiter exceeds maxBlockedBytes (3 records)
    await expect(overflow).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_DISK_LOW'));
    expect(b.drops()).toEqual([{ stream: 'wx', reason: 'disk_low', count: 1 }]);
    expect(b.stats()).toMatchObject({ accepting: false, diskFreeBytes: 1500, blocked: { records: 3, bytes: 3 * S } });

    // Above resume: accepting again, alarm cleared, waiters committed in order.
    free = 2500;
    expect(b.checkDisk()).toBe(true);
    expect(accepting).toEqual([false, true]);
    expect(cleared).toEqual([ALARM.diskLow]);
    expect((await Promise.all([first, ...more])).map((c) => c.sequence)).toEqual([2, 3, 4]);
    expect(sequencesOf(b, 'wx')).toEqual(range(2, 4));
    expect(b.alarms()).toEqual([]);

    // A dip that does not cross minFreeBytes changes nothing.
    free = 1200;
    expect(b.checkDisk()).toBe(true);
    expect(accepting).toEqual([false, true]);
  });

  it('uses fs.statfs on the real directory by default', () => {
    const b = openBuffer({ path: path.join(tempDir(), 'b.db'), disk: { minFreeBytes: 0, resumeFreeBytes: 0, checkIntervalMs: 1000 } });
    const free = b.stats().diskFreeBytes;
    expect(free).toBeTypeOf('number');
    expect(free!).toBeGreaterThan(0);
  });
});
