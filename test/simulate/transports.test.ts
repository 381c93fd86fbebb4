/**
 * The simulator's serial link (src/simulate/transports.ts SerialLink) over a real socat pty pair:
 * a device end nobody reads never hangs the simulator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SerialLink } from '../../src/simulate/transports.ts';

const dir = mkdtempSync(join(tmpdir(), 'skyhaul-serial-link-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SerialLink', () => {
  it('with nobody reading the device end, writes fail once the pty is full instead of blocking, and vanish() returns', { timeout: 30_000 }, async () => {
    const link = new SerialLink(join(dir, 'a.device'), join(dir, 'a.instrument'));
    await link.appear();
    const frame = Buffer.alloc(512, 0x41);
    const results: boolean[] = [];
    // Far more than a pty holds (a few KiB): a blocking write would never return here.
    for (let i = 0; i < 400 && !results.includes(false); i++) results.push(await link.write(frame));
    expect(results.slice(0, 2)).toEqual([true, true]);
    expect(results.at(-1)).toBe(false);
    await link.vanish();
    expect(link.up).toBe(false);
  });

  it('waitOpenedByPeer: false while nobody else has the device open, true once another process opens it', { timeout: 30_000 }, async () => {
    const link = new SerialLink(join(dir, 'c.device'), join(dir, 'c.instrument'));
    await link.appear();
    try {
      expect(await link.waitOpenedByPeer(200)).toBe(false);
      // A reader in another process, as the daemon is: it holds the device as its stdin.
      const spawnReader = (): ChildProcess => {
        const fd = openSync(join(dir, 'c.device'), 'r');
        const reader = spawn('sleep', ['20'], { stdio: [fd, 'ignore', 'ignore'] });
        closeSync(fd);
        return reader;
      };
      const first = spawnReader();
      try {
        expect(await link.waitOpenedByPeer(10_000)).toBe(true);
      } finally {
        first.kill('SIGKILL');
        await once(first, 'exit');
      }
      // The remembered reader is gone: a new one (a restarted daemon) is found by a full scan.
      await link.vanish();
      await link.appear();
      expect(await link.waitOpenedByPeer(200)).toBe(false);
      const second = spawnReader();
      try {
        expect(await link.waitOpenedByPeer(10_000)).toBe(true);
        // The remembered reader lives on but does not reopen the device; another process does.
        await link.vanish();
        await link.appear();
        const waiting = link.waitOpenedByPeer(10_000);
        await sleep(300); // after the wait's first full scan
        const third = spawnReader();
        try {
          expect(await waiting).toBe(true);
        } finally {
          third.kill('SIGKILL');
          await once(third, 'exit');
        }
      } finally {
        second.kill('SIGKILL');
        await once(second, 'exit');
      }
    } finally {
      await link.vanish();
    }
  });

  it('with the device end read, every frame arrives whole and in order', { timeout: 30_000 }, async () => {
    const link = new SerialLink(join(dir, 'b.device'), join(dir, 'b.instrument'));
    await link.appear();
    const device = await open(join(dir, 'b.device'), 'r');
    const chunks: Buffer[] = [];
    const reading = (async () => {
      const buf = Buffer.alloc(65536);
      for (;;) {
        const { bytesRead } = await device.read(buf, 0, buf.length).catch(() => ({ bytesRead: 0 }));
        if (bytesRead === 0) return;
        chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
        if (Buffer.concat(chunks).length >= 200 * 300) return;
      }
    })();
    const frames = Array.from({ length: 200 }, (_, i) => Buffer.from(`${String(i).padStart(5, '0')}${'x'.repeat(294)}\n`));
    const sent = await Promise.all(frames.map((f) => link.write(f)));
    await reading;
    expect(sent.every(Boolean)).toBe(true);
    expect(Buffer.concat(chunks).equals(Buffer.concat(frames))).toBe(true);
    await device.close();
    await link.vanish();
  });
});
