/**
 * invariant sequence-never-reused across a file that goes back in time: a restored backup, or
 * commits lost by a power cut under synchronous NORMAL/OFF. The buffer takes a new producer
 * identity; records already in the file keep the identity they may have been sent under.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALARM } from '../../src/buffer/index.ts';
import type { BufferAlarm } from '../../src/buffer/index.ts';
import { makeBuffer, openBuffer, range, rec, tempDir } from './helpers.ts';

function sentKeys(records: Array<{ producerId: string; stream: string; sequence: number }>): string[] {
  return records.map((r) => `${r.producerId}/${r.stream}#${r.sequence}`);
}

describe('producer identity', () => {
  it('invariant sequence-never-reused: a buffer restored from a backup after its records were sent takes a new identity for new records', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'b.db');
    const first = openBuffer({ path: file });
    await Promise.all(range(1, 5).map((i) => first.append(rec('wx', i))));
    await first.close();
    fs.copyFileSync(file, path.join(dir, 'backup.db'));

    // The site runs on: five more records, all forwarded and acknowledged.
    const running = openBuffer({ path: file });
    const original = running.producerId;
    await Promise.all(range(6, 10).map((i) => running.append(rec('wx', i))));
    const sent = sentKeys(running.read('wx', 0, 100));
    running.ack('wx', 10);
    await running.close();

    // The operator restores the backup (next sequence 6 again).
    fs.copyFileSync(path.join(dir, 'backup.db'), file);
    const restored = makeBuffer({ path: file });
    const alarms: BufferAlarm[] = [];
    restored.on('alarm', (a: BufferAlarm) => alarms.push(a));
    restored.open();
    expect(alarms.map((a) => a.code)).toEqual([ALARM.identityRenewed]);
    expect(alarms[0]!.message).toMatch(/would hand out sequence 6 again/);
    expect(restored.producerId).not.toBe(original);
    // The backup's own records keep the identity they were sent under (the broker drops them as duplicates).
    expect(restored.read('wx', 0, 100).map((r) => r.producerId)).toEqual(Array(5).fill(original));
    // New records: same numbers as before, but a new (producer, stream, sequence) each.
    await Promise.all(range(11, 15).map((i) => restored.append(rec('wx', i))));
    const now = sentKeys(restored.read('wx', 5, 100));
    expect(now).toHaveLength(5);
    for (const key of now) expect(sent).not.toContain(key);
    // Acknowledging past the old records retires their epoch; a restart keeps the new identity.
    restored.ack('wx', 5);
    const renewed = restored.producerId;
    await restored.close();
    const again = openBuffer({ path: file });
    expect(again.producerId).toBe(renewed);
    expect(again.alarms()).toEqual([]);
    expect(again.read('wx', 0, 100).every((r) => r.producerId === renewed)).toBe(true);
  });

  it('an unclean stop under synchronous NORMAL renews the identity; under FULL it does not', async () => {
    for (const synchronous of ['NORMAL', 'FULL'] as const) {
      const dir = tempDir();
      const file = path.join(dir, 'b.db');
      const live = openBuffer({ path: file, synchronous, markIntervalMs: 10 });
      await Promise.all(range(1, 3).map((i) => live.append(rec('wx', i))));
      await new Promise((resolve) => setTimeout(resolve, 50)); // the mark catches up
      // A crash: the files as they are on disk while the process still runs (no clean close).
      const crash = path.join(dir, 'crash');
      fs.mkdirSync(crash);
      for (const f of fs.readdirSync(dir)) if (f.startsWith('b.db')) fs.copyFileSync(path.join(dir, f), path.join(crash, f));
      const id = live.producerId;
      const after = openBuffer({ path: path.join(crash, 'b.db'), synchronous });
      expect(after.producerId !== id, synchronous).toBe(synchronous === 'NORMAL');
      expect(after.read('wx', 0, 10).map((r) => r.producerId)).toEqual([id, id, id]);
    }
  });

  it('a clean restart keeps the identity, and the mark records each stream', async () => {
    const file = path.join(tempDir(), 'b.db');
    const b = openBuffer({ path: file, synchronous: 'OFF' });
    await b.append(rec('wx', 1));
    const id = b.producerId;
    await b.close();
    const mark = JSON.parse(fs.readFileSync(`${file}.sequences`, 'utf8')) as { producerId: string; clean: boolean; streams: Record<string, number> };
    expect(mark).toMatchObject({ producerId: id, clean: true, streams: { wx: 2 } });
    expect(openBuffer({ path: file, synchronous: 'OFF' }).producerId).toBe(id);
  });
});
