/**
 * Central services as child processes (`node --import tsx central/src/main.ts <service>`), for
 * tests that kill and restart them; namespaces of their own on the dev stack's Pulsars; a Pulsar
 * publisher for records as the edge writes them; and a Kafka reader that decodes what the bridge
 * wrote, as a downstream consumer would (read_committed, values through the registry).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { fromPulsarMessage, toPulsarMessage, type TelemetryRecord } from '../../../src/record/record.ts';
import { KafkaLog, type InRecord } from '../../src/kafka/index.ts';
import { fromAvroValue } from '../../src/schemas/index.ts';
import { freePort, killChild, readLog } from '../../../test/support/processes.ts';
import { stackEnv } from './env.ts';

const centralRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = pathToFileURL(join(centralRoot, '..', 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

export interface CentralHandle {
  url: string;
  logFile: string;
  process: ChildProcess;
  waitReady(timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  restart(): Promise<void>;
  log(): string;
  metrics(): Promise<string>;
}

// Each service's directory (config and log) goes when the test process ends, unless
// SKYHAUL_TEST_KEEP_DIRS=1 (to read the logs after a failure).
const serviceDirs: string[] = [];
// Services still running when the test process ends (a crash of the harness: its cleanups never
// ran) are killed with it: a child must not outlive its test.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (process.env.SKYHAUL_TEST_KEEP_DIRS === '1') return;
  for (const dir of serviceDirs) rmSync(dir, { recursive: true, force: true });
});

/** The central services a test can start (each listens where its section says). */
export type CentralService = 'registry' | 'bridge' | 'etl' | 'archive' | 'governance';

/**
 * Writes a config file and starts `service` on it (the service's HTTP port chosen free); waits
 * for /readyz unless `options.wait` is false.
 */
export async function startCentral(service: CentralService, config: Record<string, unknown>, dir?: string, options: { wait?: boolean } = {}): Promise<CentralHandle> {
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), `skyhaul-${service}-`));
    serviceDirs.push(dir);
  }
  const port = await freePort();
  // The registry and governance sections name their port `listen` (it serves their API), the others `http`.
  const key = service === 'registry' || service === 'governance' ? 'listen' : 'http';
  const section = { [service]: { ...((config[service] as object) ?? {}), [key]: { bind: '127.0.0.1', port } } };
  const file = join(dir, `${service}.yaml`);
  writeFileSync(file, stringify({ ...config, ...section }));
  const logFile = join(dir, `${service}.log`);
  const spawnIt = (): ChildProcess => {
    const out = openSync(logFile, 'a');
    const child = spawn(process.execPath, ['--import', TSX, join(centralRoot, 'src', 'main.ts'), service, '--config', file], { stdio: ['ignore', out, out], cwd: dir });
    closeSync(out);
    running.add(child);
    child.once('exit', () => running.delete(child));
    return child;
  };
  const url = `http://127.0.0.1:${port}`;
  const handle: CentralHandle = {
    url,
    logFile,
    process: spawnIt(),
    async waitReady(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (handle.process.exitCode !== null) throw new Error(`${service} exited ${handle.process.exitCode}:\n${handle.log().slice(-3000)}`);
        const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
        if (ok) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`${service} not ready within ${timeoutMs} ms:\n${handle.log().slice(-3000)}`);
    },
    kill: (signal = 'SIGKILL') => killChild(handle.process, signal),
    async restart() {
      await handle.kill('SIGKILL');
      handle.process = spawnIt();
    },
    log: () => readLog(logFile),
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
  };
  if (options.wait !== false) {
    try {
      await handle.waitReady();
    } catch (error) {
      // The caller never gets the handle to stop it: the process must not outlive the failure.
      await handle.kill('SIGKILL').catch(() => undefined);
      throw error;
    }
  }
  return handle;
}

/** The value of a Prometheus sample (sum over label sets matching `labels`), 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? ([-0-9.e+]+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (match[2] ?? '').includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

/** A namespace of the test's own on central (and edge, replicated between them, when asked), de-duplication on. */
export async function createNamespace(namespace: string, options: { replicated?: boolean } = {}): Promise<void> {
  const clusters = options.replicated === true ? ['edge', 'central'] : ['central'];
  for (const cluster of clusters) {
    const http = stackEnv(cluster === 'edge' ? 'SKYHAUL_PULSAR_EDGE_HTTP' : 'SKYHAUL_PULSAR_CENTRAL_HTTP');
    const put = await fetch(`${http}/admin/v2/namespaces/${namespace}`, { method: 'PUT' });
    if (!put.ok && put.status !== 409) throw new Error(`creating ${namespace} on ${cluster}: HTTP ${put.status} ${await put.text()}`);
    const replication = await fetch(`${http}/admin/v2/namespaces/${namespace}/replication`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(clusters),
    });
    if (!replication.ok) throw new Error(`replication of ${namespace} on ${cluster}: HTTP ${replication.status} ${await replication.text()}`);
    // As the site namespace is configured (packaging/pulsar/standalone.conf, broker-settings.ts).
    const dedup = await fetch(`${http}/admin/v2/namespaces/${namespace}/deduplication`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'true' });
    if (!dedup.ok) throw new Error(`deduplication of ${namespace} on ${cluster}: HTTP ${dedup.status} ${await dedup.text()}`);
  }
}

/**
 * A producer straight into central Pulsar, publishing records as the edge does (key, properties,
 * payload; see src/record/record.ts). Each message waits for its ack.
 */
export class CentralPublisher {
  private constructor(private readonly ws: WebSocket) {}

  static async open(topic: string, producerName: string): Promise<CentralPublisher> {
    const base = stackEnv('SKYHAUL_PULSAR_CENTRAL_WS');
    const ws = new WebSocket(`${base}/ws/v2/producer/${topic.replace('://', '/')}?producerName=${encodeURIComponent(producerName)}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => undefined); // a later failure shows as 'close' to whoever waits
    return new CentralPublisher(ws);
  }

  send(record: TelemetryRecord): Promise<void> {
    const message = toPulsarMessage(record);
    const context = Math.random().toString(36).slice(2);
    return new Promise((resolve, reject) => {
      const onClose = (): void => {
        this.ws.off('message', onMessage);
        reject(new Error('the producer socket closed before the ack'));
      };
      const onMessage = (data: WebSocket.RawData): void => {
        const ack = JSON.parse(data.toString()) as { result: string; context?: string; errorMsg?: string };
        if (ack.context !== context) return;
        this.ws.off('message', onMessage);
        this.ws.off('close', onClose);
        if (ack.result === 'ok') resolve();
        else reject(new Error(`publish failed: ${ack.result} ${ack.errorMsg ?? ''}`));
      };
      this.ws.on('message', onMessage);
      this.ws.once('close', onClose);
      if (this.ws.readyState !== WebSocket.OPEN) return onClose();
      this.ws.send(JSON.stringify({ payload: message.payload.toString('base64'), properties: message.properties, key: message.key, context }));
    });
  }

  /**
   * Sends every record with up to `window` in flight (as the edge's forwarder pipelines), resolving
   * when all are acknowledged; rejects on the first refusal.
   */
  sendAll(records: TelemetryRecord[], window = 1000): Promise<void> {
    return new Promise((resolve, reject) => {
      let next = 0;
      let acked = 0;
      let failed = false;
      const contexts = new Set<string>();
      const pump = (): void => {
        while (!failed && next < records.length && contexts.size < window) {
          const message = toPulsarMessage(records[next]!);
          const context = `c${next}`;
          next += 1;
          contexts.add(context);
          this.ws.send(JSON.stringify({ payload: message.payload.toString('base64'), properties: message.properties, key: message.key, context }));
        }
      };
      const onMessage = (data: WebSocket.RawData): void => {
        const ack = JSON.parse(data.toString()) as { result: string; context?: string; errorMsg?: string };
        if (ack.context === undefined || !contexts.delete(ack.context)) return;
        if (ack.result !== 'ok') {
          failed = true;
          this.ws.off('message', onMessage);
          reject(new Error(`publish failed: ${ack.result} ${ack.errorMsg ?? ''}`));
          return;
        }
        acked += 1;
        if (acked === records.length) {
          this.ws.off('message', onMessage);
          resolve();
          return;
        }
        pump();
      };
      this.ws.on('message', onMessage);
      this.ws.once('close', () => {
        if (acked === records.length || failed) return;
        failed = true;
        this.ws.off('message', onMessage);
        reject(new Error(`the producer socket closed with ${records.length - acked} sends unacknowledged`));
      });
      if (records.length === 0) resolve();
      else pump();
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** A record as an adapter's reading would be (a vaisala-wxt ptu reading). */
export function reading(siteId: string, producerId: string, stream: string, sequence: number, celsius: number): TelemetryRecord {
  const ingestTime = Date.now();
  return {
    siteId,
    producerId,
    stream,
    sequence,
    sourceTime: ingestTime - 100,
    ingestTime,
    contentType: 'application/json',
    schemaRef: 'skyhaul.adapter.vaisala-wxt/v1',
    payload: Buffer.from(JSON.stringify({ fields: { air_temperature: celsius, relative_humidity: 40, air_pressure: 744.1 }, units: { air_temperature: 'Cel', relative_humidity: '%', air_pressure: 'hPa' } })),
    traceparent: `00-${Buffer.from(`${producerId}${stream}${sequence}`).toString('hex').padEnd(32, '0').slice(0, 32)}-${'a'.repeat(16)}-01`,
  };
}

/** What a downstream consumer sees in a raw topic: each record decoded back, with its Kafka coordinates ([] before the topic exists). */
export interface KafkaSeen {
  record: TelemetryRecord;
  partition: number;
  offset: bigint;
  headers: Record<string, string>;
}

export async function readRaw(topic: string, registryUrl: string): Promise<KafkaSeen[]> {
  const kafka = new KafkaLog({ bootstrap: [stackEnv('SKYHAUL_KAFKA_BOOTSTRAP')], clientId: 'test-reader' });
  const registry = new SchemaRegistry({ host: registryUrl });
  try {
    let records: InRecord[];
    try {
      records = await kafka.readToEnd(topic);
    } catch (error) {
      // The bridge creates a raw topic with its first commit: before that there is nothing to see.
      if (/Unknown topic/i.test((error as Error).message)) return [];
      throw error;
    }
    const out: KafkaSeen[] = [];
    for (const r of records.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset))) {
      const decoded = await registry.decode(r.value!);
      const payload = fromAvroValue(r.headers.schema_subject!, decoded);
      out.push({ record: fromPulsarMessage({ key: r.key, payload, properties: r.headers }), partition: r.partition, offset: r.offset, headers: r.headers });
    }
    return out;
  } finally {
    await kafka.close();
  }
}

export async function readTopic(topic: string): Promise<InRecord[]> {
  const kafka = new KafkaLog({ bootstrap: [stackEnv('SKYHAUL_KAFKA_BOOTSTRAP')], clientId: 'test-reader' });
  try {
    return await kafka.readToEnd(topic);
  } finally {
    await kafka.close();
  }
}

/** Base config for services in a test: the dev stack's Kafka (one broker) and central Pulsar. */
export function centralConfig(options: { namespace: string; registryUrl?: string; bridge?: Record<string, unknown> }): Record<string, unknown> {
  return {
    logging: { level: 'info' },
    kafka: { bootstrap: [stackEnv('SKYHAUL_KAFKA_BOOTSTRAP')], replicationFactor: 1, minInsyncReplicas: 1 },
    pulsar: { webServiceUrl: stackEnv('SKYHAUL_PULSAR_CENTRAL_HTTP'), namespace: options.namespace },
    ...(options.registryUrl === undefined ? {} : { registry: { url: options.registryUrl } }),
    bridge: { topicRefresh: '1s', ...(options.bridge ?? {}) },
  };
}
