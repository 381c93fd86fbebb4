/**
 * The producer identity's guard against sequence reuse (contract, "Producer identity").
 *
 * The broker de-duplicates on (producer name, sequence): a sequence number that was sent once and
 * is later given to a different record is silently dropped by the broker as a duplicate and
 * acknowledged, and the buffer then deletes that new record. That happens when the buffer file
 * goes back in time after its sequences were sent:
 *  - a power cut under `synchronous` NORMAL or OFF loses the last commits (their sequences may
 *    have been forwarded already, and are handed out again);
 *  - an operator restores the file from a backup.
 *
 * The guard is a small file beside the buffer, `<buffer>.sequences` (JSON, written atomically:
 * temporary file, fsync, rename, fsync of the directory), holding the producer id and each
 * stream's next sequence as last seen in memory, whether the daemon stopped cleanly, and the
 * `synchronous` mode it ran with. It is rewritten at open, every few seconds while something
 * changed, and at a clean close. On open, the file is *behind* when the mark names another
 * producer or a higher next sequence for any stream, or when the previous run ended without a
 * clean close under NORMAL/OFF (the mark lags memory by up to its interval, and those modes may
 * lose commits that were already sent). Then the buffer takes a new producer identity: records
 * already in the file keep the identity they were (possibly) sent under, new records get the new
 * one, so no (producer, stream, sequence) ever names two different records.
 *
 * Limits: a backup that restores the mark together with the file is not detected (keep the
 * `.sequences` file out of backups, or restore only the `.sqlite`); a missing mark (first run of
 * this version, or deleted) is trusted as "not behind" and logged.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { SynchronousMode } from './types.ts';

export interface SequenceMark {
  producerId: string;
  /** Next sequence per stream, as the previous run last knew it (from memory). */
  streams: Record<string, number>;
  /** True only when written by a clean close. */
  clean: boolean;
  synchronous: SynchronousMode;
  /** ISO time of the write, for operators reading the file. */
  writtenAt: string;
}

/** `<buffer path>.sequences` */
export function markPath(bufferPath: string): string {
  return `${bufferPath}.sequences`;
}

/** The mark, or null when absent; a mark that cannot be parsed is reported as `unreadable`. */
export function readMark(bufferPath: string): SequenceMark | null | { unreadable: string } {
  let text: string;
  try {
    text = fs.readFileSync(markPath(bufferPath), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { unreadable: (err as Error).message };
  }
  try {
    const mark = JSON.parse(text) as SequenceMark;
    if (typeof mark.producerId !== 'string' || typeof mark.streams !== 'object' || mark.streams === null || typeof mark.clean !== 'boolean') {
      return { unreadable: 'not a sequence mark' };
    }
    return mark;
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
}

/** Writes the mark atomically and durably (a torn or unsynced mark would defeat its purpose). */
export function writeMark(bufferPath: string, mark: SequenceMark): void {
  const target = markPath(bufferPath);
  const tmp = `${target}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(mark));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
  const dir = fs.openSync(nodePath.dirname(target), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

/**
 * Why the file is behind its mark (the buffer must take a new producer identity), or null.
 * `fileNext` gives each stream's next sequence as the file has it (1 for a stream it lacks).
 */
export function behindReason(mark: SequenceMark, producerId: string, fileNext: (stream: string) => number): string | null {
  if (mark.producerId !== producerId) {
    return `the buffer file's producer id ${producerId} differs from the one its sequence mark names (${mark.producerId}): the file was replaced or restored`;
  }
  for (const [stream, next] of Object.entries(mark.streams)) {
    const have = fileNext(stream);
    if (have < next) {
      return `stream '${stream}' would hand out sequence ${have} again (the previous run had reached ${next}): the file went back in time (restored from a backup, or commits lost)`;
    }
  }
  if (!mark.clean && (mark.synchronous === 'NORMAL' || mark.synchronous === 'OFF')) {
    return `the previous run did not stop cleanly and ran with synchronous ${mark.synchronous}, which may lose commits whose sequences were already sent`;
  }
  return null;
}
