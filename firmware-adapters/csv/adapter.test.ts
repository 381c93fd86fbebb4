import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SkyhaulError } from '../../src/common/errors.ts';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming, sampleConfig } from '../testing.ts';
import { splitCsvLine } from './adapter.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const log = readFileSync(join(dir, 'fixtures/logger.csv'));
const options = sampleConfig(dir).adapterOptions as Record<string, unknown>;
const adapter = getAdapter('csv', options);
const lines = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

describe('csv', () => {
  it('header skipped, typed cells with units, time column to sourceTime, NA to null, quoted cell with the delimiter', () => {
    const results = lines(log).map((f) => decodeChecked(adapter, f));
    expect(results[0]).toMatchObject({ ok: true, readings: [], skipped: { code: 'ADAPTER_CONTROL' } });
    expect(results[1]).toEqual({
      ok: true,
      readings: [
        {
          stream: 'met',
          fields: { air_temperature: 4.31, relative_humidity: 81.2, pressure: 742.05, rain: 0, heater_on: false, status: 'ok' },
          units: { air_temperature: 'Cel', relative_humidity: '%', pressure: 'hPa', rain: 'mm' },
          sourceTime: Date.parse('2024-01-15T11:58:00Z'),
        },
      ],
    });
    expect(results[3]!.ok && results[3]!.readings[0]!.fields).toMatchObject({ relative_humidity: null, heater_on: true, status: 'humidity sensor, no reply' });
  });

  it('splits quoted cells with doubled quotes; an unclosed quote is undefined', () => {
    expect(splitCsvLine('a, "b ""x"", c" ,d', ',', '"')).toEqual(['a', 'b "x", c', 'd']);
    expect(splitCsvLine('a;b;;', ';', '"')).toEqual(['a', 'b', '', '']);
    expect(splitCsvLine('a,"b', ',', '"')).toBeUndefined();
  });

  it('tab-separated, no header, integer and epoch time', () => {
    const tsv = getAdapter('csv', { delimiter: '\t', columns: [{ name: 't', type: 'integer' }, { name: 'count', type: 'integer', unit: '1/min' }], timeColumn: 't', timeFormat: 'epoch_s' });
    expect(decodeChecked(tsv, '1705320000\t17')).toEqual({ ok: true, readings: [{ stream: 'data', fields: { count: 17 }, units: { count: '1/min' }, sourceTime: 1705320000000 }] });
    expectError(tsv, '1705320000\t17.5', 'ADAPTER_PARSE');
  });

  it('bad lines: too few cells (truncated), too many, wrong types, unclosed quote, bad time, garbage', () => {
    expectError(adapter, '2024-01-15T11:58:00Z,4.31,81.2', 'ADAPTER_TRUNCATED');
    expectError(adapter, '2024-01-15T11:58:00Z,4.31,81.2,742.05,0.0,false,ok,extra', 'ADAPTER_PARSE');
    expectError(adapter, '2024-01-15T11:58:00Z,warm,81.2,742.05,0.0,false,ok', 'ADAPTER_PARSE');
    expectError(adapter, '2024-01-15T11:58:00Z,4.31,81.2,742.05,0.0,maybe,ok', 'ADAPTER_PARSE');
    expectError(adapter, '2024-01-15T11:58:00Z,4.31,81.2,742.05,0.0,false,"ok', 'ADAPTER_TRUNCATED');
    expectError(adapter, '15/01/2024 11:58,4.31,81.2,742.05,0.0,false,ok', 'ADAPTER_PARSE');
    expectError(adapter, '\x00\x01\x02', 'ADAPTER_PARSE');
    expect(decodeChecked(adapter, '# logger restarted')).toMatchObject({ ok: true, skipped: { code: 'ADAPTER_CONTROL' } });
  });

  it('a byte that is not UTF-8 in a string cell keeps the line: that cell gets U+FFFD and the reading is flagged; elsewhere it is a bad value', () => {
    const line = (status: Buffer): Buffer => Buffer.concat([Buffer.from('2024-01-15T11:58:00Z,4.31,81.2,742.05,0.0,false,'), status]);
    const r = decodeChecked(adapter, line(Buffer.from('ok\x9b', 'latin1')));
    expect(r.ok && r.readings[0]).toMatchObject({ fields: { air_temperature: 4.31, heater_on: false, status: 'ok\ufffd' }, flags: ['TEXT_VALUE_INVALID_UTF8'], sourceTime: Date.UTC(2024, 0, 15, 11, 58) });
    // Valid UTF-8 is text like any other, and no flag.
    const utf8 = decodeChecked(adapter, line(Buffer.from('Tür offen ✓', 'utf8')));
    expect(utf8.ok && utf8.readings[0]).toMatchObject({ fields: { status: 'Tür offen ✓' } });
    expect(utf8.ok && utf8.readings[0]!.flags).toBeUndefined();
    // In a number it is a malformed number, as before.
    expectError(adapter, Buffer.from('2024-01-15T11:58:00Z,4.3\xff,81.2,742.05,0.0,false,ok', 'latin1'), 'ADAPTER_PARSE');
  });

  it('options are checked when the adapter is made (missing columns, duplicate names, unknown time column)', () => {
    expect(() => getAdapter('csv')).toThrow(SkyhaulError);
    expect(() => getAdapter('csv', { columns: [{ name: 'a', type: 'number' }, { name: 'a', type: 'string' }] })).toThrow(/declared twice/);
    expect(() => getAdapter('csv', { columns: [{ name: 'a', type: 'number' }], timeColumn: 'b' })).toThrow(/not a column/);
    expect(() => getAdapter('csv', { columns: [{ name: 'a', type: 'string', unit: 'Cel' }] })).toThrow(/has a unit/);
  });

  it('fuzzing: decode never throws; framing', () => {
    fuzzDecoder(adapter, lines(log));
    fuzzFraming(adapter.framing, log);
  });

  it('folder: schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'csv');
    checkReadmeExample(dir);
  });
});
