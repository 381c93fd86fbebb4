import { SkyhaulError } from '../../common/errors.ts';
import { BinaryTransport } from './binary.ts';
import { loadNativeClient, NativeTransport } from './native.ts';
import type { PulsarTransport, TransportKind, TransportOptions } from './transport.ts';
import { WebSocketTransport } from './websocket.ts';

export type TransportChoice = TransportKind | 'auto';

/** Which transports can run on this host (the native one only when its addon loads). */
export function availableTransports(): TransportKind[] {
  return loadNativeClient().module === null ? ['websocket', 'binary'] : ['native', 'websocket', 'binary'];
}

/**
 * `auto` prefers, where a binary-protocol URL is configured, the native client when its addon
 * loads and otherwise the binary transport (TypeScript; the broker does less work per message than
 * for the WebSocket proxy); without one, the WebSocket API, which needs nothing but the web service.
 */
export function createTransport(choice: TransportChoice, options: TransportOptions): PulsarTransport {
  switch (choice) {
    case 'websocket':
      return new WebSocketTransport(options);
    case 'binary':
      return new BinaryTransport(options);
    case 'native':
      return new NativeTransport(options);
    case 'auto':
      if (options.serviceUrl === undefined) return new WebSocketTransport(options);
      return availableTransports().includes('native') ? new NativeTransport(options) : new BinaryTransport(options);
    default:
      throw new SkyhaulError('SKY_ERR_CONFIG', `unknown transport '${String(choice)}'`);
  }
}

export type { PulsarTransport, TransportKind, TransportOptions, TransportProducer, OutgoingMessage, ProducerOptions } from './transport.ts';
