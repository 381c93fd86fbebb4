/**
 * `skyhaul buffer check|stats|export|replay`: the integrity and recovery tools for the buffer
 * file. They open the file directly, so the daemon must be stopped (the daemon holds an
 * exclusive lock; a second opener is refused rather than risk two writers).
 *
 *   check   every record's checksum, SQLite's integrity_check, the cursors and counters
 *   stats   streams, backlog, drops, pages
 *   export  records of a stream (and time range) as JSON lines
 *   replay  re-queue exported records (JSON lines) for forwarding, as new records
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { RecordBuffer } from '../buffer/index.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/types.ts';
import { SkyhaulError } from '../common/errors.ts';
import { parseCommand, usageError, type OptionSpecs } from '../common/args.ts';

export const BUFFER_USAGE = `usage: skyhaul buffer <check|stats|export|replay> (--config FILE | --file BUFFER.sqlite) [options]
  check [--json]                verify every record's checksum, integrity_check, cursors (exit 0 ok, 1 problems, 2 usage)
  stats [--json]                streams, backlog, drops
  export --stream S [--from ISO] [--to ISO] [--out FILE]
                                records as JSON lines (payload base64) to FILE or stdout
  replay --in FILE [--stream S] [--from ISO] [--to ISO]
                                re-queue exported records for forwarding (new sequences)
Each subcommand takes only its own options, and --help.
The daemon must be stopped: it holds the buffer file exclusively.`;

/** Options every subcommand takes: which buffer, and --help. */
const COMMON = { help: { type: 'boolean', short: 'h' }, config: { type: 'string' }, file: { type: 'string' } } as const;
const RANGE = { from: { type: 'string' }, to: { type: 'string' } } as const;

/** Each subcommand's own options (parsed strictly: src/cli/args.ts). */
const SUBCOMMANDS = {
  check: { ...COMMON, json: { type: 'boolean' } },
  stats: { ...COMMON, json: { type: 'boolean' } },
  export: { ...COMMON, ...RANGE, stream: { type: 'string' }, out: { type: 'string' } },
  replay: { ...COMMON, ...RANGE, in: { type: 'string' }, stream: { type: 'string' } },
} as const;

type Subcommand = keyof typeof SUBCOMMANDS;

interface BufferOptions {
  help?: boolean;
  config?: string;
  file?: string;
  json?: boolean;
  stream?: string;
  from?: string;
  to?: string;
  out?: string;
  in?: string;
}

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * Opens the named buffer for an offline tool. It must exist (a typo in --file is an error, never
 * a new empty buffer); `read-only` opens it without writing a byte, and nothing is ever
 * quarantined (the tools report, the daemon decides).
 */
function openBuffer(command: string, options: { config?: string; file?: string }, access: 'read-only' | 'read-write'): RecordBuffer {
  let path: string;
  let siteId = 'offline-tool';
  if (options.file !== undefined && options.config !== undefined) throw usageError(command, 'name the buffer with --config FILE or --file BUFFER.sqlite, not both', BUFFER_USAGE);
  if (options.file !== undefined) path = options.file;
  else if (options.config !== undefined) {
    const config: Config = loadConfig(options.config);
    path = config.buffer.path;
    siteId = config.site.id;
  } else throw usageError(command, 'name the buffer with --config FILE or --file BUFFER.sqlite', BUFFER_USAGE);
  if (!existsSync(path)) throw new SkyhaulError('SKY_ERR_USAGE', `no buffer file at ${resolve(path)}`);
  const buffer = new RecordBuffer({
    path,
    siteId,
    disk: null,
    onCorrupt: 'throw',
    readOnly: access === 'read-only',
    mustExist: true,
    quotaBytes: Number.MAX_SAFE_INTEGER,
  });
  try {
    buffer.open();
  } catch (error) {
    if (error instanceof SkyhaulError && /SQLITE_BUSY|locked/i.test(`${error.message} ${String(error.cause)}`)) {
      throw new SkyhaulError('SKY_ERR_USAGE', `${path} is in use (is the daemon running? stop it first)`, { cause: error });
    }
    throw error;
  }
  return buffer;
}

function time(value: string | undefined, flag: string, command: string): number | null {
  if (value === undefined) return null;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw usageError(command, `${flag} expects an ISO time such as 2026-11-26T20:00:00Z, got '${value}'`, BUFFER_USAGE);
  return t;
}

const isSubcommand = (name: string): name is Subcommand => Object.hasOwn(SUBCOMMANDS, name);

/**
 * `skyhaul buffer <sub> [options]`: `argv` is what follows `buffer`. Resolves to the exit code
 * (0 ok, 1 integrity problems found, 2 usage); throws SkyhaulError (SKY_ERR_USAGE for a bad command
 * line or a buffer file that does not exist, other codes for a file that cannot be opened).
 */
export async function bufferCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...args] = argv;
  if (sub === undefined) {
    io.err(BUFFER_USAGE);
    return 2;
  }
  if (sub === '--help' || sub === '-h') {
    io.out(BUFFER_USAGE);
    return 0;
  }
  if (!isSubcommand(sub)) throw usageError('skyhaul buffer', `unknown subcommand '${sub}'`, BUFFER_USAGE);
  const command = `skyhaul buffer ${sub}`;
  // Parsed against this subcommand's options only; read through the union of all of them.
  const options: BufferOptions = parseCommand(args, { command, usage: BUFFER_USAGE, options: SUBCOMMANDS[sub] as OptionSpecs }).values;
  if (options.help === true) {
    io.out(BUFFER_USAGE);
    return 0;
  }
  switch (sub) {
    case 'check': {
      const buffer = openBuffer(command, options, 'read-only');
      try {
        const report = buffer.checkIntegrity();
        if (options.json === true) io.out(JSON.stringify(report));
        else {
          io.out(`${report.ok ? 'ok' : 'PROBLEMS'}: ${report.records} records checked`);
          for (const problem of report.problems) io.out(`  ${problem}`);
        }
        return report.ok ? 0 : 1;
      } finally {
        await buffer.close();
      }
    }
    case 'stats': {
      const buffer = openBuffer(command, options, 'read-only');
      try {
        const stats = { producerId: buffer.producerId, ...buffer.stats(), streams: buffer.streams(), drops: buffer.drops(), pages: buffer.pageStats() };
        if (options.json === true) io.out(JSON.stringify(stats));
        else {
          io.out(`producer ${stats.producerId}: ${stats.records} records, ${stats.bytes} bytes buffered`);
          for (const s of stats.streams) io.out(`  ${s.stream} [${s.priority}] ${s.records} records, acked up to #${s.ackedSequence}, next #${s.nextSequence}`);
          for (const d of stats.drops) io.out(`  dropped ${d.count} of ${d.stream} (${d.reason})`);
        }
        return 0;
      } finally {
        await buffer.close();
      }
    }
    case 'export': {
      const stream = options.stream;
      if (stream === undefined) throw usageError(command, 'export needs --stream S', BUFFER_USAGE);
      const from = time(options.from, '--from', command);
      const to = time(options.to, '--to', command);
      const buffer = openBuffer(command, options, 'read-only');
      const file = options.out !== undefined ? createWriteStream(options.out) : null;
      let count = 0;
      try {
        let after = 0;
        for (;;) {
          const batch = buffer.read(stream, after, 1000);
          if (batch.length === 0) break;
          for (const r of batch) {
            after = r.sequence;
            if ((from !== null && r.ingestTime < from) || (to !== null && r.ingestTime > to)) continue;
            const line = JSON.stringify({ ...r, payload: r.payload.toString('base64') });
            if (file === null) io.out(line);
            else file.write(`${line}\n`);
            count += 1;
          }
        }
      } finally {
        await buffer.close();
        if (file !== null) await new Promise<void>((resolve) => file.end(() => resolve()));
      }
      io.err(`exported ${count} record(s) of ${stream}`);
      return 0;
    }
    case 'replay': {
      const input = options.in;
      if (input === undefined) throw usageError(command, 'replay needs --in FILE (JSON lines from buffer export)', BUFFER_USAGE);
      const from = time(options.from, '--from', command);
      const to = time(options.to, '--to', command);
      const buffer = openBuffer(command, options, 'read-write');
      let count = 0;
      let line = 0;
      try {
        const pending: Array<Promise<unknown>> = [];
        for await (const text of createInterface({ input: createReadStream(input) })) {
          line += 1;
          if (text.trim() === '') continue;
          let r: { stream: string; payload: string; contentType: string; schemaRef: string | null; sourceTime: number | null; ingestTime: number; traceparent: string };
          try {
            r = JSON.parse(text) as typeof r;
          } catch {
            throw new SkyhaulError('SKY_ERR_USAGE', `${input}:${line}: not a JSON line from buffer export`);
          }
          if (options.stream !== undefined && r.stream !== options.stream) continue;
          if ((from !== null && r.ingestTime < from) || (to !== null && r.ingestTime > to)) continue;
          pending.push(
            buffer.append({ stream: r.stream, payload: Buffer.from(r.payload, 'base64'), contentType: r.contentType, schemaRef: r.schemaRef, sourceTime: r.sourceTime, traceparent: r.traceparent }),
          );
          count += 1;
        }
        await Promise.all(pending);
      } finally {
        await buffer.close();
      }
      io.err(`re-queued ${count} record(s) for forwarding (they get new sequences; consumers see them as new records)`);
      return 0;
    }
  }
}
