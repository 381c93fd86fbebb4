/**
 * The CLI as a site engineer meets it: `check-config` on bad files (exit 2, path and line for
 * every problem), `buffer check|stats|export|replay`, `decode`, `version`, `--help`, and `run`
 * with no configuration (the demo site `npm start` gives).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordBuffer } from '../../src/buffer/index.ts';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';
import { DAEMON_BUNDLE, freePort, TSX_LOADER } from '../support/daemon.ts';
import { childrenNamed, pathWithout, survivors } from '../simulate/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'skyhaul-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function skyhaul(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [DAEMON_BUNDLE, ...args], { encoding: 'utf8', input, timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function configFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('skyhaul check-config', () => {
  it('accepts a valid file (exit 0)', () => {
    const file = configFile('ok.yaml', 'site:\n  id: cerro-01\nforward:\n  url: http://127.0.0.1:8080\n');
    expect(skyhaul(['check-config', file])).toMatchObject({ status: 0 });
  });

  it.each([
    ['wrong type', 'site:\n  id: cerro-01\nhttp:\n  port: eighty\n', /:4: http\.port: expected integer, found "eighty"/],
    ['unknown key', 'site:\n  id: cerro-01\nforward:\n  urll: http://x\n', /:4: forward\.urll: unknown key 'urll'/],
    ['missing required', 'forward:\n  url: http://x:1\n', /site: required but missing/],
    ['bad YAML', 'site:\n  id: [unclosed\n', /:\d+: .*bad YAML/],
    ['unknown adapter', 'site: { id: a }\ninputs:\n  - { type: udp, name: u, port: 9000, adapter: no-such-thing }\n', /:3: inputs\[0\]\.adapter: unknown adapter 'no-such-thing'/],
  ])('refuses %s with exit 2 naming path and line', (_what, text, message) => {
    const file = configFile(`bad-${Math.random().toString(36).slice(2)}.yaml`, text);
    const result = skyhaul(['check-config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain(file);
  });

  it('lists every problem at once, also as JSON', () => {
    const file = configFile('many.yaml', 'site:\n  id: Bad_Id\nbuffer:\n  synchronous: FAST\nhttp:\n  port: -1\n');
    const result = skyhaul(['check-config', file, '--json']);
    expect(result.status).toBe(2);
    const report = JSON.parse(result.stdout) as { valid: boolean; problems: Array<{ path: string; line: number }> };
    expect(report.valid).toBe(false);
    expect(report.problems.map((p) => [p.path, p.line])).toEqual([
      ['site.id', 2],
      ['buffer.synchronous', 4],
      ['http.port', 6],
    ]);
  });
});

describe('skyhaul buffer', () => {
  it('inspects without writing: check, stats and export leave the file byte for byte; a missing --file is an error, not a new buffer', async () => {
    const file = join(dir, 'readonly.sqlite');
    const buffer = new RecordBuffer({ path: file, siteId: 'cli', disk: null });
    buffer.open();
    await Promise.all(Array.from({ length: 5 }, (_, i) => buffer.append({ stream: 'dome/status', payload: Buffer.from(`open=${i}`) })));
    await buffer.close();
    const before = readFileSync(file);
    const listing = readdirSync(dir).sort();
    expect(skyhaul(['buffer', 'check', '--file', file]).status).toBe(0);
    expect(skyhaul(['buffer', 'stats', '--file', file, '--json']).status).toBe(0);
    expect(skyhaul(['buffer', 'export', '--file', file, '--stream', 'dome/status']).stdout.trim().split('\n')).toHaveLength(5);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(listing);
    const typo = join(dir, 'typo.sqlite');
    // Each subcommand with the options it needs (and only those: see the strict command lines below).
    for (const [sub, ...extra] of [['check'], ['stats'], ['export', '--stream', 'x'], ['replay', '--in', join(dir, 'none.jsonl')]]) {
      const result = skyhaul(['buffer', sub!, '--file', typo, ...extra]);
      expect(result.status, `${sub}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(`no buffer file at ${typo}`);
      expect(existsSync(typo)).toBe(false);
    }
  });

  it('check, stats, export and replay a buffer file; check reports a corrupted record', async () => {
    const file = join(dir, 'buffer.sqlite');
    const buffer = new RecordBuffer({ path: file, siteId: 'cli', disk: null });
    buffer.open();
    await Promise.all(Array.from({ length: 30 }, (_, i) => buffer.append({ stream: 'weather/wxt536', payload: Buffer.from(`Ta=${i}`), contentType: 'text/plain' })));
    await buffer.close();

    expect(skyhaul(['buffer', 'check', '--file', file])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^ok: 30 records checked/) });
    const stats = JSON.parse(skyhaul(['buffer', 'stats', '--file', file, '--json']).stdout) as { records: number; streams: Array<{ stream: string }> };
    expect(stats.records).toBe(30);
    const out = join(dir, 'export.jsonl');
    expect(skyhaul(['buffer', 'export', '--file', file, '--stream', 'weather/wxt536', '--out', out]).status).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(30);
    expect(Buffer.from((JSON.parse(lines[7]!) as { payload: string }).payload, 'base64').toString()).toBe('Ta=7');

    // Replay re-queues into an existing buffer (the site's own, daemon stopped).
    const other = join(dir, 'replay.sqlite');
    const target = new RecordBuffer({ path: other, siteId: 'cli', disk: null });
    target.open();
    await target.close();
    const replay = skyhaul(['buffer', 'replay', '--file', other, '--in', out]);
    expect(replay.status).toBe(0);
    expect(replay.stderr).toMatch(/re-queued 30 record/);
    expect((JSON.parse(skyhaul(['buffer', 'stats', '--file', other, '--json']).stdout) as { records: number }).records).toBe(30);

    // Corrupt one stored payload byte behind the buffer's back: check must find it.
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(file);
    const streamId = db.prepare('SELECT min(id) FROM streams').pluck().get() as number;
    db.prepare('UPDATE records SET payload = ? WHERE stream_id = ? AND sequence = 5').run(Buffer.from('Ta=X'), streamId);
    db.close();
    const check = skyhaul(['buffer', 'check', '--file', file]);
    expect(check.status).toBe(1);
    expect(check.stdout).toMatch(/PROBLEMS/);
    expect(check.stdout).toMatch(/5/);
  });

  it('refuses without a buffer named, with exit 2', () => {
    expect(skyhaul(['buffer', 'check'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/--config FILE or --file/) });
  });

  it('refuses both --config and --file (which buffer was meant?), with exit 2', () => {
    const result = skyhaul(['buffer', 'stats', '--config', join(dir, 'a.yaml'), '--file', join(dir, 'b.sqlite')]);
    expect(result).toMatchObject({ status: 2, stderr: expect.stringMatching(/--config FILE or --file BUFFER.sqlite, not both/) });
  });
});

describe('skyhaul decode, version, help', () => {
  it('decodes frames from stdin into JSON lines', () => {
    const result = skyhaul(['decode', '--adapter', 'gill-windsonic'], '\x02Q,229,002.74,M,00,\x0316\r\n\x02Q,229,002.74,M,00,\x0317\r\n');
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ adapter: 'gill-windsonic', units: expect.objectContaining({}) });
    expect(lines[1]).toMatchObject({ adapter: 'gill-windsonic', error: { code: 'ADAPTER_CHECKSUM' } });
    expect(result.status).toBe(1);
  });

  it('prints the version and help with stable exit codes', () => {
    expect(skyhaul(['version', '--json'])).toMatchObject({ status: 0, stdout: expect.stringMatching(/"version":"\d+\.\d+\.\d+"/) });
    for (const command of ['run', 'status', 'check-config', 'buffer', 'decode', 'simulate', 'version', 'help']) {
      const result = skyhaul([command, '--help']);
      expect(result.status, command).toBe(0);
      expect(result.stdout, command).toMatch(/usage: skyhaul/);
    }
    for (const sub of ['check', 'stats', 'export', 'replay']) expect(skyhaul(['buffer', sub, '--help']).status, sub).toBe(0);
    expect(skyhaul(['help', 'run']).stdout).toMatch(/^usage: skyhaul run/);
    expect(skyhaul([]).status).toBe(0);
    expect(skyhaul(['frobnicate']).status).toBe(2);
  });
});

describe('strict command lines: an unknown option, a missing value or a stray argument is exit 2, never ignored', () => {
  it('run --confg site.yaml (a typo) exits 2 naming --confg, and does not start the demo site instead', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'skyhaul-typo-'));
    try {
      const site = configFile('typo-site.yaml', 'site:\n  id: cerro-01\n');
      // Before strict parsing this started the built-in demo site (simulated instruments, ./data
      // in the cwd) and never exited: spawnSync's timeout would leave status null.
      const result = spawnSync(process.execPath, [DAEMON_BUNDLE, 'run', '--confg', site], { cwd, encoding: 'utf8', timeout: 15_000, env: { ...process.env, SKYHAUL_HTTP_PORT: '9' } });
      expect(result.status, result.stderr).toBe(2);
      expect(result.stderr).toContain("unknown option '--confg' (did you mean '--config'?)");
      expect(result.stderr).toContain('usage: skyhaul run [--config FILE]');
      expect(result.stderr).not.toMatch(/^demo site:|skyhaul starting/m);
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  const valid = (): string => configFile('strict-valid.yaml', 'site:\n  id: cerro-01\n');
  const buffer = (): string => join(dir, 'buffer.sqlite');
  it.each<[string, () => string[], string]>([
    ['run: a stray argument', () => ['run', 'site.yaml'], "unexpected argument 'site.yaml'"],
    ['run: --config without its value', () => ['run', '--config'], "'--config <value>' argument missing"],
    ['run: --config swallowing the next option', () => ['run', '--config', '--help'], "'--config' argument is ambiguous"],
    ['run: --config empty (an unset variable)', () => ['run', '--config', ''], '--config needs a FILE, got an empty string'],
    ['run: --config twice', () => ['run', '--config', valid(), '--config', valid()], "option '--config' given more than once"],
    ['status: an unknown option', () => ['status', '--jsno'], "unknown option '--jsno' (did you mean '--json'?)"],
    ['status: a flag given a value', () => ['status', '--json=yes'], "'--json' does not take an argument"],
    ['status: --url not a URL', () => ['status', '--url', 'localhost:9880'], "--url must be http:// or https://, got 'localhost:9880'"],
    ['check-config: an unknown option', () => ['check-config', valid(), '--strict'], "unknown option '--strict'"],
    ['check-config: no FILE', () => ['check-config'], 'missing the configuration FILE'],
    ['check-config: two FILEs', () => ['check-config', valid(), 'other.yaml'], "unexpected argument 'other.yaml'"],
    ["buffer check: another subcommand's option", () => ['buffer', 'check', '--file', buffer(), '--stream', 'x'], "unknown option '--stream'"],
    ['buffer stats: an unknown option', () => ['buffer', 'stats', '--fle', buffer()], "unknown option '--fle' (did you mean '--file'?)"],
    ['buffer export: --in belongs to replay', () => ['buffer', 'export', '--file', buffer(), '--stream', 'x', '--in', 'y'], "unknown option '--in'"],
    ['buffer export: a bad time', () => ['buffer', 'export', '--file', buffer(), '--stream', 'x', '--from', 'yesterday'], "--from expects an ISO time such as 2026-11-26T20:00:00Z, got 'yesterday'"],
    ['buffer replay: --json belongs to check and stats', () => ['buffer', 'replay', '--file', buffer(), '--in', 'y', '--json'], "unknown option '--json'"],
    ['buffer: an unknown subcommand', () => ['buffer', 'repair', '--file', buffer()], "unknown subcommand 'repair'"],
    ['version: an unknown option', () => ['version', '--verbose'], "unknown option '--verbose'"],
    ['version: a stray argument', () => ['version', 'now'], "unexpected argument 'now'"],
    ['help: an unknown command', () => ['help', 'frobnicate'], "unknown command 'frobnicate'"],
    ['simulate: an unknown option', () => ['simulate', '--profil', 'small'], "unknown option '--profil' (did you mean '--profile'?)"],
    ['simulate: a bad number', () => ['simulate', '--profile', 'small', '--udp-port', '70000'], "--udp-port expects an integer ≥ 1 and ≤ 65535, got '70000'"],
  ])('%s', (_what, args, message) => {
    const before = existsSync(buffer()) ? readFileSync(buffer()) : null;
    const result = skyhaul(args());
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toContain(message);
    // The command's usage follows the problem.
    expect(result.stderr).toMatch(/usage: skyhaul/);
    expect(result.stdout).toBe('');
    if (before !== null) expect(readFileSync(buffer()).equals(before)).toBe(true);
  });

  it('the package builders and the bench and chaos harnesses refuse an unknown option with exit 2 before doing anything', () => {
    for (const [script, args, message] of [
      ['packaging/tarball/build.ts', ['--levl', '1'], "package:tarball: unknown option '--levl' (did you mean '--level'?)"],
      ['packaging/tarball/build.ts', ['--level', '11'], "--level expects an integer ≥ 1 and ≤ 9, got '11'"],
      ['packaging/deb/build.ts', ['--compress', 'zstd'], "--compress must be one of xz, gzip, none, got 'zstd'"],
      ['packaging/sea/build.ts', ['--addon', 'better-sqlite3'], "--addon takes NAME=FILE, got 'better-sqlite3'"],
      ['test/bench/run.ts', ['--quik'], "unknown option '--quik' (did you mean '--quick'?)"],
      ['test/bench/run.ts', ['--backlog', 'lots'], "--backlog expects a number, got 'lots'"],
      ['test/chaos/run.ts', ['--minutes'], "'--minutes <value>' argument missing"],
    ] as const) {
      const result = spawnSync(process.execPath, ['--import', TSX_LOADER, join(repoRoot, script), ...args], { encoding: 'utf8', timeout: 60_000 });
      expect(result.status, `${script} ${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toMatch(/usage: npm run /);
    }
  }, 120_000);
});

describe('skyhaul run without a configuration (npm start)', () => {
  it('runs the demo site on the simulator\'s small profile: every simulated instrument commits, and SIGTERM leaves no socat behind', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'skyhaul-demo-'));
    const port = await freePort();
    // The embedded default finds the dev stack's endpoints itself (.stack/stack.env); the port is
    // moved off 9880 with the usual environment override.
    const child = spawn(process.execPath, [DAEMON_BUNDLE, 'run'], { cwd, env: { ...process.env, SKYHAUL_HTTP_PORT: String(port), SKYHAUL_LOGGING_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      let inputs: Array<{ name: string; type: string; committed: number; state: string }> = [];
      for (;;) {
        try {
          const status = (await (await fetch(`http://127.0.0.1:${port}/api/v1/status`)).json()) as { inputs: typeof inputs };
          inputs = status.inputs;
          if (inputs.length > 0 && inputs.every((i) => i.committed > 0)) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`demo inputs did not all commit within 30 s: ${JSON.stringify(inputs)}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const names = inputs.map((i) => i.name);
      // Serial (free-running and polled consoles), UDP, TCP and MQTT instruments, not the synthetic fallback.
      expect(names).toEqual(expect.arrayContaining(['gps', 'logger', 'vantage', 'cloud', 'sqm', 'ups', 'udp-gill-windsonic', 'mqtt-sim']));
      expect(new Set(inputs.map((i) => i.type))).toEqual(new Set(['serial', 'udp', 'tcp', 'mqtt']));
      const devices = inputs.filter((i) => i.type === 'serial').map((i) => (i as unknown as { device: string }).device.split(' ')[0]!);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const socat = spawnSync('pgrep', ['-af', 'socat'], { encoding: 'utf8' }).stdout;
      for (const device of devices) expect(socat).not.toContain(device);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 60_000);
});

interface Demo {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stderr: () => string;
  exited: Promise<number | null>;
  cleanup: () => void;
}

/** `skyhaul run` with no configuration (the demo site) in a fresh cwd, on a free port; stderr collected. */
async function startDemo(env: NodeJS.ProcessEnv = {}): Promise<Demo> {
  const cwd = mkdtempSync(join(tmpdir(), 'skyhaul-demo-'));
  const port = await freePort();
  // TMPDIR inside cwd: a SIGKILLed demo cannot remove its simulator's pty links' dir, cleanup() does.
  const tmp = join(cwd, 'tmp');
  mkdirSync(tmp);
  const child = spawn(process.execPath, [DAEMON_BUNDLE, 'run'], { cwd, env: { ...process.env, TMPDIR: tmp, SKYHAUL_HTTP_PORT: String(port), SKYHAUL_LOGGING_LEVEL: 'warn', ...env } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    port,
    stderr: () => stderr,
    exited,
    cleanup: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

async function waitReady(port: number, stderr: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`demo not ready within ${timeoutMs} ms:\n${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('skyhaul run without a configuration (npm start) on a machine without socat', () => {
  it('starts the demo on the synthetic instruments, says socat is missing and how to install it, is ready, and stops cleanly on SIGTERM', async () => {
    const noSocat = pathWithout(['socat']);
    const demo = await startDemo({ PATH: noSocat.path });
    try {
      const port = demo.port;
      // Before: `Error: spawn socat ENOENT` as an unhandled 'error' event killed the process here.
      await waitReady(port, demo.stderr);
      const status = (await (await fetch(`http://127.0.0.1:${port}/api/v1/status`)).json()) as { inputs: Array<{ name: string; type: string }> };
      expect(status.inputs.map((i) => [i.name, i.type])).toEqual([['demo', 'synthetic']]);
      expect(demo.stderr()).toContain("socat is not installed (no 'socat' on PATH)");
      expect(demo.stderr()).toContain('apt-get install socat');
      expect(demo.stderr()).toContain('demo site: using the built-in synthetic instruments instead');
      demo.child.kill('SIGTERM');
      expect(await demo.exited).toBe(0);
      expect(demo.stderr()).not.toMatch(/ENOENT|uncaught|\n\s+at /);
    } finally {
      demo.cleanup();
      noSocat.cleanup();
    }
  }, 60_000);
});

describe('the demo daemon\'s socat helpers do not outlive it', () => {
  it('SIGKILL of the daemon running the demo site: none of its socat children survives (parent-death signal)', async () => {
    const demo = await startDemo();
    try {
      const port = demo.port;
      await waitReady(port, demo.stderr);
      // The small profile's serial instruments: 5 free-running, 2 polled consoles, one socat each.
      let socat: number[] = [];
      const deadline = Date.now() + 10_000;
      while ((socat = childrenNamed(demo.child.pid!, 'socat')).length < 7 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(socat).toHaveLength(7);
      demo.child.kill('SIGKILL');
      await demo.exited;
      // Without the parent-death signal they were orphaned and ran on (the process 'exit' hook
      // never runs on SIGKILL); with it the kernel kills them at once.
      expect(await survivors(socat, 5000)).toEqual([]);
    } finally {
      demo.cleanup();
    }
  }, 60_000);
});
