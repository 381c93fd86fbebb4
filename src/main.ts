/**
 * CLI entry: `skyhaul run | status | check-config | buffer | decode | simulate | version | help`.
 * Every command line is parsed strictly (src/cli/args.ts, on util.parseArgs): an unknown option, a
 * missing value or a stray argument is a usage error, never ignored.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 not ready/unreachable.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCommand, DECODE_USAGE } from '../firmware-adapters/decode-cli.ts';
import { adapterNames } from '../firmware-adapters/index.ts';
import { parseCommand, usageError } from './common/args.ts';
import { BUFFER_USAGE, bufferCommand } from './cli/buffer.ts';
import { ConfigError, loadConfig, parseConfig } from './config/load.ts';
import { isSkyhaulError, SkyhaulError } from './common/errors.ts';
import { SIMULATE_USAGE, simulateCommand, startSimulation, type Simulation } from './simulate/index.ts';
import { notifyReady, notifyReloading, notifyStopping, startWatchdog } from './systemd/notify.ts';
import type { Config } from './config/types.ts';
import { Daemon, VERSION } from './daemon.ts';
import { createLogger } from './common/log.ts';

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

const HELP = {
  main: `skyhaul ${VERSION} — store-and-forward telemetry for remote telescope sites

usage: skyhaul <command> [options]
  run            run the daemon (--config FILE; default ${SYSTEM_CONFIG}, else a built-in demo site)
  status         print the running daemon's status (--url http://127.0.0.1:9880, --json)
  check-config   validate a configuration file (exit 0 valid, 2 invalid)
  buffer         check | stats | export | replay the buffer file (daemon stopped)
  decode         decode raw instrument frames with a firmware adapter (one JSON object per line)
  simulate       drive simulated instruments over real transports (serial/UDP/MQTT/TCP)
  version        print the version
  help [COMMAND] this text, or a command's
Each command takes --help. An unknown option, a missing value or a stray argument is an error (exit 2).`,
  run: `usage: skyhaul run [--config FILE]
Runs the daemon in the foreground. Without --config it reads ${SYSTEM_CONFIG} if present,
otherwise runs a built-in demo site. SIGTERM/SIGINT stop it cleanly.`,
  status: `usage: skyhaul status [--url http://127.0.0.1:9880] [--json]
Prints link state, backlog and drops of the running daemon. Exit 3 when it cannot be reached.`,
  'check-config': `usage: skyhaul check-config FILE [--json]
Validates FILE and lists every problem with its path and line. Exit 0 valid, 2 invalid.`,
  version: 'usage: skyhaul version [--json]',
  help: 'usage: skyhaul help [COMMAND]',
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

type HelpTopic = keyof typeof HELP;
const isHelpTopic = (name: string): name is HelpTopic => Object.hasOwn(HELP, name);

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** Each command's own options: nothing else is accepted (see src/cli/args.ts). */
const COMMANDS = {
  run: { command: 'skyhaul run', usage: HELP.run, options: { ...HELP_OPTION, config: { type: 'string' } } },
  status: { command: 'skyhaul status', usage: HELP.status, options: { ...HELP_OPTION, url: { type: 'string' }, json: { type: 'boolean' } } },
  'check-config': {
    command: 'skyhaul check-config',
    usage: HELP['check-config'],
    options: { ...HELP_OPTION, json: { type: 'boolean' } },
    positionals: { min: 0, max: 1, names: 'the configuration FILE' },
  },
  version: { command: 'skyhaul version', usage: HELP.version, options: { ...HELP_OPTION, json: { type: 'boolean' } } },
  help: { command: 'skyhaul help', usage: HELP.help, options: HELP_OPTION, positionals: { min: 0, max: 1, names: 'COMMAND' } },
} as const;

interface ResolvedConfig {
  config: Config;
  source: string;
  file: string | null;
  /** The demo site's simulated instruments (embedded default only); stopped after the daemon. */
  simulation: Simulation | null;
}

const warn = (line: string): void => void process.stderr.write(`${line}\n`);

/**
 * The demo site's simulator (`small` profile), with the dev stack's MQTT broker when there is one
 * and without it when it does not answer; null (with the reason on stderr) when it cannot start
 * at all, e.g. socat is not installed: the demo then runs on the synthetic instruments.
 */
async function startDemoSimulation(): Promise<{ simulation: Simulation | null; note: string }> {
  const mqttUrl = devStackEndpoint('SKYHAUL_MQTT_URL', process.env);
  // With the dev stack down its MQTT broker is gone too: the rest of the site still runs.
  for (const url of mqttUrl === null ? [null] : [mqttUrl, null]) {
    try {
      const simulation = await startSimulation({ profile: 'small', mqttUrl: url, warn: (line) => warn(`demo site: ${line}`) });
      return { simulation, note: `embedded default (simulated small site: ${simulation.inputNames.length} inputs${url === null ? ', no MQTT broker' : ''})` };
    } catch (error) {
      if (isSkyhaulError(error, 'SKY_ERR_TRANSPORT_UNAVAILABLE')) {
        // A missing tool (socat) is missing with or without MQTT: no second attempt.
        warn(`demo site: ${error.message}`);
        warn('demo site: using the built-in synthetic instruments instead');
        return { simulation: null, note: `embedded default (synthetic instruments: ${error.message.split(':')[0]})` };
      }
      warn(`demo site: the simulator did not start${url === null ? '' : ` with MQTT at ${url}`} (${(error as Error).message})`);
    }
  }
  warn('demo site: using the built-in synthetic instruments instead');
  return { simulation: null, note: 'embedded default (synthetic instruments)' };
}

async function resolveConfig(configFile: string | undefined): Promise<ResolvedConfig> {
  const file = configFile !== undefined ? resolve(configFile) : existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : null;
  if (file !== null) return { config: loadConfig(file), source: file, file, simulation: null };
  const { simulation, note } = await startDemoSimulation();
  const text = embeddedDefaultConfig(process.env, simulation?.inputsConfig);
  try {
    return { config: parseConfig(text, join(process.cwd(), '(embedded default)')), source: note, file: null, simulation };
  } catch (error) {
    await simulation?.stop();
    throw error;
  }
}

async function run(configFile: string | undefined): Promise<number> {
  const { config, source, file, simulation } = await resolveConfig(configFile);
  const logger = createLogger(config.logging.level);
  logger.info({ version: VERSION, config: source, site: config.site.id }, 'skyhaul starting');
  const daemon = new Daemon(config, logger, { configFile: file });
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
      // The same path as the `reload` action (src/control/actions.ts): an invalid file keeps the running configuration.
      await notifyReloading('reloading configuration');
      const outcome = await daemon.reloadConfiguration();
      if ('error' in outcome) logger.error({ component: 'reload', file, error: outcome.error.code }, `SIGHUP: ${outcome.error.message}`);
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
  try {
    await daemon.start();
  } catch (error) {
    // The simulated instruments (socat children) go with the daemon that failed to start.
    await simulation?.stop();
    throw error;
  }
  logger.info({ readiness: daemon.readiness() }, 'ready');
  await notifyReady(`ready: site ${config.site.id}`);
  return new Promise<number>(() => {});
}

async function status(url: string, json: boolean): Promise<number> {
  let body: Record<string, unknown>;
  try {
    const res = await fetch(`${url}/api/v1/status`, { signal: AbortSignal.timeout(5000) });
    body = (await res.json()) as Record<string, unknown>;
  } catch (error) {
    process.stderr.write(`skyhaul status: cannot reach ${url}: ${(error as Error).message}\n`);
    return 3;
  }
  if (json) {
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

/** The daemon's base URL from --url: http(s) only, without a trailing slash. */
function statusUrl(value: string | undefined): string {
  if (value === undefined) return 'http://127.0.0.1:9880';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usageError(COMMANDS.status.command, `--url expects a URL such as http://127.0.0.1:9880, got '${value}'`, HELP.status);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(COMMANDS.status.command, `--url must be http:// or https://, got '${value}'`, HELP.status);
  return value.replace(/\/+$/, '');
}

function checkConfig(file: string, json: boolean): number {
  try {
    loadConfig(file);
    if (json) process.stdout.write(`${JSON.stringify({ file, valid: true, problems: [] })}\n`);
    else process.stdout.write(`${file}: valid\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (json) process.stdout.write(`${JSON.stringify({ file, valid: false, problems: error.problems })}\n`);
    else process.stderr.write(`${error.message}\n`);
    return 2;
  }
}

function printHelp(topic: HelpTopic): number {
  process.stdout.write(`${HELP[topic]}\n`);
  return 0;
}

const io = {
  out: (line: string): void => void process.stdout.write(`${line}\n`),
  err: (line: string): void => void process.stderr.write(`${line}\n`),
};

/**
 * Runs one command line (`argv` without node and the script) and resolves to the exit code:
 * 0 ok, 1 failure, 2 usage or configuration error, 3 daemon unreachable. `run` never resolves
 * (the process exits on SIGTERM/SIGINT). Errors that are not Skyhaul's own are thrown.
 */
export async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...args] = argv;
  try {
    switch (command) {
      case 'help':
      case '--help':
      case '-h': {
        const { positionals } = parseCommand(args, COMMANDS.help);
        const topic = positionals[0];
        if (topic === undefined) return printHelp('main');
        if (!isHelpTopic(topic) || topic === 'main') throw usageError('skyhaul help', `unknown command '${topic}'`, HELP.main);
        return printHelp(topic);
      }
      case 'run': {
        const { values } = parseCommand(args, COMMANDS.run);
        if (values.help === true) return printHelp('run');
        // `--config "$UNSET_VAR"` must not quietly become the demo site or the cwd.
        if (values.config === '') throw usageError(COMMANDS.run.command, '--config needs a FILE, got an empty string', HELP.run);
        return await run(values.config);
      }
      case 'status': {
        const { values } = parseCommand(args, COMMANDS.status);
        return values.help === true ? printHelp('status') : await status(statusUrl(values.url), values.json === true);
      }
      case 'check-config': {
        const { values, positionals } = parseCommand(args, COMMANDS['check-config']);
        if (values.help === true) return printHelp('check-config');
        // Required, but checked here so that `check-config --help` needs no FILE.
        if (positionals[0] === undefined) throw usageError(COMMANDS['check-config'].command, 'missing the configuration FILE', HELP['check-config']);
        return checkConfig(positionals[0], values.json === true);
      }
      case 'version': {
        const { values } = parseCommand(args, COMMANDS.version);
        if (values.help === true) return printHelp('version');
        process.stdout.write(values.json === true ? `${JSON.stringify({ version: VERSION, node: process.version })}\n` : `skyhaul ${VERSION}\n`);
        return 0;
      }
      case 'buffer':
        return await bufferCommand(args, io);
      case 'simulate':
        return await simulateCommand(args, io);
      case 'decode':
        // decode parses its own options (firmware-adapters/decode-cli.ts); its help text lists the adapters and lives here.
        if (args.some((arg, i) => (arg === '--help' || arg === '-h') && !args.slice(0, i).includes('--'))) return printHelp('decode');
        return await decodeCommand(args, { stdin: process.stdin, stdout: io.out, stderr: io.err });
      default:
        process.stderr.write(`unknown command '${command}'\n${HELP.main}\n`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError || isSkyhaulError(error, 'SKY_ERR_USAGE')) {
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
