/**
 * Pulsar's WebSocket API as a transport: pure TypeScript over `ws`, needs nothing but the
 * broker's web service (`webSocketServiceEnabled=true`). One WebSocket per producer.
 *
 * Dead links: a black hole (connection open, nothing flowing) raises no socket error, so every
 * producer pings; when nothing at all has come back for the silence limit while a reply is due,
 * the socket is terminated and the producer fails with SKY_ERR_LINK_DEAD. The limit is derived
 * from `deadLinkTimeoutMs` so that detection completes within that bound.
 */
import WebSocket from 'ws';
import { SkyhaulError } from '../../common/errors.ts';
import { DEAD_LINK_CHECK_INTERVAL_MS, deadLinkTiming, DEFAULT_MAX_MESSAGE_BYTES, readTlsFiles } from './transport.ts';
import type {
  OutgoingMessage,
  ProducerOptions,
  PulsarTransport,
  TlsMaterial,
  TransportOptions,
  TransportProducer,
} from './transport.ts';

export function websocketBaseUrl(webServiceUrl: string): string {
  const url = new URL(webServiceUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new SkyhaulError('SKY_ERR_CONFIG', `forward.url must be http(s):// or ws(s)://, got '${webServiceUrl}'`);
  }
  return url.toString().replace(/\/$/, '');
}

/** persistent://tenant/ns/topic -> persistent/tenant/ns/topic (the WebSocket API's path form). */
export function topicUrlPath(topic: string): string {
  const match = /^(persistent|non-persistent):\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(topic);
  if (!match) throw new SkyhaulError('SKY_ERR_CONFIG', `not a fully qualified Pulsar topic: '${topic}'`);
  return `${match[1]}/${match[2]}/${match[3]}/${encodeURIComponent(match[4]!)}`;
}

interface PendingSend {
  resolve: () => void;
  reject: (error: SkyhaulError) => void;
  sentAt: number;
}

interface ProducerAck {
  result: string;
  messageId?: string;
  errorMsg?: string;
  context?: string;
}

/** The proxy's JSON text frame for one message (Pulsar WebSocket API, "Publishing a message"). */
function encodeFrame(message: OutgoingMessage): string {
  return JSON.stringify({
    payload: message.payload.toString('base64'),
    properties: message.properties,
    key: message.key,
    context: String(message.sequenceId),
    eventTime: new Date(message.eventTime).toISOString(),
  });
}

class WebSocketProducer implements TransportProducer {
  private readonly pending = new Map<string, PendingSend>();
  private readonly closeListeners: Array<(error: SkyhaulError | null) => void> = [];
  /** performance.now() of the last byte from the proxy: the dead-link detector measures silence, not wall time. */
  private lastInbound = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private lastPing = 0;
  private failure: SkyhaulError | null = null;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    readonly producerName: string,
    private readonly topic: string,
    private readonly pingIntervalMs: number,
    private readonly silenceLimitMs: number,
  ) {
    ws.on('message', (data) => {
      this.lastInbound = performance.now();
      this.onAck(data.toString());
    });
    ws.on('pong', () => (this.lastInbound = performance.now()));
    ws.on('error', (error) => this.fail(new SkyhaulError('SKY_ERR_TRANSPORT', `WebSocket producer ${producerName}: ${error.message}`, { cause: error })));
    ws.on('close', (code, reason) =>
      this.fail(
        this.closed
          ? null
          : new SkyhaulError(
              // 1009 (RFC 6455 "message too big"): the proxy's webSocketMaxTextFrameSize was exceeded.
              code === 1009 ? 'SKY_ERR_RECORD_TOO_LARGE' : 'SKY_ERR_TRANSPORT',
              `WebSocket producer ${producerName} closed by peer (${code} ${reason.toString()})`,
            ),
      ),
    );
    this.timer = setInterval(() => this.checkLiveness(), DEAD_LINK_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  send(message: OutgoingMessage): Promise<void> {
    if (this.failure !== null || this.closed) {
      return Promise.reject(this.failure ?? new SkyhaulError('SKY_ERR_TRANSPORT', `producer ${this.producerName} is closed`));
    }
    const context = String(message.sequenceId);
    const frame = encodeFrame(message);
    return new Promise<void>((resolve, reject) => {
      // Nothing outstanding until now means the silence clock starts at this send.
      if (this.pending.size === 0) this.lastInbound = Math.max(this.lastInbound, performance.now());
      this.pending.set(context, { resolve, reject, sentAt: performance.now() });
      this.ws.send(frame);
    });
  }

  private onAck(text: string): void {
    let ack: ProducerAck;
    try {
      ack = JSON.parse(text) as ProducerAck;
    } catch {
      this.fail(new SkyhaulError('SKY_ERR_TRANSPORT', `producer ${this.producerName}: unparseable reply from the proxy: ${text.slice(0, 200)}`));
      return;
    }
    const entry = ack.context === undefined ? undefined : this.pending.get(ack.context);
    if (entry === undefined) return;
    this.pending.delete(ack.context!);
    if (ack.result === 'ok') {
      entry.resolve();
      return;
    }
    // A failed send leaves a hole in the proxy's numbering: this producer cannot go on.
    this.fail(
      new SkyhaulError('SKY_ERR_SEND_REJECTED', `broker rejected message ${ack.context} on ${this.topic}: ${ack.result} ${ack.errorMsg ?? ''}`.trim()),
    );
  }

  private checkLiveness(): void {
    if (this.failure !== null || this.closed) return;
    const now = performance.now();
    if (now - this.lastPing >= this.pingIntervalMs && this.ws.readyState === WebSocket.OPEN) {
      this.lastPing = now;
      this.ws.ping();
    }
    if (now - this.lastInbound > this.silenceLimitMs) {
      this.fail(
        new SkyhaulError(
          'SKY_ERR_LINK_DEAD',
          `no reply from the broker for ${Math.round(now - this.lastInbound)} ms on producer ${this.producerName} (black-holed link)`,
        ),
      );
    }
  }

  private fail(error: SkyhaulError | null): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    if (this.failure !== null) return;
    this.failure = error ?? new SkyhaulError('SKY_ERR_TRANSPORT', `producer ${this.producerName} closed`);
    for (const entry of this.pending.values()) entry.reject(this.failure);
    this.pending.clear();
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }

  onClose(listener: (error: SkyhaulError | null) => void): void {
    if (this.failure !== null) listener(this.closed ? null : this.failure);
    else this.closeListeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ws.readyState === WebSocket.OPEN) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        this.ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        this.ws.close(1000);
      });
    }
    this.fail(null);
  }
}

export class WebSocketTransport implements PulsarTransport {
  readonly kind = 'websocket' as const;
  readonly maxMessageBytes: number;
  private readonly base: string;
  private readonly tls: TlsMaterial;
  private readonly producers = new Set<TransportProducer>();

  constructor(private readonly options: TransportOptions) {
    this.base = websocketBaseUrl(options.webServiceUrl);
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES.websocket;
    this.tls = readTlsFiles(options.tls);
  }

  encodedBytes(message: OutgoingMessage): number {
    return Buffer.byteLength(encodeFrame(message));
  }

  createProducer(options: ProducerOptions): Promise<TransportProducer> {
    const query = new URLSearchParams({
      producerName: options.producerName,
      initialSequenceId: String(options.initialSequenceId),
      sendTimeoutMillis: String(this.options.sendTimeoutMs),
      // The proxy's own queue must hold our whole in-flight window without failing sends.
      maxPendingMessages: '10000',
    });
    const url = `${this.base}/ws/v2/producer/${topicUrlPath(options.topic)}?${query}`;
    const { pingIntervalMs, silenceLimitMs } = deadLinkTiming(this.options.deadLinkTimeoutMs);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        handshakeTimeout: this.options.deadLinkTimeoutMs,
        headers: this.options.token === undefined ? {} : { Authorization: `Bearer ${this.options.token}` },
        perMessageDeflate: false,
        ...this.tls,
      });
      let settled = false;
      const settle = (error: SkyhaulError | null): void => {
        if (settled) return;
        settled = true;
        if (error !== null) {
          ws.removeAllListeners();
          ws.on('error', () => {});
          ws.terminate();
          reject(error);
          return;
        }
        ws.removeAllListeners();
        const producer = new WebSocketProducer(ws, options.producerName, options.topic, pingIntervalMs, silenceLimitMs);
        this.producers.add(producer);
        producer.onClose(() => this.producers.delete(producer));
        resolve(producer);
      };
      ws.once('open', () => settle(null));
      ws.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () =>
          settle(
            new SkyhaulError(
              response.statusCode === 401 || response.statusCode === 403 ? 'SKY_ERR_CONFIG' : 'SKY_ERR_TRANSPORT',
              `creating producer ${options.producerName} on ${options.topic}: HTTP ${response.statusCode} ${body.trim().slice(0, 300)}`,
            ),
          ),
        );
        response.on('error', () => settle(new SkyhaulError('SKY_ERR_TRANSPORT', `creating producer: HTTP ${response.statusCode}`)));
      });
      ws.once('error', (error) =>
        settle(new SkyhaulError('SKY_ERR_TRANSPORT', `connecting to ${this.base}: ${error.message}`, { cause: error })),
      );
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.producers].map((producer) => producer.close()));
  }
}
