/**
 * What the package builders (sea, deb, tarball) share: their option parsing, the line that
 * reports what was built, and running as a script from npm.
 */
import { statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Log = (line: string) => void;

export const stdoutLog: Log = (line) => process.stdout.write(`${line}\n`);

/** `--flag [value]` options; a handler takes the flag's value by calling `value()`. */
export function parseFlags(argv: string[], flags: Record<string, (value: () => string) => void>): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const handle = Object.hasOwn(flags, arg) ? flags[arg] : undefined;
    if (handle === undefined) throw new Error(`unknown option ${arg}`);
    handle(() => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    });
  }
}

/** Logs `built FILE: N bytes (M MiB)[, detail], T ms` and returns the size and the time since t0. */
export function reportBuilt(log: Log, file: string, t0: number, detail?: string): { bytes: number; ms: number } {
  const bytes = statSync(file).size;
  const ms = Math.round(performance.now() - t0);
  log(`built ${relative(process.cwd(), file)}: ${bytes} bytes (${(bytes / 1048576).toFixed(1)} MiB)${detail === undefined ? '' : `, ${detail}`}, ${ms} ms`);
  return { bytes, ms };
}

/** Runs `main` when `moduleUrl` is the script node was started with; a failure exits 1 with `name: message`. */
export async function runAsScript(moduleUrl: string, name: string, main: (argv: string[]) => Promise<unknown>): Promise<void> {
  if (process.argv[1] === undefined || resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${name}: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
