/**
 * TCP client input: instruments that serve telemetry on a socket (Unihedron SQM-LE, Network UPS
 * Tools' upsd, serial-to-Ethernet converters), with the adapter's polling.
 */
import { connect, type Socket } from 'node:net';
import type { FirmwareAdapter, Quarantine } from '../../../firmware-adapters/index.ts';
import type { DecodeReport } from '../decoding.ts';
import type { InputContext } from '../input.ts';
import { StreamDeviceInput, type DeviceCallbacks, type DeviceConnection } from '../stream-device.ts';

export interface TcpInputConfig {
  name: string;
  host: string;
  port: number;
  connectTimeoutMs: number;
  backoff: { initialMs: number; maxMs: number };
}

export class TcpInput extends StreamDeviceInput {
  readonly type = 'tcp';

  constructor(
    private readonly config: TcpInputConfig,
    adapter: FirmwareAdapter,
    context: InputContext & { quarantine: Quarantine; report: DecodeReport },
  ) {
    super(config.name, adapter, context, config.backoff);
  }

  protected describe(): string {
    return `tcp://${this.config.host}:${this.config.port}`;
  }

  protected open(callbacks: DeviceCallbacks): Promise<DeviceConnection> {
    return new Promise((resolve, reject) => {
      const socket: Socket = connect({ host: this.config.host, port: this.config.port });
      socket.setKeepAlive(true, 10_000);
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect timeout after ${this.config.connectTimeoutMs} ms`));
      }, this.config.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.on('data', (chunk: Buffer) => callbacks.onData(chunk));
        let closedWith: Error | null = null;
        socket.on('error', (error) => (closedWith = error));
        socket.on('close', () => callbacks.onClose(closedWith));
        resolve({
          write: (data) =>
            new Promise<void>((ok, fail) => {
              socket.write(data, (error) => (error ? fail(error) : ok()));
            }),
          close: () =>
            new Promise<void>((ok) => {
              socket.once('close', () => ok());
              socket.end();
              setTimeout(() => socket.destroy(), 1000).unref();
            }),
        });
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }
}
