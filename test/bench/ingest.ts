/**
 * Ingest: the daemon's commit path (RecordBuffer.append with the daemon's defaults) against its
 * physical limit, plain better-sqlite3 batched inserts of the same rows into the same disk.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULT_GROUP_COMMIT, RecordBuffer } from '../../src/buffer/index.ts';
import { PAGE_SIZE } from '../../src/buffer/schema.ts';
import { RECORDS_DDL } from '../../src/buffer/migrations/003-append-log.ts';
import { newTraceparent } from '../../src/record/record.ts';
import { percentile } from './util.ts';

export const PAYLOAD_BYTES = 200;

export interface IngestResult {
  records: number;
  seconds: number;
  recordsPerSecond: number;
  commitP50Ms: number;
  commitP99Ms: number;
  commitMaxMs: number;
  appenders: number;
  streams: number;
  groupCommit: { maxRecords: number; maxDelayMs: number };
  synchronous: string;
  /** Group commits observed ('committed' events) and their mean size. */
  commits: number;
  meanRecordsPerCommit: number;
  /** Cores this process used while appending (1.0 = the one JavaScript thread fully busy). */
  cpuCores: number;
  /** Size of the closed buffer file / records in it (nothing was acknowledged or dropped). */
  fileBytesPerRecord: number;
}

function payloadFor(i: number): Buffer {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  payload.writeUInt32BE(i >>> 0, 0);
  return payload;
}

/**
 * `appenders` concurrent loops, each appending one record and awaiting its commit before the
 * next, for `durationMs`. The buffer runs with the daemon's defaults (synchronous FULL, group
 * commit at most 1000 records, committed as soon as the writer is idle, at most 5 ms after
 * scheduling); only the disk watchdog is off, as it measures the disk, not the path.
 */
export async function measureIngest(options: { durationMs: number; appenders: number; streams: number; dir?: string }): Promise<IngestResult> {
  const dir = mkdtempSync(join(options.dir ?? tmpdir(), 'skyhaul-bench-ingest-'));
  const buffer = new RecordBuffer({ path: join(dir, 'buffer.sqlite'), siteId: 'bench', disk: null });
  buffer.open();
  let commits = 0;
  let committedRecords = 0;
  buffer.on('committed', (_streams: string[], info: { records: number }) => {
    commits += 1;
    committedRecords += info.records;
  });
  const payloads = Array.from({ length: 64 }, (_, i) => payloadFor(i));
  const latencies: number[] = [];
  let records = 0;
  let stop = false;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = t0 + options.durationMs;
  const loop = async (id: number): Promise<void> => {
    const stream = `bench/s${id % options.streams}`;
    let i = 0;
    while (!stop) {
      const start = performance.now();
      await buffer.append({ stream, payload: payloads[i++ % payloads.length]!, contentType: 'application/octet-stream', schemaRef: 'skyhaul.bench/v1', sourceTime: Date.now() });
      const end = performance.now();
      latencies.push(end - start);
      records += 1;
      if (end >= deadline) stop = true;
    }
  };
  await Promise.all(Array.from({ length: options.appenders }, (_, id) => loop(id)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await buffer.close();
  const fileBytesPerRecord = statSync(join(dir, 'buffer.sqlite')).size / records;
  rmSync(dir, { recursive: true, force: true });
  return {
    fileBytesPerRecord,
    records,
    seconds,
    recordsPerSecond: records / seconds,
    commitP50Ms: percentile(latencies, 50),
    commitP99Ms: percentile(latencies, 99),
    commitMaxMs: percentile(latencies, 100),
    appenders: options.appenders,
    streams: options.streams,
    groupCommit: { ...DEFAULT_GROUP_COMMIT },
    synchronous: 'FULL',
    commits,
    meanRecordsPerCommit: commits === 0 ? 0 : committedRecords / commits,
    cpuCores: (cpu.user + cpu.system) / 1e6 / seconds,
  };
}

export interface RawResult {
  records: number;
  seconds: number;
  recordsPerSecond: number;
  batch: number;
  /** Mean time of one transaction of `batch` rows (dominated by the WAL fsync at COMMIT). */
  meanCommitMs: number;
  cpuCores: number;
  /** Size of the closed file / rows. */
  fileBytesPerRecord: number;
}

/**
 * The physical limit: better-sqlite3, WAL, synchronous FULL, exclusive locking (as the buffer
 * opens its file), one transaction per `batch` rows into the buffer's own append log (the same
 * table and (stream_id, sequence) index; times, size, crc, content type, schema ref, traceparent,
 * 200-byte payload), for `durationMs`.
 * No checksum, no quota accounting, no promises: just SQLite and the disk.
 */
export function measureRawSqlite(options: { durationMs: number; batch: number; dir?: string }): RawResult {
  const dir = mkdtempSync(join(options.dir ?? tmpdir(), 'skyhaul-bench-raw-'));
  const db = new Database(join(dir, 'raw.sqlite'));
  try {
    // The buffer's page size and table layout: the baseline differs only in what the buffer adds.
    db.pragma(`page_size = ${PAGE_SIZE}`);
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('cache_size = -16384');
    db.exec(RECORDS_DDL);
    const insert = db.prepare(
      'INSERT INTO records (stream_id, sequence, ingest_time, source_time, size, crc, content_type, schema_ref, traceparent, payload) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const payloads = Array.from({ length: 64 }, (_, i) => payloadFor(i));
    const traceparent = newTraceparent();
    let sequence = 0;
    const insertBatch = db.transaction((n: number) => {
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        sequence += 1;
        insert.run(sequence, now, now, 300, sequence & 0x7fffffff, 'application/octet-stream', 'skyhaul.bench/v1', traceparent, payloads[sequence % payloads.length]!);
      }
    });
    let batches = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + options.durationMs;
    while (performance.now() < deadline) {
      insertBatch(options.batch);
      batches += 1;
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    db.close();
    const fileBytesPerRecord = statSync(join(dir, 'raw.sqlite')).size / sequence;
    return { records: sequence, seconds: ms / 1000, recordsPerSecond: sequence / (ms / 1000), batch: options.batch, meanCommitMs: ms / batches, cpuCores: (cpu.user + cpu.system) / 1000 / ms, fileBytesPerRecord };
  } finally {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** fsync latency of this disk: `count` single-row FULL commits (what a lone appender pays). */
export function measureFsyncMs(count: number, dir?: string): { p50Ms: number; p99Ms: number } {
  const d = mkdtempSync(join(dir ?? tmpdir(), 'skyhaul-bench-fsync-'));
  const db = new Database(join(d, 'fsync.sqlite'));
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const payload = payloadFor(0);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      insert.run(payload);
      times.push(performance.now() - t0);
    }
    return { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99) };
  } finally {
    db.close();
    rmSync(d, { recursive: true, force: true });
  }
}
