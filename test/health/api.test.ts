/**
 * The local API against the running daemon (a child process on the real stack): every route,
 * readiness reasons, token-protected actions, metrics that pass `promtool check metrics`, the
 * live event stream, and the self-test result in status.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';
import { startDaemon, type DaemonHandle, type DaemonStatus } from '../support/daemon.ts';
import { requireEnv } from '../support/stack-env.ts';

const TOKEN = 'test-token-3f9a';
let daemon: DaemonHandle;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skyhaul-api-'));
  daemon = await startDaemon({
    dir,
    config: {
      site: { id: `api-${Date.now().toString(36)}` },
      http: { token: TOKEN },
      forward: { url: requireEnv('SKYHAUL_PULSAR_EDGE_HTTP'), deadLinkTimeout: '5s' },
      streams: [{ match: 'weather/*', priority: 'telemetry', expectedInterval: '1s' }, { match: 'alarms/**', priority: 'alarm' }],
      alarms: { staleInstruments: true },
      jobs: { selfTest: '*/5 * * * * *' },
      inputs: [{ type: 'http', name: 'push' }],
    },
  });
  await daemon.push([{ stream: 'weather/wxt536', payload: '0R0,Ta=11.2C' }]);
});

afterAll(async () => {
  await daemon?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${daemon.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
}

async function post(path: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${daemon.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-skyhaul-operator': 'night-shift', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
}

describe('health API', () => {
  it('GET /healthz and /readyz', async () => {
    expect(await (await get('/healthz')).json()).toEqual({ status: 'alive' });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true });
  });

  it('GET /api/v1/status tells link, backlog, rates, drops, disk, host, instruments, alarms', async () => {
    const deadline = Date.now() + 20_000;
    let status = await daemon.status();
    while ((status.link.state !== 'up' || status.host === null) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = await daemon.status();
    }
    expect(status.link.state).toBe('up');
    expect(status.backlog).toMatchObject({ quotaBytes: 1024 ** 3 });
    expect(Object.keys(status.backlog.byPriority).sort()).toEqual(['alarm', 'bulk', 'control', 'telemetry']);
    expect(status.rates).toHaveProperty('ingestPerSecond');
    expect(status).toHaveProperty('drainEtaSeconds');
    expect((status.disk as { freeBytes: number }).freeBytes).toBeGreaterThan(0);
    expect((status.host as { memoryTotalBytes: number }).memoryTotalBytes).toBeGreaterThan(0);
    const instruments = status.instruments as Array<{ stream: string; lastSeen: number; expectedIntervalMs: number }>;
    expect(instruments.find((i) => i.stream === 'weather/wxt536')).toMatchObject({ expectedIntervalMs: 1000 });
  });

  it('raises a stale-instrument alarm when a stream with an expected interval goes silent, and acknowledges it with the token', async () => {
    const deadline = Date.now() + 20_000;
    let alarms: DaemonStatus['alarms'] = [];
    while (!alarms.some((a) => a.code === 'instrument_stale') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      alarms = (await daemon.status()).alarms;
    }
    expect(alarms.map((a) => a.code)).toContain('instrument_stale');
    const metrics = await (await get('/metrics')).text();
    expect(metrics).toMatch(/skyhaul_instrument_stale\{stream="weather\/wxt536"\} 1/);
    expect(metrics).toMatch(/skyhaul_alarm_active\{alarm="instrument_stale",severity="warning"\} 1/);

    const ack = await post('/api/v1/alarms/instrument_stale/ack', {}, TOKEN);
    expect(ack.status).toBe(200);
    const acknowledged = (await daemon.status()).alarms.find((a) => a.code === 'instrument_stale');
    expect(acknowledged?.acknowledged?.by).toMatch(/^night-shift@/);
    expect((await post('/api/v1/alarms/no_such_alarm/ack', {}, TOKEN)).status).toBe(404);
    // The alarm went into the alarm lane as a record too.
    const lane = (await daemon.status()).backlog.streams.find((s) => s.stream === '_skyhaul/alarms');
    expect(lane?.lastSequence ?? 0).toBeGreaterThanOrEqual(1);
  }, 40_000);

  it('refuses actions without the token, and with a wrong one; logs who did what', async () => {
    const none = await post('/api/v1/actions/pause', {});
    expect(none.status).toBe(401);
    const wrong = await post('/api/v1/actions/pause', {}, 'nope');
    expect(wrong.status).toBe(401);
    expect((await daemon.status()).paused).toBe(false);

    const pause = await post('/api/v1/actions/pause', {}, TOKEN);
    expect(pause.status).toBe(200);
    expect((await daemon.status()).paused).toBe(true);
    expect((await daemon.status()).link.state).toBe('paused');
    expect((await post('/api/v1/actions/resume', {}, TOKEN)).status).toBe(200);
    expect((await daemon.status()).paused).toBe(false);

    expect((await post('/api/v1/actions/bandwidth', { bytesPerSecond: 'lots' }, TOKEN)).status).toBe(400);
    expect((await post('/api/v1/actions/bandwidth', { bytesPerSecond: 20000 }, TOKEN)).status).toBe(200);
    expect((await daemon.status()).forwarding).toMatchObject({ bandwidthBytesPerSecond: 20000 });
    expect((await post('/api/v1/actions/bandwidth', { bytesPerSecond: 'schedule' }, TOKEN)).status).toBe(200);
    expect((await daemon.status()).forwarding).toMatchObject({ bandwidthBytesPerSecond: null });

    const log = daemon.log();
    expect(log).toMatch(/"component":"audit","action":"pause","who":"night-shift@127\.0\.0\.1".*"outcome":"denied"/);
    expect(log).toMatch(/"component":"audit","action":"pause","who":"night-shift@127\.0\.0\.1".*"outcome":"done"/);
  });

  it('rate-limits actions', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await post('/api/v1/actions/resume', {}, TOKEN)).status);
    expect(statuses).toContain(429);
  });

  it('serves /metrics that pass promtool check metrics, with skyhaul_* names and process/host metrics', async () => {
    const body = await (await get('/metrics')).text();
    for (const name of [
      'skyhaul_records_ingested_total',
      'skyhaul_backlog_records',
      'skyhaul_link_up',
      'skyhaul_buffer_commit_duration_seconds_bucket',
      'skyhaul_buffer_commit_latency_seconds_bucket',
      'skyhaul_disk_free_bytes',
      'skyhaul_process_cpu_seconds_total',
      'skyhaul_host_memory_available_bytes',
      'skyhaul_build_info',
      'skyhaul_event_loop_delay_seconds{percentile="99"}',
      'skyhaul_clock_synchronised',
    ]) {
      expect(body, name).toContain(name);
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('');
    expect(check.status).toBe(0);
  });

  it('streams live status over Server-Sent Events', async () => {
    const controller = new AbortController();
    const res = await fetch(`${daemon.url}/api/v1/events`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    while ((text.match(/event: status/g) ?? []).length < 2 && Date.now() < deadline) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect((text.match(/event: status/g) ?? []).length).toBeGreaterThanOrEqual(2);
    const data = /event: status\ndata: (.*)\n/.exec(text)![1]!;
    expect(JSON.parse(data)).toHaveProperty('link.state');
  });

  it('describes every route in /api/v1/openapi.json, and every described GET route answers', async () => {
    const doc = (await (await get('/api/v1/openapi.json')).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/v1/status', '/api/v1/events', '/api/v1/history', '/api/v1/actions/pause', '/api/v1/alarms/{code}/ack', '/']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!('get' in methods) || path.includes('{') || path === '/api/v1/events') continue;
      expect((await get(path)).status, path).toBeLessThan(400);
    }
  });

  it('shows the self-test result in status (canary through the buffer and Pulsar)', async () => {
    const deadline = Date.now() + 30_000;
    let selfTest = (await daemon.status()).selfTest as { ok: boolean; checkedForwarding: boolean; forwardMs: number | null } | null;
    while ((selfTest === null || !selfTest.checkedForwarding) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      selfTest = (await daemon.status()).selfTest as typeof selfTest;
    }
    expect(selfTest).toMatchObject({ ok: true, checkedForwarding: true });
    expect(selfTest!.forwardMs).toBeGreaterThanOrEqual(0);
    const jobs = (await daemon.status()).jobs as Array<{ name: string; runs: number }>;
    expect(jobs.find((j) => j.name === 'selfTest')!.runs).toBeGreaterThanOrEqual(1);
  }, 40_000);
});

describe('readiness reasons and disabled actions', () => {
  it('answers 503 with the reason when the buffer disk is below the watchdog threshold, and refuses actions without a configured token', async () => {
    const otherDir = mkdtempSync(join(tmpdir(), 'skyhaul-notready-'));
    const other = await startDaemon({
      dir: otherDir,
      // A threshold no disk meets: the watchdog holds intake, so the daemon is up but not ready.
      config: { site: { id: 'notready' }, forward: { enabled: false }, buffer: { disk: { minFree: '1000TiB', resumeFree: '1001TiB', checkInterval: '1s' } } },
      wait: false,
    });
    try {
      const deadline = Date.now() + 20_000;
      let res: Response | null = null;
      while (Date.now() < deadline) {
        try {
          res = await fetch(`${other.url}/readyz`);
          if (res.status === 503) break;
        } catch {
          // not listening yet
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(res?.status).toBe(503);
      const body = (await res!.json()) as { ready: boolean; reasons: string[] };
      expect(body.ready).toBe(false);
      expect(body.reasons.join('; ')).toMatch(/disk low/);
      const action = await fetch(`${other.url}/api/v1/actions/pause`, { method: 'POST', headers: { authorization: 'Bearer anything' } });
      expect(action.status).toBe(403);
      expect(((await action.json()) as { error: { code: string } }).error.code).toBe('SKY_ERR_ACTIONS_DISABLED');
    } finally {
      await other.kill('SIGTERM');
      rmSync(otherDir, { recursive: true, force: true });
    }
  }, 40_000);
});

describe('monitoring assets for the data centre', () => {
  it('ships alert rules that pass promtool check rules and use only metrics the daemon exports', async () => {
    const file = join(repoRoot, 'packaging/monitoring/skyhaul-alerts.yml');
    const check = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const exported = await (await get('/metrics')).text();
    const rules = parse(readFileSync(file, 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> };
    const dashboard = JSON.parse(readFileSync(join(repoRoot, 'packaging/monitoring/grafana-dashboard.json'), 'utf8')) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const exprs = [...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
    for (const expr of exprs) {
      for (const name of expr.match(/skyhaul_[a-z_]+/g) ?? []) {
        expect(exported, `${name} in ${expr}`).toMatch(new RegExp(`^# TYPE ${name.replace(/_(bucket|sum|count)$/, '')} `, 'm'));
      }
    }
  });
});
