/**
 * An in-process forwarder rig for integration tests: a real buffer, the WebSocket transport
 * through a link simulator to the edge Pulsar, and a consumer on central (via geo-replication)
 * or on the edge itself.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { RecordBuffer, type PriorityClass } from '../../src/buffer/index.ts';
import { TokenBucket } from '../../src/forward/bandwidth.ts';
import { Forwarder, type LinkState } from '../../src/forward/forwarder.ts';
import { PulsarAdmin } from '../../src/forward/pulsar/admin.ts';
import { WebSocketTransport } from '../../src/forward/pulsar/websocket.ts';
import { checkDelivery } from './delivery.ts';
import { LinkSimulator } from './link-sim.ts';
import { WsConsumer } from './pulsar.ts';
import { requireEnv } from './stack-env.ts';

export interface Rig {
  buffer: RecordBuffer;
  forwarder: Forwarder;
  link: LinkSimulator;
  consumer: WsConsumer;
  topic: string;
  linkStates: Array<LinkState & { at: number }>;
  bucket: TokenBucket;
  dir: string;
  /** stream -> sequences acknowledged to the (simulated) source */
  acked: Map<string, number[]>;
  ingest(stream: string, count: number, payloadBytes?: number): Promise<void>;
  waitDelivered(total: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  await Promise.all(rigs.splice(0).map((rig) => rig.close()));
});

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

export async function rig(options: { deadLinkTimeoutMs?: number; consumeFrom?: 'central' | 'edge'; priorities?: Record<string, PriorityClass>; bytesPerSecond?: number | null; maxMessagesPerStream?: number; bufferFile?: string } = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'skyhaul-fwd-'));
  // An existing buffer file (a fixture written by an older version) to start from.
  if (options.bufferFile !== undefined) copyFileSync(options.bufferFile, join(dir, 'buffer.sqlite'));
  const site = `t-${randomUUID().slice(0, 8)}`;
  const topic = `persistent://${requireEnv('SKYHAUL_PULSAR_NAMESPACE')}/${site}`;
  const consumeWs = options.consumeFrom === 'edge' ? requireEnv('SKYHAUL_PULSAR_EDGE_WS') : requireEnv('SKYHAUL_PULSAR_CENTRAL_WS');
  const consumer = await WsConsumer.open(consumeWs, topic, 'datacentre');
  const link = new LinkSimulator({ target: hostPort(requireEnv('SKYHAUL_PULSAR_EDGE_HTTP')) });
  await link.start();
  const buffer = new RecordBuffer({
    path: join(dir, 'buffer.sqlite'),
    siteId: site,
    synchronous: 'NORMAL',
    streamConfig: (stream) => ({ priority: options.priorities?.[stream] ?? 'telemetry', ttlMs: null }),
  });
  buffer.open();
  const deadLinkTimeoutMs = options.deadLinkTimeoutMs ?? 15_000;
  const transportOptions = { webServiceUrl: `http://127.0.0.1:${link.port}`, deadLinkTimeoutMs, sendTimeoutMs: 30_000 };
  const bucket = new TokenBucket(options.bytesPerSecond ?? null);
  const admin = new PulsarAdmin(transportOptions);
  const forwarder = new Forwarder({
    source: buffer,
    transport: new WebSocketTransport(transportOptions),
    topicFor: () => topic,
    bandwidth: bucket,
    backoff: { initialMs: 200, maxMs: 2000 },
    window: { maxMessages: 2000, maxMessagesPerStream: options.maxMessagesPerStream ?? 500 },
    probe: () => admin.ready(),
    probeIntervalMs: 1000,
  });
  const linkStates: Rig['linkStates'] = [];
  forwarder.on('link', (state: LinkState) => linkStates.push({ ...state, at: Date.now() }));
  forwarder.start();
  const acked = new Map<string, number[]>();
  const r: Rig = {
    buffer,
    forwarder,
    link,
    consumer,
    topic,
    linkStates,
    bucket,
    dir,
    acked,
    async ingest(stream, count, payloadBytes = 200) {
      const results = await Promise.all(
        Array.from({ length: count }, () => buffer.append({ stream, payload: Buffer.alloc(payloadBytes, 0x61), contentType: 'text/plain' })),
      );
      const list = acked.get(stream) ?? [];
      for (const committed of results) list.push(committed.sequence);
      acked.set(stream, list);
    },
    async waitDelivered(total, timeoutMs) {
      await consumer.waitFor(total, timeoutMs);
    },
    async close() {
      await forwarder.stop();
      await buffer.close();
      await consumer.close();
      await link.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  rigs.push(r);
  return r;
}

/** Appends `perTick` records to each stream every `everyMs` for `durationMs`. */
export async function ingestFor(r: Rig, streams: string[], durationMs: number, perTick = 5, everyMs = 50): Promise<number> {
  const end = Date.now() + durationMs;
  let total = 0;
  while (Date.now() < end) {
    await Promise.all(streams.map((s) => r.ingest(s, perTick)));
    total += perTick * streams.length;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return total;
}

export function totalAcked(r: Rig): number {
  return [...r.acked.values()].reduce((sum, list) => sum + list.length, 0);
}

export async function expectExactlyOnce(r: Rig, timeoutMs = 120_000): Promise<void> {
  const total = totalAcked(r);
  await r.waitDelivered(total, timeoutMs);
  await r.consumer.settle(2000);
  const report = checkDelivery(r.consumer.messages, r.acked);
  expect(report, JSON.stringify(report)).toMatchObject({ duplicates: 0, outOfOrder: 0, missing: 0, unique: total });
  // And the buffer let go of everything once acknowledged.
  const deadline = Date.now() + 5000;
  while (r.buffer.stats().records > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(r.buffer.stats().records).toBe(0);
}

