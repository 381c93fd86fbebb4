/**
 * Instruments as the operator sees them: per stream, when a reading last arrived, how often one
 * is expected, whether it is stale, and its decode errors. Fed by the ingest path (one map
 * update per record), evaluated when status or metrics are read.
 */
import { monotonicMs } from '../common/clock.ts';

export interface InstrumentStatus {
  stream: string;
  lastSeen: number | null;
  expectedIntervalMs: number | null;
  stale: boolean;
  received: number;
  decodeErrors: number;
}

/** A stream is stale after this many expected intervals without a reading. */
export const STALE_AFTER_INTERVALS = 3;

interface Seen {
  /** Wall time of the last reading, for display. */
  lastSeen: number | null;
  /** Monotonic time of the last reading: staleness is a duration, unaffected by clock steps. */
  lastSeenMono: number | null;
  received: number;
  decodeErrors: number;
}

export class InstrumentTracker {
  private readonly streams = new Map<string, Seen>();

  constructor(
    private readonly expectedInterval: (stream: string) => number | null,
    private readonly wall: () => number = Date.now,
    private readonly monotonic: () => number = monotonicMs,
  ) {}

  seen(stream: string): void {
    const entry = this.streams.get(stream);
    if (entry === undefined) this.streams.set(stream, { lastSeen: this.wall(), lastSeenMono: this.monotonic(), received: 1, decodeErrors: 0 });
    else {
      entry.lastSeen = this.wall();
      entry.lastSeenMono = this.monotonic();
      entry.received += 1;
    }
  }

  decodeError(stream: string): void {
    const entry = this.streams.get(stream) ?? { lastSeen: null, lastSeenMono: null, received: 0, decodeErrors: 0 };
    entry.decodeErrors += 1;
    this.streams.set(stream, entry);
  }

  /** Streams known from configuration or the buffer, so one that never spoke still shows (stale). */
  declare(stream: string): void {
    if (!this.streams.has(stream)) this.streams.set(stream, { lastSeen: null, lastSeenMono: null, received: 0, decodeErrors: 0 });
  }

  list(): InstrumentStatus[] {
    const now = this.monotonic();
    return [...this.streams].map(([stream, s]) => {
      const expectedIntervalMs = this.expectedInterval(stream);
      const stale =
        expectedIntervalMs !== null && (s.lastSeenMono === null || now - s.lastSeenMono > expectedIntervalMs * STALE_AFTER_INTERVALS);
      return { stream, lastSeen: s.lastSeen, expectedIntervalMs, stale, received: s.received, decodeErrors: s.decodeErrors };
    });
  }
}
