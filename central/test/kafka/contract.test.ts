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

  it('deletes the topics that exist among those named and skips the rest', async () => {
    const name = unique('contract.delete');
    await kafka.ensureTopics([{ name, partitions: 2, replicationFactor: 1, config: {} }]);
    expect(await kafka.partitions(name)).toBe(2);
    await kafka.deleteTopics([name, unique('contract.never-made')]);
    // Deletion is asynchronous in the controller: the topic leaves the metadata shortly after.
    let left = await kafka.partitions(name);
    for (let i = 0; i < 50 && left > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await kafka.partitions(name);
    }
    expect(left).toBe(0);
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

describe('GroupFetcher (real Kafka): a consumer group with manual commits', () => {
  /** Collects what a reader is handed. */
  function collector() {
    const seen: Array<{ generation: number; partition: number; offset: bigint; key: string }> = [];
    const assignments: Array<{ generation: number; partitions: Array<{ partition: number; start: bigint; committed: bigint | null }> }> = [];
    const errors: Error[] = [];
    return {
      seen,
      assignments,
      errors,
      handler: {
        assigned: async (generation: number, partitions: Array<{ partition: number; start: bigint; committed: bigint | null }>) => {
          assignments.push({ generation, partitions: partitions.map((p) => ({ partition: p.partition, start: p.start, committed: p.committed })) });
        },
        batch: async (b: { generation: number; records: Array<{ partition: number; offset: bigint; key: string }> }) => {
          for (const r of b.records) seen.push({ generation: b.generation, partition: r.partition, offset: r.offset, key: r.key });
        },
        error: (error: Error) => void errors.push(error),
      },
    };
  }

  async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('reads committed records only, from the log start, then from where the group committed; a topic matching the pattern is found', async () => {
    const prefix = unique('contract.group');
    const topic = `${prefix}.a`;
    await kafka.ensureTopics([{ name: topic, partitions: 2, replicationFactor: 1, config: {} }]);
    // The client itself, to leave an aborted transaction between two committed ones.
    const producer = new Producer({ clientId: 'contract-group', bootstrapBrokers: bootstrap, idempotent: true, transactionalId: unique('contract-group'), acks: ProduceAcks.ALL, producerId: -1n, producerEpoch: -1, retryDelay: 20, retries: 50 });
    try {
      const send = async (keys: number[], abort: boolean): Promise<void> => {
        const transaction = await producer.beginTransaction();
        await transaction.send({ messages: keys.map((i) => ({ topic, partition: i % 2, key: Buffer.from(abort ? `aborted${i}` : `k${i}`), value: Buffer.from(`v${i}`) })) });
        await (abort ? transaction.abort() : transaction.commit());
      };
      await send([0, 1, 2, 3, 4, 5], false);
      await send([7, 8], true);
      await send([6], false);
    } finally {
      await producer.close();
    }
    const groupId = unique('contract-group');
    const first = collector();
    const reader = kafka.group({ groupId, topics: [], pattern: new RegExp(`^${prefix.replaceAll('.', '\\.')}\\.`), maxWaitMs: 100 }, first.handler);
    await reader.start();
    let p0: typeof first.seen = [];
    try {
      await until(() => first.seen.length >= 7, 'seven records');
      expect(first.assignments[0]!.partitions).toEqual([
        { partition: 0, start: 0n, committed: null },
        { partition: 1, start: 0n, committed: null },
      ]);
      expect(first.seen.map((s) => s.key).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
      // Partition 0 in offset order; the aborted record is not handed over.
      p0 = first.seen.filter((s) => s.partition === 0);
      expect(p0.map((s) => s.key)).toEqual(['k0', 'k2', 'k4', 'k6']);
      // Commit partition 0 after its second record only.
      expect(await reader.commit(first.assignments[0]!.generation, [{ topic, partition: 0, offset: p0[1]!.offset + 1n }])).toBe(true);
      expect(await reader.commit(first.assignments[0]!.generation + 100, [{ topic, partition: 0, offset: 0n }])).toBe(false);
    } finally {
      await reader.close();
    }
    const second = collector();
    const again = kafka.group({ groupId, topics: [topic], maxWaitMs: 100 }, second.handler);
    await again.start();
    try {
      await until(() => second.seen.length >= 5, 'the records after the commit');
      expect(second.assignments[0]!.partitions[0]).toEqual({ partition: 0, start: p0[1]!.offset + 1n, committed: p0[1]!.offset + 1n });
      expect(second.seen.filter((s) => s.partition === 0).map((s) => s.key)).toEqual(['k4', 'k6']);
      expect(second.seen.filter((s) => s.partition === 1).map((s) => s.key)).toEqual(['k1', 'k3', 'k5']);
    } finally {
      await again.close();
    }
  }, 120_000);

  it('on a rebalance, tells each member its new assignment before any batch of it, and restarts every partition at the committed offset', async () => {
    const topic = unique('contract.rebalance');
    await kafka.ensureTopics([{ name: topic, partitions: 4, replicationFactor: 1, config: {} }]);
    const producer = await kafka.transactional(unique('contract-rebalance'));
    try {
      await producer.commit(Array.from({ length: 40 }, (_, i) => ({ topic, key: `k${i}`, value: Buffer.from(String(i)), headers: {}, partition: i % 4 })));
    } finally {
      await producer.close();
    }
    const groupId = unique('contract-rebalance');
    const a = collector();
    const readerA = kafka.group({ groupId, topics: [topic], maxWaitMs: 100, heartbeatIntervalMs: 500 }, a.handler);
    await readerA.start();
    const b = collector();
    const readerB = kafka.group({ groupId, topics: [topic], maxWaitMs: 100, heartbeatIntervalMs: 500 }, b.handler);
    try {
      await until(() => a.seen.length >= 40, 'A reads everything');
      await readerB.start();
      await until(() => b.assignments.length > 0 && b.assignments.at(-1)!.partitions.length > 0 && a.assignments.length >= 2 && a.assignments.at(-1)!.partitions.length < 4, 'the partitions shared', 90_000);
      const lastA = a.assignments.at(-1)!;
      const lastB = b.assignments.at(-1)!;
      expect(lastA.generation).toBe(lastB.generation);
      expect([...lastA.partitions, ...lastB.partitions].map((p) => p.partition).sort()).toEqual([0, 1, 2, 3]);
      // Nothing was committed: both restart from the log start, so B reads its partitions from offset 0.
      await until(() => b.seen.length >= lastB.partitions.length * 10, "B reads its partitions' records");
      for (const p of lastB.partitions) expect(b.seen.filter((s) => s.partition === p.partition).map((s) => s.offset)[0]).toBe(0n);
      // No batch of A's old generation came after its new assignment.
      const index = a.seen.findIndex((s) => s.generation === lastA.generation);
      if (index >= 0) expect(a.seen.slice(index).every((s) => s.generation === lastA.generation)).toBe(true);
    } finally {
      await readerA.close();
      await readerB.close();
    }
  }, 180_000);
});
