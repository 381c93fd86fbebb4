/**
 * Shared by the simulator's end-to-end tests: start a daemon on a simulation's inputs, wait for
 * its inputs, and read back what it counted for this simulation's instruments.
 */
import type { DaemonHandle, DaemonStatus } from '../support/daemon.ts';
import type { Simulation, SimulationReport } from '../../src/simulate/index.ts';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 800)}`);
    await sleep(200);
  }
}

/** Every input of the simulation is running in the daemon (then a grace for MQTT's SUBACK and TCP's first poll). */
export async function waitInputsRunning(daemon: DaemonHandle, simulation: Simulation): Promise<void> {
  await waitFor(
    () => daemon.status(),
    (s) => simulation.inputNames.every((name) => s.inputs.find((i) => i.name === name)?.state === 'running'),
    20_000,
    'simulated inputs running',
  );
  await sleep(1500);
}

/** The daemon's decode errors on the simulation's inputs, by adapter and code. */
export function decodeErrorsByAdapter(status: DaemonStatus, simulation: Simulation): Record<string, Record<string, number>> {
  const inputs = new Set(simulation.inputNames);
  const out: Record<string, Record<string, number>> = {};
  for (const e of status.decodeErrors) {
    if (!inputs.has(e.input)) continue;
    const byCode = (out[e.adapter] ??= {});
    byCode[e.code] = (byCode[e.code] ?? 0) + e.count;
  }
  return out;
}

/** Records per stream the daemon committed, for the simulation's streams (forwarding off: the backlog holds them all). */
export function committedByStream(status: DaemonStatus, report: SimulationReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of status.backlog.streams) if (s.stream in report.streams || s.stream.split('/')[0]! in report.expectedDecodeErrorsByInstrument) out[s.stream] = s.records;
  return out;
}

export function total(map: Record<string, number>): number {
  return Object.values(map).reduce((a, b) => a + b, 0);
}

/** Datagrams the kernel dropped on the daemon's UDP sockets of these inputs (all inputs when omitted). */
export function udpKernelDrops(status: DaemonStatus, inputs?: string[]): number {
  return status.inputs
    .filter((i) => inputs === undefined || inputs.includes(i.name))
    .map((i) => (i as unknown as { drops?: { kernelSocket: number } }).drops?.kernelSocket ?? 0)
    .reduce((a, b) => a + b, 0);
}
