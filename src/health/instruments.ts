/**
 * Instruments as the operator sees them: per stream, when a reading last arrived, how often one
 * is expected, whether it is stale, and its decode errors. Fed by the ingest path (one map
 * update per record), evaluated when status or metrics are read.
 */
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

export class InstrumentTracker {
  private readonly streams = new Map<string, { lastSeen: number | null; received: number; decodeErrors: number }>();

  constructor(
    private readonly expectedInterval: (stream: string) => number | null,
    private readonly clock: () => number = Date.now,
  ) {}

  seen(stream: string, at = this.clock()): void {
    const entry = this.streams.get(stream);
    if (entry === undefined) this.streams.set(stream, { lastSeen: at, received: 1, decodeErrors: 0 });
    else {
      entry.lastSeen = at;
      entry.received += 1;
    }
  }

  decodeError(stream: string): void {
    const entry = this.streams.get(stream) ?? { lastSeen: null, received: 0, decodeErrors: 0 };
    entry.decodeErrors += 1;
    this.streams.set(stream, entry);
  }

  /** Streams known from configuration or the buffer, so one that never spoke still shows (stale). */
  declare(stream: string): void {
    if (!this.streams.has(stream)) this.streams.set(stream, { lastSeen: null, received: 0, decodeErrors: 0 });
  }

  list(now = this.clock()): InstrumentStatus[] {
    return [...this.streams].map(([stream, s]) => {
      const expectedIntervalMs = this.expectedInterval(stream);
      const stale =
        expectedIntervalMs !== null && (s.lastSeen === null || now - s.lastSeen > expectedIntervalMs * STALE_AFTER_INTERVALS);
      return { stream, lastSeen: s.lastSeen, expectedIntervalMs, stale, received: s.received, decodeErrors: s.decodeErrors };
    });
  }
}
