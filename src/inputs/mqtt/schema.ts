/**
 * Options of the `mqtt` input: subscriptions on the site MQTT broker (see README.md). Pure data,
 * composed into the configuration schema through src/inputs/schemas.ts; it does not load the
 * input (nor mqtt.js).
 */
import { adapter, adapterOptions, defineInputSchema, duration, type Duration } from '../../config/forms.ts';

/** An `mqtt` input as validated (defaults filled, durations not yet parsed). */
export interface MqttInputSettings {
  type: 'mqtt';
  name: string;
  url: string;
  clientId?: string;
  username?: string;
  password?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; allowInsecure?: boolean };
  keepalive: number;
  reconnect: Duration;
  subscriptions: Array<{ topic: string; instrument: string; adapter: string; adapterOptions: Record<string, unknown> }>;
}

export default defineInputSchema<MqttInputSettings>({
  type: 'mqtt',
  options: {
    description: 'Subscriptions on the site MQTT broker (QoS 1, persistent session; PUBACK after commit).',
    required: ['url', 'subscriptions'],
    properties: {
      url: { type: 'string', pattern: '^(mqtts?|wss?|tcp|ssl)://', description: 'e.g. mqtt://127.0.0.1:1883 or mqtts://broker:8883' },
      clientId: { type: 'string', description: 'Stable client id (default skyhaul-<site>-<input name>): the persistent session is keyed on it.' },
      username: { type: 'string' },
      password: { type: 'string' },
      tls: {
        type: 'object',
        additionalProperties: false,
        properties: { caFile: { type: 'string' }, certFile: { type: 'string' }, keyFile: { type: 'string' }, allowInsecure: { type: 'boolean', default: false } },
      },
      keepalive: { type: 'integer', minimum: 5, default: 30 },
      reconnect: { ...duration, default: '2s' },
      subscriptions: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['topic', 'instrument', 'adapter'],
          properties: {
            topic: { type: 'string', description: 'MQTT filter; + and # wildcards.' },
            instrument: { type: 'string', description: 'Stream prefix; {1}, {2}… take the wildcard matches.' },
            adapter,
            adapterOptions,
          },
        },
      },
    },
  },
});
