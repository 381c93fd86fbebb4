/**
 * Conformance of the registry with two independent, existing Confluent Schema Registry clients —
 * `@kafkajs/confluent-schema-registry` 3.9.0 and Confluent's own `@confluentinc/schemaregistry`
 * 1.10.1 — over real HTTP, with the registry (RegistryService + the runner's serveHttp) in this
 * process and its state in the dev stack's real Kafka. Test data: the Avro schema the bridge
 * registers for the Vaisala WXT's ptu stream (central/src/schemas), and a JSON Schema.
 *
 * Each client registers, looks up by id and by subject, evolves a schema compatibly, is refused an
 * incompatible change (409, with the subject, field and rule in the message), sets and reads
 * compatibility levels, and encodes/decodes values in the Confluent wire format with its own
 * serializer — including values one client wrote and the other read. Then: a restart keeps every
 * subject, version, id and level (read back from Kafka), and a second instance on the same topic
 * sees everything the first wrote, and the two assign ids in one order whichever gets the write.
 */
import { AvroDeserializer, AvroSerializer, Compatibility, JsonDeserializer, JsonSerializer, SchemaRegistryClient, SerdeType } from '@confluentinc/schemaregistry';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaLog } from '../../src/kafka/index.ts';
import { avroSchemaFor } from '../../src/schemas/index.ts';
import { unique } from '../support/env.ts';
import { bootstrap, call, startRegistry, type RunningRegistry } from './support.ts';

const PTU = 'skyhaul.adapter.vaisala-wxt.v1.ptu';
type AvroRecord = { type: 'record'; fields: Array<{ name: string; type: unknown; default?: unknown; doc?: string }> } & Record<string, unknown>;

/** v1: the bridge's schema for the ptu stream. */
const v1 = avroSchemaFor(PTU) as unknown as AvroRecord;
/** v2: one more optional reading (with a default): BACKWARD_TRANSITIVE compatible. */
function evolved(): AvroRecord {
  const schema = structuredClone(v1);
  const fields = schema.fields[0]!.type as AvroRecord;
  fields.fields.push({ name: 'dew_point', type: ['null', 'double'], default: null, doc: 'Dew point. Unit: Cel (UCUM).' });
  return schema;
}
/** air_temperature becomes a string: no reader of v1's data. */
function incompatible(): AvroRecord {
  const schema = evolved();
  const fields = schema.fields[0]!.type as AvroRecord;
  Object.assign(fields.fields.find((f) => f.name === 'air_temperature')!, { type: 'string', default: 'n/a' });
  return schema;
}
const ptuValue = {
  fields: { air_pressure: 1013.2, air_temperature: 12.5, internal_temperature: null, relative_humidity: 41 },
  null_fields: ['internal_temperature'],
  units: { air_pressure: 'hPa', air_temperature: 'Cel', relative_humidity: '%' },
  flags: [],
  device_time: null,
};

const jsonV1 = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: { station: { type: 'string' }, wind_speed: { type: 'number', minimum: 0 } },
  required: ['station'],
  additionalProperties: false,
};
const jsonV2 = { ...jsonV1, properties: { ...jsonV1.properties, gust: { type: 'number' } } };
const jsonIncompatible = { ...jsonV2, properties: { ...jsonV2.properties, wind_speed: { type: 'string' } } };

let registry: RunningRegistry;
let topic: string;
const subjectOf = (name: string): string => unique(`conformance.${name}`);

beforeAll(async () => {
  topic = unique('registry-conformance');
  registry = await startRegistry(topic);
});
afterAll(async () => {
  await registry?.close();
});

const kafkajsClient = (url = registry.url): SchemaRegistry => new SchemaRegistry({ host: url, retry: { retries: 0 } });
const confluentClient = (url = registry.url): SchemaRegistryClient => new SchemaRegistryClient({ baseURLs: [url], maxRetries: 0 });

describe('registry conformance: @kafkajs/confluent-schema-registry 3.9.0', () => {
  it('registers, looks up by id and subject, evolves, refuses an incompatible change with its reason, and reads the level it set', async () => {
    const client = kafkajsClient();
    const subject = subjectOf('kafkajs-ptu');
    const options = { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE };
    const { id: id1 } = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, options);
    // The first registration set the subject's level (the client's own PUT /config/{subject}).
    expect(await call(registry.url, 'GET', `/config/${subject}`)).toMatchObject({ status: 200, body: { compatibilityLevel: 'BACKWARD_TRANSITIVE' } });
    // The same schema again: the same id, no new version.
    expect((await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, options)).id).toBe(id1);
    const { id: id2 } = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(evolved()) }, options);
    expect(id2).not.toBe(id1);

    // Look-ups with a fresh client (no cache): by subject and version, latest, by schema, by id.
    const fresh = kafkajsClient();
    expect(await fresh.getRegistryId(subject, 1)).toBe(id1);
    expect(await fresh.getRegistryId(subject, 2)).toBe(id2);
    expect(await fresh.getLatestSchemaId(subject)).toBe(id2);
    expect(await fresh.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(v1) })).toBe(id1);
    const byId = (await fresh.getSchema(id1)) as unknown as { name: string; equals(other: unknown): boolean };
    expect(byId.name).toBe('skyhaul.adapter.vaisala_wxt.ptu.Reading');

    // An incompatible change: 409 with subject, field, rule and version in the message.
    const refusal = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(incompatible()) }, options).then(
      () => null,
      (error: Error & { status?: number }) => error,
    );
    expect(refusal?.status).toBe(409);
    expect(refusal?.message).toContain(`subject ${subject}: field fields.air_temperature: type changed from [null,double] to string: not BACKWARD_TRANSITIVE compatible with version 1`);
    expect(await fresh.getLatestSchemaId(subject)).toBe(id2);

    // The client reads the subject's level before registering and refuses a mismatch: set FULL, then ask for BACKWARD.
    expect(await call(registry.url, 'PUT', `/config/${subject}`, { compatibility: 'FULL' })).toMatchObject({ status: 200, body: { compatibility: 'FULL' } });
    await expect(client.register({ type: SchemaType.AVRO, schema: JSON.stringify(evolved()) }, { subject, compatibility: COMPATIBILITY.BACKWARD })).rejects.toThrow(
      'Compatibility does not match the configuration (BACKWARD != FULL)',
    );
  });

  it('registers and evolves a JSON Schema, and refuses an incompatible one', async () => {
    const client = kafkajsClient();
    const subject = subjectOf('kafkajs-json');
    const options = { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE };
    const { id: id1 } = await client.register({ type: SchemaType.JSON, schema: JSON.stringify(jsonV1) }, options);
    const { id: id2 } = await client.register({ type: SchemaType.JSON, schema: JSON.stringify(jsonV2) }, options);
    expect(id2).toBeGreaterThan(id1);
    expect(await call(registry.url, 'GET', `/subjects/${subject}/versions/2`)).toMatchObject({ status: 200, body: { subject, version: 2, id: id2, schemaType: 'JSON' } });
    const refusal = await client.register({ type: SchemaType.JSON, schema: JSON.stringify(jsonIncompatible) }, options).then(
      () => null,
      (error: Error & { status?: number }) => error,
    );
    expect(refusal?.status).toBe(409);
    expect(refusal?.message).toContain(`subject ${subject}: field wind_speed: type changed from number to string: not BACKWARD_TRANSITIVE compatible with version 2`);
    // Encoded and decoded with the client's own JSON helper (validated against the schema).
    const encoded = await client.encode(id2, { station: 'site-wxt', wind_speed: 3.5, gust: 7 });
    expect(encoded[0]).toBe(0);
    expect(encoded.readInt32BE(1)).toBe(id2);
    expect(await client.decode(encoded)).toEqual({ station: 'site-wxt', wind_speed: 3.5, gust: 7 });
  });
});

describe('registry conformance: @confluentinc/schemaregistry 1.10.1', () => {
  it('registers, looks up by id and subject, evolves, refuses an incompatible change with its reason, and sets and reads levels', async () => {
    const client = confluentClient();
    const subject = subjectOf('confluent-ptu');
    await client.updateCompatibility(subject, Compatibility.BACKWARD_TRANSITIVE);
    expect(await client.getCompatibility(subject)).toBe('BACKWARD_TRANSITIVE');
    const id1 = await client.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(v1) });
    expect(await client.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(v1) })).toBe(id1);
    expect(await client.testSubjectCompatibility(subject, { schemaType: 'AVRO', schema: JSON.stringify(evolved()) })).toBe(true);
    expect(await client.testSubjectCompatibility(subject, { schemaType: 'AVRO', schema: JSON.stringify(incompatible()) })).toBe(false);
    const id2 = await client.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(evolved()) });
    expect(id2).not.toBe(id1);

    const fresh = confluentClient();
    expect(await fresh.getAllVersions(subject)).toEqual([1, 2]);
    expect(await fresh.getAllSubjects()).toContain(subject);
    expect(await fresh.getLatestSchemaMetadata(subject)).toMatchObject({ subject, version: 2, id: id2 });
    expect(await fresh.getSchemaMetadata(subject, 1)).toMatchObject({ subject, version: 1, id: id1 });
    const info = await fresh.getBySubjectAndId(subject, id1);
    expect(JSON.parse(info.schema)).toEqual(v1);
    expect(await fresh.getId(subject, { schemaType: 'AVRO', schema: JSON.stringify(v1, null, 2) })).toBe(id1); // whitespace does not matter
    expect(await fresh.getVersion(subject, { schemaType: 'AVRO', schema: JSON.stringify(evolved()) })).toBe(2);

    const refusal = await client.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(incompatible()) }).then(
      () => null,
      (error: Error & { status?: number; errorCode?: number }) => error,
    );
    expect(refusal).toMatchObject({ status: 409, errorCode: 409 });
    expect(refusal?.message).toContain(`subject ${subject}: field fields.air_temperature: type changed from [null,double] to string: not BACKWARD_TRANSITIVE compatible with version 1`);

    // Levels: per subject and global; NONE lets the incompatible schema in.
    expect(await client.getDefaultCompatibility()).toBe('BACKWARD_TRANSITIVE'); // the configured default
    await client.updateCompatibility(subject, Compatibility.NONE);
    expect(await client.getCompatibility(subject)).toBe('NONE');
    const id3 = await client.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(incompatible()) });
    expect(await fresh.getAllVersions(subject)).toEqual([1, 2, 3]);
    expect(id3).toBeGreaterThan(id2);
  });

  it('JSON Schema: registers, evolves, refuses an incompatible change, and serialises with its own JSON serde', async () => {
    const client = confluentClient();
    const kafkaTopic = unique('conformance.json-topic');
    const subject = `${kafkaTopic}-value`;
    const id1 = await client.register(subject, { schemaType: 'JSON', schema: JSON.stringify(jsonV1) });
    const id2 = await client.register(subject, { schemaType: 'JSON', schema: JSON.stringify(jsonV2) });
    await expect(client.register(subject, { schemaType: 'JSON', schema: JSON.stringify(jsonIncompatible) })).rejects.toMatchObject({ status: 409 });
    expect(id2).toBeGreaterThan(id1);
    const serializer = new JsonSerializer(client, SerdeType.VALUE, { useLatestVersion: true, validate: true });
    const bytes = await serializer.serialize(kafkaTopic, { station: 'site-wxt', wind_speed: 2 });
    expect(bytes.readInt32BE(1)).toBe(id2);
    await expect(serializer.serialize(kafkaTopic, { station: 'site-wxt', wind_speed: 'fast' })).rejects.toThrow();
    const deserializer = new JsonDeserializer(client, SerdeType.VALUE, {});
    expect(await deserializer.deserialize(kafkaTopic, bytes)).toEqual({ station: 'site-wxt', wind_speed: 2 });
  });
});

describe('registry conformance: the Confluent wire format across both clients', () => {
  it('a value serialised by one client is deserialised by the other, both ways, through the same ids', async () => {
    const kafkaTopic = unique('conformance.wire');
    const subject = `${kafkaTopic}-value`; // TopicNameStrategy: Confluent's serde looks schemas up under <topic>-value
    const kafkajs = kafkajsClient();
    const confluent = confluentClient();
    const { id } = await kafkajs.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE });

    // kafkajs writes, Confluent's serde reads.
    const fromKafkajs = await kafkajs.encode(id, ptuValue);
    expect(fromKafkajs[0]).toBe(0); // magic byte
    expect(fromKafkajs.readInt32BE(1)).toBe(id); // schema id, big-endian
    const deserializer = new AvroDeserializer(confluent, SerdeType.VALUE, {});
    expect(await deserializer.deserialize(kafkaTopic, fromKafkajs)).toEqual(ptuValue);

    // Confluent's serde writes (with the subject's latest schema: the one kafkajs registered), kafkajs reads.
    const serializer = new AvroSerializer(confluent, SerdeType.VALUE, { useLatestVersion: true });
    const fromConfluent = await serializer.serialize(kafkaTopic, ptuValue);
    expect(fromConfluent.readInt32BE(1)).toBe(id);
    expect(Buffer.compare(fromConfluent, fromKafkajs)).toBe(0); // one schema, one encoding
    expect(await kafkajsClient().decode(fromConfluent)).toEqual(ptuValue);

    // After a compatible evolution registered by Confluent's client, a value written with v2 reads
    // in kafkajs (writer schema by id), and kafkajs reads v1 data as v2 (its reader-schema option).
    const id2 = await confluent.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(evolved()) });
    const v2Value = { ...ptuValue, fields: { ...ptuValue.fields, dew_point: -1.5 } };
    const v2Bytes = await new AvroSerializer(confluentClient(), SerdeType.VALUE, { useLatestVersion: true }).serialize(kafkaTopic, v2Value);
    expect(v2Bytes.readInt32BE(1)).toBe(id2);
    expect(await kafkajsClient().decode(v2Bytes)).toEqual(v2Value);
    expect(await kafkajsClient().decode(fromKafkajs, { [SchemaType.AVRO]: { readerSchema: evolved() as never } })).toEqual({ ...ptuValue, fields: { ...ptuValue.fields, dew_point: null } });
    // And Confluent's deserializer with the latest version as reader does the same resolution.
    const upgrading = new AvroDeserializer(confluentClient(), SerdeType.VALUE, { useLatestVersion: true });
    expect(await upgrading.deserialize(kafkaTopic, fromConfluent)).toEqual({ ...ptuValue, fields: { ...ptuValue.fields, dew_point: null } });
  });
});

/** Everything a client can see: subjects, their versions (with id and schema), levels. */
async function snapshot(url: string): Promise<unknown> {
  const subjects = (await call(url, 'GET', '/subjects')).body as string[];
  const out: Record<string, unknown> = { global: (await call(url, 'GET', '/config')).body };
  for (const subject of subjects) {
    const versions = (await call(url, 'GET', `/subjects/${subject}/versions`)).body as number[];
    out[subject] = {
      versions: await Promise.all(versions.map(async (v) => (await call(url, 'GET', `/subjects/${subject}/versions/${v}`)).body)),
      level: (await call(url, 'GET', `/config/${subject}`)).body,
    };
  }
  return out;
}

/** Polls until `check` passes (another instance follows the topic asynchronously). */
async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('registry state lives in Kafka', () => {
  it('a restart keeps every subject, version, id and level (read back from the topic)', async () => {
    const own = await startRegistry(unique('registry-restart'));
    const client = confluentClient(own.url);
    const a = subjectOf('restart-a');
    const b = subjectOf('restart-b');
    await client.updateCompatibility(a, Compatibility.FULL_TRANSITIVE);
    await client.updateDefaultCompatibility(Compatibility.FORWARD);
    const idA1 = await client.register(a, { schemaType: 'AVRO', schema: JSON.stringify(v1) });
    const idA2 = await client.register(a, { schemaType: 'AVRO', schema: JSON.stringify(evolved()) });
    const idB1 = await client.register(b, { schemaType: 'AVRO', schema: JSON.stringify(v1) }); // same schema, other subject: same id
    const idB2 = await client.register(b, { schemaType: 'JSON', schema: JSON.stringify(true) }).catch(() => null); // FORWARD refuses a type change…
    expect(idB2).toBeNull();
    expect(idB1).toBe(idA1);
    await client.deleteSubjectVersion(a, 2); // a soft delete survives too
    const before = await snapshot(own.url);
    await own.close();

    const restarted = await startRegistry(own.service.store.topic);
    try {
      expect(await snapshot(restarted.url)).toEqual(before);
      const fresh = confluentClient(restarted.url);
      expect(await fresh.getCompatibility(a)).toBe('FULL_TRANSITIVE');
      expect(await fresh.getDefaultCompatibility()).toBe('FORWARD');
      expect((await call(restarted.url, 'GET', `/subjects/${a}/versions?deleted=true`)).body).toEqual([1, 2]);
      expect((await call(restarted.url, 'GET', `/schemas/ids/${idA2}`)).status).toBe(200);
      // Ids continue after the highest one, never reuse one.
      const next = await fresh.register(subjectOf('restart-c'), { schemaType: 'JSON', schema: JSON.stringify({ type: 'string' }) });
      expect(next).toBe(Math.max(idA1, idA2) + 1);
    } finally {
      await restarted.close();
    }
  });

  it('a schema another writer appended just before a registration is counted when the next id is picked', async () => {
    const own = await startRegistry(unique('registry-catchup'));
    const kafka = new KafkaLog({ bootstrap: [bootstrap], clientId: 'registry-catchup-test' });
    // Another writer outside the registry's transactional.id (a tool, a registry of another make),
    // writing plainly with acks=all: once acknowledged, the record is below the last stable offset.
    // (A transactional writer's commit markers land asynchronously after its commit returns, so
    // a read_committed reader may not see it at once; the registry's own instances share one
    // transactional.id, whose takeover waits for those markers.)
    const foreign = kafka.producer();
    try {
      const client = confluentClient(own.url);
      const first = await client.register(subjectOf('catchup-a'), { schemaType: 'JSON', schema: JSON.stringify({ type: 'string' }) });
      const elsewhere = subjectOf('catchup-b');
      const foreignId = first + 100;
      await foreign.send({
        messages: [
          {
            topic: own.service.store.topic,
            key: Buffer.from(JSON.stringify({ keytype: 'SCHEMA', subject: elsewhere, version: 1, magic: 1 })),
            value: Buffer.from(JSON.stringify({ subject: elsewhere, version: 1, id: foreignId, schema: '{"type":"number"}', schemaType: 'JSON', deleted: false })),
          },
        ],
      });
      // Registered right after that write: the next id comes after the foreign one. (The write
      // reads the topic to its end before picking; the follower alone usually lags by only a few
      // ms, so this shows the outcome rather than isolating that step.)
      expect(await client.register(subjectOf('catchup-c'), { schemaType: 'JSON', schema: JSON.stringify({ type: 'boolean' }) })).toBe(foreignId + 1);
      expect((await call(own.url, 'GET', `/subjects/${elsewhere}/versions/1`)).body).toMatchObject({ id: foreignId });
    } finally {
      await foreign.close();
      await kafka.close();
      await own.close();
    }
  });

  it('a second instance sees what the first wrote, and writes through either instance are assigned in one order', async () => {
    const first = await startRegistry(unique('registry-pair'));
    let second: RunningRegistry | null = null;
    try {
      const subject = subjectOf('pair');
      const id1 = await confluentClient(first.url).register(subject, { schemaType: 'AVRO', schema: JSON.stringify(v1) });
      second = await startRegistry(first.service.store.topic);
      const secondUrl = second.url;
      // The second instance read the topic at start and holds the writer role now.
      expect(await confluentClient(secondUrl).getLatestSchemaMetadata(subject)).toMatchObject({ id: id1, version: 1 });
      expect(second.service.store.isWriter).toBe(true);

      // A write through the second: the first follows and serves it.
      const id2 = await confluentClient(secondUrl).register(subject, { schemaType: 'AVRO', schema: JSON.stringify(evolved()) });
      await eventually(async () => expect(await confluentClient(first.url).getLatestSchemaMetadata(subject)).toMatchObject({ id: id2, version: 2 }));

      // A write through the first: fenced meanwhile, it takes the writer role back, reads to the
      // end, and assigns the next id and version after the second's.
      const other = subjectOf('pair-other');
      const id3 = await confluentClient(first.url).register(other, { schemaType: 'JSON', schema: JSON.stringify(jsonV1) });
      expect(id3).toBe(id2 + 1);
      expect(first.service.store.isWriter).toBe(true);
      expect(await first.context.metrics.getSingleMetricAsString('skyhaul_central_registry_writer_takeovers_total')).toMatch(/ 1$/m);
      await eventually(async () => expect((await call(secondUrl, 'GET', `/subjects/${other}/versions/1`)).body).toMatchObject({ id: id3 }));

      // Writes sent to both at once (each one fencing the other): every one lands, ids unique and dense.
      const schemas = Array.from({ length: 6 }, (_, i) => ({ type: 'object', properties: { [`p${i}`]: { type: 'string' } } }));
      const ids = await Promise.all(
        schemas.map((schema, i) => confluentClient(i % 2 === 0 ? first.url : secondUrl).register(subjectOf(`race-${i}`), { schemaType: 'JSON', schema: JSON.stringify(schema) })),
      );
      expect([...ids].sort((x, y) => x - y)).toEqual([id3 + 1, id3 + 2, id3 + 3, id3 + 4, id3 + 5, id3 + 6]);
      await eventually(async () => expect(await snapshot(first.url)).toEqual(await snapshot(secondUrl)));
    } finally {
      await second?.close();
      await first.close();
    }
  });
});
