/**
 * The benchmark harness works: `npm run bench -- --quick` (as a child process, against the real
 * stack and the bundled daemon that the global setup built) writes every figure as a finite
 * number, and each ratio is the quotient of the two figures it is made of. Figures are not
 * compared with their targets here: on a shared 2-core machine under test load they would be
 * flaky; the targets are printed by the full run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';
import { adapterNames } from '../../firmware-adapters/index.ts';
import { TSX_LOADER } from '../support/daemon.ts';
import { REQUIRED_KEYS, TARGETS } from './run.ts';

const dir = mkdtempSync(join(tmpdir(), 'skyhaul-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench harness', () => {
  it('--quick writes every figure as a finite number, ratios equal to the quotient of their parts', async () => {
    const out = join(dir, 'bench.json');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', TSX_LOADER, join(repoRoot, 'test/bench/run.ts'), '--quick', '--no-build', '--out', out],
      { cwd: repoRoot, encoding: 'utf8', timeout: 420_000, maxBuffer: 16 * 1024 * 1024 },
    );
    expect(stdout).toMatch(/ingest \/ raw/);
    const result = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
    for (const key of REQUIRED_KEYS) {
      expect(typeof result[key], `${key} = ${String(result[key])}`).toBe('number');
      expect(Number.isFinite(result[key]), `${key} = ${String(result[key])}`).toBe(true);
    }
    const n = (key: string): number => result[key] as number;
    // Rates and sizes are positive measurements, not placeholders.
    for (const key of ['ingest_records_per_s', 'sqlite_raw_records_per_s', 'http_ingest_records_per_s', 'drain_records_per_s', 'pulsar_perf_records_per_s', 'pulsar_perf_batched_records_per_s', 'rss_mb_peak', 'restart_ready_ms', 'startup_ready_ms', 'commit_p99_ms']) {
      expect(n(key), key).toBeGreaterThan(0);
    }
    expect(n('commit_p50_ms')).toBeLessThanOrEqual(n('commit_p99_ms'));
    expect(n('ingest_ratio_to_raw')).toBeCloseTo(n('ingest_records_per_s') / n('sqlite_raw_records_per_s'), 9);
    expect(n('drain_ratio_to_pulsar_perf')).toBeCloseTo(n('drain_records_per_s') / n('pulsar_perf_records_per_s'), 9);
    // The ratio's baseline is the unbatched pulsar-perf run (one message per entry, like the WebSocket API).
    expect(n('pulsar_perf_records_per_s')).toBe(n('pulsar_perf_unbatched_records_per_s'));
    expect(n('backlog_records')).toBe(50_000);
    // Decode throughput for every registered adapter.
    for (const adapter of adapterNames()) expect(n(`decode_${adapter.replaceAll('-', '_')}_frames_per_s`), adapter).toBeGreaterThan(0);
    for (const key of ['udp_ingest_records_per_s', 'udp_raw_datagrams_per_s', 'mqtt_ingest_records_per_s', 'mqtt_plain_subscriber_per_s', 'large_sustained_records_per_s', 'large_commit_p99_ms', 'large_cpu_cores']) {
      expect(n(key), key).toBeGreaterThan(0);
    }
    expect(n('udp_ingest_ratio_to_raw')).toBeCloseTo(n('udp_ingest_records_per_s') / n('udp_raw_datagrams_per_s'), 9);
    expect(n('mqtt_ingest_ratio_to_plain')).toBeCloseTo(n('mqtt_ingest_records_per_s') / n('mqtt_plain_subscriber_per_s'), 9);
    expect(n('large_sustained_ratio_to_nominal')).toBeCloseTo(n('large_sustained_records_per_s') / n('large_nominal_msg_per_s'), 9);
    // Central: the bridge beside the slower of its two baselines; latencies measured, p50 ≤ p99.
    for (const key of ['bridge_records_per_s', 'kafka_producer_perf_records_per_s', 'pulsar_consume_records_per_s', 'bridge_rss_mb', 'edge_to_kafka_latency_p50_ms']) expect(n(key), key).toBeGreaterThan(0);
    expect(n('bridge_ratio')).toBeCloseTo(n('bridge_records_per_s') / Math.min(n('kafka_producer_perf_records_per_s'), n('pulsar_consume_records_per_s')), 9);
    expect(n('edge_to_kafka_latency_p50_ms')).toBeLessThanOrEqual(n('edge_to_kafka_latency_p99_ms'));
    for (const key of ['etl_records_per_s', 'etl_at_least_once_records_per_s']) expect(n(key), key).toBeGreaterThan(0);
    expect(n('etl_exactly_once_cost_ratio')).toBeCloseTo(n('etl_records_per_s') / n('etl_at_least_once_records_per_s'), 9);
    // --quick runs the large profile at a tenth of its ≈ 30,000 msg/s.
    expect(n('large_nominal_msg_per_s')).toBeGreaterThan(2500);
    // Every target has a pass/fail marker computed from the figure.
    const targets = result.targets as Record<string, { value: number; pass: boolean }>;
    for (const [key, t] of Object.entries(TARGETS)) {
      expect(targets[key]?.value).toBe(n(key));
      expect(targets[key]?.pass).toBe(t.op === '>=' ? n(key) >= t.value : n(key) <= t.value);
    }
  }, 480_000);
});
