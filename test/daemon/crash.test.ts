/**
 * kill -9 of the real daemon at random moments, during ingest and forwarding: every record that
 * was acknowledged to its source (an HTTP 200 after commit) reaches the central consumer exactly
 * once, in order per stream.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonHandle } from '../support/daemon.ts';
import { checkDelivery } from '../support/delivery.ts';
import { WsConsumer } from '../support/pulsar.ts';
import { requireEnv } from '../support/stack-env.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Pushes batches until stopped; records which sequences the daemon acknowledged. */
function startPusher(daemon: DaemonHandle, streams: string[], acked: Map<string, number[]>): { stop: () => Promise<void>; pushed: () => number } {
  let running = true;
  let pushed = 0;
  const loop = async (): Promise<void> => {
    let n = 0;
    while (running) {
      const stream = streams[n++ % streams.length]!;
      const records = Array.from({ length: 20 }, () => ({ stream, payload: `r-${randomUUID()}` }));
      try {
        const result = await daemon.push(records);
        pushed += records.length;
        if (result.status === 200) {
          const list = acked.get(stream) ?? [];
          for (const c of result.committed) if ('sequence' in c) list.push(c.sequence);
          acked.set(stream, list);
        }
      } catch {
        // The daemon is being killed: this batch is unacknowledged (it may or may not arrive).
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  const done = Promise.all([loop(), loop()]);
  return {
    pushed: () => pushed,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

describe('daemon crash safety', () => {
  it('survives 12 kill -9 during ingest and forwarding: acknowledged records delivered exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-crash-'));
    dirs.push(dir);
    const site = `crash-${randomUUID().slice(0, 8)}`;
    const topic = `persistent://${requireEnv('SKYHAUL_PULSAR_NAMESPACE')}/${site}`;
    const consumer = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_CENTRAL_WS'), topic, 'datacentre');
    const daemon = await startDaemon({
      dir,
      config: {
        site: { id: site },
        forward: { url: requireEnv('SKYHAUL_PULSAR_EDGE_HTTP'), deadLinkTimeout: '5s', backoff: { initial: '100ms', max: '1s' } },
        inputs: [{ type: 'http', name: 'push' }],
      },
    });
    const streams = ['weather/wxt536', 'gps/time', 'alarms/site'];
    const acked = new Map<string, number[]>();
    const pusher = startPusher(daemon, streams, acked);
    const kills = 12;
    const producerIds = new Set<string>();
    for (let i = 0; i < kills; i++) {
      await new Promise((resolve) => setTimeout(resolve, 400 + Math.random() * 1600));
      producerIds.add((await daemon.status()).producerId);
      await daemon.restart(); // SIGKILL, then a fresh process on the same buffer
      await daemon.waitReady();
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await pusher.stop();

    const total = [...acked.values()].reduce((sum, list) => sum + list.length, 0);
    expect(total).toBeGreaterThan(500);
    // The daemon drains its backlog; the consumer then sees every acknowledged record once.
    const deadline = Date.now() + 120_000;
    while ((await daemon.status()).backlog.records > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    await consumer.settle(3000);
    const report = checkDelivery(consumer.messages, acked);
    console.log(`crash test: ${kills} kills, ${total} acknowledged, ${pusher.pushed()} pushed, report ${JSON.stringify(report)}`);
    await daemon.kill('SIGTERM');
    await consumer.close();
    expect(producerIds.size).toBe(1);
    expect(report.duplicates).toBe(0);
    expect(report.outOfOrder).toBe(0);
    expect(report.missing).toBe(0);
  }, 300_000);
});
