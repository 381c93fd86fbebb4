/**
 * Test-side Pulsar helpers over the WebSocket API and the admin REST API: a raw producer (to
 * show broker behaviour directly) and a consumer that collects what a central site would see.
 */
import WebSocket from 'ws';

export function topicPath(topic: string): string {
  // persistent://tenant/ns/name -> persistent/tenant/ns/name
  return topic.replace('://', '/');
}

function openSocket(url: string, timeoutMs = 15_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => reject(new Error(`WebSocket ${url}: HTTP ${res.statusCode} ${body}`)));
    });
    ws.once('error', reject);
  });
}

export interface RawSendResult {
  result: string;
  messageId?: string;
  errorMsg?: string;
  context?: string;
}

/** A bare WebSocket producer: one connection, sends one message at a time and waits for its ack. */
export class RawWsProducer {
  private constructor(private readonly ws: WebSocket) {}

  static async open(wsBase: string, topic: string, query: Record<string, string | number> = {}): Promise<RawWsProducer> {
    const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
    const ws = await openSocket(`${wsBase}/ws/v2/producer/${topicPath(topic)}?${params}`);
    return new RawWsProducer(ws);
  }

  send(payload: string | Buffer, options: { key?: string; properties?: Record<string, string> } = {}): Promise<RawSendResult> {
    const context = Math.random().toString(36).slice(2);
    return new Promise((resolve, reject) => {
      const onMessage = (data: WebSocket.RawData): void => {
        const ack = JSON.parse(data.toString()) as RawSendResult;
        if (ack.context !== context) return;
        this.ws.off('message', onMessage);
        resolve(ack);
      };
      this.ws.on('message', onMessage);
      this.ws.once('close', () => reject(new Error('producer socket closed before the ack')));
      this.ws.send(
        JSON.stringify({
          payload: Buffer.from(payload).toString('base64'),
          context,
          ...(options.key === undefined ? {} : { key: options.key }),
          ...(options.properties === undefined ? {} : { properties: options.properties }),
        }),
      );
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export interface ConsumedMessage {
  messageId: string;
  key?: string;
  payload: Buffer;
  properties: Record<string, string>;
  publishTime: string;
}

/**
 * Subscribes (exclusive, from the earliest message) and acknowledges everything it receives, so
 * a test sees exactly what a downstream consumer would, duplicates included.
 */
export class WsConsumer {
  readonly messages: ConsumedMessage[] = [];
  private waiters: Array<() => void> = [];
  private closedReason: string | null = null;
  private readonly pinger: NodeJS.Timeout;

  private constructor(private readonly ws: WebSocket) {
    // The dev brokers close WebSocket sessions idle for 30 s (as a site's should): keep ours alive
    // through long outages, like any real client.
    this.pinger = setInterval(() => ws.readyState === WebSocket.OPEN && ws.ping(), 5000);
    ws.on('close', (code, reason) => {
      clearInterval(this.pinger);
      this.closedReason = `consumer socket closed (${code} ${reason.toString()})`;
      for (const wake of this.waiters.splice(0)) wake();
    });
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as {
        messageId: string;
        payload: string;
        key?: string;
        properties?: Record<string, string>;
        publishTime: string;
      };
      if (msg.messageId === undefined) return;
      this.messages.push({
        messageId: msg.messageId,
        ...(msg.key === undefined ? {} : { key: msg.key }),
        payload: Buffer.from(msg.payload, 'base64'),
        properties: msg.properties ?? {},
        publishTime: msg.publishTime,
      });
      ws.send(JSON.stringify({ messageId: msg.messageId }));
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static async open(wsBase: string, topic: string, subscription: string): Promise<WsConsumer> {
    const params = new URLSearchParams({
      subscriptionType: 'Exclusive',
      subscriptionInitialPosition: 'Earliest',
      receiverQueueSize: '1000',
    });
    const ws = await openSocket(`${wsBase}/ws/v2/consumer/${topicPath(topic)}/${subscription}?${params}`);
    return new WsConsumer(ws);
  }

  /** Resolves once `count` messages have arrived; rejects after `timeoutMs` naming how many did. */
  async waitFor(count: number, timeoutMs: number): Promise<ConsumedMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      if (this.closedReason !== null) throw new Error(`${this.closedReason} after ${this.messages.length} of ${count} messages`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages, got ${this.messages.length} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages;
  }

  /** Waits `ms` more and returns everything received (to catch late duplicates). */
  async settle(ms: number): Promise<ConsumedMessage[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.messages;
  }

  close(): Promise<void> {
    clearInterval(this.pinger);
    this.closedReason = 'closed by the test';
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export async function adminGet<T>(httpBase: string, path: string): Promise<T> {
  const res = await fetch(`${httpBase}/admin/v2${path}`, { signal: AbortSignal.timeout(15_000) });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
