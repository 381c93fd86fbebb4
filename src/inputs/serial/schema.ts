/**
 * Options of the `serial` input: RS-232/485 instruments and USB serial adapters (see README.md).
 * Pure data, composed into the configuration schema through src/inputs/schemas.ts; it does not
 * load the input (nor serialport).
 */
import { adapter, adapterOptions, backoff, defineInputSchema, type BackoffSettings } from '../../config/forms.ts';

/** A `serial` input as validated (defaults filled, durations not yet parsed). */
export interface SerialInputSettings {
  type: 'serial';
  name: string;
  path: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits: 1 | 1.5 | 2;
  flowControl: 'none' | 'rtscts' | 'xonxoff';
  adapter: string;
  adapterOptions: Record<string, unknown>;
  backoff: BackoffSettings;
}

export default defineInputSchema<SerialInputSettings>({
  type: 'serial',
  options: {
    description: 'A serial instrument (RS-232/485, USB serial adapter).',
    required: ['path', 'adapter'],
    properties: {
      path: { type: 'string', description: 'Device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/usb-FTDI_…' },
      baudRate: { type: 'integer', minimum: 50, maximum: 4000000, default: 9600 },
      dataBits: { enum: [5, 6, 7, 8], default: 8 },
      parity: { enum: ['none', 'even', 'odd', 'mark', 'space'], default: 'none' },
      stopBits: { enum: [1, 1.5, 2], default: 1 },
      flowControl: { enum: ['none', 'rtscts', 'xonxoff'], default: 'none' },
      adapter,
      adapterOptions,
      backoff,
    },
  },
});
