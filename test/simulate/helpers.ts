/**
 * Shared by the simulator's end-to-end tests: start a daemon on a simulation's inputs, wait for
 * its inputs, and read back what it counted for this simulation's instruments; and, for the CLI
 * tests, a PATH without a given tool and the helper processes (socat) a process left behind.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
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

/**
 * A PATH on which `missing` (e.g. socat) cannot be found but everything else can: a temp dir of
 * symlinks to every executable on this PATH except those. (A PATH of node's own dir alone would
 * not do: node is often in /usr/bin, next to socat.) Returns the PATH and a cleanup.
 */
export function pathWithout(missing: string[]): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'skyhaul-path-'));
  for (const from of (process.env.PATH ?? '').split(delimiter)) {
    let names: string[];
    try {
      names = readdirSync(from);
    } catch {
      continue;
    }
    for (const name of names) {
      if (missing.includes(name) || existsSync(join(dir, name))) continue;
      symlinkSync(join(from, name), join(dir, name));
    }
  }
  return { path: dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The children of `pid` whose command name is `comm` (from /proc), by pid. */
export function childrenNamed(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== null && stat.ppid === pid && stat.comm === comm) out.push(Number(entry));
  }
  return out;
}

/**
 * Whether `pid` is a live process. A zombie is dead (it has exited and waits to be reaped; in a
 * container whose init does not reap, orphans stay zombies forever, and signal 0 still succeeds).
 */
export function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X';
}

function procStat(pid: number): { comm: string; state: string; ppid: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid …": comm may contain spaces and parentheses; it ends at the last ')'.
  const close = text.lastIndexOf(')');
  const [state, ppid] = text.slice(close + 2).split(' ');
  return { comm: text.slice(text.indexOf('(') + 1, close), state: state!, ppid: Number(ppid) };
}

/** Waits until none of `pids` is alive; returns those still alive after `timeoutMs`. */
export async function survivors(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await sleep(50);
  }
}
