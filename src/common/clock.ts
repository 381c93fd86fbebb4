/**
 * Two clocks, never mixed (ARCHITECTURE.md invariant 7a):
 *  - `monotonicMs()` (performance.now(): CLOCK_MONOTONIC, unaffected by NTP steps or an operator
 *    setting the date) for every duration — backoff, timeouts, idle and dead-link detection,
 *    rates, staleness;
 *  - the wall clock (Date.now()) only for timestamps a record or an operator sees.
 *
 * The wall clock on a site computer is not always right: a board without a real-time clock boots
 * in 1970 (or at its last shutdown) until NTP answers, and then steps. `ClockMonitor` recognises an
 * unsynchronised clock — wall time below a floor that no correct clock can be below (this build's
 * date; the buffer's creation raises it) — and steps of the wall clock against the monotonic one,
 * so that status, metrics and the buffer's TTL can refuse to trust times taken meanwhile.
 */

/** ms on the monotonic clock (arbitrary origin): for durations only. */
export function monotonicMs(): number {
  return performance.now();
}

// Set by the bundler (packaging/build.ts); absent when running from source.
declare const __SKYHAUL_BUILD_TIME__: string | undefined;

/** Used when running from source: the date of this code, updated with each release. */
const SOURCE_DATE = '2026-11-30T00:00:00Z';

/**
 * ms since epoch no correct clock can be below: when this build was made (the bundle's build
 * time, else the source date). A wall clock below it is unsynchronised.
 */
export function buildTimeFloor(): number {
  const stamped = typeof __SKYHAUL_BUILD_TIME__ === 'string' ? Date.parse(__SKYHAUL_BUILD_TIME__) : Number.NaN;
  return Number.isFinite(stamped) ? stamped : Date.parse(SOURCE_DATE);
}

export type ClockState = 'synchronised' | 'unsynchronised' | 'stepped';

export interface ClockStatus {
  /** unsynchronised: the wall clock is below the floor. stepped: it jumped within the last `stepMemoryMs`. */
  state: ClockState;
  /** The wall clock now (ms since epoch), as the daemon sees it. */
  wallTime: number;
  /** Below this the wall clock is known wrong. */
  floor: number;
  /** Steps of the wall clock against the monotonic clock since start. */
  steps: number;
  /** The latest step: when (wall time after it) and by how much (ms; negative = backwards). */
  lastStep: { at: number; deltaMs: number } | null;
}

export interface ClockMonitorOptions {
  floor: number;
  /** A disagreement between the two clocks larger than this is a step. Default 2000 ms. */
  stepThresholdMs?: number;
  /** How long a step keeps the state 'stepped'. Default 10 minutes. */
  stepMemoryMs?: number;
  wall?: () => number;
  monotonic?: () => number;
}

/** Watches the wall clock against the monotonic one; `sample()` it regularly (once a second). */
export class ClockMonitor {
  private readonly wall: () => number;
  private readonly monotonic: () => number;
  private readonly stepThresholdMs: number;
  private readonly stepMemoryMs: number;
  private floorMs: number;
  private last: { wall: number; mono: number };
  private stepCount = 0;
  private latest: { at: number; deltaMs: number; mono: number } | null = null;

  constructor(options: ClockMonitorOptions) {
    this.wall = options.wall ?? Date.now;
    this.monotonic = options.monotonic ?? monotonicMs;
    this.stepThresholdMs = options.stepThresholdMs ?? 2000;
    this.stepMemoryMs = options.stepMemoryMs ?? 600_000;
    this.floorMs = options.floor;
    this.last = { wall: this.wall(), mono: this.monotonic() };
  }

  /** The floor may only rise (the buffer's creation time, once known). */
  raiseFloor(floor: number): void {
    if (floor > this.floorMs) this.floorMs = floor;
  }

  get floor(): number {
    return this.floorMs;
  }

  /** Compares how far each clock moved since the last sample; returns the step (ms) or 0. */
  sample(): number {
    const now = { wall: this.wall(), mono: this.monotonic() };
    const delta = now.wall - this.last.wall - (now.mono - this.last.mono);
    this.last = now;
    if (Math.abs(delta) <= this.stepThresholdMs) return 0;
    this.stepCount += 1;
    this.latest = { at: now.wall, deltaMs: Math.round(delta), mono: now.mono };
    return delta;
  }

  /** True when a wall-clock time can be trusted as a time (it is not below the floor). */
  trusted(time: number): boolean {
    return time >= this.floorMs;
  }

  status(): ClockStatus {
    const wallTime = this.wall();
    const recentStep = this.latest !== null && this.monotonic() - this.latest.mono < this.stepMemoryMs;
    return {
      state: wallTime < this.floorMs ? 'unsynchronised' : recentStep ? 'stepped' : 'synchronised',
      wallTime,
      floor: this.floorMs,
      steps: this.stepCount,
      lastStep: this.latest === null ? null : { at: this.latest.at, deltaMs: this.latest.deltaMs },
    };
  }
}
