/**
 * Virtual serial port pairs from socat: two pseudo-terminals wired back to back, so a test (or
 * the site simulator) plays the instrument on one end while the daemon opens the other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SerialPair {
  /** The daemon's end (what goes in its config as the device path). */
  devicePath: string;
  /** The instrument's end. */
  instrumentPath: string;
  /** Ends socat: both ends vanish, as when a USB adapter is unplugged. */
  close(): Promise<void>;
}

export async function createSerialPair(options: { dir?: string; timeoutMs?: number } = {}): Promise<SerialPair> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'skyhaul-serial-'));
  const devicePath = join(dir, 'device');
  const instrumentPath = join(dir, 'instrument');
  const socat: ChildProcess = spawn(
    'socat',
    ['-d', '-d', `pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${instrumentPath}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  socat.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => socat.once('exit', () => resolve()));

  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  while (!(existsSync(devicePath) && existsSync(instrumentPath))) {
    if (socat.exitCode !== null || Date.now() > deadline) {
      socat.kill('SIGKILL');
      throw new Error(`socat did not create the serial pair in ${dir}: ${stderr.trim() || 'no output'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    devicePath,
    instrumentPath,
    async close() {
      if (socat.exitCode === null) socat.kill('SIGTERM');
      await exited;
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
