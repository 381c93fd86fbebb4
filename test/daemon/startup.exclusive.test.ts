/**
 * Invariant 5: the daemon starts in bounded time whatever the backlog, and starts even when the
 * buffer file is corrupt (quarantines it and raises the alarm). Runs in the 'exclusive' project
 * (alone), so that start-up time is measured without another test file competing for the CPU.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';
import { startDaemon, TSX_LOADER } from '../support/daemon.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

describe('daemon start-up', () => {
  it('starts on a corrupt buffer file: quarantines it, opens a fresh one, raises the alarm in status and logs', async () => {
    const dir = tempDir('skyhaul-corrupt-');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'buffer.sqlite'), Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8192, 0xa5)]));
    const daemon = await startDaemon({ dir, config: { site: { id: 'corrupt-site' }, inputs: [{ type: 'http', name: 'push' }] } });
    try {
      const status = await daemon.status();
      const alarm = status.alarms.find((a) => a.code === 'buffer_quarantined');
      expect(alarm, JSON.stringify(status.alarms)).toBeDefined();
      expect(status.readiness.reasons.join(' ')).toMatch(/quarantin/);
      const moved = readdirSync(join(dir, 'data')).filter((f) => f.includes('quarantined'));
      expect(moved.length).toBeGreaterThan(0);
      expect(alarm!.message).toContain(moved[0]!.split('-wal')[0]!.split('-shm')[0]!);
      // The fresh buffer works.
      const pushed = await daemon.push([{ stream: 'weather/wxt536', payload: 'Ta=11.2C' }]);
      expect(pushed.status).toBe(200);
      expect(daemon.log()).toMatch(/quarantin/);
    } finally {
      await daemon.kill('SIGTERM');
    }
  }, 60_000);

  it('refuses to start on a healthy buffer of a newer schema (field report scenario 3): clear error, file untouched, never quarantined', async () => {
    const dir = tempDir('skyhaul-downgrade-');
    const file = join(dir, 'data', 'buffer.sqlite');
    const first = await startDaemon({ dir, config: { site: { id: 'downgrade-site' }, forward: { enabled: false }, inputs: [{ type: 'http', name: 'push' }] } });
    try {
      expect((await first.push([{ stream: 'weather/wxt536', payload: 'Ta=11.2C' }])).status).toBe(200);
    } finally {
      await first.kill('SIGTERM');
    }
    const db = new Database(file);
    db.prepare(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`).run();
    db.close();
    const before = readFileSync(file);
    const listing = readdirSync(join(dir, 'data')).sort();
    const second = await startDaemon({ dir, config: { site: { id: 'downgrade-site' }, forward: { enabled: false } }, wait: false });
    const code = await new Promise<number | null>((resolve) => second.process.once('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(second.log()).toContain(file);
    expect(second.log()).toMatch(/schema version 99 was written by a newer Skyhaul/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(join(dir, 'data')).sort()).toEqual(listing);
  }, 60_000);

  it('restarts with a 5,000,000-record backlog and is ready within 1 s', async () => {
    const dir = tempDir('skyhaul-backlog-');
    const file = join(dir, 'data', 'buffer.sqlite');
    mkdirSync(join(dir, 'data'), { recursive: true });
    // In a child process (and awaited, not sync): building 5M records takes minutes, and the
    // test worker must keep answering the runner meanwhile.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', TSX_LOADER, join(repoRoot, 'test/daemon/fixtures/make-backlog.ts'), file, 'backlog-site', '5000000', '50'],
      { encoding: 'utf8', timeout: 600_000 },
    );
    console.log(`backlog built: ${stdout.trim()}`);
    expect(existsSync(file)).toBe(true);
    // Forwarding off, so the backlog stays put while we measure. Three restarts, the median kept.
    const daemon = await startDaemon({ dir, config: { site: { id: 'backlog-site' }, forward: { enabled: false } }, wait: false });
    try {
      const readies: number[] = [];
      let opens: number[] = [];
      for (let run = 0; run < 3; run++) {
        if (run > 0) await daemon.restart();
        await daemon.waitReady(30_000);
        const status = await daemon.status();
        expect(status.backlog.records).toBe(5_000_000);
        readies.push(status.startup.readyMs!);
        opens = [...opens, status.startup.bufferOpenMs!];
      }
      const median = [...readies].sort((a, b) => a - b)[1]!;
      console.log(`5M backlog: buffer open ${opens.join('/')} ms, ready ${readies.join('/')} ms after process start (median ${median})`);
      expect(median).toBeLessThanOrEqual(1000);
      expect(Math.max(...opens)).toBeLessThanOrEqual(250);
    } finally {
      await daemon.kill('SIGTERM');
    }
  }, 900_000);
});
