/**
 * The chaos schedule, planned up front from a seed so that a failing run can be replayed with
 * `--seed`: a sequence of steps, each an up period (link fine, daemon running) followed by one
 * event.
 *
 *  - flap: 1–4 cuts of random length (link resets every connection and refuses new ones), with
 *    short up periods between them (LinkSimulator.flap with its own derived seed);
 *  - blackhole: nothing crosses the link for longer than the daemon's deadLinkTimeout, so the
 *    daemon has to detect it by silence; sometimes the daemon is also killed and restarted while
 *    the link is still black-holed (after detection), which leaves its old WebSocket sessions
 *    open on the broker side;
 *  - kill: kill -9 of the daemon, down for a random moment, then restarted on the same buffer.
 */
import { mulberry32 } from '../bench/util.ts';

export type ChaosStep =
  | { kind: 'flap'; upMs: number; cuts: number; minUpMs: number; maxUpMs: number; minDownMs: number; maxDownMs: number; seed: number }
  | { kind: 'blackhole'; upMs: number; durationMs: number; killAfterDetection: boolean }
  | { kind: 'kill'; upMs: number; downMs: number };

export interface ChaosPlan {
  seed: number;
  steps: ChaosStep[];
  /** Sum of the planned up periods and event durations (flaps: their expected length). */
  plannedMs: number;
}

export function stepMs(step: ChaosStep): number {
  switch (step.kind) {
    case 'flap':
      return step.upMs + step.cuts * ((step.minUpMs + step.maxUpMs) / 2 + (step.minDownMs + step.maxDownMs) / 2);
    case 'blackhole':
      return step.upMs + step.durationMs;
    case 'kill':
      return step.upMs + step.downMs + 1000;
  }
}

export function planChaos(options: { seed: number; durationMs: number; deadLinkTimeoutMs: number; quick: boolean }): ChaosPlan {
  const rand = mulberry32(options.seed);
  const between = (min: number, max: number): number => min + Math.floor(rand() * (max - min + 1));
  const kinds: Array<ChaosStep['kind']> = ['flap', 'blackhole', 'kill'];
  const make = (kind: ChaosStep['kind']): ChaosStep => {
    const upMs = options.quick ? between(1500, 4000) : between(2000, 12_000);
    switch (kind) {
      case 'flap':
        return {
          kind,
          upMs,
          cuts: between(1, options.quick ? 3 : 4),
          minUpMs: 200,
          maxUpMs: options.quick ? 1500 : 3000,
          minDownMs: 100,
          maxDownMs: options.quick ? 3000 : 8000,
          seed: Math.floor(rand() * 0x1_0000_0000) >>> 0,
        };
      case 'blackhole':
        return {
          kind,
          upMs,
          durationMs: between(options.deadLinkTimeoutMs + 2000, options.deadLinkTimeoutMs + (options.quick ? 4000 : 12_000)),
          killAfterDetection: rand() < 0.3,
        };
      case 'kill':
        return { kind, upMs, downMs: between(0, options.quick ? 1500 : 4000) };
    }
  };
  const steps: ChaosStep[] = [];
  // Every kind at least once, in a seeded order; then random kinds until the time is used up.
  const first = [...kinds];
  for (let i = first.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [first[i], first[j]] = [first[j]!, first[i]!];
  }
  let plannedMs = 0;
  for (const kind of first) {
    const step = make(kind);
    steps.push(step);
    plannedMs += stepMs(step);
  }
  while (true) {
    const step = make(kinds[Math.floor(rand() * kinds.length)]!);
    if (plannedMs + stepMs(step) > options.durationMs) break;
    steps.push(step);
    plannedMs += stepMs(step);
  }
  return { seed: options.seed, steps, plannedMs };
}
