import { describe, expect, it } from 'vitest';
import { Quarantine } from './quarantine.ts';

const entry = (i: number, adapter = 'nmea0183', code = 'ADAPTER_CHECKSUM') => ({ at: 1000 + i, adapter, code, message: `bad ${i}`, raw: Buffer.from(`frame ${i}`) });

describe('Quarantine', () => {
  it('keeps the last N entries, oldest first', () => {
    const q = new Quarantine({ capacity: 3 });
    for (let i = 0; i < 5; i++) q.add(entry(i));
    expect(q.entries().map((e) => e.message)).toEqual(['bad 2', 'bad 3', 'bad 4']);
    expect(q.total()).toBe(5);
  });

  it('counts every entry per adapter and code, evicted ones included; clear keeps the counts', () => {
    const q = new Quarantine({ capacity: 2 });
    q.add(entry(0, 'nmea0183', 'ADAPTER_CHECKSUM'));
    q.add(entry(1, 'nmea0183', 'ADAPTER_CHECKSUM'));
    q.add(entry(2, 'nmea0183', 'FRAMING_OVERLONG'));
    q.add(entry(3, 'davis-vantage', 'ADAPTER_TRUNCATED'));
    expect(q.counts()).toEqual({ nmea0183: { ADAPTER_CHECKSUM: 2, FRAMING_OVERLONG: 1 }, 'davis-vantage': { ADAPTER_TRUNCATED: 1 } });
    q.clear();
    expect(q.entries()).toEqual([]);
    expect(q.counts().nmea0183?.ADAPTER_CHECKSUM).toBe(2);
  });

  it('keeps a bounded copy of the raw bytes with the original length, the input name and time', () => {
    const q = new Quarantine({ capacity: 1, maxRawBytes: 4 });
    const big = Buffer.alloc(1_000_000, 0x41);
    q.add({ at: 5, adapter: 'csv', input: 'logger', code: 'FRAMING_OVERLONG', message: 'too long', raw: big });
    const [kept] = q.entries();
    expect(kept).toEqual({ at: 5, adapter: 'csv', input: 'logger', code: 'FRAMING_OVERLONG', message: 'too long', raw: Buffer.from('AAAA'), rawLength: 1_000_000 });
    expect(kept!.raw.buffer.byteLength).toBeLessThan(1_000_000); // a copy, not a view of the big buffer
    big[0] = 0x42;
    expect(kept!.raw[0]).toBe(0x41);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new Quarantine({ capacity: 0 })).toThrow(RangeError);
    expect(() => new Quarantine({ capacity: 1.5 })).toThrow(RangeError);
  });
});
