import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.ts';
import { SkyhaulError } from '../src/common/errors.ts';
import AjvModule from 'ajv';
import type { DecodeMeta, FirmwareAdapter } from './adapter.ts';
import { READING_FLAGS, RECEIPT_TIME_FLOOR_MS, adapterNames, adapters, getAdapter, safeDecode, schemaRef, toIncomingRecord, validateAdapterOptions } from './index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const Ajv = AjvModule.default;
/** A receipt time a synchronised host clock could show. */
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const EXPECTED = ['boltek-ld250', 'boltwood-cloud', 'csv', 'davis-vantage', 'gill-windsonic', 'json-lines', 'nmea0183', 'nut-upsd', 'unihedron-sqm', 'vaisala-wxt'];

describe('registry', () => {
  it('lists every adapter, each from its own folder with the same files', () => {
    expect(adapterNames()).toEqual(EXPECTED);
    const folders = readdirSync(here, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.') && d.name !== 'node_modules');
    expect(folders.map((d) => d.name).sort()).toEqual(EXPECTED);
    for (const name of EXPECTED) {
      for (const file of ['adapter.ts', 'adapter.test.ts', 'sample.yaml', 'README.md']) expect(existsSync(join(here, name, file)), `${name}/${file}`).toBe(true);
      expect(readdirSync(join(here, name, 'fixtures')).length, `${name}/fixtures`).toBeGreaterThan(0);
      expect(adapters[name]!.name).toBe(name);
    }
  });

  it("every sample.yaml is a valid inputs section of the daemon's configuration", () => {
    for (const name of EXPECTED) {
      const text = `site:\n  id: sample-check\n${readFileSync(join(here, name, 'sample.yaml'), 'utf8')}`;
      expect(() => parseConfig(text, `${name}/sample.yaml`, {}), name).not.toThrow();
    }
  });

  it('registered.ts has exactly one line per adapter', () => {
    const lines = readFileSync(join(here, 'registered.ts'), 'utf8').split('\n').filter((l) => l.startsWith('export '));
    expect(lines).toHaveLength(EXPECTED.length);
  });

  it('every adapter is made with default options except csv, which needs columns', () => {
    for (const name of EXPECTED) {
      if (name === 'csv') continue;
      const adapter = getAdapter(name);
      expect(adapter.name).toBe(name);
      expect(Object.keys(adapter.schemas).length).toBeGreaterThan(0);
    }
    expect(validateAdapterOptions('csv', {})).toMatchObject({ ok: false });
  });

  it('options: every error at once, unknown adapter, defaults filled without touching the caller’s object', () => {
    const result = validateAdapterOptions('nmea0183', { maxLength: 10, requireChecksum: 'yes', extra: 1 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.length).toBe(3);
    expect(validateAdapterOptions('no-such')).toMatchObject({ ok: false, errors: [expect.stringContaining("unknown adapter 'no-such'")] });
    const mine = {};
    expect(validateAdapterOptions('nmea0183', mine)).toEqual({ ok: true, options: { maxLength: 256, requireChecksum: true } });
    expect(mine).toEqual({});
    expect(() => getAdapter('no-such')).toThrow(SkyhaulError);
    try {
      getAdapter('nmea0183', { maxLength: 'long' });
    } catch (error) {
      expect((error as SkyhaulError).code).toBe('SKY_ERR_CONFIG');
    }
  });
});

describe('safeDecode', () => {
  const base = getAdapter('nmea0183');
  const rogue = (decode: FirmwareAdapter['decode']): FirmwareAdapter => ({ ...base, name: 'rogue', decode });

  it('turns a thrown error into ADAPTER_INTERNAL', () => {
    const result = safeDecode(rogue(() => { throw new TypeError('boom'); }), Buffer.from('x'), { receivedAt: 0 });
    expect(result).toEqual({ ok: false, error: { code: 'ADAPTER_INTERNAL', message: 'rogue decoder threw: boom' } });
    const odd = safeDecode(rogue(() => { throw 'a string'; }), Buffer.from('x'), { receivedAt: 0 });
    expect(odd).toMatchObject({ ok: false, error: { code: 'ADAPTER_INTERNAL' } });
  });

  it('rejects a result that is not a DecodeResult, and nulls non-finite numbers', () => {
    expect(safeDecode(rogue(() => undefined as never), Buffer.from('x'), { receivedAt: 0 })).toMatchObject({ ok: false, error: { code: 'ADAPTER_INTERNAL' } });
    expect(safeDecode(rogue(() => ({ ok: true }) as never), Buffer.from('x'), { receivedAt: 0 })).toMatchObject({ ok: false, error: { code: 'ADAPTER_INTERNAL' } });
    const nan = safeDecode(rogue(() => ({ ok: true, readings: [{ stream: 'gga', fields: { a: Number.NaN, b: 1 }, units: {}, sourceTime: Number.NaN }] })), Buffer.from('x'), { receivedAt: NOW });
    expect(nan).toEqual({ ok: true, readings: [{ stream: 'gga', fields: { a: null, b: 1 }, units: {}, sourceTime: null }] });
    const flagged = safeDecode(rogue(() => ({ ok: true, readings: [{ stream: 'gga', fields: {}, units: {}, flags: ['NOT_A_FLAG'] }] }) as never), Buffer.from('x'), { receivedAt: NOW });
    expect(flagged).toMatchObject({ ok: false, error: { code: 'ADAPTER_INTERNAL', message: expect.stringContaining('NOT_A_FLAG') } });
  });

  it('passes a real decode through', () => {
    const frame = Buffer.from('$GPZDA,030719.00,31,12,2024,00,00*6F');
    const received = Date.UTC(2024, 11, 31, 3, 7, 20);
    expect(safeDecode(base, frame, { receivedAt: received })).toEqual(base.decode(frame, { receivedAt: received }));
  });
});

describe('safeDecode: source time against receipt time (every adapter)', () => {
  const base = getAdapter('nmea0183');
  const at = (sourceTime: number | null): FirmwareAdapter => ({ ...base, name: 'timed', decode: () => ({ ok: true, readings: [{ stream: 'zda', fields: {}, units: {}, sourceTime }] }) });
  const reading = (sourceTime: number | null, meta: DecodeMeta) => {
    const result = safeDecode(at(sourceTime), Buffer.from('x'), meta);
    if (!result.ok) throw new Error(result.error.message);
    return result.readings[0]!;
  };
  const DAY = 86_400_000;

  it('a source time within a year before / a day after a trusted receipt time passes unflagged', () => {
    for (const t of [NOW, NOW - 300 * DAY, NOW + 20 * 3_600_000, null]) expect(reading(t, { receivedAt: NOW })).toEqual({ stream: 'zda', fields: {}, units: {}, sourceTime: t });
  });

  it('decades (or days in the future) away from a trusted receipt time: dropped to null, device value kept, flagged', () => {
    for (const t of [Date.UTC(2000, 0, 1), 0, NOW - 400 * DAY, NOW + 2 * DAY, Date.UTC(2107, 1, 7)]) {
      expect(reading(t, { receivedAt: NOW })).toEqual({ stream: 'zda', fields: {}, units: {}, sourceTime: null, deviceTime: t, flags: ['SOURCE_TIME_IMPLAUSIBLE'] });
    }
  });

  it('an untrusted receipt time is flagged on every reading and never used as a reference', () => {
    // A board without RTC at 1970: a good receiver date is kept (it is the better clock).
    expect(reading(NOW, { receivedAt: 0 })).toEqual({ stream: 'zda', fields: {}, units: {}, sourceTime: NOW, flags: ['RECEIPT_TIME_UNSYNCHRONISED'] });
    expect(reading(null, { receivedAt: 0 })).toMatchObject({ flags: ['RECEIPT_TIME_UNSYNCHRONISED'] });
    // Said to be unsynchronised, even if it looks recent; RTC garbage past the ceiling.
    expect(reading(NOW, { receivedAt: NOW, receivedAtTrusted: false }).flags).toEqual(['RECEIPT_TIME_UNSYNCHRONISED']);
    expect(reading(NOW, { receivedAt: Date.UTC(2106, 1, 7) }).flags).toEqual(['RECEIPT_TIME_UNSYNCHRONISED']);
    // Without a reference only the floor can judge a source time.
    expect(reading(Date.UTC(2000, 9, 14), { receivedAt: 0 })).toMatchObject({ sourceTime: null, deviceTime: Date.UTC(2000, 9, 14), flags: ['RECEIPT_TIME_UNSYNCHRONISED', 'SOURCE_TIME_IMPLAUSIBLE'] });
  });

  it('a receipt time below the floor is trusted when the caller vouches for it (a replay)', () => {
    const replay = { receivedAt: Date.UTC(2014, 11, 31), receivedAtTrusted: true };
    expect(reading(Date.UTC(2014, 11, 30), replay)).toEqual({ stream: 'zda', fields: {}, units: {}, sourceTime: Date.UTC(2014, 11, 30) });
    expect(RECEIPT_TIME_FLOOR_MS).toBe(Date.UTC(2019, 3, 7));
  });
});

describe('READING_FLAGS', () => {
  it('is exported from the index with every documented code, each documented in adapter.ts', () => {
    expect([...READING_FLAGS]).toEqual(['GPS_WEEK_ROLLOVER_CORRECTED', 'SOURCE_TIME_IMPLAUSIBLE', 'RECEIPT_TIME_UNSYNCHRONISED', 'TEXT_VALUE_INVALID_UTF8', 'LEADING_BYTES_DISCARDED']);
    const source = readFileSync(join(here, 'adapter.ts'), 'utf8');
    for (const flag of READING_FLAGS) expect(source, flag).toContain(`- \`${flag}\``);
  });
});

describe('toIncomingRecord', () => {
  it('prefixes the instrument, carries the schema reference, source and ingest time, and a JSON payload', () => {
    const adapter = getAdapter('nmea0183');
    const result = adapter.decode(Buffer.from('$GPZDA,030719.00,31,12,2014,00,00*6C'), { receivedAt: 1_700_000_000_000 });
    if (!result.ok) throw new Error(result.error.message);
    const record = toIncomingRecord('gps', adapter, result.readings[0]!, { receivedAt: 1_700_000_000_000 });
    expect(record).toEqual({
      stream: 'gps/zda',
      payload: Buffer.from(JSON.stringify({ fields: result.readings[0]!.fields, units: {} })),
      contentType: 'application/json',
      schemaRef: 'skyhaul.adapter.nmea0183/v1',
      sourceTime: Date.UTC(2014, 11, 31, 3, 7, 19),
      ingestTime: 1_700_000_000_000,
    });
    expect(schemaRef(adapter)).toBe('skyhaul.adapter.nmea0183/v1');
  });

  it('carries flags and device_time in the payload only when the reading has them, and every stream schema accepts them', () => {
    const adapter = getAdapter('nmea0183');
    const plain = { stream: 'zda', fields: { talker: 'GP' }, units: {}, sourceTime: null };
    expect(toIncomingRecord('gps', adapter, plain, { receivedAt: NOW }).payload.toString()).toBe('{"fields":{"talker":"GP"},"units":{}}');
    expect(toIncomingRecord('gps', adapter, { ...plain, flags: [] }, { receivedAt: NOW }).payload.toString()).toBe('{"fields":{"talker":"GP"},"units":{}}');
    const flagged = { ...plain, flags: ['GPS_WEEK_ROLLOVER_CORRECTED' as const], deviceTime: 971515800000, sourceTime: 1590831000000 };
    const record = toIncomingRecord('gps', adapter, flagged, { receivedAt: NOW });
    expect(record.payload.toString()).toBe('{"fields":{"talker":"GP"},"units":{},"flags":["GPS_WEEK_ROLLOVER_CORRECTED"],"device_time":971515800000}');
    expect(record.sourceTime).toBe(1590831000000);
    const ajv = new Ajv({ strict: false, allowUnionTypes: true });
    for (const name of adapterNames()) {
      const a = name === 'csv' ? getAdapter('csv', { columns: [{ name: 'x', type: 'number' }] }) : getAdapter(name);
      for (const schema of Object.values(a.schemas)) {
        const validate = ajv.compile(schema);
        expect(validate({ fields: {}, units: {}, flags: ['TEXT_VALUE_INVALID_UTF8'], device_time: 1 }), `${name}`).toBe(true);
        expect(validate({ fields: {}, units: {}, flags: ['NO_SUCH_FLAG'] }), `${name}`).toBe(false);
        expect(validate({ fields: {}, units: {}, flags: [] }), `${name}`).toBe(false);
      }
    }
  });
});
