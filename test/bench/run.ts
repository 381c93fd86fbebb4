/**
 * Skyhaul benchmarks, each figure next to a baseline measured in the same run on the same machine:
 *
 *   ingest (RecordBuffer.append, daemon defaults)     vs  plain better-sqlite3 batched inserts
 *   HTTP push ingest through the bundled daemon       (end to end, extra figure)
 *   drain of a backlog to the edge Pulsar (daemon)    vs  pulsar-perf produce to the same broker
 *   RSS and restart-to-ready on a 5M-record backlog   vs  fixed targets
 *   decode frames/s per adapter                        vs  JSON.parse of one line per frame
 *   UDP ingest through the daemon (loss-free rate)     vs  a bare UDP socket, same sweep
 *   MQTT QoS 1 ingest through the daemon               vs  a plain mqtt.js QoS 1 subscriber
 *   the simulator's `large` profile into the daemon    vs  its nominal rate and fixed targets
 *   central: the Pulsar->Kafka bridge on a backlog     vs  Kafka's ProducerPerformance and a plain
 *                                                           Pulsar consumer (the slower of the two)
 *   central: edge -> Kafka latency, observatory rate   vs  a fixed target (p50 ≤ 1 s)
 *   control: operator command RTT (ping at the edge)   vs  a bare rabbitmq-client RPC, same broker
 *   control: audit records into Kafka (acks=all)       (sustained; no baseline of its own)
 *
 * usage: npm run bench -- [--out FILE] [--quick] [--backlog N] [--ingest-seconds S] [--no-build]
 *                        [--only GROUP,...] [--drain-runs N] [--large-runs N] [--transport binary|websocket]
 *
 * Figures that involve a broker vary between runs: the drain (Pulsar) and the large profile at 1×
 * (Mosquitto) run 3 times each in a full run, and the run with the median ratio stands for all
 * (its own figures, so they stay consistent); every run's ratio is in the JSON (`*_runs`).
 *
 * Groups: ingest, http, drain, big, decode, udp, mqtt, large, central (default: all). A run of some
 * groups writes only their keys (REQUIRED_KEYS are checked on a run of all groups).
 *
 * Prints a table (figure, baseline, target, pass/fail) and writes every figure as JSON. Targets
 * are markers, not the exit status: the exit status is non-zero only when the harness fails.
 * The run brings the dev stack up if needed (stackUp is idempotent) and stops only what it
 * started; every daemon, JVM and temp dir it creates is gone when it returns.
 *
 * Nothing here is random (fixed payloads, fixed schedules), so there is no seed to replay.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { measureBridge, measureEdgeToKafkaLatency, measureEtl, type BridgeBenchResult, type EtlBenchResult, type LatencyBenchResult } from './central.ts';
import { controlKeys, controlSizes, measureControl, type ControlBenchResult } from './control.ts';
import { measureArchive, measureArchiverMemory, measureEdgeToLake, type ArchiveBenchResult, type ArchiverMemoryResult, type EdgeToLakeResult } from './lake.ts';
import { measureBigBacklog, measureDrain, measureEmptyStart, type DrainTransport } from './drain.ts';
import { measureHttpIngest } from './http-ingest.ts';
import { measureDecode, measureLargeProfile, measureMqttIngest, measureUdpIngest, type LargeProfileResult, type UdpBenchResult } from './inputs.ts';
import { measureFsyncMs, measureIngest, measureRawSqlite, PAYLOAD_BYTES } from './ingest.ts';
import { runPulsarPerf, waitReplicated } from './pulsar-perf.ts';
import { Cleanup, log, parseArgsOrExit, prepareRun, round } from './util.ts';

/**
 * Every drain run measures both transports; the headline figures (and the big backlog's drain)
 * are the default's, what `forward.transport: auto` takes with a serviceUrl, unless --transport says otherwise.
 */
const DRAIN_TRANSPORTS: DrainTransport[] = ['websocket', 'binary'];
const DEFAULT_DRAIN_TRANSPORT: DrainTransport = 'binary';

export const TARGETS = {
  ingest_ratio_to_raw: { op: '>=', value: 0.6 },
  commit_p99_ms: { op: '<=', value: 10 },
  drain_ratio_to_pulsar_perf: { op: '>=', value: 0.5 },
  rss_mb_peak: { op: '<=', value: 100 },
  restart_ready_ms: { op: '<=', value: 1000 },
  large_lost_records: { op: '<=', value: 0 },
  large_commit_p99_ms: { op: '<=', value: 10 },
  large_cpu_cores: { op: '<=', value: 1 },
  // Issue 13's targets for the edge ingest path.
  large_daemon_cpu_cores: { op: '<=', value: 0.6 },
  udp_ingest_ratio_to_raw: { op: '>=', value: 0.8 },
  udp_cpu_us_per_record: { op: '<=', value: 10 },
  udp_kill9_lost: { op: '<=', value: 0 },
  ingest_saturated_ratio_to_raw: { op: '>=', value: 0.8 },
  large_sustained_ratio_to_nominal: { op: '>=', value: 0.98 },
  bridge_ratio: { op: '>=', value: 0.5 },
  // The Rubin Observatory's summit-to-data-centre replication runs at about 1 s.
  edge_to_kafka_latency_p50_ms: { op: '<=', value: 1000 },
  archive_ratio_to_s3_put: { op: '>=', value: 0.5 },
} as const;

/** Keys every run writes as finite numbers (the vitest harness test checks them). */
export const REQUIRED_KEYS = [
  'ingest_records_per_s',
  'sqlite_raw_records_per_s',
  'ingest_ratio_to_raw',
  'commit_p50_ms',
  'commit_p99_ms',
  'http_ingest_records_per_s',
  'drain_records_per_s',
  'pulsar_perf_records_per_s',
  'pulsar_perf_batched_records_per_s',
  'pulsar_perf_unbatched_records_per_s',
  'drain_ratio_to_pulsar_perf',
  'rss_mb_peak',
  'restart_ready_ms',
  'startup_ready_ms',
  'restart_ready_empty_ms',
  'startup_ready_empty_ms',
  'backlog_records',
  'decode_json_parse_lines_per_s',
  'udp_ingest_records_per_s',
  'udp_raw_datagrams_per_s',
  'udp_ingest_ratio_to_raw',
  'mqtt_ingest_records_per_s',
  'mqtt_plain_subscriber_per_s',
  'mqtt_ingest_ratio_to_plain',
  'large_nominal_msg_per_s',
  'large_sustained_records_per_s',
  'large_sustained_ratio_to_nominal',
  'large_lost_records',
  'large_commit_p99_ms',
  'large_cpu_cores',
  'bridge_records_per_s',
  'kafka_producer_perf_records_per_s',
  'pulsar_consume_records_per_s',
  'bridge_ratio',
  'bridge_rss_mb',
  'edge_to_kafka_latency_p50_ms',
  'edge_to_kafka_latency_p99_ms',
  'ingest_saturated_ratio_to_raw',
  'buffer_bytes_per_record',
  'sqlite_raw_bytes_per_record',
  'drain_daemon_cpu_cores',
  'drain_broker_cpu_cores',
  'udp_cpu_us_per_record',
  'udp_raw_cpu_us_per_record',
  'udp_rss_mb_peak',
  'udp_kill9_lost',
  'large_daemon_cpu_cores',
  'large_sweep_1x_ratio',
  'large_sweep_1_5x_ratio',
  'large_sweep_2x_ratio',
  'etl_records_per_s',
  'etl_at_least_once_records_per_s',
  'etl_exactly_once_cost_ratio',
  'archive_records_per_s',
  'archive_mb_per_s',
  's3_put_mb_per_s',
  'archive_ratio_to_s3_put',
  'archiver_rss_mb_peak',
  'edge_to_lake_latency_p50_s',
  'edge_to_lake_latency_p99_s',
  'command_rtt_p50_ms',
  'command_rtt_p99_ms',
  'amqp_rpc_rtt_p50_ms',
  'amqp_rpc_rtt_p99_ms',
  'audit_records_per_s',
] as const;

export const GROUPS = ['ingest', 'http', 'drain', 'big', 'decode', 'udp', 'mqtt', 'large', 'central', 'lake', 'control'] as const;
export type BenchGroup = (typeof GROUPS)[number];

interface Sizes {
  drainRuns: number;
  /** Runs of the large profile at 1× (it uses the MQTT broker): the median run stands for all. */
  largeRuns: number;
  largeSweepMs: number;
  udpKills: number;
  udpKillRate: number;
  ingestMs: number;
  appenders: number;
  saturatedAppenders: number;
  ingestStreams: number;
  httpMs: number;
  httpClients: number;
  httpRecordsPerRequest: number;
  perfMessages: number;
  drainBacklog: number;
  drainStreams: number;
  bigBacklog: number;
  bigStreams: number;
  restarts: number;
  holdMs: number;
  bigDrainMs: number;
  decodeMs: number;
  udpRates: number[];
  udpStepMs: number;
  mqttMessages: number;
  largeMs: number;
  /** The quick run scales the large profile down: it only proves the harness, beside other tests. */
  largeRateScale: number;
  bridgeRecords: number;
  etlRecords: number;
  latencyMs: number;
  latencyRateScale: number;
  archiveRecords: number;
  archiverPartitions: number;
  archiverRecordsPerPartition: number;
  lakeLatencyMs: number;
  lakeLatencyRateScale: number;
}

function sizes(quick: boolean, backlog: number | undefined, ingestSeconds: number | undefined): Sizes {
  const base: Sizes = quick
    ? { drainRuns: 1, largeRuns: 1, largeSweepMs: 2000, udpKills: 1, udpKillRate: 2000, ingestMs: 1500, appenders: 64, saturatedAppenders: 1024, ingestStreams: 16, httpMs: 2000, httpClients: 8, httpRecordsPerRequest: 100, perfMessages: 10_000, drainBacklog: 10_000, drainStreams: 20, bigBacklog: 50_000, bigStreams: 50, restarts: 2, holdMs: 500, bigDrainMs: 1500, decodeMs: 200, udpRates: [1000, 5000], udpStepMs: 1000, mqttMessages: 5000, largeMs: 5000, largeRateScale: 0.1, bridgeRecords: 5000, etlRecords: 5000, latencyMs: 3000, latencyRateScale: 0.05, archiveRecords: 5000, archiverPartitions: 100, archiverRecordsPerPartition: 10, lakeLatencyMs: 30_000, lakeLatencyRateScale: 0.05 }
    : { drainRuns: 3, largeRuns: 3, largeSweepMs: 15_000, udpKills: 3, udpKillRate: 20_000, ingestMs: 10_000, appenders: 64, saturatedAppenders: 1024, ingestStreams: 16, httpMs: 10_000, httpClients: 8, httpRecordsPerRequest: 100, perfMessages: 200_000, drainBacklog: 200_000, drainStreams: 20, bigBacklog: 5_000_000, bigStreams: 50, restarts: 3, holdMs: 5000, bigDrainMs: 20_000, decodeMs: 1000, udpRates: [10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000, 150_000, 200_000], udpStepMs: 5000, mqttMessages: 100_000, largeMs: 30_000, largeRateScale: 1, bridgeRecords: 100_000, etlRecords: 100_000, latencyMs: 30_000, latencyRateScale: 1, archiveRecords: 100_000, archiverPartitions: 1000, archiverRecordsPerPartition: 20, lakeLatencyMs: 60_000, lakeLatencyRateScale: 0.2 };
  if (backlog !== undefined) base.bigBacklog = backlog;
  if (ingestSeconds !== undefined) {
    base.ingestMs = ingestSeconds * 1000;
    base.httpMs = ingestSeconds * 1000;
  }
  return base;
}

export interface BenchOptions {
  out?: string;
  quick?: boolean;
  backlog?: number;
  ingestSeconds?: number;
  build?: boolean;
  /** Groups to run (default all). */
  only?: BenchGroup[];
  drainRuns?: number;
  largeRuns?: number;
  /** The transport of the headline drain figures and of the big backlog's drain (default binary). */
  transport?: DrainTransport;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function runBench(options: BenchOptions): Promise<Record<string, unknown>> {
  const quick = options.quick === true;
  const size = sizes(quick, options.backlog, options.ingestSeconds);
  if (options.drainRuns !== undefined) size.drainRuns = options.drainRuns;
  if (options.largeRuns !== undefined) size.largeRuns = options.largeRuns;
  const headline = options.transport ?? DEFAULT_DRAIN_TRANSPORT;
  const only = new Set<BenchGroup>(options.only ?? GROUPS);
  const runs = (group: BenchGroup): boolean => only.has(group);
  const startedAt = new Date();
  const t0 = performance.now();
  const load0 = loadavg();
  const runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const { dir: work, env, started } = await prepareRun(cleanup, 'skyhaul-bench-', options.build !== false);
    log(`stack ready${started.length > 0 ? ` (started ${started.join(', ')})` : ' (reused)'}; run ${runId}, ${quick ? 'quick' : 'full'} sizes, work dir ${work}`);

    const result: Record<string, unknown> = {};
    const details: Record<string, unknown> = {};

    if (runs('ingest')) {
      log('fsync probe: 200 single-row FULL commits');
      const fsync = measureFsyncMs(200, work);
      log(`raw SQLite: batches of 1000, ${size.ingestMs} ms`);
      const raw = measureRawSqlite({ durationMs: size.ingestMs, batch: 1000, dir: work });
      log(`ingest: ${size.appenders} appenders, ${size.ingestMs} ms`);
      const ingest = await measureIngest({ durationMs: size.ingestMs, appenders: size.appenders, streams: size.ingestStreams, dir: work });
      log(`ingest, saturated: ${size.saturatedAppenders} appenders, ${size.ingestMs} ms`);
      const saturated = await measureIngest({ durationMs: size.ingestMs, appenders: size.saturatedAppenders, streams: size.ingestStreams, dir: work });
      Object.assign(result, {
        ingest_records_per_s: ingest.recordsPerSecond,
        sqlite_raw_records_per_s: raw.recordsPerSecond,
        ingest_ratio_to_raw: ingest.recordsPerSecond / raw.recordsPerSecond,
        commit_p50_ms: ingest.commitP50Ms,
        commit_p99_ms: ingest.commitP99Ms,
        ingest_saturated_records_per_s: saturated.recordsPerSecond,
        ingest_saturated_ratio_to_raw: saturated.recordsPerSecond / raw.recordsPerSecond,
        // File size / records for 200-byte payloads, beside the same rows in plain SQLite.
        buffer_bytes_per_record: ingest.fileBytesPerRecord,
        sqlite_raw_bytes_per_record: raw.fileBytesPerRecord,
      });
      Object.assign(details, { fsync, raw, ingest, saturated });
    }
    if (runs('http')) {
      log(`HTTP push ingest: ${size.httpClients} clients × ${size.httpRecordsPerRequest} records, ${size.httpMs} ms`);
      const http = await measureHttpIngest(
        { dir: work, durationMs: size.httpMs, clients: size.httpClients, recordsPerRequest: size.httpRecordsPerRequest, streams: size.ingestStreams },
        cleanup,
      );
      result.http_ingest_records_per_s = http.recordsPerSecond;
      details.http = http;
    }

    if (runs('drain')) {
      const perfCommon = { serviceUrl: env.SKYHAUL_PULSAR_EDGE_URL, adminUrl: env.SKYHAUL_PULSAR_EDGE_HTTP, messages: size.perfMessages, messageBytes: PAYLOAD_BYTES, maxOutstanding: 4000 };
      // Everything sent to the edge is geo-replicated to central afterwards; each broker figure
      // starts once the previous one's topic has been replicated, so none pays for another.
      const replicated = (topic: string): Promise<number> => waitReplicated(env.SKYHAUL_PULSAR_EDGE_HTTP, [topic], 300_000);
      const replicationWaitMs: Record<string, number> = {};
      type DrainRun = { ratio: number; ratioBatched: number; drain: Awaited<ReturnType<typeof measureDrain>>; perfUnbatched: number; perfBatched: number };
      const drains: Record<DrainTransport, DrainRun[]> = { websocket: [], binary: [] };
      // The issue's figure is the median of several runs: each run measures its own baseline
      // (pulsar-perf, unbatched and batched) right before the drains, on the same broker, then
      // drains the same backlog once over each transport.
      for (let run = 0; run < size.drainRuns; run++) {
        const unbatchedTopic = `persistent://${env.SKYHAUL_PULSAR_NAMESPACE}/bench-perf-${runId}-${run}-nb`;
        const batchedTopic = `persistent://${env.SKYHAUL_PULSAR_NAMESPACE}/bench-perf-${runId}-${run}-b`;
        log(`pulsar-perf produce, batching off: ${size.perfMessages} × ${PAYLOAD_BYTES} B (run ${run + 1}/${size.drainRuns})`);
        const perfUnbatched = await runPulsarPerf({ ...perfCommon, batching: false, topic: unbatchedTopic }, cleanup);
        replicationWaitMs[`afterUnbatched${run}`] = await replicated(unbatchedTopic);
        log(`pulsar-perf produce, batching on: ${size.perfMessages} × ${PAYLOAD_BYTES} B`);
        const perfBatched = await runPulsarPerf({ ...perfCommon, batching: true, topic: batchedTopic }, cleanup);
        replicationWaitMs[`afterBatched${run}`] = await replicated(batchedTopic);
        for (const transport of DRAIN_TRANSPORTS) {
          log(`drain: ${size.drainBacklog} records over ${size.drainStreams} streams to the edge Pulsar, ${transport} transport`);
          const drain = await measureDrain(
            {
              dir: join(work, `drain-${run}-${transport}`),
              site: `bench-drain-${runId}-${run}-${transport}`,
              backlog: size.drainBacklog,
              streams: size.drainStreams,
              edgeHttp: env.SKYHAUL_PULSAR_EDGE_HTTP,
              edgeServiceUrl: env.SKYHAUL_PULSAR_EDGE_URL,
              transport,
              namespace: env.SKYHAUL_PULSAR_NAMESPACE,
              timeoutMs: quick ? 120_000 : 900_000,
            },
            cleanup,
          );
          replicationWaitMs[`afterDrain${run}${transport}`] = await replicated(drain.topic);
          drains[transport].push({
            ratio: drain.recordsPerSecond / perfUnbatched.recordsPerSecond,
            ratioBatched: drain.recordsPerSecond / perfBatched.recordsPerSecond,
            drain,
            perfUnbatched: perfUnbatched.recordsPerSecond,
            perfBatched: perfBatched.recordsPerSecond,
          });
        }
      }
      // Per transport, the run whose ratio is the median stands for all (its own figures, so they stay consistent).
      const middle = (runs: DrainRun[]): DrainRun => [...runs].sort((a, b) => a.ratio - b.ratio)[Math.floor(runs.length / 2)] as DrainRun;
      const mid = middle(drains[headline]);
      Object.assign(result, {
        drain_transport: headline,
        drain_records_per_s: mid.drain.recordsPerSecond,
        // The ratio uses the unbatched run: the daemon sends one message per record and the broker
        // stores one entry per message, exactly like pulsar-perf with batching disabled.
        pulsar_perf_records_per_s: mid.perfUnbatched,
        pulsar_perf_unbatched_records_per_s: mid.perfUnbatched,
        pulsar_perf_batched_records_per_s: mid.perfBatched,
        drain_ratio_to_pulsar_perf: mid.ratio,
        drain_ratio_to_pulsar_perf_batched: mid.ratioBatched,
        drain_ratio_runs: drains[headline].map((d) => d.ratio),
        drain_ratio_median: median(drains[headline].map((d) => d.ratio)),
        drain_daemon_cpu_cores: mid.drain.cpuCores.daemon ?? Number.NaN,
        drain_broker_cpu_cores: mid.drain.cpuCores.edgeBroker ?? Number.NaN,
      });
      for (const transport of DRAIN_TRANSPORTS) {
        const m = middle(drains[transport]);
        Object.assign(result, {
          [`drain_${transport}_records_per_s`]: m.drain.recordsPerSecond,
          [`drain_${transport}_ratio_to_pulsar_perf`]: m.ratio,
          [`drain_${transport}_ratio_runs`]: drains[transport].map((d) => d.ratio),
          [`drain_${transport}_daemon_cpu_cores`]: m.drain.cpuCores.daemon ?? Number.NaN,
          [`drain_${transport}_broker_cpu_cores`]: m.drain.cpuCores.edgeBroker ?? Number.NaN,
        });
      }
      Object.assign(details, { drains: DRAIN_TRANSPORTS.flatMap((t) => drains[t].map((d) => ({ ...d.drain, perfUnbatched: d.perfUnbatched, perfBatched: d.perfBatched }))), replicationWaitMs });
    }

    if (runs('big')) {
      const big = await measureBigBacklog(
        {
          dir: work,
          site: `bench-big-${runId}`,
          backlog: size.bigBacklog,
          streams: size.bigStreams,
          edgeHttp: env.SKYHAUL_PULSAR_EDGE_HTTP,
          edgeServiceUrl: env.SKYHAUL_PULSAR_EDGE_URL,
          transport: headline,
          restarts: size.restarts,
          holdMs: size.holdMs,
          drainMs: size.bigDrainMs,
        },
        cleanup,
      );
      log(`restart baseline: ${size.restarts} starts on an empty buffer`);
      const emptyStart = await measureEmptyStart({ dir: work, site: `bench-empty-${runId}`, starts: size.restarts }, cleanup);
      Object.assign(result, {
        rss_mb_peak: big.rssMbPeak,
        restart_ready_ms: Math.max(...big.restartReadyMs),
        startup_ready_ms: Math.max(...big.startupReadyMs),
        // Baseline: the same start on an empty buffer (what the backlog adds is the difference).
        restart_ready_empty_ms: Math.max(...emptyStart.harnessReadyMs),
        startup_ready_empty_ms: Math.max(...emptyStart.startupReadyMs),
        backlog_records: big.backlog,
      });
      Object.assign(details, { big, emptyStart });
    }

    if (runs('decode')) {
      log(`decode: every adapter, ${size.decodeMs} ms each`);
      const decode = measureDecode(size.decodeMs);
      Object.assign(result, {
        ...Object.fromEntries(Object.entries(decode.framesPerSecond).map(([adapter, rate]) => [`decode_${adapter.replaceAll('-', '_')}_frames_per_s`, rate])),
        decode_json_parse_lines_per_s: decode.jsonParseLinesPerSecond,
      });
      details.decode = decode;
    }
    if (runs('udp')) {
      const udp = await measureUdpIngest({ dir: work, rates: size.udpRates, stepMs: size.udpStepMs, kills: size.udpKills, killRate: size.udpKillRate }, cleanup);
      Object.assign(result, {
        udp_ingest_records_per_s: udp.daemonRecordsPerSecond,
        udp_raw_datagrams_per_s: udp.rawDatagramsPerSecond,
        udp_ingest_ratio_to_raw: udp.daemonRecordsPerSecond / udp.rawDatagramsPerSecond,
        udp_cpu_us_per_record: udp.daemonCpuUsPerRecord,
        udp_raw_cpu_us_per_record: udp.rawCpuUsPerRecord,
        udp_rss_mb_peak: udp.daemonRssMbPeak,
        udp_kill9_lost: udp.kill9Lost.reduce((a, b) => a + b, 0),
      });
      details.udp = udp;
    }
    if (runs('mqtt')) {
      const mqtt = await measureMqttIngest({ dir: work, mqttUrl: env.SKYHAUL_MQTT_URL, messages: size.mqttMessages, runId }, cleanup);
      Object.assign(result, {
        mqtt_ingest_records_per_s: mqtt.daemonRecordsPerSecond,
        mqtt_plain_subscriber_per_s: mqtt.plainSubscriberPerSecond,
        mqtt_ingest_ratio_to_plain: mqtt.daemonRecordsPerSecond / mqtt.plainSubscriberPerSecond,
      });
      details.mqtt = mqtt;
    }
    if (runs('large')) {
      const ratio = (x: LargeProfileResult): number => x.sustainedRecordsPerSecond / x.nominalMsgPerSecond;
      const larges: LargeProfileResult[] = [];
      for (let run = 0; run < size.largeRuns; run++) {
        log(`large profile at 1× (run ${run + 1}/${size.largeRuns})`);
        larges.push(await measureLargeProfile({ dir: join(work, `large-1x-${run}`), mqttUrl: env.SKYHAUL_MQTT_URL, durationMs: size.largeMs, rateScale: size.largeRateScale }, cleanup));
      }
      const large = [...larges].sort((a, b) => ratio(a) - ratio(b))[Math.floor(larges.length / 2)] as LargeProfileResult;
      // The knee: the same profile at 1.5× and 2× its nominal rate (1× is the median run above).
      const sweep: Record<string, LargeProfileResult> = { '1x': large };
      for (const [key, factor] of [['1_5x', 1.5], ['2x', 2]] as const) {
        sweep[key] = await measureLargeProfile({ dir: join(work, `large-${key}`), mqttUrl: env.SKYHAUL_MQTT_URL, durationMs: size.largeSweepMs, rateScale: size.largeRateScale * factor }, cleanup);
      }
      Object.assign(result, {
        large_nominal_msg_per_s: large.nominalMsgPerSecond,
        large_sustained_records_per_s: large.sustainedRecordsPerSecond,
        large_sustained_ratio_to_nominal: large.sustainedRecordsPerSecond / large.nominalMsgPerSecond,
        large_lost_records: large.lost,
        large_commit_p99_ms: large.commitP99Ms,
        large_cpu_cores: large.daemonCpuCores,
        large_daemon_cpu_cores: large.daemonCpuCores,
        large_sustained_ratio_runs: larges.map(ratio),
        large_lost_records_runs: larges.map((x) => x.lost),
        large_daemon_cpu_cores_runs: larges.map((x) => x.daemonCpuCores),
        large_commit_p99_ms_runs: larges.map((x) => x.commitP99Ms),
        ...Object.fromEntries(Object.entries(sweep).map(([key, r]) => [`large_sweep_${key}_ratio`, r.sustainedRecordsPerSecond / r.nominalMsgPerSecond])),
      });
      Object.assign(details, {
        large,
        largeRuns: larges,
        largeSweep: Object.fromEntries(
          Object.entries(sweep).map(([key, r]) => [key, { nominal: r.nominalMsgPerSecond, sustained: r.sustainedRecordsPerSecond, lost: r.lost, udpKernelDrops: r.udpKernelDrops, cpuCores: r.daemonCpuCores, commitP99Ms: r.commitP99Ms }]),
        ),
      });
    }
    if (runs('central')) {
      log(`central: bridge on a backlog of ${size.bridgeRecords}`);
      const bridge = await measureBridge({ env, records: size.bridgeRecords, runId, dir: work }, cleanup);
      log(`central: ETL on a backlog of ${size.etlRecords}, exactly once vs at least once`);
      const etl = await measureEtl({ env, records: size.etlRecords, runId, dir: work }, cleanup);
      log(`central: edge -> Kafka latency, observatory profile × ${size.latencyRateScale}, ${size.latencyMs} ms`);
      const latency = await measureEdgeToKafkaLatency({ env, runId, rateScale: size.latencyRateScale, durationMs: size.latencyMs, dir: work }, cleanup);
      Object.assign(result, {
        bridge_records_per_s: bridge.bridgeRecordsPerSecond,
        kafka_producer_perf_records_per_s: bridge.kafkaProducerPerfRecordsPerSecond,
        pulsar_consume_records_per_s: bridge.pulsarConsumeRecordsPerSecond,
        bridge_ratio: bridge.ratio,
        bridge_rss_mb: bridge.bridgeRssMbPeak,
        edge_to_kafka_latency_p50_ms: latency.p50Ms,
        edge_to_kafka_latency_p99_ms: latency.p99Ms,
        etl_records_per_s: etl.exactlyOnceRecordsPerSecond,
        etl_at_least_once_records_per_s: etl.atLeastOnceRecordsPerSecond,
        etl_exactly_once_cost_ratio: etl.ratio,
        etl_rss_mb: etl.etlRssMbPeak,
      });
      Object.assign(details, { bridge, etl, latency });
    }
    if (runs('lake')) {
      log(`lake: the archiver on a backlog of ${size.archiveRecords} curated records vs S3 PUTs of the same objects`);
      const archive = await measureArchive({ env, records: size.archiveRecords, runId, dir: work }, cleanup);
      const archiverMemory = await measureArchiverMemory({ env, partitions: size.archiverPartitions, recordsPerPartition: size.archiverRecordsPerPartition, runId, dir: work }, cleanup);
      log(`lake: edge -> lake latency, observatory profile × ${size.lakeLatencyRateScale}, ${size.lakeLatencyMs} ms`);
      const lakeLatency = await measureEdgeToLake({ rateScale: size.lakeLatencyRateScale, durationMs: size.lakeLatencyMs, dir: work });
      Object.assign(result, {
        archive_records_per_s: archive.archiveRecordsPerSecond,
        archive_mb_per_s: archive.archiveMbPerSecond,
        s3_put_mb_per_s: archive.s3PutMbPerSecond,
        archive_ratio_to_s3_put: archive.ratio,
        archiver_rss_mb_peak: archiverMemory.rssMbPeak,
        edge_to_lake_latency_p50_s: lakeLatency.p50Seconds,
        edge_to_lake_latency_p99_s: lakeLatency.p99Seconds,
      });
      Object.assign(details, { archive, archiverMemory, lakeLatency });
    }
    if (runs('control')) {
      log('control: command round trips vs bare AMQP RPC, audit writes');
      const control = await measureControl({ env, runId, ...controlSizes(quick) }, cleanup);
      Object.assign(result, controlKeys(control));
      Object.assign(details, { control });
    }
    const targets: Record<string, { target: string; value: number; pass: boolean }> = {};
    for (const [key, t] of Object.entries(TARGETS)) {
      if (!(key in result)) continue; // its group did not run
      const value = result[key] as number;
      targets[key] = { target: `${t.op} ${t.value}`, value, pass: t.op === '>=' ? value >= t.value : value <= t.value };
    }
    result.targets = targets;
    result.details = details;
    result.meta = {
      run: runId,
      quick,
      startedAt: startedAt.toISOString(),
      durationSeconds: (performance.now() - t0) / 1000,
      node: process.version,
      cpus: cpus().length,
      loadavgStart: load0,
      loadavgEnd: loadavg(),
      payloadBytes: PAYLOAD_BYTES,
      groups: [...only],
      note: 'Shared 2-core machine: other test runs may overlap this one; see loadavg.',
    };
    printTable(result, size);
    if (options.out !== undefined) {
      const out = resolve(options.out);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
      log(`wrote ${out}`);
    }
    return result;
  } finally {
    await cleanup.run();
  }
}

function printTable(r: Record<string, unknown>, size: Sizes): void {
  const n = (key: string): number => r[key] as number;
  const runs = (key: string, digits: number): string => (r[key] as number[]).map((x) => round(x, digits)).join(', ');
  const t = r.targets as Record<string, { pass: boolean; target: string }>;
  const mark = (key: string): string => (t[key] === undefined ? '' : `${t[key]!.target}  ${t[key]!.pass ? 'PASS' : 'FAIL'}`);
  const d = r.details as {
    big: { restartReadyMs: number[]; startupReadyMs: number[]; rssMbPeakHolding: number; rssMbPeakDraining: number };
    fsync: { p50Ms: number; p99Ms: number };
    udp: UdpBenchResult;
    large: LargeProfileResult;
    largeSweep: Record<string, { nominal: number; sustained: number; lost: number; cpuCores: number }>;
    bridge: BridgeBenchResult;
    etl: EtlBenchResult;
    latency: LatencyBenchResult;
    archive: ArchiveBenchResult;
    archiverMemory: ArchiverMemoryResult;
    lakeLatency: EdgeToLakeResult;
    control: ControlBenchResult;
  };
  const ran = new Set((r.meta as { groups: string[] }).groups);
  const groups: Record<BenchGroup, () => Array<[string, string, string, string]>> = {
    ingest: () => [
      ['ingest (RecordBuffer.append, 64 appenders)', `${round(n('ingest_records_per_s'), 0)} rec/s`, `raw SQLite ${round(n('sqlite_raw_records_per_s'), 0)} rec/s`, ''],
      ['  ingest / raw', `${round(n('ingest_ratio_to_raw'), 3)}`, '', mark('ingest_ratio_to_raw')],
      ['  commit latency p50 / p99', `${round(n('commit_p50_ms'), 2)} / ${round(n('commit_p99_ms'), 2)} ms`, `fsync p50 ${round(d.fsync.p50Ms, 2)} ms, p99 ${round(d.fsync.p99Ms, 2)} ms`, mark('commit_p99_ms')],
      [`  ingest, ${size.saturatedAppenders} appenders (full batches)`, `${round(n('ingest_saturated_records_per_s'), 0)} rec/s`, `ratio ${round(n('ingest_saturated_ratio_to_raw'), 3)}`, mark('ingest_saturated_ratio_to_raw')],
      ['  file bytes per record (200-byte payloads)', `${round(n('buffer_bytes_per_record'), 1)} B`, `raw SQLite ${round(n('sqlite_raw_bytes_per_record'), 1)} B`, ''],
    ],
    http: () => [['HTTP push ingest (daemon child)', `${round(n('http_ingest_records_per_s'), 0)} rec/s`, '', '']],
    drain: () => [
      [`drain to edge Pulsar (daemon, ${String(r.drain_transport)})`, `${round(n('drain_records_per_s'), 0)} rec/s`, `pulsar-perf unbatched ${round(n('pulsar_perf_unbatched_records_per_s'), 0)} rec/s`, ''],
      ['  drain / pulsar-perf (unbatched), median', `${round(n('drain_ratio_to_pulsar_perf'), 3)}`, `runs ${(r.drain_ratio_runs as number[]).map((x) => round(x, 3)).join(', ')}; batched → ${round(n('drain_ratio_to_pulsar_perf_batched'), 3)}`, mark('drain_ratio_to_pulsar_perf')],
      ['  CPU: daemon / edge broker', `${round(n('drain_daemon_cpu_cores'), 2)} / ${round(n('drain_broker_cpu_cores'), 2)} cores`, '', ''],
      ...DRAIN_TRANSPORTS.map((t): [string, string, string, string] => [
        `  ${t} transport: drain / pulsar-perf, median`,
        `${round(n(`drain_${t}_ratio_to_pulsar_perf`), 3)} (${round(n(`drain_${t}_records_per_s`), 0)} rec/s)`,
        `runs ${(r[`drain_${t}_ratio_runs`] as number[]).map((x) => round(x, 3)).join(', ')}; CPU daemon ${round(n(`drain_${t}_daemon_cpu_cores`), 2)} / broker ${round(n(`drain_${t}_broker_cpu_cores`), 2)} cores`,
        '',
      ]),
    ],
    big: () => [
      [`RSS peak, ${n('backlog_records')} backlog`, `${round(n('rss_mb_peak'), 1)} MB`, `holding ${round(d.big.rssMbPeakHolding, 1)}, draining ${round(d.big.rssMbPeakDraining, 1)}`, mark('rss_mb_peak')],
      ['restart → /readyz 200 (max)', `${n('restart_ready_ms')} ms`, `empty buffer ${n('restart_ready_empty_ms')} ms; each: ${d.big.restartReadyMs.join(', ')}`, mark('restart_ready_ms')],
      ['  daemon startup.readyMs (max)', `${n('startup_ready_ms')} ms`, `empty buffer ${n('startup_ready_empty_ms')} ms; each: ${d.big.startupReadyMs.join(', ')}`, ''],
    ],
    decode: () =>
      Object.keys(r)
        .filter((key) => /^decode_.+_frames_per_s$/.test(key))
        .map((key): [string, string, string, string] => [
          `decode ${key.slice(7, -13).replaceAll('_', '-')}`,
          `${round(n(key), 0)} frames/s`,
          `JSON.parse ${round(n('decode_json_parse_lines_per_s'), 0)} lines/s → ${round(n(key) / n('decode_json_parse_lines_per_s'), 3)}`,
          '',
        ]),
    udp: () => [
      ['UDP ingest, daemon (≤ 0.1 % loss)', `${round(n('udp_ingest_records_per_s'), 0)} rec/s`, `bare socket ${round(n('udp_raw_datagrams_per_s'), 0)}/s; rcvbuf ${d.udp.receiveBufferBytes} B`, ''],
      ['  UDP daemon / bare socket', `${round(n('udp_ingest_ratio_to_raw'), 3)}`, `steps (offered: loss %) ${d.udp.daemonSteps.map((x) => `${x.offeredPerSecond}: ${round(x.lossFraction * 100, 2)}`).join(', ')}`, mark('udp_ingest_ratio_to_raw')],
      ['  UDP CPU per record', `${round(n('udp_cpu_us_per_record'), 1)} µs`, `bare socket ${round(n('udp_raw_cpu_us_per_record'), 1)} µs`, mark('udp_cpu_us_per_record')],
      ['  UDP daemon RSS peak', `${round(n('udp_rss_mb_peak'), 1)} MB`, '', ''],
      [`  UDP read, lost on kill -9 (${d.udp.kill9Lost.length} kills at ${d.udp.kill9RatePerSecond}/s)`, `${n('udp_kill9_lost')}`, `each: ${d.udp.kill9Lost.join(', ')}`, mark('udp_kill9_lost')],
    ],
    mqtt: () => [['MQTT QoS 1 ingest, daemon', `${round(n('mqtt_ingest_records_per_s'), 0)} rec/s`, `plain subscriber ${round(n('mqtt_plain_subscriber_per_s'), 0)}/s → ${round(n('mqtt_ingest_ratio_to_plain'), 3)}`, '']],
    large: () => [
      [`large profile, ${d.large.streams} streams, ${round(d.large.seconds, 0)} s, median run`, `${round(n('large_sustained_records_per_s'), 0)} rec/s`, `nominal ${n('large_nominal_msg_per_s')} msg/s → ${round(n('large_sustained_ratio_to_nominal'), 3)}; runs ${runs('large_sustained_ratio_runs', 3)}`, mark('large_sustained_ratio_to_nominal')],
      ['  lost (sent − committed)', `${n('large_lost_records')}`, `of ${d.large.sent}; UDP kernel drops ${d.large.udpKernelDrops}; runs ${runs('large_lost_records_runs', 0)}`, mark('large_lost_records')],
      ['  commit p99 (per record)', `${round(n('large_commit_p99_ms'), 2)} ms`, `p50 ${round(d.large.commitP50Ms, 2)} ms (histogram); runs ${runs('large_commit_p99_ms_runs', 1)}`, mark('large_commit_p99_ms')],
      ['  daemon CPU', `${round(n('large_daemon_cpu_cores'), 2)} cores`, `simulator late ticks ${d.large.simulatorLateTicks}; runs ${runs('large_daemon_cpu_cores_runs', 2)}`, mark('large_daemon_cpu_cores')],
      ...Object.entries(d.largeSweep).map(([key, x]): [string, string, string, string] => [
        `  sweep ${key.replace('_', '.')} nominal`,
        `${round(x.sustained / x.nominal, 3)}`,
        `${round(x.sustained, 0)} of ${round(x.nominal, 0)} rec/s, lost ${x.lost}, ${round(x.cpuCores, 2)} cores`,
        '',
      ]),
    ],
    central: () => [
      [`bridge, ${d.bridge.records} × ${d.bridge.payloadBytes} B, exactly-once`, `${round(n('bridge_records_per_s'), 0)} rec/s`, `Kafka ProducerPerformance ${round(n('kafka_producer_perf_records_per_s'), 0)}/s, Pulsar consume ${round(n('pulsar_consume_records_per_s'), 0)}/s`, ''],
      ['  bridge / slower baseline', `${round(n('bridge_ratio'), 3)}`, '', mark('bridge_ratio')],
      ['  bridge RSS peak', `${round(n('bridge_rss_mb'), 1)} MB`, '', ''],
      [`ETL, ${d.etl.records} raw records, exactly once`, `${round(n('etl_records_per_s'), 0)} rec/s`, `at least once ${round(n('etl_at_least_once_records_per_s'), 0)} rec/s → ${round(n('etl_exactly_once_cost_ratio'), 3)}; RSS ${round(d.etl.etlRssMbPeak, 1)} MB`, ''],
      [`edge → Kafka latency, observatory × ${d.latency.rateScale}`, `p50 ${round(n('edge_to_kafka_latency_p50_ms'), 0)} ms`, `p99 ${round(n('edge_to_kafka_latency_p99_ms'), 0)} ms, max ${round(d.latency.maxMs, 0)} ms over ${d.latency.records} records`, mark('edge_to_kafka_latency_p50_ms')],
    ],
    lake: () => [
      [`archiver, ${d.archive.records} curated records → ${d.archive.objects} Parquet objects`, `${round(n('archive_mb_per_s'), 2)} MB/s, ${round(n('archive_records_per_s'), 0)} rec/s`, `S3 PUT of the same objects ${round(n('s3_put_mb_per_s'), 2)} MB/s → ${round(n('archive_ratio_to_s3_put'), 3)}; RSS ${round(d.archive.archiverRssMbPeak, 1)} MB`, mark('archive_ratio_to_s3_put')],
      [`  archiver RSS, ${d.archiverMemory.partitions} active partitions`, `${round(n('archiver_rss_mb_peak'), 1)} MB`, `memory cap ${d.archiverMemory.memoryCapMb} MiB, ${d.archiverMemory.objects} objects`, ''],
      [`edge → lake latency, observatory × ${d.lakeLatency.rateScale}`, `p50 ${round(n('edge_to_lake_latency_p50_s'), 1)} s`, `p99 ${round(n('edge_to_lake_latency_p99_s'), 1)} s; rotation ${d.lakeLatency.rotationSeconds} s (default 600 s)`, ''],
    ],
    control: () => [
      [
        `operator command RTT (ping at the edge), ${d.control.commands}`,
        `p50 ${round(n('command_rtt_p50_ms'), 2)} / p99 ${round(n('command_rtt_p99_ms'), 2)} ms`,
        `bare AMQP RPC p50 ${round(n('amqp_rpc_rtt_p50_ms'), 2)} / p99 ${round(n('amqp_rpc_rtt_p99_ms'), 2)} ms (Rubin: < 25 ms per hop)`,
        '',
      ],
      [`audit into Kafka (acks=all), ${d.control.auditConcurrency} writers`, `${round(n('audit_records_per_s'), 0)} rec/s`, `${d.control.auditRecords} records of ${d.control.auditRecordBytes} B in ${round(d.control.auditSeconds, 1)} s`, ''],
    ],
  };
  const rows = GROUPS.filter((g) => ran.has(g)).flatMap((g) => groups[g]());
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length), ['figure', 'value', 'baseline / detail', 'target'][i]!.length));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  const out = [line(['figure', 'value', 'baseline / detail', 'target']), line(w.map((x) => '-'.repeat(x))), ...rows.map(line)];
  process.stdout.write(`\n${out.join('\n')}\n\nload average ${(r.meta as { loadavgStart: number[] }).loadavgStart.map((x) => x.toFixed(2)).join(' ')} at start (2 cores, shared)\n`);
}

async function main(): Promise<number> {
  const args = parseArgsOrExit(
    process.argv.slice(2),
    { out: 'string', quick: 'boolean', backlog: 'number', 'ingest-seconds': 'number', 'no-build': 'boolean', only: 'string', 'drain-runs': 'number', 'large-runs': 'number', transport: 'string' },
    'npm run bench --',
  );
  const only = args.only === undefined ? undefined : String(args.only).split(',').map((g) => g.trim());
  const unknown = (only ?? []).filter((g) => !(GROUPS as readonly string[]).includes(g));
  if (unknown.length > 0) throw new Error(`--only: unknown group(s) ${unknown.join(', ')}; groups are ${GROUPS.join(', ')}`);
  if (args.transport !== undefined && !(DRAIN_TRANSPORTS as string[]).includes(String(args.transport))) {
    throw new Error(`--transport: expected ${DRAIN_TRANSPORTS.join(' or ')}, got '${String(args.transport)}'`);
  }
  await runBench({
    ...(args.out === undefined ? {} : { out: String(args.out) }),
    quick: args.quick === true,
    ...(args.backlog === undefined ? {} : { backlog: Number(args.backlog) }),
    ...(args['ingest-seconds'] === undefined ? {} : { ingestSeconds: Number(args['ingest-seconds']) }),
    build: args['no-build'] !== true,
    ...(only === undefined ? {} : { only: only as BenchGroup[] }),
    ...(args['drain-runs'] === undefined ? {} : { drainRuns: Number(args['drain-runs']) }),
    ...(args['large-runs'] === undefined ? {} : { largeRuns: Number(args['large-runs']) }),
    ...(args.transport === undefined ? {} : { transport: args.transport as DrainTransport }),
  });
  return 0;
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
