/**
 * The control plane's benchmarks, each beside a baseline from the same run, the same broker and
 * the same AMQP client (rabbitmq-client):
 *
 *   command_rtt_p50_ms / _p99_ms   an operator's request to the governance service (child process,
 *                              POST /api/v1/commands?wait=…, keep-alive) → audit → RabbitMQ (the
 *                              site's quorum queue, publisher confirms) → the real edge daemon
 *                              (bundle) executes `ping`, a no-op → its `delivered` and `outcome`
 *                              results (confirmed) → audit → the HTTP answer `done`. One command
 *                              at a time, the link up: the edge connects to RabbitMQ directly
 *                              (no link simulator), as the baseline does. Every step's audit
 *                              record is acknowledged by Kafka (acks=all) on the way.
 *   vs amqp_rpc_rtt_p50_ms / _p99_ms   a bare request/reply with rabbitmq-client on the same
 *                              broker: an RPC client (direct reply-to, publisher confirms) to a
 *                              quorum queue whose consumer (manual ack) replies at once. What the
 *                              broker and the client alone cost for one round trip; the command
 *                              path makes several (request, delivered, outcome) plus Kafka writes.
 *   audit_records_per_s        the governance service's audit writer (central/src/governance/audit.ts:
 *                              idempotent producer, acks=all, group commit) writing real-sized
 *                              audit records into a 6-partition topic, `concurrency` writers each
 *                              awaiting Kafka's acknowledgement before the next (as the service's
 *                              consumers and API handlers do), sustained for `auditMs`.
 *
 * Standalone, to run only this part: `npx tsx test/bench/control.ts [--quick] [--out FILE]`
 * (needs the dev stack with RabbitMQ and the bundle, `npm run build`).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Connection } from 'rabbitmq-client';
import { AuditWriter, auditOut } from '../../central/src/governance/audit.ts';
import { KafkaLog } from '../../central/src/kafka/index.ts';
import { ControlRig } from '../../central/test/governance/support.ts';
import type { StackEndpoints } from '../../packaging/dev-stack/stack.ts';
import type { AuditRecord } from '../../src/record/command.ts';
import { Cleanup, log, parseArgsOrExit, percentile, prepareRun, round } from './util.ts';

export interface ControlBenchResult {
  commands: number;
  commandRttP50Ms: number;
  commandRttP99Ms: number;
  commandRttMaxMs: number;
  rpcCalls: number;
  amqpRpcRttP50Ms: number;
  amqpRpcRttP99Ms: number;
  amqpRpcRttMaxMs: number;
  auditRecords: number;
  auditSeconds: number;
  auditConcurrency: number;
  auditRecordsPerSecond: number;
  auditRecordBytes: number;
}

export interface ControlBenchOptions {
  env: StackEndpoints;
  runId: string;
  /** Commands (and bare RPCs) measured, after WARMUP of each. */
  commands: number;
  auditMs: number;
  auditConcurrency: number;
}

const WARMUP = 10;

/** Sequential operator commands (`ping`) through governance, RabbitMQ and the edge daemon. */
async function measureCommands(rig: ControlRig, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + count; i++) {
    const t0 = performance.now();
    const answer = await rig.send('olga', { site: rig.site, command: 'ping', params: {} }, { wait: '30s' });
    const ms = performance.now() - t0;
    // A figure only counts a command the site really answered: anything else fails the run.
    if (answer.status !== 200 || answer.body.command?.state !== 'done') throw new Error(`ping ${i}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 500)}`);
    if (i >= WARMUP) samples.push(ms);
  }
  return samples;
}

/** Sequential bare request/reply on the rig's vhost: rabbitmq-client's RPC client and consumer. */
async function measureBareRpc(rig: ControlRig, count: number, cleanup: Cleanup): Promise<number[]> {
  const rabbit = new Connection({ url: `amqp://guest:guest@${rig.amqpUrl().slice('amqp://guest@'.length)}`, connectionName: 'skyhaul-bench-rpc', noDelay: true });
  const closeRabbit = cleanup.add('bench RPC connection', () => rabbit.close());
  const queue = `bench.rpc.${randomUUID()}`;
  // The same kind of queue the commands wait in (quorum, durable), with a consumer that acks
  // after replying, as the edge does.
  const server = rabbit.createConsumer({ queue, queueOptions: { durable: true, arguments: { 'x-queue-type': 'quorum' } }, qos: { prefetchCount: 1 } }, async (request, reply) => {
    await reply({ pong: true, id: (request.body as { id: string }).id }, { correlationId: request.correlationId });
  });
  // A consumer's set-up failure is an 'error' event: without a listener it would kill the run before its cleanup.
  const serverError = new Promise<never>((_, reject) => server.on('error', reject));
  void serverError.catch(() => undefined);
  await Promise.race([new Promise<void>((ready) => server.once('ready', () => ready())), serverError]);
  const client = rabbit.createRPCClient({ confirm: true, timeout: 30_000 });
  const samples: number[] = [];
  try {
    for (let i = 0; i < WARMUP + count; i++) {
      const id = randomUUID();
      const t0 = performance.now();
      const answer = await client.send({ routingKey: queue }, { id, command: 'ping' });
      const ms = performance.now() - t0;
      if ((answer.body as { id?: string }).id !== id) throw new Error(`bare RPC ${i}: answered ${JSON.stringify(answer.body)}`);
      if (i >= WARMUP) samples.push(ms);
    }
  } finally {
    await client.close();
    await server.close();
    await rabbit.queueDelete({ queue }).catch(() => undefined);
    await closeRabbit();
  }
  return samples;
}

/** A realistic audit record (a `done` step with a small result), `i` making its ids unique. */
function auditRecord(runId: string, i: number): AuditRecord {
  const id = `${runId}-${i}`;
  return {
    v: 1,
    eventId: `${id}/done`,
    event: 'done',
    id,
    correlationId: `bench-${runId}-${i}`,
    traceparent: `00-${randomUUID().replaceAll('-', '')}-${randomUUID().replaceAll('-', '').slice(0, 16)}-01`,
    operator: 'alice',
    role: null,
    site: 'cerro-01',
    command: 'bandwidth',
    params: { bytesPerSecond: 65_536 },
    state: 'done',
    source: 'site',
    at: Date.now(),
    deadline: Date.now() + 600_000,
    idempotencyKey: randomUUID(),
    result: { bytesPerSecond: 65_536 },
    error: null,
    writer: `bench/${process.pid}`,
  };
}

/** `concurrency` writers, each awaiting Kafka's acknowledgement of its record before the next. */
async function measureAudit(env: StackEndpoints, runId: string, durationMs: number, concurrency: number, cleanup: Cleanup): Promise<{ records: number; seconds: number; recordBytes: number }> {
  const kafka = new KafkaLog({ bootstrap: [env.SKYHAUL_KAFKA_BOOTSTRAP], clientId: 'skyhaul-bench-audit' });
  const topic = `bench.control.audit.${runId}`;
  await kafka.ensureTopics([{ name: topic, partitions: 6, replicationFactor: 1, config: { 'cleanup.policy': 'delete', 'retention.ms': String(3_600_000) } }]);
  const writer = new AuditWriter(kafka.producer());
  const closeWriter = cleanup.add('bench audit writer', async () => {
    await writer.close();
    await kafka.close();
  });
  // Connections and metadata before the clock starts.
  await writer.write([auditOut(topic, auditRecord(runId, -1))]);
  const recordBytes = auditOut(topic, auditRecord(runId, 0)).value.length;
  let next = 0;
  let acknowledged = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await writer.write([auditOut(topic, auditRecord(runId, next++))]);
        acknowledged++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await closeWriter();
  return { records: acknowledged, seconds, recordBytes };
}

/** Runs the three measurements; the rig (governance child, edge daemon child) is gone afterwards. */
export async function measureControl(options: ControlBenchOptions, cleanup: Cleanup): Promise<ControlBenchResult> {
  // The edge's control channel goes straight to RabbitMQ ("link up", and the same path as the
  // baseline); the rig's link simulators stay idle. No edge site report ticks during the runs.
  const rig = new ControlRig({ extraSites: 0, directAmqp: true, governance: { replyTimeout: '30s', maxReplyTimeout: '60s' }, edgeConfig: { control: { reportInterval: '1h' } } });
  const closeRig = cleanup.add('control rig', () => rig.close());
  await rig.start();
  log(`control: ${options.commands} operator commands (ping) through governance, RabbitMQ and the edge daemon`);
  const commands = await measureCommands(rig, options.commands);
  log(`control: ${options.commands} bare RPCs (rabbitmq-client, quorum queue, direct reply-to, confirms)`);
  const rpc = await measureBareRpc(rig, options.commands, cleanup);
  await closeRig();
  log(`control: audit writer, ${options.auditConcurrency} concurrent writers, ${options.auditMs} ms`);
  const audit = await measureAudit(options.env, options.runId, options.auditMs, options.auditConcurrency, cleanup);
  return {
    commands: commands.length,
    commandRttP50Ms: percentile(commands, 50),
    commandRttP99Ms: percentile(commands, 99),
    commandRttMaxMs: Math.max(...commands),
    rpcCalls: rpc.length,
    amqpRpcRttP50Ms: percentile(rpc, 50),
    amqpRpcRttP99Ms: percentile(rpc, 99),
    amqpRpcRttMaxMs: Math.max(...rpc),
    auditRecords: audit.records,
    auditSeconds: audit.seconds,
    auditConcurrency: options.auditConcurrency,
    auditRecordsPerSecond: audit.records / audit.seconds,
    auditRecordBytes: audit.recordBytes,
  };
}

/** The control figures as the bench's JSON keys. */
export function controlKeys(r: ControlBenchResult): Record<string, number> {
  return {
    command_rtt_p50_ms: r.commandRttP50Ms,
    command_rtt_p99_ms: r.commandRttP99Ms,
    amqp_rpc_rtt_p50_ms: r.amqpRpcRttP50Ms,
    amqp_rpc_rtt_p99_ms: r.amqpRpcRttP99Ms,
    audit_records_per_s: r.auditRecordsPerSecond,
  };
}

/** Sizes: the quick run proves the harness; the full run gives the figures. */
export function controlSizes(quick: boolean): { commands: number; auditMs: number; auditConcurrency: number } {
  return quick ? { commands: 50, auditMs: 2000, auditConcurrency: 64 } : { commands: 500, auditMs: 10_000, auditConcurrency: 64 };
}

async function main(): Promise<number> {
  const args = parseArgsOrExit(process.argv.slice(2), { out: 'string', quick: 'boolean', 'no-build': 'boolean' }, 'tsx test/bench/control.ts');
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const { env } = await prepareRun(cleanup, 'skyhaul-bench-control-', args['no-build'] !== true);
    const runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    const result = await measureControl({ env, runId, ...controlSizes(args.quick === true) }, cleanup);
    const out = { ...controlKeys(result), details: { control: result } };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    process.stdout.write(
      `\ncommand RTT (ping, ${result.commands}): p50 ${round(result.commandRttP50Ms, 2)} ms, p99 ${round(result.commandRttP99Ms, 2)} ms` +
        ` | bare AMQP RPC (${result.rpcCalls}): p50 ${round(result.amqpRpcRttP50Ms, 2)} ms, p99 ${round(result.amqpRpcRttP99Ms, 2)} ms` +
        ` | audit ${round(result.auditRecordsPerSecond, 0)} records/s (${result.auditConcurrency} writers, ${result.auditRecordBytes} B)\n`,
    );
    if (args.out !== undefined) {
      const file = resolve(String(args.out));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    }
    return 0;
  } finally {
    await cleanup.run();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
