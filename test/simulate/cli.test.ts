import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { adapterNames } from '../../firmware-adapters/index.ts';
import { parse } from 'yaml';
import { simulateCommand, type SimulationReport } from '../../src/simulate/index.ts';
import { nominalRate, profile } from '../../src/simulate/profiles.ts';
import { DAEMON_BUNDLE } from '../support/daemon.ts';
import { childrenNamed, pathWithout, survivors, waitFor } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function capture(): { io: { out(line: string): void; err(line: string): void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

describe('skyhaul simulate (command)', () => {
  it('refuses bad arguments with exit code 2, naming the problem, then the usage', async () => {
    for (const [argv, message] of [
      [[], '--profile is required'],
      [['--profile', 'huge'], "--profile must be one of small, observatory, large, got 'huge'"],
      [['--profile', 'small', '--duration', 'x'], "--duration expects a number ≥ 0.1, got 'x'"],
      [['--profile', 'small', '--duration', '0'], "--duration expects a number ≥ 0.1, got '0'"],
      [['--profile', 'small', '--seed', '1.5'], "--seed expects an integer ≥ 0, got '1.5'"],
      [['--profile', 'small', '--rate-scale', ''], "--rate-scale expects a number ≥ 0.001, got ''"],
      [['--profile', 'small', '--mqtt', 'http://x'], "--mqtt needs a URL such as mqtt://127.0.0.1:1883, got 'http://x'"],
      [['--profile', 'small', '--format', 'toml'], "--format must be one of yaml, json, got 'toml'"],
      [['--bogus'], "unknown option '--bogus'"],
      [['--profile', 'small', '--falts'], "unknown option '--falts' (did you mean '--faults'?)"],
      [['--profile', 'small', '--duration'], "Option '--duration <value>' argument missing"],
      [['--profile', 'small', '--faults=yes'], "Option '--faults' does not take an argument"],
      [['--profile', 'small', '--profile', 'large'], "option '--profile' given more than once"],
      [['--profile', 'small', 'observatory'], "unexpected argument 'observatory'"],
    ] as const) {
      const { io, out, err } = capture();
      expect(await simulateCommand([...argv], io), argv.join(' ')).toBe(2);
      expect(err.join('\n'), argv.join(' ')).toContain(`skyhaul simulate: ${message}`);
      expect(err.join('\n')).toContain('usage: skyhaul simulate');
      expect(out).toEqual([]);
    }
  });

  it('--help prints the usage (exit 0)', async () => {
    const { io, out } = capture();
    expect(await simulateCommand(['--help'], io)).toBe(0);
    expect(out.join('\n')).toContain('usage: skyhaul simulate');
  });

  it('writes the inputs config (JSON), drives serial, UDP and TCP instruments, and prints the report as a JSON line', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-sim-cli-'));
    dirs.push(dir);
    const file = join(dir, 'inputs.json');
    const { io, out, err } = capture();
    expect(await simulateCommand(['--profile', 'small', '--duration', '2', '--faults', '--config-out', file], io)).toBe(0);
    const config = JSON.parse(readFileSync(file, 'utf8')) as { inputs: Array<{ type: string; name: string }> };
    expect(new Set(config.inputs.map((i) => i.type))).toEqual(new Set(['serial', 'udp', 'tcp']));
    const report = (JSON.parse(out.at(-1)!) as { report: SimulationReport }).report;
    expect(report.profile).toBe('small');
    expect(report.transports.serial.frames + report.transports.udp.frames).toBeGreaterThan(10);
    expect(report.transports.mqtt.instruments).toBe(0);
    expect(err.join('\n')).toMatch(/achieved [\d.]+ msg\/s/);
  });

  it('prints YAML with an inputs: section by default', { timeout: 30_000 }, async () => {
    const { io, out } = capture();
    expect(await simulateCommand(['--profile', 'small', '--duration', '0.5'], io)).toBe(0);
    const yaml = out.slice(0, -1).join('\n');
    expect(yaml.startsWith('inputs:')).toBe(true);
    const parsed = parse(yaml) as { inputs: Array<{ type: string; path?: string; adapter: string }> };
    // Five free-running serial instruments (one a CSV data logger) and two polled consoles (Davis, Boltwood).
    const serial = parsed.inputs.filter((i) => i.type === 'serial');
    expect(serial).toHaveLength(7);
    expect(serial.map((i) => i.adapter)).toEqual(expect.arrayContaining(['csv', 'davis-vantage', 'boltwood-cloud']));
  });

  it('profiles have the documented sizes', () => {
    expect(nominalRate(profile('small'))).toBeGreaterThan(15);
    expect(nominalRate(profile('small'))).toBeLessThan(30);
    expect(nominalRate(profile('observatory'))).toBeGreaterThan(5500);
    expect(nominalRate(profile('large'))).toBeGreaterThan(28_000);
    expect(profile('large').push.length).toBeGreaterThan(1150);
  });

  it('every profile simulates an instrument for every registered adapter', () => {
    for (const name of ['small', 'observatory', 'large'] as const) {
      const p = profile(name);
      const simulated = new Set([...p.push.map((i) => i.adapter), ...p.polled.map((i) => i.adapter)]);
      expect([...simulated].sort(), name).toEqual([...adapterNames()].sort());
    }
  });
});

/** `node dist/skyhaul.mjs simulate …` as a child process, stderr collected. */
function simulateChild(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcessWithoutNullStreams; stderr: () => string; stdout: () => string; exited: Promise<number | null> } {
  // Its own TMPDIR: a SIGKILLed simulator cannot remove its pty links' dir, the test does.
  const tmp = mkdtempSync(join(tmpdir(), 'skyhaul-sim-proc-'));
  dirs.push(tmp);
  const child = spawn(process.execPath, [DAEMON_BUNDLE, 'simulate', ...args], { env: { ...process.env, TMPDIR: tmp, ...env } });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  children.push(child);
  return { child, stderr: () => stderr, stdout: () => stdout, exited };
}

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
});

/** The small profile's serial instruments (5 free-running, 2 polled consoles): one socat each, once traffic runs. */
async function runningSocat(sim: ReturnType<typeof simulateChild>): Promise<number[]> {
  await waitFor(
    async () => sim.stderr(),
    (text) => text.includes('simulating profile small') || sim.child.exitCode !== null,
    20_000,
    'the simulation to start',
  );
  const socat = childrenNamed(sim.child.pid!, 'socat');
  expect(socat, sim.stderr()).toHaveLength(7);
  return socat;
}

describe('skyhaul simulate (process): helpers and missing tools', () => {
  it('SIGKILL of the simulator: none of its socat children survives (parent-death signal)', { timeout: 40_000 }, async () => {
    const sim = simulateChild(['--profile', 'small']);
    const socat = await runningSocat(sim);
    sim.child.kill('SIGKILL');
    await sim.exited;
    // Without the parent-death signal they were orphaned and ran on (no JavaScript runs on SIGKILL).
    expect(await survivors(socat, 5000)).toEqual([]);
  });

  it('SIGTERM: the simulator stops its socat children, prints its report and exits 0', { timeout: 40_000 }, async () => {
    const sim = simulateChild(['--profile', 'small']);
    const socat = await runningSocat(sim);
    sim.child.kill('SIGTERM');
    expect(await sim.exited).toBe(0);
    expect(sim.stdout().trim().split('\n').at(-1)).toMatch(/^\{"report":/);
    expect(await survivors(socat, 1000)).toEqual([]);
  });

  it('SIGTERM while waiting before traffic (--wait) stops it too: exit 0, no socat left', { timeout: 40_000 }, async () => {
    const sim = simulateChild(['--profile', 'small', '--wait', '60']);
    await waitFor(async () => sim.stdout(), (text) => text.includes('inputs:'), 20_000, 'the inputs configuration');
    const socat = childrenNamed(sim.child.pid!, 'socat');
    expect(socat).toHaveLength(7);
    sim.child.kill('SIGTERM');
    expect(await sim.exited).toBe(0);
    expect(await survivors(socat, 1000)).toEqual([]);
  });

  it('without socat: exit 1 with what is missing and how to install it, no crash, nothing left running', { timeout: 30_000 }, async () => {
    const noSocat = pathWithout(['socat']);
    try {
      const sim = simulateChild(['--profile', 'small', '--duration', '1'], { PATH: noSocat.path });
      expect(await sim.exited).toBe(1);
      expect(sim.stderr()).toContain("skyhaul simulate: socat is not installed (no 'socat' on PATH)");
      expect(sim.stderr()).toContain('apt-get install socat');
      expect(sim.stderr()).not.toMatch(/ENOENT|\n\s+at /);
    } finally {
      noSocat.cleanup();
    }
  });

  it('without setpriv: says that helpers would outlive a SIGKILL, and still runs and stops them', { timeout: 30_000 }, async () => {
    const noSetpriv = pathWithout(['setpriv']);
    try {
      const sim = simulateChild(['--profile', 'small', '--duration', '1'], { PATH: noSetpriv.path });
      const socat = await runningSocat(sim);
      expect(await sim.exited).toBe(0);
      expect(sim.stderr()).toContain('simulator: setpriv (util-linux) is not on PATH: socat helpers are stopped when the simulator exits, but would outlive it if it were killed with SIGKILL');
      expect(await survivors(socat, 1000)).toEqual([]);
    } finally {
      noSetpriv.cleanup();
    }
  });
});
