/**
 * End-to-end ingest through the HTTP push input of the bundled daemon (a child process):
 * POST /api/v1/inputs/push/records, acknowledged (200) only after the batch is durable.
 */
import http from 'node:http';
import { join } from 'node:path';
import { startDaemon, type DaemonHandle } from '../support/daemon.ts';
import { PAYLOAD_BYTES } from './ingest.ts';
import { CpuMeter, percentile, type Cleanup } from './util.ts';

export interface HttpIngestResult {
  records: number;
  seconds: number;
  recordsPerSecond: number;
  requests: number;
  failedRequests: number;
  requestP50Ms: number;
  requestP99Ms: number;
  clients: number;
  recordsPerRequest: number;
  streams: number;
  /** Average cores: the daemon, and this process (the HTTP clients). */
  cpuCores: Record<string, number>;
}

function post(agent: http.Agent, url: URL, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * `clients` keep-alive connections, each posting `recordsPerRequest` records of 200 bytes and
 * waiting for the 200 before the next, for `durationMs`. Counts acknowledged records only.
 */
export async function measureHttpIngest(
  options: { dir: string; durationMs: number; clients: number; recordsPerRequest: number; streams: number },
  cleanup: Cleanup,
): Promise<HttpIngestResult> {
  const daemon: DaemonHandle = await startDaemon({
    dir: join(options.dir, 'http-ingest'),
    config: { site: { id: 'bench-http' }, logging: { level: 'warn' }, forward: { enabled: false }, inputs: [{ type: 'http', name: 'push', maxRecordsPerRequest: 100_000 }] },
  });
  const stopDaemon = cleanup.add('http-ingest daemon', async () => {
    await daemon.kill('SIGKILL');
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  try {
    const url = new URL(`${daemon.url}/api/v1/inputs/push/records`);
    const payload = 'x'.repeat(PAYLOAD_BYTES);
    const bodies = Array.from({ length: options.streams }, (_, s) =>
      JSON.stringify({ records: Array.from({ length: options.recordsPerRequest }, () => ({ stream: `bench/http${s}`, payload })) }),
    );
    // Warm-up: fastify route compilation, first stream rows.
    for (const body of bodies) await post(agent, url, body);

    const latencies: number[] = [];
    let records = 0;
    let requests = 0;
    let failed = 0;
    let stop = false;
    const t0 = performance.now();
    const cpu = new CpuMeter({ daemon: daemon.process.pid, clients: process.pid }).start();
    const deadline = t0 + options.durationMs;
    const client = async (id: number): Promise<void> => {
      let n = id;
      while (!stop) {
        const start = performance.now();
        const res = await post(agent, url, bodies[n++ % bodies.length]!);
        const end = performance.now();
        requests += 1;
        if (res.status === 200) {
          records += options.recordsPerRequest;
          latencies.push(end - start);
        } else failed += 1;
        if (end >= deadline) stop = true;
      }
    };
    await Promise.all(Array.from({ length: options.clients }, (_, id) => client(id)));
    const seconds = (performance.now() - t0) / 1000;
    const cpuCores = cpu.stop();
    return {
      records,
      seconds,
      recordsPerSecond: records / seconds,
      requests,
      failedRequests: failed,
      requestP50Ms: percentile(latencies, 50),
      requestP99Ms: percentile(latencies, 99),
      clients: options.clients,
      recordsPerRequest: options.recordsPerRequest,
      streams: options.streams,
      cpuCores,
    };
  } finally {
    agent.destroy();
    await daemon.kill('SIGTERM');
    await stopDaemon();
  }
}
