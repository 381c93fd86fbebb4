/**
 * RabbitMQ behind one small interface (ARCHITECTURE: "thin clients behind small interfaces"), on
 * `rabbitmq-client` (maintained, AMQP 0-9-1, no dependencies): the connection reconnects by
 * itself with exponential backoff, consumers and publishers recover their channels and re-declare
 * what they declared; publishers here always use publisher confirms, consumers manual acks
 * (RabbitMQ, "Consumer Acknowledgements and Publisher Confirms").
 *
 *  - `connectAmqp(options, logger)`: a Connection with the service's name (visible in the
 *    management UI), heartbeat, backoff and TLS; connection events logged (the URL without its
 *    password).
 *  - `confirmedPublisher(connection, onReturn)`: confirms on, one attempt (the caller decides what
 *    a failure means), mandatory-returns handed to `onReturn`.
 *  - `explainAmqpError(error)`: the broker's reply code and text in one line.
 */
import { readFileSync } from 'node:fs';
import { Connection, type Publisher, type ReturnedMessage } from 'rabbitmq-client';
import type { Logger } from 'pino';
import { amqpUser, redactUrl, withPassword } from '../../../lib/amqp-url.ts';

export { amqpUser, redactUrl };

export { Connection, ConsumerStatus, type AsyncMessage, type Consumer, type Publisher, type ReturnedMessage } from 'rabbitmq-client';

export interface AmqpOptions {
  /** amqp:// or amqps://user@host:port/vhost. */
  url: string;
  /** Separately from the URL, so that the URL can be logged. */
  password?: string;
  /** Shown in RabbitMQ's management UI. */
  connectionName: string;
  heartbeatSeconds: number;
  reconnect: { initialMs: number; maxMs: number };
  tls?: { caFile?: string; certFile?: string; keyFile?: string; allowInsecure?: boolean };
}

export function connectAmqp(options: AmqpOptions, logger: Logger): Connection {
  const tls = options.tls;
  const tlsOptions =
    tls === undefined || (tls.caFile === undefined && tls.certFile === undefined && tls.allowInsecure !== true)
      ? undefined
      : {
          ...(tls.caFile === undefined ? {} : { ca: readFileSync(tls.caFile) }),
          ...(tls.certFile === undefined ? {} : { cert: readFileSync(tls.certFile) }),
          ...(tls.keyFile === undefined ? {} : { key: readFileSync(tls.keyFile) }),
          rejectUnauthorized: tls.allowInsecure !== true,
        };
  const connection = new Connection({
    url: withPassword(options.url, options.password),
    connectionName: options.connectionName,
    heartbeat: options.heartbeatSeconds,
    retryLow: options.reconnect.initialMs,
    retryHigh: options.reconnect.maxMs,
    connectionTimeout: 10_000,
    // Control messages are small and latency matters more than packing.
    noDelay: true,
    ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
  });
  const url = redactUrl(options.url);
  connection.on('connection', () => logger.info({ url }, 'RabbitMQ connected'));
  connection.on('error', (error: Error) => logger.warn({ url, err: explainAmqpError(error) }, 'RabbitMQ connection error (reconnecting with backoff)'));
  connection.on('connection.blocked', (reason: string) => logger.warn({ url, reason }, 'RabbitMQ blocked publishing (a resource alarm)'));
  connection.on('connection.unblocked', () => logger.info({ url }, 'RabbitMQ unblocked publishing'));
  return connection;
}

/** A publisher with publisher confirms and no retries of its own; mandatory returns go to `onReturn`. */
export function confirmedPublisher(connection: Connection, onReturn: (message: ReturnedMessage) => void = () => undefined): Publisher {
  return connection.createPublisher({ confirm: true, maxAttempts: 1, onReturn });
}

/** `<code> <text>` of an AMQP channel or connection error (rabbitmq-client's AMQPError), else the message. */
export function explainAmqpError(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}
