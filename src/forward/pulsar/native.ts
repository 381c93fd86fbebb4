/**
 * The native transport: Apache Pulsar's C++-backed Node client (`pulsar-client`), an optional
 * dependency. Used when `transport: native`, or under `auto` when the addon loads. Unlike the
 * WebSocket proxy it takes each message's `sequenceId` as given, so a producer survives gaps.
 */
import { createRequire } from 'node:module';
import { SkyhaulError } from '../../common/errors.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from './transport.ts';
import type {
  OutgoingMessage,
  ProducerOptions,
  PulsarTransport,
  TransportOptions,
  TransportProducer,
} from './transport.ts';

/** The slice of pulsar-client's API this transport uses. */
interface NativeProducer {
  send(message: {
    data: Buffer;
    partitionKey?: string;
    properties?: Record<string, string>;
    eventTimestamp?: number;
    sequenceId?: number;
  }): Promise<unknown>;
  close(): Promise<null>;
}
interface NativeClient {
  createProducer(config: Record<string, unknown>): Promise<NativeProducer>;
  close(): Promise<null>;
}
interface NativeModule {
  Client: new (config: Record<string, unknown>) => NativeClient;
  AuthenticationToken: new (params: { token: string }) => unknown;
}

let cached: { module: NativeModule | null; error: string | null } | undefined;

/** Loads pulsar-client once; null (with the reason) when the package or its addon is missing. */
export function loadNativeClient(): { module: NativeModule | null; error: string | null } {
  if (cached !== undefined) return cached;
  try {
    const require = createRequire(import.meta.url);
    cached = { module: require('pulsar-client') as NativeModule, error: null };
  } catch (error) {
    cached = { module: null, error: (error as Error).message.split('\n')[0] ?? 'unknown error' };
  }
  return cached;
}

class NativeTransportProducer implements TransportProducer {
  private readonly listeners: Array<(error: SkyhaulError | null) => void> = [];
  private failure: SkyhaulError | null = null;
  readonly bufferedBytes = 0;

  constructor(
    private readonly producer: NativeProducer,
    readonly producerName: string,
  ) {}

  async send(message: OutgoingMessage): Promise<void> {
    if (this.failure !== null) throw this.failure;
    try {
      await this.producer.send({
        data: message.payload,
        partitionKey: message.key,
        properties: message.properties,
        eventTimestamp: message.eventTime,
        sequenceId: message.sequenceId,
      });
    } catch (error) {
      this.fail(new SkyhaulError('SKY_ERR_TRANSPORT', `native send on ${this.producerName}: ${(error as Error).message}`, { cause: error }));
      throw this.failure;
    }
  }

  private fail(error: SkyhaulError | null): void {
    if (this.failure !== null) return;
    this.failure = error ?? new SkyhaulError('SKY_ERR_TRANSPORT', `producer ${this.producerName} closed`);
    for (const listener of this.listeners.splice(0)) listener(error);
    void this.producer.close().catch(() => {});
  }

  onClose(listener: (error: SkyhaulError | null) => void): void {
    if (this.failure !== null) listener(this.failure);
    else this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.fail(null);
  }
}

export class NativeTransport implements PulsarTransport {
  readonly kind = 'native' as const;
  readonly maxMessageBytes: number;
  private readonly client: NativeClient;

  constructor(private readonly options: TransportOptions) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES.native;
    const { module, error } = loadNativeClient();
    if (module === null) {
      throw new SkyhaulError('SKY_ERR_TRANSPORT_UNAVAILABLE', `transport 'native' needs the pulsar-client addon, which did not load: ${error}`);
    }
    if (options.serviceUrl === undefined) {
      throw new SkyhaulError('SKY_ERR_CONFIG', "transport 'native' needs forward.serviceUrl (pulsar:// or pulsar+ssl://)");
    }
    this.client = new module.Client({
      serviceUrl: options.serviceUrl,
      operationTimeoutSeconds: Math.ceil(options.deadLinkTimeoutMs / 1000),
      ...(options.token === undefined ? {} : { authentication: new module.AuthenticationToken({ token: options.token }) }),
      ...(options.tls?.caFile === undefined ? {} : { tlsTrustCertsFilePath: options.tls.caFile }),
      ...(options.tls?.certFile === undefined ? {} : { tlsCertificateFilePath: options.tls.certFile }),
      ...(options.tls?.keyFile === undefined ? {} : { tlsPrivateKeyFilePath: options.tls.keyFile }),
      tlsAllowInsecureConnection: options.tls?.allowInsecure === true,
    });
  }

  /** Payload plus properties and key: what the binary protocol's size check covers (metadata included). */
  encodedBytes(message: OutgoingMessage): number {
    let bytes = message.payload.length + Buffer.byteLength(message.key);
    for (const [k, v] of Object.entries(message.properties)) bytes += Buffer.byteLength(k) + Buffer.byteLength(v) + 4;
    return bytes;
  }

  async createProducer(options: ProducerOptions): Promise<TransportProducer> {
    try {
      const producer = await this.client.createProducer({
        topic: options.topic,
        producerName: options.producerName,
        initialSequenceId: options.initialSequenceId,
        sendTimeoutMs: this.options.sendTimeoutMs,
        batchingEnabled: false,
        blockIfQueueFull: true,
      });
      return new NativeTransportProducer(producer, options.producerName);
    } catch (error) {
      throw new SkyhaulError('SKY_ERR_TRANSPORT', `creating native producer ${options.producerName}: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => {});
  }
}
