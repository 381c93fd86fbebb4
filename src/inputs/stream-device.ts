/**
 * What the serial and TCP inputs share: a byte-stream device that comes and goes (USB adapters
 * get unplugged, UPS daemons restart), reopened with backoff; bytes through the frame pipeline;
 * polling when the adapter asks for it; host-to-instrument ACK/NAK after commit when the protocol
 * has them (invariant 1: the instrument hears "got it" only once the record is durable).
 */
import type { FirmwareAdapter, Quarantine } from '../../firmware-adapters/index.ts';
import { Backoff } from '../common/backoff.ts';
import { FramePipeline, type DecodeReport } from './decoding.ts';
import type { Input, InputContext, InputStatus } from './input.ts';
import { InputStatusTracker } from './input.ts';
import { Poller, type PollerStats } from './polling.ts';

export interface DeviceConnection {
  write(data: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface DeviceCallbacks {
  onData(chunk: Buffer): void;
  onClose(error: Error | null): void;
}

export abstract class StreamDeviceInput implements Input {
  abstract readonly type: string;
  readonly name: string;
  protected readonly tracker: InputStatusTracker;
  private readonly pipeline: FramePipeline;
  private connection: DeviceConnection | null = null;
  private poller: Poller | null = null;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | null = null;
  private running = false;
  private connects = 0;
  private pollStats: PollerStats | null = null;

  constructor(
    name: string,
    private readonly adapter: FirmwareAdapter,
    protected readonly context: InputContext & { quarantine: Quarantine; report: DecodeReport },
    backoff: { initialMs: number; maxMs: number },
  ) {
    this.name = name;
    this.tracker = new InputStatusTracker(name, 'device');
    this.pipeline = new FramePipeline(name, adapter, context.sink, context.quarantine, context.report, { clockTrusted: context.clockTrusted });
    this.backoff = new Backoff(backoff);
  }

  /** Opens the device; resolves once open, rejects when it cannot be opened now. */
  protected abstract open(callbacks: DeviceCallbacks): Promise<DeviceConnection>;
  protected abstract describe(): string;

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.tracker.setState('starting');
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (!this.running) return;
    try {
      const connection = await this.open({
        onData: (chunk) => this.onData(chunk),
        onClose: (error) => this.onClosed(connection, error),
      });
      if (!this.running) {
        await connection.close();
        return;
      }
      this.connection = connection;
      this.connects += 1;
      this.backoff.reset();
      this.pipeline.reset();
      this.tracker.setState('running');
      this.context.logger.info({ device: this.describe() }, 'instrument connected');
      if (this.adapter.polling !== undefined) {
        this.poller = new Poller(this.adapter.polling, (data) => this.write(data));
        this.pollStats = this.poller.stats;
        this.poller.start();
      }
    } catch (error) {
      this.scheduleReconnect((error as Error).message);
    }
  }

  private write(data: Buffer): Promise<void> {
    return this.connection === null ? Promise.reject(new Error('not connected')) : this.connection.write(data);
  }

  private onData(chunk: Buffer): void {
    this.poller?.onBytes(chunk);
    const outcomes = this.pipeline.push(chunk);
    const reply = this.adapter.polling?.reply;
    for (const outcome of outcomes) {
      this.tracker.received();
      this.poller?.onFrame();
      void outcome.then((o) => {
        if (o.kind === 'committed') {
          this.tracker.committed(o.records);
          if (reply !== undefined) void this.write(reply.ack).catch(() => {});
        } else if (o.kind === 'bad' || o.kind === 'failed') {
          this.tracker.rejected();
          if (reply !== undefined) void this.write(reply.nak).catch(() => {});
        }
      });
    }
  }

  private onClosed(connection: DeviceConnection, error: Error | null): void {
    if (this.connection !== connection) return;
    this.connection = null;
    this.poller?.stop();
    this.poller = null;
    if (!this.running) return;
    this.scheduleReconnect(error?.message ?? 'device closed');
  }

  private scheduleReconnect(reason: string): void {
    if (!this.running) return;
    const delay = this.backoff.next();
    this.tracker.setState('reconnecting', reason);
    this.context.logger.warn({ device: this.describe(), err: reason, retryInMs: delay }, 'instrument unavailable; retrying');
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.poller?.stop();
    const connection = this.connection;
    this.connection = null;
    if (connection !== null) await connection.close().catch(() => {});
    this.tracker.setState('stopped');
  }

  status(): InputStatus & { type: string; device: string; connects: number; polling: PollerStats | null } {
    return { ...this.tracker.snapshot(), type: this.type, device: this.describe(), connects: this.connects, polling: this.pollStats === null ? null : { ...this.pollStats } };
  }
}
