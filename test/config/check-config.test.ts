/**
 * The field report as a site engineer meets it, through the shipped CLI (the bundle built by the
 * test setup): `check-config` names the one real mistake with its file and line, and `run` on the
 * same file refuses before anything opens, so the buffer is left untouched.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DAEMON_BUNDLE } from '../support/daemon.ts';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'config-stray-key-in-input.yaml');
const dir = mkdtempSync(join(tmpdir(), 'skyhaul-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function skyhaul(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [DAEMON_BUNDLE, ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('field report: check-config on a stray key in an http input', () => {
  it('prints exactly that one problem with file and line, and exits 2', () => {
    const file = join(dir, 'skyhaul.yaml');
    copyFileSync(fixture, file);
    const result = skyhaul(['check-config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      `${file}: 1 problem(s)\n  ${file}:9: inputs[0].tag_prefix: unknown key 'tag_prefix'; expected one of: type, name, token, maxRecordsPerRequest, maxRequestSize\n`,
    );
    const json = skyhaul(['check-config', file, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: false, problems: [{ path: 'inputs[0].tag_prefix', line: 9 }] });
  });

  it('run with that file refuses before opening anything: no data directory, no buffer', () => {
    const file = join(dir, 'run.yaml');
    copyFileSync(fixture, file);
    const before = readdirSync(dir).sort();
    const result = skyhaul(['run', '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/:9: inputs\[0\]\.tag_prefix: unknown key 'tag_prefix'/);
    // The fixture's dataDir is ./data-14, next to the file.
    expect(existsSync(join(dir, 'data-14'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('run with that file leaves an existing buffer exactly as it was', () => {
    const site = mkdtempSync(join(dir, 'site-'));
    const file = join(site, 'skyhaul.yaml');
    copyFileSync(fixture, file);
    mkdirSync(join(site, 'data-14'));
    const buffer = join(site, 'data-14', 'buffer.sqlite');
    // Not a database: opening it at all would be visible (quarantine, WAL files, a rewrite).
    writeFileSync(buffer, 'stand-in for a buffer with a backlog');
    const before = { listing: readdirSync(join(site, 'data-14')), mtime: statSync(buffer).mtimeMs };
    expect(skyhaul(['run', '--config', file]).status).toBe(2);
    expect(readdirSync(join(site, 'data-14'))).toEqual(before.listing);
    expect(readFileSync(buffer, 'utf8')).toBe('stand-in for a buffer with a backlog');
    expect(statSync(buffer).mtimeMs).toBe(before.mtime);
  });
});
