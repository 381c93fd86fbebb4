/**
 * Options of the `tcp` input: an instrument serving telemetry on a TCP socket (see README.md).
 * Pure data, composed into the configuration schema through src/inputs/schemas.ts; it does not
 * load the input.
 */
import { adapter, adapterOptions, backoff, defineInputSchema, duration, type BackoffSettings, type Duration } from '../../config/forms.ts';

/** A `tcp` input as validated (defaults filled, durations not yet parsed). */
export interface TcpInputSettings {
  type: 'tcp';
  name: string;
  host: string;
  port: number;
  connectTimeout: Duration;
  adapter: string;
  adapterOptions: Record<string, unknown>;
  backoff: BackoffSettings;
}

export default defineInputSchema<TcpInputSettings>({
  type: 'tcp',
  options: {
    description: 'An instrument serving telemetry on a TCP socket (SQM-LE, upsd, serial-to-Ethernet).',
    required: ['host', 'port', 'adapter'],
    properties: {
      host: { type: 'string' },
      port: { type: 'integer', minimum: 1, maximum: 65535 },
      connectTimeout: { ...duration, default: '10s' },
      adapter,
      adapterOptions,
      backoff,
    },
  },
});
