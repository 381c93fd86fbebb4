import { SkyhaulError } from '../../common/errors.ts';
import { loadNativeClient, NativeTransport } from './native.ts';
import type { PulsarTransport, TransportKind, TransportOptions } from './transport.ts';
import { WebSocketTransport } from './websocket.ts';

export type TransportChoice = TransportKind | 'auto';

/** Which transports can run on this host (the native one only when its addon loads). */
export function availableTransports(): TransportKind[] {
  return loadNativeClient().module === null ? ['websocket'] : ['native', 'websocket'];
}

/**
 * `auto` prefers the native client when its addon loads and a binary-protocol URL is configured,
 * and otherwise falls back to the WebSocket API, which needs nothing but the web service.
 */
export function createTransport(choice: TransportChoice, options: TransportOptions): PulsarTransport {
  switch (choice) {
    case 'websocket':
      return new WebSocketTransport(options);
    case 'native':
      return new NativeTransport(options);
    case 'auto':
      if (options.serviceUrl !== undefined && availableTransports().includes('native')) return new NativeTransport(options);
      return new WebSocketTransport(options);
    default:
      throw new SkyhaulError('SKY_ERR_CONFIG', `unknown transport '${String(choice)}'`);
  }
}

export type { PulsarTransport, TransportKind, TransportOptions, TransportProducer, OutgoingMessage, ProducerOptions } from './transport.ts';
