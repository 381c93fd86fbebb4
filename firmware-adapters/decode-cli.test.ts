import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DECODE_USAGE, decodeCommand, decodeStream } from './decode-cli.ts';

const here = dirname(fileURLToPath(import.meta.url));
const capture = readFileSync(join(here, 'nmea0183/fixtures/bu353s4-excerpt.log'));

const rollover = readFileSync(join(here, 'nmea0183/fixtures/field-reports/nmea-week-rollover.txt'));

// The capture is from 2014: replayed as received then (a trusted receipt time, as --received-at gives).
async function run(adapter: string, input: Buffer | NodeJS.ReadableStream, adapterOptions?: unknown) {
  const lines: string[] = [];
  const stats = await decodeStream(adapter, input, (l) => lines.push(l), { adapterOptions, receivedAt: Date.UTC(2014, 11, 31, 3, 10) });
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

  it('the host clock (no fixed receipt time) is trusted only above the floor: a 1970 clock flags every reading', async () => {
    const lines: string[] = [];
    const input = Buffer.from(
      '$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D\r\n$GNZDA,235959.50,28,02,2024,-03,30*5D\r\n$GPZDA,030719.00,31,12,2014,00,00*6C\r\n',
    );
    await decodeStream('nmea0183', input, (l) => lines.push(l), { now: () => 0 });
    const [gga, zda2024, zda2014] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // GGA's date would come from that clock: no source time rather than 1970.
    expect(gga).toMatchObject({ stream: 'gga', flags: ['RECEIPT_TIME_UNSYNCHRONISED'] });
    expect(gga).not.toHaveProperty('source_time');
    // A receiver date above the floor is the better clock: kept, not "corrected" toward 1970.
    expect(zda2024).toMatchObject({ source_time: Date.UTC(2024, 1, 28, 23, 59, 59, 500), flags: ['RECEIPT_TIME_UNSYNCHRONISED'] });
    expect(zda2024).not.toHaveProperty('device_time');
    // With no trusted reference, a date below the floor cannot be vouched for either.
    expect(zda2014).toMatchObject({ device_time: Date.UTC(2014, 11, 31, 3, 7, 19), flags: ['RECEIPT_TIME_UNSYNCHRONISED', 'SOURCE_TIME_IMPLAUSIBLE'] });
    expect(zda2014).not.toHaveProperty('source_time');
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

  it('strict parsing: a misspelt option exits 2 naming it, and nothing is decoded', async () => {
    const t = io(Buffer.from('$GPZDA,030719.00,31,12,2014,00,00*6C\r\n'));
    expect(await decodeCommand(['--adaptr', 'nmea0183'], t.io)).toBe(2);
    expect(t.err[0]).toContain("'--adaptr'");
    expect(t.err).toContain(DECODE_USAGE);
    expect(t.out).toEqual([]);
    for (const argv of [
      ['--adapter', 'nmea0183', 'stray-positional'],
      ['--adapter', 'nmea0183', '--file'],
      ['--adapter', 'nmea0183', '--received-at'],
      ['--adapter', 'nmea0183', '-x'],
      ['--adapter', 'nmea0183', '--received-at', '2020-05-30 12:00'],
      ['--adapter', 'nmea0183', '--received-at', 'yesterday'],
    ]) {
      const u = io();
      expect(await decodeCommand(argv, u.io), argv.join(' ')).toBe(2);
      expect(u.err.join('\n'), argv.join(' ')).toMatch(/skyhaul decode: /);
    }
  });

  it('--received-at replays a capture as if received then: the GPS week rollover fixture is corrected and flagged', async () => {
    const t = io(rollover);
    expect(await decodeCommand(['--adapter', 'nmea0183', '--received-at', '2020-05-30T12:00:00Z'], t.io)).toBe(0);
    const [rmc, zda] = t.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const reading of [rmc, zda]) {
      expect(reading).toMatchObject({
        source_time: Date.UTC(2020, 4, 30, 9, 30),
        device_time: Date.UTC(2000, 9, 14, 9, 30),
        flags: ['GPS_WEEK_ROLLOVER_CORRECTED'],
        fields: { date: '2020-05-30', time_utc: '09:30:00.00' },
      });
    }
    expect(rmc).toMatchObject({ stream: 'rmc', fields: { latitude: 49.27416667, longitude: -123.18533333, valid: true } });
    expect(zda).toMatchObject({ stream: 'zda' });
    // --opt=value form too.
    const u = io();
    expect(await decodeCommand(['--adapter=nmea0183', `--file=${join(here, 'nmea0183/fixtures/field-reports/nmea-week-rollover.txt')}`, '--received-at=2020-05-30T12:00:00+02:00'], u.io)).toBe(0);
    expect(JSON.parse(u.out[0]!)).toMatchObject({ source_time: Date.UTC(2020, 4, 30, 9, 30) });
  });

  it('without --received-at (host clock, years after the capture) the rolled-over date is not passed on silently', async () => {
    const t = io(rollover);
    expect(await decodeCommand(['--adapter', 'nmea0183'], t.io)).toBe(0);
    for (const line of t.out) {
      const reading = JSON.parse(line) as Record<string, unknown>;
      expect(reading).not.toHaveProperty('source_time');
      expect(reading).toMatchObject({ device_time: Date.UTC(2000, 9, 14, 9, 30), flags: ['SOURCE_TIME_IMPLAUSIBLE'] });
    }
  });
});
