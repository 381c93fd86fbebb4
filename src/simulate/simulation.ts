/**
 * The site simulator as a library: `startSimulation()` sets up the instruments' transports
 * (socat pairs, UDP senders, an MQTT publisher, TCP servers), returns the `inputs` configuration
 * a daemon needs to read them, drives paced traffic (timer-driven batches), injects and counts
 * faults, and `stop()` returns what was sent, per transport, stream, adapter and fault kind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FAULT_CODES,
  faultFrame,
  goodFrame,
  seededRandom,
  SIM_ADAPTER_OPTIONS,
  type ErrorFaultKind,
  type FaultKind,
  type GoodFrame,
  type Random,
  type SimAdapter,
} from './frames.ts';
import { profile as loadProfile, type Profile, type ProfileName, type PushInstrumentSpec, type PushTransport } from './profiles.ts';
import { findExecutable, freeUdpPort, MqttPublisher, parentDeathGuard, PolledSerialInstrument, PolledTcpInstrument, SerialLink, socatMissing, UdpSender } from './transports.ts';

export type Transport = PushTransport | 'tcp';

export interface SimulationOptions {
  profile: ProfileName;
  faults?: boolean;
  /** Stops traffic by itself after this long (stop() still returns the report). */
  durationMs?: number;
  /** MQTT broker; without it the profile's MQTT instruments are left out. */
  mqttUrl?: string | null;
  /** First UDP port for the daemon's UDP inputs (one per adapter: port, port+1, …); default: free ports. */
  udpPort?: number;
  /** Multiplies every free-running instrument's rate (e.g. 0.5 on a small machine). */
  rateScale?: number;
  seed?: number;
  /** Don't start traffic until begin() (so a daemon can be started on the config first). */
  holdTraffic?: boolean;
  /** Batch period of the pacing timer. */
  tickMs?: number;
  /**
   * With faults: a serial device vanishes for this long; once it reappears the simulator writes
   * again when the daemon has reopened it (seen in /proc), or after `reappearHoldMs` where that
   * cannot be seen.
   */
  vanishMs?: number;
  reappearHoldMs?: number;
  /** Where the simulator says what it could not do as asked (e.g. no parent-death guard for socat); default stderr. */
  warn?: (line: string) => void;
}

export interface TransportReport {
  instruments: number;
  /** Frames the transport accepted (write done, datagram sent, PUBACK, reply written). */
  frames: number;
  goodFrames: number;
  faultFrames: number;
  /** Sends that failed (device gone, socket error, no PUBACK). */
  failures: number;
  msgPerSecond: number;
}

export interface SimulationReport {
  profile: ProfileName;
  faults: boolean;
  rateScale: number;
  /** Traffic time, from begin() to the end of traffic. */
  durationMs: number;
  nominalMsgPerSecond: number;
  msgPerSecond: number;
  frames: number;
  transports: Record<Transport, TransportReport>;
  /** Records each stream (`instrument/suffix`) should have in the daemon: one per good reading sent. */
  streams: Record<string, number>;
  /** Every fault injected, by kind and adapter. */
  injected: Record<FaultKind, Record<string, number>>;
  /** Decode/framing errors the daemon should count, by adapter and code (and by instrument). */
  expectedDecodeErrors: Record<string, Record<string, number>>;
  expectedDecodeErrorsByInstrument: Record<string, Record<string, number>>;
  /** Free-running ticks that fell behind schedule by more than one tick (the machine could not keep up). */
  lateTicks: number;
  /** Host-to-instrument acknowledgements heard by polled instruments whose protocol has them (Boltwood). */
  hostReplies: Record<string, { ack: number; nak: number }>;
  /**
   * Sends (and device reappearances) still unsettled STOP_WAIT_MS after stop(): their frames are
   * in neither `frames` nor `failures`. 0 unless a transport hung.
   */
  unsettledAtStop: number;
}

export interface Simulation {
  /** The `inputs:` section (array of input configs) for a daemon reading this simulation. */
  readonly inputsConfig: Array<Record<string, unknown>>;
  /** Input names this simulation configured (to pick its counters out of the daemon status). */
  readonly inputNames: string[];
  readonly runId: string;
  /** Starts traffic (when started with holdTraffic). */
  begin(): void;
  /** Resolves when traffic ended (durationMs elapsed, or stop()). */
  readonly finished: Promise<void>;
  /** Stops traffic, waits for every in-flight send, closes everything, returns the counts. */
  stop(): Promise<SimulationReport>;
  /** Live counters. */
  report(): SimulationReport;
}

interface PushInstrument extends PushInstrumentSpec {
  seq: number;
  credit: number;
  silentUntil: number;
  send(bytes: Buffer): Promise<boolean>;
  /** Serial only. */
  link?: SerialLink;
  paused: boolean;
}

/** How long stop() waits for sends in flight and devices reappearing (see unsettledAtStop). */
const STOP_WAIT_MS = 30_000;
/** Longest the simulator waits for the daemon to reopen a serial device that reappeared, ms. */
const REOPEN_WAIT_MAX_MS = 30_000;
/** After the daemon reopened it: time for its serial input to set the port up before frames come, ms. */
const REOPEN_SETTLE_MS = 300;
const TRANSPORTS: Transport[] = ['serial', 'udp', 'mqtt', 'tcp'];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const bump = (map: Record<string, number>, key: string, n = 1): void => {
  map[key] = (map[key] ?? 0) + n;
};
const bump2 = (map: Record<string, Record<string, number>>, a: string, b: string): void => {
  bump((map[a] ??= {}), b);
};

const optionsOf = (adapter: SimAdapter): { adapterOptions?: Record<string, unknown> } =>
  SIM_ADAPTER_OPTIONS[adapter] === undefined ? {} : { adapterOptions: structuredClone(SIM_ADAPTER_OPTIONS[adapter]) };

/** MQTT carries one frame per message, without the serial line terminator. */
function mqttPayload(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}

/** The missing parent-death guard is said once per process, not once per simulation. */
let guardNoted = false;

/**
 * Opens every transport of the profile and returns the running simulation (traffic starts at once,
 * or at begin() with `holdTraffic`). Throws SkyhaulError SKY_ERR_TRANSPORT_UNAVAILABLE when the
 * profile has serial instruments and socat is not installed (nothing is opened), and whatever a
 * transport throws (an MQTT broker that refuses, a port in use) after closing what was opened.
 */
export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  const prof: Profile = loadProfile(options.profile);
  const faults = options.faults === true;
  const rateScale = options.rateScale ?? 1;
  const tickMs = options.tickMs ?? 50;
  const rnd: Random = seededRandom(options.seed ?? 1);
  const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const mqttUrl = options.mqttUrl ?? null;
  const vanishMs = options.vanishMs ?? 2500;
  const reappearHoldMs = options.reappearHoldMs ?? 2000;

  const specs = prof.push.filter((s) => s.transport !== 'mqtt' || mqttUrl !== null);
  const warn = options.warn ?? ((line: string) => void process.stderr.write(`${line}\n`));
  // Serial instruments need socat: refuse before anything is opened, with how to install it.
  if (specs.some((s) => s.transport === 'serial') || prof.polled.some((p) => p.transport === 'serial')) {
    if (findExecutable('socat') === null) throw socatMissing();
    const { note } = parentDeathGuard();
    if (note !== null && !guardNoted) warn(`simulator: ${note}`);
    guardNoted = true;
  }
  const dir = mkdtempSync(join(tmpdir(), 'skyhaul-sim-'));

  // Counters.
  const transports = Object.fromEntries(
    TRANSPORTS.map((t): [Transport, TransportReport] => [t, { instruments: 0, frames: 0, goodFrames: 0, faultFrames: 0, failures: 0, msgPerSecond: 0 }]),
  ) as Record<Transport, TransportReport>;
  const streams: Record<string, number> = {};
  const injected = { checksum: {}, truncated: {}, 'device-error': {}, burst: {}, silence: {}, 'usb-vanish': {} } as Record<FaultKind, Record<string, number>>;
  const expectedDecodeErrors: Record<string, Record<string, number>> = {};
  const expectedDecodeErrorsByInstrument: Record<string, Record<string, number>> = {};
  const hostReplies: Record<string, { ack: number; nak: number }> = {};
  let lateTicks = 0;
  let unsettledAtStop = 0;
  let beganAt: number | null = null;
  let endedAt: number | null = null;
  let running = false;
  const inFlight = new Set<Promise<unknown>>();

  const countGood = (transport: Transport, instrument: string, frame: GoodFrame): void => {
    transports[transport].goodFrames += 1;
    for (const s of frame.streams) bump(streams, `${instrument}/${s}`);
  };

  const closers: Array<() => Promise<void>> = [];
  const inputsConfig: Array<Record<string, unknown>> = [];
  const instruments: PushInstrument[] = [];
  const backoff = { initial: '200ms', max: '1s' };

  try {
    // Serial: one socat pair per instrument.
    for (const spec of specs.filter((s) => s.transport === 'serial')) {
      const link = new SerialLink(join(dir, `${spec.name}.device`), join(dir, `${spec.name}.instrument`));
      await link.appear();
      closers.push(() => link.vanish());
      instruments.push({ ...spec, seq: 0, credit: 0, silentUntil: 0, paused: false, link, send: (bytes) => link.write(bytes) });
      inputsConfig.push({ type: 'serial', name: spec.name, path: link.devicePath, baudRate: 115200, adapter: spec.adapter, ...optionsOf(spec.adapter), backoff: { ...backoff } });
    }

    // UDP: one daemon input per adapter; one sender socket per instrument, mapped by ip:port.
    const udpAdapters = [...new Set(specs.filter((s) => s.transport === 'udp').map((s) => s.adapter))];
    for (const [index, adapter] of udpAdapters.entries()) {
      const port = options.udpPort !== undefined ? options.udpPort + index : await freeUdpPort();
      const senders: Record<string, string> = {};
      for (const spec of specs.filter((s) => s.transport === 'udp' && s.adapter === adapter)) {
        const sender = await UdpSender.open();
        closers.push(() => sender.close());
        senders[`127.0.0.1:${sender.localPort}`] = spec.name;
        instruments.push({ ...spec, seq: 0, credit: 0, silentUntil: 0, paused: false, send: (bytes) => sender.send(bytes, port) });
      }
      inputsConfig.push({ type: 'udp', name: `udp-${adapter}`, bind: '127.0.0.1', port, adapter, ...optionsOf(adapter), receiveBuffer: '16MiB', senders, onlyListedSenders: true });
    }

    // MQTT: one publisher; topic skyhaul-sim/<run>/<adapter>/<instrument>.
    const mqttSpecs = specs.filter((s) => s.transport === 'mqtt');
    if (mqttSpecs.length > 0 && mqttUrl !== null) {
      const publisher = await MqttPublisher.open(mqttUrl, `skyhaul-sim-pub-${runId}`);
      closers.push(() => publisher.close());
      const adaptersUsed = [...new Set(mqttSpecs.map((s) => s.adapter))];
      for (const spec of mqttSpecs) {
        const topic = `skyhaul-sim/${runId}/${spec.adapter}/${spec.name}`;
        instruments.push({ ...spec, seq: 0, credit: 0, silentUntil: 0, paused: false, send: (bytes) => publisher.publish(topic, mqttPayload(bytes)) });
      }
      inputsConfig.push({
        type: 'mqtt',
        name: 'mqtt-sim',
        url: mqttUrl,
        clientId: `skyhaul-sim-${runId}`,
        subscriptions: adaptersUsed.map((adapter) => ({ topic: `skyhaul-sim/${runId}/${adapter}/+`, instrument: '{1}', adapter, ...optionsOf(adapter) })),
      });
    }

    // Polled instruments: TCP servers and serial consoles that answer the daemon's polls.
    for (const spec of prof.polled) {
      const reply = (): Buffer | null => {
        if (!running) return null;
        const adapter: SimAdapter = spec.adapter;
        const kind: ErrorFaultKind = adapter === 'nut-upsd' ? 'device-error' : adapter === 'unihedron-sqm' ? 'truncated' : 'checksum';
        transports[spec.transport].frames += 1;
        if (faults && rnd() < prof.polledFaultProbability) {
          const fault = faultFrame(adapter, kind, 0, rnd);
          if (fault !== null) {
            transports[spec.transport].faultFrames += 1;
            bump2(injected, kind, adapter);
            bump2(expectedDecodeErrors, adapter, fault.code);
            bump2(expectedDecodeErrorsByInstrument, spec.name, fault.code);
            return fault.bytes;
          }
        }
        const frame = goodFrame(adapter, 0, rnd);
        countGood(spec.transport, spec.name, frame);
        return frame.bytes;
      };
      transports[spec.transport].instruments += 1;
      const adapterOptions = spec.adapter === 'nut-upsd' ? { ups: 'ups', intervalMs: spec.intervalMs } : { intervalMs: spec.intervalMs };
      if (spec.transport === 'tcp') {
        const server = await PolledTcpInstrument.open(spec.adapter === 'nut-upsd' ? /LIST VAR (\S+)\n/ : /[ru]x/, reply);
        closers.push(() => server.close());
        inputsConfig.push({ type: 'tcp', name: spec.name, host: '127.0.0.1', port: server.port, adapter: spec.adapter, adapterOptions, backoff: { ...backoff } });
        continue;
      }
      const replies = (hostReplies[spec.name] = { ack: 0, nak: 0 });
      const answer = (request: string): Buffer | null => {
        switch (request) {
          case 'wake':
            return Buffer.from('\n\r');
          case 'loop': {
            // The console ACKs the command (0x06), then sends the packet.
            const packet = reply();
            return packet === null ? null : Buffer.concat([Buffer.from([0x06]), packet]);
          }
          case 'poll':
            return reply();
          case 'ack':
          case 'nak':
            replies[request] += 1;
            return null;
          default:
            return null;
        }
      };
      const requests: Record<string, Buffer> =
        spec.adapter === 'davis-vantage'
          ? { wake: Buffer.from('\n'), loop: Buffer.from('LOOP 1\n') }
          : { poll: Buffer.from([0x01]), ack: Buffer.from('\x02a\n', 'latin1'), nak: Buffer.from('\x02n\n', 'latin1') };
      const instrument = await PolledSerialInstrument.open(join(dir, `${spec.name}.device`), join(dir, `${spec.name}.instrument`), requests, answer);
      closers.push(() => instrument.close());
      inputsConfig.push({ type: 'serial', name: spec.name, path: instrument.devicePath, baudRate: 19200, adapter: spec.adapter, adapterOptions, backoff: { ...backoff } });
    }
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  for (const i of instruments) transports[i.transport].instruments += 1;

  // ---- traffic
  const track = (p: Promise<unknown>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const emit = (inst: PushInstrument, now: number): void => {
    const seq = inst.seq++;
    const t = transports[inst.transport];
    const kinds = (Object.keys(FAULT_CODES[inst.adapter]) as ErrorFaultKind[]).filter((k) => k !== 'device-error');
    if (faults && kinds.length > 0 && rnd() < prof.faultProbability) {
      const kind = kinds[Math.floor(rnd() * kinds.length)]!;
      const fault = faultFrame(inst.adapter, kind, seq, rnd, now);
      if (fault !== null) {
        track(
          inst.send(fault.bytes).then((ok) => {
            if (!ok) return void (t.failures += 1);
            t.frames += 1;
            t.faultFrames += 1;
            bump2(injected, kind, inst.adapter);
            bump2(expectedDecodeErrors, inst.adapter, fault.code);
            bump2(expectedDecodeErrorsByInstrument, inst.name, fault.code);
            for (const g of fault.trailing) {
              t.frames += 1;
              countGood(inst.transport, inst.name, g);
            }
          }),
        );
        return;
      }
    }
    const frame = goodFrame(inst.adapter, seq, rnd, now);
    track(
      inst.send(frame.bytes).then((ok) => {
        if (!ok) return void (t.failures += 1);
        t.frames += 1;
        countGood(inst.transport, inst.name, frame);
      }),
    );
  };

  let lastTick = 0;
  const tick = (): void => {
    if (!running) return;
    const now = Date.now();
    const dt = (now - lastTick) / 1000;
    if (now - lastTick > tickMs * 2) lateTicks += 1;
    lastTick = now;
    for (const inst of instruments) {
      inst.credit += inst.rate * rateScale * Math.min(dt, 1);
      const n = Math.floor(inst.credit);
      inst.credit -= n;
      if (inst.paused || now < inst.silentUntil) continue;
      for (let k = 0; k < n; k++) emit(inst, now);
    }
  };

  // ---- fault events (with --faults): bursts, silences, a vanishing USB device.
  const eventTimers: NodeJS.Timeout[] = [];
  const vanishing = new Set<Promise<void>>();
  const scheduleEvents = (): void => {
    const pushInstruments = instruments.filter((i) => i.transport !== 'serial');
    const serial = instruments.filter((i) => i.link !== undefined);
    let burstIndex = 0;
    eventTimers.push(
      setInterval(() => {
        if (!running || pushInstruments.length === 0) return;
        const inst = pushInstruments[burstIndex++ % pushInstruments.length]!;
        if (inst.paused || Date.now() < inst.silentUntil) return;
        bump2(injected, 'burst', inst.adapter);
        const now = Date.now();
        for (let k = 0; k < 20; k++) emit(inst, now);
      }, 3000),
    );
    let silenceIndex = 0;
    const silence = (): void => {
      if (!running || pushInstruments.length === 0) return;
      const inst = pushInstruments[(silenceIndex++ * 7 + 1) % pushInstruments.length]!;
      inst.silentUntil = Date.now() + 3000;
      bump2(injected, 'silence', inst.adapter);
    };
    eventTimers.push(setTimeout(silence, 4000), setInterval(silence, 15_000));
    let vanishIndex = 0;
    const vanish = (): void => {
      if (!running || serial.length === 0) return;
      const inst = serial[vanishIndex++ % serial.length]!;
      const link = inst.link!;
      if (inst.paused) return;
      const p = (async () => {
        inst.paused = true;
        // The device goes quiet first so nothing is in the pty when it disappears.
        await sleep(300);
        bump2(injected, 'usb-vanish', inst.adapter);
        await link.vanish();
        await sleep(vanishMs);
        if (!stopping) {
          await link.appear();
          // Write again once the daemon's serial input (backoff ≤ 1 s) has reopened the device:
          // what a line carries before its reader is back is lost. reappearHoldMs where that
          // cannot be seen (no /proc), and never longer than 30 s.
          if (!(await link.waitOpenedByPeer(REOPEN_WAIT_MAX_MS))) await sleep(reappearHoldMs);
          // The input configures the port after opening it.
          await sleep(REOPEN_SETTLE_MS);
        }
        inst.credit = 0;
        inst.paused = false;
      })().catch(() => {
        inst.paused = false;
      });
      vanishing.add(p);
      void p.finally(() => vanishing.delete(p));
    };
    eventTimers.push(setTimeout(vanish, 2000), setInterval(vanish, 15_000));
  };

  let stopping = false;
  let tickTimer: NodeJS.Timeout | null = null;
  let durationTimer: NodeJS.Timeout | null = null;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));

  const endTraffic = (): void => {
    if (running) {
      running = false;
      endedAt = Date.now();
      if (tickTimer !== null) clearInterval(tickTimer);
      if (durationTimer !== null) clearTimeout(durationTimer);
      for (const t of eventTimers) clearTimeout(t);
    }
    // Also when traffic never began: whoever awaits `finished` is released by stop().
    resolveFinished();
  };

  const begin = (): void => {
    if (running || beganAt !== null || stopping) return;
    running = true;
    beganAt = Date.now();
    lastTick = beganAt;
    tickTimer = setInterval(tick, tickMs);
    if (faults) scheduleEvents();
    if (options.durationMs !== undefined) durationTimer = setTimeout(endTraffic, options.durationMs);
  };

  const report = (): SimulationReport => {
    const elapsed = beganAt === null ? 0 : (endedAt ?? Date.now()) - beganAt;
    let frames = 0;
    for (const t of TRANSPORTS) {
      transports[t].msgPerSecond = elapsed > 0 ? Math.round((transports[t].frames / elapsed) * 10_000) / 10 : 0;
      frames += transports[t].frames;
    }
    return structuredClone({
      profile: prof.name,
      faults,
      rateScale,
      durationMs: elapsed,
      nominalMsgPerSecond: Math.round(
        specs.reduce((sum, s) => sum + s.rate * rateScale, 0) + prof.polled.reduce((sum, p) => sum + 1000 / p.intervalMs, 0),
      ),
      msgPerSecond: elapsed > 0 ? Math.round((frames / elapsed) * 10_000) / 10 : 0,
      frames,
      transports,
      streams,
      injected,
      expectedDecodeErrors,
      expectedDecodeErrorsByInstrument,
      lateTicks,
      hostReplies,
      unsettledAtStop,
    });
  };

  let stopped: Promise<SimulationReport> | null = null;
  const stop = (): Promise<SimulationReport> =>
    (stopped ??= (async () => {
      stopping = true;
      endTraffic();
      // Bounded: a transport that hangs must not hang whoever stops the simulation.
      const pending = [...vanishing, ...inFlight];
      let timer: NodeJS.Timeout | undefined;
      const settledInTime = await Promise.race([
        Promise.all(pending).then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STOP_WAIT_MS))),
      ]);
      clearTimeout(timer);
      if (!settledInTime) {
        unsettledAtStop = vanishing.size + inFlight.size;
        warn(`simulator: ${inFlight.size} sends and ${vanishing.size} device reappearances still unsettled ${STOP_WAIT_MS} ms after stop; reported as unsettledAtStop`);
      }
      const final = report();
      for (const close of closers.reverse()) await close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      return final;
    })());

  const simulation: Simulation = {
    inputsConfig,
    inputNames: inputsConfig.map((c) => c.name as string),
    runId,
    begin,
    finished,
    stop,
    report,
  };
  if (options.holdTraffic !== true) begin();
  return simulation;
}
