/**
 * The daemon's local HTTP server (fastify), bound to 127.0.0.1 by default: liveness, readiness
 * with reasons, the status document, and routes that inputs register (HTTP push).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { RouteRegistry } from '../inputs/http/input.ts';
import type { Logger } from '../log.ts';

export interface HealthSource {
  readiness(): { ready: boolean; reasons: string[] };
  status(): unknown;
}

export class HealthServer implements RouteRegistry {
  private readonly app: FastifyInstance;
  private address: { host: string; port: number } | null = null;

  constructor(
    private readonly options: { bind: string; port: number },
    private readonly source: HealthSource,
    logger: Logger,
  ) {
    // Request lines at warn and above only: a dashboard polling every second must not flood the journal.
    this.app = Fastify({ loggerInstance: logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger, bodyLimit: 64 * 1024 * 1024 });
    this.app.get('/healthz', async () => ({ status: 'alive' }));
    this.app.get('/readyz', async (_request, reply) => {
      const readiness = this.source.readiness();
      return reply.code(readiness.ready ? 200 : 503).send(readiness);
    });
    this.app.get('/api/v1/status', async () => this.source.status());
  }

  post: RouteRegistry['post'] = (path, handler) => {
    this.app.post(path, async (request, reply) => {
      const result = await handler({ body: request.body, headers: request.headers });
      return reply.code(result.status).send(result.body);
    });
  };

  async start(): Promise<{ host: string; port: number }> {
    if (this.address !== null) return this.address;
    await this.app.listen({ host: this.options.bind, port: this.options.port });
    const info = this.app.server.address();
    this.address = typeof info === 'object' && info !== null ? { host: info.address, port: info.port } : { host: this.options.bind, port: this.options.port };
    return this.address;
  }

  async stop(): Promise<void> {
    if (this.address === null) return;
    this.address = null;
    await this.app.close();
  }
}
