/**
 * The UDP journal (src/inputs/udp/journal.ts): datagrams already read survive `kill -9`.
 */
import { createSocket } from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RecordBuffer } from '../../src/buffer/index.ts';
import { UdpJournal } from '../../src/inputs/udp/journal.ts';
import { goodFrame, seededRandom } from '../../src/simulate/frames.ts';
import { freePort, startDaemon, type DaemonHandle } from '../support/daemon.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skyhaul-udpj-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One datagram through the burst API: its end offset, or null. */
function appendOne(j: UdpJournal, datagram: Buffer, address: string, port: number, receivedAt: number): number | null {
  return j.appendMany([{ datagram, address, port, receivedAt }])[0] ?? null;
}

describe('UDP journal', () => {
  it('replays what follows the settled position, stops at a torn tail, retires settled segments', () => {
    const dir = tempDir();
    const j = new UdpJournal(dir, 'wind');
    expect(j.open(0)).toEqual([]);
    const ends = [1, 2, 3].map((i) => appendOne(j, Buffer.from(`frame ${i}`), '10.0.0.7', 5000 + i, 1000 + i) as number);
    expect(ends[0]).toBeGreaterThan(0);
    j.close(ends[0] as number); // one settled, two not: the segment stays
    // A write torn by a power cut: half an entry at the end.
    const [segment] = fs.readdirSync(dir);
    fs.appendFileSync(path.join(dir, segment as string), Buffer.from([40, 0, 0, 0, 1, 2]));
    const again = new UdpJournal(dir, 'wind');
    const replay = again.open(ends[0] as number);
    expect(replay.map((e) => [e.datagram.toString(), e.address, e.port, e.receivedAt, e.end])).toEqual([
      ['frame 2', '10.0.0.7', 5002, 1002, ends[1]],
      ['frame 3', '10.0.0.7', 5003, 1003, ends[2]],
    ]);
    // Offsets go on after the readable end, never over the torn bytes.
    const next = appendOne(again, Buffer.from('frame 4'), '10.0.0.7', 5004, 1004) as number;
    expect(next).toBeGreaterThan(ends[2] as number);
    expect(new UdpJournal(dir, 'other').open(0)).toEqual([]);
    again.close(next);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('wind.'))).toEqual([]);
  });

  it('an empty datagram (a Buffer without backing store, as dgram delivers it) does not end the replay', () => {
    const dir = tempDir();
    const j = new UdpJournal(dir, 'wind');
    j.open(0);
    const ends = j.appendMany(
      [Buffer.from('before'), Buffer.allocUnsafe(0), Buffer.from('after')].map((datagram, i) => ({ datagram, address: '10.0.0.9', port: 9000 + i, receivedAt: 3000 + i })),
    );
    j.close(0);
    const replay = new UdpJournal(dir, 'wind').open(0);
    expect(replay.map((e) => [e.datagram.toString(), e.port, e.end])).toEqual([
      ['before', 9000, ends[0]],
      ['', 9001, ends[1]],
      ['after', 9002, ends[2]],
    ]);
  });

  it('journals a burst with one write per segment, across a segment boundary, and replays it whole in order', () => {
    const dir = tempDir();
    const j = new UdpJournal(dir, 'wind');
    j.open(0);
    const writes = vi.spyOn(fs, 'writevSync');
    cleanups.push(() => writes.mockRestore());
    // 300 datagrams of 60 KB: 18 MB, past the 16 MiB segment.
    const burst = Array.from({ length: 300 }, (_, i) => ({ datagram: Buffer.alloc(60_000, i % 251), address: `10.0.0.${i % 7}`, port: 6000 + i, receivedAt: 2000 + i }));
    const ends = j.appendMany(burst);
    expect(ends.every((e) => typeof e === 'number')).toBe(true);
    expect(ends).toEqual([...(ends as number[])].sort((a, b) => a - b));
    expect(writes).toHaveBeenCalledTimes(2); // one per segment, not one per datagram
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('wind.')).length).toBe(2);
    j.close(0);
    const replay = new UdpJournal(dir, 'wind').open(0);
    expect(replay.map((e) => [e.address, e.port, e.receivedAt, e.end, e.datagram[0], e.datagram.length])).toEqual(
      burst.map((b, i) => [b.address, b.port, b.receivedAt, ends[i], i % 251, 60_000]),
    );
  });

  it('past maxBytes of unsettled journal, datagrams are counted as not journaled, and journaled again once settled', () => {
    const dir = tempDir();
    const j = new UdpJournal(dir, 'wind', 1000);
    j.open(0);
    const datagram = (i: number): { datagram: Buffer; address: string; port: number; receivedAt: number } => ({ datagram: Buffer.alloc(200, i), address: '10.0.0.1', port: 7000, receivedAt: i });
    const ends = j.appendMany([0, 1, 2, 3, 4, 5].map(datagram));
    const journaled = ends.filter((e): e is number => e !== null);
    expect(journaled.length).toBe(4); // 4 × 227 bytes fit in 1000
    expect(ends.slice(4)).toEqual([null, null]);
    expect(j.journalOverflow).toBe(2);
    // Nothing settled yet: still full. Once settled and retired, a new segment takes more.
    expect(j.appendMany([datagram(6)])).toEqual([null]);
    j.close(journaled[3] as number);
    const again = new UdpJournal(dir, 'wind', 1000);
    expect(again.open(journaled[3] as number)).toEqual([]);
    expect(again.appendMany([datagram(7)])[0]).toBeGreaterThan(journaled[3] as number);
  });

  it('datagrams read before a kill -9 are committed after the restart, exactly once', async () => {
    const dir = tempDir();
    const port = await freePort();
    const input = { type: 'udp', name: 'wind', bind: '127.0.0.1', port, adapter: 'gill-windsonic' };
    // The first daemon reads every datagram but cannot commit any: its disk watchdog says the disk
    // is full, so appends wait in memory. That is the window a kill -9 used to lose.
    let daemon: DaemonHandle = await startDaemon({
      dir,
      config: { site: { id: 'udpj' }, inputs: [input], buffer: { disk: { minFree: '1000TiB', resumeFree: '1000TiB', checkInterval: '1s' } } },
      wait: false, // never "ready": it does not accept records
    });
    const first = daemon;
    cleanups.push(async () => void (await first.kill('SIGKILL')));
    const inputStatus = async (): Promise<{ state: string; received: number } | null> => {
      const res = await fetch(`${daemon.url}/api/v1/status`).catch(() => null);
      if (res === null) return null; // still starting
      const status = (await res.json()) as { inputs: Array<{ name: string; state: string; received: number }> };
      return status.inputs.find((i) => i.name === 'wind') ?? null;
    };
    for (const deadline = Date.now() + 20_000; (await inputStatus())?.state !== 'running' && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    const client = createSocket('udp4');
    cleanups.push(() => void client.close());
    const rnd = seededRandom(13);
    const sent = 300;
    for (let i = 0; i < sent; i++) {
      const frame = goodFrame('gill-windsonic', i, rnd).bytes;
      await new Promise<void>((resolve, reject) => client.send(frame, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    }
    let got = 0;
    for (const deadline = Date.now() + 20_000; got < sent && Date.now() < deadline; ) {
      got = (await inputStatus())?.received ?? 0;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toBe(sent);
    await daemon.kill('SIGKILL');
    // The restart accepts again and replays the journal.
    daemon = await startDaemon({ dir, config: { site: { id: 'udpj' }, inputs: [input] } });
    const second = daemon;
    cleanups.push(async () => void (await second.kill('SIGKILL')));
    let records = 0;
    for (const deadline = Date.now() + 20_000; records < sent && Date.now() < deadline; ) {
      const status = (await (await fetch(`${daemon.url}/api/v1/status`)).json()) as { backlog: { records: number } };
      records = status.backlog.records;
      await new Promise((r) => setTimeout(r, 50));
    }
    await daemon.kill('SIGTERM');
    const buffer = new RecordBuffer({ path: path.join(dir, 'data', 'buffer.sqlite'), siteId: 'udpj', readOnly: true, disk: null });
    buffer.open();
    cleanups.push(() => buffer.close());
    const wind = buffer.streams().filter((s) => s.stream.startsWith('wind'));
    expect(wind.reduce((n, s) => n + s.records, 0)).toBe(sent);
    for (const s of wind) expect(s.nextSequence - 1).toBe(s.records); // no sequence given twice, none skipped
  }, 90_000);
});
