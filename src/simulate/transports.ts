/**
 * The simulator's real transports: socat pseudo-terminal pairs (serial), UDP sender sockets,
 * an MQTT publisher (QoS 1), and TCP servers that play polled instruments (SQM-LE, upsd).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';

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
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly devicePath: string,
    readonly instrumentPath: string,
  ) {}

  get up(): boolean {
    return this.handle !== null;
  }

  async appear(timeoutMs = 5000): Promise<void> {
    const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.devicePath}`, `pty,raw,echo=0,link=${this.instrumentPath}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    socat.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    this.exited = new Promise<void>((resolve) => socat.once('exit', () => resolve()));
    this.socat = socat;
    const deadline = Date.now() + timeoutMs;
    // socat announces each pty on stderr; the links exist once both are set up.
    while (!(existsSync(this.devicePath) && existsSync(this.instrumentPath) && (stderr.match(/PTY is/g)?.length ?? 0) >= 2)) {
      if (socat.exitCode !== null || Date.now() > deadline) {
        socat.kill('SIGKILL');
        throw new Error(`socat did not create ${this.devicePath}: ${stderr.trim() || 'no output'}`);
      }
      await sleep(20);
    }
    this.handle = await open(this.instrumentPath, 'r+');
  }

  /** Writes one chunk (frames are never split across writes); false when the link is down. */
  write(bytes: Buffer): Promise<boolean> {
    const handle = this.handle;
    if (handle === null) return Promise.resolve(false);
    const done = this.writing.then(
      () => handle.write(bytes).then(() => true),
      () => false,
    );
    this.writing = done.then(
      () => undefined,
      () => undefined,
    );
    return done.catch(() => false);
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

/** A UDP port nobody is bound to (bind to 0, read it, release it). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export class MqttPublisher {
  private constructor(private readonly client: MqttClient) {}

  static async open(url: string, clientId: string): Promise<MqttPublisher> {
    const client = await connectAsync(url, { clientId, clean: true, reconnectPeriod: 1000, connectTimeout: 10_000 });
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
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    return new PolledTcpInstrument(server, sockets, typeof address === 'object' && address !== null ? address.port : 0);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
