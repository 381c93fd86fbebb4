import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Framing } from './adapter.ts';
import { GARBAGE_CHUNK, RAW_LIMIT, createFramer, type FramerEvent } from './framing.ts';
import { frameAll, seededBytes, split } from './testing.ts';

const show = (events: FramerEvent[]): string[] =>
  events.map((e) => (e.kind === 'frame' ? `frame:${e.frame.toString('latin1')}` : `${e.code}:${e.length}`));

/** The same events whatever the chunking: whole, byte by byte, and at random cuts. */
function expectChunkingInvariant(framing: Framing, data: Buffer): string[] {
  const whole = show(frameAll(framing, [data]));
  const bytes = show(frameAll(framing, [...data].map((b) => Buffer.from([b]))));
  const kinds = (xs: string[]) => xs.map((x) => x.replace(/:\d+$/, ''));
  expect(kinds(bytes)).toEqual(kinds(whole));
  return whole;
}

describe('framing: line', () => {
  const framing: Framing = { kind: 'line', terminator: '\r\n', maxLength: 10 };

  it('CRLF or bare LF end a line; trailing CR removed; empty lines skipped; final unterminated line on flush', () => {
    const events = expectChunkingInvariant(framing, Buffer.from('one\r\ntwo\n\r\n\nthree'));
    expect(events).toEqual(['frame:one', 'frame:two', 'frame:three']);
  });

  it('an over-long line is reported once and dropped up to its terminator', () => {
    const data = Buffer.from(`ok\r\n${'x'.repeat(25)}\r\nnext\r\n`);
    expect(show(frameAll(framing, [data]))).toEqual(['frame:ok', 'FRAMING_OVERLONG:25', 'frame:next']);
    const chunked = show(frameAll(framing, [...data].map((b) => Buffer.from([b]))));
    expect(chunked.map((e) => e.replace(/:\d+$/, ''))).toEqual(['frame:ok', 'FRAMING_OVERLONG', 'frame:next']);
  });

  it('a line of exactly maxLength passes; with its CR arriving separately too', () => {
    const framer = createFramer(framing);
    expect(show(framer.push(Buffer.from('0123456789\r')))).toEqual([]);
    expect(show(framer.push(Buffer.from('\n')))).toEqual(['frame:0123456789']);
  });

  it("'\\r' terminator: a leading LF is removed", () => {
    expect(show(frameAll({ kind: 'line', terminator: '\r', maxLength: 10 }, [Buffer.from('a\r\nb\r')]))).toEqual(['frame:a', 'frame:b']);
  });

  it('reset drops a partial line', () => {
    const framer = createFramer(framing);
    framer.push(Buffer.from('partial'));
    framer.reset();
    expect(show(framer.push(Buffer.from('whole\n')))).toEqual(['frame:whole']);
  });
});

describe('framing: delimited', () => {
  const framing: Framing = { kind: 'delimited', start: 0x02, end: 0x03, trailer: 2, maxLength: 16, idle: [0x0d, 0x0a] };

  it('frames include delimiters and trailer; idle bytes ignored; garbage reported per run', () => {
    const events = expectChunkingInvariant(framing, Buffer.from('\x02abc\x0399\r\nxyz\x02de\x03AA'));
    expect(events).toEqual(['frame:\x02abc\x0399', 'FRAMING_GARBAGE:3', 'frame:\x02de\x03AA']);
  });

  it('a new start inside a frame truncates it; an over-long frame is skipped to its end and trailer', () => {
    const events = expectChunkingInvariant(framing, Buffer.from(`\x02cut\x02ok\x0300\x02${'y'.repeat(30)}\x03ZZ\x02fine\x0311`));
    expect(events).toEqual(['FRAMING_TRUNCATED:4', 'frame:\x02ok\x0300', 'FRAMING_OVERLONG:16', 'frame:\x02fine\x0311']);
  });

  it('flush reports a frame cut by the end of the stream, and pending garbage', () => {
    expect(show(frameAll(framing, [Buffer.from('\x02abc')]))).toEqual(['FRAMING_TRUNCATED:4']);
    expect(show(frameAll(framing, [Buffer.from('junk')]))).toEqual(['FRAMING_GARBAGE:4']);
  });

  it('a long garbage run is reported in bounded events, raw kept to RAW_LIMIT bytes', () => {
    const events = frameAll(framing, [Buffer.alloc(GARBAGE_CHUNK * 2 + 5, 0x41)]);
    expect(events.map((e) => (e.kind === 'error' ? [e.code, e.length, e.raw.length] : 'frame'))).toEqual([
      ['FRAMING_GARBAGE', GARBAGE_CHUNK, RAW_LIMIT],
      ['FRAMING_GARBAGE', GARBAGE_CHUNK, RAW_LIMIT],
      ['FRAMING_GARBAGE', 5, 5],
    ]);
  });
});

describe('framing: fixed', () => {
  const check = (f: Buffer): boolean => f[f.length - 1] === 0x21; // '!' closes a valid frame
  const framing: Framing = { kind: 'fixed', length: 6, sync: [0x53, 0x59], check, idle: [0x06] };

  it('finds frames by sync, idle bytes ignored, garbage reported', () => {
    expect(expectChunkingInvariant(framing, Buffer.from('\x06SYabc!..SYdef!\x06'))).toEqual(['frame:SYabc!', 'FRAMING_GARBAGE:2', 'frame:SYdef!']);
  });

  it('a false sync that fails the check is reported and the real frame inside it is still found', () => {
    // "SYxSYa" fails the check; the framer resyncs one byte on and finds "SYabc!".
    expect(expectChunkingInvariant(framing, Buffer.from('SYxSYabc!'))).toEqual(['FRAMING_CHECK:6', 'frame:SYabc!']);
  });

  it('a sync split across chunks; a frame cut by the end of the stream', () => {
    const framer = createFramer(framing);
    expect(show([...framer.push(Buffer.from('..S')), ...framer.push(Buffer.from('Yabc!'))])).toEqual(['FRAMING_GARBAGE:2', 'frame:SYabc!']);
    expect(show(frameAll(framing, [Buffer.from('SYab')]))).toEqual(['FRAMING_TRUNCATED:4']);
  });

  it('without sync: consecutive blocks', () => {
    expect(show(frameAll({ kind: 'fixed', length: 3 }, [Buffer.from('abcdefg')]))).toEqual(['frame:abc', 'frame:def', 'FRAMING_TRUNCATED:1']);
  });

  it('a check that throws counts as failed, not as an exception', () => {
    const throwing: Framing = { kind: 'fixed', length: 3, sync: [0x41], check: () => { throw new Error('bug'); } };
    expect(show(frameAll(throwing, [Buffer.from('Abc')]))).toEqual(['FRAMING_CHECK:3']);
  });
});

describe('framing: block', () => {
  const framing: Framing = { kind: 'block', terminator: '\n', begin: 'BEGIN ', end: 'END ', maxLength: 64, maxLines: 3 };

  it('whole blocks and single lines; a block cut by a new BEGIN; an over-long block skipped to its END; flush inside a block', () => {
    const data = Buffer.from('ERR X\nBEGIN a\nv 1\nEND a\nBEGIN b\nBEGIN c\nEND c\nBEGIN d\n1\n2\n3\n4\nEND d\nOK\nBEGIN e\nv');
    expect(expectChunkingInvariant(framing, data)).toEqual([
      'frame:ERR X',
      'frame:BEGIN a\nv 1\nEND a',
      'FRAMING_TRUNCATED:7',
      'frame:BEGIN c\nEND c',
      'FRAMING_OVERLONG:13',
      'frame:OK',
      'FRAMING_TRUNCATED:9',
    ]);
  });
});

describe('framing: datagram', () => {
  it('one push is one frame; empty ignored; over-long reported', () => {
    const framer = createFramer({ kind: 'datagram', maxLength: 4 });
    expect(show([...framer.push(Buffer.from('abcd')), ...framer.push(Buffer.alloc(0)), ...framer.push(Buffer.from('abcde'))])).toEqual(['frame:abcd', 'FRAMING_OVERLONG:5']);
    expect(framer.flush()).toEqual([]);
  });
});

describe('framing: properties (every kind)', () => {
  const kinds: Framing[] = [
    { kind: 'line', terminator: '\r\n', maxLength: 32 },
    { kind: 'line', terminator: '\r', maxLength: 32 },
    { kind: 'delimited', start: 0x02, end: 0x03, trailer: 2, maxLength: 32, idle: [0x0d, 0x0a] },
    { kind: 'delimited', start: 0x02, end: 0x0a, trailer: 0, maxLength: 32 },
    { kind: 'fixed', length: 8, sync: [0x4c, 0x4f], check: (f) => (f[7]! & 1) === 0 },
    { kind: 'fixed', length: 8 },
    { kind: 'block', terminator: '\n', begin: 'B', end: 'E', maxLength: 32, maxLines: 4 },
  ];
  // Bytes biased towards the delimiters so that frames, cuts and resyncs actually happen.
  const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x02, 0x03, 0x0a, 0x0d, 0x4c, 0x4f, 0x42, 0x45));
  const data = fc.array(byte, { maxLength: 400 }).map((a) => Buffer.from(a));

  it('never throw, are chunking-invariant, keep raw bounded, and emit frames within the declared size', () => {
    for (const framing of kinds) {
      fc.assert(
        fc.property(data, fc.array(fc.nat(), { maxLength: 30 }), (bytes, cuts) => {
          const whole = frameAll(framing, [bytes]);
          const chunked = frameAll(framing, split(bytes, cuts));
          const kindsOf = (es: FramerEvent[]) => es.map((e) => (e.kind === 'frame' ? `f:${e.frame.toString('hex')}` : `e:${e.code}`));
          expect(kindsOf(chunked)).toEqual(kindsOf(whole));
          for (const e of whole) {
            if (e.kind === 'error') expect(e.raw.length).toBeLessThanOrEqual(RAW_LIMIT);
            else if (framing.kind === 'fixed') expect(e.frame.length).toBe(framing.length);
            else if (framing.kind !== 'block' && framing.kind !== 'datagram') expect(e.frame.length).toBeLessThanOrEqual(framing.maxLength);
          }
        }),
        { numRuns: 300 },
      );
    }
  });

  it('frame 1 MB of random bytes in well under a second each', () => {
    const random = seededBytes(1_000_000, 42);
    for (const framing of [...kinds, { kind: 'datagram', maxLength: 65_536 } as Framing]) {
      const started = performance.now();
      const framer = createFramer(framing);
      for (let i = 0; i < random.length; i += 4096) framer.push(random.subarray(i, i + 4096));
      framer.flush();
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });

  it('a 1 MB chunk pushed at once (no terminator) stays bounded and fast', () => {
    const framer = createFramer({ kind: 'line', terminator: '\n', maxLength: 256 });
    const started = performance.now();
    const events = framer.push(Buffer.alloc(1_000_000, 0x41));
    expect(events.map((e) => e.kind === 'error' && e.code)).toEqual(['FRAMING_OVERLONG']);
    expect(show(framer.push(Buffer.from('A\nok\n')))).toEqual(['frame:ok']);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
