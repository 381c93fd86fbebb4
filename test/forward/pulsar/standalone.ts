/**
 * A Pulsar standalone of a test's own, for settings the shared dev brokers must not be given
 * (a de-duplication window of one minute) or cannot change at run time
 * (`brokerDeduplicationProducerInactivityTimeoutMinutes` is not a dynamic setting on Pulsar
 * 4.0.7: `POST /admin/v2/brokers/configuration/{name}/{value}` answers HTTP 412 "Can't update
 * non-dynamic configuration").
 *
 * It runs from the same Maven class path as the dev stack (`<stackDir>/pulsar-broker.classpath`,
 * written by `stack:up`) and from Skyhaul's shipped site configuration
 * (`packaging/pulsar/standalone.conf`) with the test's overrides applied in place, so the file the
 * package ships is the file the test boots. Ports come from 61000-65535; everything lives in a temp
 * dir that `stop()` removes after killing the JVM's process group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, stackDir } from '../../../packaging/dev-stack/stack.ts';
import { freePort } from '../../support/daemon.ts';

export const SHIPPED_SITE_CONF = join(repoRoot, 'packaging', 'pulsar', 'standalone.conf');

/** `key=value` lines of a Pulsar/BookKeeper properties file (comments and blanks skipped), in order. */
export function parseConf(text: string): Array<{ key: string; value: string; line: number }> {
  const entries: Array<{ key: string; value: string; line: number }> = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) return;
    entries.push({ key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line: index + 1 });
  });
  return entries;
}

/**
 * Applies overrides to a properties file: an existing key's line is rewritten in place, a new key
 * is appended. Never duplicates a key: the bookie would read the first copy, the broker the last.
 */
export function renderConf(text: string, overrides: Record<string, string | number | boolean>): string {
  const left = new Map(Object.entries(overrides).map(([k, v]) => [k, String(v)]));
  const lines = text.split('\n').map((raw) => {
    const line = raw.trim();
    if (line.startsWith('#')) return raw;
    const eq = line.indexOf('=');
    if (eq <= 0) return raw;
    const key = line.slice(0, eq).trim();
    const value = left.get(key);
    if (value === undefined) return raw;
    left.delete(key);
    return `${key}=${value}`;
  });
  for (const [key, value] of left) lines.push(`${key}=${value}`);
  return lines.join('\n');
}

/** The dev stack's footprint (two brokers and the tests share 2 cores), applied over the shipped sizing. */
export const SMALL_FOOTPRINT = {
  managedLedgerCacheSizeMB: 32,
  dbStorage_writeCacheMaxSizeMb: 16,
  dbStorage_readAheadCacheMaxSizeMb: 16,
  dbStorage_rocksDB_blockCacheSize: 8388608,
  numHttpServerThreads: 4,
  numCacheExecutorThreadPoolSize: 2,
  managedLedgerNumSchedulerThreads: 2,
  bookkeeperClientNumWorkerThreads: 2,
  bookkeeperClientNumIoThreads: 2,
};

const JVM_OPTIONS = [
  '-Xms64m',
  '-Xmx384m',
  '-XX:MaxDirectMemorySize=256m',
  '-XX:+UseG1GC',
  '-Dio.netty.tryReflectionSetAccessible=true',
  '-Dpulsar.allocator.exit_on_oom=true',
  ...['java.base/java.io', 'java.base/java.util.zip', 'java.base/sun.net', 'java.management/sun.management', 'jdk.management/com.sun.management.internal', 'java.base/jdk.internal.misc', 'java.base/jdk.internal.platform', 'java.base/java.nio', 'java.base/java.lang', 'java.base/sun.nio.ch'].flatMap(
    (pkg) => ['--add-opens', `${pkg}=ALL-UNNAMED`],
  ),
];

export interface DedicatedStandalone {
  /** `http://127.0.0.1:<port>`: admin REST and WebSocket API. */
  readonly webUrl: string;
  readonly wsUrl: string;
  /** The bookie's HTTP admin (`httpServerEnabled=true` in the shipped file). */
  readonly bookieHttpUrl: string;
  readonly dir: string;
  /** The configuration file the JVM was started with. */
  readonly confFile: string;
  /** ms from spawn to `/admin/v2/brokers/health` answering ok. */
  readonly startMs: number;
  log(): string;
  stop(): Promise<void>;
}

async function healthy(webUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${webUrl}/admin/v2/brokers/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok && (await res.text()).trim() === 'ok';
  } catch {
    return false;
  }
}

/**
 * Starts a standalone from `base` (default: the shipped site configuration) with `overrides`, and
 * waits until its broker is healthy. Creates tenant `skyhaul` and namespace `skyhaul/telemetry`
 * (de-duplication comes from the broker setting, no namespace policy). Rejects with the log tail
 * when the JVM exits or is not healthy within `timeoutMs`.
 */
export async function startStandalone(
  options: { overrides?: Record<string, string | number | boolean>; base?: string; timeoutMs?: number; cluster?: string } = {},
): Promise<DedicatedStandalone> {
  const classpathFile = join(stackDir, 'pulsar-broker.classpath');
  if (!existsSync(classpathFile)) throw new Error(`${classpathFile} is missing: run the dev stack once (npm run stack:up)`);
  const classpath = readFileSync(classpathFile, 'utf8').trim();
  const dir = mkdtempSync(join(tmpdir(), 'skyhaul-pulsar-'));
  const [brokerPort, webPort, bookiePort, bookieHttpPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const cluster = options.cluster ?? 'site-test';
  const conf = renderConf(readFileSync(options.base ?? SHIPPED_SITE_CONF, 'utf8'), {
    ...SMALL_FOOTPRINT,
    clusterName: cluster,
    brokerServicePort: brokerPort,
    webServicePort: webPort,
    httpServerPort: bookieHttpPort,
    ...options.overrides,
  });
  const confFile = join(dir, 'standalone.conf');
  writeFileSync(confFile, conf);
  const logFile = join(dir, 'broker.log');
  const out = openSync(logFile, 'a');
  const t0 = Date.now();
  const child: ChildProcess = spawn(
    'java',
    [
      ...JVM_OPTIONS,
      `-Dlog4j2.configurationFile=${join(repoRoot, 'packaging', 'dev-stack', 'log4j2.xml')}`,
      '-cp',
      classpath,
      'org.apache.pulsar.PulsarStandaloneStarter',
      '--config',
      confFile,
      '--metadata-dir',
      join(dir, 'data', 'metadata'),
      '--bookkeeper-dir',
      join(dir, 'data', 'bookkeeper'),
      '--bookkeeper-port',
      String(bookiePort),
      '--no-functions-worker',
      '--no-stream-storage',
      '--advertised-address',
      '127.0.0.1',
    ],
    { cwd: dir, detached: true, stdio: ['ignore', out, out] },
  );
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  const webUrl = `http://127.0.0.1:${webPort}`;
  const log = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exited === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      const deadline = Date.now() + 20_000;
      while (exited === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (exited === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
        while (exited === null) await new Promise((r) => setTimeout(r, 100));
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + (options.timeoutMs ?? 180_000);
    while (!(await healthy(webUrl))) {
      if (exited !== null) throw new Error(`standalone exited (${exited}) during start-up:\n${log().split('\n').slice(-40).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`standalone not healthy within ${options.timeoutMs ?? 180_000} ms:\n${log().split('\n').slice(-40).join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const startMs = Date.now() - t0;
    for (const [method, path, body] of [
      ['PUT', '/tenants/skyhaul', { adminRoles: [], allowedClusters: [cluster] }],
      ['PUT', '/namespaces/skyhaul/telemetry', undefined],
    ] as const) {
      const res = await fetch(`${webUrl}/admin/v2${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      if (!res.ok && res.status !== 409) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    }
    return {
      webUrl,
      wsUrl: `ws://127.0.0.1:${webPort}`,
      bookieHttpUrl: `http://127.0.0.1:${bookieHttpPort}`,
      dir,
      confFile,
      startMs,
      log,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
