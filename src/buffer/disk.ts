/**
 * The disk watchdog (contract in `./index.ts`, "Disk watchdog"): statfs of the buffer's directory
 * every checkIntervalMs and before an append when the last sample is older than that. Free below
 * minFreeBytes stops intake; free at or above resumeFreeBytes resumes it (hysteresis). The
 * watchdog only decides; the buffer raises the alarm and retries its waiters (`hooks`).
 */
import fs from 'node:fs';
import type { DiskWatchdogOptions } from './types.ts';

/** statfs(2) free space for unprivileged users (bavail × bsize), bytes. */
export function defaultStatfs(dir: string): { freeBytes: number } {
  const s = fs.statfsSync(dir);
  return { freeBytes: s.bavail * s.bsize };
}

export interface DiskWatchdogHooks {
  /** Free space fell below minFreeBytes: intake stopped. */
  stopped(freeBytes: number): void;
  /** Free space is back at or above resumeFreeBytes: intake resumed. */
  resumed(freeBytes: number): void;
  /** statfs failed; the previous state is kept. */
  failed(err: unknown): void;
}

export class DiskWatchdog {
  /** False while intake is stopped (appends wait, bounded). */
  accepting = true;
  /** Last sample, bytes (null before the first). */
  freeBytes: number | null = null;
  /** Monotonic ms of the last sample: a duration, never the wall clock (invariant 7a). */
  private lastCheck = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;

  /** `options` null: no watchdog, always accepting. */
  constructor(
    private readonly options: DiskWatchdogOptions | null,
    private readonly dir: string,
    private readonly statfs: (dir: string) => { freeBytes: number },
    private readonly monotonic: () => number,
    private readonly hooks: DiskWatchdogHooks,
  ) {}

  get limits(): DiskWatchdogOptions | null {
    return this.options;
  }

  /** Samples now and every checkIntervalMs (the timer does not keep the process alive). */
  start(): void {
    if (this.options === null || this.timer !== null) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.options.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Samples when the last sample is older than checkIntervalMs (before an append). */
  sampleIfStale(): void {
    if (this.options !== null && this.monotonic() - this.lastCheck >= this.options.checkIntervalMs) this.sample();
  }

  /** Samples free space now; returns whether intake is accepted. */
  sample(): boolean {
    const o = this.options;
    if (o === null) return this.accepting;
    this.lastCheck = this.monotonic();
    let free: number;
    try {
      free = this.statfs(this.dir).freeBytes;
    } catch (err) {
      this.hooks.failed(err);
      return this.accepting;
    }
    this.freeBytes = free;
    if (this.accepting && free < o.minFreeBytes) {
      this.accepting = false;
      this.hooks.stopped(free);
    } else if (!this.accepting && free >= o.resumeFreeBytes) {
      this.accepting = true;
      this.hooks.resumed(free);
    }
    return this.accepting;
  }
}
