/**
 * Curated values back from the Confluent wire format (magic byte 0, 4-byte big-endian schema id,
 * Avro body: Confluent's "Wire format" documentation) with the writer's schema from the registry
 * (`@kafkajs/confluent-schema-registry`, cached per id). Only schemas of the curated record
 * (`skyhaul.curated.CuratedReading`, any version) are accepted.
 *
 * `prepare` is async (it may ask the registry) and throws `RegistryUnavailable` when the registry
 * cannot be reached (the caller retries; nothing is lost); `decode` is sync once prepared and
 * throws `Undecodable` for a value that can never be read (not the wire format, an unknown or
 * foreign schema id, a body that does not fit its schema) — the caller keeps such a record aside.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { CuratedReading } from '../curated/index.ts';

const CURATED_NAME = 'skyhaul.curated.CuratedReading';

/** A value that can never be decoded as a curated record; `reason` is the metric label. */
export class Undecodable extends Error {
  constructor(
    readonly reason: 'wire_format' | 'unknown_schema' | 'not_curated' | 'avro',
    message: string,
  ) {
    super(message);
  }
}

/** The registry could not be asked (retry later). */
export class RegistryUnavailable extends Error {}

interface AvroType {
  name?: string;
  fromBuffer(buffer: Buffer): unknown;
}

export class CuratedDecoder {
  private readonly registry: SchemaRegistry;
  private readonly types = new Map<number, AvroType | Undecodable>();

  constructor(url: string) {
    this.registry = new SchemaRegistry({ host: url, retry: { retries: 2, initialRetryTimeInSecs: 0.2, maxRetryTimeInSecs: 2 } });
  }

  private static schemaId(value: Buffer | null): number | Undecodable {
    if (value === null || value.length < 5 || value[0] !== 0) return new Undecodable('wire_format', `not the Confluent wire format (${value === null ? 'no value' : `${value.length} bytes, first byte ${value[0]}`})`);
    return value.readInt32BE(1);
  }

  /** Makes sure the schema of `value` is known (asks the registry once per id). */
  async prepare(value: Buffer | null): Promise<void> {
    const id = CuratedDecoder.schemaId(value);
    if (id instanceof Undecodable || this.types.has(id)) return;
    try {
      const type = (await this.registry.getSchema(id)) as unknown as AvroType;
      this.types.set(id, type.name === CURATED_NAME ? type : new Undecodable('not_curated', `schema id ${id} is ${type.name ?? 'not a named record'}, not ${CURATED_NAME}`));
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 404 || /40403|not found/i.test(String((error as Error).message))) {
        this.types.set(id, new Undecodable('unknown_schema', `schema id ${id} is unknown to the registry`));
        return;
      }
      throw new RegistryUnavailable(`schema registry unavailable for schema id ${id}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The curated record in `value` (prepared before); throws Undecodable. */
  decode(value: Buffer | null): CuratedReading {
    const id = CuratedDecoder.schemaId(value);
    if (id instanceof Undecodable) throw id;
    const type = this.types.get(id);
    if (type === undefined) throw new Error(`schema id ${id} was not prepared`);
    if (type instanceof Undecodable) throw type;
    let reading: CuratedReading;
    try {
      reading = type.fromBuffer(value!.subarray(5)) as CuratedReading;
    } catch (error) {
      throw new Undecodable('avro', `the Avro body does not fit schema id ${id}: ${(error as Error).message}`);
    }
    if (reading.site_id === '' || reading.stream === '' || !Number.isFinite(reading.event_time) || !Number.isFinite(reading.ingest_time)) {
      throw new Undecodable('avro', 'site_id or stream empty, or a time not finite');
    }
    return reading;
  }
}
