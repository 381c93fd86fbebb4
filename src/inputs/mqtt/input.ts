/**
 * MQTT input (mqtt.js) against the site broker: QoS 1 subscriptions on a persistent session
 * (clean: false, a stable client id), topic -> instrument mapping with wildcards, TLS and
 * credentials.
 *
 * Invariant 1: the PUBACK for a message is sent only after its records are durably committed.
 * A crash before the commit leaves the message unacknowledged, and the broker redelivers it to
 * the same session when the daemon is back. The MQTT boundary is at-least-once: a crash between
 * commit and PUBACK means the message is committed twice (two sequences); nothing is lost.
 *
 * mqtt.js handles incoming publishes one at a time and sends the PUBACK from the same callback
 * that lets it read the next packet (and its `customHandleAcks` hook works only with MQTT 5),
 * so holding that callback until the commit would allow one message per group commit. Instead
 * the PUBACK itself is held: `_sendPacket` is wrapped to send a PUBACK only when the commit of
 * that message id (started from the 'message' event, which comes first) has resolved. Messages
 * are then committed in group commits of many, and the broker's in-flight window (Mosquitto
 * `max_inflight_messages`) bounds what waits. That hook reaches into mqtt.js's internals, so the
 * package is pinned to an exact version and `test/inputs/mqtt-puback.test.ts` fails if a PUBACK
 * ever leaves before its commit.
 *
 * Retained messages: when the broker loses the session (a restart without persistence, a session
 * expiry), it re-sends each topic's retained message, retain flag set, as the input subscribes
 * again. Such a message is not a new reading when it is the one already committed. The input
 * keeps, per topic, the SHA-256 of the last message it committed, as a source mark committed in
 * the same transaction as the message's records (the buffer's "Source marks"), and skips a
 * retained delivery whose payload matches it. (MQTT 3.1.1 does not say whether a live message was
 * published retained, so the last message per topic is what is compared.)
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { FirmwareAdapter, Quarantine } from '../../../firmware-adapters/index.ts';
import { FramePipeline, type DecodeReport } from '../decoding.ts';
import type { Input, InputContext, InputStatus } from '../input.ts';
import { InputStatusTracker } from '../input.ts';

export interface MqttSubscription {
  /** MQTT filter, e.g. `site/weather/+/raw` or `dome/#`. */
  topic: string;
  /** Instrument (stream prefix); `{1}`, `{2}`… take the 1st, 2nd… wildcard match. */
  instrument: string;
  adapter: FirmwareAdapter;
}

export interface MqttInputConfig {
  name: string;
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; allowInsecure?: boolean };
  keepaliveSeconds: number;
  reconnectMs: number;
  subscriptions: MqttSubscription[];
}

/** Matches an MQTT topic against a filter; returns the wildcard matches, or null. */
export function matchTopic(filter: string, topic: string): string[] | null {
  const f = filter.split('/');
  const t = topic.split('/');
  const captures: string[] = [];
  for (let i = 0; i < f.length; i++) {
    const part = f[i]!;
    if (part === '#') {
      captures.push(t.slice(i).join('/'));
      return captures;
    }
    if (i >= t.length) return null;
    if (part === '+') captures.push(t[i]!);
    else if (part !== t[i]) return null;
  }
  return f.length === t.length ? captures : null;
}

export class MqttInput implements Input {
  readonly type = 'mqtt';
  readonly name: string;
  private readonly tracker: InputStatusTracker;
  private client: MqttClient | null = null;
  private readonly pipelines = new Map<string, FramePipeline>();
  private unmatched = 0;
  private withheld = 0;
  private retainedDuplicates = 0;
  /** Commit outcome per in-flight message id: true = durable (PUBACK may go), false = withhold. */
  private readonly commits = new Map<number, Promise<boolean>>();

  constructor(
    private readonly config: MqttInputConfig,
    private readonly context: InputContext & { quarantine: Quarantine; report: DecodeReport },
  ) {
    this.name = config.name;
    this.tracker = new InputStatusTracker(config.name, this.type);
  }

  private pipelineFor(topic: string): FramePipeline | null {
    for (const subscription of this.config.subscriptions) {
      const captures = matchTopic(subscription.topic, topic);
      if (captures === null) continue;
      const instrument = subscription.instrument.replace(/\{(\d+)\}/g, (_m, n: string) => captures[Number(n) - 1] ?? '');
      let pipeline = this.pipelines.get(instrument);
      if (pipeline === undefined) {
        pipeline = new FramePipeline(instrument, subscription.adapter, this.context.sink, this.context.quarantine, this.context.report, {
          clockTrusted: this.context.clockTrusted,
        });
        this.pipelines.set(instrument, pipeline);
      }
      return pipeline;
    }
    return null;
  }

  async start(): Promise<void> {
    if (this.client !== null) return;
    this.tracker.setState('starting');
    const tls = this.config.tls;
    const options: IClientOptions = {
      clientId: this.config.clientId,
      clean: false,
      keepalive: this.config.keepaliveSeconds,
      reconnectPeriod: this.config.reconnectMs,
      connectTimeout: 10_000,
      resubscribe: true,
      ...(this.config.username === undefined ? {} : { username: this.config.username }),
      ...(this.config.password === undefined ? {} : { password: this.config.password }),
      ...(tls?.caFile === undefined ? {} : { ca: readFileSync(tls.caFile) }),
      ...(tls?.certFile === undefined ? {} : { cert: readFileSync(tls.certFile) }),
      ...(tls?.keyFile === undefined ? {} : { key: readFileSync(tls.keyFile) }),
      ...(tls === undefined ? {} : { rejectUnauthorized: tls.allowInsecure !== true }),
    };
    // Loaded on first use, to keep start-up fast where no MQTT input is configured.
    const { connect } = await import('mqtt');
    const client = connect(this.config.url, options);
    this.holdPubacks(client);
    this.client = client;
    // 'message' is emitted before mqtt.js sends the PUBACK, so the commit is registered in time.
    client.on('message', (topic, message, packet) => this.onMessage(topic, message, packet.messageId, packet.retain));
    client.on('connect', (connack) => {
      this.tracker.setState('running');
      this.context.logger.info({ url: this.config.url, sessionPresent: connack.sessionPresent }, 'mqtt connected');
      if (!connack.sessionPresent) {
        client.subscribe(
          this.config.subscriptions.map((s) => s.topic),
          { qos: 1 },
          (error) => error && this.context.logger.error({ err: error.message }, 'mqtt subscribe failed'),
        );
      }
    });
    client.on('reconnect', () => this.tracker.setState('reconnecting'));
    client.on('offline', () => this.tracker.setState('reconnecting', 'broker unreachable'));
    client.on('error', (error) => {
      this.tracker.setState('reconnecting', error.message);
      this.context.logger.warn({ err: error.message }, 'mqtt error');
    });
  }

  /** The source-mark namespace of this input: its marks are keyed by topic. */
  private get source(): string {
    return `mqtt:${this.name}`;
  }

  private onMessage(topic: string, message: Buffer, messageId: number | undefined, retain: boolean): void {
    this.tracker.received();
    const pipeline = this.pipelineFor(topic);
    if (pipeline === null) {
      this.unmatched += 1;
      this.context.report.dropped('unmatched_topic');
      return;
    }
    const fingerprint = createHash('sha256').update(message).digest('base64url');
    if (retain && this.context.sink.sourceMarks(this.source).get(topic) === fingerprint) {
      // The broker re-sent a retained message already committed: acknowledged, not a new reading.
      this.retainedDuplicates += 1;
      return;
    }
    const mark = { source: this.source, key: topic, fingerprint };
    const commit = pipeline.frame(Buffer.from(message), Date.now(), mark).then((outcome) => {
      if (outcome.kind === 'failed') {
        this.withheld += 1;
        this.tracker.rejected();
        return false;
      }
      if (outcome.kind === 'committed') this.tracker.committed(outcome.records);
      // Bad frames are acknowledged too: they are quarantined, and a redelivery would only repeat them.
      else if (outcome.kind === 'bad') this.tracker.rejected();
      return true;
    });
    if (messageId !== undefined) this.commits.set(messageId, commit);
  }

  private holdPubacks(client: MqttClient): void {
    type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (error?: Error) => void, ...rest: unknown[]) => void;
    const internal = client as unknown as { _sendPacket: SendPacket };
    const send = internal._sendPacket.bind(client);
    internal._sendPacket = (packet, cb, ...rest) => {
      const commit = packet.cmd === 'puback' && packet.messageId !== undefined ? this.commits.get(packet.messageId) : undefined;
      if (commit === undefined) return send(packet, cb, ...rest);
      this.commits.delete(packet.messageId!);
      cb?.();
      void commit.then((durable) => {
        if (durable) send(packet, undefined, ...rest);
        // Not durable: no PUBACK. Reconnecting makes the broker redeliver what is unacknowledged.
        else if (this.client === client) client.end(true, {}, () => this.client === client && client.reconnect());
      });
    };
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client !== null) await client.endAsync();
    this.tracker.setState('stopped');
  }

  status(): InputStatus & { unmatched: number; withheldAcks: number; retainedDuplicates: number } {
    return { ...this.tracker.snapshot(), unmatched: this.unmatched, withheldAcks: this.withheld, retainedDuplicates: this.retainedDuplicates };
  }
}
