import { describe, expect, it } from 'vitest';
import { dedupKey, fromPulsarMessage, isValidTraceparent, newTraceparent, RecordDecodeError, toPulsarMessage, type TelemetryRecord } from '../../src/record/record.ts';

const record: TelemetryRecord = {
  siteId: 'cerro-01',
  producerId: 'edge-abc',
  stream: 'weather/wxt536',
  sequence: 42,
  sourceTime: 1_795_000_000_000,
  ingestTime: 1_795_000_000_123,
  contentType: 'application/json',
  schemaRef: 'skyhaul.adapter.vaisala-wxt/v1',
  payload: Buffer.from('{"Ta":11.2}'),
  traceparent: newTraceparent(),
};

describe('record on Pulsar', () => {
  it('keys by stream and carries the contract properties', () => {
    const message = toPulsarMessage(record);
    expect(message.key).toBe('weather/wxt536');
    expect(message.properties).toMatchObject({
      producer_id: 'edge-abc',
      stream: 'weather/wxt536',
      sequence: '42',
      traceparent: record.traceparent,
      content_type: 'application/json',
      site_id: 'cerro-01',
      schema: 'skyhaul.adapter.vaisala-wxt/v1',
    });
    expect(message.eventTime).toBe(record.sourceTime);
  });

  it('round-trips, and refuses a message missing a contract property', () => {
    expect(fromPulsarMessage(toPulsarMessage(record))).toEqual(record);
    const noSource = { ...record, sourceTime: null, schemaRef: null };
    expect(fromPulsarMessage(toPulsarMessage(noSource))).toEqual(noSource);
    const message = toPulsarMessage(record);
    delete message.properties.sequence;
    expect(() => fromPulsarMessage(message)).toThrow(RecordDecodeError);
    expect(() => fromPulsarMessage({ ...toPulsarMessage(record), key: 'other' })).toThrow(/differs/);
  });

  it('generates valid W3C traceparents and a stable de-dup key', () => {
    expect(isValidTraceparent(record.traceparent)).toBe(true);
    expect(isValidTraceparent('00-00000000000000000000000000000000-0000000000000001-01')).toBe(false);
    expect(dedupKey(record)).toBe(dedupKey({ producerId: record.producerId, stream: record.stream, sequence: 42 }));
    expect(dedupKey(record)).not.toBe(dedupKey({ ...record, sequence: 43 }));
  });
});
