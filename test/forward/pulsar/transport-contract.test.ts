/**
 * The contract every Pulsar transport keeps, run against each transport available on this
 * host (the native one only where the pulsar-client addon loads), with a real broker behind
 * the link simulator.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SkyhaulError } from '../../../src/common/errors.ts';
import { availableTransports, createTransport } from '../../../src/forward/pulsar/index.ts';
import type { OutgoingMessage, PulsarTransport, TransportKind } from '../../../src/forward/pulsar/transport.ts';
import { deadLinkTiming } from '../../../src/forward/pulsar/websocket.ts';
import { LinkSimulator } from '../../support/link-sim.ts';
import { WsConsumer } from '../../support/pulsar.ts';
import { requireEnv, uniqueTopic } from '../../support/stack-env.ts';

const DEAD_LINK_MS = 4000;

function message(sequenceId: number, body = `m${sequenceId}`): OutgoingMessage {
  return { sequenceId, key: 'test/stream', payload: Buffer.from(body), properties: { sequence: String(sequenceId) }, eventTime: Date.now() };
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

for (const kind of availableTransports()) {
  describe(`transport contract: ${kind}`, () => {
    let webLink: LinkSimulator;
    let binaryLink: LinkSimulator;
    const transports: PulsarTransport[] = [];

    beforeAll(async () => {
      webLink = new LinkSimulator({ target: hostPort(requireEnv('SKYHAUL_PULSAR_EDGE_HTTP')) });
      binaryLink = new LinkSimulator({ target: hostPort(requireEnv('SKYHAUL_PULSAR_EDGE_URL').replace('pulsar://', 'http://')) });
      await webLink.start();
      await binaryLink.start();
    });
    afterAll(async () => {
      await Promise.all(transports.map((t) => t.close()));
      await webLink.stop();
      await binaryLink.stop();
    });

    function transport(kindToUse: TransportKind = kind): PulsarTransport {
      const t = createTransport(kindToUse, {
        webServiceUrl: `http://127.0.0.1:${webLink.port}`,
        serviceUrl: `pulsar://127.0.0.1:${binaryLink.port}`,
        deadLinkTimeoutMs: DEAD_LINK_MS,
        sendTimeoutMs: 30_000,
      });
      transports.push(t);
      return t;
    }

    it('delivers messages in order with key and properties, acknowledging each', async () => {
      webLink.restore();
      const topic = uniqueTopic(`contract-order-${kind}`);
      const consumer = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_EDGE_WS'), topic, 'c');
      const producer = await transport().createProducer({ topic, producerName: `p-${randomUUID()}`, initialSequenceId: -1 });
      await Promise.all(Array.from({ length: 200 }, (_, i) => producer.send(message(i))));
      await producer.close();
      const received = await consumer.waitFor(200, 30_000);
      await consumer.close();
      expect(received.map((m) => m.payload.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
      expect(received[5]!.key).toBe('test/stream');
      expect(received[5]!.properties.sequence).toBe('5');
    });

    it('re-sent sequences after a reconnect are dropped by the broker (exactly once)', async () => {
      webLink.restore();
      const topic = uniqueTopic(`contract-dedup-${kind}`);
      const consumer = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_EDGE_WS'), topic, 'c');
      const producerName = `p-${randomUUID()}`;
      const first = await transport().createProducer({ topic, producerName, initialSequenceId: -1 });
      for (let i = 0; i < 10; i++) await first.send(message(i));
      await first.close();
      // As after a crash that recorded only 0..3 as acknowledged: 4..9 go out again, then 10..14.
      const second = await transport().createProducer({ topic, producerName, initialSequenceId: 3 });
      for (let i = 4; i < 15; i++) await second.send(message(i));
      await second.close();
      await consumer.waitFor(15, 30_000);
      const received = (await consumer.settle(1000)).map((m) => m.payload.toString());
      await consumer.close();
      expect(received).toEqual(Array.from({ length: 15 }, (_, i) => `m${i}`));
    });

    it('fails pending and later sends when the link is cut', async () => {
      webLink.restore();
      binaryLink.restore();
      const topic = uniqueTopic(`contract-cut-${kind}`);
      const producer = await transport().createProducer({ topic, producerName: `p-${randomUUID()}`, initialSequenceId: -1 });
      await producer.send(message(0));
      const closed = new Promise<SkyhaulError | null>((resolve) => producer.onClose(resolve));
      webLink.cut();
      binaryLink.cut();
      const t0 = Date.now();
      const failure = await producer.send(message(1)).then(
        () => null,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(SkyhaulError);
      expect(Date.now() - t0).toBeLessThan(DEAD_LINK_MS + 2000);
      expect(await closed).toBeInstanceOf(SkyhaulError);
      await expect(transport().createProducer({ topic, producerName: `p-${randomUUID()}`, initialSequenceId: -1 })).rejects.toBeInstanceOf(
        SkyhaulError,
      );
      webLink.restore();
      binaryLink.restore();
    });

    it('detects a black-holed link within the dead-link bound', async () => {
      webLink.restore();
      binaryLink.restore();
      const topic = uniqueTopic(`contract-blackhole-${kind}`);
      const producer = await transport().createProducer({ topic, producerName: `p-${randomUUID()}`, initialSequenceId: -1 });
      await producer.send(message(0));
      const closed = new Promise<{ error: SkyhaulError | null; at: number }>((resolve) => producer.onClose((error) => resolve({ error, at: Date.now() })));
      const start = Date.now();
      webLink.blackhole();
      binaryLink.blackhole();
      const pending = producer.send(message(1)).catch((error: unknown) => error);
      const { error, at } = await closed;
      const detectedMs = at - start;
      console.log(`[${kind}] black hole detected after ${detectedMs} ms (bound ${DEAD_LINK_MS} ms, ping ${deadLinkTiming(DEAD_LINK_MS).pingIntervalMs} ms)`);
      expect(error?.code).toBe(kind === 'websocket' ? 'SKY_ERR_LINK_DEAD' : 'SKY_ERR_TRANSPORT');
      expect(detectedMs).toBeLessThanOrEqual(DEAD_LINK_MS);
      expect(await pending).toBeInstanceOf(SkyhaulError);
      webLink.restore();
      binaryLink.restore();
    });
  });
}

describe('transport selection', () => {
  it('lists websocket always, and refuses native with a clear error when the addon is missing', () => {
    expect(availableTransports()).toContain('websocket');
    if (!availableTransports().includes('native')) {
      expect(() => createTransport('native', { webServiceUrl: 'http://127.0.0.1:1', serviceUrl: 'pulsar://127.0.0.1:1', deadLinkTimeoutMs: 1000, sendTimeoutMs: 1000 })).toThrow(
        /pulsar-client addon/,
      );
      expect(createTransport('auto', { webServiceUrl: 'http://127.0.0.1:1', serviceUrl: 'pulsar://127.0.0.1:1', deadLinkTimeoutMs: 1000, sendTimeoutMs: 1000 }).kind).toBe('websocket');
    }
  });
});
