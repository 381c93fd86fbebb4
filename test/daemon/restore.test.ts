/**
 * Invariant sequence-never-reused, end to end through the real edge Pulsar (broker
 * de-duplication on): a buffer file restored from a backup after its records were forwarded.
 * Before the fix the new records got sequences the broker had already seen from this producer,
 * and it silently dropped them as duplicates while acknowledging them.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonHandle } from '../support/daemon.ts';
import { WsConsumer } from '../support/pulsar.ts';
import { requireEnv } from '../support/stack-env.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function drained(daemon: DaemonHandle, stream: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = (await daemon.status()).backlog.streams.find((b) => b.stream === stream);
    if (s !== undefined && s.records === 0) return;
    if (Date.now() > deadline) throw new Error(`${stream} did not drain: ${JSON.stringify(s)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('a buffer restored from a backup', () => {
  it('after its records were forwarded: every new record still arrives (a new producer identity), none is lost to de-duplication', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-restore-'));
    dirs.push(dir);
    const site = `restore-${randomUUID().slice(0, 8)}`;
    const topic = `persistent://${requireEnv('SKYHAUL_PULSAR_NAMESPACE')}/${site}`;
    const consumer = await WsConsumer.open(requireEnv('SKYHAUL_PULSAR_EDGE_WS'), topic, 'dc');
    const config = { site: { id: site }, forward: { url: requireEnv('SKYHAUL_PULSAR_EDGE_HTTP'), target: 'central' }, inputs: [{ type: 'http', name: 'push' }] };
    const stream = 'dome/shutter';
    const push = async (daemon: DaemonHandle, from: number): Promise<void> => {
      const result = await daemon.push([0, 1, 2, 3, 4].map((i) => ({ stream, payload: `reading-${from + i}` })));
      expect(result.status).toBe(200);
      await drained(daemon, stream);
    };
    const data = join(dir, 'data');
    const backup = join(dir, 'backup');

    let daemon = await startDaemon({ dir, config });
    await push(daemon, 1); // 1..5 forwarded
    expect(await daemon.kill('SIGTERM')).toBe(0);
    mkdirSync(backup);
    for (const f of readdirSync(data)) if (f.startsWith('buffer.sqlite') && !f.endsWith('.sequences')) copyFileSync(join(data, f), join(backup, f));

    daemon = await startDaemon({ dir, config });
    await push(daemon, 6); // 6..10 forwarded, sequences 6..10
    const before = (await daemon.status()).producerId;
    expect(await daemon.kill('SIGTERM')).toBe(0);

    // The operator restores last night's backup of the buffer file.
    for (const f of readdirSync(data)) if (f.startsWith('buffer.sqlite') && !f.endsWith('.sequences')) rmSync(join(data, f));
    for (const f of readdirSync(backup)) copyFileSync(join(backup, f), join(data, f));
    expect(existsSync(join(data, 'buffer.sqlite.sequences'))).toBe(true);

    daemon = await startDaemon({ dir, config });
    try {
      const status = await daemon.status();
      expect(status.producerId).not.toBe(before);
      expect(status.alarms.find((a) => a.code === 'buffer_identity_renewed')?.severity).toBe('warning');
      await push(daemon, 11); // sequences 6..10 again, under the new identity
      const ours = (): string[] => consumer.messages.filter((m) => m.properties.stream === stream).map((m) => m.payload.toString());
      const deadline = Date.now() + 30_000;
      while (ours().length < 15 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      await consumer.settle(1000);
      const payloads = ours();
      expect(payloads.sort()).toEqual(Array.from({ length: 15 }, (_, i) => `reading-${i + 1}`).sort());
    } finally {
      await daemon.kill('SIGTERM');
      await consumer.close();
    }
  }, 120_000);
});
