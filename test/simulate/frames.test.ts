import { describe, expect, it } from 'vitest';
import { createFramer, getAdapter, safeDecode } from '../../firmware-adapters/index.ts';
import { FAULT_CODES, faultFrame, goodFrame, seededRandom, SIM_ADAPTER_OPTIONS, type ErrorFaultKind, type SimAdapter } from '../../src/simulate/frames.ts';

const adapters = Object.keys(FAULT_CODES) as SimAdapter[];

function run(adapterName: SimAdapter, bytes: Buffer): { streams: string[]; errors: string[] } {
  const adapter = getAdapter(adapterName, SIM_ADAPTER_OPTIONS[adapterName]);
  const framer = createFramer(adapter.framing);
  const streams: string[] = [];
  const errors: string[] = [];
  for (const ev of framer.push(bytes)) {
    if (ev.kind === 'error') errors.push(ev.code);
    else {
      const result = safeDecode(adapter, ev.frame, { receivedAt: Date.now() });
      if (!result.ok) errors.push(result.error.code);
      else streams.push(...result.readings.map((r) => r.stream));
    }
  }
  return { streams, errors };
}

describe('simulator frames', () => {
  it.each(adapters)('%s: good frames decode to the streams the simulator counts', (name) => {
    const rnd = seededRandom(7);
    for (let seq = 0; seq < 200; seq++) {
      const frame = goodFrame(name, seq, rnd);
      const { streams, errors } = run(name, frame.bytes);
      expect(errors, frame.bytes.toString('latin1')).toEqual([]);
      expect(streams).toEqual(frame.streams);
    }
  });

  it.each(adapters)('%s: each fault gives the error code the simulator expects', (name) => {
    const rnd = seededRandom(11);
    for (const kind of ['checksum', 'truncated', 'device-error'] as ErrorFaultKind[]) {
      for (let seq = 0; seq < 50; seq++) {
        const fault = faultFrame(name, kind, seq, rnd);
        if (fault === null) {
          expect(FAULT_CODES[name][kind]).toBeUndefined();
          break;
        }
        const { streams, errors } = run(name, fault.bytes);
        expect(errors, fault.bytes.toString('latin1')).toEqual([fault.code]);
        expect(streams).toEqual(fault.trailing.flatMap((t) => t.streams));
      }
    }
  });
});
