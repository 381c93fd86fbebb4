/**
 * The control plane as tests run it: the governance service as a child process on the dev
 * stack's RabbitMQ and Kafka (topics of the test's own), the real edge daemon (the bundle) whose
 * WAN link — to RabbitMQ and to Pulsar — runs through link simulators, operators' tokens, and
 * readers of the audit topic and of RabbitMQ's management API. Each rig has a RabbitMQ virtual
 * host of its own (the topology's names are fixed by the contract, and two governance services on
 * one vhost would share the results queue: that is how instances scale, not how tests isolate),
 * deleted again by close().
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from 'rabbitmq-client';
import type { AuditRecord } from '../../../src/record/command.ts';
import { startDaemon, type DaemonHandle, type DaemonStatus } from '../../../test/support/daemon.ts';
import { LinkSimulator } from '../../../test/support/link-sim.ts';
import { readTopic, startCentral, type CentralHandle } from '../support/central.ts';
import { stackEnv, unique } from '../support/env.ts';

/** Operators: a token each, by role. `sam` may command only the rig's first site. */
export const OPERATORS = {
  olga: { role: 'observer', token: `olga-${randomBytes(12).toString('hex')}` },
  alice: { role: 'operator', token: `alice-${randomBytes(12).toString('hex')}` },
  adam: { role: 'admin', token: `adam-${randomBytes(12).toString('hex')}` },
  sam: { role: 'operator', token: `sam-${randomBytes(12).toString('hex')}` },
} as const;
export type OperatorName = keyof typeof OPERATORS;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export function amqpEndpoint(): { host: string; port: number } {
  const url = new URL(stackEnv('SKYHAUL_RABBITMQ_URL'));
  return { host: url.hostname, port: Number(url.port) };
}

/** RabbitMQ's management HTTP API as guest (loopback). */
export async function management(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${stackEnv('SKYHAUL_RABBITMQ_MANAGEMENT')}/api${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
}

/**
 * Messages ready in a queue, and its consumers, at once (AMQP queue.declare passive: the
 * management API's counts lag by its statistics interval).
 */
export async function queueDepth(vhost: string, queue: string): Promise<{ messages: number; consumers: number }> {
  const rabbit = new Connection(`amqp://guest:guest@127.0.0.1:${amqpEndpoint().port}/${encodeURIComponent(vhost)}`);
  try {
    const ok = await rabbit.queueDeclare({ queue, passive: true });
    return { messages: ok.messageCount, consumers: ok.consumerCount };
  } finally {
    await rabbit.close();
  }
}

export interface Answer {
  status: number;
  headers: Headers;
  body: { command?: CommandDoc; commands?: CommandDoc[]; error?: { code: string; message: string } };
}

export interface CommandDoc {
  id: string;
  correlationId: string;
  traceparent: string;
  operator: string;
  site: string;
  command: string;
  params: Record<string, unknown> | null;
  state: string;
  finished: boolean;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  events: Array<{ event: string; state: string | null; source: string }>;
}

export interface RigOptions {
  /** Sites besides the edge's (each gets its queue). */
  extraSites?: number;
  /** Start an edge daemon for the first site (default true). */
  edge?: boolean;
  /** Governance settings merged over the rig's. */
  governance?: Record<string, unknown>;
  /** Edge settings merged over the rig's (control, forward, inputs). */
  edgeConfig?: Record<string, unknown>;
  /** The edge's control channel connects to RabbitMQ directly, not through the link simulator (benchmarks: no proxy hop). */
  directAmqp?: boolean;
}

export class ControlRig {
  readonly dir = mkdtempSync(join(tmpdir(), 'skyhaul-control-'));
  readonly auditTopic = unique('test.control.audit');
  readonly sitesTopic = unique('test.control.sites');
  readonly site: string;
  readonly sites: string[];
  /** The rig's RabbitMQ virtual host. */
  readonly vhost: string;
  governance!: CentralHandle;
  edge: DaemonHandle | null = null;
  /** The edge's WAN link to RabbitMQ. */
  amqpLink!: LinkSimulator;
  /** The edge's WAN link to its Pulsar. */
  pulsarLink!: LinkSimulator;

  constructor(private readonly options: RigOptions = {}) {
    const base = unique('ctl').replace(/[^a-z0-9-]/g, '');
    this.site = base.slice(0, 50);
    this.sites = [this.site, ...Array.from({ length: options.extraSites ?? 1 }, (_, i) => `${this.site}-x${i}`)];
    this.vhost = `test-${this.site}`;
  }

  /** amqp://guest@host:port/<vhost> (the password separately, as production configures it). */
  amqpUrl(port = amqpEndpoint().port): string {
    return `amqp://guest@127.0.0.1:${port}/${encodeURIComponent(this.vhost)}`;
  }

  governanceConfig(): Record<string, unknown> {
    return {
      logging: { level: 'info' },
      kafka: { bootstrap: [stackEnv('SKYHAUL_KAFKA_BOOTSTRAP')], replicationFactor: 1, minInsyncReplicas: 1 },
      governance: {
        amqp: { url: this.amqpUrl(), password: 'guest', heartbeat: '5s', reconnect: { initial: '200ms', max: '2s' } },
        auditTopic: this.auditTopic,
        auditPartitions: 3,
        sitesTopic: this.sitesTopic,
        sites: this.sites.map((id) => ({ id })),
        tokens: (Object.entries(OPERATORS) as Array<[OperatorName, (typeof OPERATORS)[OperatorName]]>).map(([name, o]) => ({
          name,
          role: o.role,
          sites: name === 'sam' ? [this.site] : ['*'],
          sha256: sha256(o.token),
        })),
        replyTimeout: '15s',
        ...(this.options.governance ?? {}),
      },
    };
  }

  async start(): Promise<this> {
    const vhost = await management('PUT', `/vhosts/${encodeURIComponent(this.vhost)}`);
    if (!vhost.ok) throw new Error(`creating vhost ${this.vhost}: HTTP ${vhost.status} ${await vhost.text()}`);
    const permissions = await management('PUT', `/permissions/${encodeURIComponent(this.vhost)}/guest`, { configure: '.*', write: '.*', read: '.*' });
    if (!permissions.ok) throw new Error(`permissions on ${this.vhost}: HTTP ${permissions.status}`);
    this.governance = await startCentral('governance', this.governanceConfig(), this.dir);
    const rabbit = amqpEndpoint();
    this.amqpLink = new LinkSimulator({ target: rabbit });
    await this.amqpLink.start();
    const pulsar = new URL(stackEnv('SKYHAUL_PULSAR_EDGE_HTTP'));
    this.pulsarLink = new LinkSimulator({ target: { host: pulsar.hostname, port: Number(pulsar.port) } });
    await this.pulsarLink.start();
    if (this.options.edge !== false) await this.startEdge();
    return this;
  }

  edgeDaemonConfig(): Record<string, unknown> {
    const extra = this.options.edgeConfig ?? {};
    return {
      site: { id: this.site },
      http: { token: 'edge-local-token' },
      forward: { url: `http://127.0.0.1:${this.pulsarLink.port}`, deadLinkTimeout: '5s', backoff: { initial: '100ms', max: '1s' }, brokerChecks: { enabled: false }, ...((extra.forward as object) ?? {}) },
      control: {
        enabled: true,
        url: this.options.directAmqp === true ? this.amqpUrl() : this.amqpUrl(this.amqpLink.port),
        password: 'guest',
        heartbeat: '2s',
        backoff: { initial: '200ms', max: '1s' },
        reportInterval: '2s',
        ...((extra.control as object) ?? {}),
      },
      jobs: { selfTest: '0 0 1 1 *' },
      inputs: (extra.inputs as unknown[]) ?? [{ type: 'http', name: 'push' }],
    };
  }

  async startEdge(): Promise<DaemonHandle> {
    this.edge = await startDaemon({ dir: join(this.dir, 'edge'), config: this.edgeDaemonConfig() });
    await this.waitFor(async () => (await this.edgeStatus()).control?.state === 'connected', 'the edge control channel connected');
    return this.edge;
  }

  async edgeStatus(): Promise<DaemonStatus & { control: { state: string; received: number; executed: number; fromJournal: number; refused: number; expired: number } | null }> {
    return (await this.edge!.status()) as never;
  }

  /** POST /api/v1/commands as `operator`. */
  async send(operator: OperatorName, body: unknown, options: { key?: string; wait?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const query = options.wait === undefined ? '' : `?wait=${encodeURIComponent(options.wait)}`;
    const res = await fetch(`${this.governance.url}/api/v1/commands${query}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${OPERATORS[operator].token}`,
        'content-type': 'application/json',
        ...(options.key === undefined ? {} : { 'idempotency-key': options.key }),
        ...(options.headers ?? {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(90_000),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
  }

  async get(operator: OperatorName, path: string): Promise<Answer> {
    const res = await fetch(`${this.governance.url}${path}`, { headers: { authorization: `Bearer ${OPERATORS[operator].token}` }, signal: AbortSignal.timeout(90_000) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
  }

  /** The command once finished (polls with ?wait=), failing after `timeoutMs`. */
  async finished(id: string, timeoutMs = 60_000): Promise<CommandDoc> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.get('alice', `/api/v1/commands/${id}?wait=5s`).catch(() => null);
      const command = answer?.body.command;
      if (command?.finished === true) return command;
      if (Date.now() > deadline) throw new Error(`command ${id} not finished within ${timeoutMs} ms: ${JSON.stringify(command ?? answer?.body ?? null)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Every audit record of the rig's topic, in (partition, offset) order. */
  async audit(): Promise<AuditRecord[]> {
    const records = await readTopic(this.auditTopic);
    return records.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset)).map((r) => JSON.parse(r.value!.toString()) as AuditRecord);
  }

  /** The audit records of one command, in the order Kafka holds them (one partition: the key is the command id). */
  async auditOf(id: string): Promise<AuditRecord[]> {
    return (await this.audit()).filter((r) => r.id === id);
  }

  /**
   * How many times the edge executed a command: its audit lines for that id with outcome done or
   * failed (not refused or expired). The daemon logs asynchronously (pino, `sync: false`), so the
   * audit line can reach this process after the command's reply has reached the governance
   * service: waits until at least one line shows or `waitMs` passes (pass a short wait where none
   * is expected), then counts.
   */
  async executions(id: string, waitMs = 30_000): Promise<number> {
    const count = (): number =>
      (this.edge?.log() ?? '')
        .split('\n')
        .filter((line) => line.includes('"component":"audit"') && line.includes(`"commandId":"${id}"`) && /"outcome":"(done|failed)"/.test(line)).length;
    const deadline = Date.now() + waitMs;
    while (count() === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    return count();
  }

  async waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await Promise.resolve(check()).catch(() => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n--- governance log:\n${this.governance?.log().slice(-3000)}\n--- edge log:\n${this.edge?.log().slice(-3000) ?? ''}`);
  }

  async close(): Promise<void> {
    await this.edge?.kill('SIGKILL');
    await this.governance?.kill('SIGKILL');
    await this.amqpLink?.stop();
    await this.pulsarLink?.stop();
    await management('DELETE', `/vhosts/${encodeURIComponent(this.vhost)}`).catch(() => undefined);
    if (process.env.SKYHAUL_TEST_KEEP_DIRS !== '1') rmSync(this.dir, { recursive: true, force: true });
  }
}
