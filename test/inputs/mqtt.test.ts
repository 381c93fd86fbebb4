/**
 * MQTT through the real Mosquitto into the real daemon: PUBACK only after commit, so a kill -9
 * between receipt and commit loses nothing — the broker redelivers to the persistent session.
 * And TLS with credentials against a Mosquitto listener of the test's own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { getAdapter } from '../../firmware-adapters/index.ts';
import { matchTopic, MqttInput } from '../../src/inputs/mqtt/input.ts';
import { freePort, startDaemon } from '../support/daemon.ts';
import { makeTestCertificates } from '../support/tls.ts';
import { WsConsumer } from '../support/pulsar.ts';
import { requireEnv } from '../support/stack-env.ts';
import { inputContext, recordsOf, until } from './helpers.ts';

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
        // The group commit commits as soon as it is idle, so a delay cannot hold records back:
        // the disk watchdog does (free space below minFree, so appends wait uncommitted and
        // nothing is acknowledged), and the kill lands between receipt and commit.
        buffer: { disk: { minFree: '1000TiB', resumeFree: '1000TiB', checkInterval: '1s' } },
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
      wait: false, // not ready while the buffer refuses intake
    });
    const inputState = async (): Promise<{ state: string; received: number; committed: number }> =>
      (await daemon.status()).inputs.find((i) => i.name === 'site-broker')!;
    const deadline = Date.now() + 10_000;
    // The HTTP API comes up a moment after spawn (not waited for: the daemon never gets ready here).
    const running = async (): Promise<boolean> => (await inputState().catch(() => null))?.state === 'running';
    while (!(await running()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
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

    // Restart with the disk watchdog's defaults: the broker redelivers what was never acknowledged.
    const written = parse(readFileSync(daemon.configFile, 'utf8')) as { buffer: Record<string, unknown> };
    delete written.buffer.disk;
    writeFileSync(daemon.configFile, stringify(written));
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

/**
 * A test-owned Mosquitto listener with TLS (a throwaway CA signs the server certificate for
 * 127.0.0.1) and a password file; no anonymous access.
 */
async function startSecureBroker(dir: string): Promise<{ url: string; caFile: string; otherCaFile: string; stop(): Promise<void> }> {
  const certificates = makeTestCertificates(dir);
  const sh = (cmd: string, args: string[]): void => {
    const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  sh('mosquitto_passwd', ['-c', '-b', join(dir, 'passwd'), 'site-engineer', 's3cret-passw0rd']);
  chmodSync(join(dir, 'passwd'), 0o600);
  const port = await freePort();
  writeFileSync(
    join(dir, 'mosquitto.conf'),
    [
      'user root',
      'persistence false',
      `listener ${port} 127.0.0.1`,
      `cafile ${certificates.caFile}`,
      `certfile ${certificates.certFile}`,
      `keyfile ${certificates.keyFile}`,
      'allow_anonymous false',
      `password_file ${join(dir, 'passwd')}`,
      '',
    ].join('\n'),
  );
  const broker: ChildProcess = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  broker.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => broker.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (broker.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto (TLS) did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url: `mqtts://127.0.0.1:${port}`,
    caFile: certificates.caFile,
    otherCaFile: certificates.otherCaFile,
    async stop() {
      broker.kill('SIGTERM');
      await exited;
    },
  };
}

describe('MQTT input over TLS with credentials', () => {
  it('verifies the broker against the configured CA, logs in, and commits; a wrong password or an unknown CA is refused with the reason in status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-mqtts-'));
    dirs.push(dir);
    const broker = await startSecureBroker(dir);
    const inputs: MqttInput[] = [];
    try {
      const { buffer, context } = inputContext();
      const make = (name: string, password: string, caFile: string): MqttInput => {
        const input = new MqttInput(
          {
            name,
            url: broker.url,
            clientId: `skyhaul-${name}-${randomUUID().slice(0, 6)}`,
            username: 'site-engineer',
            password,
            tls: { caFile },
            keepaliveSeconds: 30,
            reconnectMs: 500,
            subscriptions: [{ topic: 'site/+/wxt', instrument: 'weather/{1}', adapter: getAdapter('vaisala-wxt') }],
          },
          context,
        );
        inputs.push(input);
        return input;
      };
      const good = make('secure', 's3cret-passw0rd', broker.caFile);
      const wrongPassword = make('wrong-password', 'guess', broker.caFile);
      // A CA that did not sign the broker's certificate: the server cannot be verified.
      const unknownCa = make('unknown-ca', 's3cret-passw0rd', broker.otherCaFile);
      for (const input of inputs) await input.start();

      await until(() => good.status().state === 'running', 10_000, 'TLS login');
      await new Promise((resolve) => setTimeout(resolve, 500)); // SUBACK
      const publisher = await connectAsync(broker.url, { username: 'site-engineer', password: 's3cret-passw0rd', ca: readFileSync(broker.caFile), clientId: `pub-${randomUUID().slice(0, 6)}` });
      await publisher.publishAsync('site/mast1/wxt', '0R2,Ta=8.1C,Ua=40.2P,Pa=741.3H', { qos: 1 });
      await publisher.endAsync();
      await until(() => good.status().committed === 1, 10_000, 'the reading committed');
      expect(recordsOf(buffer, 'weather/mast1/ptu')[0]!.fields).toMatchObject({ air_temperature: 8.1 });

      await until(() => /not authori[sz]ed|bad user name or password/i.test(wrongPassword.status().lastError ?? ''), 10_000, 'the refused login');
      expect(wrongPassword.status().state).not.toBe('running');
      await until(() => /certificate/i.test(unknownCa.status().lastError ?? ''), 10_000, 'the unverified certificate');
      expect(unknownCa.status().state).not.toBe('running');
      console.log(`refused: wrong password -> "${wrongPassword.status().lastError}"; unknown CA -> "${unknownCa.status().lastError}"`);
      buffer.close();
    } finally {
      for (const input of inputs) await input.stop().catch(() => undefined);
      await broker.stop();
    }
  }, 60_000);
});
