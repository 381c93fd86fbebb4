/**
 * The single executable (packaging/sea/build.ts), run as a site computer would: copied alone into
 * an empty directory, started with `env -i PATH=/usr/bin:/bin HOME=<tmp>` inside a private mount
 * namespace where /usr/bin/node and every node_modules are hidden - so nothing of Node.js or the
 * repository is reachable. Built once per run (and cached by input hash between runs).
 *
 * Also the addon loader's safety rules (packaging/sea/addons.ts) in-process: never load a file
 * whose SHA-256 does not match, never trust a directory someone else could write.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianPackages, repoRoot } from '../../packaging/dev-stack/stack.ts';
import { AddonError, AddonLoader, cacheCandidates, type AddonManifest } from '../../packaging/sea/addons.ts';
import { addonRedirects, buildSea, type SeaBuildResult } from '../../packaging/sea/build.ts';
import { VERSION } from '../../src/daemon.ts';
import { freePort } from '../support/daemon.ts';
import { stackEnv } from '../support/stack-env.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix = 'skyhaul-sea-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Hides node and node_modules in a private mount namespace, then runs with a bare environment. */
const HIDE_NODE = `set -e
for f in /usr/bin/node /usr/local/bin/node; do if [ -e "$f" ]; then mount --bind /dev/null "$f"; fi; done
for d in "$SKY_REPO_MODULES" /usr/lib/node_modules /usr/local/lib/node_modules; do if [ -d "$d" ]; then mount -t tmpfs -o size=1m skyhaul-hidden "$d"; fi; done
exec env -i PATH=/usr/bin:/bin HOME="$SKY_HOME" "$@"`;

let isolation: 'namespace' | 'bare-path' = 'bare-path';

/** [command, args, env] running `argv` (with KEY=VALUE assignments first) as on a bare host. */
function isolated(home: string, argv: string[]): [string, string[], NodeJS.ProcessEnv] {
  if (isolation === 'namespace') {
    return ['unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', HIDE_NODE, 'sh', ...argv], { SKY_HOME: home, SKY_REPO_MODULES: join(repoRoot, 'node_modules'), PATH: '/usr/bin:/bin' }];
  }
  // Without mount namespaces: at least no PATH entry that holds node.
  const bin = join(home, '.empty-bin');
  mkdirSync(bin, { recursive: true });
  return ['/usr/bin/env', ['-i', `PATH=${bin}`, `HOME=${home}`, ...argv], {}];
}

function runIsolated(home: string, argv: string[], cwd: string): { status: number | null; stdout: string; stderr: string; ms: number } {
  const [command, args, env] = isolated(home, argv);
  const t0 = performance.now();
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 60_000 });
  const ms = performance.now() - t0;
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, ms };
}

interface CheckReport {
  ok: boolean;
  node: string;
  addons: Array<{ name: string; ok: boolean; path?: string; sha256?: string; extracted?: boolean; probe?: string; error?: string }>;
}

let sea: SeaBuildResult;
/** The executable alone in an empty directory. */
let site = '';
let binary = '';
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  ensureDebianPackages({ strip: 'binutils', unshare: 'util-linux' });
  sea = await buildSea({ log: () => {} });
  site = tempDir('skyhaul-sea-site-');
  binary = join(site, 'skyhaul');
  copyFileSync(sea.output, binary);
  chmodSync(binary, 0o755);
  if (spawnSync('unshare', ['--mount', '--propagation', 'private', '--', '/bin/true']).status === 0) isolation = 'namespace';
  figures.binaryBytes = statSync(binary).size;
  figures.isolation = isolation;
}, 600_000);

afterAll(() => {
  if (Object.keys(figures).length > 0) {
    mkdirSync(join(repoRoot, 'test', 'artifacts'), { recursive: true });
    writeFileSync(join(repoRoot, 'test', 'artifacts', 'sea-figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`single executable: ${JSON.stringify(figures)}`);
  }
});

describe('single executable', () => {
  it('is one Linux executable of sane size, rebuilt only when its inputs change', async () => {
    const header = readFileSync(binary).subarray(0, 4);
    expect(header.toString('latin1')).toBe('\x7fELF');
    expect(statSync(binary).mode & 0o111).not.toBe(0);
    // A stripped node (~86 MiB) plus the bundle and addons; far more means something leaked in.
    expect(sea.bytes).toBeGreaterThan(40 * 1048576);
    expect(sea.bytes).toBeLessThan(130 * 1048576);
    expect(sea.addons.map((a) => a.name).sort()).toEqual(['@serialport/bindings-cpp', 'better-sqlite3']);
    // Unchanged inputs: the executable is reused. (Sources edited meanwhile: a new hash, rebuilt.)
    const again = await buildSea({ log: () => {} });
    expect(again.cached).toBe(again.inputHash === sea.inputHash);
  });

  it('runs `version` with no Node.js and no node_modules anywhere in reach', () => {
    const home = tempDir();
    if (isolation === 'namespace') {
      // The same isolation really leaves no node to run.
      const node = runIsolated(home, ['/bin/sh', '-c', 'node --version'], site);
      expect(node.status).not.toBe(0);
      const modules = runIsolated(home, ['/bin/sh', '-c', `ls -A ${join(repoRoot, 'node_modules')} | wc -l`], site);
      expect(modules.stdout.trim()).toBe('0');
    }
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = runIsolated(home, ['./skyhaul', 'version'], site);
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(`skyhaul ${VERSION}\n`);
      expect(result.status).toBe(0);
      runs.push(result.ms);
    }
    const json = runIsolated(home, ['./skyhaul', 'version', '--json'], site);
    expect(JSON.parse(json.stdout)).toEqual({ version: VERSION, node: process.version });
    // Start-up of plain node on this machine, for scale.
    const baseline: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      spawnSync(process.execPath, ['-e', '0']);
      baseline.push(performance.now() - t0);
    }
    figures.versionWallMs = Math.round(median(runs));
    figures.nodeEmptyScriptMs = Math.round(median(baseline));
    expect(median(runs)).toBeLessThan(10_000);
  });

  it('unpacks its native addons into ~/.cache by SHA-256, loads them (SQLite, serial), and reuses them', () => {
    const home = tempDir();
    const first = runIsolated(home, ['./skyhaul', '--check-addons'], site);
    expect(first.status, first.stderr + first.stdout).toBe(0);
    const report = JSON.parse(first.stdout) as CheckReport;
    expect(report.ok).toBe(true);
    expect(report.node).toBe(process.version);
    const byName = new Map(report.addons.map((a) => [a.name, a]));
    expect(byName.get('better-sqlite3')?.probe).toMatch(/^sqlite 3\.\d+/);
    expect(byName.get('@serialport/bindings-cpp')?.probe).toBe('serial binding ready');
    for (const addon of report.addons) {
      const entry = sea.addons.find((a) => a.name === addon.name)!;
      expect(addon.extracted).toBe(true);
      expect(addon.path).toBe(join(home, '.cache', 'skyhaul', 'addons', entry.sha256, entry.file));
      expect(sha256(readFileSync(addon.path!))).toBe(entry.sha256);
      // Private: the directories are the user's alone.
      expect(statSync(join(home, '.cache', 'skyhaul', 'addons', entry.sha256)).mode & 0o077).toBe(0);
    }
    const second = JSON.parse(runIsolated(home, ['./skyhaul', '--check-addons'], site).stdout) as CheckReport;
    expect(second.ok).toBe(true);
    expect(second.addons.every((a) => a.extracted === false)).toBe(true);
  });

  it('never loads a cached addon that was altered: it is rewritten from the embedded copy first', () => {
    const home = tempDir();
    expect(runIsolated(home, ['./skyhaul', '--check-addons'], site).status).toBe(0);
    const entry = sea.addons.find((a) => a.name === 'better-sqlite3')!;
    const cached = join(home, '.cache', 'skyhaul', 'addons', entry.sha256, entry.file);
    // Same size, different bytes: only the hash can tell.
    const original = readFileSync(cached);
    const altered = Buffer.from(original);
    altered.fill(0xcc, 4096, 8192);
    writeFileSync(cached, altered);
    const result = runIsolated(home, ['./skyhaul', '--check-addons'], site);
    expect(result.status, result.stderr + result.stdout).toBe(0);
    const report = JSON.parse(result.stdout) as CheckReport;
    expect(report.addons.find((a) => a.name === 'better-sqlite3')?.extracted).toBe(true);
    expect(sha256(readFileSync(cached))).toBe(entry.sha256);
  });

  it('skips a cache directory that others can write to, and uses the next one', () => {
    const home = tempDir();
    const shared = join(home, 'shared-cache');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const result = runIsolated(home, ['SKYHAUL_ADDON_DIR=' + shared, './skyhaul', '--check-addons'], site);
    expect(result.status, result.stderr + result.stdout).toBe(0);
    const report = JSON.parse(result.stdout) as CheckReport;
    for (const addon of report.addons) expect(addon.path!.startsWith(join(home, '.cache', 'skyhaul'))).toBe(true);
    expect(existsSync(join(shared, 'addons'))).toBe(false);
  });

  it('runs the daemon: ready on /readyz, buffers and forwards through Pulsar, stops cleanly on SIGTERM', async () => {
    const home = tempDir();
    const work = tempDir('skyhaul-sea-run-');
    const port = await freePort();
    let forwardUrl: string | null = null;
    try {
      forwardUrl = stackEnv().SKYHAUL_PULSAR_EDGE_HTTP ?? null;
    } catch {
      forwardUrl = null; // no stack (SKYHAUL_TEST_NO_STACK): buffer only
    }
    const siteId = `sea-${Date.now().toString(36)}`;
    const configFile = join(work, 'skyhaul.yaml');
    writeFileSync(
      configFile,
      stringify({
        site: { id: siteId },
        dataDir: join(work, 'data'),
        http: { port, bind: '127.0.0.1' },
        forward: { url: forwardUrl, topic: `persistent://skyhaul/telemetry/${siteId}` },
        inputs: [{ type: 'http', name: 'push' }],
      }),
    );
    chmodSync(work, 0o755);
    const [command, args, env] = isolated(home, ['./skyhaul', 'run', '--config', configFile]);
    const spawnedAt = performance.now();
    const child = spawn(command, args, { cwd: site, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    try {
      let readyMs: number | null = null;
      while (readyMs === null) {
        if (child.exitCode !== null) throw new Error(`the executable exited with ${child.exitCode}:\n${log}`);
        if (performance.now() - spawnedAt > 60_000) throw new Error(`not ready within 60 s:\n${log}`);
        try {
          const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
          if (res.status === 200) readyMs = performance.now() - spawnedAt;
        } catch {
          // not listening yet
        }
        if (readyMs === null) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      figures.runToReadyzMs = Math.round(readyMs);

      const push = await fetch(`${url}/api/v1/inputs/push/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ records: Array.from({ length: 20 }, (_, i) => ({ stream: 'weather/sea', payload: `reading ${i}` })) }),
        signal: AbortSignal.timeout(30_000),
      });
      expect(push.status).toBe(200);
      const status = async (): Promise<{ startup: { bufferOpenMs: number; readyMs: number }; link: { state: string }; backlog: { streams: Array<{ stream: string; lastSequence: number; ackedSequence: number }> } }> =>
        (await (await fetch(`${url}/api/v1/status`, { signal: AbortSignal.timeout(5000) })).json()) as never;
      const first = await status();
      figures.daemonReportedReadyMs = first.startup.readyMs;
      figures.bufferOpenMs = first.startup.bufferOpenMs;
      expect(first.backlog.streams.find((s) => s.stream === 'weather/sea')?.lastSequence).toBe(20);
      // SQLite on the buffer's writer thread, loaded from the executable's embedded copy.
      expect(log).toMatch(/"writer":"thread".*"msg":"buffer opened"/);
      if (forwardUrl !== null) {
        // The WebSocket transport from inside the executable: all 20 acknowledged by the broker.
        const deadline = Date.now() + 45_000;
        for (;;) {
          const now = await status();
          const stream = now.backlog.streams.find((s) => s.stream === 'weather/sea');
          if (now.link.state === 'up' && stream?.ackedSequence === 20) break;
          if (Date.now() > deadline) throw new Error(`not forwarded: ${JSON.stringify(now.link)} ${JSON.stringify(stream)}\n${log.slice(-3000)}`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(existsSync(join(work, 'data', 'buffer.sqlite'))).toBe(true);
      // Structured logs only: no Node warnings (e.g. the SEA require() notice) on the way.
      expect(log).not.toMatch(/Warning:/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('bundling for the executable', () => {
  async function bundleErrors(contents: string): Promise<string> {
    try {
      await build({ stdin: { contents, resolveDir: repoRoot, loader: 'js' }, bundle: true, write: false, platform: 'node', format: 'cjs', logLevel: 'silent', plugins: [addonRedirects(new Set())] });
      return '';
    } catch (error) {
      return (error as Error).message;
    }
  }

  it('fails the build when a package loads an addon the executable does not embed', async () => {
    expect(await bundleErrors("require('bindings')('other.node');")).toMatch(/loads a native addon through 'bindings', which the single executable does not embed/);
    expect(await bundleErrors("require('node-gyp-build')(__dirname);")).toMatch(/through 'node-gyp-build'/);
    expect(await bundleErrors("require('./build/Release/x.node');")).toMatch(/requires the native addon .*x\.node directly/);
  });

  it('redirects better-sqlite3 and the serial binding to the embedded addons', async () => {
    const hits = new Set<string>();
    const result = await build({
      stdin: { contents: "require('better-sqlite3'); require('@serialport/bindings-cpp');", resolveDir: repoRoot, loader: 'js' },
      bundle: true,
      write: false,
      platform: 'node',
      format: 'cjs',
      logLevel: 'silent',
      plugins: [addonRedirects(hits)],
    });
    expect([...hits].sort()).toEqual(['@serialport/bindings-cpp', 'better-sqlite3']);
    const text = result.outputFiles[0]!.text;
    expect(text).toContain('loadAddon("better-sqlite3")');
    expect(text).toContain('loadAddon("@serialport/bindings-cpp")');
  });
});

describe('addon loader (packaging/sea/addons.ts)', () => {
  function fixture(): { bytes: Buffer; manifest: AddonManifest; getAsset: (key: string) => Uint8Array } {
    const bytes = randomBytes(64 * 1024);
    const manifest: AddonManifest = {
      version: 1,
      platform: 'linux',
      arch: process.arch,
      modules: process.versions.modules,
      addons: [{ name: 'demo', asset: 'skyhaul/addons/demo.node', file: 'demo.node', sha256: sha256(bytes), size: bytes.length }],
    };
    return { bytes, manifest, getAsset: () => bytes };
  }

  /** A dlopen stand-in that records what was on disk at the moment of loading. */
  function recorder(): { calls: Array<{ file: string; sha256: string }>; dlopen: (file: string) => unknown } {
    const calls: Array<{ file: string; sha256: string }> = [];
    return {
      calls,
      dlopen: (file) => {
        calls.push({ file, sha256: sha256(readFileSync(file)) });
        return { loaded: file };
      },
    };
  }

  it('writes, re-hashes and loads; a second loader reuses the verified file', () => {
    const { manifest, getAsset } = fixture();
    const base = join(tempDir(), 'cache');
    const rec = recorder();
    const first = new AddonLoader({ manifest, getAsset, directories: [base], dlopen: rec.dlopen }).load('demo');
    expect(first.extracted).toBe(true);
    expect(first.path).toBe(join(base, 'addons', manifest.addons[0]!.sha256, 'demo.node'));
    const second = new AddonLoader({ manifest, getAsset, directories: [base], dlopen: rec.dlopen }).load('demo');
    expect(second.extracted).toBe(false);
    expect(rec.calls.map((c) => c.sha256)).toEqual([manifest.addons[0]!.sha256, manifest.addons[0]!.sha256]);
  });

  it('refuses a damaged embedded copy and loads nothing', () => {
    const { manifest, bytes } = fixture();
    const rec = recorder();
    const damaged = Buffer.from(bytes);
    damaged[100] = damaged[100]! ^ 0xff;
    const loader = new AddonLoader({ manifest, getAsset: () => damaged, directories: [join(tempDir(), 'cache')], dlopen: rec.dlopen });
    expect(() => loader.load('demo')).toThrow(/damaged: SHA-256/);
    expect(rec.calls).toEqual([]);
  });

  it('replaces a cached file whose hash does not match before loading it', () => {
    const { manifest, getAsset } = fixture();
    const base = join(tempDir(), 'cache');
    const entry = manifest.addons[0]!;
    mkdirSync(join(base, 'addons', entry.sha256), { recursive: true, mode: 0o700 });
    writeFileSync(join(base, 'addons', entry.sha256, entry.file), randomBytes(entry.size));
    const rec = recorder();
    const result = new AddonLoader({ manifest, getAsset, directories: [base], dlopen: rec.dlopen }).load('demo');
    expect(result.extracted).toBe(true);
    expect(rec.calls).toEqual([{ file: result.path, sha256: entry.sha256 }]);
  });

  it('skips directories it cannot trust (symlinked, writable by others, owned by someone else), then says which', () => {
    const { manifest, getAsset } = fixture();
    const dir = tempDir();
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o700 });
    const symlinked = join(dir, 'symlinked');
    mkdirSync(symlinked, { mode: 0o700 });
    symlinkSync(elsewhere, join(symlinked, 'addons'));
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const candidates = [symlinked, open];
    if (process.getuid?.() === 0) {
      const foreign = join(dir, 'foreign');
      mkdirSync(foreign, { mode: 0o700 });
      chownSync(foreign, 4242, 4242);
      candidates.push(foreign);
    }
    const rec = recorder();
    const good = join(dir, 'good');
    const result = new AddonLoader({ manifest, getAsset, directories: [...candidates, good], dlopen: rec.dlopen }).load('demo');
    expect(result.path.startsWith(`${good}/`)).toBe(true);
    expect(rec.calls).toHaveLength(1);

    let error: unknown;
    try {
      new AddonLoader({ manifest, getAsset, directories: candidates, dlopen: rec.dlopen }).load('demo');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AddonError);
    const message = (error as Error).message;
    expect(message).toMatch(/symlink/);
    expect(message).toMatch(/writable by group or others/);
    if (candidates.length > 2) expect(message).toMatch(/belongs to uid 4242/);
    expect(rec.calls).toHaveLength(1);
  });

  it('looks in systemd\'s directories first, then the user\'s, then the temporary directory', () => {
    const list = cacheCandidates(
      { CACHE_DIRECTORY: '/var/cache/skyhaul', STATE_DIRECTORY: '/var/lib/skyhaul', XDG_CACHE_HOME: '/home/u/.xdg', HOME: '/home/u' },
      1000,
    );
    expect(list).toEqual(['/var/cache/skyhaul', '/var/lib/skyhaul/addons-cache', '/home/u/.xdg/skyhaul', '/home/u/.cache/skyhaul', join(tmpdir(), 'skyhaul-1000')]);
    expect(cacheCandidates({ SKYHAUL_ADDON_DIR: '/opt/x', HOME: '/' }, 7)[0]).toBe('/opt/x');
  });
});
