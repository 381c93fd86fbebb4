/**
 * The cutting rules (central/src/archive/partition.ts), without I/O: rotation by records, bytes
 * and ingest time, the raw subject, heartbeats, hour buckets, and a replay that skips durable
 * objects and re-forms an entry whose object is missing. The property that matters most: a
 * replay from any group's first offset cuts the same objects as the run without a restart.
 */
import { describe, expect, it } from 'vitest';
import { PartitionState, type Closed, type RoutedRecord, type RotationRules } from '../../src/archive/partition.ts';
import type { ManifestEntry } from '../../src/archive/manifest.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);

function rec(offset: number, stream: string, ingestTime: number, options: { bytes?: number; subject?: string; eventTime?: number } = {}): RoutedRecord {
  return { offset: BigInt(offset), value: Buffer.alloc(options.bytes ?? 10), site: 'site-a', stream, eventTime: options.eventTime ?? ingestTime - 100, ingestTime, rawSubject: options.subject ?? 's.v1' };
}

const describeClosed = (c: Closed): string => `${c.group.hive.stream}:${c.group.first}-${c.group.last}:${c.reason}`;

function run(state: PartitionState, records: Array<RoutedRecord | { heartbeat: number; offset: number }>): string[] {
  const out: string[] = [];
  for (const r of records) out.push(...('heartbeat' in r ? state.heartbeat(BigInt(r.offset), r.heartbeat) : state.add(r)).map(describeClosed));
  return out;
}

const rules: RotationRules = { maxRecords: 3, maxBytes: 1000, intervalMs: 60_000 };

describe('PartitionState', () => {
  it('closes a group at maxRecords, at maxBytes, and on a raw subject change', () => {
    const state = new PartitionState('t', 0, 0n, rules);
    expect(run(state, [rec(0, 'a', T0), rec(1, 'a', T0 + 1), rec(2, 'a', T0 + 2), rec(3, 'a', T0 + 3)])).toEqual(['a:0-2:records']);
    expect(run(state, [rec(4, 'a', T0 + 4, { bytes: 995 })])).toEqual(['a:3-4:bytes']);
    expect(run(state, [rec(5, 'a', T0 + 5), rec(6, 'a', T0 + 6, { subject: 's.v2' })])).toEqual(['a:5-5:subject']);
    expect([...state.groups()].map((g) => [g.first, g.rawSubject])).toEqual([[6n, 's.v2']]);
  });

  it('closes by ingest time, moved by any record of the partition or a heartbeat, never by itself', () => {
    const state = new PartitionState('t', 0, 0n, { ...rules, maxRecords: 100 });
    expect(run(state, [rec(0, 'a', T0), rec(1, 'b', T0 + 30_000), rec(2, 'b', T0 + 59_999)])).toEqual([]);
    // b's record at T0+60 s closes a's group (opened at T0) before it joins its own.
    expect(run(state, [rec(3, 'b', T0 + 60_000)])).toEqual(['a:0-0:time']);
    // Nothing more arrives: b stays open until a heartbeat moves the clock past its deadline.
    expect(run(state, [{ heartbeat: T0 + 89_999, offset: 4 }])).toEqual([]);
    expect(run(state, [{ heartbeat: T0 + 90_000, offset: 5 }])).toEqual(['b:1-3:time']);
    expect(state.position).toBe(6n);
    expect(state.lowestOpenOffset()).toBeNull();
  });

  it('puts records in the bucket of their event time (UTC hour), one group per bucket', () => {
    const state = new PartitionState('t', 0, 0n, { ...rules, maxRecords: 100 });
    run(state, [rec(0, 'a', T0 + HOUR - 10, { eventTime: T0 + HOUR - 20 }), rec(1, 'a', T0 + HOUR + 5, { eventTime: T0 + HOUR + 1 }), rec(2, 'a', T0 + HOUR + 6, { eventTime: T0 + HOUR - 1 })]);
    expect([...state.groups()].map((g) => [g.hive.date, g.hive.hour, g.records.map((r) => r.offset)])).toEqual([
      ['2026-11-30', '12', [0n, 2n]],
      ['2026-11-30', '13', [1n]],
    ]);
    expect(state.lowestOpenOffset()).toBe(0n);
  });

  it('a replay from a committed offset cuts the same objects as the run without a restart (every restart point)', () => {
    // Three streams interleaved, irregular times and sizes, a subject change, heartbeats.
    const records: Array<RoutedRecord | { heartbeat: number; offset: number }> = [];
    let t = T0;
    for (let i = 0; i < 400; i++) {
      t += (i * 7919) % 5000;
      if (i % 97 === 96) records.push({ heartbeat: t + 100_000, offset: i });
      else records.push(rec(i, ['a', 'b', 'c'][(i * 31) % 3]!, t, { bytes: 50 + ((i * 13) % 300), subject: i > 250 && i % 3 === 0 ? 's.v2' : 's.v1' }));
    }
    const r: RotationRules = { maxRecords: 20, maxBytes: 2500, intervalMs: 60_000 };
    const closedAt = (state: PartitionState, from: number): Array<{ c: Closed; at: number }> => {
      const out: Array<{ c: Closed; at: number }> = [];
      for (const x of records.slice(from)) out.push(...('heartbeat' in x ? state.heartbeat(BigInt(x.offset), x.heartbeat) : state.add(x)).map((c) => ({ c, at: Number(x.offset) })));
      return out;
    };
    const full = closedAt(new PartitionState('t', 0, 0n, r), 0);
    const objects = full.map((x) => describeClosed(x.c));
    expect(objects.length).toBeGreaterThan(20);
    // Restart after each object: committed offset = the first offset of the earliest group still open then.
    for (let k = 0; k < full.length; k += 3) {
      const at = full[k]!.at;
      const reference = new PartitionState('t', 0, 0n, r);
      let committed = 0n;
      for (const x of records.slice(0, at + 1)) {
        if ('heartbeat' in x) reference.heartbeat(BigInt(x.offset), x.heartbeat);
        else reference.add(x);
      }
      committed = reference.lowestOpenOffset() ?? reference.position;
      const written = full.filter((x) => x.at <= at);
      const known = written.filter((x) => x.c.group.last >= committed).map((x) => ({ entry: entryOf(x.c), durable: true }));
      const replay = new PartitionState('t', 0, committed, r, known);
      const after = closedAt(replay, Number(committed)).map((x) => describeClosed(x.c));
      expect([...written.map((x) => describeClosed(x.c)), ...after], `restart after offset ${at}, from ${committed}`).toEqual(objects);
    }
  });

  it('re-forms exactly the group of an entry whose object is missing, whatever the rules would cut now', () => {
    const state = new PartitionState('t', 0, 0n, rules);
    const first = run(state, [rec(0, 'a', T0), rec(1, 'a', T0 + 1)]);
    expect(first).toEqual([]);
    // An entry (written before a crash, with other rules: a memory cut) covers a:0-1 but its object is missing.
    const group = [...state.groups()][0]!;
    const entry = entryOf({ group, reason: 'memory' });
    const replay = new PartitionState('t', 0, 0n, rules, [{ entry, durable: false }]);
    expect(run(replay, [rec(0, 'a', T0), rec(1, 'a', T0 + 1), rec(2, 'a', T0 + 2)])).toEqual(['a:0-1:replay']);
    // A durable one is skipped instead.
    const skip = new PartitionState('t', 0, 0n, rules, [{ entry, durable: true }]);
    expect(run(skip, [rec(0, 'a', T0), rec(1, 'a', T0 + 1), rec(2, 'a', T0 + 2)])).toEqual([]);
    expect(skip.covered).toBe(2);
    expect([...skip.groups()].map((g) => g.first)).toEqual([2n]);
  });

  it('closes early for the memory cap, except a group that re-forms an entry', () => {
    const state = new PartitionState('t', 0, 0n, { ...rules, maxRecords: 100 });
    run(state, [rec(0, 'a', T0), rec(1, 'a', T0 + 1)]);
    const group = [...state.groups()][0]!;
    expect(describeClosed(state.closeEarly(group)!)).toBe('a:0-1:memory');
    expect(state.closeEarly(group)).toBeNull();
  });
});

function entryOf(c: Closed): ManifestEntry {
  const g = c.group;
  return {
    version: 1,
    key: `k-${g.first}-${g.last}`,
    format: 'parquet',
    topic: 't',
    partition: 0,
    first_offset: g.first.toString(),
    last_offset: g.last.toString(),
    records: g.records.length,
    bytes: 1,
    sha256: 'x',
    site_id: g.hive.site,
    stream: g.hive.stream,
    date: g.hive.date,
    hour: g.hive.hour,
    raw_subject: g.rawSubject,
    min_event_time: 0,
    max_event_time: 0,
    units: {},
    producers: {},
    closed_by: c.reason,
  };
}
