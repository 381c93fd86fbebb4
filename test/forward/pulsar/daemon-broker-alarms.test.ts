/**
 * The daemon's wiring of the broker settings check, end to end: the real daemon (the bundle, as
 * it ships) forwarding to the dev stack's edge broker shows each finding as an alarm in status,
 * in /metrics and in its log. What the edge broker is set to depends on which template started the
 * running stack, so the expectations are computed from what the broker itself answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonHandle } from '../../support/daemon.ts';
import { adminGet } from '../../support/pulsar.ts';
import { requireEnv } from '../../support/stack-env.ts';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('broker settings alarms in the daemon', () => {
  it('raises what the edge broker lacks, by code, in status, metrics and log', async () => {
    const edge = requireEnv('SKYHAUL_PULSAR_EDGE_HTTP');
    const runtime = await adminGet<Record<string, string>>(edge, '/brokers/configuration/runtime');
    const windowMinutes = Number(runtime.brokerDeduplicationProducerInactivityTimeoutMinutes);
    // The daemon looks for the bookie's HTTP admin where the shipped configuration puts it.
    const bookieAnswers = await fetch('http://127.0.0.1:8000/api/v1/config/server_config', { signal: AbortSignal.timeout(2000) }).then(
      (res) => res.ok,
      () => false,
    );

    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-broker-alarms-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const daemon: DaemonHandle = await startDaemon({
      dir,
      config: {
        site: { id: `alarms-${Date.now().toString(36)}` },
        forward: { url: edge, target: 'site' },
        inputs: [{ type: 'http', name: 'push' }],
      },
    });
    cleanup.push(async () => void (await daemon.kill('SIGTERM')));
    // A record, so the daemon has a topic whose applied policies it checks.
    expect((await daemon.push([{ stream: 'weather/wxt536', payload: '{"t":1}' }])).status).toBe(200);

    const expected = new Map<string, string>();
    if (windowMinutes < 7 * 24 * 60) expected.set('broker_dedup_window', `brokerDeduplicationProducerInactivityTimeoutMinutes=${windowMinutes} `);
    if (!bookieAnswers) expected.set('broker_settings_unverified', 'cannot verify journalSyncData, journalWriteData (GET http://127.0.0.1:8000/api/v1/config/server_config: ');
    const deadline = Date.now() + 30_000;
    let alarms: Array<{ code: string; severity: string; message: string }> = [];
    while (Date.now() < deadline) {
      alarms = (await daemon.status()).alarms.filter((a) => a.code.startsWith('broker_'));
      if ([...expected.keys()].every((code) => alarms.some((a) => a.code === code))) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(alarms.map((a) => a.code).sort()).toEqual([...expected.keys()].sort());
    for (const alarm of alarms) {
      expect(alarm.message.startsWith(expected.get(alarm.code)!), alarm.message).toBe(true);
      expect(alarm.severity).toBe('warning');
    }
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    for (const code of expected.keys()) expect(metrics).toMatch(new RegExp(`skyhaul_alarm_active\\{[^}]*alarm="${code}"[^}]*\\} 1`));
    for (const code of expected.keys()) expect(daemon.log()).toContain(`alarm raised: ${code}: `);
  });
});
