/**
 * Bandwidth cap for forwarding: a token bucket in bytes/s, and an optional time-of-day schedule
 * (evaluated every minute by node-cron) so a site can leave room for science data at night.
 */
import cron from 'node-cron';
import { SkyhaulError } from '../common/errors.ts';

export interface BandwidthWindow {
  /** Local time "HH:MM"; a window may wrap midnight (from 20:00 to 06:00). */
  from: string;
  to: string;
  /** null: unlimited during the window. */
  bytesPerSecond: number | null;
}

export interface BandwidthConfig {
  /** The cap outside any scheduled window; null = unlimited. */
  bytesPerSecond: number | null;
  schedule: BandwidthWindow[];
}

function minutesOfDay(hhmm: string, where: string): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!match) throw new SkyhaulError('SKY_ERR_CONFIG', `${where}: expected a time "HH:MM", got '${hhmm}'`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** The cap in force at `date` (local time): the first matching window wins. */
export function scheduledRate(config: BandwidthConfig, date: Date): number | null {
  const now = date.getHours() * 60 + date.getMinutes();
  for (const [i, window] of config.schedule.entries()) {
    const from = minutesOfDay(window.from, `forward.bandwidth.schedule[${i}].from`);
    const to = minutesOfDay(window.to, `forward.bandwidth.schedule[${i}].to`);
    const inside = from <= to ? now >= from && now < to : now >= from || now < to;
    if (inside) return window.bytesPerSecond;
  }
  return config.bytesPerSecond;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  private rate: number | null;

  constructor(
    bytesPerSecond: number | null,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.rate = bytesPerSecond;
    this.tokens = this.capacity();
    this.last = clock();
  }

  get bytesPerSecond(): number | null {
    return this.rate;
  }

  setRate(bytesPerSecond: number | null): void {
    this.refill();
    this.rate = bytesPerSecond;
    this.tokens = Math.min(this.tokens, this.capacity());
  }

  /** A burst of at most 1/10 s of the rate keeps the cap honest over short windows. */
  private capacity(): number {
    return this.rate === null ? Infinity : Math.max(1, this.rate / 10);
  }

  private refill(): void {
    const now = this.clock();
    if (this.rate !== null) this.tokens = Math.min(this.capacity(), this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /**
   * Takes `bytes` now and returns 0, or returns how many ms to wait before trying again.
   * A message larger than the burst goes through once the bucket is full (it runs into debt).
   */
  tryTake(bytes: number): number {
    if (this.rate === null) return 0;
    this.refill();
    const needed = Math.min(bytes, this.capacity());
    if (this.tokens >= needed) {
      this.tokens -= bytes;
      return 0;
    }
    return Math.max(1, Math.ceil(((needed - this.tokens) / this.rate) * 1000));
  }
}

/** Applies the schedule to a bucket now and at every minute boundary until stopped. */
export class BandwidthScheduler {
  private task: cron.ScheduledTask | null = null;
  private override: { bytesPerSecond: number | null } | null = null;

  constructor(
    private readonly bucket: TokenBucket,
    private config: BandwidthConfig,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(): void {
    this.apply();
    if (this.config.schedule.length > 0 && this.task === null) {
      this.task = cron.schedule('* * * * *', () => this.apply());
    }
  }

  /** An operator's change (API action) holds until cleared with `null` override. */
  setOverride(bytesPerSecond: number | null | undefined): void {
    this.override = bytesPerSecond === undefined ? null : { bytesPerSecond };
    this.apply();
  }

  reconfigure(config: BandwidthConfig): void {
    this.config = config;
    this.stop();
    this.start();
  }

  apply(): void {
    this.bucket.setRate(this.override !== null ? this.override.bytesPerSecond : scheduledRate(this.config, this.now()));
  }

  stop(): void {
    this.task?.stop();
    this.task = null;
  }
}
