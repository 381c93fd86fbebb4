/**
 * The central configuration file: defaults, every problem with file, line and path, and the
 * SKYHAUL_CENTRAL_<PATH> overrides (pure: no server).
 */
import { describe, expect, it } from 'vitest';
import { centralEnvOverrides, ConfigProblems, parseCentralConfig } from '../../src/config/load.ts';

function problems(text: string, env: NodeJS.ProcessEnv = {}): Array<{ path: string; line: number | null; message: string }> {
  try {
    parseCentralConfig(text, 'central.yaml', env);
  } catch (error) {
    if (error instanceof ConfigProblems) return error.problems;
    throw error;
  }
  throw new Error('expected problems');
}

describe('central configuration', () => {
  it('an empty file is the production defaults: per-site raw topics, 6 partitions, 7 days, acks=all with min.insync.replicas 2 of 3', () => {
    const config = parseCentralConfig('', 'central.yaml', {});
    expect(config.kafka).toEqual({ bootstrap: ['127.0.0.1:9092'], clientId: 'skyhaul-central', replicationFactor: 3, minInsyncReplicas: 2 });
    expect(config.bridge.topic).toBe('skyhaul.raw.{site}');
    expect(config.bridge.partitions).toBe(6);
    expect(config.bridge.retentionMs).toBe(7 * 86_400_000);
    expect(config.bridge.batch).toEqual({ maxRecords: 500, maxDelayMs: 50 });
    expect(config.registry.compatibility).toBe('BACKWARD_TRANSITIVE');
    expect(config.bridge.http).toEqual({ bind: '127.0.0.1', port: 9881 });
  });

  it('each service has its own default port, so several run on one host with an empty file', () => {
    const config = parseCentralConfig('', 'central.yaml', {});
    const ports = { registry: config.registry.listen.port, bridge: config.bridge.http.port, etl: config.etl.http.port, archive: config.archive.http.port, governance: config.governance.listen.port };
    expect(new Set(Object.values(ports)).size).toBe(Object.keys(ports).length);
    // The CLI sends operator commands where the governance service listens by default.
    expect(new URL(config.governance.url).port).toBe(String(config.governance.listen.port));
  });

  it('names each mistake by path and line, all at once, in file order', () => {
    const text = ['kafka:', '  bootstrap: [broker-1]', 'bridge:', '  partitions: 0', '  retention: a week', '  batch:', '    maxRecord: 10', ''].join('\n');
    const found = problems(text);
    expect(found.map((p) => [p.path, p.line])).toEqual([
      ['kafka.bootstrap', 2],
      ['bridge.partitions', 4],
      ['bridge.retention', 5],
      ['bridge.batch.maxRecord', 7],
    ]);
    expect(found[0]!.message).toMatch(/host:port/);
    expect(found[2]!.message).toMatch(/duration/);
    expect(found[3]!.message).toMatch(/maxRecord/);
  });

  it('every scalar setting has an override; a bad one names the variable', () => {
    const overrides = centralEnvOverrides();
    expect(overrides.get('SKYHAUL_CENTRAL_BRIDGE_HTTP_PORT')).toEqual(['bridge', 'http', 'port']);
    expect(overrides.get('SKYHAUL_CENTRAL_BRIDGE_BATCH_MAX_DELAY')).toEqual(['bridge', 'batch', 'maxDelay']);
    const config = parseCentralConfig('kafka: { bootstrap: [a:1] }\n', 'central.yaml', { SKYHAUL_CENTRAL_KAFKA_BOOTSTRAP: 'k1:9092,k2:9092', SKYHAUL_CENTRAL_BRIDGE_PARTITIONS: '12' });
    expect(config.kafka.bootstrap).toEqual(['k1:9092', 'k2:9092']);
    expect(config.bridge.partitions).toBe(12);
    const bad = problems('', { SKYHAUL_CENTRAL_BRIDGE_PARTITIONS: 'many' });
    expect(bad).toHaveLength(1);
    expect(bad[0]!.path).toBe('bridge.partitions');
    expect(bad[0]!.message).toContain('SKYHAUL_CENTRAL_BRIDGE_PARTITIONS');
  });

  it('a YAML syntax error is one problem with its line', () => {
    const found = problems('bridge:\n  partitions: [1\n');
    expect(found).toHaveLength(1);
    expect(found[0]!.line).toBeGreaterThanOrEqual(2);
  });
});
