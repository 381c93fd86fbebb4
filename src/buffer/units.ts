/**
 * What the group commit queues (contract in `./index.ts`, "Writing: group commit"): one Entry per
 * appended record, one Unit per append or appendBatch (the records that commit together or not at
 * all), and the FIFO the blocked units wait in.
 */
import { performance } from 'node:perf_hooks';
import type { PriorityClass, SourceMark, Committed } from './types.ts';
import { PRIORITY_ORDER } from './types.ts';
import { ROW_OVERHEAD_BYTES, bodyChecksum } from './checksum.ts';

/** One append on its way through the group commit. A class: one hidden shape on the hot path. */
export class Entry {
  readonly size: number;
  /** CRC of everything but the sequence, computed at append (see checksum.ts). */
  crcBody: number;
  /** The buffer's own copy of the caller's payload (the caller may reuse its buffer). */
  readonly payload: Buffer;
  sequence = 0;
  /** performance.now() at append: the commit latency a source waits for is measured from here. */
  readonly appendedAt = performance.now();
  private readonly stableCrc: number;

  /** A backward clock step must not make a stream's ingest times go back (contract, "Time"). */
  raiseIngestTime(floor: number): void {
    if (floor <= this.ingestTime) return;
    this.ingestTime = floor;
    this.crcBody = bodyChecksum(this.stableCrc, this.sourceTime, floor, this.traceparent, this.payload);
  }

  constructor(
    readonly stream: string,
    readonly sourceTime: number | null,
    public ingestTime: number,
    readonly contentType: string,
    readonly schemaRef: string | null,
    readonly traceparent: string,
    payload: Uint8Array,
    readonly priority: PriorityClass,
    meta: WriterMeta,
  ) {
    const copy = Buffer.allocUnsafe(payload.length);
    copy.set(payload);
    this.payload = copy;
    this.stableCrc = meta.stableCrc;
    this.crcBody = bodyChecksum(meta.stableCrc, sourceTime, ingestTime, traceparent, copy);
    this.size = meta.metaBytes + copy.length + traceparent.length + ROW_OVERHEAD_BYTES;
  }
}

/**
 * What the quota decision, the wait queues and the commit treat as one: a single append, or all
 * records of one `appendBatch` (one instrument frame, one HTTP request), which commit in the
 * same transaction or not at all, so a refusal never leaves part of a frame committed for a
 * redelivery to commit again under new sequences.
 */
export class Unit {
  readonly size: number;
  /** The most urgent class among its records: the class whose policy and queue it follows. */
  readonly priority: PriorityClass;
  resolve: (c: Committed[]) => void = noop;
  reject: (e: Error) => void = noop;

  constructor(
    readonly entries: Entry[],
    /** Written in the same transaction as the records (contract, "Source marks"). */
    readonly mark: SourceMark | null = null,
  ) {
    let size = 0;
    let rank = PRIORITY_ORDER.length;
    for (const e of entries) {
      size += e.size;
      rank = Math.min(rank, PRIORITY_ORDER.indexOf(e.priority));
    }
    this.size = size;
    this.priority = PRIORITY_ORDER[rank] as PriorityClass;
  }
}

/** Per-stream values the writer would otherwise recompute for every record. */
export interface WriterMeta {
  contentType: string;
  schemaRef: string | null;
  stableCrc: number;
  metaBytes: number;
  priority: PriorityClass;
}

/** The settle functions of a unit before its promise exists. */
export function noop(): void {}

/** FIFO with O(1) shift. */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined as T;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes and returns every item (in order). */
  drain(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }

  removeWhere(pred: (item: T) => boolean): void {
    this.items = this.items.slice(this.head).filter((x) => !pred(x));
    this.head = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}

