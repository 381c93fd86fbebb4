/**
 * `skyhaul-central <service> [--config FILE]`: one entry point for the data-centre services.
 *
 *   registry       the schema registry (Confluent REST API), schemas kept in Kafka
 *   bridge         Pulsar -> Kafka, each record once
 *   etl            raw records -> curated records and 1-minute aggregates, each once
 *   archive        Kafka curated topics -> the object store (Parquet), each record once
 *   check-config   validate the configuration file (exit 0 valid, 2 invalid)
 *   version
 *
 * Exit codes: 0 ok (and after a clean SIGTERM), 1 failure, 2 usage or configuration error.
 * Command lines are parsed strictly (Node's util.parseArgs): an unknown option exits 2 naming it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigProblems, loadCentralConfig, parseCentralConfig, type CentralConfig } from './config/load.ts';
import { createContext, runService, type Service, type ServiceContext } from './service/runner.ts';
import type { Listen } from './config/load.ts';

export const CENTRAL_VERSION = '0.1.0';
const SYSTEM_CONFIG = '/etc/skyhaul-central/central.yaml';

/** The services `skyhaul-central` runs, each from its own module (they share no code but the clients). */
const SERVICES: Record<string, { listen: (c: CentralConfig) => Listen; create: (config: CentralConfig, context: ServiceContext) => Promise<Service> }> = {
  registry: {
    listen: (c) => c.registry.listen,
    create: async (config, context) => new (await import('./registry/service.ts')).RegistryService(config, context),
  },
  bridge: {
    listen: (c) => c.bridge.http,
    create: async (config, context) => new (await import('./bridge/service.ts')).BridgeService(config, context),
  },
  etl: {
    listen: (c) => c.etl.http,
    create: async (config, context) => new (await import('./etl/service.ts')).EtlService(config, context),
  },
  archive: {
    listen: (c) => c.archive.http,
    create: async (config, context) => new (await import('./archive/service.ts')).ArchiveService(config, context),
  },
};

const USAGE = `usage: skyhaul-central <${Object.keys(SERVICES).join('|')}|check-config|version> [--config FILE]
  ${Object.keys(SERVICES).join(', ')}: run that service in the foreground (SIGTERM drains and exits 0)
  check-config [FILE]: validate the configuration (exit 0 valid, 2 invalid)
  --config FILE: default ${SYSTEM_CONFIG}`;

/** Where the command line's own output goes (tests pass their own). */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

const PROCESS_IO: Io = { out: (line) => void process.stdout.write(`${line}\n`), err: (line) => void process.stderr.write(`${line}\n`) };

/** Runs one command line; resolves with the process exit code (0 ok, 1 failure, 2 usage or configuration). */
export async function main(argv: string[], io: Io = PROCESS_IO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { config: { type: 'string' }, help: { type: 'boolean' }, json: { type: 'boolean' } } });
  } catch (error) {
    io.err(`skyhaul-central: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  if (command === undefined || parsed.values.help === true) {
    (command === undefined && parsed.values.help !== true ? io.err : io.out)(USAGE);
    return command === undefined && parsed.values.help !== true ? 2 : 0;
  }
  if (command === 'version') {
    io.out(`skyhaul-central ${CENTRAL_VERSION}`);
    return 0;
  }
  const file = resolve(parsed.values.config ?? (command === 'check-config' ? (rest[0] ?? SYSTEM_CONFIG) : SYSTEM_CONFIG));
  if (rest.length > (command === 'check-config' && parsed.values.config === undefined ? 1 : 0)) {
    io.err(`skyhaul-central ${command}: unexpected argument '${rest.at(-1)}'\n${USAGE}`);
    return 2;
  }
  let config: CentralConfig;
  try {
    config = existsSync(file) || parsed.values.config !== undefined || command === 'check-config' ? loadCentralConfig(file) : parseCentralConfig('{}', '(defaults)');
  } catch (error) {
    if (!(error instanceof ConfigProblems)) throw error;
    if (parsed.values.json === true) io.out(JSON.stringify({ file, valid: false, problems: error.problems }));
    else io.err(error.message);
    return 2;
  }
  if (command === 'check-config') {
    io.out(parsed.values.json === true ? JSON.stringify({ file, valid: true, problems: [] }) : `${file}: valid`);
    return 0;
  }
  const entry = SERVICES[command];
  if (entry === undefined) {
    io.err(`skyhaul-central: unknown command '${command}'\n${USAGE}`);
    return 2;
  }
  const context = createContext(command, config.logging.level);
  process.on('uncaughtException', (error) => {
    context.logger.fatal({ err: error.stack ?? error.message }, 'uncaught exception');
    process.exit(1);
  });
  const service = await entry.create(config, context);
  return runService(service, context, entry.listen(config));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`skyhaul-central: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
