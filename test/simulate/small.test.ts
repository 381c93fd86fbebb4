/**
 * The `small` profile with faults for ~10 s over real transports (socat ptys, UDP, Mosquitto,
 * TCP servers) into the bundled daemon with forwarding off: the daemon's decode errors equal the
 * faults injected, and its committed records equal the good frames sent, stream by stream.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation } from '../../src/simulate/index.ts';
import { startDaemon, type DaemonHandle } from '../support/daemon.ts';
import { requireEnv } from '../support/stack-env.ts';
import { committedByStream, decodeErrorsByAdapter, sleep, total, waitInputsRunning } from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('skyhaul simulate: small profile', () => {
  it('with faults: decode errors equal the faults injected, committed records equal good frames sent', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-sim-small-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const simulation: Simulation = await startSimulation({ profile: 'small', faults: true, mqttUrl: requireEnv('SKYHAUL_MQTT_URL'), holdTraffic: true, seed: 42 });
    cleanups.push(async () => void (await simulation.stop()));
    const daemon: DaemonHandle = await startDaemon({
      dir,
      config: { site: { id: 'sim-small' }, forward: { enabled: false }, inputs: simulation.inputsConfig },
    });
    cleanups.push(async () => void (await daemon.kill('SIGTERM')));
    await waitInputsRunning(daemon, simulation);

    simulation.begin();
    await sleep(10_000);
    const report = await simulation.stop();
    await sleep(2000);
    const status = await daemon.status();

    // The profile ran (nominal ≈ 24 msg/s) on every transport, and faults of every kind were
    // injected. The simulator paces by elapsed time, so a busy machine does not slow it much; the
    // bound catches a transport or the pacing stuck, not a slow machine.
    expect(report.msgPerSecond).toBeGreaterThan(report.nominalMsgPerSecond * 0.5);
    for (const t of ['serial', 'udp', 'mqtt', 'tcp'] as const) expect(report.transports[t].frames, t).toBeGreaterThan(5);
    expect(total(report.injected['usb-vanish'])).toBeGreaterThanOrEqual(1);
    expect(total(report.injected.silence)).toBeGreaterThanOrEqual(1);
    expect(total(report.injected.burst)).toBeGreaterThanOrEqual(1);
    const errorFaults = total(report.injected.checksum) + total(report.injected.truncated) + total(report.injected['device-error']);
    expect(errorFaults).toBeGreaterThan(3);

    // Every checksum/truncation/device-error fault was counted once by the daemon, per adapter and code.
    expect(decodeErrorsByAdapter(status, simulation)).toEqual(report.expectedDecodeErrors);
    // Every good frame became exactly one committed record, stream by stream.
    expect(committedByStream(status, report)).toEqual(report.streams);
    console.log(`small: ${JSON.stringify({ msgPerSecond: report.msgPerSecond, transports: Object.fromEntries(Object.entries(report.transports).map(([k, t]) => [k, t.msgPerSecond])), records: total(report.streams), injected: report.injected })}`);
  });
});
