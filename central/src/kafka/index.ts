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
 */
import { randomUUID } from 'node:crypto';
import { Admin, Consumer, Producer, ProduceAcks } from '@platformatic/kafka';

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

function headersOf(raw: Map<Buffer, Buffer> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of raw ?? []) out[k.toString()] = v.toString();
  return out;
}

function toMessage(r: OutRecord): { topic: string; key: Buffer; value: Buffer | undefined; headers: Map<Buffer, Buffer>; timestamp: bigint } {
  return {
    topic: r.topic,
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

  /** Writes `records` in one transaction (serialised with earlier calls). Throws KafkaFencedError once fenced. */
  commit(records: OutRecord[]): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.fenced) throw new KafkaFencedError(`transactional id ${this.transactionalId} was fenced by a newer producer`);
      if (records.length === 0) return;
      let transaction: Transaction;
      try {
        transaction = this.next ?? (await this.producer.beginTransaction());
      } catch (error) {
        throw this.classify(error);
      }
      this.next = null;
      try {
        await transaction.send({ messages: records.map(toMessage), acks: ProduceAcks.ALL });
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

  /** Partitions of a topic (0 when it does not exist). */
  async partitions(topic: string): Promise<number> {
    const metadata = await this.admin.metadata({ topics: [topic] });
    return metadata.topics.get(topic)?.partitionsCount ?? 0;
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

  /** An idempotent producer (acks=all) outside transactions. */
  producer(): Producer {
    return new Producer({ clientId: this.options.clientId, bootstrapBrokers: this.options.bootstrap, idempotent: true, acks: ProduceAcks.ALL });
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

  async close(): Promise<void> {
    await this.admin.close().catch(() => undefined);
  }
}
