/**
 * `skyhaul decode --adapter NAME [--file F] [--options JSON] [--received-at ISO-TIME]`: reads raw
 * instrument bytes (a file or stdin), frames them with the adapter's framing, decodes each frame
 * (`safeDecode`, so the checks every input applies run here too), and prints one JSON object per
 * line:
 *
 *   per reading    {"adapter":"nmea0183","stream":"rmc","fields":{…},"units":{…}[,"source_time":ms][,"flags":[…]][,"device_time":ms]}
 *   per bad frame  {"adapter":"nmea0183","error":{"code":"ADAPTER_CHECKSUM","message":"…"},"raw_hex":"…"}
 *
 * Framing errors (`FRAMING_*`) are printed like decode errors. Frames that are valid but carry no
 * reading (unsupported kinds, protocol chatter) print nothing and are counted as `skipped`.
 * For datagram framing each chunk of the input is one datagram.
 *
 * `--received-at` replays a capture as if it had been received at that time (ISO 8601 with a zone,
 * e.g. `2020-05-30T12:00:00Z`): every frame gets that receipt time, and it is trusted as a
 * synchronised clock would be (`receivedAtTrusted`), so receipt-relative corrections such as the
 * GPS week-number rollover apply. Without it each frame gets the host clock's time.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { getAdapter, safeDecode } from './index.ts';
import { createFramer, type FramerEvent } from './framing.ts';
import { parseTimestamp } from './time.ts';

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
  /** Clock for `receivedAt` (host clock by default; trusted only as far as source-time.ts's floor allows). */
  now?: () => number;
  /** A fixed receipt time (ms) for every frame, trusted (`--received-at`); overrides `now`. */
  receivedAt?: number;
}

/**
 * Frames and decodes `input` (a whole buffer, or a stream read to its end) with adapter
 * `adapterName`, calling `out` with one JSON line per reading or bad frame (format above).
 * Resolves to the counts; rejects with `SKY_ERR_CONFIG` for an unknown adapter or bad options.
 */
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
      const meta = options.receivedAt === undefined ? { receivedAt: now() } : { receivedAt: options.receivedAt, receivedAtTrusted: true };
      const result = safeDecode(adapter, event.frame, meta);
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
        if (reading.flags !== undefined && reading.flags.length > 0) line.flags = reading.flags;
        if (reading.deviceTime !== undefined) line.device_time = reading.deviceTime;
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

export const DECODE_USAGE = 'usage: skyhaul decode --adapter NAME [--file FILE] [--options JSON] [--received-at ISO-TIME]';

/** The options `decodeCommand` accepts; anything else is a usage error (exit 2) naming it. */
const DECODE_OPTIONS = {
  adapter: { type: 'string' },
  file: { type: 'string' },
  options: { type: 'string' },
  'received-at': { type: 'string' },
} as const;

/**
 * The whole command: parses argv (after `decode`) strictly with `util.parseArgs` (unknown options,
 * missing values and stray arguments are usage errors), runs, returns the exit code (0 ok, 1 bad
 * frames seen, 2 usage or setup error: unknown adapter, bad `--options`/`--received-at`, unreadable file).
 */
export async function decodeCommand(argv: string[], io: DecodeCommandIo): Promise<number> {
  const usage = (message: string): number => {
    io.stderr(`skyhaul decode: ${message}`);
    io.stderr(DECODE_USAGE);
    return 2;
  };
  let values: { adapter?: string; file?: string; options?: string; 'received-at'?: string };
  try {
    ({ values } = parseArgs({ args: argv, options: DECODE_OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    // Node's messages name the offending option ("Unknown option '--adaptr'", "Option '--file <value>' argument missing").
    return usage(error instanceof Error ? error.message : String(error));
  }
  const adapterName = values.adapter;
  if (adapterName === undefined || adapterName === '') return usage('--adapter NAME is required');
  let adapterOptions: unknown;
  if (values.options !== undefined) {
    try {
      adapterOptions = JSON.parse(values.options);
    } catch {
      return usage(`--options: not JSON: ${values.options}`);
    }
  }
  let receivedAt: number | undefined;
  if (values['received-at'] !== undefined) {
    receivedAt = parseTimestamp(values['received-at'], 'iso8601');
    if (receivedAt === undefined) return usage(`--received-at: not an ISO 8601 time with a zone (e.g. 2020-05-30T12:00:00Z): ${values['received-at']}`);
  }
  try {
    const input = values.file === undefined ? io.stdin : await readFile(values.file);
    const stats = await decodeStream(adapterName, input, io.stdout, { adapterOptions, ...(receivedAt === undefined ? {} : { receivedAt }) });
    io.stderr(`${stats.frames} frame(s), ${stats.readings} reading(s), ${stats.skipped} skipped, ${stats.errors} error(s)`);
    return stats.errors > 0 ? 1 : 0;
  } catch (error) {
    io.stderr(error instanceof Error ? error.message : String(error));
    return 2;
  }
}
