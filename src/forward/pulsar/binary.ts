/**
 * Pulsar's binary protocol as a transport, in TypeScript over `node:net` / `node:tls`: the
 * protocol the brokers speak natively, so the broker does not have to turn a JSON text frame with
 * a base64 payload into a message for every record, as the WebSocket proxy does (the proxy took
 * about twice the daemon's CPU while draining; README, "Performance").
 *
 * Our own code: the maintained client, `pulsar-client`, is a native addon whose prebuilt binaries
 * cannot be had on every site host (`./native.ts` loads it where it can), and the pure-JavaScript
 * client on npm (pulsar-flex 1.1) names producers and numbers messages itself, which breaks the
 * exactly-once rule of `./transport.ts`. Protobuf encoding is protobufjs's, the CRC32-C is
 * crc-32's; the framing and the producer's conversation are here.
 *
 * Wire format (Pulsar docs, "Pulsar binary protocol specification"; message definitions from
 * `PulsarApi.proto`, field numbers as published):
 *
 *     simple command:  [totalSize u32][commandSize u32][BaseCommand]
 *     SEND:            [totalSize u32][commandSize u32][BaseCommand]
 *                      [magic 0x0e01 u16][CRC32-C u32][metadataSize u32][MessageMetadata][payload]
 *
 * all big-endian; the CRC covers everything after it. One TCP (or TLS) connection per producer,
 * like the WebSocket transport's one socket per producer: a failure closes exactly one stream's
 * producer. The producer sets each message's sequence id to the record's sequence (broker
 * de-duplication drops a re-sent one), so it survives gaps like the native client.
 *
 * The broker the service URL reaches must own the topic (a site's standalone, a single broker):
 * topic lookup (CommandLookupTopic), which a multi-broker cluster or a Pulsar proxy needs, is not
 * done, and a broker that does not own the topic refuses the producer with ServiceNotReady,
 * reported as such.
 *
 * Dead links: as in the WebSocket transport (`./watched-producer.ts`), the producer pings (PING
 * commands) and fails with SKY_ERR_LINK_DEAD when nothing has come back for the silence limit.
 */
import net from 'node:net';
import tls from 'node:tls';
import crc32c from 'crc-32/crc32c';
import protobuf from 'protobufjs';
import { SkyhaulError } from '../../common/errors.ts';
import { deadLinkTiming, DEFAULT_MAX_MESSAGE_BYTES, parseServiceUrl, readTlsFiles } from './transport.ts';
import type { OutgoingMessage, ProducerOptions, PulsarTransport, TlsMaterial, TransportOptions, TransportProducer } from './transport.ts';
import { WatchedProducer, type WatchTiming } from './watched-producer.ts';

/** Protocol version announced in CONNECT: v12 has everything used here (checksums v6, keep-alive v1, CLOSE_PRODUCER v5). */
const PROTOCOL_VERSION = 12;
const CLIENT_VERSION = 'skyhaul-binary';
/** Magic number before a SEND's checksum: the "CRC32-C present" marker of the spec. */
const MAGIC_CRC32C = 0x0e01;

/** BaseCommand.Type values used here (PulsarApi.proto). */
const Type = {
  CONNECT: 2,
  CONNECTED: 3,
  PRODUCER: 5,
  SEND: 6,
  SEND_RECEIPT: 7,
  SEND_ERROR: 8,
  SUCCESS: 13,
  ERROR: 14,
  CLOSE_PRODUCER: 15,
  PRODUCER_SUCCESS: 17,
  PING: 18,
  PONG: 19,
} as const;

/** ServerError values that mean the configuration is wrong, not the link (PulsarApi.proto). */
const AUTHENTICATION_ERROR = 3;
const AUTHORIZATION_ERROR = 4;
const SERVER_ERRORS: Record<number, string> = {
  0: 'UnknownError', 1: 'MetadataError', 2: 'PersistenceError', 3: 'AuthenticationError', 4: 'AuthorizationError',
  6: 'ServiceNotReady', 7: 'ProducerBlockedQuotaExceededError', 8: 'ProducerBlockedQuotaExceededException', 9: 'ChecksumError',
  10: 'UnsupportedVersionError', 11: 'TopicNotFound', 14: 'TooManyRequests', 15: 'TopicTerminatedError', 16: 'ProducerBusy',
  17: 'InvalidTopicName', 18: 'IncompatibleSchema',
};

/**
 * The subset of PulsarApi.proto this producer sends and reads (proto2; every field optional here,
 * which is the same on the wire, so that a missing field is our error message rather than a
 * decoder's exception).
 */
const MESSAGES: Record<string, { fields: Record<string, { type: string; id: number; rule?: 'repeated' }> }> = {
  KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
  MessageMetadata: {
    fields: {
      producer_name: { type: 'string', id: 1 },
      sequence_id: { type: 'uint64', id: 2 },
      publish_time: { type: 'uint64', id: 3 },
      properties: { rule: 'repeated', type: 'KeyValue', id: 4 },
      partition_key: { type: 'string', id: 6 },
      event_time: { type: 'uint64', id: 12 },
    },
  },
  CommandConnect: {
    fields: {
      client_version: { type: 'string', id: 1 },
      auth_data: { type: 'bytes', id: 3 },
      protocol_version: { type: 'int32', id: 4 },
      auth_method_name: { type: 'string', id: 5 },
    },
  },
  CommandConnected: { fields: { server_version: { type: 'string', id: 1 }, protocol_version: { type: 'int32', id: 2 }, max_message_size: { type: 'int32', id: 3 } } },
  CommandProducer: {
    fields: {
      topic: { type: 'string', id: 1 },
      producer_id: { type: 'uint64', id: 2 },
      request_id: { type: 'uint64', id: 3 },
      producer_name: { type: 'string', id: 4 },
    },
  },
  CommandProducerSuccess: { fields: { request_id: { type: 'uint64', id: 1 }, producer_name: { type: 'string', id: 2 }, last_sequence_id: { type: 'int64', id: 3 } } },
  CommandSend: { fields: { producer_id: { type: 'uint64', id: 1 }, sequence_id: { type: 'uint64', id: 2 }, num_messages: { type: 'int32', id: 3 } } },
  CommandSendReceipt: { fields: { producer_id: { type: 'uint64', id: 1 }, sequence_id: { type: 'uint64', id: 2 } } },
  CommandSendError: { fields: { producer_id: { type: 'uint64', id: 1 }, sequence_id: { type: 'uint64', id: 2 }, error: { type: 'int32', id: 3 }, message: { type: 'string', id: 4 } } },
  CommandSuccess: { fields: { request_id: { type: 'uint64', id: 1 } } },
  CommandError: { fields: { request_id: { type: 'uint64', id: 1 }, error: { type: 'int32', id: 2 }, message: { type: 'string', id: 3 } } },
  CommandCloseProducer: { fields: { producer_id: { type: 'uint64', id: 1 }, request_id: { type: 'uint64', id: 2 } } },
  CommandPing: { fields: {} },
  CommandPong: { fields: {} },
  BaseCommand: {
    fields: {
      type: { type: 'int32', id: 1 },
      connect: { type: 'CommandConnect', id: 2 },
      connected: { type: 'CommandConnected', id: 3 },
      producer: { type: 'CommandProducer', id: 5 },
      send: { type: 'CommandSend', id: 6 },
      send_receipt: { type: 'CommandSendReceipt', id: 7 },
      send_error: { type: 'CommandSendError', id: 8 },
      success: { type: 'CommandSuccess', id: 13 },
      error: { type: 'CommandError', id: 14 },
      close_producer: { type: 'CommandCloseProducer', id: 15 },
      producer_success: { type: 'CommandProducerSuccess', id: 17 },
      ping: { type: 'CommandPing', id: 18 },
      pong: { type: 'CommandPong', id: 19 },
    },
  },
};
// proto2 semantics on every type (protobufjs takes the edition per type from JSON): a field set to
// its default, such as producer_id 0, is still written, as the broker requires.
const root = protobuf.Root.fromJSON({ nested: Object.fromEntries(Object.entries(MESSAGES).map(([name, type]) => [name, { edition: 'proto2', ...type }])) });
const BaseCommand = root.lookupType('BaseCommand');
const MessageMetadata = root.lookupType('MessageMetadata');

type Uint64 = number | { toNumber(): number };

/** A decoded BaseCommand (only the fields read here). */
interface Command {
  type: number;
  connected?: { max_message_size?: number };
  send_receipt?: { producer_id: Uint64; sequence_id: Uint64 };
  send_error?: { sequence_id: Uint64; error: number; message: string };
  success?: { request_id: Uint64 };
  error?: { request_id: Uint64; error: number; message: string };
}

/** protobufjs decodes 64-bit fields as Long objects when the `long` package is present. */
function toNumber(value: Uint64 | undefined): number {
  if (value === undefined) return -1;
  return typeof value === 'number' ? value : value.toNumber();
}

function frame(command: Record<string, unknown>): Buffer {
  const body = BaseCommand.encode(command).finish();
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeUInt32BE(4 + body.length, 0);
  out.writeUInt32BE(body.length, 4);
  out.set(body, 8);
  return out;
}

function serverError(code: number, message: string, what: string): SkyhaulError {
  const name = SERVER_ERRORS[code] ?? `ServerError ${code}`;
  const configuration = code === AUTHENTICATION_ERROR || code === AUTHORIZATION_ERROR;
  return new SkyhaulError(configuration ? 'SKY_ERR_CONFIG' : 'SKY_ERR_TRANSPORT', `${what}: broker answered ${name}: ${message}`);
}

/** What one SEND carries besides the payload: the properties in wire order, built once per message. */
function metadataOf(producerName: string, message: OutgoingMessage): Uint8Array {
  const properties: Array<{ key: string; value: string }> = [];
  for (const key in message.properties) properties.push({ key, value: message.properties[key]! });
  return MessageMetadata.encode({
    producer_name: producerName,
    sequence_id: message.sequenceId,
    publish_time: Date.now(),
    properties,
    partition_key: message.key,
    event_time: message.eventTime,
  }).finish();
}

/**
 * The SEND frame of one message: [total][command size][BaseCommand SEND][0x0e01][CRC32-C]
 * [metadata size][MessageMetadata][payload], the CRC over everything after it.
 */
function sendFrame(producerId: number, sequenceId: number, metadata: Uint8Array, payload: Buffer): Buffer {
  const command = BaseCommand.encode({ type: Type.SEND, send: { producer_id: producerId, sequence_id: sequenceId, num_messages: 1 } }).finish();
  const afterCrc = 4 + metadata.length + payload.length;
  const out = Buffer.allocUnsafe(8 + command.length + 6 + afterCrc);
  let at = out.writeUInt32BE(4 + command.length + 6 + afterCrc, 0);
  at = out.writeUInt32BE(command.length, at);
  out.set(command, at);
  at = out.writeUInt16BE(MAGIC_CRC32C, at + command.length);
  const crcAt = at;
  const checked = at + 4;
  at = out.writeUInt32BE(metadata.length, checked);
  out.set(metadata, at);
  payload.copy(out, at + metadata.length);
  out.writeUInt32BE(crc32c.buf(out.subarray(checked)) >>> 0, crcAt);
  return out;
}

/**
 * One connection speaking for one producer. Created by BinaryTransport.createProducer once the
 * broker has answered CONNECTED and PRODUCER_SUCCESS. Sends are keyed by sequence id.
 */
class BinaryProducer extends WatchedProducer<number> implements TransportProducer {
  private closeRequest: { id: number; done: () => void } | null = null;

  constructor(
    private readonly connection: Connection,
    producerName: string,
    private readonly topic: string,
    private readonly producerId: number,
    private readonly maxMessageBytes: number,
    timing: WatchTiming,
  ) {
    super(producerName, timing);
    connection.onCommand = (command) => this.onCommand(command);
    connection.onInbound = () => this.heard();
    connection.onEnd = (error) => this.fail(this.closed ? null : (error ?? new SkyhaulError('SKY_ERR_TRANSPORT', `producer ${producerName}: connection closed by the broker`)));
  }

  get bufferedBytes(): number {
    return this.connection.socket.writableLength;
  }

  send(message: OutgoingMessage): Promise<void> {
    if (this.ended) return this.awaitAnswer(message.sequenceId, () => {}); // rejects with the failure
    const metadata = metadataOf(this.producerName, message);
    if (metadata.length + message.payload.length > this.maxMessageBytes) {
      const error = new SkyhaulError(
        'SKY_ERR_RECORD_TOO_LARGE',
        `message ${message.sequenceId} on ${this.topic} is ${metadata.length + message.payload.length} bytes, over the broker's ${this.maxMessageBytes}-byte maxMessageSize`,
      );
      this.fail(error);
      return Promise.reject(error);
    }
    const out = sendFrame(this.producerId, message.sequenceId, metadata, message.payload);
    return this.awaitAnswer(message.sequenceId, () => this.connection.write(out));
  }

  private onCommand(command: Command): void {
    switch (command.type) {
      case Type.SEND_RECEIPT:
        this.answered(toNumber(command.send_receipt?.sequence_id));
        return;
      case Type.SEND_ERROR: {
        const e = command.send_error!;
        // A failed send leaves the broker's view of this producer's sequence uncertain: reopen.
        this.fail(
          new SkyhaulError('SKY_ERR_SEND_REJECTED', `broker rejected message ${toNumber(e.sequence_id)} on ${this.topic}: ${SERVER_ERRORS[e.error] ?? e.error} ${e.message}`.trim()),
        );
        return;
      }
      case Type.CLOSE_PRODUCER:
        // The broker unloads the topic (rebalancing, restart): the forwarder opens a new producer.
        this.fail(new SkyhaulError('SKY_ERR_TRANSPORT', `the broker closed producer ${this.producerName} on ${this.topic} (topic unloaded)`));
        return;
      case Type.SUCCESS:
        if (this.closeRequest !== null && toNumber(command.success?.request_id) === this.closeRequest.id) this.closeRequest.done();
        return;
      case Type.ERROR:
        if (this.closeRequest !== null && toNumber(command.error?.request_id) === this.closeRequest.id) this.closeRequest.done();
        else this.fail(serverError(command.error?.error ?? 0, command.error?.message ?? '', `producer ${this.producerName}`));
        return;
      default:
        // PONG, and anything newer brokers send that this producer does not use.
        return;
    }
  }

  protected ping(): void {
    this.connection.write(frame({ type: Type.PING, ping: {} }));
  }

  protected terminate(): void {
    this.connection.destroy();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const open = !this.ended;
    this.closed = true;
    if (open) {
      // CLOSE_PRODUCER first, so that the broker releases the producer name at once (a new producer
      // of the same name would otherwise be refused as ProducerBusy until the socket's end arrives).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        const id = this.connection.nextRequestId();
        this.closeRequest = {
          id,
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        this.connection.write(frame({ type: Type.CLOSE_PRODUCER, close_producer: { producer_id: this.producerId, request_id: id } }));
      });
    }
    this.fail(null);
  }
}

/** A connected, handshaken socket with its frame decoder; handed to a BinaryProducer. */
class Connection {
  onCommand: (command: Command) => void = () => {};
  onInbound: () => void = () => {};
  onEnd: (error: SkyhaulError | null) => void = () => {};
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES.binary;
  private requestId = 0;
  private corked = false;
  private received: Buffer | null = null;
  private ended = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.end(new SkyhaulError('SKY_ERR_TRANSPORT', `binary protocol connection: ${error.message}`, { cause: error })));
    socket.on('close', () => this.end(null));
  }

  nextRequestId(): number {
    return this.requestId++;
  }

  /**
   * Queues a frame. Frames written in one turn of the event loop leave in one writev(2): the
   * forwarder sends up to a few hundred messages per pump, and a write(2) per message cost the
   * daemon about a sixth of its drain time.
   */
  write(out: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(out);
  }

  destroy(): void {
    this.ended = true;
    this.socket.destroy();
  }

  private end(error: SkyhaulError | null): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    this.onEnd(error);
  }

  private onData(chunk: Buffer): void {
    this.onInbound();
    let data = this.received === null ? chunk : Buffer.concat([this.received, chunk]);
    while (data.length >= 4) {
      const total = data.readUInt32BE(0);
      if (data.length < 4 + total) break;
      const size = data.readUInt32BE(4);
      let command: Command;
      try {
        command = BaseCommand.decode(data.subarray(8, 8 + size)) as unknown as Command;
      } catch (error) {
        this.end(new SkyhaulError('SKY_ERR_TRANSPORT', `undecodable command from the broker: ${(error as Error).message}`));
        return;
      }
      data = data.subarray(4 + total);
      if (command.type === Type.PING) this.write(frame({ type: Type.PONG, pong: {} }));
      else this.onCommand(command);
    }
    this.received = data.length === 0 ? null : data;
  }
}

/** Pulsar's binary protocol from TypeScript: `transport: binary` (needs `forward.serviceUrl`). */
export class BinaryTransport implements PulsarTransport {
  readonly kind = 'binary' as const;
  readonly maxMessageBytes: number;
  private readonly target: { host: string; port: number; secure: boolean };
  private readonly tls: TlsMaterial;
  private readonly producers = new Set<TransportProducer>();

  constructor(private readonly options: TransportOptions) {
    if (options.serviceUrl === undefined) {
      throw new SkyhaulError('SKY_ERR_CONFIG', "transport 'binary' needs forward.serviceUrl (pulsar:// or pulsar+ssl://)");
    }
    const target = parseServiceUrl(options.serviceUrl);
    if (target === null) {
      throw new SkyhaulError('SKY_ERR_CONFIG', `forward.serviceUrl must be pulsar://host:port or pulsar+ssl://host:port, got '${options.serviceUrl}'`);
    }
    this.target = target;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES.binary;
    this.tls = readTlsFiles(options.tls);
  }

  /** Metadata (properties, key, names) plus payload: what the broker's maxMessageSize covers. */
  encodedBytes(message: OutgoingMessage): number {
    return metadataOf('', message).length + message.payload.length;
  }

  async createProducer(options: ProducerOptions): Promise<TransportProducer> {
    const what = `creating producer ${options.producerName} on ${options.topic}`;
    const connection = await this.connect(what);
    const producerId = 0;
    const requestId = connection.nextRequestId();
    const answer = await this.request(connection, frame({ type: Type.PRODUCER, producer: { topic: options.topic, producer_id: producerId, request_id: requestId, producer_name: options.producerName } }), what, (c) =>
      c.type === Type.PRODUCER_SUCCESS || c.type === Type.ERROR ? c : null,
    );
    if (answer.type === Type.ERROR) {
      connection.destroy();
      throw serverError(answer.error?.error ?? 0, answer.error?.message ?? '', what);
    }
    const { pingIntervalMs, silenceLimitMs } = deadLinkTiming(this.options.deadLinkTimeoutMs);
    const producer = new BinaryProducer(connection, options.producerName, options.topic, producerId, Math.min(this.maxMessageBytes, connection.maxMessageBytes), {
      pingIntervalMs,
      silenceLimitMs,
      // The broker answers every SEND; one left unanswered while pings come back means it is stuck on it.
      receiptTimeoutMs: this.options.sendTimeoutMs,
    });
    this.producers.add(producer);
    producer.onClose(() => this.producers.delete(producer));
    return producer;
  }

  private async connect(what: string): Promise<Connection> {
    const { host, port, secure } = this.target;
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined, ...this.tls })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    const connection = new Connection(socket);
    const connect = frame({
      type: Type.CONNECT,
      connect: {
        client_version: CLIENT_VERSION,
        protocol_version: PROTOCOL_VERSION,
        ...(this.options.token === undefined ? {} : { auth_method_name: 'token', auth_data: Buffer.from(this.options.token) }),
      },
    });
    const answer = await this.request(connection, connect, what, (c) => (c.type === Type.CONNECTED || c.type === Type.ERROR ? c : null));
    if (answer.type === Type.ERROR) {
      connection.destroy();
      throw serverError(answer.error?.error ?? 0, answer.error?.message ?? '', `${what}: connecting to ${this.options.serviceUrl}`);
    }
    const announced = answer.connected?.max_message_size;
    if (announced !== undefined && announced > 0) connection.maxMessageBytes = announced;
    return connection;
  }

  /** Writes `out` and waits for the first command `pick` accepts, within the dead-link timeout. */
  private request(connection: Connection, out: Buffer, what: string, pick: (command: Command) => Command | null): Promise<Command> {
    return new Promise((resolve, reject) => {
      // Silence for the dead-link timeout is a black hole, as for the admin API (./admin.ts): a refused
      // or reset connection fails sooner, with the socket's error.
      const timer = setTimeout(
        () => finish(new SkyhaulError('SKY_ERR_LINK_DEAD', `${what}: no answer from ${this.options.serviceUrl} within ${this.options.deadLinkTimeoutMs} ms (black-holed link)`)),
        this.options.deadLinkTimeoutMs,
      );
      const finish = (result: Command | SkyhaulError): void => {
        clearTimeout(timer);
        connection.onCommand = () => {};
        connection.onEnd = () => {};
        if (result instanceof SkyhaulError) {
          connection.destroy();
          reject(result);
        } else resolve(result);
      };
      connection.onCommand = (command) => {
        const picked = pick(command);
        if (picked !== null) finish(picked);
      };
      connection.onEnd = (error) => finish(error ?? new SkyhaulError('SKY_ERR_TRANSPORT', `${what}: ${this.options.serviceUrl} closed the connection`));
      connection.write(out);
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.producers].map((producer) => producer.close()));
  }
}
