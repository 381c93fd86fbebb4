import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.ts';
import { SkyhaulError } from '../src/errors.ts';
import type { FirmwareAdapter } from './adapter.ts';
import { adapterNames, adapters, getAdapter, safeDecode, schemaRef, toIncomingRecord, validateAdapterOptions } from './index.ts';

const here = dirname(fileURLToPath(import.meta.url));
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
    const nan = safeDecode(rogue(() => ({ ok: true, readings: [{ stream: 'gga', fields: { a: Number.NaN, b: 1 }, units: {} }] })), Buffer.from('x'), { receivedAt: 0 });
    expect(nan).toEqual({ ok: true, readings: [{ stream: 'gga', fields: { a: null, b: 1 }, units: {} }] });
  });

  it('passes a real decode through', () => {
    const frame = Buffer.from('$GPZDA,030719.00,31,12,2014,00,00*6C');
    expect(safeDecode(base, frame, { receivedAt: 0 })).toEqual(base.decode(frame, { receivedAt: 0 }));
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
});
