/**
 * The path every framed input shares: bytes -> framer -> safeDecode -> records -> buffer.
 * Bad frames (framing or decode errors) are counted per adapter and code and kept in the
 * daemon's bounded quarantine; nothing an instrument sends can throw out of here (invariant 6).
 */
import {
  createFramer,
  safeDecode,
  toIncomingRecord,
  type FirmwareAdapter,
  type Framer,
  type Quarantine,
} from '../../firmware-adapters/index.ts';
import type { RecordSink } from './input.ts';

export interface DecodeReport {
  decodeError(instrument: string, adapter: string, code: string): void;
}

export type FrameOutcome =
  | { kind: 'committed'; records: number }
  | { kind: 'skipped'; code: string }
  | { kind: 'bad'; code: string; message: string }
  | { kind: 'failed'; error: Error };

export class FramePipeline {
  private readonly framer: Framer;

  constructor(
    readonly instrument: string,
    readonly adapter: FirmwareAdapter,
    private readonly sink: RecordSink,
    private readonly quarantine: Quarantine,
    private readonly report: DecodeReport,
  ) {
    this.framer = createFramer(adapter.framing);
  }

  /**
   * Feeds raw bytes; returns one promise per complete frame, each resolving once its records are
   * durably committed (so the caller may acknowledge the instrument or broker only then).
   */
  push(chunk: Buffer, receivedAt = Date.now()): Array<Promise<FrameOutcome>> {
    const outcomes: Array<Promise<FrameOutcome>> = [];
    for (const event of this.framer.push(chunk)) {
      if (event.kind === 'error') {
        this.bad(event.code, event.message, event.raw, receivedAt, event.length);
        outcomes.push(Promise.resolve({ kind: 'bad', code: event.code, message: event.message }));
      } else outcomes.push(this.frame(event.frame, receivedAt));
    }
    return outcomes;
  }

  /** A frame already delimited by its transport (a datagram, an MQTT message). */
  frame(frame: Buffer, receivedAt = Date.now()): Promise<FrameOutcome> {
    const result = safeDecode(this.adapter, frame, { receivedAt });
    if (!result.ok) {
      this.bad(result.error.code, result.error.message, frame, receivedAt);
      return Promise.resolve({ kind: 'bad', code: result.error.code, message: result.error.message });
    }
    if (result.readings.length === 0) return Promise.resolve({ kind: 'skipped', code: result.skipped?.code ?? 'ADAPTER_CONTROL' });
    // One frame's readings commit together or not at all (a refused frame is redelivered or
    // NAKed whole, and must not find half of itself already committed under other sequences).
    return this.sink.appendBatch(result.readings.map((reading) => toIncomingRecord(this.instrument, this.adapter, reading, { receivedAt }))).then(
      (committed): FrameOutcome => ({ kind: 'committed', records: committed.length }),
      (error: Error): FrameOutcome => ({ kind: 'failed', error }),
    );
  }

  /** After a reconnect: a partial frame from before is not completed by new bytes. */
  reset(): void {
    this.framer.reset();
  }

  private bad(code: string, message: string, raw: Buffer, at: number, length?: number): void {
    this.quarantine.add({ at, adapter: this.adapter.name, input: this.instrument, code, message, raw, ...(length === undefined ? {} : { rawLength: length }) });
    this.report.decodeError(this.instrument, this.adapter.name, code);
  }
}
