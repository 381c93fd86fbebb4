/**
 * Framers: pure, incremental implementations of each framing kind an adapter declares
 * (see `Framing` in adapter.ts). An input pushes the bytes it reads, in chunks of any size, and
 * gets complete frames and framing errors back, in stream order:
 *
 *   const framer = createFramer(adapter.framing);
 *   for (const event of framer.push(chunk)) event.kind === 'frame' ? decode(event.frame) : quarantine(event);
 *   ... on disconnect: framer.flush() (reports a partial frame), or framer.reset() (drops it).
 *
 * Guarantees (each has a test): no exception for any input; the same frames and errors however
 * the bytes are chunked; memory bounded by the framing's maximum frame length plus the chunk being
 * pushed; time linear in the bytes pushed (rescans after a failed fixed-frame check are bounded by
 * the frame length); nothing is dropped silently: bytes outside frames are reported as garbage
 * (idle bytes and terminators excepted), and an over-long or cut frame is reported when detected
 * (the rest of an over-long frame, up to its end, is dropped with it).
 *
 * Error codes:
 *   FRAMING_OVERLONG   a frame (line, block) grew past its maximum; it is dropped up to its end
 *   FRAMING_GARBAGE    bytes between frames that are not idle bytes (one event per run, or per 4 KiB)
 *   FRAMING_TRUNCATED  a frame was cut short: a new start byte or block began inside it, or flush()
 *   FRAMING_CHECK      a fixed frame failed its adapter-declared check (e.g. CRC); the framer resyncs
 * Each event's `raw` holds at most RAW_LIMIT bytes of the offending data; `length` is the full count.
 */
import type { BlockFraming, DatagramFraming, DelimitedFraming, FixedFraming, Framing, LineFraming } from './adapter.ts';

export type FramingErrorCode = 'FRAMING_OVERLONG' | 'FRAMING_GARBAGE' | 'FRAMING_TRUNCATED' | 'FRAMING_CHECK';

export interface FrameEvent {
  kind: 'frame';
  frame: Buffer;
}

export interface FramingErrorEvent {
  kind: 'error';
  code: FramingErrorCode;
  message: string;
  /** The first RAW_LIMIT bytes of the offending data. */
  raw: Buffer;
  /** How many bytes the error covers. */
  length: number;
}

export type FramerEvent = FrameEvent | FramingErrorEvent;

export interface Framer {
  push(chunk: Buffer): FramerEvent[];
  /** End of stream: a partial frame is reported (a final unterminated line is a frame). State is reset. */
  flush(): FramerEvent[];
  /** Drop any partial frame silently (e.g. after a reconnect). */
  reset(): void;
}

export const RAW_LIMIT = 1024;
/** A run of garbage longer than this is reported in several events, so none waits forever. */
export const GARBAGE_CHUNK = 4096;

export function createFramer(framing: Framing): Framer {
  switch (framing.kind) {
    case 'line':
      return new LineFramer(framing);
    case 'delimited':
      return new DelimitedFramer(framing);
    case 'fixed':
      return new FixedFramer(framing);
    case 'block':
      return new BlockFramer(framing);
    case 'datagram':
      return new DatagramFramer(framing);
  }
}

function errorEvent(code: FramingErrorCode, message: string, raw: Buffer, length = raw.length): FramingErrorEvent {
  return { kind: 'error', code, message, raw: Buffer.from(raw.subarray(0, RAW_LIMIT)), length };
}

/** Collects garbage bytes: counts all, keeps the first RAW_LIMIT. */
class GarbageRun {
  private count = 0;
  private sample: number[] = [];

  add(byte: number, out: FramerEvent[]): void {
    this.count++;
    if (this.sample.length < RAW_LIMIT) this.sample.push(byte);
    if (this.count >= GARBAGE_CHUNK) this.end(out);
  }

  addRange(bytes: Buffer, idle: Set<number>, out: FramerEvent[]): void {
    for (const byte of bytes) if (!idle.has(byte)) this.add(byte, out);
  }

  end(out: FramerEvent[]): void {
    if (this.count === 0) return;
    out.push(errorEvent('FRAMING_GARBAGE', `${this.count} byte(s) outside any frame`, Buffer.from(this.sample), this.count));
    this.count = 0;
    this.sample = [];
  }

  reset(): void {
    this.count = 0;
    this.sample = [];
  }
}

// ---------------------------------------------------------------------------------------------

/** Splits a byte stream into lines; shared by the line and block framers. */
class LineSplitter {
  private readonly separator: number;
  private readonly stripTrailingCr: boolean;
  private readonly stripLeadingLf: boolean;
  private pending: Buffer = Buffer.alloc(0);
  /** Inside an over-long line: drop bytes up to the next separator. */
  private discarding = false;

  constructor(
    terminator: '\r\n' | '\n' | '\r',
    private readonly maxLength: number,
  ) {
    this.separator = terminator === '\r' ? 0x0d : 0x0a;
    this.stripTrailingCr = terminator !== '\r';
    this.stripLeadingLf = terminator === '\r';
  }

  /** Calls `onLine` per complete non-empty line; over-long lines become events in `out`. */
  push(chunk: Buffer, out: FramerEvent[], onLine: (line: Buffer) => void): void {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    while (pos < data.length) {
      const idx = data.indexOf(this.separator, pos);
      if (idx === -1) break;
      let line = data.subarray(pos, idx);
      pos = idx + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      line = this.trim(line);
      if (line.length === 0) continue;
      if (line.length > this.maxLength) {
        out.push(errorEvent('FRAMING_OVERLONG', `line of ${line.length} bytes exceeds ${this.maxLength}`, line));
        continue;
      }
      onLine(Buffer.from(line));
    }
    const rest = data.subarray(pos);
    if (this.discarding) {
      this.pending = Buffer.alloc(0);
    } else if (rest.length > this.maxLength + 1) {
      // +1: a trailing CR may still be waiting for its LF.
      out.push(errorEvent('FRAMING_OVERLONG', `line exceeds ${this.maxLength} bytes without a terminator`, rest));
      this.discarding = true;
      this.pending = Buffer.alloc(0);
    } else {
      this.pending = Buffer.from(rest);
    }
  }

  /** The unterminated rest, trimmed (empty if none or if inside an over-long line). */
  takeRest(): Buffer {
    const rest = this.discarding ? Buffer.alloc(0) : this.trim(this.pending);
    this.reset();
    return rest.length > this.maxLength ? Buffer.alloc(0) : rest;
  }

  reset(): void {
    this.pending = Buffer.alloc(0);
    this.discarding = false;
  }

  private trim(line: Buffer): Buffer {
    let start = 0;
    let end = line.length;
    if (this.stripTrailingCr && end > start && line[end - 1] === 0x0d) end--;
    if (this.stripLeadingLf && end > start && line[start] === 0x0a) start++;
    return line.subarray(start, end);
  }
}

class LineFramer implements Framer {
  private readonly splitter: LineSplitter;

  constructor(framing: LineFraming) {
    this.splitter = new LineSplitter(framing.terminator, framing.maxLength);
  }

  push(chunk: Buffer): FramerEvent[] {
    const out: FramerEvent[] = [];
    this.splitter.push(chunk, out, (frame) => out.push({ kind: 'frame', frame }));
    return out;
  }

  flush(): FramerEvent[] {
    const rest = this.splitter.takeRest();
    return rest.length > 0 ? [{ kind: 'frame', frame: Buffer.from(rest) }] : [];
  }

  reset(): void {
    this.splitter.reset();
  }
}

// ---------------------------------------------------------------------------------------------

class DelimitedFramer implements Framer {
  private readonly idle: Set<number>;
  private readonly frame: Buffer;
  private length = 0;
  /** hunt: between frames; body: after start; trailer: after end; skip: after an over-long frame. */
  private state: 'hunt' | 'body' | 'trailer' | 'skip' = 'hunt';
  private trailerLeft = 0;
  private readonly garbage = new GarbageRun();

  constructor(private readonly framing: DelimitedFraming) {
    this.idle = new Set(framing.idle ?? []);
    this.frame = Buffer.alloc(Math.max(1, framing.maxLength));
  }

  push(chunk: Buffer): FramerEvent[] {
    const out: FramerEvent[] = [];
    const { start, end, trailer, maxLength } = this.framing;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      switch (this.state) {
        case 'hunt':
          if (byte === start) {
            this.garbage.end(out);
            this.begin(byte);
          } else if (!this.idle.has(byte)) {
            this.garbage.add(byte, out);
          }
          break;
        case 'skip':
          if (byte === start) this.begin(byte);
          else if (byte === end) {
            this.trailerLeft = trailer;
            this.state = trailer > 0 ? 'trailer' : 'hunt';
            this.length = -1; // trailer bytes of a dropped frame: consume, do not emit
          }
          break;
        case 'body':
          if (byte === start && start !== end) {
            out.push(errorEvent('FRAMING_TRUNCATED', 'a new frame started before this one ended', this.frame.subarray(0, this.length)));
            this.begin(byte);
          } else if (this.length >= maxLength) {
            out.push(errorEvent('FRAMING_OVERLONG', `frame exceeds ${maxLength} bytes`, this.frame.subarray(0, this.length)));
            this.state = 'skip';
            i--; // let skip mode see this byte (it may be the end)
          } else {
            this.frame[this.length++] = byte;
            if (byte === end) {
              if (trailer === 0) this.emit(out);
              else {
                this.trailerLeft = trailer;
                this.state = 'trailer';
              }
            }
          }
          break;
        case 'trailer':
          if (this.length >= 0) {
            if (this.length >= maxLength) {
              out.push(errorEvent('FRAMING_OVERLONG', `frame exceeds ${maxLength} bytes`, this.frame.subarray(0, this.length)));
              this.length = -1;
            } else {
              this.frame[this.length++] = byte;
            }
          }
          if (--this.trailerLeft === 0) {
            if (this.length >= 0) this.emit(out);
            else this.state = 'hunt';
          }
          break;
      }
    }
    return out;
  }

  flush(): FramerEvent[] {
    const out: FramerEvent[] = [];
    this.garbage.end(out);
    if ((this.state === 'body' || this.state === 'trailer') && this.length > 0) {
      out.push(errorEvent('FRAMING_TRUNCATED', 'stream ended inside a frame', this.frame.subarray(0, this.length)));
    }
    this.reset();
    return out;
  }

  reset(): void {
    this.state = 'hunt';
    this.length = 0;
    this.trailerLeft = 0;
    this.garbage.reset();
  }

  private begin(byte: number): void {
    this.frame[0] = byte;
    this.length = 1;
    this.state = 'body';
  }

  private emit(out: FramerEvent[]): void {
    out.push({ kind: 'frame', frame: Buffer.from(this.frame.subarray(0, this.length)) });
    this.length = 0;
    this.state = 'hunt';
  }
}

// ---------------------------------------------------------------------------------------------

class FixedFramer implements Framer {
  private readonly idle: Set<number>;
  private readonly sync: Buffer | null;
  private pending: Buffer = Buffer.alloc(0);
  /** How many leading bytes of `pending` were already reported (inside a failed frame). */
  private alreadyReported = 0;
  private readonly garbage = new GarbageRun();

  constructor(private readonly framing: FixedFraming) {
    this.idle = new Set(framing.idle ?? []);
    this.sync = framing.sync !== undefined && framing.sync.length > 0 ? Buffer.from(framing.sync) : null;
  }

  push(chunk: Buffer): FramerEvent[] {
    const out: FramerEvent[] = [];
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const { length, check } = this.framing;
    let pos = 0;
    /** Bytes before this index were already reported (inside a failed frame): not garbage again. */
    let reportedUntil = this.alreadyReported;
    const garbageUpTo = (to: number): void => {
      const from = Math.max(pos, reportedUntil);
      if (to > from) this.garbage.addRange(data.subarray(from, to), this.idle, out);
    };
    while (pos < data.length) {
      let at = pos;
      if (this.sync !== null) {
        const found = data.indexOf(this.sync, pos);
        if (found === -1) {
          // Keep a possible partial sync at the end; the rest is garbage.
          const keep = Math.min(this.sync.length - 1, data.length - pos);
          garbageUpTo(data.length - keep);
          pos = data.length - keep;
          break;
        }
        garbageUpTo(found);
        at = found;
        pos = found;
      }
      if (data.length - at < length) break;
      const frame = data.subarray(at, at + length);
      if (check !== undefined && !safeCheck(check, frame)) {
        this.garbage.end(out);
        out.push(errorEvent('FRAMING_CHECK', `${length}-byte frame failed its check`, frame));
        reportedUntil = Math.max(reportedUntil, at + length);
        pos = this.sync !== null ? at + 1 : at + length;
        continue;
      }
      this.garbage.end(out);
      out.push({ kind: 'frame', frame: Buffer.from(frame) });
      pos = at + length;
      reportedUntil = Math.max(reportedUntil, pos);
    }
    // Bytes already reported inside a failed frame are rescanned for a sync, not reported again.
    this.alreadyReported = Math.max(0, reportedUntil - pos);
    this.pending = Buffer.from(data.subarray(pos));
    return out;
  }

  flush(): FramerEvent[] {
    const out: FramerEvent[] = [];
    const skip = this.alreadyReported;
    const at = this.sync === null ? (this.pending.length > skip ? skip : -1) : this.pending.indexOf(this.sync);
    if (at === -1) {
      this.garbage.addRange(this.pending.subarray(skip), this.idle, out);
      this.garbage.end(out);
    } else {
      if (at > skip) this.garbage.addRange(this.pending.subarray(skip, at), this.idle, out);
      this.garbage.end(out);
      out.push(errorEvent('FRAMING_TRUNCATED', 'stream ended inside a frame', this.pending.subarray(at)));
    }
    this.reset();
    return out;
  }

  reset(): void {
    this.pending = Buffer.alloc(0);
    this.alreadyReported = 0;
    this.garbage.reset();
  }
}

function safeCheck(check: (frame: Buffer) => boolean, frame: Buffer): boolean {
  try {
    return check(frame);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------

class BlockFramer implements Framer {
  private readonly splitter: LineSplitter;
  private readonly begin: Buffer;
  private readonly end: Buffer;
  private lines: Buffer[] | null = null;
  private bytes = 0;
  /** After an over-long block: drop lines up to its end marker. */
  private skipping = false;

  constructor(private readonly framing: BlockFraming) {
    this.splitter = new LineSplitter(framing.terminator, framing.maxLength);
    this.begin = Buffer.from(framing.begin, 'latin1');
    this.end = Buffer.from(framing.end, 'latin1');
  }

  push(chunk: Buffer): FramerEvent[] {
    const out: FramerEvent[] = [];
    this.splitter.push(chunk, out, (line) => this.onLine(line, out));
    return out;
  }

  flush(): FramerEvent[] {
    const out: FramerEvent[] = [];
    const rest = this.splitter.takeRest();
    if (rest.length > 0) this.onLine(rest, out);
    if (this.lines !== null) out.push(errorEvent('FRAMING_TRUNCATED', 'stream ended inside a block', this.joined()));
    this.reset();
    return out;
  }

  reset(): void {
    this.splitter.reset();
    this.lines = null;
    this.bytes = 0;
    this.skipping = false;
  }

  private onLine(line: Buffer, out: FramerEvent[]): void {
    if (startsWith(line, this.begin)) {
      if (this.lines !== null) out.push(errorEvent('FRAMING_TRUNCATED', 'a new block began before this one ended', this.joined()));
      this.lines = [line];
      this.bytes = line.length;
      this.skipping = false;
      return;
    }
    if (this.skipping) {
      if (startsWith(line, this.end)) this.skipping = false;
      return;
    }
    if (this.lines === null) {
      out.push({ kind: 'frame', frame: line });
      return;
    }
    this.lines.push(line);
    this.bytes += line.length + 1;
    if (startsWith(line, this.end)) {
      out.push({ kind: 'frame', frame: this.joined() });
      this.lines = null;
    } else if (this.lines.length > this.framing.maxLines || this.bytes > this.framing.maxLength) {
      out.push(
        errorEvent('FRAMING_OVERLONG', `block exceeds ${this.framing.maxLines} lines or ${this.framing.maxLength} bytes`, this.joined(), this.bytes),
      );
      this.lines = null;
      this.skipping = true;
    }
  }

  private joined(): Buffer {
    const lines = this.lines ?? [];
    const parts: Buffer[] = [];
    lines.forEach((line, i) => {
      if (i > 0) parts.push(NEWLINE);
      parts.push(line);
    });
    return Buffer.concat(parts);
  }
}

const NEWLINE = Buffer.from('\n');

function startsWith(line: Buffer, prefix: Buffer): boolean {
  return line.length >= prefix.length && line.subarray(0, prefix.length).equals(prefix);
}

// ---------------------------------------------------------------------------------------------

class DatagramFramer implements Framer {
  constructor(private readonly framing: DatagramFraming) {}

  push(chunk: Buffer): FramerEvent[] {
    if (chunk.length === 0) return [];
    if (chunk.length > this.framing.maxLength) {
      return [errorEvent('FRAMING_OVERLONG', `datagram of ${chunk.length} bytes exceeds ${this.framing.maxLength}`, chunk)];
    }
    return [{ kind: 'frame', frame: Buffer.from(chunk) }];
  }

  flush(): FramerEvent[] {
    return [];
  }

  reset(): void {}
}
