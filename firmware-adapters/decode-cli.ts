/**
 * `skyhaul decode --adapter NAME [--file F] [--options JSON]`: reads raw instrument bytes (a file
 * or stdin), frames them with the adapter's framing, decodes each frame, and prints one JSON
 * object per line:
 *
 *   per reading    {"adapter":"nmea0183","stream":"rmc","fields":{…},"units":{…}[,"source_time":ms]}
 *   per bad frame  {"adapter":"nmea0183","error":{"code":"ADAPTER_CHECKSUM","message":"…"},"raw_hex":"…"}
 *
 * Framing errors (`FRAMING_*`) are printed like decode errors. Frames that are valid but carry no
 * reading (unsupported kinds, protocol chatter) print nothing and are counted as `skipped`.
 * For datagram framing each chunk of the input is one datagram.
 */
import { readFile } from 'node:fs/promises';
import { getAdapter, safeDecode } from './index.ts';
import { createFramer, type FramerEvent } from './framing.ts';

export interface DecodeStats {
  /** Frames the framer produced. */
  frames: number;
  readings: number;
  /** Framing errors plus frames that failed to decode. */
  errors: number;
  skipped: number;
}

export interface DecodeStreamOptions {
  /** The adapter's options (as under `adapterOptions` in the configuration). */
  adapterOptions?: unknown;
  /** Clock for `receivedAt` (tests pass a fixed one). */
  now?: () => number;
}

export async function decodeStream(
  adapterName: string,
  input: NodeJS.ReadableStream | Buffer,
  out: (line: string) => void,
  options: DecodeStreamOptions = {},
): Promise<DecodeStats> {
  const adapter = getAdapter(adapterName, options.adapterOptions);
  const now = options.now ?? Date.now;
  const framer = createFramer(adapter.framing);
  const stats: DecodeStats = { frames: 0, readings: 0, errors: 0, skipped: 0 };

  const handle = (events: FramerEvent[]): void => {
    for (const event of events) {
      if (event.kind === 'error') {
        stats.errors++;
        out(JSON.stringify({ adapter: adapter.name, error: { code: event.code, message: event.message }, raw_hex: event.raw.toString('hex') }));
        continue;
      }
      stats.frames++;
      const result = safeDecode(adapter, event.frame, { receivedAt: now() });
      if (!result.ok) {
        stats.errors++;
        out(JSON.stringify({ adapter: adapter.name, error: result.error, raw_hex: event.frame.toString('hex') }));
        continue;
      }
      if (result.readings.length === 0) stats.skipped++;
      for (const reading of result.readings) {
        stats.readings++;
        const line: Record<string, unknown> = { adapter: adapter.name, stream: reading.stream, fields: reading.fields, units: reading.units };
        if (reading.sourceTime !== undefined && reading.sourceTime !== null) line.source_time = reading.sourceTime;
        out(JSON.stringify(line));
      }
    }
  };

  if (Buffer.isBuffer(input)) {
    handle(framer.push(input));
  } else {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      handle(framer.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    }
  }
  handle(framer.flush());
  return stats;
}

export interface DecodeCommandIo {
  stdin: NodeJS.ReadableStream;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

export const DECODE_USAGE = 'usage: skyhaul decode --adapter NAME [--file FILE] [--options JSON]';

/** The whole command: parses argv (after `decode`), runs, returns the exit code (0 ok, 1 bad frames seen, 2 usage). */
export async function decodeCommand(argv: string[], io: DecodeCommandIo): Promise<number> {
  let adapterName: string | undefined;
  let file: string | undefined;
  let adapterOptions: unknown;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === '--adapter') adapterName = value();
    else if (flag === '--file') file = value();
    else if (flag === '--options') {
      const text = value();
      try {
        adapterOptions = JSON.parse(text ?? '');
      } catch {
        io.stderr(`--options: not JSON: ${text ?? ''}`);
        return 2;
      }
    } else {
      io.stderr(`unknown argument '${arg}'`);
      io.stderr(DECODE_USAGE);
      return 2;
    }
  }
  if (adapterName === undefined || adapterName === '') {
    io.stderr(DECODE_USAGE);
    return 2;
  }
  try {
    const input = file === undefined ? io.stdin : await readFile(file);
    const stats = await decodeStream(adapterName, input, io.stdout, { adapterOptions });
    io.stderr(`${stats.frames} frame(s), ${stats.readings} reading(s), ${stats.skipped} skipped, ${stats.errors} error(s)`);
    return stats.errors > 0 ? 1 : 0;
  } catch (error) {
    io.stderr(error instanceof Error ? error.message : String(error));
    return 2;
  }
}
