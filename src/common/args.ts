/**
 * Strict command-line parsing for every Skyhaul command line (the daemon's CLI, the simulator, the
 * package builders, the bench and chaos harnesses), on Node's own `util.parseArgs` with
 * `strict: true`. A typo must never be ignored: `skyhaul run --confg site.yaml` once ran the
 * built-in demo site instead of the site's configuration. So every problem is a usage error
 * (`SkyhaulError` with code `SKY_ERR_USAGE`, exit 2 in the CLI) whose message names what was wrong
 * and ends with the command's usage:
 *
 *   - an option the command does not have (with the closest known option when one is near);
 *   - a missing value (`--config` at the end, or followed by another option: `--config --json`);
 *   - a value given to a flag (`--json=yes`);
 *   - a single-valued option given twice (the last one silently winning is another typo trap);
 *   - a positional argument the command does not take, or too few of them;
 *   - (through `parseNumber`, `parseChoice`) a value that is not a number in range, or not one of the choices.
 */
import { parseArgs } from 'node:util';
import { SkyhaulError } from './errors.ts';

/** One option: a string that takes a value, or a boolean flag; `multiple` collects repeats into an array. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** The values parseArgs returns for `T`: a string or boolean (arrays for `multiple`), absent when not given. */
export type OptionValues<T extends OptionSpecs> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? (T[K]['multiple'] extends true ? boolean[] : boolean) : T[K]['multiple'] extends true ? string[] : string;
};

export interface CommandSpec<T extends OptionSpecs> {
  /** How the command is named in messages, e.g. `skyhaul run`. */
  command: string;
  /** The usage text appended to every error. */
  usage: string;
  options: T;
  /** Positional arguments taken (default none): at least `min`, at most `max`; `names` for the "missing" message. */
  positionals?: { min: number; max: number; names: string };
}

export interface ParsedCommand<T extends OptionSpecs> {
  values: OptionValues<T>;
  positionals: string[];
}

/** A usage error for `command`: the problem, then the usage (exit 2 in every CLI). */
export function usageError(command: string, problem: string, usage: string, cause?: unknown): SkyhaulError {
  return new SkyhaulError('SKY_ERR_USAGE', `${command}: ${problem}\n${usage}`, cause === undefined ? undefined : { cause });
}

/**
 * Parses `argv` (the arguments after the command's name) strictly against `spec`.
 * Returns the option values and the positionals; throws a usage error (SKY_ERR_USAGE) for any
 * unknown option, missing or unexpected value, repeated single-valued option, or positional
 * argument outside `spec.positionals`.
 */
export function parseCommand<const T extends OptionSpecs>(argv: string[], spec: CommandSpec<T>): ParsedCommand<T> {
  const positionals = spec.positionals ?? { min: 0, max: 0, names: '' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: spec.options, strict: true, allowPositionals: positionals.max > 0, tokens: true });
  } catch (error) {
    throw usageError(spec.command, describeParseError(error, argv, spec.options), spec.usage, error);
  }
  const seen = new Map<string, number>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option' || spec.options[token.name]?.multiple === true) continue;
    const count = (seen.get(token.name) ?? 0) + 1;
    seen.set(token.name, count);
    if (count === 2) throw usageError(spec.command, `option '--${token.name}' given more than once`, spec.usage);
  }
  if (parsed.positionals.length > positionals.max) {
    throw usageError(spec.command, `unexpected argument '${parsed.positionals[positionals.max]}'`, spec.usage);
  }
  if (parsed.positionals.length < positionals.min) throw usageError(spec.command, `missing ${positionals.names}`, spec.usage);
  return { values: parsed.values as OptionValues<T>, positionals: parsed.positionals };
}

/**
 * util.parseArgs's own message for most errors (it names the option: "Option '--config <value>'
 * argument missing"); for an unknown option, the option as typed and the nearest known one.
 */
function describeParseError(error: unknown, argv: string[], options: OptionSpecs): string {
  const code = (error as { code?: string }).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // Parse again without strictness only to find which token it was (the message's wording is
    // Node's and may change; the tokens are the API).
    const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
    const unknown = tokens.find((t) => t.kind === 'option' && !Object.hasOwn(options, t.name));
    if (unknown !== undefined && unknown.kind === 'option') {
      const near = nearest(unknown.name, Object.keys(options));
      return `unknown option '${unknown.rawName}'${near === null ? '' : ` (did you mean '--${near}'?)`}`;
    }
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
    const stray = tokens.find((t) => t.kind === 'positional');
    if (stray !== undefined && stray.kind === 'positional') return `unexpected argument '${stray.value}'`;
  }
  return (error as Error).message;
}

/** The known option within edit distance 2 of `name` (the closest), or null. */
function nearest(name: string, known: string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

export interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
}

/**
 * A decimal number given to `flag` (`--duration 2.5`, `--seed 7`), checked against `rule`; throws a
 * usage error naming the flag otherwise. Stricter than Number(): '', ' ', '0x10' and '1,5' are refused.
 */
export function parseNumber(value: string, flag: string, rule: NumberRule, command: string, usage: string): number {
  const n = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(value) ? Number(value) : Number.NaN;
  const range = [rule.min === undefined ? null : `≥ ${rule.min}`, rule.max === undefined ? null : `≤ ${rule.max}`].filter((x) => x !== null).join(' and ');
  const wanted = `${rule.integer === true ? 'an integer' : 'a number'}${range === '' ? '' : ` ${range}`}`;
  if (!Number.isFinite(n) || (rule.integer === true && !Number.isInteger(n)) || (rule.min !== undefined && n < rule.min) || (rule.max !== undefined && n > rule.max)) {
    throw usageError(command, `--${flag} expects ${wanted}, got '${value}'`, usage);
  }
  return n;
}

/** `value` when it is one of `choices`; a usage error naming `flag` and the choices otherwise. */
export function parseChoice<C extends string>(value: string, flag: string, choices: readonly C[], command: string, usage: string): C {
  if ((choices as readonly string[]).includes(value)) return value as C;
  throw usageError(command, `--${flag} must be one of ${choices.join(', ')}, got '${value}'`, usage);
}

/** A usage line generated from the options, for commands without a hand-written one: `[--out VALUE] [--quick]`. */
export function optionsUsage(options: OptionSpecs): string {
  return Object.entries(options)
    .map(([name, o]) => `[--${name}${o.type === 'string' ? ` ${name.toUpperCase().replace(/-/g, '_')}` : ''}]${o.multiple === true ? '...' : ''}`)
    .join(' ');
}
