import { monotonicMs } from './clock.ts';

/** Events per second over a sliding window of one-second buckets (default 10 s). */
export class RateMeter {
  private readonly buckets: number[];
  private bucketStart: number;
  private lastTotal: number | null = null;

  constructor(
    private readonly windowSeconds = 10,
    /** Monotonic ms: a rate is events per duration, never per wall-clock second. */
    private readonly clock: () => number = monotonicMs,
  ) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
    this.bucketStart = Math.floor(clock() / 1000);
  }

  private rotate(): void {
    const nowSecond = Math.floor(this.clock() / 1000);
    const steps = Math.min(this.windowSeconds, nowSecond - this.bucketStart);
    for (let i = 0; i < steps; i++) {
      this.buckets.shift();
      this.buckets.push(0);
    }
    if (steps > 0) this.bucketStart = nowSecond;
  }

  add(n: number): void {
    this.rotate();
    this.buckets[this.buckets.length - 1]! += n;
  }

  /** Feeds a monotonically increasing total (e.g. a counter); the difference is counted. */
  set(total: number): void {
    if (this.lastTotal !== null && total >= this.lastTotal) this.add(total - this.lastTotal);
    this.lastTotal = total;
  }

  perSecond(): number {
    this.rotate();
    // The current bucket is partial: average over the full buckets before it.
    const full = this.buckets.slice(0, -1);
    return Math.round((full.reduce((a, b) => a + b, 0) / full.length) * 10) / 10;
  }
}
