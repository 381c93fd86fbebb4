/**
 * Skyhaul's dev/test stack without Docker: two Apache Pulsar standalones (clusters `edge` and
 * `central`, geo-replicating `skyhaul/telemetry`), Mosquitto, socat for virtual serial ports, and
 * the data centre's Apache Kafka (4.4, KRaft, one combined broker+controller).
 *
 * Everything lives under `<repo>/.stack/`: one folder per service (config, data, log, pid) and
 * `stack.env` with every endpoint. `up` is idempotent (services already answering are kept),
 * `down` stops only what `.stack/` records, and waits until each process group is gone.
 *
 * Used three ways: `npm run stack:up|status|down`, the vitest global setup (which brings the
 * stack up for `npm test` and takes down only what it started), and benchmarks.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const stackDir = process.env.SKYHAUL_STACK_DIR ?? join(repoRoot, '.stack');
export const stackEnvFile = join(stackDir, 'stack.env');

/** Ports sit away from the services' standard ones (6650/8080/1883/3181) so a real install can coexist. */
export const PULSAR_CLUSTERS = {
  // The edge bookie's HTTP admin sits where a site daemon looks for it (packaging/pulsar/standalone.conf).
  edge: { brokerPort: 16650, webPort: 18080, bookiePort: 13181, bookieHttpPort: 8000 },
  central: { brokerPort: 26650, webPort: 28080, bookiePort: 23181, bookieHttpPort: 28000 },
} as const;
export type ClusterName = keyof typeof PULSAR_CLUSTERS;
export const MQTT_PORT = 11883;
export const KAFKA_PORTS = { broker: 19092, controller: 19093 } as const;
/**
 * The S3-compatible object store (versitygw, posix backend, single-account mode). Dev credentials
 * only: the stack listens on loopback.
 */
export const S3 = { port: 19200, accessKey: 'skyhaul', secretKey: 'skyhaul-dev-secret-key', region: 'us-east-1' } as const;
export const VERSITYGW_VERSION = 'v1.8.0';
export const TENANT = 'skyhaul';
export const REPLICATED_NAMESPACE = `${TENANT}/telemetry`;

const READY_TIMEOUT_MS = Number(process.env.SKYHAUL_STACK_READY_TIMEOUT_MS ?? 180_000);

// command -> Debian package: brokers and serial pairs for the stack, promtool and Chromium for tests.
const DEBIAN_PACKAGES: Record<string, string> = { mosquitto: 'mosquitto', socat: 'socat', promtool: 'prometheus', chromium: 'chromium', faketime: 'faketime' };

/**
 * JVM sizing for a 2-core, 24 GiB machine running two brokers plus the test suite.
 * The --add-opens list is the one Pulsar's own launcher script passes on Java 17.
 */
const JVM_OPTIONS = [
  '-Xms64m',
  '-Xmx384m',
  '-XX:MaxDirectMemorySize=256m',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=50',
  '-Dio.netty.tryReflectionSetAccessible=true',
  '-Dio.netty.leakDetection.level=disabled',
  '-Dpulsar.allocator.exit_on_oom=true',
  ...[
    'java.base/java.io',
    'java.base/java.util.zip',
    'java.base/sun.net',
    'java.management/sun.management',
    'jdk.management/com.sun.management.internal',
    'java.base/jdk.internal.misc',
    'java.base/jdk.internal.platform',
    'java.base/java.nio',
    'java.base/java.lang',
    'java.base/sun.nio.ch',
  ].flatMap((pkg) => ['--add-opens', `${pkg}=ALL-UNNAMED`]),
];

export interface StackEndpoints {
  SKYHAUL_PULSAR_EDGE_URL: string;
  SKYHAUL_PULSAR_EDGE_HTTP: string;
  SKYHAUL_PULSAR_EDGE_WS: string;
  SKYHAUL_PULSAR_CENTRAL_URL: string;
  SKYHAUL_PULSAR_CENTRAL_HTTP: string;
  SKYHAUL_PULSAR_CENTRAL_WS: string;
  SKYHAUL_PULSAR_NAMESPACE: string;
  SKYHAUL_MQTT_URL: string;
  SKYHAUL_PULSAR_PERF_CLASSPATH: string;
  SKYHAUL_KAFKA_BOOTSTRAP: string;
  /** A file holding Kafka's resolved class path (its tools: ProducerPerformance, TopicCommand). */
  SKYHAUL_KAFKA_CLASSPATH: string;
  SKYHAUL_S3_ENDPOINT: string;
  SKYHAUL_S3_REGION: string;
  SKYHAUL_S3_ACCESS_KEY: string;
  SKYHAUL_S3_SECRET_KEY: string;
}

export function endpoints(): StackEndpoints {
  const { edge, central } = PULSAR_CLUSTERS;
  return {
    SKYHAUL_PULSAR_EDGE_URL: `pulsar://127.0.0.1:${edge.brokerPort}`,
    SKYHAUL_PULSAR_EDGE_HTTP: `http://127.0.0.1:${edge.webPort}`,
    SKYHAUL_PULSAR_EDGE_WS: `ws://127.0.0.1:${edge.webPort}`,
    SKYHAUL_PULSAR_CENTRAL_URL: `pulsar://127.0.0.1:${central.brokerPort}`,
    SKYHAUL_PULSAR_CENTRAL_HTTP: `http://127.0.0.1:${central.webPort}`,
    SKYHAUL_PULSAR_CENTRAL_WS: `ws://127.0.0.1:${central.webPort}`,
    SKYHAUL_PULSAR_NAMESPACE: REPLICATED_NAMESPACE,
    SKYHAUL_MQTT_URL: `mqtt://127.0.0.1:${MQTT_PORT}`,
    SKYHAUL_PULSAR_PERF_CLASSPATH: join(stackDir, 'pulsar-perf.classpath'),
    SKYHAUL_KAFKA_BOOTSTRAP: `127.0.0.1:${KAFKA_PORTS.broker}`,
    SKYHAUL_KAFKA_CLASSPATH: join(stackDir, 'kafka.classpath'),
    SKYHAUL_S3_ENDPOINT: `http://127.0.0.1:${S3.port}`,
    SKYHAUL_S3_REGION: S3.region,
    SKYHAUL_S3_ACCESS_KEY: S3.accessKey,
    SKYHAUL_S3_SECRET_KEY: S3.secretKey,
  };
}

/** Reads `.stack/stack.env` (KEY=value lines); returns null when the stack was never brought up. */
export function readStackEnv(file = stackEnvFile): Record<string, string> | null {
  if (!existsSync(file)) return null;
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Services

interface Service {
  name: string;
  /** Human-readable endpoint for `status`. */
  endpoint: string;
  dir: string;
  logFile: string;
  ready(): Promise<boolean>;
  start(): Promise<void>;
}

class StackError extends Error {
  constructor(
    message: string,
    readonly service: string,
  ) {
    super(message);
  }
}

function pidFile(service: Service): string {
  return join(service.dir, 'pid');
}

function readPid(service: Service): number | null {
  const file = pidFile(service);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

/** Starts a long-running process in its own process group (so `down` can kill the whole tree). */
function launch(service: Service, command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): void {
  mkdirSync(service.dir, { recursive: true });
  const out = openSync(service.logFile, 'a');
  const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', out, out], env });
  if (child.pid === undefined) throw new StackError(`could not spawn ${command}`, service.name);
  writeFileSync(pidFile(service), `${child.pid}\n`);
  child.unref();
}

async function httpOk(url: string, expectBody?: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return false;
    return expectBody === undefined || (await res.text()).trim() === expectBody;
  } catch {
    return false;
  }
}

function tcpOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = createConnection({ port, host });
    const done = (open: boolean): void => {
      socket.destroy();
      resolveOpen(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitReady(service: Service, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await service.ready()) return;
    const pid = readPid(service);
    if (pid !== null && !isAlive(pid)) {
      throw new StackError(`${service.name} exited during start-up. Last log lines:\n${tail(service.logFile)}`, service.name);
    }
    await sleep(500);
  }
  throw new StackError(
    `${service.name} was not ready within ${Math.round(timeoutMs / 1000)} s. Last log lines of ${service.logFile}:\n${tail(service.logFile)}`,
    service.name,
  );
}

// --- Pulsar --------------------------------------------------------------------------------------

const CLASSPATH_FILES = { broker: 'pulsar-broker.classpath', perf: 'pulsar-perf.classpath', kafka: 'kafka.classpath' } as const;
const MAVEN_MODULES = { broker: 'pulsar-broker', perf: 'pulsar-testclient', kafka: 'kafka 4.4.0' } as const;

function mavenClasspath(module: keyof typeof CLASSPATH_FILES): string {
  const outFile = join(stackDir, CLASSPATH_FILES[module]);
  const pom = join(here, module, 'pom.xml');
  // Warm start: reuse the resolved class path while the pom is unchanged and every jar still exists.
  if (existsSync(outFile) && statSync(outFile).mtimeMs >= statSync(pom).mtimeMs) {
    const cp = readFileSync(outFile, 'utf8').trim();
    if (cp.split(':').every((jar) => existsSync(jar))) return cp;
  }
  mkdirSync(stackDir, { recursive: true });
  log(`resolving ${MAVEN_MODULES[module]} from Maven Central (cached in ~/.m2)…`);
  const result = spawnSync('mvn', ['-q', '-B', 'dependency:build-classpath', `-Dmdep.outputFile=${outFile}`], {
    cwd: dirname(pom),
    encoding: 'utf8',
  });
  if (result.error || result.status !== 0) {
    throw new StackError(
      `Maven could not resolve ${pom}: ${result.error?.message ?? ''}\n${(result.stdout ?? '').slice(-4000)}${(result.stderr ?? '').slice(-2000)}`,
      module === 'kafka' ? 'kafka' : `pulsar-${module}`,
    );
  }
  return readFileSync(outFile, 'utf8').trim();
}

function pulsarService(cluster: ClusterName): Service {
  const ports = PULSAR_CLUSTERS[cluster];
  const dir = join(stackDir, `pulsar-${cluster}`);
  const service: Service = {
    name: `pulsar-${cluster}`,
    endpoint: `pulsar://127.0.0.1:${ports.brokerPort}  http://127.0.0.1:${ports.webPort}  ws://127.0.0.1:${ports.webPort}/ws/v2`,
    dir,
    logFile: join(dir, 'broker.log'),
    ready: () => httpOk(`http://127.0.0.1:${ports.webPort}/admin/v2/brokers/health`, 'ok'),
    async start() {
      const classpath = mavenClasspath('broker');
      mkdirSync(dir, { recursive: true });
      const template = readFileSync(join(here, 'standalone.conf.template'), 'utf8');
      const conf = template
        .replaceAll('@@CLUSTER@@', cluster)
        .replaceAll('@@BROKER_PORT@@', String(ports.brokerPort))
        .replaceAll('@@WEB_PORT@@', String(ports.webPort))
        .replaceAll('@@BOOKIE_HTTP_PORT@@', String(ports.bookieHttpPort));
      writeFileSync(join(dir, 'standalone.conf'), conf);
      launch(
        service,
        'java',
        [
          ...JVM_OPTIONS,
          `-Dlog4j2.configurationFile=${join(here, 'log4j2.xml')}`,
          '-cp',
          classpath,
          'org.apache.pulsar.PulsarStandaloneStarter',
          '--config',
          'standalone.conf',
          '--metadata-dir',
          'data/metadata',
          '--bookkeeper-dir',
          'data/bookkeeper',
          '--bookkeeper-port',
          String(ports.bookiePort),
          '--no-functions-worker',
          '--no-stream-storage',
          '--advertised-address',
          '127.0.0.1',
        ],
        dir,
      );
    },
  };
  return service;
}

async function admin(cluster: ClusterName, method: string, path: string, body?: unknown): Promise<Response> {
  const url = `http://127.0.0.1:${PULSAR_CLUSTERS[cluster].webPort}/admin/v2${path}`;
  return fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
}

async function adminExpect(cluster: ClusterName, method: string, path: string, body: unknown, okStatuses: number[]): Promise<void> {
  const res = await admin(cluster, method, path, body);
  if (!res.ok && !okStatuses.includes(res.status)) {
    throw new StackError(`${method} ${path} on ${cluster} failed: HTTP ${res.status} ${await res.text()}`, `pulsar-${cluster}`);
  }
}

/**
 * Geo-replication between two standalones that share no configuration store: each side learns the
 * other cluster, the tenant allows both, and the namespace replicates to both. Idempotent.
 */
async function configureReplication(): Promise<void> {
  const clusters = Object.keys(PULSAR_CLUSTERS) as ClusterName[];
  for (const local of clusters) {
    for (const remote of clusters) {
      if (remote === local) continue;
      const ports = PULSAR_CLUSTERS[remote];
      await adminExpect(
        local,
        'PUT',
        `/clusters/${remote}`,
        { serviceUrl: `http://127.0.0.1:${ports.webPort}`, brokerServiceUrl: `pulsar://127.0.0.1:${ports.brokerPort}` },
        [409],
      );
    }
    const tenantInfo = { adminRoles: [], allowedClusters: clusters };
    const created = await admin(local, 'PUT', `/tenants/${TENANT}`, tenantInfo);
    if (created.status === 409) await adminExpect(local, 'POST', `/tenants/${TENANT}`, tenantInfo, []);
    else if (!created.ok) throw new StackError(`creating tenant on ${local}: HTTP ${created.status} ${await created.text()}`, `pulsar-${local}`);
    await adminExpect(local, 'PUT', `/namespaces/${REPLICATED_NAMESPACE}`, undefined, [409]);
    await adminExpect(local, 'POST', `/namespaces/${REPLICATED_NAMESPACE}/replication`, clusters, []);
    await adminExpect(local, 'POST', `/namespaces/${REPLICATED_NAMESPACE}/deduplication`, true, []);
  }
}

// --- Mosquitto ------------------------------------------------------------------------------------

function mosquittoService(): Service {
  const dir = join(stackDir, 'mosquitto');
  const service: Service = {
    name: 'mosquitto',
    endpoint: `mqtt://127.0.0.1:${MQTT_PORT}`,
    dir,
    logFile: join(dir, 'mosquitto.log'),
    ready: () => tcpOpen(MQTT_PORT),
    async start() {
      mkdirSync(join(dir, 'data'), { recursive: true });
      const conf = [
        `listener ${MQTT_PORT} 127.0.0.1`,
        'allow_anonymous true',
        // Persistent sessions must survive a daemon that is down for a while (kill -9 tests).
        'persistence true',
        `persistence_location ${join(dir, 'data')}/`,
        'max_queued_messages 1000000',
        'max_inflight_messages 100',
        'log_dest stdout',
        'log_type error',
        'log_type warning',
        'log_type notice',
        '',
      ].join('\n');
      writeFileSync(join(dir, 'mosquitto.conf'), conf);
      launch(service, 'mosquitto', ['-c', join(dir, 'mosquitto.conf')], dir);
    },
  };
  return service;
}

// --- Kafka ----------------------------------------------------------------------------------------

function kafkaService(): Service {
  const dir = join(stackDir, 'kafka');
  const service: Service = {
    name: 'kafka',
    endpoint: `127.0.0.1:${KAFKA_PORTS.broker} (controller ${KAFKA_PORTS.controller})`,
    dir,
    logFile: join(dir, 'broker.log'),
    // The readiness line, once the port answers (a port alone may still be the controller's warm-up).
    ready: async () => (await tcpOpen(KAFKA_PORTS.broker)) && existsSync(join(dir, 'broker.log')) && readFileSync(join(dir, 'broker.log'), 'utf8').includes('Kafka Server started'),
    async start() {
      const classpath = mavenClasspath('kafka');
      const data = join(dir, 'data');
      mkdirSync(dir, { recursive: true });
      const conf = readFileSync(join(here, 'kafka', 'server.properties.template'), 'utf8')
        .replaceAll('@@BROKER_PORT@@', String(KAFKA_PORTS.broker))
        .replaceAll('@@CONTROLLER_PORT@@', String(KAFKA_PORTS.controller))
        .replaceAll('@@DATA_DIR@@', data);
      const properties = join(dir, 'server.properties');
      writeFileSync(properties, conf);
      const logConfig = `-Dlog4j2.configurationFile=${join(here, 'kafka', 'log4j2.properties')}`;
      rmSync(service.logFile, { force: true }); // the readiness line must be this run's
      if (!existsSync(join(data, 'meta.properties'))) {
        // KRaft: the storage is formatted once with a cluster id (kafka-storage.sh format).
        const run = (args: string[]): string => {
          const r = spawnSync('java', [logConfig, '-cp', classpath, ...args], { encoding: 'utf8' });
          if (r.status !== 0) throw new StackError(`kafka ${args.slice(0, 2).join(' ')}: ${r.stderr || r.stdout}`, 'kafka');
          return r.stdout.trim();
        };
        const clusterId = run(['kafka.tools.StorageTool', 'random-uuid']).split('\n').pop()!;
        run(['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties, '--standalone']);
      }
      launch(
        service,
        'java',
        ['-Xms128m', '-Xmx384m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=50', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', logConfig, '-cp', classpath, 'kafka.Kafka', properties],
        dir,
      );
    },
  };
  return service;
}

// --- versitygw (S3 API) ----------------------------------------------------------------------------

/**
 * The versitygw binary, built once per machine from the Go module proxy (`go install`, about
 * 2 min) into the user's cache, outside any checkout, so every clone reuses it.
 */
export function versitygwBinary(): string {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'skyhaul', `versitygw-${VERSITYGW_VERSION}`);
  const binary = join(cache, 'versitygw');
  if (existsSync(binary)) return binary;
  if (!commandExists('go')) throw new StackError('the Go toolchain is needed once to build versitygw (apt-get install golang-go)', 'versitygw');
  log(`building versitygw ${VERSITYGW_VERSION} from the Go module proxy into ${cache} (about 2 min, once per machine)…`);
  mkdirSync(cache, { recursive: true });
  const result = spawnSync('go', ['install', `github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}`], {
    env: { ...process.env, GOBIN: cache, GOFLAGS: '-mod=mod' },
    encoding: 'utf8',
  });
  if (result.status !== 0 || !existsSync(binary)) {
    throw new StackError(`go install versitygw@${VERSITYGW_VERSION} failed: ${result.error?.message ?? ''}\n${(result.stderr ?? '').slice(-3000)}`, 'versitygw');
  }
  return binary;
}

function versitygwService(): Service {
  const dir = join(stackDir, 'versitygw');
  const service: Service = {
    name: 'versitygw',
    endpoint: `http://127.0.0.1:${S3.port} (S3 API, region ${S3.region})`,
    dir,
    logFile: join(dir, 'versitygw.log'),
    ready: () => tcpOpen(S3.port),
    async start() {
      const binary = versitygwBinary();
      // The posix backend keeps object metadata in extended attributes: the data dir must be on a
      // file system with xattrs (ext4, xfs, tmpfs do).
      mkdirSync(join(dir, 'data'), { recursive: true });
      launch(service, binary, ['--port', `127.0.0.1:${S3.port}`, 'posix', join(dir, 'data')], dir, { ...process.env, ROOT_ACCESS_KEY: S3.accessKey, ROOT_SECRET_KEY: S3.secretKey });
    },
  };
  return service;
}

export function services(): Service[] {
  return [pulsarService('edge'), pulsarService('central'), kafkaService(), mosquittoService(), versitygwService()];
}

// ---------------------------------------------------------------------------------------------
// Debian packages

function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Installs missing Debian packages when root; otherwise names the exact command to run. */
export function ensureDebianPackages(commands: Record<string, string> = DEBIAN_PACKAGES): void {
  const missing = Object.entries(commands)
    .filter(([command]) => !commandExists(command))
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  const installCommand = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new StackError(`missing Debian packages: ${missing.join(', ')}. Run: sudo sh -c '${installCommand}'`, 'apt');
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const result = spawnSync('sh', ['-c', installCommand], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) throw new StackError(`'${installCommand}' failed with exit code ${result.status}`, 'apt');
}

function ensureJava(): void {
  for (const tool of ['java', 'mvn']) {
    if (!commandExists(tool)) throw new StackError(`'${tool}' is not on PATH; the dev stack needs Java 17+ and Maven`, tool);
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

function log(message: string): void {
  process.stderr.write(`[stack] ${message}\n`);
}

export interface UpResult {
  /** Services this call started (the rest were already running). */
  started: string[];
  env: StackEndpoints;
}

export async function stackUp(options: { timeoutMs?: number } = {}): Promise<UpResult> {
  const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
  ensureDebianPackages();
  ensureJava();
  mkdirSync(stackDir, { recursive: true });
  const all = services();
  const started: string[] = [];
  const t0 = Date.now();
  // One after another: two JVMs starting at once on two cores each take longer than both in turn.
  for (const service of all) {
    if (await service.ready()) continue;
    const pid = readPid(service);
    if (pid === null || !isAlive(pid)) {
      await assertPortsFree(service);
      log(`starting ${service.name}`);
      const begun = Date.now();
      await service.start();
      started.push(service.name);
      await waitReady(service, timeoutMs);
      log(`${service.name} ready in ${((Date.now() - begun) / 1000).toFixed(1)} s`);
    } else {
      // Ours, still starting (a concurrent `up`): wait for it rather than starting a twin.
      await waitReady(service, timeoutMs);
    }
  }
  await configureReplication();
  mavenClasspath('perf');
  mavenClasspath('kafka');
  const env = endpoints();
  writeFileSync(
    stackEnvFile,
    Object.entries(env)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n') + '\n',
  );
  if (started.length > 0) log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${started.join(', ')}; endpoints in ${stackEnvFile}`);
  return { started, env };
}

async function assertPortsFree(service: Service): Promise<void> {
  const ports =
    service.name === 'mosquitto'
      ? [MQTT_PORT]
      : service.name === 'kafka'
        ? Object.values(KAFKA_PORTS)
        : service.name === 'versitygw'
          ? [S3.port]
          : Object.values(PULSAR_CLUSTERS[service.name.replace('pulsar-', '') as ClusterName]);
  for (const port of ports) {
    if (await tcpOpen(port)) {
      throw new StackError(`port ${port} is taken by a process that .stack/ did not start; stop it or free the port`, service.name);
    }
  }
}

export interface ServiceStatus {
  name: string;
  endpoint: string;
  pid: number | null;
  running: boolean;
  ready: boolean;
  rssMb: number | null;
}

function rssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024);
  } catch {
    return null;
  }
}

export async function stackStatus(): Promise<ServiceStatus[]> {
  return Promise.all(
    services().map(async (service) => {
      const pid = readPid(service);
      const running = pid !== null && isAlive(pid);
      return {
        name: service.name,
        endpoint: service.endpoint,
        pid: running ? pid : null,
        running,
        ready: await service.ready(),
        rssMb: running && pid !== null ? rssMb(pid) : null,
      };
    }),
  );
}

/** Stops the named services (default: all) and waits until their process groups are gone. */
export async function stackDown(only?: string[]): Promise<void> {
  const targets = services().filter((service) => only === undefined || only.includes(service.name));
  await Promise.all(
    targets.map(async (service) => {
      const pid = readPid(service);
      if (pid === null) return;
      await killGroup(pid, service.name);
      rmSync(pidFile(service), { force: true });
    }),
  );
}

async function killGroup(pid: number, name: string): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // Group already gone.
    }
  };
  if (!isAlive(pid)) return;
  signal('SIGTERM');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && isAlive(pid)) await sleep(200);
  if (isAlive(pid)) {
    log(`${name} did not stop within 20 s; killing it`);
    signal('SIGKILL');
    while (isAlive(pid)) await sleep(100);
  }
}

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'status';
  try {
    switch (command) {
      case 'up': {
        await stackUp();
        printStatus(await stackStatus());
        return 0;
      }
      case 'status': {
        const statuses = await stackStatus();
        printStatus(statuses);
        return statuses.every((s) => s.ready) ? 0 : 3;
      }
      case 'down':
        await stackDown();
        log('stopped');
        return 0;
      case 'wipe':
        await stackDown();
        rmSync(stackDir, { recursive: true, force: true });
        log(`removed ${stackDir}`);
        return 0;
      default:
        process.stderr.write('usage: stack.ts up | status | down | wipe\n');
        return 2;
    }
  } catch (error) {
    if (error instanceof StackError) {
      process.stderr.write(`[stack] ${error.service}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function printStatus(statuses: ServiceStatus[]): void {
  const rows = statuses.map((s) => [
    s.name,
    s.ready ? 'ready' : s.running ? 'starting' : 'stopped',
    s.pid === null ? '-' : String(s.pid),
    s.rssMb === null ? '-' : `${s.rssMb} MB`,
    s.endpoint,
  ]);
  const header = ['service', 'state', 'pid', 'rss', 'endpoint'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) process.stdout.write(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ') + '\n');
  if (existsSync(stackEnvFile)) process.stdout.write(`endpoints: ${stackEnvFile}\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`[stack] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
