import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { getAdapter } from '../../firmware-adapters/index.ts';
import { UdpInput } from '../../src/inputs/udp/input.ts';
import { inputContext, nmea, recordsOf, until } from './helpers.ts';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

describe('UDP input', () => {
  it('commits good datagrams, maps senders to instruments, counts oversize and bad ones, sets the receive buffer', async () => {
    const { buffer, context, quarantine, errors, drops } = inputContext();
    const input = new UdpInput(
      { name: 'lightning', bind: '127.0.0.1', port: 0, maxDatagramBytes: 200, receiveBufferBytes: 4 * 1024 * 1024, senders: {}, onlyListedSenders: false },
      getAdapter('boltek-ld250'),
      context,
    );
    await input.start();
    stops.push(() => input.stop(), () => buffer.close());
    const client = createSocket('udp4');
    stops.push(async () => void client.close());
    const send = (data: string | Buffer): Promise<void> =>
      new Promise((resolve, reject) => client.send(data, input.port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));

    for (let i = 0; i < 50; i++) await send(nmea(`WIMLI,${10 + i},${12 + i},${(i * 7) % 360}.0`));
    await send(nmea('WIMST,0,0,0,0,000.0'));
    await send('$WIMLI,11,12,45.0*00\r\n'); // bad checksum
    await send(Buffer.alloc(500, 0x41)); // oversize

    await until(() => input.status().committed >= 51 && errors.length >= 1 && input.status().drops.oversize >= 1, 5000, 'datagrams');
    const status = input.status();
    expect(drops.get('oversize')).toBe(1); // reported to the daemon (skyhaul_input_dropped_total)
    expect(status.drops.oversize).toBe(1);
    expect(status.receiveBufferBytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(status.drops.kernelSocket).toBe(0);
    expect(errors).toEqual([{ instrument: 'lightning', adapter: 'boltek-ld250', code: 'ADAPTER_CHECKSUM' }]);
    expect(quarantine.counts()['boltek-ld250']).toMatchObject({ ADAPTER_CHECKSUM: 1, UDP_OVERSIZE: 1 });
    const streams = buffer.streams().map((s) => `${s.stream}:${s.records}`).sort();
    expect(streams.length).toBe(2);
    const strikes = buffer.streams().find((s) => s.records === 50)!;
    expect(strikes.stream.startsWith('lightning/')).toBe(true);
    expect(recordsOf(buffer, strikes.stream)).toHaveLength(50);
  });

  it('counts what the kernel dropped when the socket buffer overflowed, so sent = committed + dropped', async () => {
    const { buffer, context, drops: reported } = inputContext();
    const input = new UdpInput(
      { name: 'burst', bind: '127.0.0.1', port: 0, maxDatagramBytes: 200, receiveBufferBytes: 4096, senders: {}, onlyListedSenders: false },
      getAdapter('boltek-ld250'),
      context,
    );
    await input.start();
    stops.push(() => input.stop(), () => buffer.close());
    // The sender runs while this process is blocked in execFileSync: nobody reads the socket, the
    // small buffer overflows and the kernel drops the rest (what a daemon stall does at a site).
    const sentence = nmea('WIMLI,10,12,45.0');
    const script = `const s = require('node:dgram').createSocket('udp4'); let n = 0;
      const next = () => { if (n === 2000) return s.close(); n++; s.send(${JSON.stringify(sentence)}, ${input.port}, '127.0.0.1', next); }; next();`;
    execFileSync(process.execPath, ['-e', script]);
    await until(() => input.status().drops.kernelSocket > 0, 5000, 'kernel drops counted');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { committed, drops } = input.status();
    console.log(`UDP burst of 2000 into a ${input.status().receiveBufferBytes}-byte buffer: ${committed} committed, ${drops.kernelSocket} dropped by the kernel`);
    expect(drops.kernelSocket).toBeGreaterThan(1000);
    expect(committed + drops.kernelSocket).toBe(2000);
    expect(drops.kernelHostRcvbufErrors).toBeGreaterThanOrEqual(drops.kernelSocket);
    await until(() => reported.get('kernel_socket_buffer') === drops.kernelSocket, 3000, 'kernel drops reported to the daemon');
  });

  it('keeps one line framer per sender: partial lines from two senders never complete each other; unknown senders are counted', async () => {
    const { buffer, context, errors, drops } = inputContext();
    const input = new UdpInput(
      { name: 'strikes', bind: '127.0.0.1', port: 0, maxDatagramBytes: 200, receiveBufferBytes: 1024 * 1024, senders: {}, onlyListedSenders: false },
      getAdapter('boltek-ld250'),
      context,
    );
    await input.start();
    stops.push(() => input.stop(), () => buffer.close());
    const a = createSocket('udp4');
    const b = createSocket('udp4');
    stops.push(async () => void a.close(), async () => void b.close());
    const send = (socket: typeof a, data: string): Promise<void> =>
      new Promise((resolve, reject) => socket.send(data, input.port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
    const one = nmea('WIMLI,10,12,45.0');
    const two = nmea('WIMLI,20,22,90.0');
    // Each sender sends its sentence in two datagrams, interleaved with the other's.
    await send(a, one.slice(0, 12));
    await send(b, two.slice(0, 9));
    await send(a, one.slice(12));
    await send(b, two.slice(9));
    await until(() => input.status().committed >= 2, 5000, 'both sentences');
    expect(errors).toEqual([]);
    const stream = buffer.streams().find((s) => s.records > 0)!;
    expect(recordsOf(buffer, stream.stream).map((r) => r.fields.bearing).sort()).toEqual([45, 90]);

    const listed = new UdpInput(
      { name: 'listed', bind: '127.0.0.1', port: 0, maxDatagramBytes: 200, receiveBufferBytes: 65536, senders: { '127.0.0.2': 'mast' }, onlyListedSenders: true },
      getAdapter('boltek-ld250'),
      context,
    );
    await listed.start();
    stops.push(() => listed.stop());
    await new Promise<void>((resolve, reject) => a.send(one, listed.port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
    await until(() => drops.get('unknown_sender') === 1, 3000, 'the unknown sender counted');
    expect(listed.status().drops.unknownSender).toBe(1);
  });
});
