/**
 * Request/response polling for instruments that only speak when asked, as the adapter declares
 * it (firmware-adapters/adapter.ts `Polling`): wake-up handshakes, poll commands, ACK/NAK with
 * resends, reply timeouts. Shared by the serial and TCP inputs; knows nothing of the transport
 * beyond a write function, the raw bytes that come back, and how many frames they made.
 */
import type { Polling } from '../../firmware-adapters/index.ts';
import { monotonicMs } from '../common/clock.ts';

export interface PollerStats {
  cycles: number;
  succeeded: number;
  timeouts: number;
  naks: number;
  wakeFailures: number;
}

export class Poller {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private awake = false;
  private recent = Buffer.alloc(0);
  private frames = 0;
  private waiters: Array<() => void> = [];
  readonly stats: PollerStats = { cycles: 0, succeeded: 0, timeouts: 0, naks: 0, wakeFailures: 0 };

  constructor(
    private readonly polling: Polling,
    private readonly write: (data: Buffer) => Promise<void>,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.awake = this.polling.wake === undefined;
    const loop = async (): Promise<void> => {
      if (!this.running) return;
      await this.cycle().catch(() => (this.awake = this.polling.wake === undefined));
      if (this.running) this.timer = setTimeout(() => void loop(), this.polling.intervalMs);
    };
    void loop();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.wake();
  }

  /** Raw bytes from the instrument (for wake-up answers and ACK/NAK bytes). */
  onBytes(chunk: Buffer): void {
    this.recent = Buffer.concat([this.recent, chunk]).subarray(-256);
    this.wake();
  }

  /** A frame came out of the framer (whatever its decode outcome). */
  onFrame(): void {
    this.frames += 1;
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private async waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    // A reply deadline is a duration: on the monotonic clock, so a clock step neither expires
    // every wait at once nor makes one last for hours.
    const deadline = monotonicMs() + timeoutMs;
    while (!condition()) {
      const left = deadline - monotonicMs();
      if (left <= 0 || !this.running) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  private async cycle(): Promise<void> {
    this.stats.cycles += 1;
    const wake = this.polling.wake;
    if (wake !== undefined && !this.awake) {
      for (let attempt = 0; attempt < wake.attempts && !this.awake; attempt++) {
        this.recent = Buffer.alloc(0);
        await this.write(wake.send);
        this.awake = await this.waitFor(() => this.recent.includes(wake.expect), wake.timeoutMs);
      }
      if (!this.awake) {
        this.stats.wakeFailures += 1;
        return;
      }
    }
    for (const request of this.polling.requests) {
      let done = false;
      for (let attempt = 0; attempt <= request.retries && !done && this.running; attempt++) {
        this.recent = Buffer.alloc(0);
        const framesBefore = this.frames;
        await this.write(request.send);
        if (request.ack !== undefined || request.nak !== undefined) {
          const answered = await this.waitFor(
            () => (request.ack !== undefined && this.recent.includes(request.ack)) || (request.nak !== undefined && this.recent.includes(request.nak)),
            request.replyTimeoutMs,
          );
          if (!answered) {
            this.stats.timeouts += 1;
            continue;
          }
          if (request.nak !== undefined && this.recent.includes(request.nak) && !(request.ack !== undefined && this.recent.includes(request.ack))) {
            this.stats.naks += 1;
            continue;
          }
        }
        if (request.replyFrames > 0 && !(await this.waitFor(() => this.frames >= framesBefore + request.replyFrames, request.replyTimeoutMs))) {
          this.stats.timeouts += 1;
          continue;
        }
        done = true;
      }
      if (!done) {
        // The instrument stopped answering: wake it again next cycle.
        this.awake = this.polling.wake === undefined;
        return;
      }
      this.stats.succeeded += 1;
    }
  }
}
