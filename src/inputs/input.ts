/**
 * What every input (one folder per transport under src/inputs/) implements, and what it gets.
 * Constructors store only; start()/stop() do I/O; stop() is safe to call twice.
 */
import type { Quarantine } from '../../firmware-adapters/index.ts';
import type { Committed, SourceMark } from '../buffer/index.ts';
import type { Logger } from '../common/log.ts';
import type { DecodeReport } from './decoding.ts';
import type { IncomingRecord } from '../record/record.ts';

/** Where inputs put records: resolves only once the records are durable (then the source may be acked). */
export interface RecordSink {
  append(record: IncomingRecord): Promise<Committed>;
  /**
   * Records that stand or fall together (one frame's readings, one request): one transaction or
   * none, with the source's de-duplication mark in the same transaction when given.
   */
  appendBatch(records: IncomingRecord[], options?: { mark?: SourceMark }): Promise<Committed[]>;
  /** The marks a source committed (e.g. the last payload fingerprint per MQTT topic). */
  sourceMarks(source: string): ReadonlyMap<string, string>;
}

export type InputState = 'stopped' | 'starting' | 'running' | 'reconnecting' | 'failed';

export interface InputStatus {
  name: string;
  type: string;
  state: InputState;
  since: number;
  lastError: string | null;
  received: number;
  committed: number;
  rejected: number;
}

export interface Input {
  readonly name: string;
  readonly type: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): InputStatus;
}

export interface InputContext {
  sink: RecordSink;
  logger: Logger;
  siteId: string;
  /** Bad frames, kept (bounded) for diagnosis. */
  quarantine: Quarantine;
  /** Counts decode errors, reading flags and input-level drops (metrics, status; totals survive a reload). */
  report: InputReport;
  /** Whether the host's wall clock is synchronised now (receipt times can be trusted). */
  clockTrusted: () => boolean;
  /** A directory for an input's own durable state (the UDP journal); absent: the input keeps none. */
  stateDir?: string;
}

/**
 * What an input reports besides its records. Each call is one event, counted by the daemon under
 * the input's name: `dropped` for everything received and deliberately not committed (the
 * reasons are stable codes: `oversize`, `unknown_sender`, `kernel_socket_buffer`,
 * `unmatched_topic`), shown in status and in `skyhaul_input_dropped_total{input,reason}`.
 */
export interface InputReport extends DecodeReport {
  dropped(reason: InputDropReason, count?: number): void;
}

export type InputDropReason = 'oversize' | 'unknown_sender' | 'kernel_socket_buffer' | 'unmatched_topic';

/** Shared bookkeeping for InputStatus, so each input only reports events. */
export class InputStatusTracker {
  private readonly current: InputStatus;

  constructor(name: string, type: string) {
    this.current = { name, type, state: 'stopped', since: Date.now(), lastError: null, received: 0, committed: 0, rejected: 0 };
  }

  setState(state: InputState, error?: string): void {
    if (state !== this.current.state) {
      this.current.state = state;
      this.current.since = Date.now();
    }
    if (error !== undefined) this.current.lastError = error;
  }

  received(n = 1): void {
    this.current.received += n;
  }

  committed(n = 1): void {
    this.current.committed += n;
  }

  rejected(n = 1): void {
    this.current.rejected += n;
  }

  snapshot(): InputStatus {
    return { ...this.current };
  }
}
