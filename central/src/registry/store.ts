/**
 * The registry's storage: the compacted Kafka topic `_schemas` (config.registry.topic) is the
 * only state; memory is a view of it, built by reading the topic and kept current by following it.
 *
 * ## Topic
 * One partition (ids and versions are assigned in one order), `cleanup.policy=compact`, created by
 * `ensureTopics` with the configured replication factor and `min.insync.replicas`. A topic that
 * exists with more than one partition is refused at start.
 *
 * ## Records (Confluent's own key/value shapes, so an operator who knows `_schemas` reads ours)
 * Keys are JSON text with a fixed key order (compaction compares key bytes):
 *
 *   {"keytype":"SCHEMA","subject":S,"version":V,"magic":1}
 *       -> {"subject":S,"version":V,"id":ID,"schema":TEXT,"schemaType":"JSON"?,"deleted":false|true}
 *          one per subject version; a soft delete rewrites it with "deleted":true;
 *          a permanent delete is a tombstone (null value)
 *   {"keytype":"CONFIG","subject":S|null,"magic":0}
 *       -> {"compatibilityLevel":LEVEL}; subject null: the global level; tombstone: unset
 *   {"keytype":"ID_COUNTER","magic":0}  (ours)
 *       -> {"maxId":N}: the highest id ever assigned, written with every new id, so that ids stay
 *          unique even after the SCHEMA records of the highest id were deleted permanently and
 *          compacted away (Confluent derives the next id from the schemas it still has).
 *
 * "schemaType" is absent for AVRO, as in Confluent's records and REST answers. A change that
 * touches several keys (a subject delete: every version) is one Kafka transaction: readers see
 * all of it or none of it. Every record the registry reads is applied in offset order; records it
 * cannot parse (another tool's) are counted and skipped, never fatal.
 *
 * ## Ids and versions
 * A schema's id is global: the same schema (same type, same text up to whitespace and object key
 * order) under any subject, live or soft-deleted, keeps the id it first got; a new one gets
 * maxId + 1. A version is per subject: the highest version the subject has (soft-deleted ones
 * included, so a version number is never reused for another schema while its record exists) + 1.
 *
 * ## Writers and readers (two or more instances)
 * Every write goes through a transactional producer whose transactional.id derives from the topic
 * (`skyhaul-registry-<topic>`): Kafka lets only the newest producer with that id commit (KIP-98
 * fencing). Each instance takes that id at start (so a newly started instance fences the writer
 * before it) and follows the topic all the time, so every instance serves reads of everything
 * committed. A write on any instance:
 *   1. it reads the topic to its end, validates, checks compatibility; a request that changes
 *      nothing (the same schema again) is answered here, without the writer role;
 *   2. if this instance's producer was fenced, it takes the id back (initialising a new producer
 *      fences the other instance; Kafka completes or aborts that instance's open transaction first);
 *   3. it reads the topic to its end again (so ids and versions are computed from everything
 *      committed, including what the other instance wrote) and picks id/version from memory;
 *   4. it commits the records in one transaction (fenced meanwhile: a short jittered pause, then
 *      back to 1; eight tries, then 50002 to the client);
 *   5. it waits until its follower has applied its own last record, then answers.
 * So there is one writer at a time (the newest holder of the transactional.id), a write sent to
 * the other instance is not refused but makes that instance the writer, and memory is only ever
 * changed by applying records read from Kafka, in offset order, in every instance alike.
 * Writes within an instance are serialised. A restart loses nothing: the state is the topic.
 *
 * ## Limits
 * The whole state is in memory (fine for thousands of subjects and schemas; the topic is
 * compacted). A schema text is at most the HTTP body limit (1 MiB, runner.ts) and Kafka's
 * message.max.bytes. Schema references are refused (42201): no subject here uses them.
 */
import { randomUUID } from 'node:crypto';
import { KafkaFencedError, type Follower, type InRecord, type KafkaLog, type OutRecord, type TransactionalProducer } from '../kafka/index.ts';
import { avroFormat, parseAvro, type ParsedAvro } from './avro.ts';
import { checkCompatibility, type CompatibilityLevel, isCompatibilityLevel, type PriorVersion, type SchemaFormat } from './compatibility.ts';
import { ErrorCode, invalidSchema, RegistryError } from './errors.ts';
import { jsonSchemaFormat, parseJsonSchema, type ParsedJsonSchema } from './json-schema.ts';

export type SchemaType = 'AVRO' | 'JSON';
export const SCHEMA_TYPES: SchemaType[] = ['AVRO', 'JSON'];

type Parsed = ParsedAvro | ParsedJsonSchema;

/** A schema as stored: its text and type, parsed once. */
export interface StoredSchema {
  id: number;
  type: SchemaType;
  text: string;
  canonical: string;
  parsed: Parsed;
}

/** One version of a subject. */
export interface VersionEntry {
  subject: string;
  version: number;
  id: number;
  deleted: boolean;
}

/** Tries of one write while another instance keeps taking the writer role (then 50002). */
const WRITE_ATTEMPTS = 8;

/** Header on the last record of each transaction: the write it belongs to (who waits for it). */
const WRITE_HEADER = 'skyhaul-registry-write';

const schemaKey = (subject: string, version: number): string => JSON.stringify({ keytype: 'SCHEMA', subject, version, magic: 1 });
const configKey = (subject: string | null): string => JSON.stringify({ keytype: 'CONFIG', subject, magic: 0 });
const ID_COUNTER_KEY = JSON.stringify({ keytype: 'ID_COUNTER', magic: 0 });

/** The format's parser and compatibility rules. */
function formatOf(type: SchemaType): { parse: (text: string) => Parsed; format: SchemaFormat<Parsed> } {
  return type === 'AVRO'
    ? { parse: parseAvro, format: avroFormat as SchemaFormat<Parsed> }
    : { parse: parseJsonSchema, format: jsonSchemaFormat as SchemaFormat<Parsed> };
}

/** The request's schema type (absent: AVRO); RegistryError 42201 for one this registry does not take. */
export function schemaTypeOf(value: unknown): SchemaType {
  if (value === undefined || value === null || value === '') return 'AVRO';
  if (value === 'AVRO' || value === 'JSON') return value;
  throw invalidSchema(`schemaType ${JSON.stringify(value)} is not supported here: ${SCHEMA_TYPES.join(', ')}`);
}

/** Parses a schema text of a type (RegistryError 42201 when invalid). */
export function parseSchema(type: SchemaType, text: unknown): { parsed: Parsed; canonical: string; text: string } {
  if (typeof text !== 'string') throw invalidSchema('"schema" must be a string holding the schema');
  const parsed = formatOf(type).parse(text);
  return { parsed, canonical: parsed.canonical, text: parsed.text };
}

/** The in-memory view of `_schemas`. Changed only by `apply` (records read from Kafka). */
export class RegistryState {
  /** subject -> version -> entry. */
  readonly subjects = new Map<string, Map<number, VersionEntry>>();
  readonly schemas = new Map<number, StoredSchema>();
  private readonly byCanonical = new Map<string, number>();
  /** subject ('' for global) -> level. */
  readonly configs = new Map<string, CompatibilityLevel>();
  maxId = 0;
  skipped = 0;

  constructor(readonly defaultLevel: CompatibilityLevel) {}

  /** Applies one record of the topic; returns false for a record that is not ours (skipped). */
  apply(record: InRecord): boolean {
    let key: Record<string, unknown>;
    try {
      key = JSON.parse(record.key) as Record<string, unknown>;
    } catch {
      this.skipped++;
      return false;
    }
    try {
      const value = record.value === null ? null : (JSON.parse(record.value.toString('utf8')) as Record<string, unknown>);
      switch (key.keytype) {
        case 'SCHEMA':
          return this.applySchema(String(key.subject), Number(key.version), value);
        case 'CONFIG': {
          const subject = key.subject === null || key.subject === undefined ? '' : String(key.subject);
          if (value === null) this.configs.delete(subject);
          else if (isCompatibilityLevel(value.compatibilityLevel)) this.configs.set(subject, value.compatibilityLevel);
          else throw new Error('bad level');
          return true;
        }
        case 'ID_COUNTER':
          if (value !== null && typeof value.maxId === 'number') this.maxId = Math.max(this.maxId, value.maxId);
          return true;
        default:
          // Confluent's NOOP, DELETE_SUBJECT, MODE… : not written by this registry.
          this.skipped++;
          return false;
      }
    } catch {
      this.skipped++;
      return false;
    }
  }

  private applySchema(subject: string, version: number, value: Record<string, unknown> | null): boolean {
    const versions = this.subjects.get(subject) ?? new Map<number, VersionEntry>();
    if (value === null) {
      const gone = versions.get(version);
      versions.delete(version);
      if (versions.size === 0) this.subjects.delete(subject);
      if (gone !== undefined) this.forgetIfUnused(gone.id);
      return true;
    }
    const id = Number(value.id);
    const type = schemaTypeOf(value.schemaType);
    if (!this.schemas.has(id)) {
      const { parsed, canonical, text } = parseSchema(type, value.schema);
      this.schemas.set(id, { id, type, text, canonical, parsed });
      this.byCanonical.set(`${type}:${canonical}`, id);
    }
    versions.set(version, { subject, version, id, deleted: value.deleted === true });
    this.subjects.set(subject, versions);
    this.maxId = Math.max(this.maxId, id);
    return true;
  }

  /** A permanently deleted version's schema goes when no version refers to it any more. */
  private forgetIfUnused(id: number): void {
    for (const versions of this.subjects.values()) for (const entry of versions.values()) if (entry.id === id) return;
    const schema = this.schemas.get(id);
    if (schema === undefined) return;
    this.schemas.delete(id);
    this.byCanonical.delete(`${schema.type}:${schema.canonical}`);
  }

  /** The id a schema (type + canonical text) already has, if any. */
  idOf(type: SchemaType, canonical: string): number | undefined {
    return this.byCanonical.get(`${type}:${canonical}`);
  }

  /** Versions of a subject, ascending; deleted ones only when asked. */
  versions(subject: string, includeDeleted = false): VersionEntry[] {
    return [...(this.subjects.get(subject)?.values() ?? [])].filter((v) => includeDeleted || !v.deleted).sort((a, b) => a.version - b.version);
  }

  /** Subjects with a live version (or any version, when asked), sorted. */
  subjectNames(includeDeleted = false): string[] {
    return [...this.subjects.keys()].filter((s) => this.versions(s, includeDeleted).length > 0).sort();
  }

  /** The level that applies to a subject: its own, else the global one, else the configured default. */
  level(subject: string | null): CompatibilityLevel {
    return (subject === null ? undefined : this.configs.get(subject)) ?? this.configs.get('') ?? this.defaultLevel;
  }

  /** Live schemas (referred to by a live version) and subjects, for the gauges. */
  counts(): { schemas: number; subjects: number } {
    const live = new Set<number>();
    let subjects = 0;
    for (const versions of this.subjects.values()) {
      let any = false;
      for (const v of versions.values()) {
        if (v.deleted) continue;
        live.add(v.id);
        any = true;
      }
      if (any) subjects++;
    }
    return { schemas: live.size, subjects };
  }
}

/** What a write decided: the records to commit and the answer once they are applied. */
interface Plan<T> {
  records: Array<Omit<OutRecord, 'topic' | 'headers'>>;
  result: T;
}

export interface StoreEvents {
  /** This instance took the transactional.id (at start, or back from another instance). */
  onWriterAcquired?(takeover: boolean): void;
  onRecordApplied?(ours: boolean): void;
  onFollowerError?(error: Error): void;
}

/**
 * `_schemas` in Kafka plus the memory view (see the module comment). Constructors store;
 * `open()` does I/O; `close()` is safe twice.
 */
export class SchemaStore {
  readonly state: RegistryState;
  private follower: Follower | null = null;
  private producer: TransactionalProducer | null = null;
  private writes: Promise<unknown> = Promise.resolve();
  private readonly pending = new Map<string, () => void>();
  private caughtUpAtStart = false;
  private failure: Error | null = null;
  private closed = false;

  constructor(
    private readonly kafka: KafkaLog,
    readonly topic: string,
    private readonly topicSettings: { replicationFactor: number; minInsyncReplicas: number },
    defaultLevel: CompatibilityLevel,
    private readonly events: StoreEvents = {},
  ) {
    this.state = new RegistryState(defaultLevel);
  }

  /** The transactional.id every instance on this topic shares. */
  get transactionalId(): string {
    return `skyhaul-registry-${this.topic}`;
  }

  /** True once the topic has been read to its end at start, and while following it works. */
  get ready(): boolean {
    return this.caughtUpAtStart && this.failure === null && !this.closed;
  }

  /** Why not ready (empty when ready). */
  reasons(): string[] {
    if (this.closed) return ['stopped'];
    if (this.failure !== null) return [`following ${this.topic} failed: ${this.failure.message}`];
    if (!this.caughtUpAtStart) return [`reading ${this.topic} to its end`];
    return [];
  }

  /** Whether this instance holds the writer role right now (as far as it knows). */
  get isWriter(): boolean {
    return this.producer !== null && !this.producer.isFenced;
  }

  /** Creates the topic if needed, starts following it, takes the writer role, reads to the end. */
  async open(startTimeoutMs = 120_000): Promise<void> {
    await this.kafka.ensureTopics([
      {
        name: this.topic,
        partitions: 1,
        replicationFactor: this.topicSettings.replicationFactor,
        config: { 'cleanup.policy': 'compact', 'min.insync.replicas': String(this.topicSettings.minInsyncReplicas) },
      },
    ]);
    const partitions = await this.kafka.partitions(this.topic);
    if (partitions !== 1) throw new Error(`${this.topic} has ${partitions} partitions: the registry needs exactly one (ids are assigned in one order)`);
    this.follower = await this.kafka.follow(
      this.topic,
      (record) => this.onRecord(record),
      (error) => {
        this.failure = error;
        this.events.onFollowerError?.(error);
      },
    );
    // Taking the transactional.id first lets Kafka finish any transaction of a previous writer, so
    // the end read next includes everything it committed.
    await this.acquireWriter(false);
    await this.follower.caughtUp(startTimeoutMs);
    this.caughtUpAtStart = true;
  }

  private onRecord(record: InRecord): void {
    const ours = this.state.apply(record);
    this.events.onRecordApplied?.(ours);
    const token = record.headers[WRITE_HEADER];
    if (token !== undefined) {
      this.pending.get(token)?.();
      this.pending.delete(token);
    }
  }

  private async acquireWriter(takeover: boolean): Promise<void> {
    await this.producer?.close().catch(() => undefined);
    this.producer = null;
    this.producer = await this.kafka.transactional(this.transactionalId);
    this.events.onWriterAcquired?.(takeover);
  }

  /**
   * Runs one write (serialised with the others in this instance): `plan` sees the state caught
   * up with the topic and returns the records and the answer, or throws a RegistryError (nothing
   * is written). See the module comment for the steps.
   */
  write<T>(plan: (state: RegistryState) => Plan<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new RegistryError(503, ErrorCode.NOT_READY, 'the registry is stopping');
      for (let attempt = 1; ; attempt++) {
        try {
          await this.follower!.caughtUp();
          let { records, result } = plan(this.state);
          if (records.length === 0) return result; // nothing to write (the same schema again): no need of the writer role
          if (this.producer === null || this.producer.isFenced) {
            await this.acquireWriter(true);
            await this.follower!.caughtUp();
            ({ records, result } = plan(this.state));
            if (records.length === 0) return result;
          }
          const token = randomUUID();
          const applied = new Promise<void>((resolve) => this.pending.set(token, resolve));
          const out: OutRecord[] = records.map((r, i) => ({ ...r, topic: this.topic, headers: i === records.length - 1 ? { [WRITE_HEADER]: token } : ({} as Record<string, string>) }));
          try {
            await this.producer!.commit(out);
          } catch (error) {
            this.pending.delete(token);
            throw error;
          }
          await withTimeout(applied, 30_000, `the committed write was not read back from ${this.topic} within 30 s`);
          return result;
        } catch (error) {
          if (error instanceof RegistryError) throw error;
          if (error instanceof KafkaFencedError && attempt < WRITE_ATTEMPTS) {
            // The other instance took the writer role for a write of its own: let it finish
            // (jittered, growing pause, so two instances do not keep fencing each other), then take it back.
            await new Promise((resolve) => setTimeout(resolve, attempt * (50 + Math.random() * 200)));
            continue;
          }
          if (error instanceof KafkaFencedError) throw new RegistryError(500, ErrorCode.OPERATION_TIMEOUT, `another registry instance kept taking the writer role of ${this.topic}: try again`, { cause: error });
          // Kafka failed mid-write (away, restarting): the client may still hold the transaction
          // open, so the next write takes the writer role afresh (its InitProducerId settles the
          // one in flight, and the read to the end that follows shows what it left).
          const broken = this.producer;
          this.producer = null;
          await broken?.close().catch(() => undefined);
          throw new RegistryError(500, ErrorCode.STORE_ERROR, `Kafka store error: ${(error as Error).message}`, { cause: error });
        }
      }
    };
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => undefined);
    return result;
  }

  /** Records for a new version (and id counter when the id is new). */
  static versionRecords(subject: string, version: number, id: number, type: SchemaType, text: string, deleted: boolean, newId: boolean): Array<Omit<OutRecord, 'topic' | 'headers'>> {
    const value = { subject, version, id, schema: text, ...(type === 'AVRO' ? {} : { schemaType: type }), deleted };
    const records: Array<Omit<OutRecord, 'topic' | 'headers'>> = [];
    if (newId) records.push({ key: ID_COUNTER_KEY, value: Buffer.from(JSON.stringify({ maxId: id })) });
    records.push({ key: schemaKey(subject, version), value: Buffer.from(JSON.stringify(value)) });
    return records;
  }

  static tombstone(subject: string, version: number): Omit<OutRecord, 'topic' | 'headers'> {
    return { key: schemaKey(subject, version), value: null };
  }

  static configRecord(subject: string | null, level: CompatibilityLevel | null): Omit<OutRecord, 'topic' | 'headers'> {
    return { key: configKey(subject), value: level === null ? null : Buffer.from(JSON.stringify({ compatibilityLevel: level })) };
  }

  /** Compatibility messages for `candidate` under `subject` at its level (empty: compatible). */
  compatibilityMessages(subject: string, type: SchemaType, candidate: Parsed, against: VersionEntry[], level: CompatibilityLevel): string[] {
    const prior: Array<PriorVersion<Parsed>> = [];
    const messages: string[] = [];
    for (const entry of against) {
      const stored = this.state.schemas.get(entry.id);
      if (stored === undefined) continue;
      if (stored.type !== type) {
        if (level !== 'NONE') messages.push(`subject ${subject}: field (root): schema type changed from ${stored.type} to ${type}: not ${level} compatible with version ${entry.version}`);
        continue;
      }
      prior.push({ version: entry.version, parsed: stored.parsed });
    }
    return [...messages, ...checkCompatibility(formatOf(type).format, subject, level, candidate, prior)];
  }

  /** Stops following and writing; waits for the write in progress. Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes;
    await this.producer?.close().catch(() => undefined);
    await this.follower?.close().catch(() => undefined);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
