/**
 * UDP input: instruments that fire datagrams (weather stations, lightning detectors, custom
 * DAQs). One datagram is one frame (or, for adapters with line framing, a run of lines).
 *
 * UDP has no acknowledgement and no back-pressure: the kernel drops what the socket buffer cannot
 * hold while the process is busy (a group commit, a GC pause). The receive buffer is therefore
 * set from config (default 16 MiB; the kernel's 208 KiB default overflows from ~20k datagrams/s),
 * and drops are counted: by size here, and by the kernel from /proc/net/udp (this socket) and
 * /proc/net/snmp (RcvbufErrors, host-wide). Oversize datagrams, unknown senders and this socket's
 * kernel drops are reported as input drops (`skyhaul_input_dropped_total`).
 *
 * With line framing, each sender has its own framer: a partial line from one sender is never
 * completed by another's bytes. Framers of senders silent for a while are let go (bounded).
 *
 * Datagrams already read survive a crash of the process: each is journaled (./journal.ts) before
 * it is decoded, its journal position commits with its records, and start() replays what was
 * journaled after the committed position before the socket is bound. Needs the context's
 * `stateDir`; `journal: false` turns it off.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { FirmwareAdapter, Quarantine } from '../../../firmware-adapters/index.ts';
import { FramePipeline, type DecodeReport } from '../decoding.ts';
import type { Input, InputContext, InputStatus } from '../input.ts';
import { InputStatusTracker } from '../input.ts';
import { UdpJournal } from './journal.ts';

export interface UdpInputConfig {
  name: string;
  bind: string;
  port: number;
  maxDatagramBytes: number;
  receiveBufferBytes: number;
  /** Sender address (ip or ip:port) -> instrument name; unmatched senders use `name`. */
  senders: Record<string, string>;
  /** Drop datagrams from senders not listed (when `senders` is non-empty). */
  onlyListedSenders: boolean;
  /** Journal datagrams before decoding so a process crash loses none (default true; needs a state dir). */
  journal?: boolean;
}

export interface UdpDropCounters {
  oversize: number;
  unknownSender: number;
  /** This socket's kernel drop counter (/proc/net/udp `drops`) since start. */
  kernelSocket: number;
  /** Host-wide UDP RcvbufErrors (/proc/net/snmp) since start. */
  kernelHostRcvbufErrors: number;
}

function readHostRcvbufErrors(): number | null {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const [header, values] = lines;
    if (header === undefined || values === undefined) return null;
    const index = header.split(/\s+/).indexOf('RcvbufErrors');
    return index < 0 ? null : Number(values.split(/\s+/)[index]);
  } catch {
    return null;
  }
}

function readSocketDrops(port: number): number | null {
  try {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
      for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[1]?.endsWith(`:${hex}`)) return Number(cols[cols.length - 1]);
      }
    }
  } catch {
    // not Linux
  }
  return null;
}

/** Per-sender framers kept at most; beyond it, the longest-idle one is let go. */
const MAX_SENDER_PIPELINES = 1024;
const KERNEL_DROP_POLL_MS = 1000;
/**
 * Datagrams journaled in one write at most. libuv reads up to 32 datagrams per readiness event
 * (uv__udp_recvmsg), so a busy turn queues a few hundred; the cap bounds what sits unjournaled.
 */
const BURST_DATAGRAMS = 256;

export class UdpInput implements Input {
  readonly type = 'udp';
  readonly name: string;
  private readonly tracker: InputStatusTracker;
  private socket: Socket | null = null;
  /** By instrument (datagram framing) or by instrument and sender (stream framing); Map order = least recently used first. */
  private readonly pipelines = new Map<string, FramePipeline>();
  private readonly drops: UdpDropCounters = { oversize: 0, unknownSender: 0, kernelSocket: 0, kernelHostRcvbufErrors: 0 };
  private reportedKernelDrops = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private baseline = { socket: 0, host: 0 };
  private boundPort = 0;
  private effectiveReceiveBuffer = 0;
  private journal: UdpJournal | null = null;
  /** Journal positions of datagrams in flight, in order; `settled` advances over the done prefix. */
  private unsettled: Array<{ end: number; done: boolean }> = [];
  /** Index of the first entry of `unsettled` not yet settled (the done prefix is cut in chunks, not by shift()). */
  private unsettledHead = 0;
  private settled = 0;
  /** Datagrams replayed from the journal at the last start. */
  private replayed = 0;
  /** Datagrams read in this turn of the event loop, not yet journaled (see onMessage). */
  private burst: Array<{ datagram: Buffer; address: string; port: number; receivedAt: number; instrument: string }> = [];
  private burstImmediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly config: UdpInputConfig,
    private readonly adapter: FirmwareAdapter,
    private readonly context: InputContext & { quarantine: Quarantine; report: DecodeReport },
  ) {
    this.name = config.name;
    this.tracker = new InputStatusTracker(config.name, this.type);
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.socket !== null) return;
    this.tracker.setState('starting');
    this.replayJournal();
    const socket = createSocket({ type: this.config.bind.includes(':') ? 'udp6' : 'udp4', recvBufferSize: this.config.receiveBufferBytes });
    socket.on('message', (message, remote) => this.onMessage(message, remote));
    socket.on('error', (error) => {
      this.tracker.setState('failed', error.message);
      this.context.logger.error({ err: error.message }, 'udp socket error');
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.config.port, this.config.bind, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.socket = socket;
    this.boundPort = socket.address().port;
    // The kernel caps the request at net.core.rmem_max (and reports double the usable size).
    this.effectiveReceiveBuffer = socket.getRecvBufferSize();
    if (this.effectiveReceiveBuffer < this.config.receiveBufferBytes) {
      this.context.logger.warn(
        { requested: this.config.receiveBufferBytes, effective: this.effectiveReceiveBuffer },
        'udp receive buffer capped by the kernel (raise net.core.rmem_max)',
      );
    }
    this.baseline = { socket: readSocketDrops(this.boundPort) ?? 0, host: readHostRcvbufErrors() ?? 0 };
    this.reportedKernelDrops = 0;
    this.pollTimer = setInterval(() => {
      this.reportKernelDrops();
      this.journal?.retire(this.settled);
    }, KERNEL_DROP_POLL_MS);
    this.pollTimer.unref();
    this.tracker.setState('running');
  }

  /** This socket's kernel drops since the last poll become reported input drops. */
  private reportKernelDrops(): void {
    const socket = this.dropCounters().kernelSocket;
    if (socket > this.reportedKernelDrops) {
      this.context.report.dropped('kernel_socket_buffer', socket - this.reportedKernelDrops);
      this.reportedKernelDrops = socket;
    }
  }

  private instrumentFor(remote: { address: string; port: number }): string | null {
    const senders = this.config.senders;
    const named = senders[`${remote.address}:${remote.port}`] ?? senders[remote.address];
    if (named !== undefined) return named;
    if (this.config.onlyListedSenders && Object.keys(senders).length > 0) return null;
    return this.config.name;
  }

  private get journalSource(): string {
    return `udp:${this.name}`;
  }

  /** Opens the journal and feeds what was read but not committed before the last stop or crash. */
  private replayJournal(): void {
    if (this.config.journal === false || this.context.stateDir === undefined) return;
    const journal = new UdpJournal(this.context.stateDir, this.name);
    const mark = Number(this.context.sink.sourceMarks(this.journalSource).get('journal') ?? 0);
    this.settled = Number.isSafeInteger(mark) && mark > 0 ? mark : 0;
    const entries = journal.open(this.settled);
    this.journal = journal;
    this.replayed = entries.length;
    if (entries.length > 0) this.context.logger.info({ datagrams: entries.length, from: this.settled }, 'udp: replaying datagrams journaled before the last stop');
    for (const e of entries) {
      this.tracker.received();
      const instrument = this.instrumentFor(e);
      if (instrument !== null) this.decode(e.datagram, instrument, e, e.receivedAt, e.end);
    }
  }

  /**
   * Checks a datagram from the socket and queues it: the queue (what one turn of the event loop
   * read) is journaled with one write and then decoded, at the end of the turn or when it holds
   * BURST_DATAGRAMS. Queued, a datagram is in memory only for the microseconds until that write.
   */
  private onMessage(message: Buffer, remote: RemoteInfo): void {
    this.tracker.received();
    const receivedAt = Date.now();
    if (message.length > this.config.maxDatagramBytes) {
      this.drops.oversize += 1;
      this.context.report.dropped('oversize');
      this.context.quarantine.add({ at: receivedAt, adapter: this.adapter.name, input: this.name, code: 'UDP_OVERSIZE', message: `datagram of ${message.length} bytes from ${remote.address}:${remote.port} exceeds maxDatagramBytes ${this.config.maxDatagramBytes}`, raw: message });
      return;
    }
    const instrument = this.instrumentFor(remote);
    if (instrument === null) {
      this.drops.unknownSender += 1;
      this.context.report.dropped('unknown_sender');
      return;
    }
    this.burst.push({ datagram: message, address: remote.address, port: remote.port, receivedAt, instrument });
    if (this.burst.length >= BURST_DATAGRAMS) this.flushBurst();
    else if (this.burstImmediate === null) this.burstImmediate = setImmediate(() => this.flushBurst());
  }

  /** Journals the queued datagrams with one write, then decodes and hands them to the buffer. */
  private flushBurst(): void {
    if (this.burstImmediate !== null) clearImmediate(this.burstImmediate);
    this.burstImmediate = null;
    const burst = this.burst;
    if (burst.length === 0) return;
    this.burst = [];
    const ends = this.journal?.appendMany(burst) ?? null;
    burst.forEach((d, i) => this.decode(d.datagram, d.instrument, d, d.receivedAt, ends?.[i] ?? null));
  }

  private decode(message: Buffer, instrument: string, remote: { address: string; port: number }, receivedAt: number, end: number | null): void {
    const mark = end === null ? undefined : { source: this.journalSource, key: 'journal', fingerprint: String(end) };
    const pipeline = this.pipelineFor(instrument, remote);
    const outcomes = this.adapter.framing.kind === 'datagram' ? [pipeline.frame(message, receivedAt, mark)] : pipeline.push(message, receivedAt, mark);
    const entry = end === null ? null : { end, done: false };
    if (entry !== null) this.unsettled.push(entry);
    let open = outcomes.length;
    if (open === 0 && entry !== null) this.settle(entry); // a partial frame: nothing of it to commit yet
    for (const outcome of outcomes) {
      void outcome.then((o) => {
        if (o.kind === 'committed') this.tracker.committed(o.records);
        else if (o.kind === 'failed' || o.kind === 'bad') this.tracker.rejected();
        // A failed commit is not settled: the datagram stays in the journal for the next start.
        if (--open === 0 && entry !== null && o.kind !== 'failed') this.settle(entry);
      });
    }
  }

  /** Marks a datagram done and advances the settled position over the done prefix. */
  private settle(entry: { end: number; done: boolean }): void {
    entry.done = true;
    // shift() per entry is O(n) on a long array, so a backlog of thousands (commits held back by a
    // slow disk) made this quadratic: 30 % of the main thread in a profile with a 4,096-datagram
    // backlog. Advance an index and cut the done prefix in chunks.
    const list = this.unsettled;
    let head = this.unsettledHead;
    while (head < list.length && (list[head] as { done: boolean }).done) this.settled = (list[head++] as { end: number }).end;
    if (head === list.length) {
      list.length = 0;
      head = 0;
    } else if (head >= 1024 && head * 2 >= list.length) {
      this.unsettled = list.slice(head);
      head = 0;
    }
    this.unsettledHead = head;
  }

  private pipelineFor(instrument: string, remote: { address: string; port: number }): FramePipeline {
    // A datagram is a whole frame: only stream framing keeps state between datagrams.
    const perSender = this.adapter.framing.kind !== 'datagram';
    const key = perSender ? `${instrument}\u0000${remote.address}:${remote.port}` : instrument;
    let pipeline = this.pipelines.get(key);
    if (pipeline === undefined) {
      if (this.pipelines.size >= MAX_SENDER_PIPELINES) this.pipelines.delete(this.pipelines.keys().next().value as string);
      pipeline = new FramePipeline(instrument, this.adapter, this.context.sink, this.context.quarantine, this.context.report, {
        clockTrusted: this.context.clockTrusted,
      });
      this.pipelines.set(key, pipeline);
    } else if (perSender) {
      // Most recently used last, so the eviction above lets go of the longest-silent sender.
      this.pipelines.delete(key);
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  dropCounters(): UdpDropCounters {
    const socketDrops = readSocketDrops(this.boundPort);
    const host = readHostRcvbufErrors();
    if (socketDrops !== null) this.drops.kernelSocket = socketDrops - this.baseline.socket;
    if (host !== null) this.drops.kernelHostRcvbufErrors = host - this.baseline.host;
    return { ...this.drops };
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
    if (socket !== null) {
      this.reportKernelDrops();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
    this.flushBurst();
    // Everything settled: no segment is left; otherwise the rest is replayed at the next start.
    this.journal?.close(this.unsettledHead === this.unsettled.length ? Number.MAX_SAFE_INTEGER : this.settled);
    this.journal = null;
    this.tracker.setState('stopped');
  }

  status(): InputStatus & { port: number; receiveBufferBytes: number; drops: UdpDropCounters; journal: { enabled: boolean; replayed: number; settledUpTo: number; notJournaled: number } } {
    return {
      ...this.tracker.snapshot(),
      port: this.boundPort,
      receiveBufferBytes: this.effectiveReceiveBuffer,
      drops: this.dropCounters(),
      journal: { enabled: this.journal !== null, replayed: this.replayed, settledUpTo: this.settled, notJournaled: this.journal?.journalOverflow ?? 0 },
    };
  }
}
