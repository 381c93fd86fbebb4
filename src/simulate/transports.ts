/**
 * The simulator's real transports: socat pseudo-terminal pairs (serial, free-running or polled),
 * UDP sender sockets, an MQTT publisher (QoS 1), and TCP servers that play polled instruments
 * (SQM-LE, upsd).
 *
 * Every child process and socket here has its 'error' handled: an instrument that fails is
 * counted or reported, it never takes the process (the demo daemon runs this in-process) down.
 * socat helpers die with the process that started them, even on SIGKILL (parentDeathGuard()).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { access, open, readdir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import type { SerialPort } from 'serialport';
import { SkyhaulError } from '../common/errors.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A socat pair `device` <-> `instrument`. The simulator writes whole frames to the instrument end;
 * `vanish()` kills socat (both ends disappear, as when a USB adapter is unplugged), `appear()`
 * starts a new one on the same paths.
 */
export class SerialLink {
  private socat: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private handle: FileHandle | null = null;
  /** The pid that last reopened the device (waitOpenedByPeer), looked at first next time. */
  private lastPeer: string | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly devicePath: string,
    readonly instrumentPath: string,
  ) {}

  get up(): boolean {
    return this.handle !== null;
  }

  /** Starts socat and opens the instrument end; throws as spawnPtyPair() does (nothing left running). */
  async appear(timeoutMs = 5000): Promise<void> {
    const pair = await spawnPtyPair(this.devicePath, this.instrumentPath, timeoutMs);
    try {
      // Non-blocking: a real instrument transmits at its baud rate whether or not anyone reads.
      // Blocking, a write into a pty whose other end nobody reads (the daemon's serial input
      // backing off) would hold a libuv pool thread forever, and every later write and stop()
      // behind it.
      this.handle = await open(this.instrumentPath, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
    } catch (error) {
      pair.socat.kill('SIGKILL');
      await pair.exited;
      throw error;
    }
    this.socat = pair.socat;
    this.exited = pair.exited;
  }

  /**
   * Writes one frame; false when the link is down, or when the pty's buffer stays full for
   * WRITE_STALL_MS (nobody reads the device end: on a real line those bytes are gone too). A
   * frame the pty took in part is completed, unless it stalls; then its tail is lost, as on a
   * wire, and the write is a failure.
   */
  write(bytes: Buffer): Promise<boolean> {
    const handle = this.handle;
    if (handle === null) return Promise.resolve(false);
    const done = this.writing.then(
      () => writeWithin(handle, bytes, WRITE_STALL_MS),
      () => false,
    );
    this.writing = done.then(
      () => undefined,
      () => undefined,
    );
    return done.catch(() => false);
  }

  /**
   * Waits until a process other than socat and this one has the device end open (the daemon's
   * serial input reopened it after `appear()`), looking through /proc/<pid>/fd; at most
   * `timeoutMs`. Resolves false on timeout, or at once where there is no /proc to look in.
   * Why: frames written before the reader reopened are lost on the line, and a fixed pause for it
   * was too short on a loaded machine (a test then counted those frames as lost by the daemon).
   */
  async waitOpenedByPeer(timeoutMs: number): Promise<boolean> {
    let target: string;
    try {
      target = await realpath(this.devicePath);
    } catch {
      return false;
    }
    const deadline = Date.now() + timeoutMs;
    const exclude = new Set([String(process.pid), String(this.socat?.pid ?? -1)]);
    let scannedAt = -Infinity;
    for (;;) {
      // The reader that had the device open last time is the one expected to reopen it: while that
      // process lives, its descriptors are read every 50 ms and every process's once a second.
      const peer = this.lastPeer;
      let pids: string[];
      if (peer !== null && Date.now() - scannedAt < FULL_SCAN_INTERVAL_MS && (await pathExists(`/proc/${peer}`))) {
        pids = [peer];
      } else {
        scannedAt = Date.now();
        try {
          pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name) && !exclude.has(name));
        } catch {
          return false;
        }
      }
      for (const pid of pids) {
        if (await hasOpen(pid, target)) {
          this.lastPeer = pid;
          return true;
        }
      }
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
  }

  async vanish(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await this.writing;
    await handle?.close().catch(() => undefined);
    if (this.socat !== null && this.socat.exitCode === null) this.socat.kill('SIGTERM');
    await this.exited;
    this.socat = null;
  }
}

/** How often waitOpenedByPeer looks through every process while the last reader still lives. */
const FULL_SCAN_INTERVAL_MS = 1000;

/** Whether process `pid` has `target` open (through /proc/<pid>/fd); false when it cannot be read. */
async function hasOpen(pid: string, target: string): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false; // gone, or not ours to look at
  }
  for (const fd of fds) {
    if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === target) return true;
  }
  return false;
}

async function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** How long a serial write waits for room in a full pty before the frame counts as not sent. */
const WRITE_STALL_MS = 2000;

/** Writes all of `bytes` to a non-blocking fd, waiting for room while EAGAIN lasts at most `stallMs`. */
async function writeWithin(handle: FileHandle, bytes: Buffer, stallMs: number): Promise<boolean> {
  let at = 0;
  let stalledSince: number | null = null;
  while (at < bytes.length) {
    let written = 0;
    try {
      written = (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return false;
    }
    if (written > 0) {
      at += written;
      stalledSince = null;
      continue;
    }
    stalledSince ??= Date.now();
    if (Date.now() - stalledSince > stallMs) return false;
    await sleep(5);
  }
  return true;
}

/**
 * Where `name` is on PATH, as execvp would find it (an executable regular file), or null.
 * `path` defaults to this process's PATH.
 */
export function findExecutable(name: string, path: string = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The simulator's serial instruments need socat; its absence is a clear, typed error, never a crash. */
export function socatMissing(cause?: unknown): SkyhaulError {
  return new SkyhaulError(
    'SKY_ERR_TRANSPORT_UNAVAILABLE',
    "socat is not installed (no 'socat' on PATH): the simulated serial instruments run on socat pseudo-terminal pairs. Install it with: apt-get install socat",
    cause === undefined ? undefined : { cause },
  );
}

/**
 * How helper processes are tied to this process's life. However the simulator's process ends —
 * stop(), SIGTERM, an uncaught exception, or SIGKILL, where no JavaScript runs — its socat helpers
 * must end with it: an orphaned socat keeps its pseudo-terminals and links alive forever.
 *
 * Linux's parent-death signal (prctl PR_SET_PDEATHSIG) does that in the kernel: the helper gets
 * SIGKILL the moment the thread that spawned it exits. util-linux's setpriv (`--pdeathsig`, since
 * 2.33; util-linux is Essential on Debian and present on every mainstream distribution) sets it and
 * then execs the helper, which keeps it (execve clears it only for set-user-ID programs), so the
 * child's pid is socat's own. Two limits, both acceptable here: the signal follows the spawning
 * *thread* (Node spawns from the thread that calls spawn(): the main thread, or a worker whose
 * helpers then end with it), and a parent that dies in the microseconds between fork and prctl
 * is missed.
 *
 * Where setpriv is absent or too old (BusyBox systems, util-linux < 2.33), helpers are started
 * directly and `note` says what is lost: they are still killed on every exit that runs
 * JavaScript (process 'exit'), but not on SIGKILL.
 */
export interface ParentDeathGuard {
  /** Prepended to a helper's command line: `[setpriv, --pdeathsig, KILL, --]`, or empty. */
  prefix: string[];
  /** Why helpers may outlive a SIGKILLed simulator (setpriv missing), or null. */
  note: string | null;
}

let guard: ParentDeathGuard | null = null;

/** The parent-death guard for helpers (probed once per process: setpriv on PATH and its --help listing --pdeathsig). */
export function parentDeathGuard(): ParentDeathGuard {
  if (guard !== null) return guard;
  const setpriv = findExecutable('setpriv');
  // --help, not a trial run: it needs nothing else on PATH and starts nothing.
  const help = setpriv === null ? null : spawnSync(setpriv, ['--help'], { encoding: 'utf8', timeout: 5000 });
  if (setpriv !== null && help !== null && help.error === undefined && help.stdout.includes('--pdeathsig')) {
    guard = { prefix: [setpriv, '--pdeathsig', 'KILL', '--'], note: null };
  } else {
    guard = {
      prefix: [],
      note: `${setpriv === null ? "setpriv (util-linux) is not on PATH" : `${setpriv} has no --pdeathsig (util-linux < 2.33)`}: socat helpers are stopped when the simulator exits, but would outlive it if it were killed with SIGKILL (install util-linux ≥ 2.33 to close that gap)`,
    };
  }
  return guard;
}

/** Live helpers, killed by one 'exit' hook: the last resort where the parent-death signal is not available. */
const helpers = new Set<ChildProcess>();
const killHelpers = (): void => {
  for (const child of helpers) child.kill('SIGKILL');
};

export interface PtyPair {
  socat: ChildProcess;
  /** Resolves when socat has exited (or never started). */
  exited: Promise<void>;
}

/**
 * Starts socat with two linked pseudo-terminals (`devicePath` <-> `instrumentPath`); resolves once
 * both links exist. socat runs under the parent-death guard (parentDeathGuard()), so it dies with
 * this process. Throws SKY_ERR_TRANSPORT_UNAVAILABLE when socat is not installed or cannot be
 * run, and an Error when socat did not create the pair within `timeoutMs` (its stderr quoted).
 */
export async function spawnPtyPair(devicePath: string, instrumentPath: string, timeoutMs: number): Promise<PtyPair> {
  const socatPath = findExecutable('socat');
  if (socatPath === null) throw socatMissing();
  const [command, ...args] = [...parentDeathGuard().prefix, socatPath, '-d', '-d', `pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${instrumentPath}`];
  const socat = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // 'error' is emitted when the spawn fails (ENOENT, EACCES, EAGAIN) and when kill() cannot signal:
  // without a listener either one would be an uncaught exception that kills the whole daemon.
  let failure: NodeJS.ErrnoException | null = null;
  socat.on('error', (error: NodeJS.ErrnoException) => (failure ??= error));
  let stderr = '';
  socat.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  if (helpers.size === 0) process.on('exit', killHelpers);
  helpers.add(socat);
  const exited = new Promise<void>((resolve) => {
    const done = (): void => {
      helpers.delete(socat);
      if (helpers.size === 0) process.off('exit', killHelpers);
      resolve();
    };
    socat.once('exit', done);
    // A process that never started has no 'exit' to wait for.
    socat.once('error', () => socat.pid === undefined && done());
  });
  const deadline = Date.now() + timeoutMs;
  // socat announces each pty on stderr; the links exist once both are set up.
  while (!(existsSync(devicePath) && existsSync(instrumentPath) && (stderr.match(/PTY is/g)?.length ?? 0) >= 2)) {
    const error = failure as NodeJS.ErrnoException | null;
    if (error !== null) {
      if (error.code === 'ENOENT') throw socatMissing(error);
      throw new SkyhaulError('SKY_ERR_TRANSPORT_UNAVAILABLE', `cannot run socat (${socatPath}): ${error.message}`, { cause: error });
    }
    if (socat.exitCode !== null || socat.signalCode !== null || Date.now() > deadline) {
      socat.kill('SIGKILL');
      throw new Error(`socat did not create ${devicePath}: ${stderr.trim() || 'no output'}`);
    }
    await sleep(20);
  }
  return { socat, exited };
}

/**
 * A serial instrument that speaks only when asked, on the instrument end of a socat pair: bytes
 * from the daemon are matched against the known `requests` (by name), and `answer(name)` gives
 * the bytes to send back (null: stay silent, as a console that did not wake up). Read through
 * serialport, as the daemon does, so requests arrive without blocking a thread-pool thread.
 */
export class PolledSerialInstrument {
  private pending = Buffer.alloc(0);
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly socat: ChildProcess,
    private readonly exited: Promise<void>,
    private readonly port: SerialPort,
    readonly devicePath: string,
  ) {}

  static async open(
    devicePath: string,
    instrumentPath: string,
    requests: Record<string, Buffer>,
    answer: (request: string) => Buffer | null,
  ): Promise<PolledSerialInstrument> {
    const { socat, exited } = await spawnPtyPair(devicePath, instrumentPath, 5000);
    // Loaded on first use, as in the serial input: the native binding costs start-up time.
    const { SerialPort } = await import('serialport');
    const port = new SerialPort({ path: instrumentPath, baudRate: 19200, autoOpen: false });
    try {
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      socat.kill('SIGKILL');
      throw error;
    }
    const instrument = new PolledSerialInstrument(socat, exited, port, devicePath);
    port.on('error', () => undefined);
    port.on('data', (chunk: Buffer) => instrument.onBytes(chunk, requests, answer));
    return instrument;
  }

  private onBytes(chunk: Buffer, requests: Record<string, Buffer>, answer: (request: string) => Buffer | null): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length > 0) {
      const matched = Object.entries(requests).find(([, bytes]) => this.pending.subarray(0, bytes.length).equals(bytes));
      if (matched !== undefined) {
        this.pending = this.pending.subarray(matched[1].length);
        const reply = answer(matched[0]);
        if (reply !== null) this.send(reply);
        continue;
      }
      // A request still arriving waits for its remaining bytes; anything else is line noise.
      if (Object.values(requests).some((bytes) => bytes.subarray(0, this.pending.length).equals(this.pending))) break;
      this.pending = this.pending.subarray(1);
    }
  }

  private send(bytes: Buffer): void {
    this.writing = this.writing.then(
      () => new Promise<void>((resolve) => this.port.write(bytes, () => this.port.drain(() => resolve()))),
    );
  }

  async close(): Promise<void> {
    // A reply already counted as sent must reach the daemon before the device goes away (bounded:
    // a port that failed may never call back).
    await Promise.race([this.writing, sleep(2000)]);
    await new Promise<void>((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
    if (this.socat.exitCode === null) this.socat.kill('SIGTERM');
    await this.exited;
  }
}

/** One UDP sender socket per simulated instrument (the daemon maps sender ip:port to instrument). */
export class UdpSender {
  private constructor(
    private readonly socket: UdpSocket,
    readonly localPort: number,
  ) {}

  static async open(): Promise<UdpSender> {
    const socket = createSocket({ type: 'udp4', sendBufferSize: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => undefined);
    return new UdpSender(socket, socket.address().port);
  }

  send(bytes: Buffer, port: number): Promise<boolean> {
    return new Promise((resolve) => this.socket.send(bytes, port, '127.0.0.1', (error) => resolve(error === null || error === undefined)));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/**
 * A UDP port for a daemon input: free now, and from 61000-65535, above Linux's ephemeral range
 * (32768-60999), so that none of the simulator's own sender sockets (bound to port 0) can take it
 * before the daemon binds it.
 */
export async function freeUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 61_000 + Math.floor(Math.random() * 4535);
    const socket = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (free) {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      return port;
    }
    try {
      socket.close();
    } catch {
      // never bound: nothing to close
    }
  }
  throw new Error('no free UDP port in 61000-65535');
}

export class MqttPublisher {
  private constructor(private readonly client: MqttClient) {}

  static async open(url: string, clientId: string): Promise<MqttPublisher> {
    const client = await connectAsync(url, { clientId, clean: true, reconnectPeriod: 1000, connectTimeout: 10_000 });
    // connectAsync's own 'error' listener is gone once connected; a broker that goes away later
    // (ECONNRESET) must not become an uncaught exception. Publishes report it through their
    // callbacks (counted as failures) and the client reconnects by itself.
    client.on('error', () => undefined);
    return new MqttPublisher(client);
  }

  /** Resolves true once the broker acknowledged the message (PUBACK). */
  publish(topic: string, payload: Buffer): Promise<boolean> {
    return new Promise((resolve) => this.client.publish(topic, payload, { qos: 1 }, (error) => resolve(error === undefined || error === null)));
  }

  close(): Promise<void> {
    return this.client.endAsync().catch(() => undefined);
  }
}

/**
 * A TCP server playing a polled instrument: each complete request (matched by `request`) gets
 * `reply()`'s bytes (null: no answer).
 */
export class PolledTcpInstrument {
  private constructor(
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
    readonly port: number,
  ) {}

  static async open(request: RegExp, reply: () => Buffer | null): Promise<PolledTcpInstrument> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (;;) {
          const match = request.exec(pending);
          if (match === null) break;
          pending = pending.slice(match.index + match[0].length);
          const bytes = reply();
          if (bytes !== null) socket.write(bytes);
        }
        if (pending.length > 4096) pending = '';
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    // A failed accept (EMFILE) is emitted on the server: the instrument stays up for the next poll.
    server.on('error', () => undefined);
    const address = server.address();
    return new PolledTcpInstrument(server, sockets, typeof address === 'object' && address !== null ? address.port : 0);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
