/**
 * CLI entry: `skyhaul run | status | check-config | version`.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 not ready/unreachable.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCommand, DECODE_USAGE } from '../firmware-adapters/decode-cli.ts';
import { adapterNames } from '../firmware-adapters/index.ts';
import { BUFFER_USAGE, bufferCommand } from './cli/buffer.ts';
import { ConfigError, loadConfig, parseConfig } from './config/load.ts';
import { SkyhaulError } from './errors.ts';
import { SIMULATE_USAGE, simulateCommand, startSimulation, type Simulation } from './simulate/index.ts';
import { notifyReady, notifyReloading, notifyStopping, startWatchdog } from './systemd/notify.ts';
import type { Config } from './config/types.ts';
import { Daemon, VERSION } from './daemon.ts';
import { createLogger } from './log.ts';

const SYSTEM_CONFIG = '/etc/skyhaul/skyhaul.yaml';

/** A dev-stack endpoint: from the environment, else from the checkout's .stack/stack.env. */
function devStackEndpoint(name: string, env: NodeJS.ProcessEnv): string | null {
  if (env[name] !== undefined && env[name] !== '') return env[name]!;
  const stackEnv = join(dirname(fileURLToPath(import.meta.url)), '..', '.stack', 'stack.env');
  if (!existsSync(stackEnv)) return null;
  return new RegExp(`^${name}=(.+)$`, 'm').exec(readFileSync(stackEnv, 'utf8'))?.[1] ?? null;
}

/**
 * `npm start` with no config file: a demo site — the simulator's `small` profile (serial
 * instruments on socat pairs, UDP, TCP and, when the dev stack's Mosquitto is there, MQTT) or,
 * when the simulator cannot start (no socat), the built-in synthetic instruments — with SQLite
 * under ./data, forwarding to the Pulsar named by SKYHAUL_FORWARD_URL or the dev stack's
 * .stack/stack.env, and when neither names one, buffering with the link shown down.
 */
export function embeddedDefaultConfig(env: NodeJS.ProcessEnv = process.env, inputs: Array<Record<string, unknown>> = [{ type: 'synthetic', name: 'demo' }]): string {
  const url = env.SKYHAUL_FORWARD_URL ?? devStackEndpoint('SKYHAUL_PULSAR_EDGE_HTTP', env);
  return `# Embedded default: a demo site. Run with --config FILE for a real one.
site:
  id: demo-site
  name: Skyhaul demo site
dataDir: ./data
streams:
  - { match: "*/alarms/**", priority: alarm }
  - { match: "*/lightning/**", priority: alarm }
  - { match: "*/dome/**", priority: control }
  - { match: "*/mount/**", priority: bulk, ttl: 7d }
forward:
  url: ${url === null ? 'null' : JSON.stringify(url)}
  target: site
inputs:
${inputs.map((input) => `  - ${JSON.stringify(input)}`).join('\n')}
`;
}

interface Parsed {
  command: string;
  options: Record<string, string | boolean>;
  positional: string[];
}

function parseArgs(argv: string[]): Parsed {
  const [command = 'help', ...rest] = argv;
  const options: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg.startsWith('--')) {
      const [key, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
      if (inline !== undefined) options[key] = inline;
      else if (rest[i + 1] !== undefined && !rest[i + 1]!.startsWith('--') && !['help', 'json'].includes(key)) options[key] = rest[++i]!;
      else options[key] = true;
    } else positional.push(arg);
  }
  return { command, options, positional };
}

const HELP: Record<string, string> = {
  main: `skyhaul ${VERSION} — store-and-forward telemetry for remote telescope sites

usage: skyhaul <command> [options]
  run            run the daemon (--config FILE; default ${SYSTEM_CONFIG}, else a built-in demo site)
  status         print the running daemon's status (--url http://127.0.0.1:9880, --json)
  check-config   validate a configuration file (exit 0 valid, 2 invalid)
  buffer         check | stats | export | replay the buffer file (daemon stopped)
  decode         decode raw instrument frames with a firmware adapter (one JSON object per line)
  simulate       drive simulated instruments over real transports (serial/UDP/MQTT/TCP)
  version        print the version
Each command takes --help.`,
  run: `usage: skyhaul run [--config FILE]
Runs the daemon in the foreground. Without --config it reads ${SYSTEM_CONFIG} if present,
otherwise runs a built-in demo site. SIGTERM/SIGINT stop it cleanly.`,
  status: `usage: skyhaul status [--url http://127.0.0.1:9880] [--json]
Prints link state, backlog and drops of the running daemon. Exit 3 when it cannot be reached.`,
  'check-config': `usage: skyhaul check-config FILE [--json]
Validates FILE and lists every problem with its path and line. Exit 0 valid, 2 invalid.`,
  version: 'usage: skyhaul version [--json]',
  buffer: BUFFER_USAGE,
  simulate: SIMULATE_USAGE,
  get decode(): string {
    return `${DECODE_USAGE}
Reads raw frames from FILE or stdin and prints one JSON object per line: a reading as
{"adapter","stream","fields","units"}, a bad frame as {"adapter","error":{"code","message"},"raw_hex"}.
Exit 0: all frames decoded; 1: some frames were bad; 2: usage error.
Adapters: ${adapterNames().join(', ')}`;
  },
};

interface ResolvedConfig {
  config: Config;
  source: string;
  file: string | null;
  /** The demo site's simulated instruments (embedded default only); stopped after the daemon. */
  simulation: Simulation | null;
}

async function resolveConfig(options: Parsed['options']): Promise<ResolvedConfig> {
  const file = typeof options.config === 'string' ? resolve(options.config) : existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : null;
  if (file !== null) return { config: loadConfig(file), source: file, file, simulation: null };
  let simulation: Simulation | null = null;
  let note = 'embedded default (synthetic instruments)';
  const mqttUrl = devStackEndpoint('SKYHAUL_MQTT_URL', process.env);
  // With the dev stack down its MQTT broker is gone too: the rest of the site still runs.
  for (const url of mqttUrl === null ? [null] : [mqttUrl, null]) {
    try {
      simulation = await startSimulation({ profile: 'small', mqttUrl: url });
      note = `embedded default (simulated small site: ${simulation.inputNames.length} inputs${url === null ? ', no MQTT broker' : ''})`;
      break;
    } catch (error) {
      process.stderr.write(`demo site: the simulator did not start${url === null ? '' : ` with MQTT at ${url}`} (${(error as Error).message})\n`);
    }
  }
  if (simulation === null) process.stderr.write('demo site: using the synthetic instruments\n');
  const text = embeddedDefaultConfig(process.env, simulation?.inputsConfig);
  return { config: parseConfig(text, join(process.cwd(), '(embedded default)')), source: note, file: null, simulation };
}

async function run(options: Parsed['options']): Promise<number> {
  const { config, source, file, simulation } = await resolveConfig(options);
  const logger = createLogger(config.logging.level);
  logger.info({ version: VERSION, config: source, site: config.site.id }, 'skyhaul starting');
  const daemon = new Daemon(config, logger);
  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string): void => {
    if (stopping !== null) return;
    logger.info({ signal }, 'shutting down');
    const notified = notifyStopping(`stopping (${signal})`);
    stopping = daemon.stop().then(
      async () => {
        await simulation?.stop();
        await notified;
        logger.flush();
        process.exit(0);
      },
      (error: Error) => {
        logger.error({ err: error.message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      if (file === null) {
        logger.warn({ component: 'reload' }, 'SIGHUP ignored: running on the embedded default configuration');
        return;
      }
      let next: Config;
      try {
        next = loadConfig(file);
      } catch (error) {
        // The running configuration stays: a bad edit must not take a site offline.
        const problems = error instanceof ConfigError ? error.problems : [{ path: '', line: null, message: (error as Error).message }];
        logger.error({ component: 'reload', file, problems }, `SIGHUP: ${file} is invalid; keeping the running configuration`);
        return;
      }
      await notifyReloading('reloading configuration');
      await daemon.reload(next).catch((error: Error) => logger.error({ component: 'reload', err: error.message }, 'reload failed'));
      await notifyReady('configuration reloaded');
    });
  });
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error.stack ?? error.message }, 'uncaught exception');
    logger.flush();
    process.exit(1);
  });
  startWatchdog();
  await daemon.start();
  logger.info({ readiness: daemon.readiness() }, 'ready');
  await notifyReady(`ready: site ${config.site.id}`);
  return new Promise<number>(() => {});
}

async function status(options: Parsed['options']): Promise<number> {
  const url = typeof options.url === 'string' ? options.url : 'http://127.0.0.1:9880';
  let body: Record<string, unknown>;
  try {
    const res = await fetch(`${url}/api/v1/status`, { signal: AbortSignal.timeout(5000) });
    body = (await res.json()) as Record<string, unknown>;
  } catch (error) {
    process.stderr.write(`skyhaul status: cannot reach ${url}: ${(error as Error).message}\n`);
    return 3;
  }
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const link = body.link as { state: string; since: number; lastError?: { message: string } | null };
  const backlog = body.backlog as { records: number; bytes: number };
  process.stdout.write(
    [
      `site      ${(body.site as { id: string }).id}   producer ${String(body.producerId)}`,
      `link      ${link.state} since ${new Date(link.since).toISOString()}${link.lastError ? `   last error: ${link.lastError.message}` : ''}`,
      `backlog   ${backlog.records} records, ${backlog.bytes} bytes   drain ETA ${body.drainEtaSeconds === null ? 'unknown' : `${String(body.drainEtaSeconds)} s`}`,
      `rates     ${JSON.stringify(body.rates)}`,
      `drops     ${JSON.stringify(body.drops)}`,
      `alarms    ${JSON.stringify(body.alarms)}`,
    ].join('\n') + '\n',
  );
  return 0;
}

function checkConfig(positional: string[], options: Parsed['options']): number {
  const file = positional[0];
  if (file === undefined) {
    process.stderr.write(`${HELP['check-config']}\n`);
    return 2;
  }
  try {
    loadConfig(file);
    if (options.json === true) process.stdout.write(`${JSON.stringify({ file, valid: true, problems: [] })}\n`);
    else process.stdout.write(`${file}: valid\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (options.json === true) process.stdout.write(`${JSON.stringify({ file, valid: false, problems: error.problems })}\n`);
    else process.stderr.write(`${error.message}\n`);
    return 2;
  }
}

export async function main(argv: string[]): Promise<number> {
  const { command, options, positional } = parseArgs(argv);
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${HELP.main}\n`);
    return 0;
  }
  if (options.help === true) {
    const text = HELP[command];
    if (text === undefined) {
      process.stderr.write(`unknown command '${command}'\n${HELP.main}\n`);
      return 2;
    }
    process.stdout.write(`${text}\n`);
    return 0;
  }
  try {
    switch (command) {
      case 'run':
        return await run(options);
      case 'status':
        return await status(options);
      case 'check-config':
        return checkConfig(positional, options);
      case 'buffer':
        return await bufferCommand(positional[0], options, {
          out: (line) => process.stdout.write(`${line}\n`),
          err: (line) => process.stderr.write(`${line}\n`),
        });
      case 'simulate':
        return await simulateCommand(argv.slice(1), {
          out: (line) => process.stdout.write(`${line}\n`),
          err: (line) => process.stderr.write(`${line}\n`),
        });
      case 'decode':
        return await decodeCommand(argv.slice(1), {
          stdin: process.stdin,
          stdout: (line) => process.stdout.write(`${line}\n`),
          stderr: (line) => process.stderr.write(`${line}\n`),
        });
      case 'version':
        process.stdout.write(options.json === true ? `${JSON.stringify({ version: VERSION, node: process.version })}\n` : `skyhaul ${VERSION}\n`);
        return 0;
      default:
        process.stderr.write(`unknown command '${command}'\n${HELP.main}\n`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError || (error instanceof SkyhaulError && error.code === 'SKY_ERR_USAGE')) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    if (error instanceof SkyhaulError) {
      process.stderr.write(`skyhaul ${command}: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`skyhaul: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
