import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { getAdapter } from '../../firmware-adapters/index.ts';
import { TcpInput } from '../../src/inputs/tcp/input.ts';
import { inputContext, recordsOf, until } from './helpers.ts';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** A Unihedron SQM-LE on a socket: answers `rx` with an `r,` reading. */
function sqmServer(port = 0): Promise<{ server: Server; port: number; polls: () => number; sockets: Set<Socket> }> {
  let polls = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (data) => {
      if (data.toString().includes('rx')) {
        polls += 1;
        socket.write(`r, ${(19 + polls / 100).toFixed(2)}m,0000005915Hz,0000000000c,0000000.000s, 029.9C\r\n`);
      }
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, polls: () => polls, sockets })));
}

describe('TCP input', () => {
  it('polls an instrument on a socket, commits its readings, and reconnects when the instrument goes away and comes back', async () => {
    const { buffer, context } = inputContext();
    const sqm = await sqmServer();
    const input = new TcpInput(
      { name: 'sky', host: '127.0.0.1', port: sqm.port, connectTimeoutMs: 2000, backoff: { initialMs: 100, maxMs: 500 } },
      getAdapter('unihedron-sqm', { intervalMs: 1000 }),
      context,
    );
    await input.start();
    stops.push(() => input.stop(), () => buffer.close());
    await until(() => input.status().committed >= 2, 10_000, 'two polled readings');
    const stream = buffer.streams()[0]!.stream;
    expect(stream).toMatch(/^sky\//);
    const first = recordsOf(buffer, stream)[0]!;
    expect(Object.values(first.fields)).toContain(19.01);

    // The instrument goes away: connections reset, the port closed.
    for (const socket of sqm.sockets) socket.destroy();
    await new Promise<void>((resolve) => sqm.server.close(() => resolve()));
    await until(() => input.status().state === 'reconnecting', 5000, 'reconnecting state');
    const before = input.status().committed;
    const back = await sqmServer(sqm.port);
    stops.push(() => new Promise<void>((resolve) => back.server.close(() => resolve())));
    await until(() => input.status().committed > before && input.status().state === 'running', 10_000, 'readings after reconnect');
    expect(input.status().connects).toBe(2);
  }, 30_000);
});
