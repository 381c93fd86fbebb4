/**
 * Kafka behind one small interface (ARCHITECTURE: "thin clients behind small interfaces"): what
 * the central services need of the central log, on `@platformatic/kafka` 1.x (pure TypeScript,
 * idempotent producer and transactions verified against Kafka 4.4; its 1.x line runs on Node 20).
 * `test/kafka/contract.test.ts` holds it to its contract against the real broker.
 *
 *  - `ensureTopics`: topics with explicit partitions and configuration (retention, cleanup policy,
 *    min.insync.replicas), created when missing, never altered behind an operator's back.
 *  - `transactional(id)`: a transactional producer (idempotent, acks=all). `commit(records)` writes
 *    them in one transaction; a newer producer with the same transactional.id fences this one
 *    (Kafka's zombie fencing): its commits then fail with `KafkaFencedError`.
 *  - `readToEnd(topic)`: everything committed in a topic, every partition from the start to its
 *    last stable offset (read_committed), e.g. a compacted state topic at start-up.
 *  - `follow(topic, onRecord)`: the same from the start, then every record as it is committed
 *    (a state topic that other instances write too); `caughtUp()` waits until everything
 *    committed before the call has been handed over.
 *  - `groupReader(...)`: a member of a consumer group (read_committed, positions from the group's
 *    committed offsets) whose records a transactional producer commits together with their
 *    offsets: `producer.commit(out, { reader, consumed })` is Kafka's consume-transform-produce
 *    (KIP-98 TxnOffsetCommit, fenced by the group generation per KIP-447). Used by the ETL.
 *  - `group(options, handler)`: a consumer-group member with manual offset commits after an
 *    outside side effect (see GroupFetcher; the archiver's object store): the group assigns
 *    partitions, the fetcher reads read_committed from the committed offsets and hands batches to
 *    the handler one at a time; the caller commits what it has made durable. Positions are the
 *    fetcher's own, reset to the committed offsets on every rebalance, so a batch is never handed
 *    over from a position the group did not agree on. Two readers because the ETL's commit is a
 *    Kafka transaction that needs the client's own group metadata per record, while the archiver's
 *    commit follows an S3 write and needs the per-partition batches and generations.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Admin, Consumer, Producer, ProduceAcks, type Message } from '@platformatic/kafka';

type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>;

export interface KafkaOptions {
  /** host:port of one or more brokers. */
  bootstrap: string[];
  clientId: string;
  /** Per request; default 30 s. */
  timeoutMs?: number;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
  /** Topic configuration, Kafka's own names: `retention.ms`, `cleanup.policy`, `min.insync.replicas`, … */
  config: Record<string, string>;
}

export interface OutRecord {
  topic: string;
  /** The partitioning key (a stream, a state key). */
  key: string;
  /** null: a tombstone (compacted topics). */
  value: Buffer | null;
  headers: Record<string, string>;
  /** ms since epoch; default: now (CreateTime). */
  timestamp?: number;
  /** An explicit partition (a per-partition heartbeat); default: the key's hash (murmur2, as Kafka's Java client). */
  partition?: number;
}

export interface InRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: string;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

/** Another producer with this transactional.id has taken over (KIP-98 fencing): stop writing. */
export class KafkaFencedError extends Error {
  override readonly name = 'KafkaFencedError';
}

/** READ_COMMITTED in Kafka's protocol (FetchRequest isolation_level). */
const READ_COMMITTED = 1;
/** Longest pause between a follower's retries while the broker is away, ms. */
const FOLLOW_RETRY_MAX_MS = 5000;

function headersOf(raw: Map<Buffer, Buffer> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of raw ?? []) out[k.toString()] = v.toString();
  return out;
}

function toMessage(r: OutRecord): { topic: string; key: Buffer; value: Buffer | undefined; headers: Map<Buffer, Buffer>; timestamp: bigint; partition?: number } {
  return {
    topic: r.topic,
    ...(r.partition === undefined ? {} : { partition: r.partition }),
    key: Buffer.from(r.key),
    value: r.value ?? undefined,
    headers: new Map(Object.entries(r.headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
    timestamp: BigInt(r.timestamp ?? Date.now()),
  };
}

/**
 * Kafka protocol error codes anywhere in an error (the client nests them: an AggregateError of
 * responses whose partitions carry `partitionErrorCode`). Kafka protocol, "Error Codes".
 */
export function kafkaErrorCodes(error: unknown): Set<number> {
  const codes = new Set<number>();
  const seen = new WeakSet<object>();
  const walk = (value: unknown, depth: number): void => {
    if (value === null || typeof value !== 'object' || depth > 12 || seen.has(value)) return;
    seen.add(value);
    for (const [key, child] of Object.entries(value)) {
      if (typeof child === 'number' && /errorcode$/i.test(key) && child !== 0) codes.add(child);
      else walk(child, depth + 1);
    }
    if (value instanceof AggregateError) for (const child of value.errors) walk(child, depth + 1);
  };
  walk(error, 0);
  return codes;
}

/** PRODUCER_FENCED (90) or INVALID_PRODUCER_EPOCH (47): a newer producer owns the transactional.id. */
function isFenced(error: unknown): boolean {
  const codes = kafkaErrorCodes(error);
  return codes.has(90) || codes.has(47);
}

export class TransactionalProducer {
  private queue: Promise<unknown> = Promise.resolve();
  private fenced = false;
  /** Begun ahead (a transaction holds nothing until a partition is added; Kafka refuses an empty EndTxn). */
  private next: Transaction | null = null;

  constructor(
    private readonly producer: Producer,
    readonly transactionalId: string,
  ) {}

  /** Initialises the producer id and epoch (fencing older producers with this id). */
  async init(): Promise<void> {
    try {
      this.next = await this.producer.beginTransaction();
    } catch (error) {
      throw this.classify(error);
    }
  }

  /**
   * Writes `records` in one transaction (serialised with earlier calls), with, when `consumed` is
   * given, the group offsets after those records (each partition's last one + 1): they commit or
   * abort together. Throws KafkaFencedError once fenced by a newer producer; any other error
   * (including a stale group generation after a rebalance: ILLEGAL_GENERATION, 22) means nothing
   * of the transaction was committed.
   */
  commit(records: OutRecord[], consumed?: { reader: GroupReader; records: GroupRecord[] }): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.fenced) throw new KafkaFencedError(`transactional id ${this.transactionalId} was fenced by a newer producer`);
      if (records.length === 0 && (consumed?.records.length ?? 0) === 0) return;
      let transaction: Transaction;
      try {
        transaction = this.next ?? (await this.producer.beginTransaction());
      } catch (error) {
        throw this.classify(error);
      }
      this.next = null;
      try {
        if (records.length > 0) await transaction.send({ messages: records.map(toMessage), acks: ProduceAcks.ALL });
        if (consumed !== undefined && consumed.records.length > 0) {
          await transaction.addConsumer(consumed.reader.consumer);
          for (const last of lastPerPartition(consumed.records)) await transaction.addOffset(last);
        }
        await transaction.commit();
      } catch (error) {
        if (!transaction.completed) await transaction.abort().catch(() => undefined);
        throw this.classify(error);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private classify(error: unknown): Error {
    if (!isFenced(error)) return error instanceof Error ? error : new Error(String(error));
    this.fenced = true;
    return new KafkaFencedError(`transactional id ${this.transactionalId} was fenced by a newer producer`, { cause: error });
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.next !== null && !this.next.completed) await this.next.cancel().catch(() => undefined);
    await this.producer.close().catch(() => undefined);
  }
}

/** A read_committed reader that stays at the end of a topic (KafkaLog.follow). */
export interface Follower {
  /**
   * Resolves once every record committed before the call (each partition up to its last stable
   * offset then) has been handed to `onRecord`; rejects after `timeoutMs` (default 30 s) or when
   * the follower fails or closes.
   */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Stops reading; safe twice. */
  close(): Promise<void>;
}

/** A record read by a GroupReader: an InRecord that can also be committed as an offset. */
export interface GroupRecord extends InRecord {
  /** The client's message (its group metadata goes into TxnOffsetCommit). */
  readonly message: Message;
}

type GroupConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;

type MessageStream = Awaited<ReturnType<GroupConsumer['consume']>>;

/** Each partition's record with the highest offset (what to commit: its offset + 1). */
function lastPerPartition(records: GroupRecord[]): Message[] {
  const last = new Map<string, GroupRecord>();
  for (const r of records) {
    const key = `${r.topic}:${r.partition}`;
    const seen = last.get(key);
    if (seen === undefined || r.offset > seen.offset) last.set(key, r);
  }
  return [...last.values()].map((r) => r.message);
}

export interface GroupReaderOptions {
  groupId: string;
  topics: string[];
  /** Ms without a heartbeat before the group coordinator drops this member (Kafka's session.timeout.ms). */
  sessionTimeoutMs?: number;
  /** Records buffered ahead of the caller before fetching pauses. */
  highWater?: number;
}

/**
 * A member of a consumer group reading `topics` (read_committed). Positions come from the group's
 * committed offsets (earliest where none): after a rebalance the client re-reads them for every
 * assigned partition, waiting for offsets an unfinished transaction holds (RequireStable, patched
 * in); after a failed transaction the caller calls `rewind()` to do the same without leaving the
 * group (which would make every other member rebalance).
 *
 * Events: 'assigned' (positions were (re)set from the group's committed offsets: at open, after
 * a rebalance, after a rewind; what was committed by any member before is settled by then, so the
 * caller reloads whatever state follows the assignment before its next batch), 'error' (the
 * reader is broken: close it and open another).
 *
 * Records the client fetched before a rebalance may still be handed over after it: a batch that
 * holds any of them fails its commit (stale generation), and the caller rewinds. Nothing is
 * dropped here on a rebalance: dropping records the client already counted as read would lose them.
 */
export class GroupReader extends EventEmitter {
  readonly consumer: GroupConsumer;
  private stream: MessageStream | null = null;
  private buffer: GroupRecord[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  private paused = false;

  constructor(
    private readonly kafka: KafkaOptions,
    readonly options: GroupReaderOptions,
  ) {
    super();
    this.consumer = new Consumer({
      groupId: options.groupId,
      clientId: `${kafka.clientId}-group`,
      bootstrapBrokers: kafka.bootstrap,
      isolationLevel: READ_COMMITTED,
      autocommit: false,
      maxWaitTime: 100,
      sessionTimeout: options.sessionTimeoutMs ?? 20_000,
      heartbeatInterval: Math.max(500, Math.floor((options.sessionTimeoutMs ?? 20_000) / 6)),
      timeout: kafka.timeoutMs ?? 30_000,
    });
  }

  /** The partitions assigned to this member now (`topic:partition`). */
  get assignment(): string[] {
    return (this.consumer.assignments ?? []).flatMap((a) => a.partitions.map((p) => `${a.topic}:${p}`));
  }

  async open(): Promise<void> {
    const stream = await this.consumer.consume({ topics: this.options.topics, mode: 'committed', fallbackMode: 'earliest', isolationLevel: READ_COMMITTED, autocommit: false, maxWaitTime: 100 });
    this.stream = stream;
    this.buffer = [];
    stream.on('data', (m: Message) => {
      if (this.stream !== stream) return;
      this.buffer.push({
        topic: m.topic,
        partition: m.partition,
        offset: m.offset,
        key: m.key?.toString() ?? '',
        value: m.value === undefined || m.value === null || m.value.length === 0 ? null : m.value,
        headers: headersOf(m.headers),
        timestamp: Number(m.timestamp),
        message: m,
      });
      if (!this.paused && this.buffer.length >= (this.options.highWater ?? 5000)) {
        this.paused = true;
        stream.pause();
      }
      this.wake?.();
    });
    stream.on('offsets', () => {
      if (this.stream === stream) this.emit('assigned');
    });
    stream.on('error', (error: Error) => {
      if (this.stream === stream && !this.closed) this.emit('error', error);
    });
  }

  /**
   * Up to `max` records: waits until one is there (at most `maxDelayMs` more for a fuller batch
   * once the first arrived, and at most `idleMs` in all when nothing comes); [] on timeout.
   */
  async take(max: number, maxDelayMs: number, idleMs = 1000): Promise<GroupRecord[]> {
    const deadline = performance.now() + idleMs;
    while (this.buffer.length === 0 && !this.closed && performance.now() < deadline) await this.sleep(deadline - performance.now());
    if (this.buffer.length > 0 && this.buffer.length < max) {
      const until = performance.now() + maxDelayMs;
      while (this.buffer.length < max && !this.closed && performance.now() < until) await this.sleep(until - performance.now());
    }
    const out = this.buffer.splice(0, max);
    if (this.paused && this.buffer.length < (this.options.highWater ?? 5000) / 2) {
      this.paused = false;
      this.stream?.resume();
    }
    return out;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, Math.max(1, ms));
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  /**
   * Commits the group offsets after `records` (each partition's last + 1) outside any transaction:
   * at-least-once consumers only.
   */
  async commitOffsets(records: GroupRecord[]): Promise<void> {
    const offsets = lastPerPartition(records).map((m) => ({ topic: m.topic, partition: m.partition, offset: m.offset + 1n, leaderEpoch: -1 }));
    if (offsets.length > 0) await this.consumer.commit({ offsets });
  }

  /** Drops what is buffered and reads again from the group's committed offsets (staying in the group). */
  async rewind(): Promise<void> {
    const old = this.stream;
    this.stream = null;
    this.buffer = [];
    this.paused = false;
    await old?.close().catch(() => undefined);
    if (!this.closed) await this.open();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const stream = this.stream;
    this.stream = null;
    await stream?.close().catch(() => undefined);
    await this.consumer.close().catch(() => undefined);
  }
}

/** A partition a group member was given, and where its reading starts. */
export interface AssignedPartition {
  topic: string;
  partition: number;
  /** The group's committed offset; null when the group never committed one for this partition. */
  committed: bigint | null;
  /** The first offset the log still holds (retention deletes older records). */
  logStart: bigint;
  /** Where reading starts: the committed offset, else the log start (also when retention passed the committed offset). */
  start: bigint;
}

/** What one fetch read from one partition. */
export interface GroupBatch {
  /** The group generation of the assignment this batch belongs to. */
  generation: number;
  topic: string;
  partition: number;
  /** Committed records (read_committed: aborted ones and transaction markers left out), in offset order; may be empty. */
  records: InRecord[];
  /** The partition's position after this batch: the next offset to read (markers included). */
  next: bigint;
  /** The partition's last stable offset when fetched (its end for a read_committed reader; lag = lastStable - next). */
  lastStable: bigint;
}

/** Receives a GroupFetcher's assignments and batches, one call at a time (each awaited). */
export interface GroupHandler {
  /**
   * A new assignment, after every rebalance (the first join too): whatever the handler built for an
   * earlier generation is stale, since reading restarts at each partition's `start`. Awaited before
   * any batch of this generation is handed over; batches of earlier generations never follow it.
   */
  assigned(generation: number, partitions: AssignedPartition[]): Promise<void>;
  /** One partition's records of one fetch. The next fetch waits for it (backpressure). */
  batch(batch: GroupBatch): Promise<void>;
  /** A fetch, metadata or group error; the reader retries after a pause. */
  error?(error: Error): void;
}

export interface GroupOptions {
  groupId: string;
  /** Topics by exact name. */
  topics: string[];
  /** Also every topic of the cluster whose name matches, looked up at start and every `refreshMs`. */
  pattern?: RegExp;
  /** Default 30 s. */
  refreshMs?: number;
  /** Fetch long-poll wait; default 500 ms. */
  maxWaitMs?: number;
  /** Per fetch request; default 8 MiB. */
  maxBytes?: number;
  /** Per partition and fetch; default 1 MiB. */
  maxBytesPerPartition?: number;
  /** Group session timeout; default 30 s (a killed member's partitions move after it). */
  sessionTimeoutMs?: number;
  /** Default 3 s. */
  heartbeatIntervalMs?: number;
}

const EARLIEST = -2n;
/** Kafka protocol error OFFSET_OUT_OF_RANGE: the position is below the log start (retention) or above its end. */
const OFFSET_OUT_OF_RANGE = 1;

/**
 * A consumer-group member that reads read_committed and commits only what its caller says: the
 * group (Kafka's classic protocol, through @platformatic/kafka's Consumer) assigns partitions and
 * rebalances; fetching is this class's own loop rather than the client's MessagesStream, because
 * the stream keeps a partition's old position across a rebalance when the group has no committed
 * offset for it, and may hand over records fetched before the rebalance after it. Here every
 * rebalance resets every position to the committed offset (else the log start) and tells the
 * handler first, so a caller that commits only durable work loses nothing and can recognise what
 * it sees again.
 *
 * Errors (broker away, leader moves) are reported to the handler and retried every second; a
 * position below the log start (records deleted by retention before they were read) restarts at
 * the log start, reported as an error naming the partition and the offsets lost.
 */
export class GroupFetcher {
  private readonly consumer: Consumer;
  private generation = -1;
  private rejoined = false;
  private readonly positions = new Map<string, bigint>();
  private assignedPartitions: AssignedPartition[] = [];
  private closed = false;
  private loop: Promise<void> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly subscribed = new Set<string>();
  private wake: (() => void) | null = null;
  private joined = false;

  constructor(
    private readonly options: KafkaOptions,
    private readonly group: GroupOptions,
    private readonly handler: GroupHandler,
    private readonly admin: Admin,
  ) {
    this.consumer = new Consumer({
      groupId: group.groupId,
      clientId: `${options.clientId}-group`,
      bootstrapBrokers: options.bootstrap,
      isolationLevel: READ_COMMITTED,
      autocommit: false,
      sessionTimeout: group.sessionTimeoutMs ?? 30_000,
      rebalanceTimeout: group.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: group.heartbeatIntervalMs ?? 3000,
      maxWaitTime: group.maxWaitMs ?? 500,
      timeout: options.timeoutMs ?? 30_000,
    });
    this.consumer.on('consumer:group:join', () => {
      this.rejoined = true;
      this.wake?.();
    });
  }

  /** The topics this member subscribes to now. */
  get topics(): string[] {
    return [...this.subscribed].sort();
  }

  /** The partitions of the current assignment (empty before the first join). */
  get assignment(): AssignedPartition[] {
    return this.assignedPartitions;
  }

  /** True once the member has joined the group (with or without partitions). */
  get isJoined(): boolean {
    return this.joined;
  }

  /** Subscribes (joining the group once there is a topic) and starts the fetch loop. */
  async start(): Promise<void> {
    await this.refreshTopics();
    this.loop = this.run();
    this.refreshTimer = setInterval(() => {
      this.refreshTopics().catch((error: unknown) => this.handler.error?.(error as Error));
    }, this.group.refreshMs ?? 30_000);
    this.refreshTimer.unref();
  }

  /** Looks for new topics (exact names and the pattern); rejoins the group when there are any. */
  async refreshTopics(): Promise<void> {
    if (this.closed) return;
    const wanted = new Set(this.group.topics);
    if (this.group.pattern !== undefined) {
      const pattern = this.group.pattern;
      for (const topic of await this.admin.listTopics()) if (pattern.test(topic)) wanted.add(topic);
    }
    let added = false;
    for (const topic of wanted) {
      if (this.subscribed.has(topic)) continue;
      this.subscribed.add(topic);
      this.consumer.topics.track(topic);
      added = true;
    }
    if (added) {
      await this.consumer.joinGroup({});
      this.joined = true;
    }
  }

  /**
   * Commits `offsets` (each the next offset to read) for the generation the caller's state was
   * built in. Returns false without committing when a rebalance has happened since: the caller's
   * state is stale and reading restarts at the committed offsets anyway.
   */
  async commit(generation: number, offsets: Array<{ topic: string; partition: number; offset: bigint }>): Promise<boolean> {
    if (offsets.length === 0) return true;
    if (generation !== this.generation || this.rejoined || this.closed) return false;
    await this.consumer.commit({ offsets: offsets.map((o) => ({ ...o, leaderEpoch: -1 })) });
    return true;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  private async reassign(): Promise<void> {
    this.rejoined = false;
    const generation = this.consumer.generationId;
    const assignments = (this.consumer.assignments ?? []).filter((a) => a.partitions.length > 0);
    const topics = assignments.map((a) => a.topic);
    const committed = assignments.length === 0 ? new Map<string, bigint[]>() : await this.consumer.listCommittedOffsets({ topics: assignments });
    const starts = topics.length === 0 ? new Map<string, bigint[]>() : await this.consumer.listOffsets({ topics, timestamp: EARLIEST });
    if (this.rejoined || this.closed) return; // rebalanced again meanwhile: start over
    this.positions.clear();
    const partitions: AssignedPartition[] = [];
    for (const { topic, partitions: numbers } of assignments) {
      for (const partition of [...numbers].sort((a, b) => a - b)) {
        const c = committed.get(topic)?.[partition] ?? -1n;
        const logStart = starts.get(topic)?.[partition] ?? 0n;
        const start = c >= 0n && c >= logStart ? c : logStart;
        if (c >= 0n && c < logStart) this.handler.error?.(new Error(`${topic}[${partition}]: committed offset ${c} is below the log start ${logStart}: offsets ${c}..${logStart - 1n} were deleted by retention before they were read`));
        this.positions.set(`${topic}:${partition}`, start);
        partitions.push({ topic, partition, committed: c >= 0n ? c : null, logStart, start });
      }
    }
    this.assignedPartitions = partitions;
    this.generation = generation;
    try {
      await this.handler.assigned(generation, partitions);
    } catch (error) {
      // The handler could not take the assignment (its store away): offer it again after the pause.
      this.rejoined = true;
      throw error;
    }
  }

  /** Moves positions below the log start up to it (after OFFSET_OUT_OF_RANGE), reporting each gap. */
  private async clampToLogStart(): Promise<void> {
    const topics = [...new Set(this.assignedPartitions.map((p) => p.topic))];
    const starts = await this.consumer.listOffsets({ topics, timestamp: EARLIEST });
    for (const p of this.assignedPartitions) {
      const key = `${p.topic}:${p.partition}`;
      const logStart = starts.get(p.topic)?.[p.partition] ?? 0n;
      const position = this.positions.get(key) ?? logStart;
      if (position < logStart) {
        this.handler.error?.(new Error(`${p.topic}[${p.partition}]: offsets ${position}..${logStart - 1n} were deleted by retention before they were read`));
        this.positions.set(key, logStart);
      }
    }
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        if (this.rejoined) {
          await this.reassign();
          continue;
        }
        if (this.assignedPartitions.length === 0) {
          await this.sleep(250);
          continue;
        }
        await this.fetchOnce();
      } catch (error) {
        if (this.closed) break;
        this.handler.error?.(error as Error);
        if (kafkaErrorCodes(error).has(OFFSET_OUT_OF_RANGE)) await this.clampToLogStart().catch(() => undefined);
        this.consumer.clearMetadata();
        await this.sleep(1000);
      }
    }
  }

  private async fetchOnce(): Promise<void> {
    const generation = this.generation;
    const topics = [...new Set(this.assignedPartitions.map((p) => p.topic))];
    const metadata = await this.consumer.metadata({ topics });
    const names = new Map<string, string>();
    const byLeader = new Map<number, Array<{ topicId: string; partitions: Array<{ partition: number; fetchOffset: bigint; partitionMaxBytes: number; currentLeaderEpoch: number; lastFetchedEpoch: number }> }>>();
    for (const p of this.assignedPartitions) {
      const topic = metadata.topics.get(p.topic);
      const info = topic?.partitions[p.partition];
      if (topic === undefined || info === undefined) continue;
      names.set(topic.id, p.topic);
      const requests = byLeader.get(info.leader) ?? [];
      byLeader.set(info.leader, requests);
      requests.push({
        topicId: topic.id,
        partitions: [{ partition: p.partition, fetchOffset: this.positions.get(`${p.topic}:${p.partition}`)!, partitionMaxBytes: this.group.maxBytesPerPartition ?? 1024 * 1024, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }],
      });
    }
    const responses = await Promise.all(
      [...byLeader].map(([node, requests]) =>
        this.consumer.fetch({ node, topics: requests, maxWaitTime: this.group.maxWaitMs ?? 500, minBytes: 1, maxBytes: this.group.maxBytes ?? 8 * 1024 * 1024, isolationLevel: READ_COMMITTED } as Parameters<Consumer['fetch']>[0]),
      ),
    );
    for (const response of responses) {
      for (const topicResponse of response.responses) {
        const topic = names.get(topicResponse.topicId);
        if (topic === undefined) continue;
        for (const part of topicResponse.partitions) {
          if (this.rejoined || this.closed || generation !== this.generation) return;
          const key = `${topic}:${part.partitionIndex}`;
          const position = this.positions.get(key);
          if (position === undefined) continue;
          const batches = part.records ?? [];
          const records: InRecord[] = [];
          let next = position;
          for (const batch of batches) {
            const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
            if (last + 1n > next) next = last + 1n;
            if ((batch.attributes & 0x20) !== 0) continue; // a control batch: transaction markers
            for (const record of batch.records) {
              const offset = batch.firstOffset + BigInt(record.offsetDelta);
              if (offset < position) continue; // a batch may begin before the position asked for
              const headers: Record<string, string> = {};
              for (const [k, v] of record.headers) if (k !== null) headers[k.toString()] = v?.toString() ?? '';
              records.push({
                topic,
                partition: part.partitionIndex,
                offset,
                key: record.key?.toString() ?? '',
                value: record.value === null || record.value.length === 0 ? null : record.value,
                headers,
                timestamp: Number(batch.firstTimestamp + record.timestampDelta),
              });
            }
          }
          if (next === position && records.length === 0) continue;
          // The position moves only once the handler took the batch: one that throws (its registry
          // away) gets the same records again after the pause.
          await this.handler.batch({ generation, topic, partition: part.partitionIndex, records, next, lastStable: part.lastStableOffset });
          if (generation === this.generation && !this.rejoined) this.positions.set(key, next);
        }
      }
    }
  }

  /** Stops fetching and leaves the group (its partitions move to the other members at once); safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refreshTimer !== null) clearInterval(this.refreshTimer);
    this.wake?.();
    await this.loop?.catch(() => undefined);
    await this.consumer.close().catch(() => undefined);
  }
}

export class KafkaLog {
  private readonly admin: Admin;

  constructor(private readonly options: KafkaOptions) {
    this.admin = new Admin({ clientId: `${options.clientId}-admin`, bootstrapBrokers: options.bootstrap, timeout: options.timeoutMs ?? 30_000 });
  }

  /**
   * Creates the topics that do not exist yet, with their partitions and configuration. Existing
   * topics are left as they are (an operator may have tuned them); one with fewer partitions than
   * asked is reported in the result, since per-key order forbids repartitioning silently.
   */
  async ensureTopics(specs: TopicSpec[]): Promise<{ created: string[]; existing: Array<{ name: string; partitions: number }> }> {
    const existingNames = new Set(await this.admin.listTopics());
    const created: string[] = [];
    const existing: Array<{ name: string; partitions: number }> = [];
    for (const spec of specs) {
      if (existingNames.has(spec.name)) {
        const metadata = await this.admin.metadata({ topics: [spec.name] });
        existing.push({ name: spec.name, partitions: metadata.topics.get(spec.name)?.partitionsCount ?? 0 });
        continue;
      }
      try {
        await this.admin.createTopics({
          topics: [spec.name],
          partitions: spec.partitions,
          replicas: spec.replicationFactor,
          configs: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
        });
        created.push(spec.name);
      } catch (error) {
        // Another instance created it meanwhile.
        if (!/TOPIC_ALREADY_EXISTS|already exists/i.test(`${String(error)} ${JSON.stringify((error as { errors?: unknown }).errors ?? [])}`)) throw error;
      }
    }
    return { created, existing };
  }

  /** Deletes the topics that exist among `names` (for tools and benches that made their own); missing ones are skipped. */
  async deleteTopics(names: string[]): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    const doomed = names.filter((n) => existing.has(n));
    if (doomed.length > 0) await this.admin.deleteTopics({ topics: doomed });
  }

  /** Partitions of a topic (0 when it does not exist). */
  async partitions(topic: string): Promise<number> {
    try {
      const metadata = await this.admin.metadata({ topics: [topic] });
      return metadata.topics.get(topic)?.partitionsCount ?? 0;
    } catch (error) {
      if (/Unknown topic/i.test((error as Error).message)) return 0;
      throw error;
    }
  }

  /** An idempotent, transactional producer; initialising it fences any older one with the same id. */
  async transactional(transactionalId: string): Promise<TransactionalProducer> {
    const producer = new Producer({
      clientId: `${this.options.clientId}-${transactionalId}`,
      bootstrapBrokers: this.options.bootstrap,
      idempotent: true,
      transactionalId,
      acks: ProduceAcks.ALL,
      timeout: this.options.timeoutMs ?? 30_000,
      // InitProducerId for a new producer must say -1/-1 (KIP-360): the client's default of 0/0
      // makes the coordinator answer PRODUCER_FENCED once the id has been used before.
      producerId: -1n,
      producerEpoch: -1,
      // CONCURRENT_TRANSACTIONS right after a commit (the coordinator still writing its markers)
      // is retried soon, as Kafka's Java client does, not after the client's default second.
      retryDelay: 20,
      retries: 50,
    });
    // Beginning a transaction initialises the producer id and epoch now, which fences any older
    // producer with this id before anything is read or written (KIP-98 zombie fencing).
    const tx = new TransactionalProducer(producer, transactionalId);
    await tx.init();
    return tx;
  }

  /** Every topic name of the cluster (internal ones left out). */
  async listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  /** A consumer-group member (see GroupReader); `open()` it to start reading. */
  groupReader(options: GroupReaderOptions): GroupReader {
    return new GroupReader(this.options, options);
  }

  /** An idempotent producer (acks=all) outside transactions. */
  producer(): Producer {
    return new Producer({ clientId: this.options.clientId, bootstrapBrokers: this.options.bootstrap, idempotent: true, acks: ProduceAcks.ALL });
  }

  private plain: Producer | null = null;

  /** Writes `records` with this log's idempotent producer (acks=all), outside any transaction. */
  async send(records: OutRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.plain ??= this.producer();
    await this.plain.send({ messages: records.map(toMessage), acks: ProduceAcks.ALL });
  }

  /**
   * Every committed record of `topic`, each partition from its start up to its last stable offset
   * at the time of the call (transactions still open then are not waited for: their records are
   * not committed). For compacted state topics, read once at start-up.
   */
  async readToEnd(topic: string): Promise<InRecord[]> {
    const consumer = new Consumer({
      groupId: `skyhaul-reader-${randomUUID()}`,
      clientId: `${this.options.clientId}-reader`,
      bootstrapBrokers: this.options.bootstrap,
      isolationLevel: READ_COMMITTED,
      maxWaitTime: 100,
    });
    try {
      const ends = (await consumer.listOffsets({ topics: [topic], isolationLevel: READ_COMMITTED })).get(topic) ?? [];
      if (ends.every((end) => end === 0n)) return [];
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', isolationLevel: READ_COMMITTED, autocommit: false, maxWaitTime: 100 });
      const out: InRecord[] = [];
      const done = (): boolean => ends.every((end, partition) => (stream.offsetsToFetch.get(`${topic}:${partition}`) ?? 0n) >= end);
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (done()) resolve();
        };
        stream.on('data', (m) => {
          if (m.offset < (ends[m.partition] ?? 0n)) {
            out.push({
              topic,
              partition: m.partition,
              offset: m.offset,
              key: m.key?.toString() ?? '',
              value: m.value === undefined || m.value === null || m.value.length === 0 ? (m.value ?? null) : m.value,
              headers: headersOf(m.headers),
              timestamp: Number(m.timestamp),
            });
          }
          check();
        });
        stream.on('fetch', check);
        stream.on('offsets', check);
        stream.on('error', reject);
        check();
      });
      await stream.close();
      return out;
    } finally {
      await consumer.close().catch(() => undefined);
    }
  }

  /**
   * Hands every committed record of `topic` to `onRecord` (read_committed, each partition in
   * offset order, from the start), then each new one as it is committed, until closed. A fetch
   * error stops the follower: `onError` is called once and `caughtUp()` rejects from then on.
   */
  async follow(topic: string, onRecord: (record: InRecord) => void, onError: (error: Error) => void = () => undefined): Promise<Follower> {
    const consumer = new Consumer({
      groupId: `skyhaul-follower-${randomUUID()}`,
      clientId: `${this.options.clientId}-follower`,
      bootstrapBrokers: this.options.bootstrap,
      isolationLevel: READ_COMMITTED,
      maxWaitTime: 100,
      // A broker restart must not end the follower: the client's default (3 retries 1 s apart)
      // gave up while a loaded broker took longer to come back, and the registry then answered
      // 503 "not ready" until its own restart. Retried without end, backing off to 5 s; errors
      // the client does not call retriable still stop it (onError).
      retries: true,
      retryDelay: (_client: unknown, _operation: string, attempt: number) => Math.min(FOLLOW_RETRY_MAX_MS, 250 * 2 ** Math.min(attempt, 5)),
    });
    let failure: Error | null = null;
    const waiters = new Set<{ check: () => void; fail: (error: Error) => void }>();
    let stream: Awaited<ReturnType<typeof consumer.consume>>;
    try {
      stream = await consumer.consume({ topics: [topic], mode: 'earliest', isolationLevel: READ_COMMITTED, autocommit: false, maxWaitTime: 100 });
    } catch (error) {
      await consumer.close().catch(() => undefined);
      throw error;
    }
    const checkAll = (): void => {
      for (const waiter of waiters) waiter.check();
    };
    const failAll = (error: Error, report: boolean): void => {
      if (failure !== null) return;
      failure = error;
      for (const waiter of waiters) waiter.fail(error);
      if (report) onError(error);
    };
    stream.on('data', (m) => {
      onRecord({
        topic,
        partition: m.partition,
        offset: m.offset,
        key: m.key?.toString() ?? '',
        value: m.value === undefined || m.value === null || m.value.length === 0 ? null : m.value,
        headers: headersOf(m.headers),
        timestamp: Number(m.timestamp),
      });
      checkAll();
    });
    stream.on('fetch', checkAll);
    stream.on('offsets', checkAll);
    stream.on('error', (error: Error) => failAll(error, true));
    let closed: Promise<void> | null = null;
    return {
      caughtUp: async (timeoutMs = 30_000) => {
        if (failure !== null) throw failure;
        const ends = (await consumer.listOffsets({ topics: [topic], isolationLevel: READ_COMMITTED })).get(topic) ?? [];
        const done = (): boolean => ends.every((end, partition) => end === 0n || (stream.offsetsToFetch.get(`${topic}:${partition}`) ?? 0n) >= end);
        await new Promise<void>((resolve, reject) => {
          const waiter = {
            check: () => {
              if (!done()) return;
              finish();
              resolve();
            },
            fail: (error: Error) => {
              finish();
              reject(error);
            },
          };
          const timer = setTimeout(() => waiter.fail(new Error(`${topic}: not caught up with its end within ${timeoutMs} ms`)), timeoutMs);
          const finish = (): void => {
            clearTimeout(timer);
            waiters.delete(waiter);
          };
          waiters.add(waiter);
          waiter.check();
        });
      },
      close: () => {
        closed ??= (async () => {
          failAll(new Error(`follower of ${topic} closed`), false);
          await stream.close().catch(() => undefined);
          await consumer.close().catch(() => undefined);
        })();
        return closed;
      },
    };
  }

  /**
   * A consumer-group member over `options.topics` (and topics matching `options.pattern`), handing
   * batches to `handler` (see GroupFetcher). Call `start()` on it.
   */
  group(options: GroupOptions, handler: GroupHandler): GroupFetcher {
    return new GroupFetcher(this.options, options, handler, this.admin);
  }

  async close(): Promise<void> {
    await this.plain?.close().catch(() => undefined);
    this.plain = null;
    await this.admin.close().catch(() => undefined);
  }
}
