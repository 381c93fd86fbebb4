/**
 * `skyhaul-central archive`: the curated topics into the object store, each record once, in
 * objects whose keys are a function of (topic, partition, offsets) (ARCHITECTURE.md central
 * invariant 11; the role Kafka Connect's S3 sink plays). The contract:
 *
 *  - Reading: one Kafka consumer group (`archive.groupId`) over `archive.topics` and the topics
 *    matching `archive.topicPattern` (default `^skyhaul\.curated\.`), read_committed, through
 *    KafkaLog's GroupFetcher (positions reset to the committed offsets at every rebalance).
 *  - Cutting: per partition, partition.ts (a pure function of the record sequence: bucket =
 *    site/stream/date/hour of event time; rotation by records, bytes and ingest time; raw subject
 *    changes; heartbeats). Layout and keys: layout.ts; bytes: encode.ts (Parquet or JSON lines).
 *  - Writing an object: (1) its manifest entry (manifest.ts), with If-None-Match; (2) the object,
 *    with If-None-Match. A key that exists is success if its bytes match (SHA-256); a mismatch is
 *    a conflict: counted, logged, the partition halted (not ready), never overwritten.
 *  - Committing: only after (1) and (2) are durable; the committed offset of a partition is the
 *    first offset of its earliest group not yet durable (open or being written), else its position.
 *  - Restart or rebalance: every partition restarts at its committed offset; the manifest entries
 *    with a last offset at or after it are read first, so records already in a durable object are
 *    skipped and an entry whose object is missing is re-formed exactly (partition.ts rule 2).
 *  - Memory: record bytes buffered (open groups and objects being written, plus
 *    RECORD_OVERHEAD_BYTES per record) stay under `archive.memoryCap`: past it the largest groups are
 *    written early (closed_by 'memory'), and fetching waits for writes.
 *  - Bad input: a value that is not a curated record (wire format, unknown or foreign schema,
 *    bad Avro) is kept as it came under `_rejected/` (layout.ts), counted and logged with topic,
 *    partition and offset; it never stops the archiver. The registry away: the batch waits.
 *  - SIGTERM: stop fetching, finish the objects being written, commit, leave the group, exit 0.
 *    Open groups are not written early (that would cut by the wall clock): the next owner
 *    re-reads them from the committed offset and cuts the same objects.
 *
 * Heartbeats (for partitions with no traffic): a record in the topic with header
 * `record_kind: heartbeat` and `heartbeat_time: <ms since epoch>` moves the partition's rotation
 * clock (see the README, "The archiver", for the shape the ETL writes). It is not archived.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { CentralConfig } from '../config/load.ts';
import { HEARTBEAT_KIND, HEARTBEAT_TIME_HEADER, RECORD_KIND_HEADER } from '../curated/index.ts';
import { KafkaLog, type AssignedPartition, type GroupBatch, type GroupFetcher, type InRecord } from '../kafka/index.ts';
import { ObjectStore } from '../objectstore/index.ts';
import type { Service, ServiceContext } from '../service/runner.ts';
import { CuratedDecoder, Undecodable } from './decode.ts';
import { encodeObject, sha256, unitsOf, type ArchivedRecord } from './encode.ts';
import { manifestKey, manifestPrefix, objectKey, padOffset, rejectedKey } from './layout.ts';
import { parseEntry, serialiseEntry, type ManifestEntry } from './manifest.ts';
import { PartitionState, type Closed, type Group, type KnownObject } from './partition.ts';

/** Heap bytes a buffered record costs beyond its value (the object and array slot around it); counted against the memory cap. */
export const RECORD_OVERHEAD_BYTES = 96;

const CONTENT_TYPE = { parquet: 'application/vnd.apache.parquet', 'jsonl.gz': 'application/x-ndjson' } as const;

interface Flush {
  key: string;
  group: Group;
  reason: Closed['reason'];
  /** Bytes counted against the memory cap until the flush ends. */
  cost: number;
  done: Promise<void>;
}

class Conflict extends Error {}

function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

export class ArchiveService implements Service {
  readonly name = 'archive';
  private readonly kafka: KafkaLog;
  private readonly store: ObjectStore;
  private readonly decoder: CuratedDecoder;
  private reader: GroupFetcher | null = null;
  private generation = -1;
  private readonly partitions = new Map<string, PartitionState>();
  private readonly halted = new Map<string, string>();
  private readonly flushes = new Set<Flush>();
  private readonly committed = new Map<string, bigint>();
  private bufferedBytes = 0;
  private commitRunning: Promise<void> | null = null;
  private commitAgain = false;
  private started = false;
  private bucketReady = false;
  private stopping = false;
  private stopDeadline = Infinity;
  private lastError: { message: string; at: number } | null = null;
  private readonly m: {
    records: Counter<'topic'>;
    covered: Counter<'topic'>;
    objects: Counter<'reason'>;
    objectBytes: Counter;
    rejected: Counter<'reason'>;
    heartbeats: Counter;
    conflicts: Counter;
    storeErrors: Counter<'op'>;
    putSeconds: Histogram;
    endToEnd: Histogram;
    lag: Gauge<'topic' | 'partition'>;
    rebalances: Counter;
    kafkaErrors: Counter;
  };

  constructor(
    private readonly config: CentralConfig,
    private readonly context: ServiceContext,
  ) {
    this.kafka = new KafkaLog({ bootstrap: config.kafka.bootstrap, clientId: `${config.kafka.clientId}-archive` });
    const o = config.objectStore;
    this.store = new ObjectStore({ ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }), region: o.region, bucket: o.bucket, accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, forcePathStyle: o.forcePathStyle });
    this.decoder = new CuratedDecoder(config.registry.url);
    const registers = [context.metrics];
    this.m = {
      records: new Counter({ name: 'skyhaul_central_archive_records_total', help: 'Records written into durable objects, by topic.', labelNames: ['topic'], registers }),
      covered: new Counter({ name: 'skyhaul_central_archive_covered_total', help: 'Records read again after a restart or rebalance and skipped: already in a durable object (the manifest says so).', labelNames: ['topic'], registers }),
      objects: new Counter({ name: 'skyhaul_central_archive_objects_total', help: 'Objects written, by the rule that closed them (records, bytes, time, subject, memory, split, replay).', labelNames: ['reason'], registers }),
      objectBytes: new Counter({ name: 'skyhaul_central_archive_object_bytes_total', help: 'Bytes of objects written (compressed).', registers }),
      rejected: new Counter({ name: 'skyhaul_central_archive_rejected_total', help: 'Records that are not curated records, kept under _rejected/, by reason.', labelNames: ['reason'], registers }),
      heartbeats: new Counter({ name: 'skyhaul_central_archive_heartbeats_total', help: 'Heartbeat records read (they move a partition’s rotation clock).', registers }),
      conflicts: new Counter({ name: 'skyhaul_central_archive_conflicts_total', help: 'Keys found holding other bytes than the archiver would write (never overwritten; the partition halts): an alarm.', registers }),
      storeErrors: new Counter({ name: 'skyhaul_central_archive_store_errors_total', help: 'Object store requests that failed and were retried, by operation.', labelNames: ['op'], registers }),
      putSeconds: new Histogram({ name: 'skyhaul_central_archive_put_seconds', help: 'Writing one object and its manifest entry.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
      endToEnd: new Histogram({ name: 'skyhaul_central_archive_end_to_end_seconds', help: "From a record's ingest at the edge (ingest_time) to its object being durable.", buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 3600, 86400], registers }),
      lag: new Gauge({ name: 'skyhaul_central_archive_lag_records', help: 'Offsets between the last fetch position and the partition’s last stable offset.', labelNames: ['topic', 'partition'], registers }),
      rebalances: new Counter({ name: 'skyhaul_central_archive_rebalances_total', help: 'Assignments received (the first one included).', registers }),
      kafkaErrors: new Counter({ name: 'skyhaul_central_archive_kafka_errors_total', help: 'Kafka fetch, metadata or group errors (retried).', registers }),
    };
    // prom-client calls collect() with the gauge as `this`; these read the service's state.
    const view = {
      buffered: (): number => this.bufferedBytes,
      cap: (): number => this.config.archive.memoryCapBytes,
      groups: (): number => {
        let n = 0;
        for (const p of this.partitions.values()) for (const _ of p.groups()) n += 1;
        return n;
      },
      inflight: (): number => this.flushes.size,
      partitions: (): number => this.partitions.size,
      halted: (): number => this.halted.size,
    };
    new Gauge({ name: 'skyhaul_central_archive_buffered_bytes', help: 'Record bytes held (open groups and objects being written), against archive.memoryCap.', registers, collect(this: Gauge) { this.set(view.buffered()); } });
    new Gauge({ name: 'skyhaul_central_archive_memory_cap_bytes', help: 'archive.memoryCap.', registers, collect(this: Gauge) { this.set(view.cap()); } });
    new Gauge({ name: 'skyhaul_central_archive_open_groups', help: 'Objects being gathered.', registers, collect(this: Gauge) { this.set(view.groups()); } });
    new Gauge({ name: 'skyhaul_central_archive_inflight_objects', help: 'Objects being written.', registers, collect(this: Gauge) { this.set(view.inflight()); } });
    new Gauge({ name: 'skyhaul_central_archive_partitions', help: 'Partitions assigned to this instance.', registers, collect(this: Gauge) { this.set(view.partitions()); } });
    new Gauge({ name: 'skyhaul_central_archive_halted_partitions', help: 'Partitions stopped by a conflict (see the log): an alarm.', registers, collect(this: Gauge) { this.set(view.halted()); } });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.withRetry('ensure_bucket', () => this.store.ensureBucket(), 'the object store bucket');
    this.bucketReady = true;
    const a = this.config.archive;
    this.reader = this.kafka.group(
      { groupId: a.groupId, topics: a.topics, ...(a.topicPattern === null ? {} : { pattern: a.topicPattern }), refreshMs: a.topicRefreshMs, maxBytes: a.fetchMaxBytes },
      {
        assigned: (generation, partitions) => this.assigned(generation, partitions),
        batch: (batch) => this.batch(batch),
        error: (error) => {
          this.m.kafkaErrors.inc();
          this.lastError = { message: error.message, at: Date.now() };
          this.context.logger.warn({ err: error.message }, 'kafka');
        },
      },
    );
    await this.reader.start();
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.started) reasons.push('not started');
    if (!this.bucketReady) reasons.push(`bucket ${this.config.objectStore.bucket} not reachable yet`);
    if (this.reader !== null && this.reader.topics.length === 0) reasons.push('no topic to archive yet (archive.topics, archive.topicPattern)');
    else if (this.reader !== null && this.generation < 0) reasons.push('not in the consumer group yet');
    for (const [key, why] of this.halted) reasons.push(`partition ${key} halted: ${why}`);
    if (this.lastError !== null && Date.now() - this.lastError.at < 10_000) reasons.push(`kafka: ${this.lastError.message}`);
    if (this.stopping) reasons.push('stopping');
    return { ready: reasons.length === 0, reasons };
  }

  /** Retries a store operation with backoff (0.2 s doubling to 10 s) until it succeeds, or until a stop gives up on it. */
  private async withRetry<T>(op: string, fn: () => Promise<T>, what: string): Promise<T> {
    let delay = 200;
    for (;;) {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof Conflict) throw error;
        this.m.storeErrors.inc({ op });
        this.context.logger.warn({ err: (error as Error).message, op, what }, 'object store request failed; retrying');
        if (Date.now() + delay > this.stopDeadline) throw new Error(`stopping: gave up on ${what}`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  /** The manifest entries of a partition with last offset >= start, and whether each object is durable. */
  private async knownObjects(topic: string, partition: number, start: bigint): Promise<KnownObject[]> {
    const prefix = manifestPrefix(this.config.archive.prefix, topic, partition);
    const listed = await this.store.list(prefix, 1000, start > 0n ? `${prefix}${padOffset(start - 1n)}.json` : undefined);
    const out: KnownObject[] = [];
    const queue = [...listed];
    const worker = async (): Promise<void> => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const bytes = await this.store.get(item.key);
        if (bytes === null) continue; // deleted meanwhile by an operator
        const entry = parseEntry(item.key, bytes);
        const head = await this.store.head(entry.key);
        if (head !== null && (head.size !== entry.bytes || head.metadata.sha256 !== entry.sha256)) {
          throw new Conflict(`object ${entry.key} holds ${head.size} bytes with sha256 ${head.metadata.sha256 ?? '(none)'}, its manifest entry ${item.key} says ${entry.bytes} bytes, ${entry.sha256}`);
        }
        if (head === null && BigInt(entry.first_offset) < start) {
          // Its first records come before where this partition starts reading: it cannot be re-formed
          // from here. Only an operator's deletion leads here (commits never pass a missing object).
          this.context.logger.error({ object: entry.key, first_offset: entry.first_offset, start: start.toString() }, `object missing and its first offset ${entry.first_offset} is before the start ${start}: reset the group to offset ${entry.first_offset} or earlier to re-form it (docs/runbooks/reprocess-time-range.md)`);
        }
        out.push({ entry, durable: head !== null });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return out;
  }

  private async assigned(generation: number, partitions: AssignedPartition[]): Promise<void> {
    this.m.rebalances.inc();
    // Writes of the previous assignment finish first: the manifest read below must see them.
    await Promise.allSettled([...this.flushes].map((f) => f.done));
    this.partitions.clear();
    this.committed.clear();
    this.halted.clear();
    this.bufferedBytes = 0;
    const states = new Map<string, PartitionState>();
    for (const p of partitions) {
      const key = partitionKey(p.topic, p.partition);
      let known: KnownObject[] = [];
      try {
        known = await this.knownObjects(p.topic, p.partition, p.start);
      } catch (error) {
        if (!(error instanceof Conflict)) throw error;
        this.halt(key, error.message);
      }
      states.set(key, new PartitionState(p.topic, p.partition, p.start, this.config.archive.rotation, known));
      this.committed.set(key, p.start);
    }
    for (const [key, state] of states) this.partitions.set(key, state);
    this.generation = generation;
    this.context.logger.info({ generation, partitions: partitions.map((p) => `${p.topic}[${p.partition}]@${p.start}`) }, 'assigned');
  }

  private halt(key: string, why: string): void {
    this.m.conflicts.inc();
    this.halted.set(key, why);
    this.context.logger.error({ partition: key, err: why }, 'conflict: partition halted, nothing overwritten (runbook: restart a stuck archiver)');
  }

  private async batch(batch: GroupBatch): Promise<void> {
    if (this.stopping || batch.generation !== this.generation) return;
    const key = partitionKey(batch.topic, batch.partition);
    const state = this.partitions.get(key);
    if (state === undefined || this.halted.has(key)) return;
    this.m.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.lastStable - batch.next));

    // Everything that may wait or fail happens before the state changes, so a batch that throws
    // (the registry or the store away) is handed over again whole and nothing is counted twice.
    const kinds = new Map<InRecord, 'heartbeat' | 'reading' | Undecodable>();
    for (const record of batch.records) {
      if (record.offset < state.position) continue;
      if (record.headers[RECORD_KIND_HEADER] === HEARTBEAT_KIND) {
        kinds.set(record, Number.isFinite(Number(record.headers[HEARTBEAT_TIME_HEADER])) ? 'heartbeat' : new Undecodable('wire_format', `heartbeat without a numeric ${HEARTBEAT_TIME_HEADER} header`));
        continue;
      }
      await this.decoder.prepare(record.value);
      try {
        this.decoder.decode(record.value);
        kinds.set(record, 'reading');
      } catch (error) {
        if (!(error instanceof Undecodable)) throw error;
        kinds.set(record, error);
      }
    }
    for (const [record, kind] of kinds) if (kind instanceof Undecodable) await this.reject(record, kind);

    const closed: Closed[] = [];
    for (const [record, kind] of kinds) {
      if (kind instanceof Undecodable) {
        state.skip(record.offset);
      } else if (kind === 'heartbeat') {
        this.m.heartbeats.inc();
        closed.push(...state.heartbeat(record.offset, Number(record.headers[HEARTBEAT_TIME_HEADER])));
      } else {
        const reading = this.decoder.decode(record.value);
        const coveredBefore = state.covered;
        // A copy: the fetched value is a slice of the whole fetch response, which it would keep alive.
        const value = Buffer.from(record.value!);
        closed.push(...state.add({ offset: record.offset, value, site: reading.site_id, stream: reading.stream, eventTime: reading.event_time, ingestTime: reading.ingest_time, rawSubject: reading.raw_subject }));
        if (state.covered > coveredBefore) this.m.covered.inc({ topic: batch.topic });
        else this.bufferedBytes += value.length + RECORD_OVERHEAD_BYTES;
      }
      for (const c of closed.splice(0)) this.startFlush(key, c);
      // The cap holds after every record, not only after the batch (a fetch brings up to 1 MiB per
      // partition). Waiting here is safe: nothing below can fail, and the reader is serial.
      if (this.bufferedBytes > this.config.archive.memoryCapBytes) await this.holdMemory();
    }
    state.advance(batch.next);
    await this.holdMemory();
    this.scheduleCommit();
  }

  /** Keeps a record that is not a curated record under _rejected/ (idempotent: its key is its offset). */
  private async reject(record: InRecord, why: Undecodable): Promise<void> {
    const body = Buffer.from(
      `${JSON.stringify({ topic: record.topic, partition: record.partition, offset: record.offset.toString(), reason: why.reason, message: why.message, key: record.key, headers: record.headers, timestamp: record.timestamp, value_base64: record.value?.toString('base64') ?? null })}\n`,
    );
    await this.withRetry('reject', () => this.store.putIfAbsent(rejectedKey(this.config.archive.prefix, record.topic, record.partition, record.offset), body, { contentType: 'application/json' }), `rejected record ${record.topic}[${record.partition}]@${record.offset}`);
    this.m.rejected.inc({ reason: why.reason });
    this.context.logger.error({ topic: record.topic, partition: record.partition, offset: record.offset.toString(), reason: why.reason, err: why.message }, 'not a curated record: kept under _rejected/, not archived');
  }

  /** Over the memory cap: writes the largest open groups early; waits for writes while still over it or while too many are in flight. */
  private async holdMemory(): Promise<void> {
    const { memoryCapBytes, maxInFlight } = this.config.archive;
    for (;;) {
      if (this.bufferedBytes > memoryCapBytes) {
        let largest: { key: string; state: PartitionState; group: Group } | null = null;
        for (const [key, state] of this.partitions) {
          if (this.halted.has(key)) continue;
          for (const group of state.groups()) if (group.forced === null && (largest === null || group.bytes > largest.group.bytes)) largest = { key, state, group };
        }
        const early = largest === null ? null : largest.state.closeEarly(largest.group);
        if (early !== null && largest !== null) {
          this.startFlush(largest.key, early);
          continue;
        }
      }
      if ((this.bufferedBytes > memoryCapBytes || this.flushes.size > maxInFlight) && this.flushes.size > 0) {
        await Promise.race([...this.flushes].map((f) => f.done));
        continue;
      }
      return;
    }
  }

  private startFlush(key: string, closed: Closed): void {
    const cost = closed.group.bytes + closed.group.records.length * RECORD_OVERHEAD_BYTES;
    const flush: Flush = { key, group: closed.group, reason: closed.reason, cost, done: Promise.resolve() };
    const generation = this.generation;
    flush.done = this.runFlush(flush)
      .catch((error: unknown) => {
        if (error instanceof Conflict) this.halt(key, error.message);
        else this.context.logger.error({ partition: key, err: (error as Error).message }, 'object not written (not committed: read again at the next start)');
      })
      .finally(() => {
        this.flushes.delete(flush);
        if (generation === this.generation) this.bufferedBytes -= cost;
        this.scheduleCommit();
      });
    this.flushes.add(flush);
  }

  /** Writes one group: its manifest entry, then its object (each first-writer-wins, checked by SHA-256). */
  private async runFlush(flush: Flush): Promise<void> {
    const { group } = flush;
    const [topic, partitionText] = [flush.key.slice(0, flush.key.lastIndexOf(':')), flush.key.slice(flush.key.lastIndexOf(':') + 1)];
    const partition = Number(partitionText);
    const { prefix, format } = this.config.archive;
    // Yield first: encoding is synchronous CPU work, and the batch that closed the group goes on meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    const records: ArchivedRecord[] = group.records.map((r) => ({ offset: r.offset, partition, reading: this.decoder.decode(r.value) }));
    const key = objectKey(prefix, group.hive, topic, partition, group.first, group.last, format);
    const bytes = encodeObject(format, records, { topic, partition, first: group.first, last: group.last, rawSubject: group.rawSubject });
    const digest = sha256(bytes);
    const producers: ManifestEntry['producers'] = {};
    let minEvent = Infinity;
    let maxEvent = -Infinity;
    for (const { reading } of records) {
      const p = (producers[reading.producer_id] ??= { first_sequence: reading.sequence, last_sequence: reading.sequence, records: 0 });
      p.first_sequence = Math.min(p.first_sequence, reading.sequence);
      p.last_sequence = Math.max(p.last_sequence, reading.sequence);
      p.records += 1;
      minEvent = Math.min(minEvent, reading.event_time);
      maxEvent = Math.max(maxEvent, reading.event_time);
    }
    const entry: ManifestEntry = {
      version: 1,
      key,
      format,
      topic,
      partition,
      first_offset: group.first.toString(),
      last_offset: group.last.toString(),
      records: records.length,
      bytes: bytes.length,
      sha256: digest,
      site_id: group.hive.site,
      stream: group.hive.stream,
      date: group.hive.date,
      hour: group.hive.hour,
      raw_subject: group.rawSubject,
      min_event_time: minEvent,
      max_event_time: maxEvent,
      units: unitsOf(records),
      producers: Object.fromEntries(Object.entries(producers).sort(([a], [b]) => (a < b ? -1 : 1))),
      closed_by: group.forced?.closed_by ?? flush.reason,
    };
    const entryKey = manifestKey(prefix, topic, partition, group.last);
    const entryBytes = serialiseEntry(entry);
    const started = performance.now();
    await this.withRetry(
      'manifest',
      async () => {
        if (group.forced !== null) {
          // Re-forming an entry whose object was never written: if this version of the archiver
          // encodes it differently, the intent is replaced (no reader can have seen that object).
          if (group.forced.sha256 !== digest || group.forced.key !== key) await this.store.put(entryKey, entryBytes, { contentType: 'application/json' });
          return;
        }
        if ((await this.store.putIfAbsent(entryKey, entryBytes, { contentType: 'application/json' })) === 'exists') {
          const existing = await this.store.get(entryKey);
          if (existing !== null && !existing.equals(entryBytes)) throw new Conflict(`manifest entry ${entryKey} exists with other content than ${key} (${digest}): ${existing.toString().slice(0, 300)}`);
        }
      },
      `manifest entry ${entryKey}`,
    );
    await this.withRetry(
      'object',
      async () => {
        const metadata = { sha256: digest, records: String(records.length), 'first-offset': group.first.toString(), 'last-offset': group.last.toString() };
        if ((await this.store.putIfAbsent(key, bytes, { contentType: CONTENT_TYPE[format], metadata })) === 'exists') {
          const head = await this.store.head(key);
          if (head !== null && head.metadata.sha256 !== digest) throw new Conflict(`object ${key} exists with sha256 ${head.metadata.sha256 ?? '(none)'}, the archiver's is ${digest}`);
        }
      },
      `object ${key}`,
    );
    this.m.putSeconds.observe((performance.now() - started) / 1000);
    this.m.objects.inc({ reason: entry.closed_by });
    this.m.objectBytes.inc(bytes.length);
    this.m.records.inc({ topic }, records.length);
    const now = Date.now();
    for (const { reading } of records) this.m.endToEnd.observe(Math.max(0, (now - reading.ingest_time) / 1000));
  }

  /** Commits, per partition, the first offset not yet durable (coalescing calls made meanwhile). */
  private scheduleCommit(): void {
    if (this.commitRunning !== null) {
      this.commitAgain = true;
      return;
    }
    this.commitRunning = (async () => {
      do {
        this.commitAgain = false;
        await this.commitNow().catch((error: unknown) => this.context.logger.warn({ err: (error as Error).message }, 'offset commit failed (retried with the next one)'));
      } while (this.commitAgain && !this.stoppedReader);
    })().finally(() => {
      this.commitRunning = null;
    });
  }

  private stoppedReader = false;

  private async commitNow(): Promise<void> {
    if (this.reader === null || this.stoppedReader) return;
    const generation = this.generation;
    const writing = new Map<string, bigint>();
    for (const f of this.flushes) {
      const low = writing.get(f.key);
      if (low === undefined || f.group.first < low) writing.set(f.key, f.group.first);
    }
    const offsets: Array<{ topic: string; partition: number; offset: bigint }> = [];
    for (const [key, state] of this.partitions) {
      if (this.halted.has(key)) continue;
      let offset = state.position;
      const open = state.lowestOpenOffset();
      if (open !== null && open < offset) offset = open;
      const w = writing.get(key);
      if (w !== undefined && w < offset) offset = w;
      if (offset > (this.committed.get(key) ?? -1n)) offsets.push({ topic: state.topic, partition: state.partition, offset });
    }
    if (offsets.length === 0) return;
    if (await this.reader.commit(generation, offsets)) for (const o of offsets) this.committed.set(partitionKey(o.topic, o.partition), o.offset);
  }

  /** Stops fetching, finishes the objects being written (up to 20 s), commits, leaves the group. Open groups are left for the next owner. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopDeadline = Date.now() + 20_000;
    await Promise.allSettled([...this.flushes].map((f) => f.done));
    await this.commitRunning;
    await this.commitNow().catch((error: unknown) => this.context.logger.warn({ err: (error as Error).message }, 'last offset commit failed'));
    this.stoppedReader = true;
    await this.reader?.close();
    await this.kafka.close();
    this.store.close();
  }
}
