/**
 * sd_notify(3) for the daemon: READY=1 once started, WATCHDOG=1 at half of WatchdogSec,
 * STOPPING=1 on shutdown, RELOADING=1 around a SIGHUP reload, STATUS= for `systemctl status`.
 * Silent (every call a no-op that resolves at once) when NOTIFY_SOCKET is unset, i.e. not
 * under systemd's Type=notify.
 *
 * How the datagram gets out. The protocol is one AF_UNIX SOCK_DGRAM datagram to
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@'). Node cannot send it
 * itself: node:dgram speaks only udp4/udp6, and node:net only stream sockets (connecting one to
 * the notify socket fails with EPROTOTYPE). The options were:
 *   - a native addon (unix-dgram, sd-notify): one more compiled artefact per architecture, and
 *     one more addon to carry inside the single executable - rejected;
 *   - socat or python as a helper: not present on every site computer - rejected;
 *   - systemd-notify(1), chosen: it ships with systemd itself, so it exists wherever
 *     NOTIFY_SOCKET is set, and it handles path and abstract sockets. The catch is the sender:
 *     the service manager attributes a datagram to the process that sent it (SCM_CREDENTIALS),
 *     here the short-lived systemd-notify child, not the daemon's main PID. Two consequences,
 *     both handled: the unit sets NotifyAccess=all (accept messages from any process of the
 *     unit); and systemd-notify (systemd >= 246, e.g. Debian 11+, Ubuntu 22.04+, Raspberry Pi
 *     OS 11+) follows the message with a BARRIER=1 round trip and exits only once the manager
 *     has processed it, so the manager can still map the sender to the unit. (Older systemd
 *     can drop a message whose sender already exited; the watchdog repeats anyway.)
 * Messages are sent one at a time, in order: READY=1 never overtakes an earlier STATUS=, and
 * STOPPING=1 goes after everything queued before it. A watchdog ping is skipped, not queued,
 * while earlier messages are still on their way, so a stuck helper cannot pile up processes.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export interface NotifierOptions {
  /** Environment to read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** This process's PID, for WATCHDOG_PID (default process.pid). */
  pid?: number;
  /** The systemd-notify executable (default: /usr/bin/systemd-notify, /bin/systemd-notify, then PATH). */
  command?: string;
  /** Called once per kind of failure (helper missing, helper failed); default: a line on stderr. */
  onError?: (error: Error) => void;
  /** Kill a systemd-notify that has not finished after this long (ms). */
  timeoutMs?: number;
}

export interface WatchdogOptions {
  /** Checked before each ping: return false to withhold it (systemd then restarts the unit). */
  healthy?: () => boolean;
}

const CANDIDATES = ['/usr/bin/systemd-notify', '/bin/systemd-notify'];

function findCommand(env: NodeJS.ProcessEnv): string {
  for (const candidate of CANDIDATES) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    try {
      accessSync(`${dir}/systemd-notify`, constants.X_OK);
      return `${dir}/systemd-notify`;
    } catch {
      // next
    }
  }
  return 'systemd-notify';
}

/** One value per line in the protocol: a newline inside STATUS= would start a new assignment. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

export class SystemdNotifier {
  /** The notify socket, or null when not under systemd (every call is then a no-op). */
  readonly socket: string | null;
  /** The watchdog interval systemd asked for (µs), or null when there is no watchdog for us. */
  readonly watchdogUsec: number | null;
  private readonly env: NodeJS.ProcessEnv;
  private readonly onError: (error: Error) => void;
  private readonly timeoutMs: number;
  private command: string | null;
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly reported = new Set<string>();
  /** Messages handed to systemd-notify that it delivered (exit 0), for diagnostics and tests. */
  sent = 0;

  constructor(options: NotifierOptions = {}) {
    this.env = options.env ?? process.env;
    const socket = this.env.NOTIFY_SOCKET;
    this.socket = socket === undefined || socket === '' ? null : socket;
    const pid = options.pid ?? process.pid;
    const usec = Number(this.env.WATCHDOG_USEC);
    const watchdogPid = this.env.WATCHDOG_PID;
    const forUs = watchdogPid === undefined || watchdogPid === '' || Number(watchdogPid) === pid;
    this.watchdogUsec = this.socket !== null && Number.isSafeInteger(usec) && usec > 0 && forUs ? usec : null;
    this.command = options.command ?? null;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.onError = options.onError ?? ((error) => process.stderr.write(`skyhaul: sd_notify: ${error.message}\n`));
  }

  get enabled(): boolean {
    return this.socket !== null;
  }

  /** Sends the assignments (`READY=1`, `STATUS=...`) as one datagram; resolves true when delivered. */
  send(assignments: string[]): Promise<boolean> {
    if (this.socket === null || assignments.length === 0) return Promise.resolve(false);
    this.pending++;
    let delivered = false;
    const run = this.queue
      .then(() => this.spawnOnce(assignments))
      .catch((error: Error) => {
        this.report('spawn', error);
        return false;
      })
      .then((ok) => {
        delivered = ok;
        this.pending--;
      });
    this.queue = run;
    return run.then(() => delivered);
  }

  ready(status?: string): Promise<boolean> {
    return this.send(['READY=1', ...(status === undefined ? [] : [`STATUS=${oneLine(status)}`])]);
  }

  stopping(status?: string): Promise<boolean> {
    this.stopWatchdog();
    return this.send(['STOPPING=1', ...(status === undefined ? [] : [`STATUS=${oneLine(status)}`])]);
  }

  status(text: string): Promise<boolean> {
    return this.send([`STATUS=${oneLine(text)}`]);
  }

  /** Before re-reading the configuration (SIGHUP); send ready() when done. */
  reloading(status?: string): Promise<boolean> {
    const monotonicUsec = process.hrtime.bigint() / 1000n;
    return this.send(['RELOADING=1', `MONOTONIC_USEC=${monotonicUsec}`, ...(status === undefined ? [] : [`STATUS=${oneLine(status)}`])]);
  }

  /** Asks for more time to start or stop (EXTEND_TIMEOUT_USEC), e.g. during a long recovery. */
  extendTimeout(ms: number): Promise<boolean> {
    return this.send([`EXTEND_TIMEOUT_USEC=${Math.max(0, Math.round(ms * 1000))}`]);
  }

  /** One WATCHDOG=1, unless earlier messages are still being sent. */
  ping(): Promise<boolean> {
    if (this.socket === null || this.pending > 0) return Promise.resolve(false);
    return this.send(['WATCHDOG=1']);
  }

  /**
   * Pings at half of WATCHDOG_USEC while the event loop turns (a blocked loop misses pings and
   * systemd restarts the unit). No-op without a watchdog for this PID. Idempotent.
   */
  startWatchdog(options: WatchdogOptions = {}): void {
    if (this.watchdogUsec === null || this.timer !== null) return;
    const intervalMs = Math.max(1, Math.floor(this.watchdogUsec / 2000));
    this.timer = setInterval(() => {
      if (options.healthy !== undefined && !options.healthy()) return;
      void this.ping();
    }, intervalMs);
    this.timer.unref();
  }

  stopWatchdog(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Resolves when every message queued so far has been handled. */
  flush(): Promise<void> {
    return this.queue;
  }

  private report(kind: string, error: Error): void {
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    this.onError(error);
  }

  private spawnOnce(assignments: string[]): Promise<boolean> {
    this.command ??= findCommand(this.env);
    const command = this.command;
    return new Promise((resolve) => {
      let stderr = '';
      const child = spawn(command, assignments, {
        env: { PATH: this.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: this.socket ?? '' },
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: this.timeoutMs,
        killSignal: 'SIGKILL',
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        if (stderr.length < 2000) stderr += chunk;
      });
      child.once('error', (error: NodeJS.ErrnoException) => {
        this.report(
          error.code ?? 'spawn',
          new Error(
            error.code === 'ENOENT'
              ? `NOTIFY_SOCKET is set but ${command} was not found: systemd will not see READY=1 (install systemd, or run the unit as Type=simple)`
              : `cannot run ${command}: ${error.message}`,
            { cause: error },
          ),
        );
        resolve(false);
      });
      child.once('close', (code, signal) => {
        if (code === 0) {
          this.sent++;
          resolve(true);
          return;
        }
        this.report('exit', new Error(`${command} ${assignments[0] ?? ''} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`));
        resolve(false);
      });
    });
  }
}

let shared: SystemdNotifier | null = null;

/** The process-wide notifier (created from process.env on first use). */
export function systemdNotifier(): SystemdNotifier {
  shared ??= new SystemdNotifier();
  return shared;
}

/** READY=1 (and STATUS=): after the buffer is open and the inputs are running. */
export async function notifyReady(status?: string): Promise<void> {
  await systemdNotifier().ready(status);
}

/** STOPPING=1 (and STATUS=) at the start of shutdown; stops the watchdog. */
export async function notifyStopping(status?: string): Promise<void> {
  await systemdNotifier().stopping(status);
}

/** STATUS=<text>: shown by `systemctl status skyhaul`. */
export async function notifyStatus(text: string): Promise<void> {
  await systemdNotifier().status(text);
}

/** RELOADING=1 before re-reading the configuration; follow with notifyReady() when done. */
export async function notifyReloading(status?: string): Promise<void> {
  await systemdNotifier().reloading(status);
}

/** WATCHDOG=1 every WATCHDOG_USEC/2 while `healthy()` (if given) holds; no-op without a watchdog. */
export function startWatchdog(options: WatchdogOptions = {}): void {
  systemdNotifier().startWatchdog(options);
}

export function stopWatchdog(): void {
  systemdNotifier().stopWatchdog();
}
