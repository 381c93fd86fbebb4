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
import type { SourceMark } from '../buffer/index.ts';
import { isSkyhaulError } from '../common/errors.ts';
import type { RecordSink } from './input.ts';

/** What the pipeline tells the daemon (one call each: counted in status and metrics, never reset by a reload). */
export interface DecodeReport {
  decodeError(instrument: string, adapter: string, code: string): void;
  /** A reading carried one of the adapters' READING_FLAGS (a corrected time, an escaped text value). */
  readingFlag(instrument: string, adapter: string, flag: string): void;
}

export type FrameOutcome =
  | { kind: 'committed'; records: number }
  | { kind: 'skipped'; code: string }
  | { kind: 'bad'; code: string; message: string }
  | { kind: 'failed'; error: Error };

export interface PipelineOptions {
  /** Whether the host clock (receipt times) is synchronised now; decoders correct device times only toward a trusted one. */
  clockTrusted?: () => boolean;
}

export class FramePipeline {
  private readonly framer: Framer;

  constructor(
    readonly instrument: string,
    readonly adapter: FirmwareAdapter,
    private readonly sink: RecordSink,
    private readonly quarantine: Quarantine,
    private readonly report: DecodeReport,
    private readonly options: PipelineOptions = {},
  ) {
    this.framer = createFramer(adapter.framing);
  }

  /**
   * Feeds raw bytes; returns one promise per complete frame, each resolving once its records are
   * durably committed (so the caller may acknowledge the instrument or broker only then). `mark`
   * commits with the last frame the chunk completes (see the buffer's "Source marks").
   */
  push(chunk: Buffer, receivedAt = Date.now(), mark?: SourceMark): Array<Promise<FrameOutcome>> {
    const outcomes: Array<Promise<FrameOutcome>> = [];
    const events = this.framer.push(chunk);
    // The chunk's mark (a journal position) commits with the last frame it completes.
    let last = -1;
    events.forEach((event, i) => {
      if (event.kind === 'frame') last = i;
    });
    events.forEach((event, i) => {
      if (event.kind === 'error') {
        this.bad(event.code, event.message, event.raw, receivedAt, event.length);
        outcomes.push(Promise.resolve({ kind: 'bad', code: event.code, message: event.message }));
      } else outcomes.push(this.frame(event.frame, receivedAt, i === last ? mark : undefined));
    });
    return outcomes;
  }

  /**
   * A frame already delimited by its transport (a datagram, an MQTT message). Its readings commit
   * in one transaction or not at all, together with `mark` when given (a source's de-duplication
   * key, see the buffer's "Source marks"). A record the forwarding transport could not carry is a
   * bad frame (RECORD_TOO_LARGE): quarantined and acknowledged, so it is not redelivered forever.
   */
  frame(frame: Buffer, receivedAt = Date.now(), mark?: SourceMark): Promise<FrameOutcome> {
    const trusted = this.options.clockTrusted?.();
    const result = safeDecode(this.adapter, frame, { receivedAt, ...(trusted === undefined ? {} : { receivedAtTrusted: trusted }) });
    if (!result.ok) {
      this.bad(result.error.code, result.error.message, frame, receivedAt);
      return Promise.resolve({ kind: 'bad', code: result.error.code, message: result.error.message });
    }
    if (result.readings.length === 0) return Promise.resolve({ kind: 'skipped', code: result.skipped?.code ?? 'ADAPTER_CONTROL' });
    for (const reading of result.readings) for (const flag of reading.flags ?? []) this.report.readingFlag(this.instrument, this.adapter.name, flag);
    // One frame's readings commit together or not at all (a refused frame is redelivered or
    // NAKed whole, and must not find half of itself already committed under other sequences).
    const records = result.readings.map((reading) => toIncomingRecord(this.instrument, this.adapter, reading, { receivedAt }));
    return this.sink.appendBatch(records, mark === undefined ? {} : { mark }).then(
      (committed): FrameOutcome => ({ kind: 'committed', records: committed.length }),
      (error: Error): FrameOutcome => {
        if (!isSkyhaulError(error, 'SKY_ERR_RECORD_TOO_LARGE')) return { kind: 'failed', error };
        this.bad('RECORD_TOO_LARGE', error.message, frame, receivedAt);
        return { kind: 'bad', code: 'RECORD_TOO_LARGE', message: error.message };
      },
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
