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
import { PROFILES, type ProfileName } from './profiles.ts';
import { startSimulation, type SimulationOptions } from './simulation.ts';

export { startSimulation, type Simulation, type SimulationOptions, type SimulationReport, type Transport } from './simulation.ts';
export { PROFILES, profile, type Profile, type ProfileName } from './profiles.ts';

export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

export const SIMULATE_USAGE =
  'usage: skyhaul simulate --profile small|observatory|large [--duration S] [--faults] [--config-out FILE] [--format yaml|json] [--mqtt URL] [--udp-port P] [--rate-scale X] [--seed N] [--wait S]';

interface Parsed {
  options: SimulationOptions;
  configOut: string | null;
  format: 'yaml' | 'json';
  waitMs: number;
}

function parse(argv: string[]): Parsed | string {
  let profile: ProfileName | null = null;
  const options: Partial<SimulationOptions> = {};
  let configOut: string | null = null;
  let format: 'yaml' | 'json' | null = null;
  let waitMs = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | null => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined) return null;
      i += 1;
      return next;
    };
    const number = (name: string, min: number): number | string => {
      const v = value();
      const n = v === null ? Number.NaN : Number(v);
      return Number.isFinite(n) && n >= min ? n : `${name} needs a number ≥ ${min}`;
    };
    switch (flag) {
      case '--profile': {
        const v = value();
        if (v === null || !(PROFILES as readonly string[]).includes(v)) return `--profile must be one of ${PROFILES.join(', ')}`;
        profile = v as ProfileName;
        break;
      }
      case '--duration': {
        const n = number('--duration', 0.1);
        if (typeof n === 'string') return n;
        options.durationMs = Math.round(n * 1000);
        break;
      }
      case '--faults':
        options.faults = true;
        break;
      case '--config-out': {
        const v = value();
        if (v === null) return '--config-out needs a file';
        configOut = v;
        break;
      }
      case '--format': {
        const v = value();
        if (v !== 'yaml' && v !== 'json') return '--format must be yaml or json';
        format = v;
        break;
      }
      case '--mqtt': {
        const v = value();
        if (v === null || !/^(mqtts?|wss?|tcp|ssl):\/\//.test(v)) return '--mqtt needs a URL such as mqtt://127.0.0.1:1883';
        options.mqttUrl = v;
        break;
      }
      case '--udp-port': {
        const n = number('--udp-port', 1);
        if (typeof n === 'string') return n;
        options.udpPort = Math.floor(n);
        break;
      }
      case '--rate-scale': {
        const n = number('--rate-scale', 0.001);
        if (typeof n === 'string') return n;
        options.rateScale = n;
        break;
      }
      case '--seed': {
        const n = number('--seed', 0);
        if (typeof n === 'string') return n;
        options.seed = Math.floor(n);
        break;
      }
      case '--wait': {
        const n = number('--wait', 0);
        if (typeof n === 'string') return n;
        waitMs = Math.round(n * 1000);
        break;
      }
      case '--help':
      case '-h':
        return SIMULATE_USAGE;
      default:
        return `unknown argument '${arg}'`;
    }
  }
  if (profile === null) return '--profile is required';
  const resolvedFormat = format ?? (configOut !== null && configOut.endsWith('.json') ? 'json' : 'yaml');
  return { options: { ...options, profile }, configOut, format: resolvedFormat, waitMs };
}

/** Renders the inputs section as YAML (`inputs:` …) or JSON (`{"inputs": […]}`). */
export function renderInputs(inputs: Array<Record<string, unknown>>, format: 'yaml' | 'json'): string {
  return format === 'json' ? `${JSON.stringify({ inputs }, null, 2)}\n` : stringify({ inputs });
}

export async function simulateCommand(argv: string[], io: CommandIo): Promise<number> {
  const parsed = parse(argv);
  if (typeof parsed === 'string') {
    io.err(parsed === SIMULATE_USAGE ? SIMULATE_USAGE : `skyhaul simulate: ${parsed}`);
    if (parsed !== SIMULATE_USAGE) io.err(SIMULATE_USAGE);
    return parsed === SIMULATE_USAGE ? 0 : 2;
  }
  let simulation;
  try {
    simulation = await startSimulation({ ...parsed.options, holdTraffic: true });
  } catch (error) {
    io.err(`skyhaul simulate: ${(error as Error).message}`);
    return 1;
  }
  const text = renderInputs(simulation.inputsConfig, parsed.format);
  if (parsed.configOut !== null) {
    writeFileSync(parsed.configOut, text);
    io.err(`inputs configuration written to ${parsed.configOut}`);
  } else {
    for (const line of text.replace(/\n$/, '').split('\n')) io.out(line);
  }
  if (parsed.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, parsed.waitMs));

  const onSignal = (): void => void simulation.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  simulation.begin();
  io.err(`simulating profile ${parsed.options.profile}${parsed.options.faults === true ? ' with faults' : ''} (Ctrl-C to stop)`);
  await simulation.finished;
  const report = await simulation.stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const rates = Object.entries(report.transports)
    .filter(([, t]) => t.instruments > 0)
    .map(([name, t]) => `${name} ${t.msgPerSecond}/s`)
    .join(', ');
  io.err(`achieved ${report.msgPerSecond} msg/s (nominal ${report.nominalMsgPerSecond}): ${rates}`);
  io.out(JSON.stringify({ report }));
  return 0;
}
