/**
 * Frame generators for the site simulator: realistic frames, with correct checksums, for the
 * adapters the simulator drives, and the faulted variants it injects. Pure (the caller passes a
 * sequence number and a random source), so the simulator and its tests agree on what decodes.
 */
import { encodeDataFrame } from '../../firmware-adapters/boltwood-cloud/adapter.ts';
import { hex2, xor8 } from '../../firmware-adapters/checksum.ts';
import { buildLoopPacket } from '../../firmware-adapters/davis-vantage/adapter.ts';

/** Adapters of instruments that speak only when polled (their frames are replies). */
export type PolledAdapter = 'unihedron-sqm' | 'nut-upsd' | 'davis-vantage' | 'boltwood-cloud';
/** Adapters the simulator generates frames for. */
export type SimAdapter = 'nmea0183' | 'boltek-ld250' | 'gill-windsonic' | 'vaisala-wxt' | 'json-lines' | 'csv' | PolledAdapter;

/**
 * `adapterOptions` the simulated instruments need: the generic adapters are configured per site
 * (here as in their sample.yaml: an observatory controller's JSON lines, a data logger's CSV).
 */
export const SIM_ADAPTER_OPTIONS: Partial<Record<SimAdapter, Record<string, unknown>>> = {
  'json-lines': { streamField: 'device', streams: ['dome', 'mount'], timeField: 'ts', timeFormat: 'iso8601', units: { temp: 'Cel', 'dome.azimuth': 'deg', 'mount.ra': 'deg', 'mount.dec': 'deg' } },
  csv: {
    stream: 'met',
    header: true,
    columns: [
      { name: 'time', type: 'string' },
      { name: 'air_temperature', type: 'number', unit: 'Cel' },
      { name: 'relative_humidity', type: 'number', unit: '%' },
      { name: 'pressure', type: 'number', unit: 'hPa' },
      { name: 'rain', type: 'number', unit: 'mm' },
      { name: 'heater_on', type: 'boolean' },
      { name: 'status', type: 'string' },
    ],
    timeColumn: 'time',
    timeFormat: 'iso8601',
  },
};

/** Fault kinds that make the daemon count a decode (or framing) error. */
export type ErrorFaultKind = 'checksum' | 'truncated' | 'device-error';
/** Every fault kind the simulator injects and counts. */
export type FaultKind = ErrorFaultKind | 'burst' | 'silence' | 'usb-vanish';

export interface GoodFrame {
  bytes: Buffer;
  /** Stream suffixes of the readings this frame decodes to (one record each). */
  streams: string[];
}

export interface FaultFrame {
  bytes: Buffer;
  kind: ErrorFaultKind;
  /** The error code the daemon reports for it (decode or framing). */
  code: string;
  /** Good frames carried in the same write (after a cut frame, so it is framed at once). */
  trailing: GoodFrame[];
}

export type Random = () => number;

/** A small deterministic PRNG (mulberry32), so runs are reproducible from a seed. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number, width: number): string => String(Math.trunc(n)).padStart(width, '0');
const fixed = (n: number, digits: number, width = 0): string => n.toFixed(digits).padStart(width, '0');

/** `$body*hh\r\n`, hh = XOR of the body (NMEA 0183, Boltek). */
export function nmeaLine(body: string): string {
  return `$${body}*${hex2(xor8(Buffer.from(body, 'latin1')))}\r\n`;
}

function utcParts(at: number): { hms: string; dmy: string; d: string; mo: string; y: string } {
  const t = new Date(at);
  const hms = `${pad(t.getUTCHours(), 2)}${pad(t.getUTCMinutes(), 2)}${pad(t.getUTCSeconds(), 2)}.${pad(t.getUTCMilliseconds(), 3)}`;
  const d = pad(t.getUTCDate(), 2);
  const mo = pad(t.getUTCMonth() + 1, 2);
  const y = String(t.getUTCFullYear());
  return { hms, dmy: `${d}${mo}${y.slice(2)}`, d, mo, y };
}

function nmeaBody(seq: number, rnd: Random, at: number): { body: string; stream: string } {
  const { hms, dmy, d, mo, y } = utcParts(at);
  const lat = `${pad(37 + 0, 2)}${fixed(47 + rnd() * 0.01, 4, 7)}`;
  const lon = `${pad(175, 3)}${fixed(18 + rnd() * 0.01, 4, 7)}`;
  switch (seq % 3) {
    case 0:
      return { body: `GPRMC,${hms},A,${lat},S,${lon},E,${fixed(rnd() * 2, 2)},${fixed(rnd() * 359, 2)},${dmy},,,A`, stream: 'rmc' };
    case 1:
      return { body: `GPGGA,${hms},${lat},S,${lon},E,1,${8 + Math.floor(rnd() * 4)},0.9,${fixed(2400 + rnd() * 5, 1)},M,19.6,M,,`, stream: 'gga' };
    default:
      return { body: `GPZDA,${hms},${d},${mo},${y},00,00`, stream: 'zda' };
  }
}

function boltekBody(seq: number, rnd: Random): { body: string; stream: string } {
  if (seq % 2 === 0) return { body: `WIMST,${Math.floor(rnd() * 20)},${Math.floor(rnd() * 80)},0,0,000.0`, stream: 'status' };
  const corrected = 5 + Math.floor(rnd() * 250);
  return { body: `WIMLI,${corrected},${corrected + Math.floor(rnd() * 10)},${fixed(rnd() * 359.9, 1)}`, stream: 'strike' };
}

function gillBody(rnd: Random): string {
  return `Q,${pad(rnd() * 359, 3)},${fixed(rnd() * 15, 2, 6)},M,00,`;
}

function gillFrame(body: string, checksum = xor8(Buffer.from(body, 'latin1'))): Buffer {
  return Buffer.concat([Buffer.from([0x02]), Buffer.from(body, 'latin1'), Buffer.from([0x03]), Buffer.from(`${hex2(checksum)}\r\n`, 'latin1')]);
}

function wxtLine(seq: number, rnd: Random): { line: string; stream: string } {
  if (seq % 2 === 0) return { line: `0R1,Dn=${pad(rnd() * 359, 3)}D,Dm=${pad(rnd() * 359, 3)}D,Dx=${pad(rnd() * 359, 3)}D,Sn=${fixed(rnd() * 2, 1)}M,Sm=${fixed(2 + rnd() * 3, 1)}M,Sx=${fixed(5 + rnd() * 5, 1)}M`, stream: 'wind' };
  return { line: `0R2,Ta=${fixed(5 + rnd() * 10, 1)}C,Ua=${fixed(20 + rnd() * 40, 1)}P,Pa=${fixed(740 + rnd() * 5, 1)}H`, stream: 'ptu' };
}

/** An SQM `rx` reply. */
export function sqmReply(rnd: Random): GoodFrame {
  const mpsas = 19 + rnd() * 3;
  return {
    bytes: Buffer.from(`r, ${fixed(mpsas, 2)}m,${pad(5000 + rnd() * 2000, 10)}Hz,0000000000c,0000000.000s, ${fixed(5 + rnd() * 10, 1, 5)}C\r\n`, 'latin1'),
    streams: ['reading'],
  };
}

/** A upsd `LIST VAR <ups>` reply block. */
export function upsdReply(ups: string, rnd: Random): GoodFrame {
  const vars: Array<[string, string]> = [
    ['battery.charge', String(90 + Math.floor(rnd() * 11))],
    ['battery.runtime', String(2000 + Math.floor(rnd() * 400))],
    ['battery.voltage', fixed(27 + rnd() * 0.5, 1)],
    ['input.voltage', fixed(228 + rnd() * 6, 1)],
    ['ups.load', String(15 + Math.floor(rnd() * 5))],
    ['ups.status', 'OL'],
  ];
  const text = [`BEGIN LIST VAR ${ups}`, ...vars.map(([k, v]) => `VAR ${ups} ${k} "${v}"`), `END LIST VAR ${ups}`].join('\n');
  return { bytes: Buffer.from(`${text}\n`, 'latin1'), streams: ['vars'] };
}

/** A Davis Vantage LOOP packet (the console's answer to `LOOP 1`, after its ACK byte). */
export function davisLoop(rnd: Random): GoodFrame {
  const packet = buildLoopPacket((p) => {
    p.writeUInt16LE(29_800 + Math.floor(rnd() * 300), 7); // barometer, inHg/1000
    p.writeInt16LE(680 + Math.floor(rnd() * 40), 9); // inside °F/10
    p.writeUInt8(30 + Math.floor(rnd() * 10), 11);
    p.writeInt16LE(400 + Math.floor(rnd() * 200), 12); // outside °F/10
    p.writeUInt8(Math.floor(rnd() * 30), 14); // wind mph
    p.writeUInt8(Math.floor(rnd() * 20), 15);
    p.writeUInt16LE(1 + Math.floor(rnd() * 360), 16);
    p.fill(0xff, 18, 33); // no extra/soil/leaf sensors
    p.writeUInt8(10 + Math.floor(rnd() * 40), 33);
    p.fill(0xff, 34, 41);
    p.writeUInt16LE(0, 41);
    p.writeUInt8(0xff, 43);
    p.writeUInt16LE(32767, 44);
    p.writeUInt16LE(0xffff, 48);
    p.fill(0xff, 62, 70);
    p.writeUInt16LE(Math.round((4.7 * 100 * 512) / 300), 87);
    p.writeUInt16LE(612, 91);
    p.writeUInt16LE(1934, 93);
  });
  return { bytes: packet, streams: ['loop'] };
}

/** A Boltwood Cloud Sensor II `D` report (the head's answer to a poll). */
export function boltwoodReport(rnd: Random): GoodFrame {
  const sky = fixed(-30 + rnd() * 20, 1);
  const ambient = fixed(5 + rnd() * 10, 1);
  const humidity = String(20 + Math.floor(rnd() * 40));
  return { bytes: encodeDataFrame(`D 0 1 1 1 0 0 ${sky} ${ambient} ${fixed(rnd() * 20, 1)} N N ${humidity} ${fixed(-5 + rnd() * 5, 1)} ${fixed(10 + rnd() * 10, 1)} 0 -99.9 1 24.0 0.0 `), streams: ['report'] };
}

/** A line from an observatory controller (dome or mount state), as JSON. */
function controllerLine(seq: number, rnd: Random, at: number): { line: string; stream: string } {
  const ts = new Date(at).toISOString();
  if (seq % 2 === 0) {
    return { line: JSON.stringify({ ts, device: 'dome', dome: { azimuth: Math.round(rnd() * 3600) / 10, shutter: 'open', moving: rnd() < 0.1 }, temp: Math.round((2 + rnd() * 8) * 100) / 100 }), stream: 'dome' };
  }
  return { line: JSON.stringify({ ts, device: 'mount', mount: { ra: Math.round(rnd() * 360e5) / 1e5, dec: Math.round((rnd() * 180 - 90) * 1e4) / 1e4, tracking: true }, temp: Math.round((2 + rnd() * 8) * 100) / 100 }), stream: 'mount' };
}

/** A data logger's CSV row (columns as in SIM_ADAPTER_OPTIONS.csv). */
function loggerRow(rnd: Random, at: number): string {
  return `${new Date(at).toISOString()},${fixed(2 + rnd() * 8, 2)},${fixed(40 + rnd() * 50, 1)},${fixed(740 + rnd() * 5, 2)},${fixed(rnd() < 0.9 ? 0 : rnd(), 1)},${rnd() < 0.2 ? 'true' : 'false'},ok`;
}

/** One good frame from a free-running (unpolled) instrument. */
export function goodFrame(adapter: SimAdapter, seq: number, rnd: Random, at = Date.now()): GoodFrame {
  switch (adapter) {
    case 'nmea0183': {
      const { body, stream } = nmeaBody(seq, rnd, at);
      return { bytes: Buffer.from(nmeaLine(body), 'latin1'), streams: [stream] };
    }
    case 'boltek-ld250': {
      const { body, stream } = boltekBody(seq, rnd);
      return { bytes: Buffer.from(nmeaLine(body), 'latin1'), streams: [stream] };
    }
    case 'gill-windsonic':
      return { bytes: gillFrame(gillBody(rnd)), streams: ['wind'] };
    case 'vaisala-wxt': {
      const { line, stream } = wxtLine(seq, rnd);
      return { bytes: Buffer.from(`${line}\r\n`, 'latin1'), streams: [stream] };
    }
    case 'json-lines': {
      const { line, stream } = controllerLine(seq, rnd, at);
      return { bytes: Buffer.from(`${line}\n`, 'utf8'), streams: [stream] };
    }
    case 'csv':
      return { bytes: Buffer.from(`${loggerRow(rnd, at)}\r\n`, 'latin1'), streams: ['met'] };
    case 'unihedron-sqm':
      return sqmReply(rnd);
    case 'nut-upsd':
      return upsdReply('ups', rnd);
    case 'davis-vantage':
      return davisLoop(rnd);
    case 'boltwood-cloud':
      return boltwoodReport(rnd);
  }
}

/** Which error faults an adapter's frames can carry (and the code the daemon reports). */
export const FAULT_CODES: Record<SimAdapter, Partial<Record<ErrorFaultKind, string>>> = {
  nmea0183: { checksum: 'ADAPTER_CHECKSUM', truncated: 'ADAPTER_TRUNCATED' },
  'boltek-ld250': { checksum: 'ADAPTER_CHECKSUM', truncated: 'ADAPTER_TRUNCATED' },
  'gill-windsonic': { checksum: 'ADAPTER_CHECKSUM', truncated: 'FRAMING_TRUNCATED' },
  'vaisala-wxt': { truncated: 'ADAPTER_TRUNCATED' },
  'json-lines': { truncated: 'ADAPTER_TRUNCATED' },
  csv: { truncated: 'ADAPTER_TRUNCATED' },
  'unihedron-sqm': { truncated: 'ADAPTER_TRUNCATED' },
  'nut-upsd': { 'device-error': 'ADAPTER_DEVICE_ERROR' },
  // A LOOP packet's CRC is checked by the framer (it resyncs on the next `LOO`).
  'davis-vantage': { checksum: 'FRAMING_CHECK' },
  'boltwood-cloud': { checksum: 'ADAPTER_CHECKSUM' },
};

/** A faulted frame of the given kind, or null when the adapter has no such fault. */
export function faultFrame(adapter: SimAdapter, kind: ErrorFaultKind, seq: number, rnd: Random, at = Date.now()): FaultFrame | null {
  const code = FAULT_CODES[adapter][kind];
  if (code === undefined) return null;
  const frame = (bytes: string | Buffer, trailing: GoodFrame[] = []): FaultFrame => ({
    bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes,
    kind,
    code,
    trailing,
  });
  switch (adapter) {
    case 'nmea0183':
    case 'boltek-ld250': {
      // WIMLI/WIMST with fields cut: Boltek says TRUNCATED on missing fields only when the checksum is good.
      const { body } = adapter === 'nmea0183' ? nmeaBody(seq, rnd, at) : boltekBody(seq, rnd);
      if (kind === 'checksum') {
        const good = xor8(Buffer.from(body, 'latin1'));
        return frame(`$${body}*${hex2(good ^ 0x5a)}\r\n`);
      }
      // Cut mid-sentence: no checksum left (a line cut short on the wire).
      return frame(`$${body.slice(0, Math.max(6, Math.floor(body.length / 2)))}\r\n`);
    }
    case 'gill-windsonic': {
      const body = gillBody(rnd);
      if (kind === 'checksum') return frame(gillFrame(body, xor8(Buffer.from(body, 'latin1')) ^ 0x21));
      // Cut before ETX: the framer reports it when the next frame's STX arrives, so one follows in the same write.
      const next = goodFrame(adapter, seq + 1, rnd, at);
      return frame(Buffer.concat([Buffer.from([0x02]), Buffer.from(body.slice(0, 7), 'latin1'), next.bytes]), [next]);
    }
    case 'vaisala-wxt':
      return frame('0R2,Ta=8.1C,Ua=40.2P,Pa=741.\r\n');
    case 'json-lines': {
      // The line ends mid-object (the controller restarted while writing).
      const { line } = controllerLine(seq, rnd, at);
      return frame(`${line.slice(0, Math.floor(line.length / 2))}\n`);
    }
    case 'csv':
      return frame(`${loggerRow(rnd, at).split(',').slice(0, 4).join(',')}\r\n`);
    case 'unihedron-sqm':
      return frame(`r, ${fixed(19 + rnd() * 3, 2)}m,${pad(5000 + rnd() * 2000, 10)}Hz\r\n`);
    case 'nut-upsd':
      return frame('ERR DATA-STALE\n');
    case 'davis-vantage': {
      const packet = Buffer.from(davisLoop(rnd).bytes);
      packet[97]! ^= 0x5a;
      return frame(packet);
    }
    case 'boltwood-cloud': {
      const good = boltwoodReport(rnd).bytes;
      // One CRC digit changed (the last hex digit before LF).
      const bad = Buffer.from(good);
      const at = bad.length - 2;
      bad[at] = bad[at] === 0x30 ? 0x31 : 0x30;
      return frame(bad);
    }
  }
}
