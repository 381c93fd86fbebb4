/**
 * Pulsar's WebSocket API as a transport: pure TypeScript over `ws`, needs nothing but the
 * broker's web service (`webSocketServiceEnabled=true`). One WebSocket per producer.
 *
 * Dead links: every producer pings (WebSocket ping frames) and fails with SKY_ERR_LINK_DEAD when
 * nothing has come back for the silence limit (`./watched-producer.ts`), derived from
 * `deadLinkTimeoutMs` so that detection completes within that bound.
 */
import WebSocket from 'ws';
import { SkyhaulError } from '../../common/errors.ts';
import { deadLinkTiming, DEFAULT_MAX_MESSAGE_BYTES, readTlsFiles } from './transport.ts';
import { WatchedProducer, type WatchTiming } from './watched-producer.ts';
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

class WebSocketProducer extends WatchedProducer<string> implements TransportProducer {
  constructor(
    private readonly ws: WebSocket,
    producerName: string,
    private readonly topic: string,
    timing: WatchTiming,
  ) {
    super(producerName, timing);
    ws.on('message', (data) => {
      this.heard();
      this.onAck(data.toString());
    });
    ws.on('pong', () => this.heard());
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
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  send(message: OutgoingMessage): Promise<void> {
    const frame = encodeFrame(message);
    return this.awaitAnswer(String(message.sequenceId), () => this.ws.send(frame));
  }

  private onAck(text: string): void {
    let ack: ProducerAck;
    try {
      ack = JSON.parse(text) as ProducerAck;
    } catch {
      this.fail(new SkyhaulError('SKY_ERR_TRANSPORT', `producer ${this.producerName}: unparseable reply from the proxy: ${text.slice(0, 200)}`));
      return;
    }
    if (ack.context === undefined) return;
    if (ack.result === 'ok') {
      this.answered(ack.context);
      return;
    }
    // A failed send leaves a hole in the proxy's numbering: this producer cannot go on.
    this.fail(
      new SkyhaulError('SKY_ERR_SEND_REJECTED', `broker rejected message ${ack.context} on ${this.topic}: ${ack.result} ${ack.errorMsg ?? ''}`.trim()),
    );
  }

  protected ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  protected terminate(): void {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
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
        const producer = new WebSocketProducer(ws, options.producerName, options.topic, { pingIntervalMs, silenceLimitMs });
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
        settle(
          // ws's handshakeTimeout: accepted, then silence for the dead-link timeout, a black hole
          // (as for the admin API and the binary transport); a refused or reset connection fails sooner.
          /handshake has timed out/.test(error.message)
            ? new SkyhaulError('SKY_ERR_LINK_DEAD', `connecting to ${this.base}: no answer within ${this.options.deadLinkTimeoutMs} ms (black-holed link)`, { cause: error })
            : new SkyhaulError('SKY_ERR_TRANSPORT', `connecting to ${this.base}: ${error.message}`, { cause: error }),
        ),
      );
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.producers].map((producer) => producer.close()));
  }
}
