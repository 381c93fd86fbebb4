/**
 * The in-memory state of a stream and the journal of one transaction: what it changed, to apply
 * after COMMIT or undo after ROLLBACK (contract in `./index.ts`, "Crash recovery": memory and file
 * stay consistent because every change to either goes through one of these).
 */
import type { DropCount, DropReason, PriorityClass, SourceMark } from './types.ts';
import type { Entry, Unit } from './units.ts';

export interface StreamRow {
  readonly id: number;
  readonly name: string;
  priority: PriorityClass;
  ttlMs: number | null;
  nextSequence: number;
  ackedSequence: number;
  records: number;
  bytes: number;
  /** undefined: not known, look it up through the primary key when asked. */
  oldestIngestTime: number | null | undefined;
  /** Newest ingest time ever committed: later records never get an earlier one (clock steps). */
  lastIngestTime: number | null;
  /**
   * Sequences below this are durable and may be read (and so sent): a commit whose fsync is still
   * running is not readable, since a power cut could lose it and its sequences be given again.
   */
  durableNext: number;
  /** Retired producer identities of this stream's older records, ascending by upTo. */
  epochs: Array<{ upTo: number; producerId: string }>;
}

export type SavedStream = Pick<StreamRow, 'priority' | 'nextSequence' | 'ackedSequence' | 'records' | 'bytes' | 'oldestIngestTime' | 'lastIngestTime' | 'epochs'>;

export interface HeadRow {
  sequence: number;
  ingestTime: number;
  size: number;
}

export interface HeadCursor {
  rows: HeadRow[];
  idx: number;
  /** Last sequence fetched into `rows` (the next chunk starts after it). */
  after: number;
}

export interface RecordRow {
  sequence: number;
  ingest_time: number;
  source_time: number | null;
  size: number;
  crc: number;
  content_type: string;
  schema_ref: string | null;
  traceparent: string;
  payload: Buffer;
}

/** Everything one transaction changed, to apply after COMMIT or undo after ROLLBACK. */
export class Journal {
  readonly saved = new Map<StreamRow, SavedStream>();
  readonly created: StreamRow[] = [];
  readonly drops = new Map<string, DropCount>();
  /** Committed records (entry.sequence set), and the units they complete, settled after COMMIT. */
  readonly inserted: Entry[] = [];
  readonly insertedUnits: Unit[] = [];
  readonly dropped: Array<{ unit: Unit; reason: DropReason }> = [];
  readonly newlyBlocked: Unit[] = [];
  readonly unblocked: Unit[] = [];
  /** Evicted ranges (after the stream's in-flight floor), deleted with one statement per stream just before COMMIT. */
  readonly evictUpTo = new Map<StreamRow, number>();
  readonly evictFrom = new Map<StreamRow, number>();
  readonly heads = new Map<StreamRow, HeadCursor>();
  /** touchForInsert() memo for runs of one stream. */
  lastTouched: StreamRow | null = null;
  /**
   * Streams this transaction changed only by inserting: their rows may be left behind (contract,
   * "Stream rows"), unless `writeDeferredRows` asks for every lagging row to be written.
   */
  readonly insertOnly = new Set<StreamRow>();
  writeDeferredRows = false;
  readonly checksumFailures: Array<{ stream: string; sequence: number }> = [];
  /** Space was freed by ack/TTL/checksum removal: blocked appends may now fit. */
  freed = false;
  /** The last stream refused for the stream limit in this transaction. */
  streamLimited: string | null = null;
  /**
   * Source marks of the inserted units, the last per (source, key): written with one upsert each
   * just before COMMIT (a UDP burst's datagrams, one unit each, share one write).
   */
  readonly marks = new Map<string, SourceMark>();

  /** Saves `s` for a rollback; its row is written in this transaction (any change but an insert). */
  touch(s: StreamRow): void {
    this.insertOnly.delete(s);
    if (!this.tracks(s)) this.save(s);
  }

  /** Saves `s` for a rollback; an insert alone does not make its row be written (see insertOnly). */
  touchForInsert(s: StreamRow): void {
    if (this.tracks(s)) return;
    this.save(s);
    this.insertOnly.add(s);
  }

  /** Already saved, or created by this transaction (nothing to restore but its removal). */
  private tracks(s: StreamRow): boolean {
    return this.saved.has(s) || this.created.includes(s);
  }

  private save(s: StreamRow): void {
    this.saved.set(s, {
      priority: s.priority,
      nextSequence: s.nextSequence,
      ackedSequence: s.ackedSequence,
      records: s.records,
      bytes: s.bytes,
      oldestIngestTime: s.oldestIngestTime,
      lastIngestTime: s.lastIngestTime,
      epochs: s.epochs,
    });
  }

  countDrop(stream: string, reason: DropReason, count: number): void {
    const key = `${reason}\u0000${stream}`;
    const d = this.drops.get(key);
    if (d === undefined) this.drops.set(key, { stream, reason, count });
    else d.count += count;
  }
}

