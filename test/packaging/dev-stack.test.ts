/**
 * The dev stack is what every integration test stands on: these prove each service does the
 * job the later tests rely on, against the real processes.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { connect } from 'mqtt';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { KAFKA_PORTS, PULSAR_CLUSTERS, repoRoot, S3, stackStatus, VERSITYGW_VERSION } from '../../packaging/dev-stack/stack.ts';
import { adminGet, RawWsProducer, WsConsumer } from '../support/pulsar.ts';
import { createSerialPair } from '../support/serial-pair.ts';
import { requireEnv, uniqueTopic } from '../support/stack-env.ts';

describe('dev stack', () => {
  it('reports every service ready with its endpoint', async () => {
    const statuses = await stackStatus();
    expect(statuses.map((s) => s.name).sort()).toEqual(['kafka', 'mosquitto', 'pulsar-central', 'pulsar-edge', 'versitygw']);
    for (const status of statuses) {
      expect(status.ready, `${status.name} ready`).toBe(true);
      expect(status.endpoint).toMatch(/127\.0\.0\.1:\d+/);
    }
    // Standard ports stay free for a real install beside the dev stack.
    expect(requireEnv('SKYHAUL_PULSAR_EDGE_URL')).not.toContain(':6650');
    expect(requireEnv('SKYHAUL_MQTT_URL')).not.toContain(':1883');
  });

  it('geo-replicates a message published through the edge WebSocket API to central', async () => {
    const topic = uniqueTopic('geo');
    const central = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_CENTRAL_WS'), topic, 'central-test');
    const producer = await RawWsProducer.open(requireEnv('SKYHAUL_PULSAR_EDGE_WS'), topic);
    const body = `reading-${randomUUID()}`;
    const ack = await producer.send(body, { key: 'weather/wxt536', properties: { sequence: '1' } });
    expect(ack.result).toBe('ok');
    await producer.close();

    const [message] = await central.waitFor(1, 60_000);
    await central.close();
    expect(message!.payload.toString()).toBe(body);
    expect(message!.key).toBe('weather/wxt536');
    expect(message!.properties.sequence).toBe('1');

    const stats = await adminGet<{ replication: Record<string, { connected?: boolean }> }>(
      requireEnv('SKYHAUL_PULSAR_EDGE_HTTP'),
      `/${topic.replace('://', '/')}/stats`,
    );
    expect(Object.keys(stats.replication)).toContain('central');
  });

  it('de-duplicates a re-send with the same producer name and sequence (broker de-duplication)', async () => {
    const topic = uniqueTopic('dedup');
    const wsBase = requireEnv('SKYHAUL_PULSAR_EDGE_WS');
    const consumer = await WsConsumer.open(wsBase, topic, 'dedup-test');
    const producerName = `dedup-${randomUUID()}`;

    // First connection: sequences 0, 1, 2 (the proxy numbers them from initialSequenceId + 1).
    const first = await RawWsProducer.open(wsBase, topic, { producerName, initialSequenceId: -1 });
    for (const body of ['a', 'b', 'c']) expect((await first.send(body)).result).toBe('ok');
    await first.close();

    // Reconnect as if only 'a' had been recorded as acknowledged: 'b' and 'c' go out again with the
    // same sequences 1 and 2 and must be dropped by the broker; 'd' (sequence 3) is new.
    const second = await RawWsProducer.open(wsBase, topic, { producerName, initialSequenceId: 0 });
    for (const body of ['b', 'c', 'd']) expect((await second.send(body)).result).toBe('ok');
    await second.close();

    await consumer.waitFor(4, 30_000);
    const received = (await consumer.settle(1500)).map((m) => m.payload.toString());
    await consumer.close();
    expect(received).toEqual(['a', 'b', 'c', 'd']);
  });

  it('carries a QoS 1 message through Mosquitto', async () => {
    const url = requireEnv('SKYHAUL_MQTT_URL');
    const topic = `skyhaul/test/${randomUUID()}`;
    const subscriber = connect(url, { clientId: `sub-${randomUUID()}`, clean: true });
    const publisher = connect(url, { clientId: `pub-${randomUUID()}`, clean: true });
    try {
      await new Promise<void>((resolve, reject) => {
        subscriber.once('connect', () => subscriber.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
        subscriber.once('error', reject);
      });
      const received = new Promise<{ payload: string; qos: number }>((resolve) =>
        subscriber.once('message', (_t, payload, packet) => resolve({ payload: payload.toString(), qos: packet.qos })),
      );
      await publisher.publishAsync(topic, '0R0,Dm=042D,Sm=3.1M', { qos: 1 });
      const message = await received;
      expect(message).toEqual({ payload: '0R0,Dm=042D,Sm=3.1M', qos: 1 });
    } finally {
      await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
    }
  });

  it('creates a socat serial pair that carries bytes both ways', async () => {
    const pair = await createSerialPair();
    const device = await open(pair.devicePath, 'r+');
    const instrument = await open(pair.instrumentPath, 'r+');
    try {
      const readExactly = async (handle: typeof device, length: number): Promise<Buffer> => {
        const out = Buffer.alloc(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await handle.read(out, got, length - got, null);
          got += bytesRead;
        }
        return out;
      };
      const toDevice = Buffer.from('$GPZDA,201530.00,04,07,2002,00,00*60\r\n');
      await instrument.write(toDevice);
      expect((await readExactly(device, toDevice.length)).equals(toDevice)).toBe(true);

      const toInstrument = Buffer.from([0x0a, 0x4c, 0x4f, 0x4f, 0x50, 0x20, 0x31, 0x0a, 0x00, 0xff]);
      await device.write(toInstrument);
      expect((await readExactly(instrument, toInstrument.length)).equals(toInstrument)).toBe(true);
    } finally {
      await device.close();
      await instrument.close();
      await pair.close();
    }
  });

  it('keeps packaging/dev-compose.yml in step with the native stack', () => {
    const compose = parse(readFileSync(`${repoRoot}/packaging/dev-compose.yml`, 'utf8'), { merge: true }) as {
      services: Record<string, { image: string; ports?: string[]; command?: unknown; environment?: Record<string, string> }>;
    };
    const services = compose.services;
    const brokerPom = readFileSync(`${repoRoot}/packaging/dev-stack/broker/pom.xml`, 'utf8');
    const pulsarVersion = /<pulsar\.version>([^<]+)</.exec(brokerPom)?.[1];
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['pulsar-edge', 'pulsar-central', 'kafka', 'versitygw', 'mosquitto', 'pulsar-setup']));
    for (const [cluster, ports] of Object.entries(PULSAR_CLUSTERS)) {
      const service = services[`pulsar-${cluster}`]!;
      expect(service.image).toBe(`apachepulsar/pulsar:${pulsarVersion}`);
      expect(service.ports).toEqual(expect.arrayContaining([`127.0.0.1:${ports.brokerPort}:6650`, `127.0.0.1:${ports.webPort}:8080`]));
      expect(service.environment?.PULSAR_PREFIX_clusterName).toBe(cluster);
      expect(service.environment?.PULSAR_PREFIX_brokerDeduplicationEnabled).toBe('true');
      expect(service.environment?.PULSAR_PREFIX_webSocketServiceEnabled).toBe('true');
    }
    expect(services.mosquitto!.ports).toContain('127.0.0.1:11883:1883');
    // Kafka: the version the native stack's jars come from, the same port, KRaft, no topic by accident.
    const kafkaVersion = /<kafka\.version>([^<]+)</.exec(readFileSync(`${repoRoot}/packaging/dev-stack/kafka/pom.xml`, 'utf8'))?.[1];
    const native = readFileSync(`${repoRoot}/packaging/dev-stack/kafka/server.properties.template`, 'utf8');
    expect(services.kafka!.image).toBe(`apache/kafka:${kafkaVersion}`);
    expect(services.kafka!.ports).toContain(`127.0.0.1:${KAFKA_PORTS.broker}:${KAFKA_PORTS.broker}`);
    expect(services.kafka!.environment?.KAFKA_PROCESS_ROLES).toBe(/^process\.roles=(.+)$/m.exec(native)?.[1]);
    // The object store: the version the native stack builds, the same port and credentials.
    expect(services.versitygw!.image).toBe(`versity/versitygw:${VERSITYGW_VERSION}`);
    expect(services.versitygw!.ports).toContain(`127.0.0.1:${S3.port}:${S3.port}`);
    expect(services.versitygw!.environment).toMatchObject({ ROOT_ACCESS_KEY: S3.accessKey, ROOT_SECRET_KEY: S3.secretKey });
    expect(services.kafka!.environment?.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe(/^auto\.create\.topics\.enable=(.+)$/m.exec(native)?.[1]);
    expect(JSON.stringify(services['pulsar-setup']!.command)).toContain('skyhaul/telemetry');
  });
});
