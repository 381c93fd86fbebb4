/**
 * The ETL's state, kept in one compacted Kafka topic (`etl.stateTopic`) and written in the same
 * transaction as the records, aggregates and group offsets it goes with, so whatever crashes,
 * rebalances or redeliveries happen, state and output never disagree (the Kafka Streams changelog
 * pattern, without Kafka Streams: there is none for Node).
 *
 *   seq \0 producer_id \0 stream                      {"sequence": N}      highest sequence curated
 *   wm  \0 site_id \0 stream                          {"eventTime": ms}    the stream's watermark
 *   win \0 site_id \0 stream \0 field \0 windowStart  {count,min,max,sum,last,lastTime,unit}
 *                                                     an open window; a tombstone once emitted
 *
 * De-duplication on (producer_id, stream, sequence) makes a redelivered record (a rewind after a
 * failed transaction, a partition handed over mid-batch) produce nothing twice; the group offsets
 * in the transaction keep redelivery rare, this keeps it harmless.
 *
 * Windows: fixed, `windowMs` long, by event time. A stream's watermark is the latest event time it
 * has shown; a window closes (its aggregate is emitted, its state deleted) once the watermark is
 * past its end by `allowedLatenessMs`. A record for a window already closed is late: counted, kept
 * in the curated topic, not aggregated. Per stream, not per partition: instruments' clocks differ,
 * and one fast clock must not make a slower instrument's records late. A stream's last window is
 * emitted when that stream moves on.
 */
import type { AggregateRecord } from '../curated/index.ts';
import type { InRecord } from '../kafka/index.ts';

export interface WindowState {
  count: number;
  min: number;
  max: number;
  sum: number;
  last: number;
  lastTime: number;
  unit: string;
}

interface Pending {
  sequences: Map<string, number>;
  watermarks: Map<string, number>;
  windows: Map<string, WindowState>;
  closed: Set<string>;
}

/** What one record did to the windows. */
export interface WindowOutcome {
  /** Numeric fields not aggregated because their window had closed. */
  late: number;
  /** Aggregates this record's progress closed. */
  emitted: AggregateRecord[];
}

const SEP = '\u0000';

export function sequenceKey(producerId: string, stream: string): string {
  return ['seq', producerId, stream].join(SEP);
}

function watermarkKey(siteId: string, stream: string): string {
  return ['wm', siteId, stream].join(SEP);
}

function windowKey(siteId: string, stream: string, field: string, start: number): string {
  return ['win', siteId, stream, field, String(start)].join(SEP);
}

export class EtlState {
  private readonly sequences = new Map<string, number>();
  private readonly watermarks = new Map<string, number>();
  private readonly windows = new Map<string, WindowState>();
  /** site\0stream -> keys of its open windows (state and pending), to find what closes. */
  private readonly openByStream = new Map<string, Set<string>>();
  private pending: Pending = EtlState.emptyPending();

  constructor(
    readonly windowMs: number,
    readonly allowedLatenessMs: number,
  ) {}

  private static emptyPending(): Pending {
    return { sequences: new Map(), watermarks: new Map(), windows: new Map(), closed: new Set() };
  }

  /** Replaces everything with what the state topic holds (read to its end, read_committed). */
  load(records: InRecord[]): void {
    this.sequences.clear();
    this.watermarks.clear();
    this.windows.clear();
    this.openByStream.clear();
    this.pending = EtlState.emptyPending();
    const latest = new Map<string, Buffer | null>();
    for (const r of records) latest.set(r.key, r.value);
    for (const [key, value] of latest) {
      if (value === null || value.length === 0) continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(value.toString()) as Record<string, unknown>;
      } catch {
        continue; // not written by the ETL
      }
      const kind = key.split(SEP, 1)[0];
      if (kind === 'seq' && typeof parsed.sequence === 'number') this.sequences.set(key, parsed.sequence);
      else if (kind === 'wm' && typeof parsed.eventTime === 'number') this.watermarks.set(key, parsed.eventTime);
      else if (kind === 'win' && typeof parsed.count === 'number') {
        this.windows.set(key, parsed as unknown as WindowState);
        this.track(key);
      }
    }
  }

  private track(key: string): void {
    const [, site, stream] = key.split(SEP);
    const streamKey = `${site}${SEP}${stream}`;
    let set = this.openByStream.get(streamKey);
    if (set === undefined) this.openByStream.set(streamKey, (set = new Set()));
    set.add(key);
  }

  /** True (and remembered for this batch) when the record is new; false for one already curated. */
  accept(producerId: string, stream: string, sequence: number): boolean {
    const key = sequenceKey(producerId, stream);
    const highest = this.pending.sequences.get(key) ?? this.sequences.get(key) ?? 0;
    if (sequence <= highest) return false;
    this.pending.sequences.set(key, sequence);
    return true;
  }

  private windowOf(key: string): WindowState | undefined {
    if (this.pending.closed.has(key)) return undefined;
    return this.pending.windows.get(key) ?? this.windows.get(key);
  }

  /** Adds one record's numeric fields (SI values, their units) at `eventTime`. */
  observe(siteId: string, stream: string, eventTime: number, values: Record<string, number | null>, units: Record<string, string>): WindowOutcome {
    const wmKey = watermarkKey(siteId, stream);
    const watermark = this.pending.watermarks.get(wmKey) ?? this.watermarks.get(wmKey) ?? Number.NEGATIVE_INFINITY;
    const start = Math.floor(eventTime / this.windowMs) * this.windowMs;
    const outcome: WindowOutcome = { late: 0, emitted: [] };
    const isClosed = start + this.windowMs + this.allowedLatenessMs <= watermark;
    for (const [field, value] of Object.entries(values)) {
      if (value === null || !Number.isFinite(value)) continue;
      if (isClosed) {
        outcome.late += 1;
        continue;
      }
      const key = windowKey(siteId, stream, field, start);
      const current = this.windowOf(key);
      const next: WindowState =
        current === undefined
          ? { count: 1, min: value, max: value, sum: value, last: value, lastTime: eventTime, unit: units[field] ?? '' }
          : {
              count: current.count + 1,
              min: Math.min(current.min, value),
              max: Math.max(current.max, value),
              sum: current.sum + value,
              // The latest event time wins; on a tie, the later record (offset order).
              last: eventTime >= current.lastTime ? value : current.last,
              lastTime: Math.max(eventTime, current.lastTime),
              unit: current.unit,
            };
      this.pending.windows.set(key, next);
      this.pending.closed.delete(key);
      this.track(key);
    }
    if (eventTime > watermark) {
      this.pending.watermarks.set(wmKey, eventTime);
      outcome.emitted = this.closeUpTo(siteId, stream, eventTime);
    }
    return outcome;
  }

  /** Closes the stream's windows the watermark `eventTime` has passed (by the allowed lateness). */
  private closeUpTo(siteId: string, stream: string, watermark: number): AggregateRecord[] {
    const open = this.openByStream.get(`${siteId}${SEP}${stream}`);
    if (open === undefined) return [];
    const out: AggregateRecord[] = [];
    for (const key of [...open].sort()) {
      const parts = key.split(SEP);
      const start = Number(parts[4]);
      if (start + this.windowMs + this.allowedLatenessMs > watermark) continue;
      const w = this.windowOf(key);
      if (w === undefined) continue;
      out.push({ site_id: siteId, stream, field: parts[3]!, unit: w.unit, window_start: start, window_end: start + this.windowMs, count: w.count, min: w.min, max: w.max, mean: w.sum / w.count, last: w.last, last_event_time: w.lastTime });
      this.pending.closed.add(key);
      this.pending.windows.delete(key);
    }
    return out.sort((a, b) => a.window_start - b.window_start || a.field.localeCompare(b.field));
  }

  /** The batch's state changes as state-topic records (values, and tombstones for closed windows). */
  changes(stateTopic: string): Array<{ topic: string; key: string; value: Buffer | null; headers: Record<string, string> }> {
    const out: Array<{ topic: string; key: string; value: Buffer | null; headers: Record<string, string> }> = [];
    for (const [key, sequence] of this.pending.sequences) out.push({ topic: stateTopic, key, value: Buffer.from(JSON.stringify({ sequence })), headers: {} });
    for (const [key, eventTime] of this.pending.watermarks) out.push({ topic: stateTopic, key, value: Buffer.from(JSON.stringify({ eventTime })), headers: {} });
    for (const [key, window] of this.pending.windows) out.push({ topic: stateTopic, key, value: Buffer.from(JSON.stringify(window)), headers: {} });
    for (const key of this.pending.closed) if (this.windows.has(key)) out.push({ topic: stateTopic, key, value: null, headers: {} });
    return out;
  }

  /** The batch committed: its changes become the state. */
  apply(): void {
    const p = this.pending;
    for (const [k, v] of p.sequences) this.sequences.set(k, v);
    for (const [k, v] of p.watermarks) this.watermarks.set(k, v);
    for (const [k, v] of p.windows) this.windows.set(k, v);
    for (const key of p.closed) {
      this.windows.delete(key);
      this.untrack(key);
    }
    this.pending = EtlState.emptyPending();
  }

  /** The batch failed: forget its changes. */
  discard(): void {
    for (const key of this.pending.windows.keys()) if (!this.windows.has(key)) this.untrack(key);
    this.pending = EtlState.emptyPending();
  }

  private untrack(key: string): void {
    const [, site, stream] = key.split(SEP);
    const streamKey = `${site}${SEP}${stream}`;
    const set = this.openByStream.get(streamKey);
    set?.delete(key);
    if (set?.size === 0) this.openByStream.delete(streamKey);
  }

  /** Open windows now (for the metrics). */
  get openWindows(): number {
    return this.windows.size;
  }
}
