/**
 * Invariant 1 at the MQTT boundary, watched on the wire: the input holds each PUBACK until its
 * message's records are committed, by wrapping a private method of mqtt.js (pinned to an exact
 * version in package.json for that reason). A broker built from mqtt-packet (mqtt.js's own codec)
 * records when each PUBACK arrives; the sink decides when commits complete. If an mqtt.js upgrade
 * changes how it sends PUBACKs, the wrapper stops holding them and this test fails.
 */
import { createServer, type Server, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { getAdapter, Quarantine } from '../../firmware-adapters/index.ts';
import type { Committed } from '../../src/buffer/index.ts';
import { SkyhaulError } from '../../src/common/errors.ts';
import { MqttInput } from '../../src/inputs/mqtt/input.ts';
import type { RecordSink } from '../../src/inputs/input.ts';
import { until } from './helpers.ts';

interface Broker {
  url: string;
  pubacks: number[];
  connects: number;
  publish(messageId: number, payload: string): void;
  close(): Promise<void>;
}

/** Accepts one client at a time: CONNACK, SUBACK, and PUBLISH at QoS 1 on demand. */
async function startBroker(): Promise<Broker> {
  let client: Socket | null = null;
  const broker: Broker = {
    url: '',
    pubacks: [],
    connects: 0,
    publish(messageId, payload) {
      client?.write(mqttPacket.generate({ cmd: 'publish', topic: 'site/mast1/wxt', payload: Buffer.from(payload), qos: 1, messageId, retain: false, dup: false }));
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((socket) => {
    client = socket;
    socket.on('error', () => {});
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect') {
        broker.connects += 1;
        socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
      } else if (packet.cmd === 'subscribe') {
        socket.write(mqttPacket.generate({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 1) }));
      } else if (packet.cmd === 'puback') {
        broker.pubacks.push(packet.messageId ?? -1);
      } else if (packet.cmd === 'pingreq') {
        socket.write(mqttPacket.generate({ cmd: 'pingresp' }));
      }
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  broker.url = `mqtt://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  return broker;
}

/** A sink whose commits complete only when the test says so. */
function heldSink(): RecordSink & { pending: Array<{ resolve: () => void; reject: (e: Error) => void }> } {
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let sequence = 0;
  const appendBatch = (records: Array<{ stream: string }>): Promise<Committed[]> =>
    new Promise((resolve, reject) => {
      pending.push({
        resolve: () => resolve(records.map((r) => ({ stream: r.stream, sequence: ++sequence, ingestTime: Date.now() }))),
        reject,
      });
    });
  return {
    pending,
    append: (record) => appendBatch([record]).then((c) => c[0]!),
    appendBatch,
    sourceMarks: () => new Map(),
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('MQTT PUBACK after commit (mqtt.js internals, pinned)', () => {
  it('no PUBACK leaves before its commit; a refused commit gets none and the input reconnects for a redelivery', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const sink = heldSink();
    const input = new MqttInput(
      {
        name: 'wire',
        url: broker.url,
        clientId: 'skyhaul-puback-test',
        keepaliveSeconds: 30,
        reconnectMs: 200,
        subscriptions: [{ topic: 'site/+/wxt', instrument: 'weather/{1}', adapter: getAdapter('vaisala-wxt') }],
      },
      {
        sink,
        logger: pino({ level: 'silent' }),
        siteId: 'test',
        quarantine: new Quarantine({ capacity: 10 }),
        report: { decodeError: () => {}, readingFlag: () => {}, dropped: () => {} },
        clockTrusted: () => true,
      },
    );
    cleanups.push(() => input.stop());
    await input.start();
    await until(() => broker.connects === 1 && input.status().state === 'running', 5000, 'the input to connect');

    broker.publish(1, '0R2,Ta=11.2C,Ua=40.0P,Pa=744.1H');
    broker.publish(2, '0R2,Ta=11.3C,Ua=40.0P,Pa=744.1H');
    await until(() => sink.pending.length === 2, 5000, 'both messages to reach the sink');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(broker.pubacks).toEqual([]); // held while the commits are pending

    sink.pending[1]!.resolve();
    await until(() => broker.pubacks.length === 1, 5000, 'the second PUBACK');
    expect(broker.pubacks).toEqual([2]);

    sink.pending[0]!.reject(new SkyhaulError('SKY_ERR_DISK_LOW', 'disk full'));
    // Not committed: no PUBACK; the input reconnects so that the broker redelivers.
    await until(() => broker.connects === 2, 5000, 'the reconnect after a refused commit');
    expect(broker.pubacks).toEqual([2]);
  });
});
