import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getAdapter } from '../index.ts';
import { checkReadmeExample, checkSampleConfig, checkSchemas, decodeChecked, expectError, frameAll, fuzzDecoder, fuzzFraming } from '../testing.ts';

const dir = dirname(fileURLToPath(import.meta.url));
const session = readFileSync(join(dir, 'fixtures/upsd-session.txt'));
const adapter = getAdapter('nut-upsd');
const frames = (data: Buffer): Buffer[] => frameAll(adapter.framing, [data]).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));

describe('nut-upsd', () => {
  it('the block framing hands whole LIST VAR replies (and single ERR lines) to decode', () => {
    const f = frames(session);
    expect(f).toHaveLength(3);
    expect(f[1]!.toString()).toBe('ERR DATA-STALE');
    const results = f.map((x) => decodeChecked(adapter, x));
    expect(results[1]).toEqual({ ok: false, error: { code: 'ADAPTER_DEVICE_ERROR', message: 'upsd: DATA-STALE' } });
    expect(results[2]).toEqual({
      ok: true,
      readings: [
        {
          stream: 'vars',
          fields: {
            ups: 'ups',
            'battery.charge': 64,
            'battery.runtime': 1190,
            'battery.voltage': 25.1,
            'input.voltage': 0,
            'ups.load': 18,
            'ups.status': 'OB DISCHRG',
            on_line: false,
            on_battery: true,
            low_battery: false,
            charging: false,
            discharging: true,
            replace_battery: false,
            overload: false,
            bypass: false,
            forced_shutdown: false,
          },
          units: { 'battery.charge': '%', 'battery.runtime': 's', 'battery.voltage': 'V', 'input.voltage': 'V', 'ups.load': '%' },
        },
      ],
    });
  });

  it('polls LIST VAR <ups>', () => {
    expect(getAdapter('nut-upsd', { ups: 'dome-ups', intervalMs: 5000 }).polling).toMatchObject({
      intervalMs: 5000,
      requests: [{ send: Buffer.from('LIST VAR dome-ups\n'), replyFrames: 1 }],
    });
  });

  it('unknown variables: kept as strings by default, dropped on request; non-numeric values of numeric variables are null', () => {
    const block = 'BEGIN LIST VAR ups\nVAR ups ups.vendorid "051d"\nVAR ups battery.charge "n/a"\nVAR ups ups.mfr "A \\"quoted\\" name"\nEND LIST VAR ups';
    const r = decodeChecked(adapter, block);
    expect(r.ok && r.readings[0]!.fields).toMatchObject({ 'ups.vendorid': '051d', 'battery.charge': null, 'ups.mfr': 'A "quoted" name', on_line: null });
    const strict = getAdapter('nut-upsd', { keepUnknown: false });
    const s = decodeChecked(strict, block);
    expect(s.ok && 'ups.vendorid' in s.readings[0]!.fields).toBe(false);
  });

  it('field report nut-non-utf8-text-value.hex: one bad byte in device.serial keeps the reading; that value is escaped and the reading flagged', () => {
    const hex = readFileSync(join(dir, 'fixtures/field-reports/nut-non-utf8-text-value.hex'), 'latin1');
    const reply = frames(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
    expect(reply).toHaveLength(1);
    expect(decodeChecked(adapter, reply[0]!)).toEqual({
      ok: true,
      readings: [
        {
          stream: 'vars',
          fields: {
            ups: 'ups',
            'battery.charge': 98,
            'battery.runtime': 2834,
            'device.serial': 'UM1321\ufffd',
            'ups.status': 'OB DISCHRG',
            on_line: false,
            on_battery: true,
            low_battery: false,
            charging: false,
            discharging: true,
            replace_battery: false,
            overload: false,
            bypass: false,
            forced_shutdown: false,
          },
          units: { 'battery.charge': '%', 'battery.runtime': 's' },
          flags: ['TEXT_VALUE_INVALID_UTF8'],
        },
      ],
    });
  });

  it('UTF-8 in values is kept as text; a bad byte in a numeric value nulls only that value; a dropped variable raises no flag', () => {
    const block = (line: string): Buffer => Buffer.concat([Buffer.from('BEGIN LIST VAR ups\nVAR ups ups.load "18"\n'), Buffer.from(line, 'latin1'), Buffer.from('\nEND LIST VAR ups')]);
    const utf8 = decodeChecked(adapter, Buffer.concat([Buffer.from('BEGIN LIST VAR ups\nVAR ups ups.mfr "Eaton Électrique ⚡"\nEND LIST VAR ups')]));
    expect(utf8.ok && utf8.readings[0]).toMatchObject({ fields: { 'ups.mfr': 'Eaton Électrique ⚡' } });
    expect(utf8.ok && utf8.readings[0]!.flags).toBeUndefined();
    const numeric = decodeChecked(adapter, block('VAR ups battery.charge "9\xff"'));
    expect(numeric.ok && numeric.readings[0]).toMatchObject({ fields: { 'battery.charge': null, 'ups.load': 18 }, flags: ['TEXT_VALUE_INVALID_UTF8'] });
    const strict = getAdapter('nut-upsd', { keepUnknown: false });
    const dropped = decodeChecked(strict, block('VAR ups ups.vendorid "05\xc3"'));
    expect(dropped.ok && dropped.readings[0]!.flags).toBeUndefined();
    expect(dropped.ok && dropped.readings[0]!.fields).toMatchObject({ 'ups.load': 18 });
    // Control bytes are still a broken frame, not a text value.
    expectError(adapter, block('VAR ups ups.mfr "A\x01B"'), 'ADAPTER_PARSE');
  });

  it('truncated blocks, malformed lines, garbage, control replies', () => {
    expectError(adapter, 'BEGIN LIST VAR ups\nVAR ups battery.charge "100"', 'ADAPTER_TRUNCATED');
    expectError(adapter, 'BEGIN LIST VAR ups', 'ADAPTER_TRUNCATED');
    expectError(adapter, 'BEGIN LIST VAR ups\nVAR ups battery.charge 100\nEND LIST VAR ups', 'ADAPTER_PARSE');
    expectError(adapter, 'BEGIN LIST VAR ups\nVAR other battery.charge "1"\nEND LIST VAR ups', 'ADAPTER_PARSE');
    expectError(adapter, 'BEGIN LIST VAR ups\nEND LIST VAR other', 'ADAPTER_PARSE');
    expectError(adapter, '\x00\x01garbage', 'ADAPTER_PARSE');
    expectError(adapter, 'ERR UNKNOWN-UPS', 'ADAPTER_DEVICE_ERROR');
    expect(decodeChecked(adapter, 'OK')).toMatchObject({ ok: true, skipped: { code: 'ADAPTER_CONTROL' } });
  });

  it('framing: a reply cut by a new BEGIN is truncated; an endless block is over-long and skipped to its END', () => {
    const cut = Buffer.from('BEGIN LIST VAR ups\nVAR ups ups.load "1"\nBEGIN LIST VAR ups\nVAR ups ups.load "2"\nEND LIST VAR ups\n');
    expect(frameAll(adapter.framing, [cut]).map((e) => (e.kind === 'frame' ? 'frame' : e.code))).toEqual(['FRAMING_TRUNCATED', 'frame']);
    const huge = Buffer.from(`BEGIN LIST VAR ups\n${'VAR ups x "1"\n'.repeat(600)}END LIST VAR ups\nERR DATA-STALE\n`);
    expect(frameAll(adapter.framing, [huge]).map((e) => (e.kind === 'frame' ? e.frame.toString() : e.code))).toEqual(['FRAMING_OVERLONG', 'ERR DATA-STALE']);
  });

  it('fuzzing: decode never throws; framing', () => {
    fuzzDecoder(adapter, frames(session));
    fuzzFraming(adapter.framing, session);
  });

  it('folder: schemas compile, sample.yaml validates, README example matches the decoder', () => {
    checkSchemas(adapter);
    checkSampleConfig(dir, 'nut-upsd');
    checkReadmeExample(dir);
  });
});
