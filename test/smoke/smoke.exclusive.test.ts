/**
 * The design's smoke test in its quick form (`npm run smoke -- --quick`: the observatory profile
 * at 0.2 of its rate for 60 s, the WAN cut for 15 s, the bridge and the archiver killed -9 once
 * each, bad records injected at the site, then the reprocessing runbook), as a child process
 * against the real stack: every record the site published is in the lake once, in order within
 * each object; the aggregates agree with the curated records; the dead-letter topics hold exactly
 * the injected records; deleted objects come back byte for byte.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';
import { TSX_LOADER } from '../support/daemon.ts';
import type { SmokeReport } from './harness.ts';
import type { SmokeVerdict } from './run.ts';

const dir = mkdtempSync(join(tmpdir(), 'skyhaul-smoke-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runQuick(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX_LOADER, join(repoRoot, 'test/smoke/run.ts'), '--quick', '--no-build', '--out', out],
      { cwd: repoRoot, encoding: 'utf8', timeout: 1_200_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, output: `${stdout}\n${stderr}` }),
    );
  });
}

describe('smoke, instrument to data lake', () => {
  it('quick run: every record the site published lands in the lake once through a WAN cut and two kills; aggregates, dead letters and reprocessing check out', async () => {
    const out = join(dir, 'smoke.json');
    const { code, output } = await runQuick(out);
    expect(existsSync(out), output.slice(-4000)).toBe(true);
    const r = JSON.parse(readFileSync(out, 'utf8')) as SmokeReport & SmokeVerdict;
    const summary = JSON.stringify({ ...r, site: undefined });
    console.log(`smoke quick: ${output.slice(output.indexOf('smoke PASSED') >= 0 ? output.indexOf('smoke PASSED') : output.indexOf('smoke FAILED')).split('\n').slice(0, 14).join('\n')}`);
    expect(r.publishedAtSite, summary).toBeGreaterThan(5000);
    expect(r.archived, summary).toBeGreaterThan(5000);
    expect(r.duplicates, summary).toBe(0);
    expect(r.missing, summary).toBe(0);
    expect(r.outOfOrderInObjects, summary).toBe(0);
    expect(r.curated, summary).toBe(r.archived);
    expect(r.aggregates.checked, summary).toBeGreaterThan(0);
    expect(r.aggregates.mismatched, summary).toBe(0);
    expect(r.deadLetters, summary).toEqual({ bridge: r.deadLetters.injected, etl: 0, injected: r.deadLetters.injected });
    expect(r.kills, summary).toHaveLength(2);
    expect(r.peakBacklog, summary).toBeGreaterThan(0);
    expect(r.reprocess.deleted, summary).toBeGreaterThan(0);
    expect(r.reprocess.reformed, summary).toBe(r.reprocess.deleted);
    expect(r.reprocess.identical, summary).toBe(true);
    expect(r.problems, summary).toEqual([]);
    expect(code, output.slice(-4000)).toBe(0);
  }, 1_300_000);
});
