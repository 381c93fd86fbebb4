/**
 * The live event stream under many and slow clients (item 18): one status per tick whatever the
 * number of clients, and a client that stops reading is dropped instead of buffered without end.
 * A real HealthServer on a real socket; the daemon behind it is a stand-in that counts calls.
 */
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthServer, type HealthSource } from '../../src/health/server.ts';
import type { SkyhaulMetrics } from '../../src/health/metrics.ts';
import type { DaemonStatus } from '../../src/status.ts';

class Source extends EventEmitter {
  statusCalls = 0;
  /** Size of each status document, to fill a slow client's buffer quickly. */
  padding = 'x';
  readonly metrics = {} as SkyhaulMetrics;
  readiness(): { ready: boolean; reasons: string[] } {
    return { ready: true, reasons: [] };
  }
  status(): DaemonStatus {
    this.statusCalls += 1;
    return { now: Date.now(), padding: this.padding } as unknown as DaemonStatus;
  }
  historyPoints(): [] {
    return [];
  }
  quarantined(): unknown {
    return {};
  }
  pauseForwarding(): boolean {
    return false;
  }
  resumeForwarding(): boolean {
    return false;
  }
  setBandwidthOverride(): boolean {
    return false;
  }
  acknowledgeAlarm(): null {
    return null;
  }
}

const servers: HealthServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function serve(source: Source, options: { sseMaxBufferedBytes?: number; sseIntervalMs?: number } = {}): Promise<{ server: HealthServer; url: string }> {
  const server = new HealthServer({ bind: '127.0.0.1', port: 0, ...options }, source as unknown as HealthSource, pino({ level: 'silent' }));
  servers.push(server);
  const address = await server.start();
  return { server, url: `http://127.0.0.1:${address.port}` };
}

/** Opens the event stream; `read: false` leaves the response unread (a stalled client). */
function subscribe(url: string, read: boolean): Promise<{ events: () => number; closed: () => boolean; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    let events = 0;
    let closed = false;
    const req = request(`${url}/api/v1/events`, (res) => {
      if (read) res.on('data', (chunk: Buffer) => (events += chunk.toString().split('event: status').length - 1));
      else res.pause();
      res.on('close', () => (closed = true));
      res.on('error', () => (closed = true));
      resolve({ events: () => events, closed: () => closed, destroy: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('event stream', () => {
  it('computes the status once per tick for all clients, not once per client', async () => {
    const source = new Source();
    const { url } = await serve(source, { sseIntervalMs: 100 });
    const clients = await Promise.all(Array.from({ length: 10 }, () => subscribe(url, true)));
    const initial = source.statusCalls; // one each on connect
    await sleep(1050);
    const ticks = source.statusCalls - initial;
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(ticks).toBeLessThanOrEqual(12); // ~10 ticks; per client it would be ~100
    for (const c of clients) expect(c.events()).toBeGreaterThanOrEqual(3);
    for (const c of clients) c.destroy();
    await sleep(100);
    const after = source.statusCalls;
    await sleep(300);
    expect(source.statusCalls).toBe(after); // no clients, no work
  });

  it('drops a client that stops reading; the others go on', async () => {
    const source = new Source();
    source.padding = 'x'.repeat(256 * 1024);
    const { server, url } = await serve(source, { sseIntervalMs: 50, sseMaxBufferedBytes: 1024 * 1024 });
    const stalled = await subscribe(url, false);
    const reader = await subscribe(url, true);
    const deadline = Date.now() + 10_000;
    while (server.sseDropped === 0 && Date.now() < deadline) await sleep(50);
    expect(server.sseDropped).toBe(1);
    const seen = reader.events();
    await sleep(300);
    expect(reader.events()).toBeGreaterThan(seen);
    expect(reader.closed()).toBe(false);
    stalled.destroy();
    reader.destroy();
  });
});
