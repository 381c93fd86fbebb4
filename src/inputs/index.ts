/**
 * The input registry: a new transport is one folder under src/inputs/ plus one line here.
 */
import { getAdapter } from '../../firmware-adapters/index.ts';
import type { InputConfig } from '../config/types.ts';
import { parseBytes, parseDuration } from '../../lib/schema-config/units.ts';
import { HttpInput, type RouteRegistry } from './http/input.ts';
import type { Input, InputContext } from './input.ts';
import { MqttInput } from './mqtt/input.ts';
import { SerialInput } from './serial/input.ts';
import { SyntheticInput } from './synthetic/input.ts';
import { TcpInput } from './tcp/input.ts';
import { UdpInput } from './udp/input.ts';

type Context = InputContext & { routes: RouteRegistry };
type Of<T extends InputConfig['type']> = Extract<InputConfig, { type: T }>;
const backoff = (b: { initial: number | string; max: number | string }): { initialMs: number; maxMs: number } => ({
  initialMs: parseDuration(b.initial),
  maxMs: parseDuration(b.max),
});

const registry: { [T in InputConfig['type']]: (config: Of<T>, context: Context) => Input } = {
  synthetic: (config, context) => new SyntheticInput(config, context),
  http: (c, context) => new HttpInput({ name: c.name, ...(c.token === undefined ? {} : { token: c.token }), maxRecordsPerRequest: c.maxRecordsPerRequest, maxRequestBytes: parseBytes(c.maxRequestSize) }, context),
  serial: (c, context) => new SerialInput({ ...c, backoff: backoff(c.backoff) }, getAdapter(c.adapter, c.adapterOptions), context),
  tcp: (c, context) =>
    new TcpInput({ name: c.name, host: c.host, port: c.port, connectTimeoutMs: parseDuration(c.connectTimeout), backoff: backoff(c.backoff) }, getAdapter(c.adapter, c.adapterOptions), context),
  udp: (c, context) =>
    new UdpInput(
      { name: c.name, bind: c.bind, port: c.port, maxDatagramBytes: c.maxDatagramBytes, receiveBufferBytes: parseBytes(c.receiveBuffer), senders: c.senders, onlyListedSenders: c.onlyListedSenders, journal: c.journal },
      getAdapter(c.adapter, c.adapterOptions),
      context,
    ),
  mqtt: (c, context) =>
    new MqttInput(
      {
        name: c.name,
        url: c.url,
        clientId: c.clientId ?? `skyhaul-${context.siteId}-${c.name}`,
        ...(c.username === undefined ? {} : { username: c.username }),
        ...(c.password === undefined ? {} : { password: c.password }),
        ...(c.tls === undefined ? {} : { tls: c.tls }),
        keepaliveSeconds: c.keepalive,
        reconnectMs: parseDuration(c.reconnect),
        subscriptions: c.subscriptions.map((s) => ({ topic: s.topic, instrument: s.instrument, adapter: getAdapter(s.adapter, s.adapterOptions) })),
      },
      context,
    ),
};

export function createInput(config: InputConfig, context: Context): Input {
  return (registry[config.type] as (config: InputConfig, context: Context) => Input)(config, context);
}

export type { Input, InputContext, InputStatus, RecordSink } from './input.ts';
