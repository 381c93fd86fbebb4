/**
 * One interface for the three ways Skyhaul talks to Pulsar: the WebSocket API (pure TypeScript,
 * needs only the web service), the binary protocol (pure TypeScript, `./binary.ts`; what `auto`
 * takes when a service URL is set) and the native client (`pulsar-client`, when its addon loads).
 *
 * Exactly-once rests on one rule every transport keeps: a producer is named per (producer_id,
 * stream), and the broker-side sequence id of every message equals the record's `sequence`.
 * With broker de-duplication on, a message re-sent after a crash or reconnect carries the same
 * sequence id as the copy the broker may already hold, and the broker drops it.
 *  - native and binary: set the sequence id of each message.
 *  - websocket: the proxy ignores a message's `sequenceId` and numbers messages itself,
 *    `initialSequenceId + 1, + 2, …` in send order, so the forwarder opens the producer with
 *    `initialSequenceId = first sequence to send - 1` and only ever sends contiguous sequences on
 *    one producer (a gap — records dropped by quota or TTL — means reopening the producer).
 */
import { readFileSync } from 'node:fs';
import { SkyhaulError } from '../../common/errors.ts';

export type TransportKind = 'websocket' | 'binary' | 'native';

export interface TlsOptions {
  /** PEM file of the CA that signed the broker's certificate. */
  caFile?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Only for test rigs with self-signed brokers. */
  allowInsecure?: boolean;
}

export interface TransportOptions {
  /** Pulsar web service, e.g. `http://127.0.0.1:8080` or `https://…` (WebSocket API and admin REST). */
  webServiceUrl: string;
  /** Binary protocol, e.g. `pulsar://…:6650` or `pulsar+ssl://…` (binary and native transports). */
  serviceUrl?: string;
  tls?: TlsOptions;
  /** Token auth (JWT), sent as `Authorization: Bearer`. */
  token?: string;
  /** A connection that says nothing for this long while a reply is due is dead (black hole). */
  deadLinkTimeoutMs: number;
  sendTimeoutMs: number;
  /**
   * The largest message the broker side accepts, as encoded by this transport, in bytes. Default:
   * WebSocket, the proxy's `webSocketMaxTextFrameSize` (1 MiB); binary and native, the broker's
   * `maxMessageSize` (5 MiB; the binary transport also takes the smaller limit a broker announces
   * in CONNECTED). Pulsar's ServiceConfiguration / WebSocketProxyConfiguration.
   */
  maxMessageBytes?: number;
}

/** Pulsar's defaults for what one message may weigh on the wire (see TransportOptions.maxMessageBytes). */
export const DEFAULT_MAX_MESSAGE_BYTES = { websocket: 1024 * 1024, binary: 5 * 1024 * 1024, native: 5 * 1024 * 1024 } as const;

/** How often a producer checks its link for silence and pings, ms. */
export const DEAD_LINK_CHECK_INTERVAL_MS = 250;

/** Ping cadence and silence limit such that a black hole is declared within `deadLinkTimeoutMs`. */
export function deadLinkTiming(deadLinkTimeoutMs: number): { pingIntervalMs: number; silenceLimitMs: number } {
  const pingIntervalMs = Math.max(200, Math.min(2000, Math.floor(deadLinkTimeoutMs / 6)));
  // Detection happens at most silence + one check after the last reply, and the last reply came
  // no later than the moment the link died; keep a second of slack for a busy event loop.
  const silenceLimitMs = Math.max(500, deadLinkTimeoutMs - DEAD_LINK_CHECK_INTERVAL_MS - Math.min(1000, deadLinkTimeoutMs / 10));
  return { pingIntervalMs, silenceLimitMs };
}

/**
 * Host, port and TLS of a binary-protocol URL, `pulsar://host:port` or `pulsar+ssl://host:port`
 * (an IPv6 host in brackets); null when the URL is not of that form. The config loader and the
 * binary transport both check with it.
 */
export function parseServiceUrl(serviceUrl: string): { host: string; port: number; secure: boolean } | null {
  const match = /^(pulsar|pulsar\+ssl):\/\/([^/:[\]]+|\[[^\]]+\]):(\d+)\/?$/.exec(serviceUrl);
  if (match === null) return null;
  return { host: match[2]!.replace(/^\[|\]$/g, ''), port: Number(match[3]), secure: match[1] === 'pulsar+ssl' };
}

/** TLS material for `tls.connect` / `ws`, read once from the configured files. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

/** Reads the PEM files `tls` names; SKY_ERR_CONFIG naming the setting and the file when one cannot be read. */
export function readTlsFiles(tls: TlsOptions | undefined): TlsMaterial {
  const read = (file: string | undefined, what: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new SkyhaulError('SKY_ERR_CONFIG', `cannot read ${what} '${file}': ${(error as Error).message}`, { cause: error });
    }
  };
  const ca = read(tls?.caFile, 'forward.tls.caFile');
  const cert = read(tls?.certFile, 'forward.tls.certFile');
  const key = read(tls?.keyFile, 'forward.tls.keyFile');
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    rejectUnauthorized: tls?.allowInsecure !== true,
  };
}

/** Room kept for properties, key and framing when turning a message limit into a payload limit. */
const ENVELOPE_RESERVE_BYTES = 16 * 1024;

/**
 * The largest payload that always fits a transport's message limit, whatever the record's
 * properties (stream names up to 1024 characters, trace context, times): what the buffer accepts
 * at ingest. WebSocket carries the payload base64-encoded inside a JSON text frame (4/3).
 */
export function maxPayloadBytes(kind: TransportKind, maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES[kind]): number {
  const room = Math.max(0, maxMessageBytes - ENVELOPE_RESERVE_BYTES);
  return kind === 'websocket' ? Math.floor((room * 3) / 4) : room;
}

export interface ProducerOptions {
  topic: string;
  producerName: string;
  /** The sequence id of the last message this producer name already delivered (-1: none). */
  initialSequenceId: number;
}

export interface OutgoingMessage {
  sequenceId: number;
  key: string;
  payload: Buffer;
  properties: Record<string, string>;
  eventTime: number;
}

export interface TransportProducer {
  readonly producerName: string;
  /**
   * Sends in call order. Resolves once the broker persisted the message (or recognised it as a
   * duplicate); rejects with a SkyhaulError when the producer fails, after which every later send
   * on it fails too and the producer is closed.
   */
  send(message: OutgoingMessage): Promise<void>;
  /** Bytes accepted by send() but not yet handed to the network (for flow control). */
  readonly bufferedBytes: number;
  close(): Promise<void>;
  onClose(listener: (error: SkyhaulError | null) => void): void;
}

export interface PulsarTransport {
  readonly kind: TransportKind;
  /** The message limit this transport was configured with (TransportOptions.maxMessageBytes). */
  readonly maxMessageBytes: number;
  /** Bytes the message takes on the wire (the limit applies to this). */
  encodedBytes(message: OutgoingMessage): number;
  createProducer(options: ProducerOptions): Promise<TransportProducer>;
  close(): Promise<void>;
}
