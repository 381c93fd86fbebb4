/**
 * Registry subjects: one per adapter, adapter schema version and stream kind; the daemon's own
 * payloads; everything else opaque. Records here are made as the edge makes them (an adapter's
 * decoder output through toIncomingRecord; the daemon's and the HTTP input's record fields).
 */
import { describe, expect, it } from 'vitest';
import { getAdapter, safeDecode, toIncomingRecord } from '../../../firmware-adapters/index.ts';
import { OPAQUE_SUBJECT, SUBJECT_PATTERN, isJsonContentType, subjectFor, subjects } from '../../src/schemas/index.ts';

const AT = Date.UTC(2025, 5, 1, 12);

/** The subject of the first record `instrument`'s adapter makes of `frame`. */
function subjectOfFrame(instrument: string, adapterName: string, options: unknown, frame: string): string {
  const adapter = getAdapter(adapterName, options);
  const result = safeDecode(adapter, Buffer.from(frame, 'latin1'), { receivedAt: AT });
  if (!result.ok || result.readings.length === 0) throw new Error(`${frame}: no reading`);
  const record = toIncomingRecord(instrument, adapter, result.readings[0]!, { receivedAt: AT });
  return subjectFor(record.schemaRef ?? null, record.stream, record.contentType ?? 'application/octet-stream');
}

describe('subjectFor', () => {
  it('an adapter stream: skyhaul.adapter.<adapter>.v<N>.<stream suffix>, whatever the instrument is called', () => {
    expect(subjectOfFrame('site-wxt', 'vaisala-wxt', {}, '0R2,Ta=23.6C,Ua=14.2P,Pa=1026.6H')).toBe('skyhaul.adapter.vaisala-wxt.v1.ptu');
    expect(subjectOfFrame('mast/wxt', 'vaisala-wxt', {}, '0R1,Dn=236D,Dm=283D,Dx=031D,Sn=0.0M,Sm=1.0M,Sx=2.2M')).toBe('skyhaul.adapter.vaisala-wxt.v1.wind');
    expect(subjectOfFrame('gps', 'nmea0183', {}, '$GPZDA,030719.00,31,12,2024,00,00*6F')).toBe('skyhaul.adapter.nmea0183.v1.zda');
    expect(subjectFor('skyhaul.adapter.gill-windsonic/v1', 'anemometer/wind_uv', 'application/json')).toBe('skyhaul.adapter.gill-windsonic.v1.wind_uv');
  });

  it('an adapter with a `*` schema (json-lines, csv): one subject for every stream the site names', () => {
    const lines = { streamField: 'device' };
    expect(subjectOfFrame('controller', 'json-lines', lines, '{"device":"dome","az":12}')).toBe('skyhaul.adapter.json-lines.v1');
    expect(subjectOfFrame('controller', 'json-lines', lines, '{"device":"mount","ra":1.5}')).toBe('skyhaul.adapter.json-lines.v1');
    expect(subjectOfFrame('logger', 'csv', { stream: 'met', columns: [{ name: 't', type: 'number', unit: 'Cel' }] }, '4.5')).toBe('skyhaul.adapter.csv.v1');
  });

  it("the daemon's alarm and self-test records (src/daemon.ts)", () => {
    expect(subjectFor('skyhaul.alarm/v1', '_skyhaul/alarms', 'application/json')).toBe('skyhaul.alarm.v1');
    expect(subjectFor('skyhaul.selftest/v1', '_skyhaul/selftest', 'application/json')).toBe('skyhaul.selftest.v1');
  });

  it('opaque: no schema reference, an unknown one, a stream the adapter does not declare, a content type that is not JSON', () => {
    // The HTTP input: a pusher gives any content type, and a schema reference or none.
    expect(subjectFor(null, 'pushed/anything', 'application/json')).toBe(OPAQUE_SUBJECT);
    expect(subjectFor('acme.dome/v3', 'pushed/dome', 'application/json')).toBe(OPAQUE_SUBJECT);
    // The synthetic input's references, and a version of an adapter this catalogue does not have yet.
    expect(subjectFor('skyhaul.synthetic.weather/v1', 'sim/weather/wxt', 'application/json')).toBe(OPAQUE_SUBJECT);
    expect(subjectFor('skyhaul.adapter.vaisala-wxt/v2', 'wxt/ptu', 'application/json')).toBe(OPAQUE_SUBJECT);
    expect(subjectFor('skyhaul.adapter.vaisala-wxt/v1', 'wxt/dew', 'application/json')).toBe(OPAQUE_SUBJECT);
    for (const contentType of ['application/octet-stream', 'text/csv', 'text/plain', 'application/x-ndjson', '']) {
      expect(subjectFor('skyhaul.adapter.vaisala-wxt/v1', 'wxt/ptu', contentType), contentType).toBe(OPAQUE_SUBJECT);
      expect(subjectFor('skyhaul.alarm/v1', '_skyhaul/alarms', contentType), contentType).toBe(OPAQUE_SUBJECT);
    }
  });

  it('JSON content types: parameters and case ignored, +json suffixes', () => {
    for (const ct of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/vnd.skyhaul.reading+json']) {
      expect(isJsonContentType(ct), ct).toBe(true);
      expect(subjectFor('skyhaul.adapter.vaisala-wxt/v1', 'wxt/ptu', ct), ct).toBe('skyhaul.adapter.vaisala-wxt.v1.ptu');
    }
    for (const ct of ['application/jsonx', 'text/json-ish', 'application/json-seq', 'json']) expect(isJsonContentType(ct), ct).toBe(false);
  });

  it('the stream suffix is the last / segment (a stream without / is its own suffix)', () => {
    expect(subjectFor('skyhaul.adapter.nmea0183/v1', 'site/mast/gps/gga', 'application/json')).toBe('skyhaul.adapter.nmea0183.v1.gga');
    expect(subjectFor('skyhaul.adapter.nmea0183/v1', 'gga', 'application/json')).toBe('skyhaul.adapter.nmea0183.v1.gga');
    expect(subjectFor('skyhaul.adapter.nmea0183/v1', 'gga/', 'application/json')).toBe(OPAQUE_SUBJECT);
  });

  it('every subject is valid for a Confluent registry (letters, digits, . - _), and what subjectFor can return', () => {
    const all = subjects();
    expect(all).toContain(OPAQUE_SUBJECT);
    expect(all).toHaveLength(23);
    for (const subject of all) expect(subject).toMatch(SUBJECT_PATTERN);
    expect(new Set(all).size).toBe(all.length);
  });
});
