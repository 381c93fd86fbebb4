/**
 * Shared test helpers for adapters (imported by the `*.test.ts` files only): result and schema
 * checks, property-based fuzzing of decoders and framers (fast-check), the README example check
 * (each README's frame, decoded with its sample.yaml's options, must give the README's record),
 * and sample.yaml validation.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import AjvModule from 'ajv';
import fc from 'fast-check';
import { expect } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { READING_FLAGS, readingPayload, type AdapterErrorCode, type DecodeMeta, type DecodeResult, type FirmwareAdapter, type Framing } from './adapter.ts';
import { createFramer, type FramerEvent } from './framing.ts';
import { getAdapter, validateAdapterOptions } from './index.ts';

/** `receivedAt` used for README examples and fixture expectations unless a test says otherwise. */
export const EXAMPLE_RECEIVED_AT = Date.UTC(2024, 0, 15, 12, 0, 0);

const ERROR_CODES: AdapterErrorCode[] = [
  'ADAPTER_CHECKSUM',
  'ADAPTER_TRUNCATED',
  'ADAPTER_PARSE',
  'ADAPTER_UNSUPPORTED',
  'ADAPTER_DEVICE_ERROR',
  'ADAPTER_INTERNAL',
];

const Ajv = AjvModule.default;
const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
const compiled = new WeakMap<object, ReturnType<typeof ajv.compile>>();

function validatorFor(schema: object): ReturnType<typeof ajv.compile> {
  let v = compiled.get(schema);
  if (v === undefined) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** A decode result is well formed, and each reading validates against its stream's schema. */
export function checkResult(adapter: FirmwareAdapter, result: DecodeResult): void {
  expect(typeof result.ok).toBe('boolean');
  if (!result.ok) {
    expect(ERROR_CODES).toContain(result.error.code);
    expect(result.error.code).not.toBe('ADAPTER_INTERNAL');
    expect(typeof result.error.message).toBe('string');
    expect(result.error.message.length).toBeGreaterThan(0);
    expect(result.error.message.length).toBeLessThan(600);
    return;
  }
  expect(Array.isArray(result.readings)).toBe(true);
  if (result.readings.length === 0) expect(result.skipped).toBeDefined();
  for (const reading of result.readings) {
    const schema = adapter.schemas[reading.stream] ?? adapter.schemas['*'];
    if (schema === undefined) throw new Error(`${adapter.name}: stream '${reading.stream}' has no schema`);
    for (const [key, value] of Object.entries(reading.fields)) {
      if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`${adapter.name}: field ${key} is ${value}`);
      expect(['number', 'string', 'boolean'].includes(typeof value) || value === null).toBe(true);
    }
    if (reading.sourceTime !== undefined && reading.sourceTime !== null) expect(Number.isFinite(reading.sourceTime)).toBe(true);
    if (reading.deviceTime !== undefined) expect(Number.isFinite(reading.deviceTime)).toBe(true);
    if (reading.flags !== undefined) {
      for (const flag of reading.flags) expect(READING_FLAGS).toContain(flag);
      expect(new Set(reading.flags).size).toBe(reading.flags.length);
    }
    const validate = validatorFor(schema);
    // The payload as toIncomingRecord writes it, flags and device_time included when present.
    const payload = JSON.parse(JSON.stringify(readingPayload(reading))) as unknown;
    if (!validate(payload)) {
      throw new Error(`${adapter.name}/${reading.stream} reading fails its schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(payload)}`);
    }
  }
}

/** Every schema an adapter declares compiles. */
export function checkSchemas(adapter: FirmwareAdapter): void {
  expect(Object.keys(adapter.schemas).length).toBeGreaterThan(0);
  for (const schema of Object.values(adapter.schemas)) validatorFor(schema);
}

/** Decodes and checks; returns the result. `meta` is a receipt time or a whole DecodeMeta. */
export function decodeChecked(adapter: FirmwareAdapter, frame: Buffer | string, meta: number | DecodeMeta = EXAMPLE_RECEIVED_AT): DecodeResult {
  const result = adapter.decode(typeof frame === 'string' ? Buffer.from(frame, 'latin1') : frame, typeof meta === 'number' ? { receivedAt: meta } : meta);
  checkResult(adapter, result);
  return result;
}

export function expectError(adapter: FirmwareAdapter, frame: Buffer | string, code: AdapterErrorCode): string {
  const result = decodeChecked(adapter, frame);
  if (result.ok) throw new Error(`expected ${code}, got readings ${JSON.stringify(result.readings)}`);
  expect(result.error.code).toBe(code);
  return result.error.message;
}

/** `\x02`, `\r`, `\n`, `\t`, `\\` escapes as README frames are written. */
export function unescapeFrame(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== '\\') {
      bytes.push(ch.charCodeAt(0) & 0xff);
      continue;
    }
    const next = text[i + 1];
    if (next === 'x') {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      bytes.push(next === 'r' ? 0x0d : next === 'n' ? 0x0a : next === 't' ? 0x09 : (next ?? '\\').charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes);
}

export interface AdapterFolder {
  dir: string;
  adapterName: string;
  adapterOptions: unknown;
}

/** Reads the folder's sample.yaml: an `inputs:` list whose first entry names the adapter and its options. */
export function sampleConfig(dir: string): AdapterFolder {
  const doc = parseYaml(readFileSync(join(dir, 'sample.yaml'), 'utf8')) as { inputs?: { adapter?: string; adapterOptions?: unknown }[] };
  const input = doc.inputs?.[0];
  if (input?.adapter === undefined) throw new Error(`${dir}/sample.yaml: inputs[0].adapter missing`);
  return { dir, adapterName: input.adapter, adapterOptions: input.adapterOptions ?? {} };
}

/** The sample.yaml options validate against the adapter's options schema. */
export function checkSampleConfig(dir: string, expectedAdapter: string): FirmwareAdapter {
  const sample = sampleConfig(dir);
  expect(sample.adapterName).toBe(expectedAdapter);
  const checked = validateAdapterOptions(sample.adapterName, sample.adapterOptions);
  if (!checked.ok) throw new Error(`${dir}/sample.yaml: ${checked.errors.join('; ')}`);
  return getAdapter(sample.adapterName, sample.adapterOptions);
}

/**
 * The README's example: the first ```text (escaped) or ```hex block after "## Example" is the
 * frame; the first ```json block after it is the decoded readings. Decoding the frame with the
 * sample.yaml's options at EXAMPLE_RECEIVED_AT must give exactly those readings.
 */
export function checkReadmeExample(dir: string): void {
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Example'));
  expect(readme.includes('## Example')).toBe(true);
  const frameBlock = /```(text|hex)\n([\s\S]*?)```/.exec(section);
  if (!frameBlock) throw new Error(`${dir}/README.md: no \`\`\`text or \`\`\`hex frame block under ## Example`);
  const after = section.slice(frameBlock.index + frameBlock[0].length);
  const jsonBlock = /```json\n([\s\S]*?)```/.exec(after);
  if (!jsonBlock) throw new Error(`${dir}/README.md: no \`\`\`json block after the frame`);
  const frame = frameBlock[1] === 'hex' ? Buffer.from(frameBlock[2]!.replace(/\s+/g, ''), 'hex') : unescapeFrame(frameBlock[2]!.replace(/\n$/, ''));
  const sample = sampleConfig(dir);
  const adapter = getAdapter(sample.adapterName, sample.adapterOptions);
  const result = decodeChecked(adapter, frame);
  if (!result.ok) throw new Error(`${dir}/README.md example does not decode: ${result.error.code} ${result.error.message}`);
  expect(JSON.parse(jsonBlock[1]!)).toEqual(JSON.parse(JSON.stringify(result.readings)));
}

// ---------------------------------------------------------------------------------------------
// Fuzzing.

const MAX_DECODE_MS = 250;

function timedDecode(adapter: FirmwareAdapter, frame: Buffer): DecodeResult {
  const started = performance.now();
  const result = adapter.decode(frame, { receivedAt: EXAMPLE_RECEIVED_AT });
  const took = performance.now() - started;
  if (took > MAX_DECODE_MS) throw new Error(`${adapter.name}: decode took ${took.toFixed(1)} ms on ${frame.length} bytes`);
  checkResult(adapter, result);
  return result;
}

type Mutation = { kind: 'flip' | 'delete' | 'insert' | 'truncate' | 'duplicate' | 'replace'; at: number; byte: number; length: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'delete', 'insert', 'truncate', 'duplicate', 'replace'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
  length: fc.integer({ min: 1, max: 8 }),
});

function mutate(frame: Buffer, mutations: Mutation[]): Buffer {
  let out = Buffer.from(frame);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    switch (m.kind) {
      case 'flip':
        if (out.length > 0) out[at % out.length] = out[at % out.length]! ^ (1 << m.byte % 8);
        break;
      case 'replace':
        if (out.length > 0) out[at % out.length] = m.byte;
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), Buffer.alloc(m.length, m.byte), out.subarray(at)]);
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
      case 'duplicate':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + m.length), out.subarray(at)]);
        break;
    }
  }
  return out;
}

export interface FuzzOptions {
  /** Recomputes a mutated frame's checksum, so mutations reach the field parsers. */
  reseal?: (frame: Buffer) => Buffer;
  numRuns?: number;
  /** Printable-text alphabet for the text fuzz (defaults to the bytes of the good frames). */
  alphabet?: string;
}

/**
 * Property-based fuzzing of decode: random bytes, random text over the frames' own alphabet, and
 * mutations of good frames (with and without a resealed checksum) never make decode throw, take
 * long, or return a malformed result or a reading that fails its schema.
 */
export function fuzzDecoder(adapter: FirmwareAdapter, goodFrames: Buffer[], options: FuzzOptions = {}): void {
  const numRuns = options.numRuns ?? 400;
  expect(goodFrames.length).toBeGreaterThan(0);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      timedDecode(adapter, Buffer.from(bytes));
    }),
    { numRuns },
  );
  const alphabet = options.alphabet ?? [...new Set(Buffer.concat(goodFrames).toString('latin1'))].join('');
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 300 }), (chars) => {
      const frame = Buffer.from(chars.join(''), 'latin1');
      timedDecode(adapter, frame);
      if (options.reseal) timedDecode(adapter, options.reseal(frame));
    }),
    { numRuns },
  );
  fc.assert(
    fc.property(fc.constantFrom(...goodFrames), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (frame, mutations) => {
      const mutated = mutate(frame, mutations);
      timedDecode(adapter, mutated);
      if (options.reseal) timedDecode(adapter, options.reseal(mutated));
    }),
    { numRuns },
  );
}

function summarize(events: FramerEvent[]): string[] {
  return events.map((e) => (e.kind === 'frame' ? `frame:${e.frame.toString('hex')}` : `error:${e.code}`));
}

export function frameAll(framing: Framing, chunks: Buffer[]): FramerEvent[] {
  const framer = createFramer(framing);
  const events: FramerEvent[] = [];
  for (const chunk of chunks) events.push(...framer.push(chunk));
  events.push(...framer.flush());
  return events;
}

/** Splits `data` at the given cut points. */
export function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

/**
 * Property-based fuzzing of the adapter's framing: the same frames and error codes whatever the
 * chunking of a real stream (with random garbage spliced in); random bytes never throw; and 1 MB
 * of random bytes is framed in under a second.
 */
export function fuzzFraming(framing: Framing, stream: Buffer, numRuns = 200): void {
  const spliced = fc.tuple(fc.nat({ max: stream.length }), fc.uint8Array({ maxLength: 64 })).map(([at, junk]) =>
    Buffer.concat([stream.subarray(0, at), Buffer.from(junk), stream.subarray(at)]),
  );
  // For datagrams the chunks are the frames: nothing to compare.
  if (framing.kind !== 'datagram') {
    fc.assert(
      fc.property(spliced, fc.array(fc.nat(), { maxLength: 40 }), (data, cuts) => {
        const whole = summarize(frameAll(framing, [data]));
        const chunked = summarize(frameAll(framing, split(data, cuts)));
        expect(chunked).toEqual(whole);
      }),
      { numRuns },
    );
  }
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
      const events = frameAll(framing, chunks.map((c) => Buffer.from(c)));
      for (const e of events) {
        if (e.kind === 'error') expect(e.raw.length).toBeLessThanOrEqual(1024);
      }
    }),
    { numRuns },
  );
  const random = seededBytes(1_000_000, 0x5eed);
  const started = performance.now();
  const framer = createFramer(framing);
  for (let i = 0; i < random.length; i += 4096) framer.push(random.subarray(i, i + 4096));
  framer.flush();
  expect(performance.now() - started).toBeLessThan(1000);
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function seededBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
