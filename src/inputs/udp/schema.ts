/**
 * Options of the `udp` input: datagrams on a UDP port (see README.md). Pure data, composed into
 * the configuration schema through src/inputs/schemas.ts; it does not load the input.
 */
import { adapter, adapterOptions, bytes, defineInputSchema, type Bytes } from '../../config/forms.ts';

/** A `udp` input as validated (defaults filled, sizes not yet parsed). */
export interface UdpInputSettings {
  type: 'udp';
  name: string;
  bind: string;
  port: number;
  maxDatagramBytes: number;
  receiveBuffer: Bytes;
  senders: Record<string, string>;
  onlyListedSenders: boolean;
  journal: boolean;
  adapter: string;
  adapterOptions: Record<string, unknown>;
}

export default defineInputSchema<UdpInputSettings>({
  type: 'udp',
  options: {
    description: 'Datagrams on a UDP port.',
    required: ['port', 'adapter'],
    properties: {
      bind: { type: 'string', default: '0.0.0.0' },
      port: { type: 'integer', minimum: 0, maximum: 65535 },
      maxDatagramBytes: { type: 'integer', minimum: 1, maximum: 65507, default: 65507 },
      receiveBuffer: { ...bytes, default: '16MiB', description: 'Socket receive buffer (capped by net.core.rmem_max).' },
      senders: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Sender ip or ip:port -> instrument name.' },
      onlyListedSenders: { type: 'boolean', default: false },
      journal: { type: 'boolean', default: true, description: 'Journal each datagram under dataDir/inputs before decoding, so datagrams already read survive a crash of the process.' },
      adapter,
      adapterOptions,
    },
  },
});
