/**
 * What every central service shares as a process: pino logs (JSON lines, `service` and
 * `component` fields), an HTTP server with `/metrics` (Prometheus, `skyhaul_central_*`),
 * `/healthz` (alive) and `/readyz` (200 when ready, else 503 with the reasons), and the
 * lifecycle: start, then on SIGTERM/SIGINT `stop()` drains in-flight work and the process exits 0
 * (SIGHUP calls `reload()`);
 * a service that fails to start, or a fatal error, exits 1.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Listen } from '../config/load.ts';

export type { Logger };

/** A central service, as the runner drives it. Constructors store; start()/stop() do I/O; stop() is safe twice. */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  /** Finishes in-flight work (commit or abandon cleanly), then releases everything. */
  stop(): Promise<void>;
  readiness(): { ready: boolean; reasons: string[] };
  /** Extra routes (a registry's REST API) on the service's HTTP server. */
  routes?(app: FastifyInstance): void;
  /** SIGHUP: re-read what may change without a restart (the ETL's site registry). */
  reload?(): void;
}

export interface ServiceContext {
  logger: Logger;
  /** The service's Prometheus registry (default process metrics included, prefix skyhaul_central_). */
  metrics: Registry;
}

export function createContext(service: string, level: string): ServiceContext {
  const logger = pino({ level, base: { pid: process.pid, service }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } });
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'skyhaul_central_' });
  // prom-client names these gauges *_total, which promtool rejects for gauges.
  for (const name of ['active_handles', 'active_requests', 'active_resources']) metrics.removeSingleMetric(`skyhaul_central_nodejs_${name}_total`);
  return { logger, metrics };
}

/** The HTTP side of a service: health, readiness, metrics, and its own routes. */
export async function serveHttp(service: Service, context: ServiceContext, listen: Listen, bodyLimit = 1024 * 1024): Promise<{ app: FastifyInstance; port: number }> {
  const app: FastifyInstance = Fastify({ loggerInstance: context.logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger, bodyLimit });
  app.get('/healthz', async () => ({ status: 'alive' }));
  app.get('/readyz', async (_request, reply) => {
    const readiness = service.readiness();
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  });
  app.get('/metrics', async (_request, reply) => reply.type(context.metrics.contentType).send(await context.metrics.metrics()));
  service.routes?.(app);
  await app.listen({ host: listen.bind, port: listen.port });
  const address = app.server.address();
  return { app, port: typeof address === 'object' && address !== null ? address.port : listen.port };
}

/**
 * Runs a service as the process's main job: start, serve HTTP, stop on a signal. Resolves with the
 * exit code once stopped (the caller exits with it).
 */
export async function runService(service: Service, context: ServiceContext, listen: Listen): Promise<number> {
  const { logger } = context;
  let app: FastifyInstance | null = null;
  let exit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: draining in-flight work');
    void (async () => {
      try {
        await service.stop();
        await app?.close();
        logger.info('stopped');
        exit(0);
      } catch (error) {
        logger.error({ err: (error as Error).message }, 'stop failed');
        exit(1);
      }
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // Without a handler SIGHUP would end the process (Node's default), and systemd would count that
  // as a clean exit.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading');
    service.reload?.();
  });
  try {
    ({ app } = await serveHttp(service, context, listen));
    await service.start();
  } catch (error) {
    logger.fatal({ err: (error as Error).stack ?? String(error) }, `${service.name} failed to start`);
    await service.stop().catch(() => undefined);
    await app?.close();
    return 1;
  }
  logger.info({ listen }, `${service.name} ready`);
  return exited;
}
