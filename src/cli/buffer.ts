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
import { SkyhaulError } from '../errors.ts';

export const BUFFER_USAGE = `usage: skyhaul buffer <check|stats|export|replay> [--config FILE | --file BUFFER.sqlite] [--json]
  check                         verify every record's checksum, integrity_check, cursors (exit 0 ok, 1 problems, 2 usage)
  stats                         streams, backlog, drops
  export --stream S [--from ISO] [--to ISO] [--out FILE]
                                records as JSON lines (payload base64) to FILE or stdout
  replay --in FILE [--stream S] [--from ISO] [--to ISO]
                                re-queue exported records for forwarding (new sequences)
The daemon must be stopped: it holds the buffer file exclusively.`;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * Opens the named buffer for an offline tool. It must exist (a typo in --file is an error, never
 * a new empty buffer); `read-only` opens it without writing a byte, and nothing is ever
 * quarantined (the tools report, the daemon decides).
 */
function openBuffer(options: Record<string, string | boolean>, access: 'read-only' | 'read-write'): RecordBuffer {
  let path: string;
  let siteId = 'offline-tool';
  if (typeof options.file === 'string') path = options.file;
  else if (typeof options.config === 'string') {
    const config: Config = loadConfig(options.config);
    path = config.buffer.path;
    siteId = config.site.id;
  } else throw new SkyhaulError('SKY_ERR_USAGE', 'name the buffer with --config FILE or --file BUFFER.sqlite');
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

function time(value: string | boolean | undefined, flag: string): number | null {
  if (value === undefined) return null;
  const t = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw new SkyhaulError('SKY_ERR_USAGE', `${flag} expects an ISO time such as 2026-11-26T20:00:00Z`);
  return t;
}

export async function bufferCommand(sub: string | undefined, options: Record<string, string | boolean>, io: Io): Promise<number> {
  switch (sub) {
    case 'check': {
      const buffer = openBuffer(options, 'read-only');
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
      const buffer = openBuffer(options, 'read-only');
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
      if (typeof stream !== 'string') throw new SkyhaulError('SKY_ERR_USAGE', 'export needs --stream S');
      const from = time(options.from, '--from');
      const to = time(options.to, '--to');
      const buffer = openBuffer(options, 'read-only');
      const file = typeof options.out === 'string' ? createWriteStream(options.out) : null;
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
      if (typeof options.in !== 'string') throw new SkyhaulError('SKY_ERR_USAGE', 'replay needs --in FILE (JSON lines from buffer export)');
      const from = time(options.from, '--from');
      const to = time(options.to, '--to');
      const buffer = openBuffer(options, 'read-write');
      let count = 0;
      let line = 0;
      try {
        const pending: Array<Promise<unknown>> = [];
        for await (const text of createInterface({ input: createReadStream(options.in) })) {
          line += 1;
          if (text.trim() === '') continue;
          let r: { stream: string; payload: string; contentType: string; schemaRef: string | null; sourceTime: number | null; ingestTime: number; traceparent: string };
          try {
            r = JSON.parse(text) as typeof r;
          } catch {
            throw new SkyhaulError('SKY_ERR_USAGE', `${options.in}:${line}: not a JSON line from buffer export`);
          }
          if (typeof options.stream === 'string' && r.stream !== options.stream) continue;
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
    default:
      io.err(BUFFER_USAGE);
      return 2;
  }
}
