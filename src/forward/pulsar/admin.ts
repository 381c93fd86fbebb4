/**
 * Pulsar's admin REST API over the same web service URL, TLS settings and token as the
 * WebSocket transport: the forwarder's link probe, the geo-replication status and the broker
 * settings check (broker-settings.ts), which also reads the site bookie's HTTP admin API.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SkyhaulError } from '../../common/errors.ts';
import type { TransportOptions } from './transport.ts';

/**
 * The broker (or bookie) answered, with an HTTP error status: the link works, the request was
 * refused (401/403: not allowed; 404: no such topic or endpoint; 412: not a dynamic setting).
 * Code SKY_ERR_TRANSPORT like every admin failure; `status` tells it apart from a dead link.
 */
export class AdminHttpError extends SkyhaulError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('SKY_ERR_TRANSPORT', message);
    this.name = 'AdminHttpError';
  }
}

export class PulsarAdmin {
  private readonly base: URL;
  private readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };

  constructor(private readonly options: Pick<TransportOptions, 'webServiceUrl' | 'tls' | 'token' | 'deadLinkTimeoutMs'>) {
    const url = new URL(options.webServiceUrl);
    if (url.protocol === 'ws:') url.protocol = 'http:';
    if (url.protocol === 'wss:') url.protocol = 'https:';
    this.base = url;
    const t = options.tls;
    this.tls = {
      ...(t?.caFile === undefined ? {} : { ca: readFileSync(t.caFile) }),
      ...(t?.certFile === undefined ? {} : { cert: readFileSync(t.certFile) }),
      ...(t?.keyFile === undefined ? {} : { key: readFileSync(t.keyFile) }),
      rejectUnauthorized: t?.allowInsecure !== true,
    };
  }

  /**
   * GET a path under /admin/v2; a timeout means a dead (black-holed) link (SKY_ERR_LINK_DEAD), an
   * HTTP error status rejects with AdminHttpError. JSON bodies are parsed, anything else (including
   * an empty body: an unset namespace policy) resolves as the raw string.
   */
  get<T>(path: string, timeoutMs = this.options.deadLinkTimeoutMs): Promise<T> {
    return this.getUrl<T>(new URL(`/admin/v2${path}`, this.base), timeoutMs);
  }

  /**
   * GET an absolute URL, e.g. the bookie's `http://127.0.0.1:8000/api/v1/config/server_config`.
   * The token is sent only to the web service's own origin, never to another host.
   */
  getUrl<T>(target: URL | string, timeoutMs = this.options.deadLinkTimeoutMs): Promise<T> {
    const url = new URL(target);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const sameOrigin = url.origin === this.base.origin;
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'GET',
          headers: this.options.token === undefined || !sameOrigin ? {} : { Authorization: `Bearer ${this.options.token}` },
          ...(url.protocol === 'https:' && sameOrigin ? this.tls : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString();
            if ((res.statusCode ?? 500) >= 300) {
              reject(new AdminHttpError(res.statusCode ?? 500, `GET ${url.pathname}: HTTP ${res.statusCode} ${body.slice(0, 200)}`));
              return;
            }
            try {
              resolve((body.trim().startsWith('{') || body.trim().startsWith('[') ? JSON.parse(body) : body) as T);
            } catch (error) {
              reject(new SkyhaulError('SKY_ERR_TRANSPORT', `GET ${url.pathname}: bad JSON`, { cause: error }));
            }
          });
          res.on('error', (error) => reject(new SkyhaulError('SKY_ERR_TRANSPORT', error.message, { cause: error })));
        },
      );
      req.setTimeout(timeoutMs, () => {
        req.destroy();
        reject(new SkyhaulError('SKY_ERR_LINK_DEAD', `no answer from ${url.host} within ${timeoutMs} ms`));
      });
      req.on('error', (error) => reject(new SkyhaulError('SKY_ERR_TRANSPORT', `${url.host}: ${error.message}`, { cause: error })));
      req.end();
    });
  }

  async ready(): Promise<void> {
    await this.get<string>('/brokers/ready');
  }

  topicStats(topic: string): Promise<TopicStats> {
    return this.get<TopicStats>(`/${topic.replace('://', '/')}/stats`);
  }
}

export interface TopicStats {
  msgRateIn?: number;
  replication?: Record<
    string,
    { replicationBacklog?: number; connected?: boolean; msgRateOut?: number; replicationDelayInSeconds?: number; inboundConnection?: string }
  >;
}
