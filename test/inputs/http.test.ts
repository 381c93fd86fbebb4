/**
 * The HTTP push input through the real HealthServer (fastify) into a real buffer: a request
 * commits whole or not at all, so a client that retries a refused request cannot commit any of
 * its records twice; the body limit is the input's, checked before parsing; a record too large
 * for the forwarding transport is a 413 naming the limit.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Quarantine } from '../../firmware-adapters/index.ts';
import { RecordBuffer } from '../../src/buffer/index.ts';
import { HealthServer, type HealthSource } from '../../src/health/server.ts';
import { HttpInput } from '../../src/inputs/http/input.ts';
import { tempDir } from '../buffer/helpers.ts';
import { join } from 'node:path';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setUp(bufferOptions: Partial<ConstructorParameters<typeof RecordBuffer>[0]> = {}, maxRequestBytes = 64 * 1024): Promise<{ buffer: RecordBuffer; post: (body: string) => Promise<{ status: number; body: Record<string, unknown> }> }> {
  const buffer = new RecordBuffer({ path: join(tempDir(), 'b.sqlite'), siteId: 'http', disk: null, ...bufferOptions });
  buffer.open();
  const server = new HealthServer({ bind: '127.0.0.1', port: 0 }, { readiness: () => ({ ready: true, reasons: [] }) } as unknown as HealthSource, pino({ level: 'silent' }));
  const input = new HttpInput(
    { name: 'push', maxRecordsPerRequest: 1000, maxRequestBytes },
    {
      sink: { append: (r) => buffer.append(r), appendBatch: (r, o) => buffer.appendBatch(r, o), sourceMarks: (s) => buffer.sourceMarks(s) },
      logger: pino({ level: 'silent' }),
      siteId: 'http',
      quarantine: new Quarantine({ capacity: 10 }),
      report: { decodeError: () => {}, readingFlag: () => {}, dropped: () => {} },
      clockTrusted: () => true,
      routes: server,
    },
  );
  await input.start();
  const { port } = await server.start();
  cleanups.push(async () => {
    await server.stop();
    await buffer.close();
  });
  return {
    buffer,
    post: async (body) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/inputs/push/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
  };
}

const records = (stream: string, n: number, bytes = 100): string => JSON.stringify({ records: Array.from({ length: n }, (_, i) => ({ stream, payload: `${i}`.padEnd(bytes, '.') })) });

describe('HTTP push input', () => {
  it('commits a request whole or not at all: a refused request leaves nothing, and its retry commits each record once', async () => {
    // Room for about 15 records of this size: a 10-record request fits once, not twice.
    const { buffer, post } = await setUp({ quotaBytes: 15 * 290, policies: { telemetry: 'drop-newest' } });
    const first = await post(records('dome/status', 10));
    expect(first.status).toBe(200);
    const refused = await post(records('dome/status', 10));
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: { code: 'SKY_ERR_BUFFER_FULL' }, committed: [] });
    expect(buffer.streams().find((s) => s.stream === 'dome/status')?.records).toBe(10); // not 15
    buffer.ack('dome/status', 10); // the link drained it
    const retry = await post(records('dome/status', 10));
    expect(retry.status).toBe(200);
    expect((retry.body.committed as Array<{ sequence: number }>).map((c) => c.sequence)).toEqual(Array.from({ length: 10 }, (_, i) => 11 + i));
  });

  it('refuses a body over maxRequestSize before parsing it, and a record the transport could not carry with 413 naming the limit', async () => {
    const { buffer, post } = await setUp({ maxRecordBytes: 1000 }, 8 * 1024);
    expect((await post(records('camera/allsky', 100, 200))).status).toBe(413); // ~22 KB body
    const tooLarge = await post(records('camera/allsky', 1, 2000));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toMatchObject({ error: { code: 'SKY_ERR_RECORD_TOO_LARGE', message: expect.stringMatching(/at most 1000 bytes/) } });
    expect(buffer.stats().records).toBe(0);
    expect((await post(records('camera/allsky', 3, 200))).status).toBe(200);
  });
});
