import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming, sampleConfig } from '../testing.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const log = readFileSync(join(dir, 'fixtures/controller.jsonl'));
const adapter = getAdapter('json-lines', sampleConfig(dir).adapterOptions);
const plain = getAdapter('json-lines');
const lines = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

describe('json-lines', () => {
  it('stream from a field, time from a field, nested objects flattened, arrays as JSON text, units where configured', () => {
    const [first, second, third] = lines(log).map((f) => decodeChecked(adapter, f));
    expect(first).toEqual({
      ok: true,
      readings: [
        {
          stream: 'dome',
          fields: { 'dome.azimuth': 123.4, 'dome.shutter': 'open', 'dome.moving': false, temp: 4.25, alarms: '["wind"]' },
          units: { temp: 'Cel', 'dome.azimuth': 'deg' },
          sourceTime: Date.parse('2024-01-15T11:59:58.250Z'),
        },
      ],
    });
    expect(second!.ok && second!.readings[0]!.stream).toBe('mount');
    expect(third!.ok && third!.readings[0]!.fields['dome.azimuth']).toBeNull();
  });

  it('without options: stream "data", everything a field', () => {
    const r = decodeChecked(plain, '{"a":1,"b":"x","c":{"d":true}}');
    expect(r).toEqual({ ok: true, readings: [{ stream: 'data', fields: { a: 1, b: 'x', 'c.d': true }, units: {}, sourceTime: null }] });
  });

  it('epoch time formats', () => {
    const s = getAdapter('json-lines', { timeField: 't', timeFormat: 'epoch_s' });
    expect(decodeChecked(s, '{"t":1705320000,"v":1}')).toMatchObject({ ok: true, readings: [{ sourceTime: 1705320000000 }] });
    const ms = getAdapter('json-lines', { timeField: 't', timeFormat: 'epoch_ms' });
    expect(decodeChecked(ms, '{"t":1705320000123,"v":1}')).toMatchObject({ ok: true, readings: [{ sourceTime: 1705320000123 }] });
    expectError(ms, '{"t":"yesterday","v":1}', 'ADAPTER_PARSE');
  });

  it('bad lines', () => {
    expectError(adapter, '{"ts":"2024-01-15T11:59:58.250Z","device":"dome","te', 'ADAPTER_TRUNCATED');
    expectError(adapter, 'not json', 'ADAPTER_PARSE');
    expectError(adapter, '[1,2,3]', 'ADAPTER_PARSE');
    expectError(adapter, '{"device":"telescope","temp":1}', 'ADAPTER_PARSE'); // not among the configured streams
    expectError(adapter, '{"device":"../../etc","temp":1}', 'ADAPTER_PARSE');
    expectError(adapter, '{"device":"dome","temp":"warm"}', 'ADAPTER_PARSE'); // a unit, but not a number
    expectError(adapter, '{"device":"dome","ts":"15/01/2024"}', 'ADAPTER_PARSE');
    expectError(adapter, '{"a":{"b":{"c":{"d":{"e":1}}}}}', 'ADAPTER_PARSE'); // deeper than maxDepth
    expectError(adapter, '{"__proto__":{"x":1}}', 'ADAPTER_PARSE');
    expectError(adapter, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'ADAPTER_PARSE');
    const many = `{${Array.from({ length: 300 }, (_, i) => `"f${i}":${i}`).join(',')}}`;
    expectError(adapter, many, 'ADAPTER_PARSE');
  });

  it('a byte that is not UTF-8 inside a string value keeps the line: that value gets U+FFFD and the reading is flagged', () => {
    const line = Buffer.concat([Buffer.from('{"device":"dome","temp":4.5,"note":"shutter '), Buffer.from([0xc3, 0x28]), Buffer.from('ok"}')]);
    const r = decodeChecked(adapter, line);
    expect(r.ok && r.readings[0]).toMatchObject({ stream: 'dome', fields: { temp: 4.5, note: 'shutter \ufffd(ok' }, flags: ['TEXT_VALUE_INVALID_UTF8'] });
    // In a key it would invent a field name: rejected. Outside a string the JSON is broken, as before.
    expectError(adapter, Buffer.concat([Buffer.from('{"device":"dome","te'), Buffer.from([0xff]), Buffer.from('mp":1}')]), 'ADAPTER_PARSE');
    // Valid UTF-8, no flag.
    const ok = decodeChecked(adapter, Buffer.from('{"device":"dome","note":"Kuppel geöffnet ☾"}', 'utf8'));
    expect(ok.ok && ok.readings[0]!.fields.note).toBe('Kuppel geöffnet ☾');
    expect(ok.ok && ok.readings[0]!.flags).toBeUndefined();
  });

  it('fuzzing: decode never throws; framing', () => {
    fuzzDecoder(adapter, lines(log));
    fuzzDecoder(plain, lines(log), { numRuns: 100 });
    fuzzFraming(adapter.framing, log);
  });

  it('folder: schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'json-lines');
    checkReadmeExample(dir);
  });
});
