/**
 * The quick chaos run (≈ 1 min: link flaps, a black hole, kill -9 + restart, against the real
 * stack and the bundled daemon) delivers every acknowledged record to the central consumer
 * exactly once and in order, and every kind of event really happened: over each Pulsar transport
 * that needs nothing but the broker (WebSocket API, binary protocol).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';
import { TSX_LOADER } from '../support/daemon.ts';
import type { ChaosResult } from './run.ts';

const dir = mkdtempSync(join(tmpdir(), 'skyhaul-chaos-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runQuick(out: string, transport: ChaosResult['transport']): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX_LOADER, join(repoRoot, 'test/chaos/run.ts'), '--quick', '--no-build', '--transport', transport, '--out', out],
      { cwd: repoRoot, encoding: 'utf8', timeout: 420_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, output: `${stdout}\n${stderr}` }),
    );
  });
}

describe.each(['websocket', 'binary'] as const)('chaos over the %s transport', (transport) => {
  it('quick run: flaps, a black hole and kill -9 lose nothing acknowledged and duplicate nothing', async () => {
    const out = join(dir, `chaos-${transport}.json`);
    const { code, output } = await runQuick(out, transport);
    expect(existsSync(out), output.slice(-4000)).toBe(true);
    const r = JSON.parse(readFileSync(out, 'utf8')) as ChaosResult;
    const summary = `seed ${r.seed}: ${JSON.stringify({ ...r, events: undefined })}`;
    console.log(`chaos quick: ${summary}`);
    expect(r.transport, summary).toBe(transport);
    expect(r.acknowledged, summary).toBeGreaterThan(1000);
    expect(r.lost, summary).toBe(0);
    expect(r.duplicates, summary).toBe(0);
    expect(r.out_of_order, summary).toBe(0);
    expect(r.delivered_unique, summary).toBeGreaterThanOrEqual(r.acknowledged);
    expect(r.link_cuts, summary).toBeGreaterThanOrEqual(1);
    expect(r.blackholes, summary).toBeGreaterThanOrEqual(1);
    expect(r.kills, summary).toBeGreaterThanOrEqual(1);
    // Each black hole was noticed by the daemon itself (link state 'blackholed'), by silence.
    expect(r.blackholes_undetected, summary).toBe(0);
    expect(r.blackhole_detection_ms, summary).not.toBeNull();
    expect(r.blackhole_detection_ms!, summary).toBeLessThanOrEqual(10_000);
    expect(r.passed, summary).toBe(true);
    expect(code, output.slice(-4000)).toBe(0);
  }, 480_000);
});
