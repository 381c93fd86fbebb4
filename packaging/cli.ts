/**
 * What the package builders (sea, deb, tarball) share: their option parsing, the line that
 * reports what was built, and running as a script from npm.
 */
import { statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { optionsUsage, parseChoice, parseCommand, parseNumber, type NumberRule, type OptionSpecs, type OptionValues } from '../src/common/args.ts';
import { isSkyhaulError } from '../src/common/errors.ts';

export type Log = (line: string) => void;

export const stdoutLog: Log = (line) => process.stdout.write(`${line}\n`);

/**
 * A builder's options, parsed strictly (src/cli/args.ts, on util.parseArgs): an unknown option, a
 * missing value, a value given to a flag, a repeated single-valued option or a stray argument
 * throws a usage error (SKY_ERR_USAGE; runAsScript exits 2 with it) naming the option, followed
 * by a usage line generated from `options`.
 */
export function parseFlags<const T extends OptionSpecs>(argv: string[], name: string, options: T): OptionValues<T> {
  return parseCommand(argv, { command: name, usage: flagsUsage(name, options), options }).values;
}

/** `usage: npm run NAME -- [--flag VALUE] …`, for messages. */
export function flagsUsage(name: string, options: OptionSpecs): string {
  return `usage: npm run ${name} -- ${optionsUsage(options)}`;
}

/** A number option of a builder (`--level 9`), checked against `rule`; a usage error otherwise. */
export function flagNumber(value: string, flag: string, rule: NumberRule, name: string, options: OptionSpecs): number {
  return parseNumber(value, flag, rule, name, flagsUsage(name, options));
}

/** One of `choices` (`--compress xz`); a usage error otherwise. */
export function flagChoice<C extends string>(value: string, flag: string, choices: readonly C[], name: string, options: OptionSpecs): C {
  return parseChoice(value, flag, choices, name, flagsUsage(name, options));
}

/** Logs `built FILE: N bytes (M MiB)[, detail], T ms` and returns the size and the time since t0. */
export function reportBuilt(log: Log, file: string, t0: number, detail?: string): { bytes: number; ms: number } {
  const bytes = statSync(file).size;
  const ms = Math.round(performance.now() - t0);
  log(`built ${relative(process.cwd(), file)}: ${bytes} bytes (${(bytes / 1048576).toFixed(1)} MiB)${detail === undefined ? '' : `, ${detail}`}, ${ms} ms`);
  return { bytes, ms };
}

/**
 * Runs `main` when `moduleUrl` is the script node was started with. A usage error (SKY_ERR_USAGE,
 * from parseFlags) exits 2 with its message (which names the command); any other failure exits 1
 * with `name: message`.
 */
export async function runAsScript(moduleUrl: string, name: string, main: (argv: string[]) => Promise<unknown>): Promise<void> {
  if (process.argv[1] === undefined || resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    if (isSkyhaulError(error, 'SKY_ERR_USAGE')) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`${name}: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
