/**
 * What the WebSocket and the binary-protocol producers share: the sends awaiting the broker's
 * answer, the dead-link watch, and the fail/close bookkeeping of the TransportProducer contract
 * (`./transport.ts`: a failure rejects every pending and later send, and closes the producer).
 *
 * Dead links: a black hole (connection open, nothing flowing) raises no socket error, so the
 * producer pings every `pingIntervalMs`; when nothing at all has come back for `silenceLimitMs`
 * (`deadLinkTiming`), it fails with SKY_ERR_LINK_DEAD. With `receiptTimeoutMs`, a send the broker
 * leaves unanswered that long while the link itself answers fails the producer too.
 */
import { SkyhaulError } from '../../common/errors.ts';
import { DEAD_LINK_CHECK_INTERVAL_MS } from './transport.ts';

interface PendingSend {
  resolve: () => void;
  reject: (error: SkyhaulError) => void;
  sentAt: number;
}

export interface WatchTiming {
  pingIntervalMs: number;
  silenceLimitMs: number;
  /** Fail when the oldest send has had no answer for this long (forward.sendTimeout); undefined: never. */
  receiptTimeoutMs?: number;
}

/** A producer over one connection, keyed sends of type `Key` (the proxy's context, the sequence id). */
export abstract class WatchedProducer<Key> {
  private readonly pending = new Map<Key, PendingSend>();
  private readonly closeListeners: Array<(error: SkyhaulError | null) => void> = [];
  /** performance.now() of the last byte from the broker: the detector measures silence, not wall time. */
  private lastInbound = performance.now();
  private lastPing = 0;
  private timer: NodeJS.Timeout | null;
  private failure: SkyhaulError | null = null;
  /** close() was called: the end that follows is not a failure. */
  protected closed = false;

  constructor(
    readonly producerName: string,
    private readonly timing: WatchTiming,
  ) {
    this.timer = setInterval(() => this.checkLiveness(), DEAD_LINK_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** Sends a ping on the link (when it can carry one). */
  protected abstract ping(): void;
  /** Tears the connection down at once. */
  protected abstract terminate(): void;

  /** Whether the producer has failed or been closed. */
  protected get ended(): boolean {
    return this.failure !== null || this.closed;
  }

  /** Anything at all came from the broker. */
  protected heard(): void {
    this.lastInbound = performance.now();
  }

  /**
   * Registers a send under `key`, then writes it: the promise settles with answered(key) or a
   * failure. Rejects at once when the producer has already ended.
   */
  protected awaitAnswer(key: Key, write: () => void): Promise<void> {
    if (this.ended) return Promise.reject(this.failure ?? new SkyhaulError('SKY_ERR_TRANSPORT', `producer ${this.producerName} is closed`));
    return new Promise<void>((resolve, reject) => {
      // Nothing outstanding until now means the silence clock starts at this send.
      if (this.pending.size === 0) this.lastInbound = Math.max(this.lastInbound, performance.now());
      this.pending.set(key, { resolve, reject, sentAt: performance.now() });
      write();
    });
  }

  /** The broker answered the send under `key`: resolves it. False when no such send is pending. */
  protected answered(key: Key): boolean {
    const entry = this.pending.get(key);
    if (entry === undefined) return false;
    this.pending.delete(key);
    entry.resolve();
    return true;
  }

  private checkLiveness(): void {
    if (this.ended) return;
    const now = performance.now();
    if (now - this.lastPing >= this.timing.pingIntervalMs) {
      this.lastPing = now;
      this.ping();
    }
    if (now - this.lastInbound > this.timing.silenceLimitMs) {
      this.fail(new SkyhaulError('SKY_ERR_LINK_DEAD', `no reply from the broker for ${Math.round(now - this.lastInbound)} ms on producer ${this.producerName} (black-holed link)`));
      return;
    }
    const oldest = this.pending.values().next().value;
    if (this.timing.receiptTimeoutMs !== undefined && oldest !== undefined && now - oldest.sentAt > this.timing.receiptTimeoutMs) {
      this.fail(new SkyhaulError('SKY_ERR_TRANSPORT', `no answer to a send within ${this.timing.receiptTimeoutMs} ms on producer ${this.producerName} (forward.sendTimeout)`));
    }
  }

  /** Ends the producer: null for a requested close, else the failure every pending and later send gets. */
  protected fail(error: SkyhaulError | null): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    if (this.failure !== null) return;
    this.failure = error ?? new SkyhaulError('SKY_ERR_TRANSPORT', `producer ${this.producerName} closed`);
    for (const entry of this.pending.values()) entry.reject(this.failure);
    this.pending.clear();
    this.terminate();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }

  onClose(listener: (error: SkyhaulError | null) => void): void {
    if (this.failure !== null) listener(this.closed ? null : this.failure);
    else this.closeListeners.push(listener);
  }
}
