/**
 * Payload -> Avro value -> Avro binary (avsc) -> Avro value -> payload, for every adapter's fixture
 * readings and the daemon's own payloads; opaque payloads byte for byte; and payloads that do not
 * fit their subject's schema refused with SchemaMismatchError naming subject, field and rule.
 */
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { READING_FLAGS } from '../../../firmware-adapters/index.ts';
import {
  OPAQUE_SUBJECT,
  SchemaMismatchError,
  UnknownSubjectError,
  avroSchemaFor,
  fromAvroValue,
  subjectFor,
  subjects,
  toAvroValue,
  type RecordPayload,
} from '../../src/schemas/index.ts';
import { fixtureRecords } from './readings.ts';

const types = new Map(subjects().map((s) => [s, avro.Type.forSchema(avroSchemaFor(s))]));

/** Through Avro binary and back: the payload fromAvroValue gives for what toAvroValue made. */
function roundTrip(subject: string, record: RecordPayload): Buffer {
  const type = types.get(subject)!;
  const value = toAvroValue(subject, record);
  expect(type.isValid(value), `${subject}: ${JSON.stringify(value)}`).toBe(true);
  return fromAvroValue(subject, type.fromBuffer(type.toBuffer(value)));
}

const json = (value: unknown): RecordPayload => ({ payload: Buffer.from(JSON.stringify(value)), contentType: 'application/json' });

function mismatch(subject: string, payload: RecordPayload): SchemaMismatchError {
  try {
    toAvroValue(subject, payload);
  } catch (error) {
    if (error instanceof SchemaMismatchError) return error;
    throw error;
  }
  throw new Error(`${subject}: ${payload.payload.toString()} was accepted`);
}

describe("every adapter's fixture readings round-trip through Avro", () => {
  const records = fixtureRecords();

  it('to an equal JSON payload, under the subject of their adapter and stream (flags and device_time included)', () => {
    const perAdapter = new Map<string, number>();
    const flags = new Set<string>();
    let deviceTimes = 0;
    const subjectsSeen = new Set<string>();
    for (const { adapter, file, record } of records) {
      const subject = subjectFor(record.schemaRef, record.stream, record.contentType);
      expect(subject, `${file}: ${record.stream}`).not.toBe(OPAQUE_SUBJECT);
      subjectsSeen.add(subject);
      const original = JSON.parse(record.payload.toString()) as { flags?: string[]; device_time?: number };
      const back = roundTrip(subject, record);
      expect(JSON.parse(back.toString()), `${file}: ${record.payload.toString()}`).toStrictEqual(original);
      perAdapter.set(adapter, (perAdapter.get(adapter) ?? 0) + 1);
      for (const flag of original.flags ?? []) flags.add(flag);
      if (original.device_time !== undefined) deviceTimes += 1;
    }
    // Every adapter took part, and the records carried what a reading can carry.
    expect([...perAdapter.keys()].sort()).toEqual(['boltek-ld250', 'boltwood-cloud', 'csv', 'davis-vantage', 'gill-windsonic', 'json-lines', 'nmea0183', 'nut-upsd', 'unihedron-sqm', 'vaisala-wxt']);
    expect([...flags]).toEqual(expect.arrayContaining(['GPS_WEEK_ROLLOVER_CORRECTED', 'SOURCE_TIME_IMPLAUSIBLE', 'RECEIPT_TIME_UNSYNCHRONISED', 'TEXT_VALUE_INVALID_UTF8']));
    for (const flag of flags) expect(READING_FLAGS).toContain(flag);
    expect(deviceTimes).toBeGreaterThan(10);
    expect([...subjectsSeen].sort()).toEqual(subjects().filter((s) => s.startsWith('skyhaul.adapter.')));
  });

  it('absent and null fields stay apart, and additional fields keep their JSON names', () => {
    // nut-upsd: declared fields absent (most), one null, one unknown variable (an additional field).
    const subject = subjectFor('skyhaul.adapter.nut-upsd/v1', 'ups/vars', 'application/json');
    const payload = { fields: { 'battery.charge': null, 'ups.status': 'OL', 'ups.vendorid': '051d', on_line: true }, units: { 'battery.charge': '%' } };
    const value = toAvroValue(subject, json(payload));
    expect(value).toMatchObject({ fields: { _battery_dcharge: null, _ups_dstatus: 'OL', on_line: true, low_battery: null }, additional_fields: { 'ups.vendorid': '051d' }, null_fields: ['battery.charge'], flags: [], device_time: null });
    expect(JSON.parse(roundTrip(subject, json(payload)).toString())).toStrictEqual(payload);
  });
});

describe("the daemon's own payloads and opaque ones", () => {
  it('alarms and self-test canaries round-trip as the daemon writes them (src/daemon.ts onAlarm, runSelfTest)', () => {
    const at = Date.UTC(2025, 5, 1, 12);
    const alarm = { event: 'raised', code: 'link_down', severity: 'critical', message: 'link down for 5 min', since: at - 300_000, at };
    const subject = subjectFor('skyhaul.alarm/v1', '_skyhaul/alarms', 'application/json');
    expect(subject).toBe('skyhaul.alarm.v1');
    expect(JSON.parse(roundTrip(subject, json(alarm)).toString())).toStrictEqual(alarm);
    expect(toAvroValue(subject, json({ ...alarm, event: 'cleared', severity: 'warning' }))).toEqual({ at, code: 'link_down', event: 'cleared', message: 'link down for 5 min', severity: 'warning', since: at - 300_000 });
    const canary = { canary: at };
    expect(JSON.parse(roundTrip(subjectFor('skyhaul.selftest/v1', '_skyhaul/selftest', 'application/json'), json(canary)).toString())).toStrictEqual(canary);
  });

  it('opaque payloads come back byte for byte, whatever they hold', () => {
    const cases: RecordPayload[] = [
      { payload: Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x7b]), contentType: 'application/octet-stream' },
      { payload: Buffer.from('time,t\n1,2\n'), contentType: 'text/csv' },
      // Not JSON at all, but under a content type that is not JSON either: opaque, not refused.
      { payload: Buffer.from('{"fields":'), contentType: 'text/plain' },
      { payload: Buffer.alloc(0), contentType: 'application/octet-stream' },
    ];
    for (const record of cases) {
      const subject = subjectFor('skyhaul.adapter.vaisala-wxt/v1', 'wxt/ptu', record.contentType);
      expect(subject).toBe(OPAQUE_SUBJECT);
      expect(toAvroValue(subject, record)).toEqual({ content_type: record.contentType, payload: record.payload });
      expect(roundTrip(subject, record).equals(record.payload)).toBe(true);
    }
  });
});

describe('a payload that does not fit its schema: SchemaMismatchError naming subject, field and rule', () => {
  const ptu = 'skyhaul.adapter.vaisala-wxt.v1.ptu';
  const good = { fields: { air_temperature: 4.5, relative_humidity: 81.2 }, units: { air_temperature: 'Cel', relative_humidity: '%' } };

  it('a field of the wrong type', () => {
    const error = mismatch(ptu, json({ ...good, fields: { ...good.fields, air_temperature: 'warm' } }));
    expect(error).toMatchObject({ code: 'SKY_ERR_SCHEMA_MISMATCH', subject: ptu, field: 'fields.air_temperature', rule: 'type' });
    expect(error.message).toBe(`${ptu}: fields.air_temperature: type: the string "warm" is not a number`);
    // integer fields take no fraction; a non-nullable field no null (SQM's averaged).
    expect(mismatch('skyhaul.adapter.boltek-ld250.v1.status', json({ fields: { close_strike_rate: 1.5 }, units: {} }))).toMatchObject({ field: 'fields.close_strike_rate', rule: 'type' });
    expect(mismatch('skyhaul.adapter.unihedron-sqm.v1.reading', json({ fields: { averaged: null }, units: {} }))).toMatchObject({ field: 'fields.averaged', rule: 'type' });
    expect(mismatch('skyhaul.adapter.json-lines.v1', json({ fields: { a: { b: 1 } }, units: {} }))).toMatchObject({ field: 'fields.a', rule: 'type' });
  });

  it('not JSON, not UTF-8, not an object, or not under a JSON content type', () => {
    expect(mismatch(ptu, { payload: Buffer.from('0R2,Ta=4.5C'), contentType: 'application/json' })).toMatchObject({ subject: ptu, field: null, rule: 'json' });
    expect(mismatch(ptu, { payload: Buffer.from([0x7b, 0xff, 0x7d]), contentType: 'application/json' })).toMatchObject({ field: null, rule: 'json' });
    expect(mismatch(ptu, json([1, 2]))).toMatchObject({ field: null, rule: 'type' });
    expect(mismatch(ptu, { payload: Buffer.from(JSON.stringify(good)), contentType: 'text/plain' })).toMatchObject({ field: null, rule: 'contentType' });
  });

  it("what the adapter's JSON Schema refuses: unknown fields and keys, missing parts, another unit, bad flags", () => {
    expect(mismatch(ptu, json({ ...good, fields: { dew_point: 1 } }))).toMatchObject({ field: 'fields.dew_point', rule: 'additionalProperties' });
    expect(mismatch(ptu, json({ ...good, extra: 1 }))).toMatchObject({ field: 'extra', rule: 'additionalProperties' });
    expect(mismatch(ptu, json({ ...good, toString: 1 }))).toMatchObject({ field: 'toString', rule: 'additionalProperties' });
    expect(mismatch(ptu, json({ ...good, fields: { constructor: 1 } }))).toMatchObject({ field: 'fields.constructor', rule: 'additionalProperties' });
    expect(mismatch('skyhaul.selftest.v1', json({ canary: 1, valueOf: 2 }))).toMatchObject({ field: 'valueOf', rule: 'additionalProperties' });
    expect(mismatch(ptu, json({ fields: good.fields }))).toMatchObject({ field: 'units', rule: 'required' });
    expect(mismatch(ptu, json({ ...good, units: { air_temperature: '[degF]' } }))).toMatchObject({ field: 'units.air_temperature', rule: 'const' });
    expect(mismatch(ptu, json({ ...good, flags: [] }))).toMatchObject({ field: 'flags', rule: 'minItems' });
    expect(mismatch(ptu, json({ ...good, flags: ['NOT_A_FLAG'] }))).toMatchObject({ field: 'flags[0]', rule: 'enum' });
    expect(mismatch(ptu, json({ ...good, flags: ['SOURCE_TIME_IMPLAUSIBLE', 'SOURCE_TIME_IMPLAUSIBLE'] }))).toMatchObject({ field: 'flags[1]', rule: 'uniqueItems' });
  });

  it('what Avro cannot carry unchanged', () => {
    expect(mismatch(ptu, json({ ...good, device_time: 1.5 }))).toMatchObject({ field: 'device_time', rule: 'range' });
    expect(mismatch('skyhaul.adapter.boltek-ld250.v1.status', json({ fields: { total_strike_rate: 2 ** 60 }, units: {} }))).toMatchObject({ field: 'fields.total_strike_rate', rule: 'range' });
    expect(mismatch('skyhaul.adapter.vaisala-wxt.v1.text', { payload: Buffer.from('{"fields":{"message":"\\ud800"},"units":{}}'), contentType: 'application/json' })).toMatchObject({ field: 'fields.message', rule: 'range' });
    expect(mismatch('skyhaul.adapter.json-lines.v1', { payload: Buffer.from('{"fields":{"__proto__":1},"units":{}}'), contentType: 'application/json' })).toMatchObject({ field: 'fields.__proto__', rule: 'propertyNames' });
    expect(mismatch(ptu, { payload: Buffer.from('{"fields":{"air_temperature":1e400},"units":{}}'), contentType: 'application/json' })).toMatchObject({ field: 'fields.air_temperature', rule: 'range' });
  });

  it("the daemon's payloads: a missing property, an unknown value of an enumerated one", () => {
    const alarm = { event: 'raised', code: 'disk_free', severity: 'critical', message: '10 MiB free', since: 1, at: 2 };
    expect(mismatch('skyhaul.alarm.v1', json({ ...alarm, severity: 'fatal' }))).toMatchObject({ subject: 'skyhaul.alarm.v1', field: 'severity', rule: 'enum' });
    expect(mismatch('skyhaul.alarm.v1', json({ ...alarm, at: undefined }))).toMatchObject({ field: 'at', rule: 'required' });
    expect(mismatch('skyhaul.selftest.v1', json({ canary: '2025-06-01' }))).toMatchObject({ subject: 'skyhaul.selftest.v1', field: 'canary', rule: 'type' });
  });

  it('an unknown subject is UnknownSubjectError, a value of another shape SchemaMismatchError avro', () => {
    expect(() => toAvroValue('skyhaul.adapter.vaisala-wxt.v9.ptu', json(good))).toThrow(UnknownSubjectError);
    expect(() => avroSchemaFor('nope')).toThrow(UnknownSubjectError);
    expect(() => fromAvroValue(OPAQUE_SUBJECT, { content_type: 'x', payload: 'not bytes' })).toThrow(expect.objectContaining({ rule: 'avro', field: 'payload' }));
    expect(() => fromAvroValue(ptu, 'a string')).toThrow(expect.objectContaining({ rule: 'avro' }));
  });
});
