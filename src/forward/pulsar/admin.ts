/**
 * Pulsar's admin REST API over the same web service URL, TLS settings and token as the
 * WebSocket transport: the forwarder's link probe and the geo-replication status.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SkyhaulError } from '../../errors.ts';
import type { TransportOptions } from './transport.ts';

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

  /** GET a path under /admin/v2; a timeout means a dead (black-holed) link. */
  get<T>(path: string, timeoutMs = this.options.deadLinkTimeoutMs): Promise<T> {
    const url = new URL(`/admin/v2${path}`, this.base);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'GET',
          headers: this.options.token === undefined ? {} : { Authorization: `Bearer ${this.options.token}` },
          ...(url.protocol === 'https:' ? this.tls : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString();
            if ((res.statusCode ?? 500) >= 300) {
              reject(new SkyhaulError('SKY_ERR_TRANSPORT', `GET ${url.pathname}: HTTP ${res.statusCode} ${body.slice(0, 200)}`));
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
