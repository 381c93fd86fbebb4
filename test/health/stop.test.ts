/**
 * HealthServer.stop on real sockets: a request in flight is answered if it finishes within the
 * grace, and a request that never finishes is cut after it, so a stop cannot hang on a client.
 */
import { request } from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { HealthServer, type HealthSource } from '../../src/health/server.ts';

function serverWith(handler: () => Promise<{ status: number; body: unknown }>): HealthServer {
  const server = new HealthServer({ bind: '127.0.0.1', port: 0 }, { readiness: () => ({ ready: true, reasons: [] }) } as unknown as HealthSource, pino({ level: 'silent' }));
  server.post('/push', handler);
  return server;
}

/** POSTs to the server; resolves with the status, or with the socket error when the connection is cut. */
function post(port: number): { sent: Promise<void>; outcome: Promise<{ status: number } | { error: string }> } {
  let onSent: () => void = () => {};
  const sent = new Promise<void>((resolve) => (onSent = resolve));
  const outcome = new Promise<{ status: number } | { error: string }>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/push', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end('{}', onSent);
  });
  return { sent, outcome };
}

describe('HealthServer.stop', () => {
  it('answers a request that finishes within the grace', async () => {
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const server = serverWith(async () => {
      entered();
      await new Promise<void>((resolve) => (release = resolve));
      return { status: 200, body: { ok: true } };
    });
    const { port } = await server.start();
    const { outcome } = post(port);
    await inHandler;
    const stopped = server.stop(60_000);
    release();
    await stopped;
    expect(await outcome).toEqual({ status: 200 });
  });

  it('cuts a request that never finishes once the grace is over, and resolves', async () => {
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const server = serverWith(async () => {
      entered();
      return new Promise(() => {});
    });
    const { port } = await server.start();
    const { outcome } = post(port);
    await inHandler;
    // Without the cut, fastify's close waits for this request forever and the test times out.
    await server.stop(100);
    expect(await outcome).toEqual({ error: 'ECONNRESET' });
  });
});
