/**
 * The data centre's view for a long chaos run: an exclusive WebSocket consumer on the central
 * Pulsar that survives what a minutes-long run throws at it.
 *
 * Unlike test/support/pulsar.ts's WsConsumer it
 *  - pings every few seconds, so the broker's WebSocket idle timeout (30 s in the dev stack)
 *    never closes it while the edge is cut off and nothing is replicated;
 *  - reconnects (same subscription) if its socket closes anyway;
 *  - keeps a message that the broker redelivers (same message id: an ack lost with a socket)
 *    once, counting the redelivery separately, so that `messages` holds what Skyhaul produced:
 *    a Skyhaul duplicate is a different message id with the same producer, stream and sequence.
 */
import WebSocket from 'ws';
import type { ConsumedMessage } from '../support/pulsar.ts';
import { topicPath } from '../support/pulsar.ts';
import { sleep } from '../bench/util.ts';

export class ChaosConsumer {
  readonly messages: ConsumedMessage[] = [];
  redeliveries = 0;
  reconnects = 0;
  private readonly seenIds = new Set<string>();
  private ws: WebSocket | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private reconnecting: Promise<void> | null = null;
  private lastError: string | null = null;

  private constructor(private readonly url: string) {}

  static async open(wsBase: string, topic: string, subscription: string): Promise<ChaosConsumer> {
    const params = new URLSearchParams({ subscriptionType: 'Exclusive', subscriptionInitialPosition: 'Earliest', receiverQueueSize: '1000' });
    const consumer = new ChaosConsumer(`${wsBase}/ws/v2/consumer/${topicPath(topic)}/${subscription}?${params}`);
    await consumer.connect();
    consumer.pingTimer = setInterval(() => {
      if (consumer.ws?.readyState === WebSocket.OPEN) consumer.ws.ping();
    }, 5000);
    return consumer;
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { handshakeTimeout: 15_000 });
      ws.once('open', () => {
        this.ws = ws;
        resolve();
      });
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`consumer: HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.on('error', (error) => {
        this.lastError = error.message;
        reject(error);
      });
      ws.on('message', (data) => this.onMessage(ws, data));
      ws.on('close', () => {
        if (this.ws === ws) this.ws = null;
        if (!this.closed) void this.reconnect();
      });
    });
  }

  private onMessage(ws: WebSocket, data: WebSocket.RawData): void {
    const msg = JSON.parse(data.toString()) as { messageId?: string; payload: string; key?: string; properties?: Record<string, string>; publishTime: string };
    if (msg.messageId === undefined) return;
    ws.send(JSON.stringify({ messageId: msg.messageId }));
    if (this.seenIds.has(msg.messageId)) {
      this.redeliveries += 1;
      return;
    }
    this.seenIds.add(msg.messageId);
    this.messages.push({
      messageId: msg.messageId,
      ...(msg.key === undefined ? {} : { key: msg.key }),
      payload: Buffer.from(msg.payload, 'base64'),
      properties: msg.properties ?? {},
      publishTime: msg.publishTime,
    });
  }

  private reconnect(): Promise<void> {
    if (this.reconnecting !== null) return this.reconnecting;
    this.reconnecting = (async () => {
      while (!this.closed && this.ws === null) {
        await sleep(500);
        try {
          await this.connect();
          this.reconnects += 1;
        } catch {
          // The broker may still hold the old exclusive consumer for a moment: retry.
        }
      }
    })().finally(() => {
      this.reconnecting = null;
    });
    return this.reconnecting;
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  get error(): string | null {
    return this.lastError;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    const ws = this.ws;
    if (ws === null || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 3000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close();
    });
  }
}
