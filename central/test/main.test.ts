/**
 * `skyhaul-central`'s command line, in process (no server): version, check-config's exit codes
 * and output, a strict parser (an unknown option or command exits 2 naming it).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CENTRAL_VERSION, main } from '../src/main.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += `${s}\n`), err: (s) => (err += `${s}\n`) });
  return { code, out, err };
}

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'skyhaul-central-cli-')), 'central.yaml');
  writeFileSync(path, text);
  return path;
}

describe('skyhaul-central command line', () => {
  it('version', async () => {
    expect(await run(['version'])).toEqual({ code: 0, out: `skyhaul-central ${CENTRAL_VERSION}\n`, err: '' });
  });

  it('check-config: 0 and "valid" for a good file; 2 and every problem with file:line for a bad one; --json for tools', async () => {
    const good = file('kafka: { bootstrap: [k1:9092], replicationFactor: 1, minInsyncReplicas: 1 }\n');
    expect(await run(['check-config', good])).toMatchObject({ code: 0, out: `${good}: valid\n` });
    const bad = file('bridge:\n  partitions: -1\n  batch: { maxDelay: soon }\n');
    const result = await run(['check-config', bad]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(`${bad}:2: bridge.partitions`);
    expect(result.err).toContain(`${bad}:3: bridge.batch.maxDelay`);
    const json = await run(['check-config', '--json', bad]);
    expect(json.code).toBe(2);
    expect((JSON.parse(json.out) as { valid: boolean; problems: unknown[] }).problems).toHaveLength(2);
    const missing = await run(['check-config', join(tmpdir(), 'no-such-dir', 'central.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read the file/);
  });

  it('an unknown option, command or extra argument exits 2 naming it, with the usage', async () => {
    const option = await run(['bridge', '--confg', 'x.yaml']);
    expect(option.code).toBe(2);
    expect(option.err).toMatch(/--confg/);
    expect(option.err).toMatch(/usage: skyhaul-central/);
    const command = await run(['brigde', '--config', file('')]);
    expect(command.code).toBe(2);
    expect(command.err).toMatch(/unknown command 'brigde'/);
    const extra = await run(['bridge', 'now', '--config', file('')]);
    expect(extra.code).toBe(2);
    expect(extra.err).toMatch(/unexpected argument 'now'/);
    expect((await run([])).code).toBe(2);
    expect((await run(['--help'])).code).toBe(0);
  });

  it('a service refuses a bad configuration before starting anything (exit 2)', async () => {
    const result = await run(['bridge', '--config', file('bridge: { topic: 7 }\n')]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/bridge\.topic/);
  });
});
