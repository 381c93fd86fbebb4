/**
 * The processes tests start (daemons, central services, brokers): a port to give each, killing one
 * and waiting for its exit, its log. Shared by edge and central tests.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A TCP port to give a daemon or a service: from 61000-65535, above Linux's ephemeral range (32768-60999), so
 * that no outgoing connection (a Pulsar or MQTT client elsewhere on the machine) can take it
 * between this check and the daemon's bind, as port 0 from the ephemeral range allowed.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 61_000 + Math.floor(Math.random() * 4535);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free TCP port in 61000-65535');
}

/** Sends `signal` and resolves with the exit code once the child is gone (at once if it already is). */
export function killChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  return exited;
}

/** A log file's text so far ('' before the process wrote one). */
export function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
