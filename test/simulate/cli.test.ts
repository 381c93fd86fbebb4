import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adapterNames } from '../../firmware-adapters/index.ts';
import { parse } from 'yaml';
import { simulateCommand, type SimulationReport } from '../../src/simulate/index.ts';
import { nominalRate, profile } from '../../src/simulate/profiles.ts';

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
  it('refuses bad arguments with exit code 2 and the usage', async () => {
    for (const argv of [[], ['--profile', 'huge'], ['--profile', 'small', '--duration', 'x'], ['--profile', 'small', '--mqtt', 'http://x'], ['--bogus']]) {
      const { io, err } = capture();
      expect(await simulateCommand(argv, io)).toBe(2);
      expect(err.join('\n')).toContain('usage: skyhaul simulate');
    }
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
