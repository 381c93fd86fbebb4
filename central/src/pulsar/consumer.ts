/**
 * Pulsar's WebSocket consumer API as the bridge needs it (Apache Pulsar, "Pulsar WebSocket API":
 * `/ws/v2/consumer/persistent/<tenant>/<ns>/<topic>/<subscription>`), pure TypeScript over `ws`,
 * like the edge's producer transport (the native client cannot be installed here).
 *
 * One WebSocket per topic, `subscriptionType=Failover`: of the consumers connected on the
 * subscription, Pulsar delivers to one at a time (the highest `priorityLevel`, then the first to
 * subscribe), in publish order; on its disconnect the next takes over from the first
 * unacknowledged message. A message is acknowledged by its id; every message not acknowledged is
 * redelivered after a reconnect. Silence while the socket should be alive is a dead link: pings
 * every few seconds, terminated after `deadLinkTimeoutMs` without any answer.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';

export interface PulsarMessage {
  /** Opaque, base64 (what the API returns and takes back for an ack). */
  messageId: string;
  key?: string;
  payload: Buffer;
  properties: Record<string, string>;
  publishTime: string;
  redeliveryCount: number;
}

export interface ConsumerOptions {
  webServiceUrl: string;
  /** persistent://tenant/ns/name */
  topic: string;
  subscription: string;
  consumerName: string;
  priorityLevel?: number;
  receiverQueueSize?: number;
  /**
   * Where a subscription that does not exist yet starts (default 'Earliest': a site topic's first
   * records are published before any bridge has discovered the topic). The WebSocket API's
   * `subscriptionInitialPosition`, Pulsar ≥ 3.3 (apache/pulsar#23013).
   */
  initialPosition?: 'Earliest' | 'Latest';
  token?: string;
  deadLinkTimeoutMs?: number;
}

function wsUrl(options: ConsumerOptions): string {
  const match = /^persistent:\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(options.topic);
  if (match === null) throw new Error(`not a persistent topic: ${options.topic}`);
  const base = options.webServiceUrl.replace(/^http/, 'ws').replace(/\/$/, '');
  const query = new URLSearchParams({
    subscriptionType: 'Failover',
    consumerName: options.consumerName,
    receiverQueueSize: String(options.receiverQueueSize ?? 1000),
    priorityLevel: String(options.priorityLevel ?? 0),
    subscriptionInitialPosition: options.initialPosition ?? 'Earliest',
  });
  return `${base}/ws/v2/consumer/persistent/${match[1]}/${match[2]}/${encodeURIComponent(match[3]!)}/${encodeURIComponent(options.subscription)}?${query}`;
}

/**
 * Events: 'message' (PulsarMessage), 'close' (Error | null). After 'close' the consumer is done;
 * the owner opens a new one (and so gets every unacknowledged message again).
 */
export class WsConsumer extends EventEmitter {
  private ws: WebSocket | null = null;
  private lastInbound = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(readonly options: ConsumerOptions) {
    super();
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl(this.options), {
        handshakeTimeout: this.options.deadLinkTimeoutMs ?? 15_000,
        headers: this.options.token === undefined ? {} : { Authorization: `Bearer ${this.options.token}` },
        perMessageDeflate: false,
      });
      this.ws = ws;
      ws.once('open', () => {
        this.lastInbound = performance.now();
        this.timer = setInterval(() => this.checkLiveness(), 1000);
        this.timer.unref();
        resolve();
      });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(new Error(`Pulsar consumer on ${this.options.topic}: HTTP ${res.statusCode} ${body.slice(0, 300)}`)));
      });
      ws.on('error', (error) => {
        reject(error);
        this.finish(error);
      });
      ws.on('pong', () => (this.lastInbound = performance.now()));
      ws.on('message', (data) => {
        this.lastInbound = performance.now();
        let raw: { messageId: string; key?: string; payload: string; properties?: Record<string, string>; publishTime: string; redeliveryCount?: number };
        try {
          raw = JSON.parse(data.toString()) as typeof raw;
        } catch {
          this.finish(new Error(`Pulsar consumer on ${this.options.topic}: unparseable frame`));
          return;
        }
        if (typeof raw.messageId !== 'string') return; // an ack/control answer
        this.emit('message', {
          messageId: raw.messageId,
          ...(raw.key === undefined ? {} : { key: raw.key }),
          payload: Buffer.from(raw.payload ?? '', 'base64'),
          properties: raw.properties ?? {},
          publishTime: raw.publishTime,
          redeliveryCount: raw.redeliveryCount ?? 0,
        } satisfies PulsarMessage);
      });
      ws.on('close', (code, reason) => this.finish(this.closed ? null : new Error(`Pulsar consumer on ${this.options.topic} closed (${code} ${reason.toString()})`)));
    });
  }

  /** Acknowledges one message (individual ack: Failover with the WebSocket API has no cumulative ack). */
  ack(messageId: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ messageId }));
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && !this.closed;
  }

  private checkLiveness(): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    if (performance.now() - this.lastInbound > (this.options.deadLinkTimeoutMs ?? 15_000)) {
      this.finish(new Error(`Pulsar consumer on ${this.options.topic}: no answer for ${this.options.deadLinkTimeoutMs ?? 15_000} ms (dead link)`));
      ws.terminate();
      return;
    }
    ws.ping();
  }

  private finish(error: Error | null): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const ws = this.ws;
    if (ws === null) return;
    this.ws = null;
    ws.removeAllListeners('message');
    ws.on('error', () => undefined);
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    this.emit('close', error);
  }

  async close(): Promise<void> {
    this.closed = true;
    const ws = this.ws;
    if (ws === null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(1000);
    });
    this.finish(null);
  }
}

/** The slice of Pulsar's admin REST API the bridge uses. */
export class PulsarAdmin {
  constructor(
    private readonly webServiceUrl: string,
    private readonly token?: string,
  ) {}

  private async get<T>(path: string): Promise<T> {
    const res = await fetch(`${this.webServiceUrl.replace(/\/$/, '')}/admin/v2${path}`, {
      headers: this.token === undefined ? {} : { Authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`GET /admin/v2${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    return (await res.json()) as T;
  }

  /** Non-partitioned persistent topics of a namespace (tenant/ns), fully qualified. */
  topics(namespace: string): Promise<string[]> {
    return this.get<string[]>(`/persistent/${namespace}`);
  }

  /** Messages not yet acknowledged on a subscription (the backlog), or null when unknown. */
  async backlog(topic: string, subscription: string): Promise<number | null> {
    const stats = await this.get<{ subscriptions?: Record<string, { msgBacklog?: number }> }>(`/${topic.replace('://', '/')}/stats`);
    return stats.subscriptions?.[subscription]?.msgBacklog ?? null;
  }
}
