/**
 * The central bundle (packaging/build.ts bundleCentral: what is installed as /usr/bin/skyhaul-central
 * and what skyhaul-central@.service runs) works as a lone file: copied into an empty directory
 * with no node_modules anywhere above it, each service module loads (the Kafka client's
 * WebAssembly included) and the service answers /healthz. No broker is needed: the service serves
 * HTTP before it reaches Kafka or RabbitMQ, which here point at closed ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCentral } from '../../packaging/build.ts';
import { freePort, killChild } from '../support/processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'skyhaul-central-bundle-'));
const binary = join(dir, 'skyhaul-central');
const children: ChildProcess[] = [];

beforeAll(async () => {
  await bundleCentral(binary);
}, 120_000);

afterAll(async () => {
  for (const child of children) await killChild(child);
  rmSync(dir, { recursive: true, force: true });
});

/** node_modules in `from` or any directory above it. */
function nodeModulesAbove(from: string): string | null {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return join(d, 'node_modules');
    if (dirname(d) === d) return null;
  }
}

describe('the central bundle, alone', () => {
  it('runs as a program with nothing beside it', () => {
    expect(nodeModulesAbove(dir)).toBeNull();
    const version = spawnSync(binary, ['version'], { encoding: 'utf8', cwd: dir });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/\d+\.\d+\.\d+/);
  });

  it.each(['governance', 'bridge'])('loads the %s service (the Kafka client and its WebAssembly) and answers /healthz', async (service) => {
    const port = await freePort();
    const closed = await freePort();
    const config = join(dir, `${service}.yaml`);
    const listen = service === 'governance' ? `governance: { listen: { bind: 127.0.0.1, port: ${port} }, amqp: { url: "amqp://guest@127.0.0.1:${closed}/" } }` : `bridge: { http: { bind: 127.0.0.1, port: ${port} } }`;
    writeFileSync(config, `kafka: { bootstrap: ["127.0.0.1:${closed}"], replicationFactor: 1, minInsyncReplicas: 1 }\npulsar: { webServiceUrl: "http://127.0.0.1:${closed}" }\n${listen}\n`);
    const child = spawn(process.execPath, [binary, service, '--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let exited: number | null | undefined;
    child.once('exit', (code) => (exited = code));
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (Date.now() < deadline && exited === undefined) {
      status = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status, `exit ${String(exited)}; output:\n${output.slice(-2000)}`).toBe(200);
    expect(output).not.toMatch(/ENOENT|Cannot find (module|package)/);
    await killChild(child);
  }, 60_000);
});
