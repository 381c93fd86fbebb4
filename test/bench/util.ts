/**
 * Small helpers shared by the benchmark and chaos harnesses: timing, percentiles, a seeded PRNG,
 * an RSS sampler for child processes, and a registry of things to tear down on exit.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle } from '../../packaging/build.ts';
import { optionsUsage, parseCommand, parseNumber, type OptionSpecs } from '../../src/common/args.ts';
import { isSkyhaulError } from '../../src/common/errors.ts';
import { stackDown, stackUp, type StackEndpoints } from '../../packaging/dev-stack/stack.ts';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Nearest-rank percentile of an unsorted sample (p in 0..100); NaN for an empty sample. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** mulberry32: small, fast, good enough for schedules; the same seed gives the same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}

/** Resident set size of a process in MiB from /proc/<pid>/status (VmRSS), or null when gone. */
export function rssMb(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/**
 * Samples the RSS of whatever process `pid()` names every `everyMs` (the pid may change across
 * restarts) and keeps the peak and the sample count.
 */
export class RssSampler {
  peakMb = 0;
  samples = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pid: () => number | undefined,
    private readonly everyMs = 100,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    return this;
  }

  sample(): void {
    const pid = this.pid();
    if (pid === undefined) return;
    const mb = rssMb(pid);
    if (mb === null) return;
    this.samples += 1;
    if (mb > this.peakMb) this.peakMb = mb;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/**
 * Teardown registry: every resource a run starts registers its cleanup here, so that a failure,
 * an exception or Ctrl-C still leaves nothing running. Cleanups run once, newest first.
 */
export class Cleanup {
  private readonly tasks: Array<{ name: string; fn: () => Promise<void> | void }> = [];
  private ran = false;

  add(name: string, fn: () => Promise<void> | void): () => Promise<void> {
    const task = { name, fn };
    this.tasks.push(task);
    return async () => {
      const i = this.tasks.indexOf(task);
      if (i >= 0) this.tasks.splice(i, 1);
      await fn();
    };
  }

  async run(): Promise<void> {
    if (this.ran) return;
    this.ran = true;
    for (const task of this.tasks.splice(0).reverse()) {
      try {
        await task.fn();
      } catch (error) {
        process.stderr.write(`cleanup ${task.name} failed: ${(error as Error).message}\n`);
      }
    }
  }

  /** Runs the cleanups on SIGINT/SIGTERM, then exits with 130/143. */
  onSignals(): void {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      process.once(signal, () => {
        process.stderr.write(`\n${signal}: cleaning up\n`);
        void this.run().finally(() => process.exit(code));
      });
    }
  }
}

/**
 * What the bench and chaos harnesses start with, inside the caller's try (its cleanup.run() undoes
 * it): a work dir, the daemon bundle unless `build` is false, and the dev stack, stopped
 * afterwards only if this run started it.
 */
export async function prepareRun(cleanup: Cleanup, prefix: string, build: boolean): Promise<{ dir: string; env: StackEndpoints; started: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.add('work dir', () => rmSync(dir, { recursive: true, force: true }));
  if (build) {
    log('bundling the daemon (dist/skyhaul.mjs)');
    await bundle();
  }
  const { started, env } = await stackUp();
  if (started.length > 0) cleanup.add(`stack services ${started.join(', ')}`, () => stackDown(started));
  return { dir, env, started };
}

/**
 * `--name value` / `--flag` parsing for the harness CLIs, strict (src/cli/args.ts, on
 * util.parseArgs): an unknown option, a missing value, a value given to a flag, a repeated option,
 * a stray argument or a bad number throws a usage error (SKY_ERR_USAGE) naming it, with a usage
 * line generated from `spec`. Numbers may be written with underscores (`--backlog 5_000_000`).
 * A bare `--` is skipped wherever it is: npm and pnpm may pass one through.
 */
export function parseArgs(argv: string[], spec: Record<string, 'string' | 'number' | 'boolean'>, name = 'harness'): Record<string, string | number | boolean> {
  const options: OptionSpecs = Object.fromEntries(Object.entries(spec).map(([key, kind]) => [key, { type: kind === 'boolean' ? 'boolean' : 'string' }]));
  const usage = `usage: ${name} ${optionsUsage(options)}`;
  const { values } = parseCommand(
    argv.filter((arg) => arg !== '--'),
    { command: name, usage, options },
  );
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(values)) {
    if (typeof value === 'string' && spec[key] === 'number') out[key] = parseNumber(value.replace(/_/g, ''), key, {}, name, usage);
    else if (typeof value === 'string' || typeof value === 'boolean') out[key] = value;
  }
  return out;
}

/** parseArgs() for a harness's main: a usage error prints its message and exits 2 (other errors are thrown). */
export function parseArgsOrExit(argv: string[], spec: Record<string, 'string' | 'number' | 'boolean'>, name: string): Record<string, string | number | boolean> {
  try {
    return parseArgs(argv, spec, name);
  } catch (error) {
    if (!isSkyhaulError(error, 'SKY_ERR_USAGE')) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}

export function log(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc/<pid>/stat; null when gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start with the state (field 3).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Linux USER_HZ: 100 on every mainstream architecture (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** Average cores used by named processes between start() and stop(). */
export class CpuMeter {
  private readonly start0 = new Map<string, number>();
  private t0 = 0;

  constructor(private readonly pids: Record<string, number | undefined>) {}

  start(): this {
    this.t0 = performance.now();
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = pid === undefined ? null : cpuSeconds(pid);
      if (s !== null) this.start0.set(name, s);
    }
    return this;
  }

  /** name → average cores (1.0 = one core fully busy) over the interval. */
  stop(): Record<string, number> {
    const seconds = (performance.now() - this.t0) / 1000;
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const before = this.start0.get(name);
      const after = pid === undefined ? null : cpuSeconds(pid);
      if (before !== undefined && after !== null) out[name] = (after - before) / seconds;
    }
    return out;
  }
}

/** Pid of a dev-stack service from `.stack/<service>/pid` (read now: a test may have restarted it). */
export function stackPid(stackDir: string, service: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${stackDir}/${service}/pid`, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
