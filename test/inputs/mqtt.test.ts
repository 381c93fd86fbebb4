/**
 * MQTT through the real Mosquitto into the real daemon: PUBACK only after commit, so a kill -9
 * between receipt and commit loses nothing — the broker redelivers to the persistent session.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { matchTopic } from '../../src/inputs/mqtt/input.ts';
import { startDaemon } from '../support/daemon.ts';
import { WsConsumer } from '../support/pulsar.ts';
import { requireEnv } from '../support/stack-env.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('MQTT topic mapping', () => {
  it('matches + and # and captures what they matched', () => {
    expect(matchTopic('site/+/wxt', 'site/mast1/wxt')).toEqual(['mast1']);
    expect(matchTopic('site/+/wxt', 'site/mast1/other')).toBeNull();
    expect(matchTopic('dome/#', 'dome/shutter/east')).toEqual(['shutter/east']);
    expect(matchTopic('a/b', 'a/b/c')).toBeNull();
  });
});

describe('MQTT input', () => {
  it('a kill -9 between receipt and commit: the broker redelivers and nothing is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-mqtt-'));
    dirs.push(dir);
    const site = `mqtt-${randomUUID().slice(0, 8)}`;
    const topicBase = `skyhaul-test/${site}`;
    const consumer = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_EDGE_WS'), `persistent://${requireEnv('SKYHAUL_PULSAR_NAMESPACE')}/${site}`, 'dc');
    const daemon = await startDaemon({
      dir,
      config: {
        site: { id: site },
        // Commits wait up to 1 s, so the kill lands between receipt and commit.
        buffer: { groupCommit: { maxRecords: 100000, maxDelayMs: 1000 } },
        forward: { url: requireEnv('SKYHAUL_PULSAR_EDGE_HTTP') },
        inputs: [
          {
            type: 'mqtt',
            name: 'site-broker',
            url: requireEnv('SKYHAUL_MQTT_URL'),
            clientId: `skyhaul-${site}`,
            subscriptions: [{ topic: `${topicBase}/+/wxt`, instrument: 'weather/{1}', adapter: 'vaisala-wxt' }],
          },
        ],
      },
    });
    const inputState = async (): Promise<{ state: string; received: number; committed: number }> =>
      (await daemon.status()).inputs.find((i) => i.name === 'site-broker')!;
    const deadline = Date.now() + 10_000;
    while ((await inputState()).state !== 'running' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 500)); // subscription in place

    const publisher = await connectAsync(requireEnv('SKYHAUL_MQTT_URL'), { clientId: `pub-${site}` });
    const count = 60;
    for (let i = 0; i < count; i++) {
      await publisher.publishAsync(`${topicBase}/mast1/wxt`, `0R2,Ta=${(i / 10).toFixed(1)}C,Ua=40.0P,Pa=744.1H`, { qos: 1 });
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const beforeKill = await inputState();
    await daemon.kill('SIGKILL');
    console.log(`before kill -9: received ${beforeKill.received}, committed ${beforeKill.committed} of ${count}`);
    expect(beforeKill.received).toBeGreaterThan(0);
    expect(beforeKill.committed).toBeLessThan(count);

    await daemon.restart();
    await daemon.waitReady();
    const want = new Set(Array.from({ length: count }, (_, i) => Number((i / 10).toFixed(1))));
    const got = new Map<number, number>();
    const until = Date.now() + 30_000;
    while (got.size < want.size && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      got.clear();
      for (const message of consumer.messages) {
        const ta = (JSON.parse(message.payload.toString()) as { fields: { air_temperature?: number; Ta?: number } }).fields;
        const value = Object.entries(ta).find(([k]) => /temp|^Ta$/i.test(k))?.[1] as number | undefined;
        if (value !== undefined) got.set(value, (got.get(value) ?? 0) + 1);
      }
    }
    await publisher.endAsync();
    await daemon.kill('SIGTERM');
    await consumer.close();
    const missing = [...want].filter((v) => !got.has(v));
    const duplicated = [...got.values()].filter((n) => n > 1).length;
    console.log(`after restart: ${got.size} of ${count} readings delivered, ${duplicated} delivered twice (MQTT QoS 1 is at-least-once)`);
    expect(missing).toEqual([]);
  }, 90_000);
});
