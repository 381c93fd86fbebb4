/**
 * The forwarder: drains the buffer to Pulsar, stream by stream, in sequence order.
 *
 * Contract (ARCHITECTURE.md invariants 2 and 3):
 *  - A record is acknowledged to the buffer (and so deleted) only after the broker acknowledged
 *    it. Acks are flushed to the buffer in small batches; a crash before a flush only means
 *    those records are sent again, and the broker drops them as duplicates.
 *  - One producer per stream, named `<producer_id>/<stream>`; the broker sequence id of every
 *    message is the record's `sequence` (see pulsar/transport.ts). A producer only ever sends
 *    contiguous sequences; a gap (records dropped by quota or TTL) reopens the producer at the
 *    new position once its in-flight messages are acknowledged.
 *  - Any producer failure rewinds that stream to its last broker-acknowledged sequence.
 *  - Bounded in-flight window (global and per stream); strict priority between classes: a
 *    lower class sends only while no higher class has unsent backlog, so after an outage alarm
 *    and control streams drain first.
 *  - When the link fails, every stream waits; one pilot stream (the most urgent) retries with
 *    exponential backoff and jitter, and the rest follow once it connects. A stream whose
 *    producer opens but fails before any message is acknowledged backs off on its own (its
 *    backoff resets only on an ack), so a message the broker keeps refusing is retried with
 *    growing delays, never in a tight loop.
 *  - The producer identity travels with each record (the buffer may hold records of a retired
 *    identity after a restore): a change of identity reopens the stream's producer, like a gap.
 *  - A record the transport cannot carry (larger than its message limit) is set aside by the
 *    buffer as a counted 'oversize' drop; the stream goes on after it.
 *  - Every duration (backoff, idle close, probing) is measured on the monotonic clock; the wall
 *    clock only stamps what the operator sees.
 */
import { EventEmitter } from 'node:events';
import type { PriorityClass } from '../buffer/index.ts';
import { PRIORITY_ORDER } from '../buffer/index.ts';
import { SkyhaulError } from '../common/errors.ts';
import { toPulsarMessage, type TelemetryRecord } from '../record/record.ts';
import { Backoff, type BackoffOptions } from '../common/backoff.ts';
import { monotonicMs } from '../common/clock.ts';
import type { TokenBucket } from './bandwidth.ts';
import type { PulsarTransport, TransportProducer } from './pulsar/transport.ts';

export interface ForwardStreamState {
  stream: string;
  priority: PriorityClass;
  nextSequence: number;
  ackedSequence: number;
  records: number;
}

/** What the forwarder needs from the buffer. */
export interface ForwardSource {
  /** Per-stream cursors from memory (cheap: called on every pump). */
  cursors(): ForwardStreamState[];
  read(stream: string, afterSequence: number, limit: number, maxBytes?: number): TelemetryRecord[];
  ackMany(acks: Array<{ stream: string; sequence: number }>): void;
  /** Sets aside one record the transport cannot carry, counted as a drop. */
  discard(stream: string, sequence: number, reason: 'oversize'): boolean;
  /** Sent but not yet acknowledged: the buffer must not drop these (they may still arrive). */
  setInFlight(stream: string, uptoSequence: number): void;
  on(event: 'committed', listener: (streams: string[]) => void): unknown;
  off(event: 'committed', listener: (streams: string[]) => void): unknown;
}

export type LinkStateName = 'connecting' | 'up' | 'down' | 'blackholed' | 'paused' | 'stopped';

export interface LinkState {
  state: LinkStateName;
  since: number;
  lastError: { code: string; message: string; at: number } | null;
  lastAckAt: number | null;
  reconnectAttempts: number;
  nextAttemptAt: number | null;
}

export interface ForwarderOptions {
  source: ForwardSource;
  transport: PulsarTransport;
  topicFor: (stream: string, priority: PriorityClass) => string;
  bandwidth: TokenBucket;
  backoff: BackoffOptions;
  window: { maxMessages: number; maxMessagesPerStream: number };
  /** How often broker acks are written to the buffer. */
  ackFlushMs?: number;
  /** Producers of streams with nothing to send close after this long. */
  idleProducerCloseMs?: number;
  /** Cheap reachability check used while no producer is open (so an idle link still shows its state). */
  probe?: () => Promise<void>;
  probeIntervalMs?: number;
  logger?: Pick<Console, 'info' | 'warn' | 'error' | 'debug'>;
  /** Wall clock (ms since epoch) for the timestamps in LinkState; never for durations. */
  clock?: () => number;
  /** Monotonic clock (ms) for every duration; default performance.now. */
  monotonic?: () => number;
}

interface Lane {
  stream: string;
  priority: PriorityClass;
  rank: number;
  producer: TransportProducer | null;
  /** The producer id the open producer sends under (records of a retired identity need their own). */
  identity: string | null;
  /** Whether the open producer has had a message acknowledged (else a failure backs the stream off). */
  progressed: boolean;
  /** Incremented per producer, so late callbacks of a dead producer are ignored. */
  generation: number;
  opening: boolean;
  /** Next sequence the open producer's broker-side numbering expects. */
  producerNext: number;
  /** Highest sequence handed to the producer. */
  sentUpTo: number;
  /** Highest sequence the broker acknowledged. */
  ackedUpTo: number;
  inFlight: number;
  /** The stream's newest committed sequence (from the buffer). */
  lastCommitted: number;
  /** Monotonic ms. */
  idleSince: number;
  /** Monotonic ms: the stream waits until then after a stream-level failure. */
  notBefore: number;
  backoff: Backoff;
  draining: boolean;
  /** Records the broker acknowledged on this stream since start. */
  ackedRecords: number;
}

const silentLogger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

export class Forwarder extends EventEmitter {
  private readonly lanes = new Map<string, Lane>();
  /** The lanes in pump order (see orderedLanes). */
  private order: Lane[] = [];
  private readonly pendingAcks = new Map<string, number>();
  private readonly linkBackoff: Backoff;
  private readonly log: Pick<Console, 'info' | 'warn' | 'error' | 'debug'>;
  private readonly clock: () => number;
  private readonly monotonic: () => number;
  private link: LinkState;
  private inFlight = 0;
  private started = false;
  private paused = false;
  private pumpScheduled = false;
  private pumpTimer: NodeJS.Timeout | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private housekeepingTimer: NodeJS.Timeout | null = null;
  private probing = false;
  /** A message limit learnt from the broker refusing a message that fitted the configured one. */
  private learnedLimit = Number.POSITIVE_INFINITY;
  /** Monotonic ms. */
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  /** Monotonic ms: the pilot's next attempt while the link is down. */
  private pilotAttemptAt = Number.NEGATIVE_INFINITY;
  private readonly onCommitted = (): void => this.schedulePump();
  /** Totals since start, for rates. */
  readonly counters = { sentRecords: 0, ackedRecords: 0, ackedBytes: 0, sendFailures: 0, reconnects: 0, oversize: 0 };

  constructor(private readonly options: ForwarderOptions) {
    super();
    this.clock = options.clock ?? Date.now;
    this.monotonic = options.monotonic ?? monotonicMs;
    this.log = options.logger ?? silentLogger;
    this.linkBackoff = new Backoff(options.backoff);
    this.link = { state: 'connecting', since: this.clock(), lastError: null, lastAckAt: null, reconnectAttempts: 0, nextAttemptAt: null };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.options.source.on('committed', this.onCommitted);
    this.ackTimer = setInterval(() => this.flushAcks(), this.options.ackFlushMs ?? 20);
    this.housekeepingTimer = setInterval(() => this.housekeeping(), 500);
    this.schedulePump();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.options.source.off('committed', this.onCommitted);
    for (const timer of [this.ackTimer, this.housekeepingTimer, this.pumpTimer]) if (timer !== null) clearInterval(timer);
    this.ackTimer = this.housekeepingTimer = this.pumpTimer = null;
    // Give in-flight sends a moment to be acknowledged, so a clean stop does not resend them.
    const deadline = this.monotonic() + 2000;
    while (this.inFlight > 0 && this.monotonic() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.all([...this.lanes.values()].map((lane) => this.closeLane(lane)));
    this.flushAcks();
    this.setLink('stopped', null);
  }

  pause(): void {
    this.paused = true;
    this.setLink('paused', null);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.setLink('connecting', null);
    // Producers left open during the pause may have nothing to send, so no ack would ever
    // confirm the link: ask the probe at once rather than show 'connecting' until they idle out.
    if (this.options.probe !== undefined && !this.probing) this.runProbe();
    this.schedulePump();
  }

  /** The broker's acknowledged position on a stream (for the self-test's canary). */
  ackedSequence(stream: string): number | null {
    return this.lanes.get(stream)?.ackedUpTo ?? null;
  }

  /**
   * Sends a stream's buffered records again from its last broker-acknowledged sequence (an
   * operator's replay): the stream's producer is closed, as after a failure, and reopened by the
   * next pump. Records the broker already has are dropped by its de-duplication (same producer
   * name and sequence ids). Returns the acknowledged sequence the stream restarts after, or null
   * when the forwarder has no lane for the stream.
   */
  async rewind(stream: string): Promise<number | null> {
    const lane = this.lanes.get(stream);
    if (lane === undefined) return null;
    await this.closeLane(lane);
    this.schedulePump();
    return lane.ackedUpTo;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  status(): {
    link: LinkState;
    transport: string;
    inFlight: number;
    streams: Array<{ stream: string; priority: PriorityClass; connected: boolean; sentUpTo: number; ackedUpTo: number; inFlight: number; ackedRecords: number }>;
  } {
    return {
      link: { ...this.link },
      transport: this.options.transport.kind,
      inFlight: this.inFlight,
      streams: [...this.lanes.values()].map((lane) => ({
        ackedRecords: lane.ackedRecords,
        stream: lane.stream,
        priority: lane.priority,
        connected: lane.producer !== null,
        sentUpTo: lane.sentUpTo,
        ackedUpTo: lane.ackedUpTo,
        inFlight: lane.inFlight,
      })),
    };
  }

  // -------------------------------------------------------------------------------------------

  private setLink(state: LinkStateName, error: SkyhaulError | null): void {
    const now = this.clock();
    const changed = state !== this.link.state;
    if (error !== null) this.link.lastError = { code: error.code, message: error.message, at: now };
    if (!changed) return;
    const previous = this.link.state;
    this.link.state = state;
    this.link.since = now;
    if (state === 'up') {
      this.link.reconnectAttempts = 0;
      this.link.nextAttemptAt = null;
    }
    const line = `link ${previous} -> ${state}${error ? `: ${error.message}` : ''}`;
    if (state === 'up' || state === 'paused' || state === 'stopped') this.log.info(line);
    else this.log.warn(line);
    this.emit('link', { ...this.link });
  }

  private schedulePump(delayMs = 0): void {
    if (!this.started) return;
    if (delayMs > 0) {
      if (this.pumpTimer !== null) return;
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = null;
        this.schedulePump();
      }, delayMs);
      return;
    }
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private lane(state: ForwardStreamState): Lane {
    let lane = this.lanes.get(state.stream);
    if (lane === undefined) {
      lane = {
        stream: state.stream,
        priority: state.priority,
        rank: PRIORITY_ORDER.indexOf(state.priority),
        producer: null,
        identity: null,
        progressed: false,
        generation: 0,
        opening: false,
        producerNext: -1,
        sentUpTo: state.ackedSequence,
        ackedUpTo: state.ackedSequence,
        inFlight: 0,
        lastCommitted: state.nextSequence - 1,
        idleSince: this.monotonic(),
        notBefore: 0,
        backoff: new Backoff(this.options.backoff),
        draining: false,
        ackedRecords: 0,
      };
      this.lanes.set(state.stream, lane);
    }
    lane.lastCommitted = state.nextSequence - 1;
    lane.priority = state.priority;
    lane.rank = PRIORITY_ORDER.indexOf(state.priority);
    return lane;
  }

  /**
   * Every stream's lane, refreshed from the buffer's cursors, most urgent class first and by
   * name within a class. The sorted order is kept between pumps and rebuilt only when a stream
   * appeared or changed class: sorting 1,245 lanes on every pump cost about 0.3 ms, and a busy
   * forwarder pumps hundreds of times a second.
   */
  private orderedLanes(): Lane[] {
    const cursors = this.options.source.cursors();
    let reorder = cursors.length !== this.order.length;
    for (const state of cursors) {
      const known = this.lanes.get(state.stream);
      const rank = known?.rank;
      const lane = this.lane(state);
      if (known === undefined || lane.rank !== rank) reorder = true;
    }
    if (reorder) {
      this.order = cursors.map((state) => this.lanes.get(state.stream) as Lane).sort((a, b) => a.rank - b.rank || (a.stream < b.stream ? -1 : 1));
    }
    return this.order;
  }

  private pump(): void {
    if (!this.started || this.paused) return;
    const lanes = this.orderedLanes();
    const now = this.monotonic();
    const linkUsable = this.link.state === 'up' || this.link.state === 'connecting';

    if (!linkUsable) {
      // One pilot (the most urgent stream with backlog) probes the link; the rest wait.
      if (now < this.pilotAttemptAt) return this.schedulePump(this.pilotAttemptAt - now);
      const pilot = lanes.find((lane) => lane.lastCommitted > lane.ackedUpTo && !lane.opening);
      if (pilot !== undefined && pilot.producer === null) this.openLane(pilot);
      return;
    }

    let blockingRank = Infinity;
    for (const lane of lanes) {
      const unsent = lane.lastCommitted > lane.sentUpTo;
      if (!unsent) continue;
      if (lane.rank > blockingRank) break;
      if (now < lane.notBefore) {
        this.schedulePump(lane.notBefore - now);
        continue;
      }
      blockingRank = Math.min(blockingRank, lane.rank);
      if (lane.producer === null) {
        if (!lane.opening) this.openLane(lane);
        continue;
      }
      this.drainLane(lane);
    }
  }

  private openLane(lane: Lane): void {
    // The first record still to send decides where the producer's numbering starts.
    const [first] = this.options.source.read(lane.stream, lane.ackedUpTo, 1);
    if (first === undefined) return;
    lane.opening = true;
    const generation = ++lane.generation;
    const identity = first.producerId;
    const producerName = `${identity}/${lane.stream}`;
    const topic = this.options.topicFor(lane.stream, lane.priority);
    this.options.transport
      .createProducer({ topic, producerName, initialSequenceId: first.sequence - 1 })
      .then(
        (producer) => {
          lane.opening = false;
          if (!this.started || generation !== lane.generation) {
            void producer.close();
            return;
          }
          lane.producer = producer;
          lane.identity = identity;
          lane.progressed = false;
          lane.producerNext = first.sequence;
          lane.sentUpTo = first.sequence - 1;
          lane.idleSince = this.monotonic();
          producer.onClose((error) => this.onProducerClosed(lane, generation, error));
          if (this.link.state !== 'up' && this.link.state !== 'paused') {
            if (this.link.state !== 'connecting') this.counters.reconnects += 1;
            this.setLink('up', null);
          }
          this.schedulePump();
        },
        (error: unknown) => {
          lane.opening = false;
          const failure =
            error instanceof SkyhaulError ? error : new SkyhaulError('SKY_ERR_TRANSPORT', String(error), { cause: error });
          this.onFailure(lane, failure);
        },
      );
  }

  private drainLane(lane: Lane): void {
    if (lane.draining) return;
    lane.draining = true;
    try {
      const producer = lane.producer!;
      const generation = lane.generation;
      while (lane.producer === producer && lane.lastCommitted > lane.sentUpTo) {
        const room = Math.min(
          this.options.window.maxMessages - this.inFlight,
          this.options.window.maxMessagesPerStream - lane.inFlight,
        );
        if (room <= 0) return;
        const records = this.options.source.read(lane.stream, lane.sentUpTo, Math.min(room, 256));
        if (records.length === 0) {
          // Everything after sentUpTo was dropped (quota/TTL) or acked meanwhile.
          lane.sentUpTo = lane.lastCommitted;
          return;
        }
        for (const record of records) {
          // A send can fail synchronously and close the producer under this loop.
          if (lane.producer !== producer || lane.generation !== generation) return;
          if (record.sequence !== lane.producerNext || record.producerId !== lane.identity) {
            // A gap (the WebSocket proxy would number this record producerNext), or records of
            // another producer identity: reopen at the new position once what is in flight has
            // been acknowledged.
            if (lane.inFlight === 0) {
              lane.sentUpTo = lane.ackedUpTo = Math.max(lane.ackedUpTo, record.sequence - 1);
              void this.closeLane(lane).then(() => this.schedulePump());
            }
            return;
          }
          const message = toPulsarMessage(record);
          if (!this.fits(record, message)) {
            // Sent, it would close the producer (WebSocket close 1009) at every attempt and wedge
            // the stream: set it aside, counted; the stream reopens past the hole.
            this.counters.oversize += 1;
            this.options.source.discard(lane.stream, record.sequence, 'oversize');
            this.log.error(
              `stream ${lane.stream}: record #${record.sequence} (${record.payload.length}-byte payload) exceeds the ${this.options.transport.kind} transport's ${this.options.transport.maxMessageBytes}-byte message limit; set aside as an 'oversize' drop`,
            );
            this.schedulePump();
            return;
          }
          const wait = this.options.bandwidth.tryTake(record.payload.length + 256);
          if (wait > 0) {
            this.options.source.setInFlight(lane.stream, lane.sentUpTo);
            this.schedulePump(wait);
            return;
          }
          lane.sentUpTo = record.sequence;
          lane.producerNext = record.sequence + 1;
          lane.inFlight += 1;
          this.inFlight += 1;
          lane.idleSince = this.monotonic();
          this.counters.sentRecords += 1;
          const bytes = record.payload.length;
          const sequence = record.sequence;
          producer.send({ ...message, sequenceId: sequence }).then(
            () => this.onAck(lane, generation, sequence, bytes),
            () => this.onSendFailed(lane, generation),
          );
        }
        this.options.source.setInFlight(lane.stream, lane.sentUpTo);
      }
    } finally {
      lane.draining = false;
    }
  }

  /** Whether the message fits the transport's limit (small payloads always do: no encoding needed). */
  private fits(record: TelemetryRecord, message: ReturnType<typeof toPulsarMessage>): boolean {
    const limit = Math.min(this.options.transport.maxMessageBytes, this.learnedLimit);
    // Base64 (4/3) plus a generous envelope still below the limit: no need to measure.
    if (record.payload.length * 4 < (limit - 64 * 1024) * 3) return true;
    return this.options.transport.encodedBytes({ ...message, sequenceId: record.sequence }) <= limit;
  }

  private setAsideLargestInFlight(lane: Lane): void {
    const inFlight = this.options.source.read(lane.stream, lane.ackedUpTo, Math.max(1, lane.sentUpTo - lane.ackedUpTo));
    let largest: { record: TelemetryRecord; bytes: number } | null = null;
    for (const record of inFlight) {
      const bytes = this.options.transport.encodedBytes({ ...toPulsarMessage(record), sequenceId: record.sequence });
      if (largest === null || bytes > largest.bytes) largest = { record, bytes };
    }
    if (largest === null) return;
    this.learnedLimit = Math.min(this.learnedLimit, largest.bytes - 1);
    this.counters.oversize += 1;
    this.options.source.discard(lane.stream, largest.record.sequence, 'oversize');
    this.log.error(
      `stream ${lane.stream}: the broker refused record #${largest.record.sequence} (${largest.bytes} bytes encoded) as too large; set aside as an 'oversize' drop, and messages of that size are no longer sent (set forward.maxMessageSize to the broker's limit)`,
    );
  }

  private onAck(lane: Lane, generation: number, sequence: number, bytes: number): void {
    if (generation !== lane.generation) return;
    lane.inFlight -= 1;
    this.inFlight -= 1;
    // Progress on this producer: only now is a stream (and the link) known to work again.
    if (!lane.progressed) {
      lane.progressed = true;
      lane.backoff.reset();
      this.linkBackoff.reset();
    }
    if (sequence > lane.ackedUpTo) lane.ackedUpTo = sequence;
    this.pendingAcks.set(lane.stream, lane.ackedUpTo);
    this.counters.ackedRecords += 1;
    this.counters.ackedBytes += bytes;
    lane.ackedRecords += 1;
    this.link.lastAckAt = this.clock();
    if (this.link.state === 'connecting') this.setLink('up', null);
    this.schedulePump();
  }

  private onSendFailed(lane: Lane, generation: number): void {
    // The producer's close listener does the rewinding; here only the window is released.
    if (generation !== lane.generation) return;
    lane.inFlight -= 1;
    this.inFlight -= 1;
  }

  private onProducerClosed(lane: Lane, generation: number, error: SkyhaulError | null): void {
    if (generation !== lane.generation) return;
    // The broker side refused a message as too large although it fitted the configured limit
    // (the proxy's real limit is smaller): set aside the largest one sent, and learn the limit.
    if (error?.code === 'SKY_ERR_RECORD_TOO_LARGE') this.setAsideLargestInFlight(lane);
    this.inFlight -= lane.inFlight;
    lane.inFlight = 0;
    lane.producer = null;
    lane.generation += 1;
    // Unacknowledged sends are in doubt: resend from the last broker ack (duplicates are dropped
    // by the broker, because they carry the same sequence ids).
    lane.sentUpTo = lane.ackedUpTo;
    this.options.source.setInFlight(lane.stream, lane.ackedUpTo);
    if (error !== null) this.onFailure(lane, error);
    else this.schedulePump();
  }

  private onFailure(lane: Lane, error: SkyhaulError): void {
    this.counters.sendFailures += 1;
    // The broker refusing one of this stream's messages (too large, rejected) is this stream's
    // problem, not the link's: it backs off alone, and its backoff grows until an ack resets it.
    const messageRefused = error.code === 'SKY_ERR_RECORD_TOO_LARGE' || error.code === 'SKY_ERR_SEND_REJECTED';
    const linkLevel = !messageRefused && (error.code === 'SKY_ERR_LINK_DEAD' || isConnectionError(error));
    if (linkLevel && this.link.state !== 'paused') {
      const state: LinkStateName = error.code === 'SKY_ERR_LINK_DEAD' ? 'blackholed' : 'down';
      // A black hole stays reported as such until the link works again.
      this.setLink(this.link.state === 'blackholed' && state === 'down' ? 'blackholed' : state, error);
      const delay = this.linkBackoff.next();
      this.link.reconnectAttempts = this.linkBackoff.attempts;
      this.pilotAttemptAt = this.monotonic() + delay;
      this.link.nextAttemptAt = this.clock() + delay;
      // Every other producer on a dead link is dead too: close them rather than wait for each to notice.
      for (const other of this.lanes.values()) if (other !== lane && other.producer !== null) void this.closeLane(other);
      this.schedulePump(delay);
    } else {
      // A stream-level refusal (topic policy, producer name still held by a half-dead session):
      // that stream backs off alone.
      const delay = lane.backoff.next();
      lane.notBefore = this.monotonic() + delay;
      this.link.lastError = { code: error.code, message: error.message, at: this.clock() };
      this.log.warn(`stream ${lane.stream}: ${error.message}; retrying in ${delay} ms`);
      this.schedulePump(delay);
    }
  }

  private async closeLane(lane: Lane): Promise<void> {
    const producer = lane.producer;
    lane.generation += 1;
    this.inFlight -= lane.inFlight;
    lane.inFlight = 0;
    lane.producer = null;
    lane.identity = null;
    lane.sentUpTo = lane.ackedUpTo;
    this.options.source.setInFlight(lane.stream, lane.ackedUpTo);
    if (producer !== null) await producer.close().catch(() => {});
  }

  private flushAcks(): void {
    if (this.pendingAcks.size === 0) return;
    const acks = [...this.pendingAcks].map(([stream, sequence]) => ({ stream, sequence }));
    this.pendingAcks.clear();
    try {
      this.options.source.ackMany(acks);
    } catch (error) {
      // Not fatal: the records stay buffered and are re-sent (and de-duplicated) later.
      this.log.error(`recording broker acks in the buffer failed: ${(error as Error).message}`);
      for (const { stream, sequence } of acks) this.pendingAcks.set(stream, Math.max(sequence, this.pendingAcks.get(stream) ?? 0));
    }
  }

  private housekeeping(): void {
    const now = this.monotonic();
    const idleLimit = this.options.idleProducerCloseMs ?? 60_000;
    for (const lane of this.lanes.values()) {
      if (lane.producer !== null && lane.inFlight === 0 && lane.lastCommitted <= lane.sentUpTo && now - lane.idleSince > idleLimit) {
        void this.closeLane(lane);
      }
    }
    const anyOpen = [...this.lanes.values()].some((lane) => lane.producer !== null);
    if (!anyOpen && !this.paused && this.options.probe !== undefined && !this.probing) {
      const interval = this.options.probeIntervalMs ?? 5000;
      if (now - this.lastProbeAt >= interval && now >= this.pilotAttemptAt) this.runProbe();
    }
    this.schedulePump();
  }

  private runProbe(): void {
    this.probing = true;
    this.lastProbeAt = this.monotonic();
    this.options.probe!().then(
      () => {
        this.probing = false;
        if (!this.started || this.paused) return;
        if (this.link.state !== 'up') {
          this.linkBackoff.reset();
          this.pilotAttemptAt = Number.NEGATIVE_INFINITY;
          // Reachable, but only a producer proves the full path: go through 'connecting'.
          const idle = ![...this.lanes.values()].some((lane) => lane.lastCommitted > lane.ackedUpTo);
          this.setLink(idle ? 'up' : 'connecting', null);
          this.schedulePump();
        }
      },
      (error: unknown) => {
        this.probing = false;
        if (!this.started || this.paused) return;
        const failure = error instanceof SkyhaulError ? error : new SkyhaulError('SKY_ERR_TRANSPORT', String(error));
        if (this.link.state === 'up' || this.link.state === 'connecting') {
          this.setLink(failure.code === 'SKY_ERR_LINK_DEAD' ? 'blackholed' : 'down', failure);
        } else {
          this.link.lastError = { code: failure.code, message: failure.message, at: this.clock() };
        }
      },
    );
  }
}

function isConnectionError(error: SkyhaulError): boolean {
  if (error.code !== 'SKY_ERR_TRANSPORT') return false;
  // HTTP answers from the broker mean the link works and the problem is this stream's.
  return !/HTTP (4\d\d|5\d\d)/.test(error.message);
}
