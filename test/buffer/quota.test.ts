import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSkyhaulError } from '../../src/common/errors.ts';
import { ALARM, ROW_OVERHEAD_BYTES } from '../../src/buffer/index.ts';
import type { BufferAlarm, DropCount, DropReason, PriorityClass, QuotaPolicy, RecordBuffer } from '../../src/buffer/index.ts';
import { dropTotal, openBuffer, payloadTag, range, rec, sequencesOf, settle, settlesWithin, sleep, tempDir } from './helpers.ts';

/** Accounted size of rec(stream, n, 32): 32 payload + content type + traceparent + row overhead. */
const S = 32 + 'application/octet-stream'.length + 55 + ROW_OVERHEAD_BYTES;

const classOf = (stream: string): PriorityClass => (stream.split('/')[0] as PriorityClass) ?? 'telemetry';

function quotaBuffer(records: number, extra: Parameters<typeof openBuffer>[0] extends infer O ? Partial<O> : never = {}): RecordBuffer {
  return openBuffer({
    path: path.join(tempDir(), 'b.db'),
    quotaBytes: records * S,
    streamConfig: (s) => ({ priority: classOf(s), ttlMs: null }),
    groupCommit: { maxRecords: 1000, maxDelayMs: 1 },
    ...extra,
  });
}

function collectDrops(b: RecordBuffer): DropCount[] {
  const events: DropCount[] = [];
  b.on('drop', (d: DropCount) => events.push(d));
  return events;
}

describe('quota: drop-oldest', () => {
  it('evicts the oldest records of the class; the counters equal exactly what went missing', async () => {
    const b = quotaBuffer(10);
    const events = collectDrops(b);
    const results = [];
    for (const i of range(1, 25)) results.push(await b.append(rec('telemetry/wx', i)));
    expect(results.map((c) => c.sequence)).toEqual(range(1, 25)); // every append was committed
    expect(sequencesOf(b, 'telemetry/wx')).toEqual(range(16, 25)); // the newest 10 remain
    expect(b.drops()).toEqual([{ stream: 'telemetry/wx', reason: 'quota_drop_oldest', count: 15 }]);
    expect(dropTotal(events)).toBe(15);
    expect(b.stats().bytes).toBe(10 * S);
  });

  it('evicts lower classes first (bulk before telemetry), never a higher class', async () => {
    const b = quotaBuffer(10);
    await Promise.all([...range(1, 6).map((i) => b.append(rec('bulk/cam', i))), ...range(1, 4).map((i) => b.append(rec('telemetry/wx', i)))]);
    await Promise.all(range(1, 2).map((i) => b.append(rec('alarm/ups', i))));
    // the alarm (policy block) took its space from bulk, the lowest drop-oldest class
    expect(sequencesOf(b, 'bulk/cam')).toEqual(range(3, 6));
    await Promise.all(range(5, 9).map((i) => b.append(rec('telemetry/wx', i))));
    // telemetry evicted the rest of bulk (4), then its own oldest (1)
    expect(sequencesOf(b, 'bulk/cam')).toEqual([]);
    expect(sequencesOf(b, 'telemetry/wx')).toEqual(range(2, 9));
    expect(sequencesOf(b, 'alarm/ups')).toEqual([1, 2]);
    // bulk may evict only bulk: with none left, the incoming bulk record is refused
    await expect(b.append(rec('bulk/cam', 7))).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_BUFFER_FULL'));
    expect(b.drops()).toEqual([
      { stream: 'bulk/cam', reason: 'quota_drop_newest', count: 1 },
      { stream: 'bulk/cam', reason: 'quota_drop_oldest', count: 6 },
      { stream: 'telemetry/wx', reason: 'quota_drop_oldest', count: 1 },
    ]);
    expect(b.stats().bytes).toBeLessThanOrEqual(10 * S);
  });

  it('within a class, evicts by oldest first record across streams', async () => {
    let now = 1000;
    const b = quotaBuffer(4, { clock: () => now });
    await b.append(rec('telemetry/a', 1)); // t=1000
    now = 2000;
    await Promise.all([b.append(rec('telemetry/b', 1)), b.append(rec('telemetry/b', 2))]);
    now = 3000;
    await b.append(rec('telemetry/a', 2));
    now = 4000;
    await Promise.all([b.append(rec('telemetry/c', 1)), b.append(rec('telemetry/c', 2))]);
    // needs 2 slots: a#1 (t=1000) then b#1 (t=2000)
    expect(sequencesOf(b, 'telemetry/a')).toEqual([2]);
    expect(sequencesOf(b, 'telemetry/b')).toEqual([2]);
    expect(sequencesOf(b, 'telemetry/c')).toEqual([1, 2]);
  });
});

describe('quota: drop-newest', () => {
  it('refuses the incoming record: append rejects with SKY_ERR_BUFFER_FULL, counted, no sequence consumed', async () => {
    const b = quotaBuffer(5, { policies: { telemetry: 'drop-newest' } });
    const events = collectDrops(b);
    const { committed, rejected } = await settle(range(1, 8).map((i) => b.append(rec('telemetry/wx', i))));
    expect(committed.map((c) => c.sequence)).toEqual(range(1, 5));
    expect(rejected).toHaveLength(3);
    for (const e of rejected) expect(isSkyhaulError(e, 'SKY_ERR_BUFFER_FULL')).toBe(true);
    expect(b.read('telemetry/wx', 0, 100).map((r) => payloadTag(r.payload))).toEqual(range(1, 5).map((i) => `telemetry/wx:${i}`));
    expect(b.drops()).toEqual([{ stream: 'telemetry/wx', reason: 'quota_drop_newest', count: 3 }]);
    expect(events).toEqual([{ stream: 'telemetry/wx', reason: 'quota_drop_newest', count: 3 }]);
    b.ack('telemetry/wx', 2);
    expect((await b.append(rec('telemetry/wx', 9))).sequence).toBe(6); // contiguous: refused records got none
  });

  it('a record larger than the whole quota is refused whatever the policy', async () => {
    const b = quotaBuffer(2);
    await expect(b.append(rec('alarm/ups', 1, 10 * S))).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_BUFFER_FULL'));
    expect(b.drops()).toEqual([{ stream: 'alarm/ups', reason: 'quota_drop_newest', count: 1 }]);
    expect(b.stats().blocked.records).toBe(0);
  });
});

describe('quota: block', () => {
  it('waits for space freed by acks, in order, raising and clearing buffer_quota_blocked', async () => {
    const b = quotaBuffer(3);
    const alarms: BufferAlarm[] = [];
    const cleared: string[] = [];
    b.on('alarm', (a: BufferAlarm) => alarms.push(a));
    b.on('alarm_cleared', (code: string) => cleared.push(code));
    await Promise.all(range(1, 3).map((i) => b.append(rec('alarm/ups', i))));
    const waiting = [b.append(rec('alarm/ups', 4)), b.append(rec('control/dome', 1))];
    expect(await settlesWithin(Promise.race(waiting), 30)).toBe(false);
    expect(b.stats().blocked).toEqual({ records: 2, bytes: 2 * S });
    expect(alarms.map((a) => a.code)).toEqual([ALARM.quotaBlocked]);
    b.ack('alarm/ups', 1); // frees one slot: the alarm goes first (higher class)
    expect((await waiting[0]!).sequence).toBe(4);
    expect(await settlesWithin(waiting[1]!, 20)).toBe(false);
    b.ack('alarm/ups', 2);
    expect((await waiting[1]!).sequence).toBe(1);
    await sleep(5);
    expect(cleared).toEqual([ALARM.quotaBlocked]);
    expect(b.alarms()).toEqual([]);
    expect(b.drops()).toEqual([]); // nothing was dropped while waiting
  });

  it('takes space from lower drop-oldest classes without waiting', async () => {
    const b = quotaBuffer(3);
    await Promise.all(range(1, 3).map((i) => b.append(rec('telemetry/wx', i))));
    expect((await b.append(rec('alarm/ups', 1))).sequence).toBe(1);
    expect(sequencesOf(b, 'telemetry/wx')).toEqual([2, 3]);
    expect(b.drops()).toEqual([{ stream: 'telemetry/wx', reason: 'quota_drop_oldest', count: 1 }]);
  });

  it('bounds the wait: beyond maxBlockedBytes the newest is dropped as backpressure_overflow', async () => {
    const b = quotaBuffer(2, { maxBlockedBytes: 2 * S });
    await Promise.all(range(1, 2).map((i) => b.append(rec('control/dome', i))));
    const waiting = range(3, 4).map((i) => b.append(rec('control/dome', i)));
    const overflow = b.append(rec('control/dome', 5));
    await expect(overflow).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_BUFFER_FULL'));
    expect(b.drops()).toEqual([{ stream: 'control/dome', reason: 'backpressure_overflow', count: 1 }]);
    b.ack('control/dome', 2);
    expect((await Promise.all(waiting)).map((c) => c.sequence)).toEqual([3, 4]);
    expect(b.read('control/dome', 0, 10).map((r) => payloadTag(r.payload))).toEqual(['control/dome:3', 'control/dome:4']);
  });

  it('close() rejects waiters with SKY_ERR_BUFFER_CLOSED (not dropped: their sources were never acknowledged)', async () => {
    const b = quotaBuffer(1);
    await b.append(rec('alarm/ups', 1));
    const waiting = b.append(rec('alarm/ups', 2));
    await sleep(5);
    await b.close();
    await expect(waiting).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_BUFFER_CLOSED'));
  });
});

describe('invariants', () => {
  it('invariant no-silent-drop: committed = buffered + acked + counted drops; refused = counted drops (randomised)', async () => {
    let now = 0;
    const policies: Partial<Record<PriorityClass, QuotaPolicy>> = { alarm: 'block', control: 'drop-newest', telemetry: 'drop-oldest', bulk: 'drop-oldest' };
    const b = openBuffer({
      path: path.join(tempDir(), 'b.db'),
      quotaBytes: 40 * S,
      maxBlockedBytes: 6 * S,
      policies,
      clock: () => now,
      streamConfig: (s) => ({ priority: classOf(s), ttlMs: s === 'telemetry/ttl' ? 50 : null }),
      groupCommit: { maxRecords: 17, maxDelayMs: 1 },
    });
    const streams = ['alarm/a', 'control/c', 'telemetry/t', 'telemetry/ttl', 'bulk/b'];
    const committed = new Map<string, number>();
    const refused = new Map<string, number>();
    const ackDeleted = new Map<string, number>();
    const bump = (m: Map<string, number>, k: string, n = 1): void => void m.set(k, (m.get(k) ?? 0) + n);
    const events = collectDrops(b);
    let overQuota = 0;
    b.on('committed', () => {
      if (b.stats().bytes > 40 * S) overQuota++;
    });
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pending: Array<Promise<void>> = [];
    for (let step = 0; step < 400; step++) {
      now += 3;
      const stream = streams[Math.floor(random() * streams.length)]!;
      const size = 8 + Math.floor(random() * 60);
      pending.push(
        b.append(rec(stream, step, size)).then(
          () => bump(committed, stream),
          (err) => {
            expect(isSkyhaulError(err, 'SKY_ERR_BUFFER_FULL')).toBe(true);
            bump(refused, stream);
          },
        ),
      );
      if (step % 25 === 24) {
        await Promise.race([Promise.all(pending), sleep(20)]);
        // cursors(), as the forwarder: only what is readable (durable) is read and acked; acking
        // past it would delete records of a commit whose fsync still runs, uncounted here.
        for (const s of b.cursors()) {
          if (random() < 0.5 && s.records > 0) {
            const upto = Math.min(s.ackedSequence + Math.ceil(s.records / 2), s.nextSequence - 1);
            const buffered = b.read(s.stream, s.ackedSequence, 1_000_000).filter((r) => r.sequence <= upto).length;
            b.ack(s.stream, upto);
            bump(ackDeleted, s.stream, buffered);
          }
        }
        await b.sweepTtl();
      }
    }
    // let the blocked alarms through
    // (cursors(): up to what is readable, as the forwarder acks; a commit whose fsync still runs is not)
    for (const s of b.cursors()) {
      const buffered = b.read(s.stream, s.ackedSequence, 1_000_000).length;
      b.ack(s.stream, s.nextSequence - 1);
      bump(ackDeleted, s.stream, buffered);
    }
    await Promise.all(pending);

    const drops = b.drops();
    const afterCommit: DropReason[] = ['quota_drop_oldest', 'ttl', 'checksum'];
    const onArrival: DropReason[] = ['quota_drop_newest', 'backpressure_overflow', 'disk_low'];
    for (const s of streams) {
      const buffered = sequencesOf(b, s).length;
      const droppedAfterCommit = afterCommit.reduce((n, reason) => n + dropTotal(drops, { stream: s, reason }), 0);
      const droppedOnArrival = onArrival.reduce((n, reason) => n + dropTotal(drops, { stream: s, reason }), 0);
      expect(committed.get(s) ?? 0, s).toBe(buffered + (ackDeleted.get(s) ?? 0) + droppedAfterCommit);
      expect(refused.get(s) ?? 0, s).toBe(droppedOnArrival);
    }
    // every counted drop was also emitted
    for (const d of drops) expect(dropTotal(events, d), `${d.stream}/${d.reason}`).toBe(d.count);
    // the run exercised the policies it claims to
    for (const reason of ['quota_drop_oldest', 'quota_drop_newest', 'ttl'] as const) expect(dropTotal(drops, { reason }), reason).toBeGreaterThan(0);
    expect(overQuota).toBe(0);
    expect(b.checkIntegrity().ok).toBe(true);
  });

  it('invariant quota-never-exceeded: buffered bytes stay within the quota after every commit', async () => {
    const quota = 25 * S;
    const b = quotaBuffer(25);
    let max = 0;
    b.on('committed', () => (max = Math.max(max, b.stats().bytes)));
    for (let round = 0; round < 10; round++) {
      await settle(range(1, 40).map((i) => b.append(rec(['telemetry/a', 'bulk/b', 'alarm/c'][i % 3]!, i, 10 + ((i * 13) % 40)))));
      for (const s of b.streams()) if (s.stream === 'alarm/c' && s.records > 0) b.ack(s.stream, s.nextSequence - 1);
    }
    expect(max).toBeGreaterThan(quota * 0.8);
    expect(max).toBeLessThanOrEqual(quota);
  });

  it('invariant dropped-never-resolves: refused appends reject with a SkyhaulError and never resolve', async () => {
    const b = quotaBuffer(1, { policies: { telemetry: 'drop-newest' }, maxBlockedBytes: 0 });
    await b.append(rec('telemetry/t', 1));
    await b.append(rec('alarm/a', 1)).catch(() => undefined); // alarm evicts nothing (telemetry is drop-newest) and cannot wait
    const outcomes = await Promise.allSettled([b.append(rec('telemetry/t', 2)), b.append(rec('alarm/a', 2))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    for (const o of outcomes) expect(o.status === 'rejected' && isSkyhaulError(o.reason, 'SKY_ERR_BUFFER_FULL')).toBe(true);
    expect(b.drops()).toEqual([
      { stream: 'alarm/a', reason: 'backpressure_overflow', count: 2 },
      { stream: 'telemetry/t', reason: 'quota_drop_newest', count: 1 },
    ]);
    expect(b.streams().map((s) => [s.stream, s.nextSequence])).toEqual([['telemetry/t', 2]]);
  });
});

describe('ttl', () => {
  it('deletes expired records per stream from the head, stops at the first unexpired one, counts them as ttl', async () => {
    let now = 10_000;
    const b = openBuffer({
      path: path.join(tempDir(), 'b.db'),
      clock: () => now,
      streamConfig: (s) => ({ priority: 'telemetry', ttlMs: s === 'wx' ? 1000 : null }),
    });
    const events = collectDrops(b);
    await Promise.all(range(1, 5).map((i) => b.append(rec('wx', i)))); // ingest 10_000
    await b.append(rec('keep', 1));
    now = 10_500;
    await Promise.all(range(6, 8).map((i) => b.append(rec('wx', i)))); // ingest 10_500
    await b.append(rec('wx', 9, 32, { ingestTime: 10_200 })); // a clock stepped back: stamped 10_500 (never earlier than #8)
    expect(await b.sweepTtl(10_999)).toBe(0);
    expect(await b.sweepTtl(11_000)).toBe(5); // ingestTime + ttl <= now
    expect(sequencesOf(b, 'wx')).toEqual([6, 7, 8, 9]);
    expect(b.read('wx', 8, 1)[0]!.ingestTime).toBe(10_500);
    expect(events).toEqual([{ stream: 'wx', reason: 'ttl', count: 5 }]);
    now = 20_000;
    expect(await b.sweepTtl()).toBe(4);
    expect(sequencesOf(b, 'wx')).toEqual([]);
    expect(sequencesOf(b, 'keep')).toEqual([1]); // no ttl configured
    expect(b.drops()).toEqual([{ stream: 'wx', reason: 'ttl', count: 9 }]);
    expect(b.streams().find((s) => s.stream === 'wx')).toMatchObject({ records: 0, bytes: 0, oldestIngestTime: null, nextSequence: 10 });
  });

  it('sweeps large expiries in bounded transactions', async () => {
    let now = 0;
    const b = openBuffer({ path: path.join(tempDir(), 'b.db'), clock: () => now, streamConfig: () => ({ priority: 'telemetry', ttlMs: 10 }), groupCommit: { maxRecords: 5000, maxDelayMs: 1 } });
    await Promise.all(range(1, 25_000).map((i) => b.append(rec('wx', i, 4))));
    now = 100;
    expect(await b.sweepTtl()).toBe(25_000);
    expect(b.drops()).toEqual([{ stream: 'wx', reason: 'ttl', count: 25_000 }]);
    expect(b.stats()).toMatchObject({ records: 0, bytes: 0 });
  });
});

describe('quota and TTL leave in-flight records alone', () => {
  it('drop-oldest evicts after the in-flight floor, so a record on its way is never also counted as dropped', async () => {
    const b = quotaBuffer(10);
    for (const i of range(1, 10)) await b.append(rec('telemetry/wx', i));
    b.setInFlight('telemetry/wx', 3); // 1..3 sent, not yet acknowledged by the broker
    for (const i of range(11, 14)) await b.append(rec('telemetry/wx', i));
    // The four evicted are the oldest not in flight: 4..7.
    expect(sequencesOf(b, 'telemetry/wx')).toEqual([1, 2, 3, ...range(8, 14)]);
    expect(b.drops()).toEqual([{ stream: 'telemetry/wx', reason: 'quota_drop_oldest', count: 4 }]);
    b.ack('telemetry/wx', 3);
    b.setInFlight('telemetry/wx', 0);
    expect(sequencesOf(b, 'telemetry/wx')).toEqual(range(8, 14));
    expect(b.stats().records).toBe(7);
  });

  it('the TTL sweep skips in-flight records too', async () => {
    let now = 1_000_000;
    const b = openBuffer({
      path: path.join(tempDir(), 'ttl.db'),
      streamConfig: () => ({ priority: 'telemetry', ttlMs: 1000 }),
      clock: () => now,
    });
    for (const i of range(1, 6)) await b.append(rec('telemetry/wx', i));
    b.setInFlight('telemetry/wx', 2);
    now += 5000;
    expect(await b.sweepTtl(now)).toBe(4);
    expect(sequencesOf(b, 'telemetry/wx')).toEqual([1, 2]);
    expect(b.drops()).toEqual([{ stream: 'telemetry/wx', reason: 'ttl', count: 4 }]);
  });
});

describe('quota lowered below the backlog', () => {
  it('each new record evicts about its own size, never the whole excess in one transaction', async () => {
    const file = path.join(tempDir(), 'lowered.db');
    const big = openBuffer({ path: file, quotaBytes: 1000 * S, streamConfig: (s) => ({ priority: classOf(s), ttlMs: null }) });
    for (const i of range(1, 200)) await big.append(rec('telemetry/wx', i));
    await big.close();
    const small = openBuffer({ path: file, quotaBytes: 10 * S, streamConfig: (s) => ({ priority: classOf(s), ttlMs: null }) });
    await small.append(rec('telemetry/wx', 201));
    expect(small.stats().records).toBe(200);
    expect(small.drops()).toEqual([{ stream: 'telemetry/wx', reason: 'quota_drop_oldest', count: 1 }]);
  });
});

describe('batches (one instrument frame, one HTTP request)', () => {
  it('invariant batch-all-or-none: a batch that does not fit is dropped whole and counted per record; one that fits commits in one transaction', async () => {
    const b = quotaBuffer(5, { policies: { telemetry: 'drop-newest' } });
    const commits: number[] = [];
    b.on('committed', (_s: string[], info: { records: number }) => commits.push(info.records));
    expect((await b.appendBatch(range(1, 3).map((i) => rec('telemetry/wx', i)))).map((c) => c.sequence)).toEqual([1, 2, 3]);
    // 3 more would exceed the quota by one record: none of them commits (not the first two).
    const refused = b.appendBatch([rec('telemetry/wx', 4), rec('telemetry/wx', 5), rec('telemetry/gps', 1)]);
    await expect(refused).rejects.toSatisfy((e) => isSkyhaulError(e, 'SKY_ERR_BUFFER_FULL') && /3 records of one batch/.test((e as Error).message));
    expect(sequencesOf(b, 'telemetry/wx')).toEqual([1, 2, 3]);
    expect(sequencesOf(b, 'telemetry/gps')).toEqual([]);
    expect(b.drops()).toEqual([
      { stream: 'telemetry/gps', reason: 'quota_drop_newest', count: 1 },
      { stream: 'telemetry/wx', reason: 'quota_drop_newest', count: 2 },
    ]);
    expect(commits).toEqual([3]); // the refusal's transaction held only its drop counters
    // A batch that fits after an ack commits whole, sequences contiguous with the refused ones unused.
    b.ack('telemetry/wx', 3);
    expect((await b.appendBatch([rec('telemetry/wx', 6), rec('telemetry/gps', 2)])).map((c) => `${c.stream}#${c.sequence}`)).toEqual(['telemetry/wx#4', 'telemetry/gps#1']);
  });

  it('a batch never straddles two transactions, and waits under block as a whole', async () => {
    // On the calling thread: 3 singles, then the 6-record batch alone (larger than maxRecords, but
    // never split). On the writer thread one hand-off may take up to 16 × maxRecords: all 9 at once.
    for (const [writerThread, expected] of [[false, [3, 6]], [true, [9]]] as const) {
      const big = openBuffer({ path: path.join(tempDir(), 'b.db'), groupCommit: { maxRecords: 4, maxDelayMs: 1000 }, writerThread });
      const commits: number[] = [];
      big.on('committed', (_s: string[], info: { records: number }) => commits.push(info.records));
      const singles = range(1, 3).map((i) => big.append(rec('s', i)));
      const batch = big.appendBatch(range(1, 6).map((i) => rec('frame', i)));
      await Promise.all([...singles, batch]);
      expect(commits).toEqual(expected);
    }

    const b = quotaBuffer(4);
    await Promise.all(range(1, 3).map((i) => b.append(rec('alarm/ups', i))));
    const waiting = b.appendBatch([rec('alarm/ups', 4), rec('control/dome', 1)]);
    expect(await settlesWithin(waiting, 30)).toBe(false);
    expect(b.stats().blocked).toEqual({ records: 2, bytes: 2 * S });
    expect(sequencesOf(b, 'alarm/ups')).toEqual([1, 2, 3]); // not the first half of the batch
    b.ack('alarm/ups', 1);
    expect((await waiting).map((c) => c.sequence)).toEqual([4, 1]);
  });
});

describe('stream limit', () => {
  it('records of streams beyond maxStreams are dropped, counted as stream_limit under *, alarmed; the maps stay bounded', async () => {
    const b = openBuffer({ path: path.join(tempDir(), 'b.db'), maxStreams: 3 });
    const drops: DropCount[] = [];
    b.on('drop', (d: DropCount) => drops.push(d));
    const { committed, rejected } = await settle(range(1, 10).map((i) => b.append(rec(`s${i}`, i))));
    expect(committed.map((c) => c.stream)).toEqual(['s1', 's2', 's3']);
    expect(rejected).toHaveLength(7);
    expect(String(rejected[0])).toMatch(/maximum number of streams \(buffer.maxStreams; stream_limit\)/);
    expect(b.drops()).toEqual([{ stream: '*', reason: 'stream_limit', count: 7 }]);
    expect(drops.reduce((n, d) => n + d.count, 0)).toBe(7);
    expect(b.alarms().find((a) => a.code === ALARM.streamLimit)?.details).toMatchObject({ maxStreams: 3, lastRefused: 's10', dropped: 7 });
    // Known streams go on; a batch that would create one stream too many is refused whole.
    expect((await b.append(rec('s1', 11))).sequence).toBe(2);
    await expect(b.appendBatch([rec('s2', 12), rec('new', 1)])).rejects.toThrow(/stream_limit/);
    expect(b.streams().map((s) => s.stream)).toEqual(['s1', 's2', 's3']);
    const internals = b as unknown as { writerMeta: Map<string, unknown>; newStreamConfig: Map<string, unknown> };
    expect(internals.writerMeta.size).toBeLessThanOrEqual(3);
    expect(internals.newStreamConfig.size).toBeLessThanOrEqual(3);
  });

  it('counts new streams, not records: a batch of many records of a few new streams within the limit commits whole', async () => {
    const b = openBuffer({ path: path.join(tempDir(), 'b.db'), maxStreams: 3 });
    const batch = range(1, 50).map((i) => rec(`s${i % 3}`, i));
    const committed = await b.appendBatch(batch);
    expect(committed).toHaveLength(50);
    expect(b.drops()).toEqual([]);
    expect(b.streams().map((s) => s.stream).sort()).toEqual(['s0', 's1', 's2']);
  });
});
