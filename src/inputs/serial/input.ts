/**
 * Serial input (serialport): RS-232/RS-485 instruments and USB serial adapters, with the line
 * settings in config, the adapter's framing, and its polling (wake-up, poll commands, ACK/NAK).
 * A device that disappears (a USB adapter unplugged) is reopened with backoff until it returns.
 */
import type { FirmwareAdapter, Quarantine } from '../../../firmware-adapters/index.ts';
import type { DecodeReport } from '../decoding.ts';
import type { InputContext } from '../input.ts';
import type { SerialInputSettings } from './schema.ts';
import { StreamDeviceInput, type DeviceCallbacks, type DeviceConnection } from '../stream-device.ts';

/** The validated settings (./schema.ts) with the backoff durations parsed. */
export type SerialInputConfig = Pick<SerialInputSettings, 'name' | 'path' | 'baudRate' | 'dataBits' | 'parity' | 'stopBits' | 'flowControl'> & {
  backoff: { initialMs: number; maxMs: number };
};

export class SerialInput extends StreamDeviceInput {
  readonly type = 'serial';

  constructor(
    private readonly config: SerialInputConfig,
    adapter: FirmwareAdapter,
    context: InputContext & { quarantine: Quarantine; report: DecodeReport },
  ) {
    super(config.name, adapter, context, config.backoff);
  }

  protected describe(): string {
    return `${this.config.path} ${this.config.baudRate} ${this.config.dataBits}${this.config.parity[0]!.toUpperCase()}${this.config.stopBits}`;
  }

  protected async open(callbacks: DeviceCallbacks): Promise<DeviceConnection> {
    // Loaded on first use: the native binding costs start-up time on sites without serial instruments.
    const { SerialPort } = await import('serialport');
    return new Promise((resolve, reject) => {
      const port = new SerialPort(
        {
          path: this.config.path,
          baudRate: this.config.baudRate,
          dataBits: this.config.dataBits,
          parity: this.config.parity,
          stopBits: this.config.stopBits,
          rtscts: this.config.flowControl === 'rtscts',
          xon: this.config.flowControl === 'xonxoff',
          xoff: this.config.flowControl === 'xonxoff',
          autoOpen: false,
        },
      );
      port.open((error) => {
        if (error) {
          reject(error);
          return;
        }
        port.on('data', (chunk: Buffer) => callbacks.onData(chunk));
        let closedWith: Error | null = null;
        port.on('error', (err: Error) => (closedWith = err));
        port.on('close', (err: Error | null) => callbacks.onClose(err ?? closedWith));
        resolve({
          write: (data) =>
            new Promise<void>((ok, fail) => {
              port.write(data, (err) => (err ? fail(err) : port.drain(() => ok())));
            }),
          close: () =>
            new Promise<void>((ok) => {
              if (!port.isOpen) return ok();
              port.close(() => ok());
            }),
        });
      });
    });
  }
}
