/**
 * Field report scenario 4: a broker that loses the session (here a real Mosquitto restarted
 * without persistence) re-sends each topic's retained message, retain flag set, when the input
 * subscribes again. A retained re-send of a message already committed is not a new reading.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { getAdapter } from '../../firmware-adapters/index.ts';
import { MqttInput } from '../../src/inputs/mqtt/input.ts';
import { freePort } from '../support/daemon.ts';
import { inputContext, recordsOf, startMosquitto, until } from './helpers.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const TOPIC = 'site/mast1/wxt';
const STATE_A = '0R2,Ta=11.2C,Ua=40.0P,Pa=744.1H';
const STATE_B = '0R2,Ta=12.9C,Ua=38.5P,Pa=744.0H';

describe('MQTT retained messages after a session loss', () => {
  it('a retained re-send of a committed message is skipped (also by a restarted input); a new retained value commits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-retained-'));
    dirs.push(dir);
    const port = await freePort();
    let broker = await startMosquitto({ dir, port, persistence: false });
    const { buffer, context } = inputContext();
    const makeInput = (): MqttInput =>
      new MqttInput(
        {
          name: 'site-broker',
          url: broker.url,
          clientId: 'skyhaul-retained-test',
          keepaliveSeconds: 30,
          // Long enough that the instrument republishes its retained state first.
          reconnectMs: 2500,
          subscriptions: [{ topic: 'site/+/wxt', instrument: 'weather/{1}', adapter: getAdapter('vaisala-wxt') }],
        },
        context,
      );
    // The instrument publishes its state retained, and again whenever it (re)connects.
    let state = STATE_A;
    const instrument: MqttClient = await connectAsync(broker.url, { clientId: 'wxt-mast1', reconnectPeriod: 100 });
    instrument.on('connect', () => void instrument.publishAsync(TOPIC, state, { qos: 1, retain: true }).catch(() => {}));
    instrument.on('error', () => {});
    await instrument.publishAsync(TOPIC, state, { qos: 1, retain: true });

    let input = makeInput();
    try {
      await input.start();
      const stream = 'weather/mast1/ptu';
      const committed = (): number => recordsOf(buffer, stream).length;
      await until(() => committed() === 1, 10_000, 'the retained state to commit');

      // The broker restarts without persistence: sessions and retained messages are gone; the
      // instrument reconnects first and republishes; the input resubscribes and gets it retained.
      await broker.stop();
      broker = await startMosquitto({ dir, port, persistence: false });
      await until(() => input.status().state === 'running', 15_000, 'the input to reconnect');
      await until(() => input.status().retainedDuplicates === 1, 10_000, 'the retained re-send to arrive');
      expect(committed()).toBe(1);

      // A new retained value is a new reading.
      state = STATE_B;
      await instrument.publishAsync(TOPIC, state, { qos: 1, retain: true });
      await until(() => committed() === 2, 10_000, 'the new state to commit');

      // The marks live in the buffer: a restarted input (new session again) skips the re-send too.
      await input.stop();
      await broker.stop();
      broker = await startMosquitto({ dir, port, persistence: false });
      await until(() => instrument.connected, 10_000, 'the instrument to reconnect');
      await new Promise((resolve) => setTimeout(resolve, 300)); // its retained state is published
      input = makeInput();
      await input.start();
      await until(() => input.status().retainedDuplicates === 1, 10_000, 'the restarted input to see the retained state');
      expect(committed()).toBe(2);
      expect(recordsOf(buffer, stream).map((r) => r.fields.air_temperature)).toEqual([11.2, 12.9]);
    } finally {
      await input.stop();
      await instrument.endAsync(true);
      await broker.stop();
      await buffer.close();
    }
  }, 60_000);
});
