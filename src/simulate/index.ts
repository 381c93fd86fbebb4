/**
 * `skyhaul simulate --profile small|observatory|large [--duration S] [--faults] [--config-out FILE]
 *  [--format yaml|json] [--mqtt URL] [--udp-port P] [--rate-scale X] [--seed N] [--wait S]`
 *
 * Prints (or writes to FILE) the `inputs:` configuration a daemon needs, drives the simulated
 * instruments over real transports for the duration (or until SIGINT/SIGTERM), then prints the
 * report as one JSON line: achieved msg/s per transport, records per stream, faults by kind and
 * adapter, and the decode errors the daemon should have counted.
 */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { parseChoice, parseCommand, parseNumber, usageError, type NumberRule } from '../common/args.ts';
import { isSkyhaulError } from '../common/errors.ts';
import { PROFILES } from './profiles.ts';
import { startSimulation, type SimulationOptions, type SimulationReport } from './simulation.ts';

export { startSimulation, type Simulation, type SimulationOptions, type SimulationReport, type Transport } from './simulation.ts';
export { PROFILES, profile, type Profile, type ProfileName } from './profiles.ts';

export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

export const SIMULATE_USAGE =
  'usage: skyhaul simulate --profile small|observatory|large [--duration S] [--faults] [--config-out FILE] [--format yaml|json] [--mqtt URL] [--udp-port P] [--rate-scale X] [--seed N] [--wait S]';

const COMMAND = 'skyhaul simulate';

/** The command's options, nothing else (parsed strictly: src/cli/args.ts). */
const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  profile: { type: 'string' },
  duration: { type: 'string' },
  faults: { type: 'boolean' },
  'config-out': { type: 'string' },
  format: { type: 'string' },
  mqtt: { type: 'string' },
  'udp-port': { type: 'string' },
  'rate-scale': { type: 'string' },
  seed: { type: 'string' },
  wait: { type: 'string' },
} as const;

interface Parsed {
  options: SimulationOptions;
  configOut: string | null;
  format: 'yaml' | 'json';
  waitMs: number;
}

/** The command line as simulation options, or 'help'; throws a usage error (SKY_ERR_USAGE) naming what is wrong. */
function parse(argv: string[]): Parsed | 'help' {
  const { values } = parseCommand(argv, { command: COMMAND, usage: SIMULATE_USAGE, options: OPTIONS });
  if (values.help === true) return 'help';
  const number = (flag: keyof typeof OPTIONS, rule: NumberRule): number | undefined => {
    const value = values[flag];
    return typeof value === 'string' ? parseNumber(value, flag, rule, COMMAND, SIMULATE_USAGE) : undefined;
  };
  if (values.profile === undefined) throw usageError(COMMAND, '--profile is required', SIMULATE_USAGE);
  const profile = parseChoice(values.profile, 'profile', PROFILES, COMMAND, SIMULATE_USAGE);
  if (values.mqtt !== undefined && !/^(mqtts?|wss?|tcp|ssl):\/\//.test(values.mqtt)) {
    throw usageError(COMMAND, `--mqtt needs a URL such as mqtt://127.0.0.1:1883, got '${values.mqtt}'`, SIMULATE_USAGE);
  }
  const duration = number('duration', { min: 0.1 });
  const udpPort = number('udp-port', { min: 1, max: 65535, integer: true });
  const rateScale = number('rate-scale', { min: 0.001 });
  const seed = number('seed', { min: 0, integer: true });
  const wait = number('wait', { min: 0 });
  const options: SimulationOptions = {
    profile,
    ...(duration === undefined ? {} : { durationMs: Math.round(duration * 1000) }),
    ...(values.faults === true ? { faults: true } : {}),
    ...(values.mqtt === undefined ? {} : { mqttUrl: values.mqtt }),
    ...(udpPort === undefined ? {} : { udpPort }),
    ...(rateScale === undefined ? {} : { rateScale }),
    ...(seed === undefined ? {} : { seed }),
  };
  const configOut = values['config-out'] ?? null;
  const format = values.format === undefined ? (configOut !== null && configOut.endsWith('.json') ? 'json' : 'yaml') : parseChoice(values.format, 'format', ['yaml', 'json'] as const, COMMAND, SIMULATE_USAGE);
  return { options, configOut, format, waitMs: Math.round((wait ?? 0) * 1000) };
}

/** Renders the inputs section as YAML (`inputs:` …) or JSON (`{"inputs": […]}`). */
export function renderInputs(inputs: Array<Record<string, unknown>>, format: 'yaml' | 'json'): string {
  return format === 'json' ? `${JSON.stringify({ inputs }, null, 2)}\n` : stringify({ inputs });
}

/**
 * `skyhaul simulate …` (`argv`: what follows `simulate`): resolves to the exit code, 0 after the
 * run (report printed), 1 when the simulation could not start (e.g. socat missing: the message says
 * how to install it), 2 for a usage error (the message names the option, then the usage).
 */
export async function simulateCommand(argv: string[], io: CommandIo): Promise<number> {
  let parsed: Parsed | 'help';
  try {
    parsed = parse(argv);
  } catch (error) {
    if (!isSkyhaulError(error, 'SKY_ERR_USAGE')) throw error;
    io.err(error.message);
    return 2;
  }
  if (parsed === 'help') {
    io.out(SIMULATE_USAGE);
    return 0;
  }
  let simulation;
  try {
    simulation = await startSimulation({ ...parsed.options, holdTraffic: true, warn: io.err });
  } catch (error) {
    io.err(`skyhaul simulate: ${(error as Error).message}`);
    return 1;
  }
  // From here on a signal stops the simulation cleanly (its socat helpers with it), also while
  // waiting before traffic starts.
  const onSignal = (): void => void simulation.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let report: SimulationReport;
  try {
    const text = renderInputs(simulation.inputsConfig, parsed.format);
    if (parsed.configOut !== null) {
      try {
        writeFileSync(parsed.configOut, text);
      } catch (error) {
        io.err(`skyhaul simulate: cannot write ${parsed.configOut}: ${(error as Error).message}`);
        await simulation.stop();
        return 1;
      }
      io.err(`inputs configuration written to ${parsed.configOut}`);
    } else {
      for (const line of text.replace(/\n$/, '').split('\n')) io.out(line);
    }
    if (parsed.waitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, parsed.waitMs))), simulation.finished]);
      // A signal ended the wait: its timer must not hold the process open.
      clearTimeout(timer);
    }

    simulation.begin();
    io.err(`simulating profile ${parsed.options.profile}${parsed.options.faults === true ? ' with faults' : ''} (Ctrl-C to stop)`);
    await simulation.finished;
    report = await simulation.stop();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const rates = Object.entries(report.transports)
    .filter(([, t]) => t.instruments > 0)
    .map(([name, t]) => `${name} ${t.msgPerSecond}/s`)
    .join(', ');
  io.err(`achieved ${report.msgPerSecond} msg/s (nominal ${report.nominalMsgPerSecond}): ${rates}`);
  io.out(JSON.stringify({ report }));
  return 0;
}
