/**
 * The real daemon as a child process (`node dist/skyhaul.mjs run`), for tests that kill
 * it, restart it, or read its status over HTTP. Config is written to a file in the test's dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';
import type { DaemonStatus } from '../../src/status.ts';
import { freePort, killChild, readLog } from './processes.ts';

export type { DaemonStatus };

/** tsx's loader by absolute URL: `--import tsx` would resolve from the child's cwd (a temp dir). */
export const TSX_LOADER = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;

/**
 * The daemon runs from the esbuild bundle (built by the global setup), as it ships: start-up
 * times are then the product's, not tsx's transpiling.
 */
export const DAEMON_BUNDLE = join(repoRoot, 'dist', 'skyhaul.mjs');

/**
 * The environment the systemd unit gives the daemon (its `Environment=` lines), so that what the
 * tests and the bench measure is the daemon as installed.
 */
export const UNIT_ENVIRONMENT: Readonly<Record<string, string>> = Object.fromEntries(
  readFileSync(join(repoRoot, 'systemd', 'skyhaul.service'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('Environment='))
    .map((line) => {
      const assignment = line.slice('Environment='.length);
      const eq = assignment.indexOf('=');
      return [assignment.slice(0, eq), assignment.slice(eq + 1)];
    }),
);

// Daemons still running when the test process ends (a crash of the harness: its cleanups never
// ran) are killed with it: a child must not outlive its test.
const runningDaemons = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of runningDaemons) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export { freePort };

export interface DaemonHandle {
  readonly dir: string;
  readonly url: string;
  readonly configFile: string;
  readonly logFile: string;
  process: ChildProcess;
  /** Resolves when /readyz answers 200; returns ms from spawn. */
  waitReady(timeoutMs?: number): Promise<number>;
  status(): Promise<DaemonStatus>;
  push(records: Array<{ stream: string; payload: string; sourceTime?: number }>, input?: string): Promise<PushResult>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts a new process on the same dir and config (after a kill). */
  restart(): Promise<void>;
  log(): string;
}

export interface PushResult {
  status: number;
  committed: Array<{ stream: string; sequence: number } | { error: { code: string; message: string } }>;
}


export async function startDaemon(options: { dir: string; config: Record<string, unknown>; env?: NodeJS.ProcessEnv; wait?: boolean }): Promise<DaemonHandle> {
  mkdirSync(options.dir, { recursive: true });
  const port = await freePort();
  const config = {
    dataDir: join(options.dir, 'data'),
    logging: { level: 'info' },
    ...options.config,
    http: { port, bind: '127.0.0.1', ...((options.config.http as object | undefined) ?? {}) },
  };
  const configFile = join(options.dir, 'skyhaul.yaml');
  writeFileSync(configFile, stringify(config));
  const logFile = join(options.dir, 'daemon.log');
  const url = `http://127.0.0.1:${port}`;

  const spawnDaemon = (): ChildProcess => {
    const out = openSync(logFile, 'a');
    const child = spawn(process.execPath, [DAEMON_BUNDLE, 'run', '--config', configFile], {
      cwd: options.dir,
      stdio: ['ignore', out, out],
      env: { ...process.env, ...UNIT_ENVIRONMENT, ...options.env },
    });
    closeSync(out);
    runningDaemons.add(child);
    child.once('exit', () => runningDaemons.delete(child));
    return child;
  };

  let spawnedAt = Date.now();
  const handle: DaemonHandle = {
    dir: options.dir,
    url,
    configFile,
    logFile,
    process: spawnDaemon(),
    async waitReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (handle.process.exitCode !== null) throw new Error(`daemon exited with ${handle.process.exitCode}:\n${handle.log().slice(-3000)}`);
        try {
          const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
          if (res.status === 200) return Date.now() - spawnedAt;
        } catch {
          // not listening yet
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`daemon not ready within ${timeoutMs} ms:\n${handle.log().slice(-3000)}`);
    },
    async status() {
      const res = await fetch(`${url}/api/v1/status`, { signal: AbortSignal.timeout(5000) });
      return (await res.json()) as DaemonStatus;
    },
    async push(records, input = 'push') {
      const res = await fetch(`${url}/api/v1/inputs/${input}/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ records }),
        signal: AbortSignal.timeout(60_000),
      });
      const body = (await res.json()) as { committed?: PushResult['committed'] };
      return { status: res.status, committed: body.committed ?? [] };
    },
    kill: (signal = 'SIGKILL') => killChild(handle.process, signal),
    async restart() {
      await handle.kill('SIGKILL');
      spawnedAt = Date.now();
      handle.process = spawnDaemon();
    },
    log: () => readLog(logFile),
  };
  if (options.wait !== false) await handle.waitReady();
  return handle;
}
