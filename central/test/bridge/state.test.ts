/** The bridge's de-duplication state (pure logic: the state topic's records in, verdicts out). */
import { describe, expect, it } from 'vitest';
import { DedupState, stateKey } from '../../src/bridge/state.ts';

const rec = (key: string, value: string | null) => ({ topic: 's', partition: 0, offset: 0n, key, value: value === null ? null : Buffer.from(value), headers: {}, timestamp: 0n });

describe('de-duplication state', () => {
  it('loads the highest sequence per (producer, stream); a tombstone forgets; foreign records are not state', () => {
    const state = new DedupState();
    const a = stateKey('p1', 'weather/a');
    const b = stateKey('p1', 'weather/b');
    state.load([rec(a, '{"sequence":5}'), rec(a, '{"sequence":9,"topic":"t"}'), rec(b, '{"sequence":3}'), rec(b, null), rec('x', 'not json'), rec('y', '{"sequence":"7"}')] as never);
    expect(state.get(a)).toBe(9);
    expect(state.get(b)).toBe(0);
    expect(state.size).toBe(1);
    // One topic's bridge keeps only that topic's keys.
    state.load([rec(a, '{"sequence":5,"topic":"t1"}'), rec(b, '{"sequence":3,"topic":"t2"}')] as never, 't1');
    expect([state.get(a), state.get(b)]).toEqual([5, 0]);
  });

  it('judges against the state and the batch so far: at or below the highest is a duplicate; a jump is a gap of the missing count; a first record is never a gap', () => {
    const state = new DedupState();
    const key = stateKey('p', 's');
    const pending = new Map<string, number>();
    expect(state.judge(key, 4, pending)).toEqual({ kind: 'new', gap: 0 });
    pending.set(key, 4);
    expect(state.judge(key, 4, pending)).toEqual({ kind: 'duplicate', gap: 0 });
    expect(state.judge(key, 2, pending)).toEqual({ kind: 'duplicate', gap: 0 });
    expect(state.judge(key, 8, pending)).toEqual({ kind: 'new', gap: 3 });
    state.apply(pending);
    expect(state.judge(key, 5, new Map())).toEqual({ kind: 'new', gap: 0 });
    // Applying never lowers what is known.
    state.apply(new Map([[key, 2]]));
    expect(state.get(key)).toBe(4);
  });

  it('writes one compactable record per key, naming the Pulsar topic for operators', () => {
    const out = DedupState.records('skyhaul.bridge.state', 'persistent://t/n/site', new Map([[stateKey('p', 's'), 12]]));
    expect(out).toEqual([{ topic: 'skyhaul.bridge.state', key: 'p\u0000s', value: Buffer.from('{"sequence":12,"topic":"persistent://t/n/site"}'), headers: {} }]);
  });
});
