import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Quarantine } from '../../firmware-adapters/index.ts';
import { RecordBuffer } from '../../src/buffer/index.ts';
import type { InputContext } from '../../src/inputs/input.ts';

/** A real buffer as the sink, and the context an input gets from the daemon. */
export function inputContext(): {
  buffer: RecordBuffer;
  context: InputContext;
  quarantine: Quarantine;
  errors: Array<{ instrument: string; adapter: string; code: string }>;
  /** Input-level drops reported, by reason. */
  drops: Map<string, number>;
  flags: Array<{ instrument: string; adapter: string; flag: string }>;
} {
  const buffer = new RecordBuffer({ path: join(mkdtempSync(join(tmpdir(), 'skyhaul-input-')), 'b.sqlite'), siteId: 'test', synchronous: 'NORMAL', disk: null });
  buffer.open();
  const quarantine = new Quarantine({ capacity: 100 });
  const errors: Array<{ instrument: string; adapter: string; code: string }> = [];
  const drops = new Map<string, number>();
  const flags: Array<{ instrument: string; adapter: string; flag: string }> = [];
  return {
    buffer,
    quarantine,
    errors,
    drops,
    flags,
    context: {
      sink: buffer,
      logger: pino({ level: 'silent' }),
      siteId: 'test',
      quarantine,
      report: {
        decodeError: (instrument, adapter, code) => errors.push({ instrument, adapter, code }),
        readingFlag: (instrument, adapter, flag) => flags.push({ instrument, adapter, flag }),
        dropped: (reason, count = 1) => drops.set(reason, (drops.get(reason) ?? 0) + count),
      },
      clockTrusted: () => true,
    },
  };
}

export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** NMEA sentence with its XOR checksum. */
export function nmea(body: string): string {
  let sum = 0;
  for (const c of body) sum ^= c.charCodeAt(0);
  return `$${body}*${sum.toString(16).toUpperCase().padStart(2, '0')}\r\n`;
}

export function recordsOf(buffer: RecordBuffer, stream: string): Array<{ fields: Record<string, unknown> }> {
  return buffer.read(stream, 0, 100_000).map((r) => JSON.parse(r.payload.toString()) as { fields: Record<string, unknown> });
}

/** A Mosquitto of the test's own on a fixed port (so a restart comes back where clients look). */
export async function startMosquitto(options: { dir: string; port: number; persistence: boolean }): Promise<{ url: string; stop(): Promise<void> }> {
  const conf = join(options.dir, `mosquitto-${options.port}.conf`);
  writeFileSync(
    conf,
    ['user root', `persistence ${options.persistence}`, `persistence_location ${options.dir}/`, `listener ${options.port} 127.0.0.1`, 'allow_anonymous true', ''].join('\n'),
  );
  const broker = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  broker.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  broker.on('error', (error) => (stderr += error.message));
  const exited = new Promise<void>((resolve) => broker.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: options.port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (broker.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start on ${options.port}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${options.port}`,
    async stop() {
      if (broker.exitCode === null) broker.kill('SIGTERM');
      await exited;
    },
  };
}
