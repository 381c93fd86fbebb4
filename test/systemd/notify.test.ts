/**
 * sd_notify through a real notify socket: a unix datagram socket bound by a small Python
 * listener (fixtures/notify-listener.py, standing in for the service manager, which also sees
 * the sender's PID), the real systemd-notify in between, and src/systemd/notify.ts driving it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SystemdNotifier } from '../../src/systemd/notify.ts';
import { ensureDebianPackages } from '../../packaging/dev-stack/stack.ts';
import { startDaemon, TSX_LOADER } from '../support/daemon.ts';

const here = dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const children: ChildProcess[] = [];

beforeAll(() => {
  // The real systemd-notify, and Python for the listener.
  ensureDebianPackages({ 'systemd-notify': 'systemd', python3: 'python3' });
}, 600_000);

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skyhaul-notify-'));
  dirs.push(dir);
  return dir;
}

interface Received {
  message: string;
  pid: number | null;
}

/** The notify socket: every datagram it receives, in order. */
class Listener {
  readonly messages: Received[] = [];
  private waiters: Array<() => void> = [];

  private constructor(
    readonly address: string,
    private readonly child: ChildProcess,
  ) {}

  static async open(address: string): Promise<Listener> {
    const child = spawn('python3', [join(here, 'fixtures', 'notify-listener.py'), address], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const listener = new Listener(address, child);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`listener exited with ${code}`)));
      lines.on('line', (line) => {
        const event = JSON.parse(line) as { listening?: string; message?: string; pid?: number | null };
        if (event.listening !== undefined) resolve();
        if (event.message !== undefined) {
          listener.messages.push({ message: event.message, pid: event.pid ?? null });
          for (const wake of listener.waiters.splice(0)) wake();
        }
      });
    });
    return listener;
  }

  /** Payloads other than systemd-notify's own BARRIER=1 round trips. */
  get payloads(): string[] {
    return this.messages.map((m) => m.message).filter((m) => m !== 'BARRIER=1');
  }

  async waitFor(predicate: (payloads: string[]) => boolean, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.payloads)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; received so far: ${JSON.stringify(this.payloads)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.payloads;
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

describe('sd_notify (src/systemd/notify.ts)', () => {
  it('sends READY=1, STATUS=, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1, in order, to a path socket', async () => {
    const dir = tempDir();
    const listener = await Listener.open(join(dir, 'notify'));
    const errors: Error[] = [];
    const notifier = new SystemdNotifier({
      env: { NOTIFY_SOCKET: listener.address, WATCHDOG_USEC: '300000', PATH: process.env.PATH },
      onError: (error) => errors.push(error),
    });
    expect(notifier.enabled).toBe(true);
    expect(notifier.watchdogUsec).toBe(300_000);

    const startedAt = Date.now();
    notifier.startWatchdog();
    expect(await notifier.ready('ready: buffer open, 3 inputs')).toBe(true);
    // Pings every 150 ms: several within a second.
    await listener.waitFor((p) => p.filter((m) => m === 'WATCHDOG=1').length >= 4);
    const elapsed = Date.now() - startedAt;
    expect(await notifier.status('link up, backlog 0')).toBe(true);
    expect(await notifier.stopping('stopping (SIGTERM)')).toBe(true);
    const payloads = await listener.waitFor((p) => p.some((m) => m.startsWith('STOPPING=1')));
    listener.close();

    expect(errors).toEqual([]);
    expect(payloads[0]).toBe('READY=1\nSTATUS=ready: buffer open, 3 inputs');
    const pings = payloads.filter((m) => m === 'WATCHDOG=1').length;
    // At 150 ms intervals, not a burst and not one per second.
    expect(pings).toBeGreaterThanOrEqual(4);
    expect(pings).toBeLessThanOrEqual(Math.ceil(elapsed / 150) + 2);
    expect(payloads).toContain('STATUS=link up, backlog 0');
    expect(payloads.at(-1)).toBe('STOPPING=1\nSTATUS=stopping (SIGTERM)');
    // systemd-notify waited for its barrier: the manager had the message while the sender lived.
    expect(listener.messages.some((m) => m.message === 'BARRIER=1')).toBe(true);
    // No ping after STOPPING=1: the watchdog stopped with it.
    const countAfterStop = listener.payloads.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(listener.payloads.length).toBe(countAfterStop);
  });

  it('reaches an abstract socket (NOTIFY_SOCKET=@name), as systemd in a container may hand out', async () => {
    const address = `@skyhaul-test-${process.pid}-${Date.now()}`;
    const listener = await Listener.open(address);
    const notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: address, PATH: process.env.PATH } });
    expect(await notifier.ready()).toBe(true);
    expect(await notifier.reloading('reloading configuration')).toBe(true);
    expect(await notifier.ready('reloaded')).toBe(true);
    const payloads = await listener.waitFor((p) => p.length >= 3);
    listener.close();
    expect(payloads[0]).toBe('READY=1');
    expect(payloads[1]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading configuration$/);
    expect(payloads[2]).toBe('READY=1\nSTATUS=reloaded');
  });

  it('keeps one message on one line: a newline in STATUS= cannot inject another assignment', async () => {
    const dir = tempDir();
    const listener = await Listener.open(join(dir, 'notify'));
    const notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: listener.address, PATH: process.env.PATH } });
    await notifier.status('disk low\nREADY=1');
    const [payload] = await listener.waitFor((p) => p.length >= 1);
    listener.close();
    expect(payload).toBe('STATUS=disk low READY=1');
  });

  it('is silent without NOTIFY_SOCKET: nothing is spawned, every call resolves false', async () => {
    const dir = tempDir();
    // A systemd-notify that leaves a mark if anything runs it.
    const fake = join(dir, 'systemd-notify');
    writeFileSync(fake, `#!/bin/sh\ntouch ${join(dir, 'ran')}\n`);
    chmodSync(fake, 0o755);
    const errors: Error[] = [];
    const notifier = new SystemdNotifier({ env: { WATCHDOG_USEC: '100000', PATH: dir }, command: fake, onError: (e) => errors.push(e) });
    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogUsec).toBeNull();
    notifier.startWatchdog();
    expect(await notifier.ready('x')).toBe(false);
    expect(await notifier.status('x')).toBe(false);
    expect(await notifier.stopping()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    notifier.stopWatchdog();
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(errors).toEqual([]);
  });

  it('leaves the watchdog alone when WATCHDOG_PID names another process', async () => {
    const dir = tempDir();
    const listener = await Listener.open(join(dir, 'notify'));
    const notifier = new SystemdNotifier({
      env: { NOTIFY_SOCKET: listener.address, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid + 1), PATH: process.env.PATH },
    });
    expect(notifier.watchdogUsec).toBeNull();
    notifier.startWatchdog();
    await notifier.ready();
    await new Promise((resolve) => setTimeout(resolve, 400));
    listener.close();
    expect(listener.payloads).toEqual(['READY=1']);
  });

  it('withholds pings while healthy() is false, so that systemd would restart a wedged daemon', async () => {
    const dir = tempDir();
    const listener = await Listener.open(join(dir, 'notify'));
    const notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: listener.address, WATCHDOG_USEC: '100000', PATH: process.env.PATH } });
    let healthy = false;
    notifier.startWatchdog({ healthy: () => healthy });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(listener.payloads).toEqual([]);
    healthy = true;
    await listener.waitFor((p) => p.includes('WATCHDOG=1'));
    notifier.stopWatchdog();
    listener.close();
  });

  it('reports a missing systemd-notify once, clearly, and does not throw', async () => {
    const dir = tempDir();
    const errors: Error[] = [];
    const notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: join(dir, 'notify') }, command: join(dir, 'no-such-systemd-notify'), onError: (e) => errors.push(e) });
    expect(await notifier.ready()).toBe(false);
    expect(await notifier.status('x')).toBe(false);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/NOTIFY_SOCKET is set but .*no-such-systemd-notify was not found/);
  });

  it('works from process.env through the module functions, in a process of its own (unprivileged, as the unit runs it)', async () => {
    const dir = tempDir();
    const listener = await Listener.open(join(dir, 'notify'));
    // The daemon runs as the unprivileged skyhaul user: do the same when the tests run as root.
    const asNobody = process.getuid?.() === 0;
    if (asNobody) {
      chmodSync(dir, 0o755);
      chmodSync(listener.address, 0o777);
    }
    const child = spawn(process.execPath, ['--import', TSX_LOADER, join(here, 'fixtures', 'notify-child.ts')], {
      env: { PATH: process.env.PATH, HOME: dir, NOTIFY_SOCKET: listener.address, WATCHDOG_USEC: '200000', HOLD_MS: '500' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(asNobody ? { uid: 65534, gid: 65534 } : {}),
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(0);
    const payloads = await listener.waitFor((p) => p.some((m) => m.startsWith('STOPPING=1')));
    listener.close();
    expect(payloads[0]).toBe('STATUS=opening buffer');
    expect(payloads[1]).toBe('READY=1\nSTATUS=ready: 2 inputs');
    expect(payloads.filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(2);
    expect(payloads.at(-1)).toBe('STOPPING=1\nSTATUS=stopping (SIGTERM)');
    // Unprivileged, systemd-notify cannot send in the daemon's name (faking the PID in
    // SCM_CREDENTIALS needs CAP_SYS_ADMIN): the manager sees the helper as the sender, hence
    // NotifyAccess=all in skyhaul.service. (As root it can, and does, use the parent's PID.)
    const { pid } = JSON.parse(stdout.split('\n')[0]!) as { pid: number };
    const senders = new Set(listener.messages.map((m) => m.pid));
    expect([...senders].every((p) => typeof p === 'number' && p > 0)).toBe(true);
    if (asNobody) expect(senders.has(pid)).toBe(false);
  });
});

// The daemon itself: src/main.ts calls the module around start, reload and stop.
describe('the daemon under a notify socket', () => {
  it('sends READY=1 only once /readyz answers, pings the watchdog, and STOPPING=1 on SIGTERM', async () => {
    const dir = tempDir();
    const listener = await Listener.open(join(dir, 'notify'));
    const daemon = await startDaemon({
      dir,
      config: { site: { id: 'notify-site' }, inputs: [{ type: 'http', name: 'push' }] },
      env: { NOTIFY_SOCKET: listener.address, WATCHDOG_USEC: '400000' },
      wait: false,
    });
    try {
      await listener.waitFor((p) => p.some((m) => m.split('\n').includes('READY=1')), 30_000);
      const ready = await fetch(`${daemon.url}/readyz`, { signal: AbortSignal.timeout(5000) });
      expect(ready.status).toBe(200);
      await listener.waitFor((p) => p.filter((m) => m === 'WATCHDOG=1').length >= 3);
      expect(await daemon.kill('SIGTERM')).toBe(0);
      const payloads = await listener.waitFor((p) => p.some((m) => m.split('\n').includes('STOPPING=1')));
      expect(payloads.findIndex((m) => m.split('\n').includes('READY=1'))).toBeLessThan(payloads.findIndex((m) => m.split('\n').includes('STOPPING=1')));
    } finally {
      await daemon.kill('SIGKILL');
      listener.close();
    }
  });
});
