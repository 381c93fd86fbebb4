import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decodeCommand, decodeStream } from './decode-cli.ts';

const here = dirname(fileURLToPath(import.meta.url));
const capture = readFileSync(join(here, 'nmea0183/fixtures/bu353s4-excerpt.log'));

async function run(adapter: string, input: Buffer | NodeJS.ReadableStream, adapterOptions?: unknown) {
  const lines: string[] = [];
  const stats = await decodeStream(adapter, input, (l) => lines.push(l), { adapterOptions, now: () => Date.UTC(2014, 11, 31, 3, 10) });
  return { stats, objects: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('decodeStream (skyhaul decode)', () => {
  it('prints one JSON object per reading; skipped sentences print nothing', async () => {
    const { stats, objects } = await run('nmea0183', capture);
    expect(stats).toEqual({ frames: 30, readings: 16, errors: 0, skipped: 14 });
    expect(objects[0]).toEqual({
      adapter: 'nmea0183',
      stream: 'gga',
      fields: expect.objectContaining({ latitude: -37.78478833, altitude: 59.9 }),
      units: expect.objectContaining({ altitude: 'm' }),
      source_time: Date.UTC(2014, 11, 31, 3, 7, 19),
    });
  });

  it('prints bad frames with their code and raw hex, framing errors included', async () => {
    const input = Buffer.concat([Buffer.from('$GPZDA,030719.00,31,12,2014,00,00*6D\n'), Buffer.from(`${'x'.repeat(300)}\n`)]);
    const { stats, objects } = await run('nmea0183', input);
    expect(stats).toMatchObject({ frames: 1, errors: 2 });
    expect(objects[0]).toEqual({
      adapter: 'nmea0183',
      error: { code: 'ADAPTER_CHECKSUM', message: expect.stringContaining('6D') },
      raw_hex: Buffer.from('$GPZDA,030719.00,31,12,2014,00,00*6D').toString('hex'),
    });
    expect(objects[1]).toMatchObject({ adapter: 'nmea0183', error: { code: 'FRAMING_OVERLONG' } });
  });

  it('reads a stream in arbitrary chunks, binary adapters too', async () => {
    const session = readFileSync(join(here, 'davis-vantage/fixtures/loop-session.bin'));
    const chunks = Array.from({ length: Math.ceil(session.length / 7) }, (_, i) => session.subarray(i * 7, i * 7 + 7));
    const { stats, objects } = await run('davis-vantage', Readable.from(chunks));
    expect(stats).toEqual({ frames: 2, readings: 2, errors: 0, skipped: 0 });
    expect(objects.map((o) => o.stream)).toEqual(['loop', 'loop']);
  });

  it('takes adapter options', async () => {
    const { objects } = await run('csv', Buffer.from('1,2\n'), { columns: [{ name: 'a', type: 'integer' }, { name: 'b', type: 'number', unit: 'Cel' }] });
    expect(objects).toEqual([{ adapter: 'csv', stream: 'data', fields: { a: 1, b: 2 }, units: { b: 'Cel' } }]);
  });

  it('an unknown adapter is a configuration error', async () => {
    await expect(run('no-such', Buffer.alloc(0))).rejects.toMatchObject({ code: 'SKY_ERR_CONFIG' });
  });
});

describe('decodeCommand (argv handling)', () => {
  const io = (stdin: Buffer = Buffer.alloc(0)) => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { stdin: Readable.from([stdin]), stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) } };
  };

  it('--file, exit 0 when every frame decoded', async () => {
    const t = io();
    expect(await decodeCommand(['--adapter', 'nmea0183', '--file', join(here, 'nmea0183/fixtures/bu353s4-excerpt.log')], t.io)).toBe(0);
    expect(t.out).toHaveLength(16);
    expect(t.err.at(-1)).toBe('30 frame(s), 16 reading(s), 14 skipped, 0 error(s)');
  });

  it('stdin, --opt=value form, --options JSON; exit 1 when a frame was bad', async () => {
    const t = io(Buffer.from('$WIMLI,42,47,137.5*51\r\n$WIMLI,42,47,137.5*50\r\n'));
    expect(await decodeCommand(['--adapter=boltek-ld250', '--options', '{"distanceUnit":"kilometres"}'], t.io)).toBe(1);
    expect(JSON.parse(t.out[0]!)).toMatchObject({ stream: 'strike', fields: { corrected_distance: 42 } });
    expect(JSON.parse(t.out[1]!)).toMatchObject({ error: { code: 'ADAPTER_CHECKSUM' } });
  });

  it('usage errors exit 2', async () => {
    for (const argv of [[], ['--adapter'], ['--bogus'], ['--adapter', 'x', '--options', '{not json']]) {
      const t = io();
      expect(await decodeCommand(argv, t.io)).toBe(2);
      expect(t.err.length).toBeGreaterThan(0);
    }
    const t = io();
    expect(await decodeCommand(['--adapter', 'nmea0183', '--file', '/nonexistent/file'], t.io)).toBe(2);
    expect(await decodeCommand(['--adapter', 'no-such'], io().io)).toBe(2);
  });
});
