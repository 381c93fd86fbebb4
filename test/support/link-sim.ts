/**
 * Link simulator: a TCP proxy placed between the daemon and a broker so that a
 * test can reproduce the faults of a site's uplink with real sockets.
 *
 *   daemon ──▶ 127.0.0.1:<link.port> ──[LinkSimulator]──▶ target (e.g. Pulsar WebSocket port)
 *
 * Fault model, as seen from either end:
 *
 * - `cut()`: every live connection is reset (RST) on both sides at once, and
 *   new connections are reset as soon as the kernel has accepted them. This is
 *   the loud, fast failure: the client sees ECONNRESET within milliseconds.
 *
 * - `blackhole()`: connections stay open and new ones are still accepted, but
 *   nothing crosses the link in either direction: no data, and no FIN or RST
 *   either (a peer that closes during the black hole is not reported to the
 *   other side until `restore()`). Only the endpoints' own timeouts reveal it.
 *   Connections accepted during the black hole are not connected upstream until
 *   `restore()`, so an unreachable target cannot betray the black hole with a
 *   reset.
 *
 * - `restore()` after a black hole: a real network loses packets and TCP
 *   retransmits them, so a short outage leaves the stream intact. This proxy
 *   has already acknowledged the bytes it dropped and cannot retransmit them,
 *   so any connection that lost data, a FIN or an RST inside the black hole has
 *   a gap in its byte stream. Forwarding it again would hand the broker or the
 *   daemon a corrupted stream (a torn WebSocket frame, say), so such
 *   connections are reset at restore — what the client would see if its
 *   retransmissions had finally timed out — and the client reconnects cleanly.
 *   Connections that stayed idle for the whole black hole have no gap and carry
 *   on, as a real TCP session would after a short outage.
 *
 * - `setLatency(ms)`: one-way delay added to every chunk in each direction;
 *   chunks keep their order.
 *
 * - `setBandwidth(bytesPerSecond)`: a shared token bucket per direction (all
 *   connections compete for the link, as on a real uplink) with a burst of
 *   1/20 s of the rate, so rates measured over a few seconds come out right.
 *   The rate limit back-pressures: when a direction holds more than
 *   `maxBufferedBytesPerDirection` the source socket is paused, which in turn
 *   fills the sender's kernel buffers and makes its writes return false. Like a
 *   TCP window this also caps throughput at latency: at most
 *   maxBufferedBytesPerDirection per one-way delay.
 *
 * - `flap(schedule)`: alternates up and down periods of random (seeded) length,
 *   ending with the link restored.
 *
 * Socket errors are absorbed everywhere: a reset on one side turns into a reset
 * of the other side, never into an uncaught exception.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export type LinkMode = 'up' | 'cut' | 'blackhole';
/** `upstream`: daemon → broker; `downstream`: broker → daemon. */
export type LinkDirection = 'upstream' | 'downstream';

export interface LinkTarget {
  host: string;
  port: number;
}

export interface LinkSimulatorOptions {
  target: LinkTarget;
  /** 0 (default) picks an ephemeral port; read it from `link.port` after `start()`. */
  listenPort?: number;
  /** Default `127.0.0.1`. */
  listenHost?: string;
  /**
   * Bytes a direction of one connection may hold (delay and rate queues) before
   * its source socket is paused. Default 256 KiB.
   */
  maxBufferedBytesPerDirection?: number;
}

export interface LinkStats {
  /** Connections accepted and forwarded (or held, during a black hole). */
  connectionsAccepted: number;
  /** Connections reset on arrival because the link was cut. */
  connectionsRefused: number;
  /** Bytes delivered towards the target. */
  bytesUpstream: number;
  /** Bytes delivered towards the client. */
  bytesDownstream: number;
  /** Bytes read from either side and never delivered (black hole, cut, reset). */
  bytesDropped: number;
  /** Times the link went into `cut`. */
  cuts: number;
  /** Times the link went into `blackhole`. */
  blackholes: number;
  /** Highest total of bytes held in the simulator's delay/rate queues at any moment. */
  peakBufferedBytes: number;
}

export interface FlapSchedule {
  /** Number of down periods. */
  cuts: number;
  minUpMs: number;
  maxUpMs: number;
  minDownMs: number;
  maxDownMs: number;
  /** What a down period is. */
  mode: 'cut' | 'blackhole';
  /** PRNG seed; random when omitted (the plan reports the seed used, to replay a failure). */
  seed?: number;
}

/** One up period followed by one down period. */
export interface FlapPeriod {
  upMs: number;
  downMs: number;
}

export interface FlapPlan {
  seed: number;
  mode: 'cut' | 'blackhole';
  periods: FlapPeriod[];
  /** Sum of all up and down periods. */
  totalMs: number;
}

export interface FlapResult extends FlapPlan {
  /** False when `stopFlapping()` or `stop()` ended the schedule early. */
  completed: boolean;
  /** Down periods actually entered. */
  downPeriodsRun: number;
  elapsedMs: number;
}

export type LinkSimulatorEvents = {
  mode: [mode: LinkMode, previous: LinkMode];
};

const DEFAULT_MAX_BUFFERED = 256 * 1024;

/** Deterministic plan for a flap schedule; exported so tests can know the timing in advance. */
export function planFlap(schedule: FlapSchedule): FlapPlan {
  const { cuts, minUpMs, maxUpMs, minDownMs, maxDownMs, mode } = schedule;
  if (!Number.isInteger(cuts) || cuts < 0) throw new RangeError(`flap: cuts must be a non-negative integer, got ${cuts}`);
  for (const [name, min, max] of [
    ['up', minUpMs, maxUpMs],
    ['down', minDownMs, maxDownMs],
  ] as const) {
    if (!Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max < min) {
      throw new RangeError(`flap: need 0 <= min${name}Ms <= max${name}Ms, got ${min}..${max}`);
    }
  }
  if (mode !== 'cut' && mode !== 'blackhole') throw new RangeError(`flap: unknown mode ${String(mode)}`);
  const seed = (schedule.seed ?? Math.floor(Math.random() * 0x1_0000_0000)) >>> 0;
  const rand = mulberry32(seed);
  const between = (min: number, max: number): number => min + Math.floor(rand() * (Math.floor(max) - Math.ceil(min) + 1));
  const periods: FlapPeriod[] = [];
  let totalMs = 0;
  for (let i = 0; i < cuts; i++) {
    const period = { upMs: between(minUpMs, maxUpMs), downMs: between(minDownMs, maxDownMs) };
    totalMs += period.upMs + period.downMs;
    periods.push(period);
  }
  return { seed, mode, periods, totalMs };
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** Sends an RST rather than a FIN; a socket still connecting has nothing to reset and is just dropped. */
function hardReset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

class TokenBucket {
  readonly burst: number;
  /** Smallest slice worth a timer wake-up; keeps the proxy from trickling single bytes. */
  private readonly quantum: number;
  private tokens: number;
  private last = performance.now();

  constructor(readonly rate: number) {
    this.burst = Math.max(1, Math.floor(rate / 20));
    this.quantum = Math.max(1, Math.floor(this.burst / 2));
    this.tokens = this.burst;
  }

  /** Grants up to `want` bytes now, or says how long to wait before asking again. */
  take(want: number, now: number): { grant: number; waitMs: number } {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    const need = Math.min(want, this.quantum);
    if (this.tokens < need) return { grant: 0, waitMs: ((need - this.tokens) * 1000) / this.rate };
    const grant = Math.min(want, Math.floor(this.tokens));
    this.tokens -= grant;
    return { grant, waitMs: 0 };
  }
}

/** What a pipe needs from the simulator; kept narrow so the simulator's state stays private. */
interface PipeHost {
  mode(): LinkMode;
  latencyMs(): number;
  bucket(direction: LinkDirection): TokenBucket | null;
  maxBuffered: number;
  queued(delta: number): void;
  delivered(direction: LinkDirection, bytes: number): void;
}

interface QueuedChunk {
  chunk: Buffer;
  dueAt: number;
}

/** One direction of one connection: delay queue, rate limit, back-pressure, FIN propagation. */
class Pipe {
  source: net.Socket | null = null;
  dest: net.Socket | null = null;
  private readonly queue: QueuedChunk[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private awaitingDrain = false;
  private pausedSource = false;
  private ending = false;
  private ended = false;

  constructor(
    readonly direction: LinkDirection,
    private readonly host: PipeHost,
  ) {}

  get bufferedBytes(): number {
    return this.queuedBytes + (this.dest?.writableLength ?? 0);
  }

  /** Returns false when the chunk was dropped (link not up). */
  push(chunk: Buffer): boolean {
    if (this.host.mode() !== 'up') return false;
    this.queue.push({ chunk, dueAt: performance.now() + this.host.latencyMs() });
    this.queuedBytes += chunk.length;
    this.host.queued(chunk.length);
    if (this.queuedBytes >= this.host.maxBuffered && !this.pausedSource && this.source) {
      this.pausedSource = true;
      this.source.pause();
    }
    this.pump();
    return true;
  }

  /** The source sent FIN: pass it on once everything before it has been delivered. */
  end(): void {
    this.ending = true;
    this.pump();
  }

  attach(dest: net.Socket): void {
    this.dest = dest;
    this.pump();
  }

  /** Re-evaluates timers after the rate or mode changed. */
  kick(): void {
    this.clearTimer();
    this.pump();
  }

  /** Throws away everything queued (it is lost on the wire); returns the byte count. */
  discard(): number {
    this.clearTimer();
    const lost = this.queuedBytes;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.host.queued(-lost);
    this.resumeSource();
    return lost;
  }

  pump(): void {
    const dest = this.dest;
    if (this.timer !== null || this.awaitingDrain || dest === null || this.host.mode() !== 'up') return;
    if (dest.destroyed) return;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const now = performance.now();
      if (head.dueAt > now) {
        this.schedule(head.dueAt - now);
        break;
      }
      let n = head.chunk.length;
      const bucket = this.host.bucket(this.direction);
      if (bucket !== null) {
        const { grant, waitMs } = bucket.take(n, now);
        if (grant === 0) {
          this.schedule(waitMs);
          break;
        }
        n = grant;
      }
      const slice = head.chunk.subarray(0, n);
      if (n === head.chunk.length) this.queue.shift();
      else head.chunk = head.chunk.subarray(n);
      this.queuedBytes -= n;
      this.host.queued(-n);
      this.host.delivered(this.direction, n);
      if (!dest.write(slice)) {
        this.awaitingDrain = true;
        dest.once('drain', () => {
          this.awaitingDrain = false;
          this.pump();
        });
        break;
      }
    }
    if (this.queuedBytes <= this.host.maxBuffered / 2) this.resumeSource();
    if (this.queue.length === 0 && this.ending && !this.ended) {
      this.ended = true;
      dest.end();
    }
  }

  clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private resumeSource(): void {
    if (this.pausedSource) {
      this.pausedSource = false;
      this.source?.resume();
    }
  }

  private schedule(ms: number): void {
    // Rounded up so a timer never fires before the chunk is due; pump() re-checks anyway.
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.pump();
      },
      Math.max(1, Math.ceil(ms)),
    );
  }
}

interface ConnectionHost extends PipeHost {
  target: LinkTarget;
  dropped(bytes: number): void;
  removed(conn: LinkConnection): void;
}

class LinkConnection {
  readonly up: Pipe;
  readonly down: Pipe;
  upstream: net.Socket | null = null;
  /** Data, FIN or RST was lost in a black hole: the byte stream can no longer be trusted. */
  gap = false;
  private closed = false;
  private clientClosed = false;
  private upstreamClosed = false;

  constructor(
    readonly client: net.Socket,
    private readonly host: ConnectionHost,
  ) {
    this.up = new Pipe('upstream', host);
    this.down = new Pipe('downstream', host);
    this.up.source = client;
    this.down.attach(client);
    client.setNoDelay(true);
    client.on('data', (chunk: Buffer) => this.onData(this.up, chunk));
    client.on('end', () => this.onEnd(this.up));
    client.on('error', () => {
      // Reported through 'close' (hadError); an unhandled 'error' would crash the test run.
    });
    client.on('close', (hadError) => this.onClose('client', hadError));
  }

  get bufferedBytes(): number {
    return this.up.bufferedBytes + this.down.bufferedBytes;
  }

  connectUpstream(): void {
    if (this.closed || this.upstream !== null) return;
    const upstream = net.connect({ host: this.host.target.host, port: this.host.target.port, allowHalfOpen: true });
    this.upstream = upstream;
    this.down.source = upstream;
    upstream.setNoDelay(true);
    upstream.on('connect', () => this.up.attach(upstream));
    upstream.on('data', (chunk: Buffer) => this.onData(this.down, chunk));
    upstream.on('end', () => this.onEnd(this.down));
    upstream.on('error', () => {
      // Connect failures and resets arrive here first; 'close' resets the client.
    });
    upstream.on('close', (hadError) => this.onClose('upstream', hadError));
  }

  /**
   * Drops queued data and notes whether the stream now has a gap. Bytes already handed to a
   * socket's write buffer count as past the hole and still arrive.
   */
  enterBlackhole(): void {
    const lost = this.up.discard() + this.down.discard();
    if (lost > 0) {
      this.gap = true;
      this.host.dropped(lost);
    }
  }

  /** Called with the link already up again. */
  leaveBlackhole(): void {
    if (this.closed) return;
    if (this.gap || this.clientClosed || this.upstreamClosed) {
      this.reset();
      return;
    }
    if (this.upstream === null) this.connectUpstream();
    this.up.kick();
    this.down.kick();
  }

  kick(): void {
    this.up.kick();
    this.down.kick();
  }

  reset(): void {
    if (this.closed) return;
    this.closed = true;
    const lost = this.up.discard() + this.down.discard();
    if (lost > 0) this.host.dropped(lost);
    hardReset(this.client);
    if (this.upstream !== null) hardReset(this.upstream);
    this.host.removed(this);
  }

  private onData(pipe: Pipe, chunk: Buffer): void {
    if (this.closed) return;
    const towardsClosed = pipe === this.up ? this.upstreamClosed : this.clientClosed;
    if (towardsClosed && this.host.mode() === 'up') {
      // The far socket is gone; its kernel would answer this data with an RST.
      this.host.dropped(chunk.length);
      this.reset();
      return;
    }
    if (!pipe.push(chunk)) {
      this.host.dropped(chunk.length);
      this.gap = true;
    }
  }

  private onEnd(pipe: Pipe): void {
    if (this.closed) return;
    if (this.host.mode() !== 'up') {
      this.gap = true; // the FIN is lost with everything else
      return;
    }
    pipe.end();
  }

  private onClose(side: 'client' | 'upstream', hadError: boolean): void {
    if (side === 'client') this.clientClosed = true;
    else this.upstreamClosed = true;
    if (this.closed) return;
    if (this.clientClosed && (this.upstreamClosed || this.upstream === null)) {
      this.finish();
      return;
    }
    if (this.host.mode() !== 'up') {
      // Nothing crosses a black hole, not even the news that the peer left; restore() resets the survivor.
      this.gap = true;
      return;
    }
    // A graceful close already travelled as FIN through the pipes; the survivor closes once it has flushed.
    if (hadError) this.reset();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    const lost = this.up.discard() + this.down.discard();
    if (lost > 0) this.host.dropped(lost);
    if (this.upstream !== null && !this.upstream.destroyed) this.upstream.destroy();
    if (!this.client.destroyed) this.client.destroy();
    this.host.removed(this);
  }
}

interface FlapRun {
  stopped: boolean;
  timer: NodeJS.Timeout | null;
  wake: (() => void) | null;
  done: Promise<FlapResult> | null;
}

export class LinkSimulator extends EventEmitter<LinkSimulatorEvents> {
  private readonly target: LinkTarget;
  private readonly listenHost: string;
  private readonly listenPort: number;
  private readonly maxBuffered: number;
  private server: net.Server | null = null;
  private boundPort: number | null = null;
  private stopping: Promise<void> | null = null;
  private currentMode: LinkMode = 'up';
  private latency = 0;
  private rate: number | null = null;
  private buckets: Record<LinkDirection, TokenBucket> | null = null;
  private queuedTotal = 0;
  private flapRun: FlapRun | null = null;
  private readonly connections = new Set<LinkConnection>();
  private readonly counters: LinkStats = {
    connectionsAccepted: 0,
    connectionsRefused: 0,
    bytesUpstream: 0,
    bytesDownstream: 0,
    bytesDropped: 0,
    cuts: 0,
    blackholes: 0,
    peakBufferedBytes: 0,
  };
  private readonly host: ConnectionHost;

  constructor(options: LinkSimulatorOptions) {
    super();
    this.target = { ...options.target };
    this.listenHost = options.listenHost ?? '127.0.0.1';
    this.listenPort = options.listenPort ?? 0;
    this.maxBuffered = options.maxBufferedBytesPerDirection ?? DEFAULT_MAX_BUFFERED;
    this.host = {
      target: this.target,
      maxBuffered: this.maxBuffered,
      mode: () => this.currentMode,
      latencyMs: () => this.latency,
      bucket: (direction) => this.buckets?.[direction] ?? null,
      queued: (delta) => {
        this.queuedTotal += delta;
        if (this.queuedTotal > this.counters.peakBufferedBytes) this.counters.peakBufferedBytes = this.queuedTotal;
      },
      delivered: (direction, bytes) => {
        if (direction === 'upstream') this.counters.bytesUpstream += bytes;
        else this.counters.bytesDownstream += bytes;
      },
      dropped: (bytes) => {
        this.counters.bytesDropped += bytes;
      },
      removed: (conn) => {
        this.connections.delete(conn);
      },
    };
  }

  get mode(): LinkMode {
    return this.currentMode;
  }

  /** A snapshot; read it again after the fact. */
  get stats(): LinkStats {
    return { ...this.counters };
  }

  get port(): number {
    if (this.boundPort === null) throw new Error('LinkSimulator: not started');
    return this.boundPort;
  }

  get latencyMs(): number {
    return this.latency;
  }

  get bandwidth(): number | null {
    return this.rate;
  }

  get activeConnections(): number {
    return this.connections.size;
  }

  /** Bytes currently held by the simulator: delay/rate queues plus socket write buffers. */
  get bufferedBytes(): number {
    let total = 0;
    for (const conn of this.connections) total += conn.bufferedBytes;
    return total;
  }

  /** e.g. `link.url('ws', '/ws/v2/producer/...')`. */
  url(scheme: string, path = ''): string {
    const host = this.listenHost.includes(':') ? `[${this.listenHost}]` : this.listenHost;
    return `${scheme}://${host}:${this.port}${path}`;
  }

  async start(): Promise<number> {
    if (this.stopping !== null) throw new Error('LinkSimulator: cannot start after stop()');
    if (this.boundPort !== null) return this.boundPort;
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, this.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {
      // After listen succeeded, errors only concern single accepts; keep serving.
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('LinkSimulator: unexpected listen address');
    this.boundPort = address.port;
    return address.port;
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  cut(): void {
    if (this.currentMode === 'cut') return;
    const previous = this.currentMode;
    this.currentMode = 'cut';
    this.counters.cuts++;
    for (const conn of [...this.connections]) conn.reset();
    this.emit('mode', 'cut', previous);
  }

  blackhole(): void {
    if (this.currentMode === 'blackhole') return;
    const previous = this.currentMode;
    this.currentMode = 'blackhole';
    this.counters.blackholes++;
    for (const conn of this.connections) conn.enterBlackhole();
    this.emit('mode', 'blackhole', previous);
  }

  restore(): void {
    if (this.currentMode === 'up') return;
    const previous = this.currentMode;
    this.currentMode = 'up';
    if (previous === 'blackhole') {
      for (const conn of [...this.connections]) conn.leaveBlackhole();
    }
    this.emit('mode', 'up', previous);
  }

  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be >= 0 ms, got ${ms}`);
    // Chunks already queued keep their due time: they are already on the wire.
    this.latency = ms;
  }

  setBandwidth(bytesPerSecond: number | null): void {
    if (bytesPerSecond !== null && (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0)) {
      throw new RangeError(`bandwidth must be > 0 bytes/s or null, got ${bytesPerSecond}`);
    }
    this.rate = bytesPerSecond;
    this.buckets =
      bytesPerSecond === null
        ? null
        : { upstream: new TokenBucket(bytesPerSecond), downstream: new TokenBucket(bytesPerSecond) };
    // Pipes waiting on the old rate would otherwise sleep for the old deficit.
    for (const conn of this.connections) conn.kick();
  }

  /** Runs the schedule; resolves once the link is restored at its end (or when stopped early). */
  async flap(schedule: FlapSchedule): Promise<FlapResult> {
    if (this.flapRun !== null) throw new Error('LinkSimulator: already flapping');
    if (this.stopping !== null) throw new Error('LinkSimulator: stopped');
    const plan = planFlap(schedule);
    const run: FlapRun = { stopped: false, timer: null, wake: null, done: null };
    const sleep = (ms: number): Promise<boolean> =>
      new Promise((resolve) => {
        if (run.stopped) {
          resolve(false);
          return;
        }
        run.wake = () => {
          if (run.timer !== null) clearTimeout(run.timer);
          run.timer = null;
          run.wake = null;
          resolve(false);
        };
        run.timer = setTimeout(() => {
          run.timer = null;
          run.wake = null;
          resolve(true);
        }, ms);
      });
    const execute = async (): Promise<FlapResult> => {
      const startedAt = performance.now();
      let downPeriodsRun = 0;
      let completed = true;
      for (const period of plan.periods) {
        if (!(await sleep(period.upMs))) {
          completed = false;
          break;
        }
        if (plan.mode === 'cut') this.cut();
        else this.blackhole();
        downPeriodsRun++;
        if (!(await sleep(period.downMs))) {
          completed = false;
          break;
        }
        this.restore();
      }
      this.restore();
      this.flapRun = null;
      return { ...plan, completed, downPeriodsRun, elapsedMs: performance.now() - startedAt };
    };
    this.flapRun = run;
    run.done = execute();
    return await run.done;
  }

  /** Ends a running flap schedule and restores the link; resolves when that is done. */
  async stopFlapping(): Promise<void> {
    const run = this.flapRun;
    if (run === null) return;
    run.stopped = true;
    run.wake?.();
    if (run.done !== null) await run.done;
  }

  private onConnection(socket: net.Socket): void {
    socket.on('error', () => {
      // Reset sockets report ECONNRESET here; nothing to do.
    });
    if (this.stopping !== null) {
      hardReset(socket);
      return;
    }
    if (this.currentMode === 'cut') {
      this.counters.connectionsRefused++;
      hardReset(socket);
      return;
    }
    this.counters.connectionsAccepted++;
    const conn = new LinkConnection(socket, this.host);
    this.connections.add(conn);
    if (this.currentMode === 'up') conn.connectUpstream();
  }

  private async shutdown(): Promise<void> {
    await this.stopFlapping();
    for (const conn of [...this.connections]) conn.reset();
    const server = this.server;
    this.server = null;
    if (server !== null) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
