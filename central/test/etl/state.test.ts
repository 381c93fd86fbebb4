/** The ETL's state (pure): de-duplication, event-time windows with allowed lateness, the changelog. */
import { describe, expect, it } from 'vitest';
import { EtlState } from '../../src/etl/state.ts';

const MIN = 60_000;
const at = (minute: number, second = 0): number => Date.UTC(2026, 10, 30, 12, minute, second);

describe('ETL state', () => {
  it('accepts each (producer, stream, sequence) once, across batches, and forgets a discarded batch', () => {
    const state = new EtlState(MIN, 0);
    expect(state.accept('p', 's', 1)).toBe(true);
    expect(state.accept('p', 's', 1)).toBe(false);
    expect(state.accept('p', 's', 2)).toBe(true);
    state.discard();
    expect(state.accept('p', 's', 2)).toBe(true);
    state.apply();
    expect(state.accept('p', 's', 2)).toBe(false);
    expect(state.accept('p', 'other', 2)).toBe(true);
  });

  it('emits a window once the stream is past its end by the allowed lateness: count, min, max, mean, last', () => {
    const state = new EtlState(MIN, 30_000);
    const units = { t: 'K' };
    expect(state.observe('site', 's', at(0, 10), { t: 280 }, units).emitted).toEqual([]);
    expect(state.observe('site', 's', at(0, 50), { t: 290 }, units).emitted).toEqual([]);
    expect(state.observe('site', 's', at(0, 20), { t: 270 }, units).emitted).toEqual([]); // out of order: not the last
    expect(state.observe('site', 's', at(1, 20), { t: 300 }, units).emitted).toEqual([]); // within lateness of window 0
    const closing = state.observe('site', 's', at(1, 31), { t: 301 }, units);
    expect(closing.emitted).toEqual([{ site_id: 'site', stream: 's', field: 't', unit: 'K', window_start: at(0), window_end: at(1), count: 3, min: 270, max: 290, mean: 280, last: 290, last_event_time: at(0, 50) }]);
    // Too late now for window 0: counted, not aggregated; another stream is unaffected.
    expect(state.observe('site', 's', at(0, 59), { t: 1 }, units).late).toBe(1);
    expect(state.observe('site', 'slow-clock', at(0, 59), { t: 1 }, units).late).toBe(0);
  });

  it('writes its changes as state records (tombstones for windows it closed) and loads them back the same', () => {
    const state = new EtlState(MIN, 0);
    state.accept('p', 's', 7);
    state.observe('site', 's', at(0, 10), { t: 280, h: null }, { t: 'K' });
    state.apply();
    state.accept('p', 's', 8);
    const emitted = state.observe('site', 's', at(2, 0), { t: 290 }, { t: 'K' }).emitted;
    expect(emitted.map((e) => [e.field, e.count])).toEqual([['t', 1]]);
    const changes = state.changes('state');
    expect(changes.filter((c) => c.value === null)).toHaveLength(1); // window 0 of t, committed before: deleted
    state.apply();
    const reloaded = new EtlState(MIN, 0);
    let offset = 0n;
    reloaded.load(changes.map((c) => ({ topic: 'state', partition: 0, offset: offset++, key: c.key, value: c.value, headers: {}, timestamp: 0 })));
    expect(reloaded.accept('p', 's', 8)).toBe(false);
    expect(reloaded.accept('p', 's', 9)).toBe(true);
    expect(reloaded.openWindows).toBe(1); // window 2 of t
    // The reloaded watermark makes window 0 closed for it too.
    expect(reloaded.observe('site', 's', at(0, 30), { t: 1 }, { t: 'K' }).late).toBe(1);
  });
});
