import { open } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getAdapter } from '../../firmware-adapters/index.ts';
import { SerialInput } from '../../src/inputs/serial/input.ts';
import { createSerialPair, type SerialPair } from '../support/serial-pair.ts';
import { inputContext, nmea, until } from './helpers.ts';

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
});
