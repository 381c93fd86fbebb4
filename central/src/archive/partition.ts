/**
 * How one Kafka partition's records become objects: a pure state machine (no I/O, no clock), so
 * that the objects are a function of the partition's record sequence and a replay after a crash
 * cuts the same objects (ARCHITECTURE.md central invariant 11, CONVENTIONS 15).
 *
 * A record's bucket is (site, stream, UTC date and hour of its event time). A bucket has at most
 * one open group; its records are a run of the bucket's records in offset order. For each record,
 * in offset order:
 *
 *  1. time: every open group whose deadline (its first record's ingest_time + `intervalMs`) is at
 *     or before this record's ingest_time closes ('time'). The rotation clock is ingest_time (the
 *     edge daemon's clock when it took the reading), not event_time: instruments' own clocks are
 *     often wrong, and one instrument stuck in the past or the future must not cut every other
 *     stream's objects. A heartbeat record (the ETL's, see the service) moves this clock too, so a
 *     partition with no traffic still closes its groups — by something in the log, never a timer.
 *  2. replay: a record inside the offset range of a manifest entry of its bucket (an object
 *     written before) is not grouped again: skipped if the object is durable ('covered'), gathered
 *     into exactly that entry's group if only the entry is (the object was not written yet); that
 *     group closes at the entry's last offset ('replay'). An open group of the bucket closes first ('split').
 *  3. subject: a record whose raw subject differs from its bucket's open group closes it ('subject').
 *  4. the record joins its bucket's group (opening one), which closes when it reaches
 *     `maxRecords` records ('records') or `maxBytes` bytes of record values ('bytes').
 *
 * The service adds one rule outside the sequence: when the process's buffered bytes pass the
 * memory cap it closes the largest groups early ('memory'). Such a cut depends on what else the
 * process held, so a replay may cut differently there; exactly once still holds, because the
 * manifest entry (written before the object) makes a replay re-form that same group (rule 2).
 *
 * Limits: a group holds at most `maxRecords` records and `maxBytes` bytes of values (plus the
 * per-record overhead the service counts); a partition holds one group per bucket with traffic
 * in the last `intervalMs` of ingest time, plus late records' buckets until the same deadline.
 */
import { hivePartition, type HivePartition } from './layout.ts';
import type { CloseReason, ManifestEntry } from './manifest.ts';

export interface RotationRules {
  /** Records per object at most. */
  maxRecords: number;
  /** Bytes of Kafka record values per object at most (the object is smaller: compressed). */
  maxBytes: number;
  /** How long (ingest time) a group stays open at most, ms. */
  intervalMs: number;
}

/** What routing needs of a record (decoded from its value). */
export interface RoutedRecord {
  offset: bigint;
  /** The Kafka value, copied (a group holds it until the object is written). */
  value: Buffer;
  site: string;
  stream: string;
  eventTime: number;
  ingestTime: number;
  rawSubject: string;
}

export interface Group {
  readonly id: number;
  readonly bucket: string;
  readonly hive: HivePartition;
  readonly rawSubject: string;
  readonly records: Array<{ offset: bigint; value: Buffer }>;
  first: bigint;
  last: bigint;
  /** Sum of the values' lengths. */
  bytes: number;
  /** Ingest time of the first record (ms): the group closes by time at t0 + intervalMs. */
  readonly t0: number;
  /** The manifest entry this group re-forms (a replay of an object not yet written), else null. */
  readonly forced: ManifestEntry | null;
  closed: boolean;
}

export interface Closed {
  group: Group;
  reason: CloseReason;
}

/** A manifest entry of this partition with last offset at or after the start, and whether its object is durable. */
export interface KnownObject {
  entry: ManifestEntry;
  durable: boolean;
}

function bucketOf(h: HivePartition): string {
  return `${h.site}\u0000${h.stream}\u0000${h.date}\u0000${h.hour}`;
}

/** A binary min-heap of groups by deadline (closed ones are dropped when they surface). */
class DeadlineHeap {
  private readonly items: Array<{ deadline: number; group: Group }> = [];

  push(deadline: number, group: Group): void {
    const items = this.items;
    items.push({ deadline, group });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.deadline <= items[i]!.deadline) break;
      [items[parent], items[i]] = [items[i]!, items[parent]!];
      i = parent;
    }
  }

  /** Removes and returns the groups with deadline <= t, earliest first. */
  popDue(t: number): Group[] {
    const out: Group[] = [];
    while (this.items.length > 0 && this.items[0]!.deadline <= t) out.push(this.pop().group);
    return out;
  }

  private pop(): { deadline: number; group: Group } {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && items[l]!.deadline < items[m]!.deadline) m = l;
        if (r < items.length && items[r]!.deadline < items[m]!.deadline) m = r;
        if (m === i) break;
        [items[m], items[i]] = [items[i]!, items[m]!];
        i = m;
      }
    }
    return top;
  }
}

let nextGroupId = 1;

export class PartitionState {
  private readonly open = new Map<string, Group>();
  private readonly deadlines = new DeadlineHeap();
  /** Per bucket, the known objects not yet passed, by first offset. */
  private readonly known = new Map<string, KnownObject[]>();
  /** The next offset to process (everything before it has been seen). */
  position: bigint;
  /** Records skipped because an object holding them was already durable. */
  covered = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    start: bigint,
    private readonly rules: RotationRules,
    known: KnownObject[] = [],
  ) {
    this.position = start;
    for (const k of [...known].sort((a, b) => (BigInt(a.entry.first_offset) < BigInt(b.entry.first_offset) ? -1 : 1))) {
      const bucket = bucketOf({ site: k.entry.site_id, stream: k.entry.stream, date: k.entry.date, hour: k.entry.hour });
      const list = this.known.get(bucket) ?? [];
      list.push(k);
      this.known.set(bucket, list);
    }
  }

  /** The open groups (not yet closed). */
  groups(): IterableIterator<Group> {
    return this.open.values();
  }

  /** The lowest first offset of the open groups, or null when none is open. */
  lowestOpenOffset(): bigint | null {
    let low: bigint | null = null;
    for (const g of this.open.values()) if (low === null || g.first < low) low = g.first;
    return low;
  }

  /** Moves the position past offsets that held nothing to process (transaction markers, aborted records). */
  advance(next: bigint): void {
    if (next > this.position) this.position = next;
  }

  /** A heartbeat at `offset`: moves the rotation clock to `time` (ms). */
  heartbeat(offset: bigint, time: number): Closed[] {
    this.position = offset + 1n;
    return this.closeDue(time);
  }

  /** A record that cannot be archived as a reading (kept elsewhere): only the position moves. */
  skip(offset: bigint): void {
    this.position = offset + 1n;
  }

  /** Processes one record (rules 1-4 of the module comment); returns the groups it closed. */
  add(record: RoutedRecord): Closed[] {
    this.position = record.offset + 1n;
    const closed = this.closeDue(record.ingestTime);
    const hive = hivePartition(record.site, record.stream, record.eventTime);
    const bucket = bucketOf(hive);
    let group = this.open.get(bucket);

    // 2. replay of a known object
    const list = this.known.get(bucket);
    if (list !== undefined) {
      while (list.length > 0 && BigInt(list[0]!.entry.last_offset) < record.offset) list.shift();
      if (list.length === 0) this.known.delete(bucket);
      const head = list[0];
      if (head !== undefined && BigInt(head.entry.first_offset) <= record.offset) {
        if (group !== undefined && group.forced !== head.entry) {
          closed.push(this.close(group, 'split'));
          group = undefined;
        }
        if (head.durable) {
          this.covered += 1;
        } else {
          group ??= this.openGroup(bucket, hive, record, head.entry);
          this.append(group, record);
        }
        if (BigInt(head.entry.last_offset) === record.offset) {
          list.shift();
          if (group !== undefined) closed.push(this.close(group, 'replay'));
        }
        return closed;
      }
    }

    // 3. subject
    if (group !== undefined && group.rawSubject !== record.rawSubject) {
      closed.push(this.close(group, 'subject'));
      group = undefined;
    }
    // 4. join, then records and bytes
    if (group === undefined) {
      group = this.openGroup(bucket, hive, record, null);
      this.deadlines.push(group.t0 + this.rules.intervalMs, group);
    }
    this.append(group, record);
    if (group.records.length >= this.rules.maxRecords) closed.push(this.close(group, 'records'));
    else if (group.bytes >= this.rules.maxBytes) closed.push(this.close(group, 'bytes'));
    return closed;
  }

  /** Closes a group early (the memory cap); a group re-forming a manifest entry cannot be cut and returns null. */
  closeEarly(group: Group): Closed | null {
    if (group.closed || group.forced !== null) return null;
    return this.close(group, 'memory');
  }

  private closeDue(time: number): Closed[] {
    const out: Closed[] = [];
    for (const group of this.deadlines.popDue(time)) if (!group.closed) out.push(this.close(group, 'time'));
    return out;
  }

  private openGroup(bucket: string, hive: HivePartition, record: RoutedRecord, forced: ManifestEntry | null): Group {
    const group: Group = { id: nextGroupId++, bucket, hive, rawSubject: forced?.raw_subject ?? record.rawSubject, records: [], first: record.offset, last: record.offset, bytes: 0, t0: record.ingestTime, forced, closed: false };
    this.open.set(bucket, group);
    return group;
  }

  private append(group: Group, record: RoutedRecord): void {
    group.records.push({ offset: record.offset, value: record.value });
    group.last = record.offset;
    group.bytes += record.value.length;
  }

  private close(group: Group, reason: CloseReason): Closed {
    group.closed = true;
    if (this.open.get(group.bucket) === group) this.open.delete(group.bucket);
    return { group, reason };
  }
}
