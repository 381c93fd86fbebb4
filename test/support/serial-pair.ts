/**
 * Virtual serial port pairs from socat: two pseudo-terminals wired back to back, so a test (or
 * the site simulator) plays the instrument on one end while the daemon opens the other.
 *
 * The socat is the simulator's own (src/simulate/transports.ts spawnPtyPair): its spawn errors are
 * handled (a missing socat is SKY_ERR_TRANSPORT_UNAVAILABLE with how to install it) and it dies
 * with the test process, even when that is killed with SIGKILL (parent-death signal).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnPtyPair } from '../../src/simulate/transports.ts';

export interface SerialPair {
  /** The daemon's end (what goes in its config as the device path). */
  devicePath: string;
  /** The instrument's end. */
  instrumentPath: string;
  /** Ends socat: both ends vanish, as when a USB adapter is unplugged. */
  close(): Promise<void>;
}

/**
 * Starts a pair in `dir` (default: a new temp dir, removed by close()) as `device` and
 * `instrument`; rejects when socat is missing or did not create the pair within `timeoutMs`.
 */
export async function createSerialPair(options: { dir?: string; timeoutMs?: number } = {}): Promise<SerialPair> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'skyhaul-serial-'));
  const devicePath = join(dir, 'device');
  const instrumentPath = join(dir, 'instrument');
  let pair;
  try {
    pair = await spawnPtyPair(devicePath, instrumentPath, options.timeoutMs ?? 5000);
  } catch (error) {
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const { socat, exited } = pair;
  return {
    devicePath,
    instrumentPath,
    async close() {
      if (socat.exitCode === null && socat.signalCode === null) socat.kill('SIGTERM');
      await exited;
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
