/**
 * The buffer's errors (SkyhaulError codes: SKY_ERR_USAGE, SKY_ERR_DISK_LOW, SKY_ERR_BUFFER_FULL,
 * SKY_ERR_BUFFER_CORRUPT, SKY_ERR_BUFFER_CLOSED) and the checks that raise them.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { SkyhaulError } from '../common/errors.ts';
import type { ClassStats, DropReason, PriorityClass } from './types.ts';

export function usage(message: string): SkyhaulError {
  return new SkyhaulError('SKY_ERR_USAGE', message);
}

export function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Maps a failed commit to the error its callers see (cause always attached). */
export function commitError(err: unknown): SkyhaulError {
  const code = sqliteCode(err) ?? '';
  if (code === 'SQLITE_FULL') return new SkyhaulError('SKY_ERR_DISK_LOW', 'buffer commit failed: disk full', { cause: err });
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new SkyhaulError('SKY_ERR_BUFFER_CORRUPT', `buffer commit failed: ${String(err)}`, { cause: err });
  }
  if (err instanceof SkyhaulError) return err;
  return new SkyhaulError('SKY_ERR_BUFFER_CLOSED', `buffer commit failed: ${String(err)}`, { cause: err });
}

export function dropError(reason: DropReason, stream: string, records = 1): SkyhaulError {
  const what = records === 1 ? `record for '${stream}'` : `${records} records of one batch (first '${stream}')`;
  if (reason === 'disk_low') {
    return new SkyhaulError('SKY_ERR_DISK_LOW', `${what} dropped: disk low and the wait queue is full (disk_low)`);
  }
  if (reason === 'stream_limit') {
    return new SkyhaulError('SKY_ERR_BUFFER_FULL', `${what} dropped: the buffer already holds its maximum number of streams (buffer.maxStreams; stream_limit)`);
  }
  return new SkyhaulError('SKY_ERR_BUFFER_FULL', `${what} dropped: buffer quota reached (${reason})`);
}

export function emptyClassStats(): Record<PriorityClass, ClassStats> {
  return {
    alarm: { records: 0, bytes: 0, oldestIngestTime: null },
    control: { records: 0, bytes: 0, oldestIngestTime: null },
    telemetry: { records: 0, bytes: 0, oldestIngestTime: null },
    bulk: { records: 0, bytes: 0, oldestIngestTime: null },
  };
}

/** What the filesystem says about the file and its directory, for an open that SQLite refused. */
export function accessHint(path: string, readOnly: boolean): string {
  const mode = readOnly ? fs.constants.R_OK : fs.constants.R_OK | fs.constants.W_OK;
  for (const target of [path, nodePath.dirname(path)]) {
    try {
      fs.accessSync(target, mode);
    } catch (err) {
      return `${target}: ${(err as NodeJS.ErrnoException).code ?? 'not accessible'} for ${readOnly ? 'reading' : 'reading and writing'} by uid ${process.getuid?.() ?? '?'}`;
    }
  }
  return 'check the disk and the filesystem (mounted read-only?)';
}

export function checkInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw usage(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

