/**
 * Site profiles: which simulated instruments exist, on which transport, at what rate.
 */
import type { PolledAdapter, SimAdapter } from './frames.ts';

export type ProfileName = 'small' | 'observatory' | 'large';
export const PROFILES: readonly ProfileName[] = ['small', 'observatory', 'large'];

export type PushTransport = 'serial' | 'udp' | 'mqtt';

export interface PushInstrumentSpec {
  name: string;
  transport: PushTransport;
  adapter: SimAdapter;
  /** Frames per second. */
  rate: number;
}

export interface PolledInstrumentSpec {
  name: string;
  adapter: PolledAdapter;
  transport: 'tcp' | 'serial';
  /** The daemon's poll interval (the adapter's minimum is 1000 ms). */
  intervalMs: number;
}

export interface Profile {
  name: ProfileName;
  push: PushInstrumentSpec[];
  polled: PolledInstrumentSpec[];
  /** Probability that a free-running frame is replaced by a faulted one (with --faults). */
  faultProbability: number;
  /** Probability for a polled reply. */
  polledFaultProbability: number;
}

const id = (prefix: string, i: number, width = 3): string => `${prefix}-${String(i + 1).padStart(width, '0')}`;

function many(count: number, prefix: string, transport: PushTransport, adapter: SimAdapter, rate: number): PushInstrumentSpec[] {
  return Array.from({ length: count }, (_, i) => ({ name: id(prefix, i, count >= 1000 ? 4 : 3), transport, adapter, rate }));
}

const polled: PolledInstrumentSpec[] = [
  { name: 'sqm', adapter: 'unihedron-sqm', transport: 'tcp', intervalMs: 1000 },
  { name: 'ups', adapter: 'nut-upsd', transport: 'tcp', intervalMs: 1000 },
  // Serial consoles that speak only when asked: wake-up + LOOP 1 (Davis), poll + host ACK (Boltwood).
  { name: 'vantage', adapter: 'davis-vantage', transport: 'serial', intervalMs: 2000 },
  { name: 'cloud', adapter: 'boltwood-cloud', transport: 'serial', intervalMs: 1000 },
];

export function profile(name: ProfileName): Profile {
  switch (name) {
    case 'small':
      // 15 instruments, ≈ 24 frames/s (4 of them polled by the daemon every 1–2 s).
      return {
        name,
        push: [
          { name: 'gps', transport: 'serial', adapter: 'nmea0183', rate: 3 },
          { name: 'windsonic', transport: 'serial', adapter: 'gill-windsonic', rate: 2 },
          { name: 'wxt', transport: 'serial', adapter: 'vaisala-wxt', rate: 1 },
          { name: 'lightning', transport: 'serial', adapter: 'boltek-ld250', rate: 2 },
          ...many(2, 'ld250', 'udp', 'boltek-ld250', 2),
          ...many(1, 'mast-wind', 'udp', 'gill-windsonic', 2),
          { name: 'dome-gps', transport: 'mqtt', adapter: 'nmea0183', rate: 3 },
          { name: 'roof-lightning', transport: 'mqtt', adapter: 'boltek-ld250', rate: 3 },
          { name: 'obs-ctl', transport: 'mqtt', adapter: 'json-lines', rate: 1 },
          { name: 'logger', transport: 'serial', adapter: 'csv', rate: 1 },
        ],
        polled,
        faultProbability: 0.05,
        polledFaultProbability: 0.15,
      };
    case 'observatory':
      // ≈ 6,000 frames/s over ≈ 200 streams: 150 UDP anemometers, 20 MQTT detectors, 4 serial.
      return {
        name,
        push: [
          { name: 'gps', transport: 'serial', adapter: 'nmea0183', rate: 20 },
          { name: 'windsonic', transport: 'serial', adapter: 'gill-windsonic', rate: 20 },
          { name: 'wxt', transport: 'serial', adapter: 'vaisala-wxt', rate: 10 },
          { name: 'lightning', transport: 'serial', adapter: 'boltek-ld250', rate: 20 },
          { name: 'logger', transport: 'serial', adapter: 'csv', rate: 2 },
          { name: 'obs-ctl', transport: 'mqtt', adapter: 'json-lines', rate: 10 },
          ...many(150, 'wind', 'udp', 'gill-windsonic', 38),
          ...many(20, 'det', 'mqtt', 'boltek-ld250', 10),
        ],
        polled,
        faultProbability: 0.002,
        polledFaultProbability: 0.1,
      };
    case 'large':
      // ≈ 30,000 frames/s over ≈ 1,200 streams, mostly UDP.
      return {
        name,
        push: [
          { name: 'gps', transport: 'serial', adapter: 'nmea0183', rate: 50 },
          { name: 'windsonic', transport: 'serial', adapter: 'gill-windsonic', rate: 50 },
          { name: 'wxt', transport: 'serial', adapter: 'vaisala-wxt', rate: 20 },
          { name: 'lightning', transport: 'serial', adapter: 'boltek-ld250', rate: 50 },
          { name: 'logger', transport: 'serial', adapter: 'csv', rate: 2 },
          { name: 'obs-ctl', transport: 'mqtt', adapter: 'json-lines', rate: 20 },
          ...many(1150, 'wind', 'udp', 'gill-windsonic', 25),
          ...many(40, 'det', 'mqtt', 'boltek-ld250', 20),
        ],
        polled,
        faultProbability: 0.001,
        polledFaultProbability: 0.1,
      };
  }
}

/** Nominal frames per second of a profile (polled instruments at their poll interval). */
export function nominalRate(p: Profile, rateScale = 1): number {
  return p.push.reduce((sum, i) => sum + i.rate * rateScale, 0) + p.polled.reduce((sum, i) => sum + 1000 / i.intervalMs, 0);
}
