import { open } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getAdapter } from '../../firmware-adapters/index.ts';
import { SerialInput, type SerialInputConfig } from '../../src/inputs/serial/input.ts';
import { boltwoodReport, davisLoop, seededRandom } from '../../src/simulate/frames.ts';
import { PolledSerialInstrument } from '../../src/simulate/transports.ts';
import { createSerialPair, type SerialPair } from '../support/serial-pair.ts';
import { inputContext, nmea, recordsOf, until } from './helpers.ts';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function writeLines(pair: SerialPair, lines: string[]): Promise<void> {
  const handle = await open(pair.instrumentPath, 'r+');
  try {
    for (const line of lines) await handle.write(line);
  } finally {
    await handle.close();
  }
}

describe('serial input', () => {
  it('reads NMEA over a socat serial pair, survives the device vanishing and returning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-tty-'));
    let pair = await createSerialPair({ dir });
    const { buffer, context, errors } = inputContext();
    const input = new SerialInput(
      { name: 'gps', path: pair.devicePath, baudRate: 4800, dataBits: 8, parity: 'none', stopBits: 1, flowControl: 'none', backoff: { initialMs: 100, maxMs: 400 } },
      getAdapter('nmea0183'),
      context,
    );
    await input.start();
    stops.push(() => input.stop(), () => buffer.close());
    await until(() => input.status().state === 'running', 5000, 'serial open');

    const zda = (s: number): string => nmea(`GPZDA,2015${String(s).padStart(2, '0')}.00,04,07,2025,00,00`);
    await writeLines(pair, [zda(1), zda(2), '$GPZDA,201503.00,04,07,2025,00,00*00\r\n', zda(4)]);
    await until(() => input.status().committed >= 3 && errors.length >= 1, 5000, 'three readings and one bad checksum');
    expect(errors[0]).toMatchObject({ instrument: 'gps', code: 'ADAPTER_CHECKSUM' });

    // The USB adapter is unplugged: both ends vanish.
    await pair.close();
    await until(() => input.status().state === 'reconnecting', 5000, 'reconnecting after the device vanished');
    // ...and plugged back in at the same path.
    pair = await createSerialPair({ dir });
    stops.push(() => pair.close());
    await until(() => input.status().state === 'running', 10_000, 'reopened');
    await writeLines(pair, [zda(5), zda(6)]);
    await until(() => input.status().committed >= 5, 5000, 'readings after the device returned');
    expect(input.status().connects).toBe(2);
    const stream = buffer.streams().find((s) => s.stream.startsWith('gps/'))!;
    expect(stream.records).toBe(5);
  }, 40_000);

  const line = (name: string, path: string): SerialInputConfig => ({
    name,
    path,
    baudRate: 19200,
    dataBits: 8,
    parity: 'none',
    stopBits: 1,
    flowControl: 'none',
    backoff: { initialMs: 100, maxMs: 400 },
  });

  it('polls a Davis console over socat: wake-up, LOOP 1, ACK; a NAK and a lost wake-up are answered by resends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-davis-'));
    const rnd = seededRandom(7);
    const heard: string[] = [];
    let wakes = 0;
    let loops = 0;
    const console_ = await PolledSerialInstrument.open(join(dir, 'device'), join(dir, 'console'), { wake: Buffer.from('\n'), loop: Buffer.from('LOOP 1\n') }, (request) => {
      heard.push(request);
      if (request === 'wake') return ++wakes === 1 ? null : Buffer.from('\n\r'); // asleep the first time
      loops += 1;
      if (loops === 2) return Buffer.from([0x21]); // NAK: the console did not take the command
      return Buffer.concat([Buffer.from([0x06]), davisLoop(rnd).bytes]);
    });
    const { buffer, context, errors } = inputContext();
    const input = new SerialInput(line('vantage', console_.devicePath), getAdapter('davis-vantage', { intervalMs: 2000 }), context);
    await input.start();
    stops.push(() => input.stop(), () => buffer.close(), () => console_.close());
    await until(() => input.status().committed >= 3, 15_000, 'three LOOP packets committed');
    const polling = input.status().polling!;
    expect(polling.naks).toBe(1);
    expect(polling.timeouts).toBe(0);
    // The first wake-up went unanswered and was repeated; once awake, the console is not woken again.
    expect(heard.slice(0, 3)).toEqual(['wake', 'wake', 'loop']);
    expect(heard.filter((h) => h === 'wake')).toHaveLength(2);
    // The NAKed command was resent at once, not left to the next cycle.
    expect(heard.slice(3, 5)).toEqual(['loop', 'loop']);
    expect(errors).toEqual([]);
    const loop = recordsOf(buffer, 'vantage/loop');
    expect(loop.length).toBeGreaterThanOrEqual(3);
    expect(loop[0]!.fields.barometer).toBeGreaterThan(1000);
  }, 30_000);

  it('polls a Boltwood head: the host ACKs each report only after its commit, and NAKs a corrupted one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-boltwood-'));
    const rnd = seededRandom(11);
    const replies = { ack: 0, nak: 0 };
    let polls = 0;
    const head = await PolledSerialInstrument.open(
      join(dir, 'device'),
      join(dir, 'head'),
      { poll: Buffer.from([0x01]), ack: Buffer.from('\x02a\n', 'latin1'), nak: Buffer.from('\x02n\n', 'latin1') },
      (request) => {
        if (request !== 'poll') {
          replies[request as 'ack' | 'nak'] += 1;
          return null;
        }
        const frame = Buffer.from(boltwoodReport(rnd).bytes);
        if (++polls === 2) frame[frame.length - 2]! ^= 0x01; // one CRC digit off
        return frame;
      },
    );
    const { buffer, context, errors } = inputContext();
    const input = new SerialInput(line('cloud', head.devicePath), getAdapter('boltwood-cloud', { intervalMs: 1000 }), context);
    await input.start();
    stops.push(() => input.stop(), () => buffer.close(), () => head.close());
    await until(() => replies.ack >= 3 && replies.nak >= 1, 15_000, 'three ACKs and a NAK');
    expect(replies.nak).toBe(1);
    expect(errors).toEqual([{ instrument: 'cloud', adapter: 'boltwood-cloud', code: 'ADAPTER_CHECKSUM' }]);
    // Each ACK the head heard stands for a committed record.
    expect(recordsOf(buffer, 'cloud/report').length).toBeGreaterThanOrEqual(replies.ack);
  }, 30_000);
});
