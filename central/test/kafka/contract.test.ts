/**
 * The Kafka client interface (central/src/kafka) against the real broker (Kafka 4.4, KRaft, from
 * the dev stack): topics with their partitions and configuration, transactions that a
 * read_committed reader sees whole or not at all, zombie fencing by transactional.id, and
 * reading a topic to its end.
 */
import { Admin, Consumer, ProduceAcks, Producer } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaFencedError, KafkaLog, type GroupReader, type GroupRecord } from '../../src/kafka/index.ts';
import { stackEnv, unique } from '../support/env.ts';

const bootstrap = [stackEnv('SKYHAUL_KAFKA_BOOTSTRAP')];
const kafka = new KafkaLog({ bootstrap, clientId: 'contract-test' });
afterAll(() => kafka.close());

describe('KafkaLog (real Kafka)', () => {
  it('creates topics with explicit partitions and configuration, and leaves existing ones alone', async () => {
    const name = unique('contract.topic');
    const spec = { name, partitions: 3, replicationFactor: 1, config: { 'retention.ms': String(7 * 86_400_000), 'min.insync.replicas': '1' } };
    expect((await kafka.ensureTopics([spec])).created).toEqual([name]);
    expect(await kafka.ensureTopics([{ ...spec, partitions: 6 }])).toEqual({ created: [], existing: [{ name, partitions: 3 }] });
    expect(await kafka.partitions(name)).toBe(3);
    const admin = new Admin({ clientId: 'contract-test-check', bootstrapBrokers: bootstrap });
    try {
      const configs = await admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: name, configurationKeys: ['retention.ms'] }] });
      expect(JSON.stringify(configs)).toContain(String(7 * 86_400_000));
    } finally {
      await admin.close();
    }
  });

  it('commits a transaction whole: a read_committed reader sees all of it, an aborted one nothing', async () => {
    const topic = unique('contract.tx');
    await kafka.ensureTopics([{ name: topic, partitions: 2, replicationFactor: 1, config: {} }]);
    const producer = await kafka.transactional(unique('contract-tx'));
    try {
      await producer.commit([1, 2, 3].map((i) => ({ topic, key: `k${i}`, value: Buffer.from(`v${i}`), headers: { sequence: String(i) } })));
      const read = await kafka.readToEnd(topic);
      expect(read.map((r) => [r.key, r.value?.toString(), r.headers.sequence]).sort()).toEqual([
        ['k1', 'v1', '1'],
        ['k2', 'v2', '2'],
        ['k3', 'v3', '3'],
      ]);
      // A transaction the broker refuses midway (a record over message.max.bytes) commits nothing at all.
      await expect(producer.commit([{ topic, key: 'k4', value: Buffer.from('v4'), headers: {} }, { topic, key: 'k5', value: Buffer.alloc(2 * 1024 * 1024, 1), headers: {} }])).rejects.toBeDefined();
      await producer.commit([{ topic, key: 'k6', value: Buffer.from('v6'), headers: {} }]); // and the producer goes on
      expect((await kafka.readToEnd(topic)).map((r) => r.key).sort()).toEqual(['k1', 'k2', 'k3', 'k6']);
    } finally {
      await producer.close();
    }
  });

  it('skips every aborted transaction of one producer, however many share a fetch (patched client: patches/@platformatic+kafka+1.35.0.patch)', async () => {
    // One transactional.id that commits and aborts in turn, as the bridge does across kill -9s
    // and refused batches. The unpatched 1.35 reader let all but the last aborted transaction of
    // a producer through as committed, and crashed on an ABORT marker whose transaction began
    // before the fetch offset (platformatic/kafka#391).
    const topic = unique('contract.aborts');
    await kafka.ensureTopics([{ name: topic, partitions: 1, replicationFactor: 1, config: {} }]);
    // The client itself, to leave records of aborted transactions in the log (as a bridge killed
    // mid-transaction does: its successor's InitProducerId aborts them).
    const producer = new Producer({ clientId: 'contract-aborts', bootstrapBrokers: bootstrap, idempotent: true, transactionalId: unique('contract-aborts'), acks: ProduceAcks.ALL, producerId: -1n, producerEpoch: -1, retryDelay: 20, retries: 50 });
    try {
      for (let i = 1; i <= 4; i++) {
        const commit = await producer.beginTransaction();
        await commit.send({ messages: [{ topic, key: Buffer.from(`committed-${i}`), value: Buffer.from('c') }] });
        await commit.commit();
        if (i === 4) break;
        const abort = await producer.beginTransaction();
        await abort.send({ messages: [{ topic, key: Buffer.from(`aborted-${i}`), value: Buffer.from('a') }] });
        await abort.abort();
      }
    } finally {
      await producer.close();
    }
    expect((await kafka.readToEnd(topic)).map((r) => r.key)).toEqual(['committed-1', 'committed-2', 'committed-3', 'committed-4']);
    const followed: string[] = [];
    const follower = await kafka.follow(topic, (r) => followed.push(r.key));
    try {
      await follower.caughtUp();
    } finally {
      await follower.close();
    }
    expect(followed).toEqual(['committed-1', 'committed-2', 'committed-3', 'committed-4']);
  });

  it('fences a zombie: once a newer producer took its transactional.id, the older one cannot commit', async () => {
    const topic = unique('contract.fence');
    await kafka.ensureTopics([{ name: topic, partitions: 1, replicationFactor: 1, config: {} }]);
    const id = unique('contract-fence');
    const zombie = await kafka.transactional(id);
    await zombie.commit([{ topic, key: 'a', value: Buffer.from('first'), headers: {} }]);
    const successor = await kafka.transactional(id);
    try {
      await expect(zombie.commit([{ topic, key: 'a', value: Buffer.from('late'), headers: {} }])).rejects.toBeInstanceOf(KafkaFencedError);
      await successor.commit([{ topic, key: 'a', value: Buffer.from('second'), headers: {} }]);
      expect((await kafka.readToEnd(topic)).map((r) => r.value?.toString())).toEqual(['first', 'second']);
    } finally {
      await zombie.close();
      await successor.close();
    }
  });

  it('reads a topic to its end, including one that ends with transaction markers', async () => {
    const topic = unique('contract.end');
    await kafka.ensureTopics([{ name: topic, partitions: 3, replicationFactor: 1, config: { 'cleanup.policy': 'compact' } }]);
    expect(await kafka.readToEnd(topic)).toEqual([]);
    const producer = await kafka.transactional(unique('contract-end'));
    try {
      for (let i = 0; i < 20; i++) await producer.commit([{ topic, key: `key-${i % 7}`, value: Buffer.from(String(i)), headers: {} }]);
    } finally {
      await producer.close();
    }
    const read = await kafka.readToEnd(topic);
    expect(read).toHaveLength(20);
    // A plain read_uncommitted consumer agrees on the count (nothing was aborted).
    const consumer = new Consumer({ groupId: unique('contract-check'), clientId: 'contract-check', bootstrapBrokers: bootstrap });
    try {
      const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic)!;
      expect(ends.reduce((a, b) => a + b, 0n)).toBe(40n); // 20 records + 20 commit markers
    } finally {
      await consumer.close();
    }
  });
});

describe('consume-transform-produce (GroupReader + TransactionalProducer, real Kafka)', () => {
  async function fill(topic: string, n: number): Promise<void> {
    await kafka.ensureTopics([{ name: topic, partitions: 2, replicationFactor: 1, config: {} }]);
    const producer = await kafka.transactional(unique('ctp-fill'));
    try {
      await producer.commit(Array.from({ length: n }, (_, i) => ({ topic, key: `k${i % 5}`, value: Buffer.from(String(i)), headers: { i: String(i) } })));
    } finally {
      await producer.close();
    }
  }

  async function takeAll(reader: GroupReader, n: number): Promise<GroupRecord[]> {
    const out: GroupRecord[] = [];
    for (let i = 0; i < 100 && out.length < n; i++) out.push(...(await reader.take(n - out.length, 50, 500)));
    return out;
  }

  it('commits the output and the group offsets in one transaction: a later member of the group starts after them', async () => {
    const input = unique('ctp.in');
    const output = unique('ctp.out');
    await fill(input, 40);
    await kafka.ensureTopics([{ name: output, partitions: 1, replicationFactor: 1, config: {} }]);
    const group = unique('ctp-group');
    const reader = kafka.groupReader({ groupId: group, topics: [input] });
    await reader.open();
    const producer = await kafka.transactional(unique('ctp'));
    try {
      const got = await takeAll(reader, 40);
      expect(got.map((r) => Number(r.value!.toString())).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      await producer.commit(got.map((r) => ({ topic: output, key: r.key, value: r.value, headers: {} })), { reader, records: got });
    } finally {
      await producer.close();
      await reader.close();
    }
    expect(await kafka.readToEnd(output)).toHaveLength(40);
    const later = kafka.groupReader({ groupId: group, topics: [input] });
    await later.open();
    try {
      expect(await later.take(100, 50, 3000)).toEqual([]);
    } finally {
      await later.close();
    }
  });

  it('a failed transaction commits neither output nor offsets; rewind() reads the same records again', async () => {
    const input = unique('ctp.in');
    const output = unique('ctp.out');
    await fill(input, 10);
    await kafka.ensureTopics([{ name: output, partitions: 1, replicationFactor: 1, config: {} }]);
    const reader = kafka.groupReader({ groupId: unique('ctp-group'), topics: [input] });
    await reader.open();
    const producer = await kafka.transactional(unique('ctp'));
    try {
      const got = await takeAll(reader, 10);
      const oversize = { topic: output, key: 'x', value: Buffer.alloc(2 * 1024 * 1024, 1), headers: {} };
      await expect(producer.commit([...got.map((r) => ({ topic: output, key: r.key, value: r.value, headers: {} })), oversize], { reader, records: got })).rejects.toBeDefined();
      await reader.rewind();
      const again = await takeAll(reader, 10);
      expect(again.map((r) => r.offset).sort()).toEqual(got.map((r) => r.offset).sort());
      await producer.commit(again.map((r) => ({ topic: output, key: r.key, value: r.value, headers: {} })), { reader, records: again });
    } finally {
      await producer.close();
      await reader.close();
    }
    expect(await kafka.readToEnd(output)).toHaveLength(10);
  });

  it('a member whose group moved on (another joined) cannot commit offsets of its stale generation', async () => {
    const input = unique('ctp.in');
    const output = unique('ctp.out');
    await fill(input, 20);
    await kafka.ensureTopics([{ name: output, partitions: 1, replicationFactor: 1, config: {} }]);
    const group = unique('ctp-group');
    const a = kafka.groupReader({ groupId: group, topics: [input] });
    await a.open();
    const producer = await kafka.transactional(unique('ctp'));
    const b = kafka.groupReader({ groupId: group, topics: [input] });
    try {
      const got = await takeAll(a, 20);
      await b.open();
      // B's join moves the group to a new generation; A's records carry the old one.
      for (let i = 0; i < 100 && b.assignment.length === 0; i++) await b.take(1, 10, 100).then((r) => expect(r.length).toBeGreaterThanOrEqual(0));
      expect(b.assignment.length).toBeGreaterThan(0);
      await expect(producer.commit(got.map((r) => ({ topic: output, key: r.key, value: r.value, headers: {} })), { reader: a, records: got })).rejects.toBeDefined();
    } finally {
      await producer.close();
      await a.close();
      await b.close();
    }
    expect(await kafka.readToEnd(output)).toEqual([]);
  });
});
