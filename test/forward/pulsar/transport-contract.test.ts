/**
 * The contract every Pulsar transport keeps, run against each transport available on this
 * host (the native one only where the pulsar-client addon loads), with a real broker behind
 * the link simulator.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SkyhaulError } from '../../../src/common/errors.ts';
import { availableTransports, createTransport } from '../../../src/forward/pulsar/index.ts';
import type { OutgoingMessage, PulsarTransport, TransportKind } from '../../../src/forward/pulsar/transport.ts';
import { deadLinkTiming } from '../../../src/forward/pulsar/transport.ts';
import { LinkSimulator } from '../../support/link-sim.ts';
import { WsConsumer } from '../../support/pulsar.ts';
import { makeTestCertificates } from '../../support/tls.ts';
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

    it('loses nothing when the broker unloads the topic: the producer carries on, or fails and a new one of the same name delivers the rest once', async () => {
      webLink.restore();
      binaryLink.restore();
      const topic = uniqueTopic(`contract-unload-${kind}`);
      const producerName = `p-${randomUUID()}`;
      const first = await transport().createProducer({ topic, producerName, initialSequenceId: -1 });
      const closed = new Promise<SkyhaulError | null>((resolve) => first.onClose(resolve));
      for (let i = 0; i < 10; i++) await first.send(message(i));
      const unload = await fetch(`${requireEnv('SKYHAUL_PULSAR_EDGE_HTTP')}/admin/v2/${topic.replace('://', '/')}/unload`, { method: 'PUT' });
      expect(unload.status).toBeLessThan(300);
      let acked = 9;
      for (let i = 10; i < 20; i++) {
        const sent = await first.send(message(i)).then(
          () => true,
          () => false,
        );
        if (!sent) break;
        acked = i;
      }
      if (acked < 19) {
        // The binary protocol hears the unload (CLOSE_PRODUCER); the WebSocket proxy reconnects by itself.
        const error = await closed;
        expect(error).toBeInstanceOf(SkyhaulError);
        const second = await transport().createProducer({ topic, producerName, initialSequenceId: acked });
        for (let i = acked + 1; i < 20; i++) await second.send(message(i));
        await second.close();
      } else await first.close();
      // Read afterwards, from the earliest message: a consumer attached during the unload would
      // see the broker redeliver what it had not acknowledged yet.
      const consumer = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_EDGE_WS'), topic, 'c');
      await consumer.waitFor(20, 30_000);
      const received = (await consumer.settle(1000)).map((m) => m.payload.toString());
      await consumer.close();
      expect(received).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      if (kind === 'binary') expect(acked, 'the binary producer fails on CLOSE_PRODUCER').toBeLessThan(19);
    });

    it("refuses a message over the broker's size limit as too large, without sending it", async () => {
      if (kind !== 'binary') return; // websocket: the proxy closes with 1009 (test/forward/oversize.test.ts); native: the client's own check
      const topic = uniqueTopic(`contract-oversize-${kind}`);
      const producer = await transport().createProducer({ topic, producerName: `p-${randomUUID()}`, initialSequenceId: -1 });
      await producer.send(message(0));
      // The edge broker's maxMessageSize is Pulsar's default, 5 MiB, announced in CONNECTED.
      const failure = await producer.send(message(1, 'x'.repeat(5 * 1024 * 1024 + 1))).then(
        () => null,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(SkyhaulError);
      expect((failure as SkyhaulError).code).toBe('SKY_ERR_RECORD_TOO_LARGE');
      expect((failure as SkyhaulError).message).toMatch(/over the broker's 5242880-byte maxMessageSize/);
    });

    it('speaks TLS, verifying the broker against forward.tls.caFile; refuses a broker it cannot verify', async () => {
      if (kind === 'native') return; // the addon's own TLS; not loadable here
      const dir = mkdtempSync(join(tmpdir(), 'skyhaul-transport-tls-'));
      const certificates = makeTestCertificates(dir);
      // A TLS terminator in front of the broker's port, as a site's broker with TLS on would be.
      const upstream = hostPort(kind === 'websocket' ? requireEnv('SKYHAUL_PULSAR_EDGE_HTTP') : requireEnv('SKYHAUL_PULSAR_EDGE_URL').replace('pulsar://', 'http://'));
      const terminator = tls.createServer({ cert: readFileSync(certificates.certFile), key: readFileSync(certificates.keyFile) }, (client) => {
        const broker = net.connect(upstream);
        client.pipe(broker).pipe(client);
        client.on('error', () => broker.destroy());
        broker.on('error', () => client.destroy());
      });
      await new Promise<void>((resolve) => terminator.listen(0, '127.0.0.1', resolve));
      const port = (terminator.address() as net.AddressInfo).port;
      const secure = (caFile: string): PulsarTransport => {
        const t = createTransport(kind, {
          webServiceUrl: kind === 'websocket' ? `https://127.0.0.1:${port}` : `http://127.0.0.1:${webLink.port}`,
          serviceUrl: `pulsar+ssl://127.0.0.1:${port}`,
          tls: { caFile },
          deadLinkTimeoutMs: DEAD_LINK_MS,
          sendTimeoutMs: 30_000,
        });
        transports.push(t);
        return t;
      };
      try {
        const topic = uniqueTopic(`contract-tls-${kind}`);
        const producer = await secure(certificates.caFile).createProducer({ topic, producerName: `p-${randomUUID()}`, initialSequenceId: -1 });
        for (let i = 0; i < 5; i++) await producer.send(message(i));
        await producer.close();
        const consumer = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_EDGE_WS'), topic, 'c');
        const received = (await consumer.waitFor(5, 30_000)).map((m) => m.payload.toString());
        await consumer.close();
        expect(received).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
        const refused = await secure(certificates.otherCaFile)
          .createProducer({ topic, producerName: `p-${randomUUID()}`, initialSequenceId: -1 })
          .then(
            () => null,
            (error: unknown) => error,
          );
        expect(refused).toBeInstanceOf(SkyhaulError);
        expect((refused as Error).message).toMatch(/certificate/i);
      } finally {
        await new Promise((resolve) => terminator.close(resolve));
        rmSync(dir, { recursive: true, force: true });
      }
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
      expect(error?.code).toBe(kind === 'native' ? 'SKY_ERR_TRANSPORT' : 'SKY_ERR_LINK_DEAD');
      expect(detectedMs).toBeLessThanOrEqual(DEAD_LINK_MS);
      expect(await pending).toBeInstanceOf(SkyhaulError);
      // A producer opened into the black hole fails within the bound too (the connection is
      // accepted, nothing comes back).
      const opening = Date.now();
      const refused = await transport()
        .createProducer({ topic, producerName: `p-${randomUUID()}`, initialSequenceId: -1 })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(refused).toBeInstanceOf(SkyhaulError);
      expect(Date.now() - opening).toBeLessThanOrEqual(DEAD_LINK_MS + 1000);
      if (kind !== 'native') expect((refused as SkyhaulError).code).toBe('SKY_ERR_LINK_DEAD');
      webLink.restore();
      binaryLink.restore();
    });
  });
}

describe('transport selection', () => {
  it('lists websocket and binary always, refuses native with a clear error when the addon is missing, and auto takes binary with a serviceUrl', () => {
    expect(availableTransports()).toContain('websocket');
    expect(availableTransports()).toContain('binary');
    expect(createTransport('auto', { webServiceUrl: 'http://127.0.0.1:1', deadLinkTimeoutMs: 1000, sendTimeoutMs: 1000 }).kind).toBe('websocket');
    expect(() => createTransport('binary', { webServiceUrl: 'http://127.0.0.1:1', deadLinkTimeoutMs: 1000, sendTimeoutMs: 1000 })).toThrow(/transport 'binary' needs forward.serviceUrl/);
    expect(() => createTransport('binary', { webServiceUrl: 'http://127.0.0.1:1', serviceUrl: 'http://127.0.0.1:6650', deadLinkTimeoutMs: 1000, sendTimeoutMs: 1000 })).toThrow(
      /forward.serviceUrl must be pulsar:\/\/host:port or pulsar\+ssl:\/\/host:port, got 'http:\/\/127.0.0.1:6650'/,
    );
    if (!availableTransports().includes('native')) {
      expect(() => createTransport('native', { webServiceUrl: 'http://127.0.0.1:1', serviceUrl: 'pulsar://127.0.0.1:1', deadLinkTimeoutMs: 1000, sendTimeoutMs: 1000 })).toThrow(
        /pulsar-client addon/,
      );
      expect(createTransport('auto', { webServiceUrl: 'http://127.0.0.1:1', serviceUrl: 'pulsar://127.0.0.1:1', deadLinkTimeoutMs: 1000, sendTimeoutMs: 1000 }).kind).toBe('binary');
    }
  });
});
