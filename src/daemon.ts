/**
 * The edge daemon: buffer, forwarder, inputs, jobs, alarms and the local HTTP server wired
 * together.
 *
 * Start order matters for invariant 1: the buffer opens first (inputs have nowhere to put a
 * record before), then the forwarder, then inputs, then the HTTP server reports ready.
 * Stop order is the reverse: inputs stop taking data, pending commits finish, in-flight sends
 * get a moment to be acknowledged, and the buffer closes last.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Quarantine } from '../firmware-adapters/index.ts';
import { EventEmitter } from 'node:events';
import { RecordBuffer, type CommitInfo, type Committed, type PriorityClass } from './buffer/index.ts';
import { streamResolver } from './config/streams.ts';
import type { Config } from './config/types.ts';
import { BandwidthScheduler, TokenBucket } from './forward/bandwidth.ts';
import { Forwarder } from './forward/forwarder.ts';
import { createTransport } from './forward/pulsar/index.ts';
import { maxPayloadBytes } from './forward/pulsar/transport.ts';
import { ClockMonitor, buildTimeFloor, monotonicMs } from './common/clock.ts';
import { PulsarAdmin } from './forward/pulsar/admin.ts';
import { BrokerSettingsChecker, defaultBookieHttpUrl, longestTtl } from './forward/pulsar/broker-settings.ts';
import { ReplicationMonitor } from './forward/replication.ts';
import { AlarmManager, clockAlarms, type Alarm } from './health/alarms.ts';
import { sampleHost, type HostSample } from './health/host.ts';
import { InstrumentTracker } from './health/instruments.ts';
import { SkyhaulMetrics } from './health/metrics.ts';
import { HealthServer } from './health/server.ts';
import { createInput, type Input, type RecordSink } from './inputs/index.ts';
import { ControlActions, type ControlTarget, type ReplayResult } from './control/actions.ts';
import { ControlChannel } from './control/amqp.ts';
import { ControlJournal } from './control/journal.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import type { CommandError } from './record/command.ts';
import { JobScheduler } from './jobs/scheduler.ts';
import type { Logger } from './common/log.ts';
import { RateMeter } from './common/rates.ts';
import { Tally } from './common/tally.ts';
import { assembleStatus, type DaemonStatus, type HistoryPoint, type SelfTestResult } from './status.ts';

export const VERSION = '0.1.0';

/** Streams the daemon writes itself; their priority is fixed whatever the config says. */
export const ALARM_STREAM = '_skyhaul/alarms';
export const SELFTEST_STREAM = '_skyhaul/selftest';

const HISTORY_INTERVAL_MS = 5000;
const HISTORY_POINTS = 720; // one hour

/**
 * The largest payload the buffer accepts: what the configured transport can carry ('auto' takes
 * a binary-protocol transport when serviceUrl is set, else the WebSocket API; createTransport).
 */
function recordLimit(forward: Config['forward']): number {
  // Also without forwarding: what is buffered today is forwarded once a URL is configured.
  const kind = forward.transport === 'auto' ? (forward.serviceUrl === null ? 'websocket' : 'binary') : forward.transport;
  return forward.maxMessageBytes === null ? maxPayloadBytes(kind) : maxPayloadBytes(kind, forward.maxMessageBytes);
}

export function topicFor(template: string, siteId: string, stream: string, priority: PriorityClass): string {
  return template
    .replaceAll('{site}', siteId)
    .replaceAll('{priority}', priority)
    .replaceAll('{stream}', stream.replace(/\//g, '.'));
}

export class Daemon extends EventEmitter implements ControlTarget {
  readonly buffer: RecordBuffer;
  /** The operator actions, shared by the local HTTP API and remote commands (src/control/). */
  readonly control: ControlActions;
  private controlChannel: ControlChannel | null = null;
  private journal: ControlJournal | null = null;
  readonly metrics: SkyhaulMetrics;
  readonly alarms: AlarmManager;
  private forwarder: Forwarder | null = null;
  private scheduler: BandwidthScheduler | null = null;
  private bucket: TokenBucket | null = null;
  private replication: ReplicationMonitor | null = null;
  /** Checks the broker settings exactly-once and durability rest on (alarms broker_*). */
  private brokerSettings: BrokerSettingsChecker | null = null;
  private readonly inputs: Input[] = [];
  private http: HealthServer | null = null;
  private jobs: JobScheduler | null = null;
  private readonly resolveStream: ReturnType<typeof streamResolver>;
  private readonly instruments: InstrumentTracker;
  /** Bad frames from every input, bounded; counts per adapter and code survive eviction. */
  readonly quarantine = new Quarantine({ capacity: 500, maxRawBytes: 512 });
  private readonly decodeErrors = new Tally<{ input: string; adapter: string; code: string }>(['input', 'adapter', 'code']);
  private readonly readingFlags = new Tally<{ input: string; adapter: string; flag: string }>(['input', 'adapter', 'flag']);
  private readonly inputDrops = new Tally<{ input: string; reason: string }>(['input', 'reason']);
  private readonly ingestRate = new RateMeter();
  private readonly forwardRate = new RateMeter();
  private readonly history: HistoryPoint[] = [];
  private timers: NodeJS.Timeout[] = [];
  private host: HostSample | null = null;
  private selfTest: SelfTestResult | null = null;
  private daily = { ingested: 0, since: Date.now() };
  private started = false;
  private inputsStarted = false;
  readonly startedAt = Date.now();
  /** Watches the wall clock: unsynchronised (below the build date) or stepped (contract 7a). */
  readonly clock = new ClockMonitor({ floor: buildTimeFloor() });
  /** Start-up timings: buffer open, and ready measured from process start (invariant 5). */
  private startup: { bufferOpenMs: number | null; readyMs: number | null } = { bufferOpenMs: null, readyMs: null };

  /**
   * `configFile`: where the configuration came from, for the `reload` action (and SIGHUP); null
   * when the daemon runs on the embedded default, which cannot be re-read.
   */
  constructor(
    private config: Config,
    private readonly logger: Logger,
    private readonly options: { configFile?: string | null } = {},
  ) {
    super();
    this.resolveStream = streamResolver(config.streams);
    this.instruments = new InstrumentTracker((stream) => this.resolveStream(stream).expectedIntervalMs);
    this.buffer = new RecordBuffer({
      path: config.buffer.path,
      siteId: config.site.id,
      synchronous: config.buffer.synchronous,
      groupCommit: config.buffer.groupCommit,
      quotaBytes: config.buffer.quotaBytes,
      policies: config.buffer.policies,
      streamConfig: (stream) => {
        if (stream === ALARM_STREAM) return { priority: 'alarm', ttlMs: null };
        if (stream === SELFTEST_STREAM) return { priority: 'control', ttlMs: 86_400_000 };
        const resolved = this.resolveStream(stream);
        return { priority: resolved.priority, ttlMs: resolved.ttlMs };
      },
      disk: config.buffer.disk,
      maxBlockedBytes: config.buffer.maxBlockedBytes,
      maxStreams: config.buffer.maxStreams,
      writerThread: config.buffer.writerThread,
      maxRecordBytes: recordLimit(config.forward),
      timeFloor: this.clock.floor,
      logger: logger.child({ component: 'buffer' }),
    });
    this.metrics = new SkyhaulMetrics(() => this.status(), VERSION);
    // The audit lines carry component 'audit' themselves.
    this.control = new ControlActions(this, logger, this.metrics.registry);
    this.buffer.on('committed', (_streams: string[], info: CommitInfo) => {
      this.metrics.commitSeconds.observe(info.durationMs / 1000);
      for (const ms of info.latenciesMs) this.metrics.commitLatencySeconds.observe(ms / 1000);
    });
    this.alarms = new AlarmManager({
      backlogAgeMs: config.alarms.backlogAgeMs,
      diskFreeBytes: config.alarms.diskFreeBytes,
      linkDownMs: config.alarms.linkDownMs,
      staleInstruments: config.alarms.staleInstruments,
    });
    this.alarms.on('raised', (alarm: Alarm) => this.onAlarm('raised', alarm));
    this.alarms.on('cleared', (alarm: Alarm) => this.onAlarm('cleared', alarm));
    for (const rule of config.streams) if (!/[*?]/.test(rule.match) && rule.expectedIntervalMs !== null) this.instruments.declare(rule.match);
  }

  /** Where inputs put records: committed durably, then counted and the source may be acked. */
  private sinkFor(input: string): RecordSink {
    const counter = this.metrics.ingested;
    const counted = (committed: Committed[]): void => {
      this.ingestRate.add(committed.length);
      this.daily.ingested += committed.length;
      for (const c of committed) {
        this.instruments.seen(c.stream);
        counter.inc({ stream: c.stream, input });
      }
    };
    return {
      append: (record) => this.buffer.append(record).then((committed) => (counted([committed]), committed)),
      appendBatch: (records, options) => this.buffer.appendBatch(records, options).then((committed) => (counted(committed), committed)),
      sourceMarks: (source) => this.buffer.sourceMarks(source),
    };
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    mkdirSync(this.config.dataDir, { recursive: true });
    const t0 = performance.now();
    this.buffer.open();
    this.clock.raiseFloor(this.buffer.clockFloor);
    this.startup.bufferOpenMs = Math.round(performance.now() - t0);
    this.logger.info(
      { component: 'buffer', path: this.config.buffer.path, producerId: this.buffer.producerId, ms: this.startup.bufferOpenMs, records: this.buffer.stats().records },
      'buffer open',
    );

    if (this.config.forward.enabled && this.config.forward.url !== null) this.startForwarder(this.config.forward.url);
    else this.logger.warn({ component: 'forward' }, 'forwarding is off (no forward.url): buffering only, link shown down');

    if (this.config.http.enabled) {
      this.http = new HealthServer({ bind: this.config.http.bind, port: this.config.http.port, token: this.config.http.token }, this, this.logger);
    }
    for (const inputConfig of this.config.inputs) this.inputs.push(this.makeInput(inputConfig));
    for (const input of this.inputs) await input.start();
    this.inputsStarted = true;

    this.startJobs();
    this.timers.push(
      setInterval(() => {
        this.forwardRate.set(this.forwarder?.counters.ackedRecords ?? 0);
        const step = this.clock.sample();
        if (step !== 0) this.logger.warn({ component: 'clock', stepMs: Math.round(step) }, `the wall clock stepped by ${Math.round(step / 1000)} s`);
      }, 1000),
      setInterval(() => this.evaluateAlarms(), 2000),
      setInterval(() => this.sampleHistory(), HISTORY_INTERVAL_MS),
    );
    for (const timer of this.timers) timer.unref();

    if (this.http !== null) {
      const address = await this.http.start();
      this.logger.info({ component: 'http', ...address }, `health API on http://${address.host}:${address.port}`);
    }
    if (this.config.control.enabled) this.startControlChannel();
    this.startup.readyMs = Math.round(process.uptime() * 1000);
    // Alarms raised while opening (a quarantined buffer) show from the first status on.
    this.evaluateAlarms();
    // A first host sample and self-test right away (after ready: sampling spawns processes),
    // so status shows them without waiting for the schedule.
    setTimeout(() => void this.jobs?.runNow('hostSample'), 100).unref();
    setTimeout(() => void this.jobs?.runNow('selfTest'), 2000).unref();
  }

  /** Remote commands (src/control/amqp.ts): the journal opens first, so no command runs without it. */
  private startControlChannel(): void {
    const control = this.config.control;
    if (control.url === null) return;
    this.journal = new ControlJournal({ path: join(this.config.dataDir, 'control.sqlite'), retentionMs: control.journal.retentionMs, maxEntries: control.journal.maxEntries });
    this.journal.open();
    this.journal.prune();
    this.controlChannel = new ControlChannel(
      {
        url: control.url,
        ...(control.password === undefined ? {} : { password: control.password }),
        site: this.config.site.id,
        ...(control.queue === null ? {} : { queue: control.queue }),
        heartbeatSeconds: Math.max(1, Math.round(control.heartbeatMs / 1000)),
        backoff: control.backoff,
        reportIntervalMs: control.reportIntervalMs,
        tls: control.tls,
      },
      this.control,
      this.journal,
      () => {
        const status = this.status();
        return {
          producerId: status.producerId,
          version: VERSION,
          link: status.link.state,
          paused: status.paused,
          bandwidthBytesPerSecond: status.forwarding.bandwidthBytesPerSecond,
          backlogRecords: status.backlog.records,
          alarms: status.alarms.map((a) => a.code),
        };
      },
      () => this.clock.status().state !== 'unsynchronised',
      this.logger.child({ component: 'control' }),
    );
    this.controlChannel.start();
  }

  private makeInput(inputConfig: Config['inputs'][number]): Input {
    return createInput(inputConfig, {
      sink: this.sinkFor(inputConfig.name),
      logger: this.logger.child({ component: 'input', input: inputConfig.name }),
      siteId: this.config.site.id,
      routes: this.http ?? { post: () => {} },
      quarantine: this.quarantine,
      report: {
        decodeError: (instrument, adapter, code) => this.onDecodeError(inputConfig.name, instrument, adapter, code),
        readingFlag: (_instrument, adapter, flag) => this.readingFlags.add({ input: inputConfig.name, adapter, flag }),
        dropped: (reason, count = 1) => this.inputDrops.add({ input: inputConfig.name, reason }, count),
      },
      clockTrusted: () => this.clock.status().state !== 'unsynchronised',
      stateDir: join(this.config.dataDir, 'inputs'),
    });
  }

  private startJobs(): void {
    this.jobs = new JobScheduler(
      [
        { name: 'ttlSweep', schedule: this.config.jobs.ttlSweep, run: async () => ({ dropped: await this.buffer.sweepTtl() }) },
        { name: 'checkpoint', schedule: this.config.jobs.checkpoint, run: () => this.buffer.checkpoint() },
        { name: 'vacuum', schedule: this.config.jobs.vacuum, run: async () => ({ pages: await this.buffer.incrementalVacuum() }) },
        { name: 'hostSample', schedule: this.config.jobs.hostSample, run: async () => (this.host = await sampleHost()) && null },
        { name: 'selfTest', schedule: this.config.jobs.selfTest, run: () => this.runSelfTest() },
        { name: 'summary', schedule: this.config.jobs.summary, run: () => this.logSummary() },
      ],
      this.logger,
    );
    this.jobs.start();
  }

  /**
   * SIGHUP: apply a new, already validated configuration without a restart where that is safe.
   * Unchanged inputs keep running (their connections and sessions untouched), changed ones are
   * restarted, removed ones stopped, new ones started; the forwarder restarts when its settings
   * changed (acks are flushed first); buffered records are never touched. Settings that need a
   * restart (buffer, site, http, dataDir, stream rules) are kept as they were and named in the result.
   */
  async reload(next: Config): Promise<{ kept: string[]; restarted: string[]; started: string[]; stopped: string[]; forwarder: boolean; needsRestart: string[] }> {
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
    const result = { kept: [] as string[], restarted: [] as string[], started: [] as string[], stopped: [] as string[], forwarder: false, needsRestart: [] as string[] };
    // The control channel is not restarted in place: a `reload` command runs on it.
    for (const key of ['site', 'dataDir', 'buffer', 'http', 'streams', 'control'] as const) {
      if (!same(this.config[key], next[key])) result.needsRestart.push(key);
    }
    const oldInputs = new Map(this.config.inputs.map((c) => [c.name, c]));
    const nextInputs = new Map(next.inputs.map((c) => [c.name, c]));
    const current = new Map(this.inputs.map((input) => [input.name, input]));
    for (const [name, oldConfig] of oldInputs) {
      const replacement = nextInputs.get(name);
      if (replacement !== undefined && same(oldConfig, replacement)) {
        result.kept.push(name);
        continue;
      }
      // HTTP push routes are registered before the server listens: those need a restart.
      if (oldConfig.type === 'http' || replacement?.type === 'http') {
        result.needsRestart.push(`inputs.${name}`);
        nextInputs.set(name, oldConfig);
        continue;
      }
      await current.get(name)?.stop();
      current.delete(name);
      if (replacement === undefined) result.stopped.push(name);
    }
    const inputs: Input[] = [];
    const effective: Config['inputs'] = [];
    for (const [name, inputConfig] of nextInputs) {
      let input = current.get(name);
      if (input === undefined) {
        if (inputConfig.type === 'http' && !oldInputs.has(name)) {
          result.needsRestart.push(`inputs.${name}`);
          continue;
        }
        input = this.makeInput(inputConfig);
        await input.start();
        (oldInputs.has(name) ? result.restarted : result.started).push(name);
      }
      inputs.push(input);
      effective.push(inputConfig);
    }
    this.inputs.splice(0, this.inputs.length, ...inputs);

    if (!same(this.config.forward, next.forward)) {
      await this.forwarder?.stop();
      this.replication?.stop();
      this.brokerSettings?.stop();
      this.scheduler?.stop();
      this.forwarder = this.replication = this.brokerSettings = this.scheduler = this.bucket = null;
      this.config = { ...this.config, forward: next.forward };
      if (next.forward.enabled && next.forward.url !== null) this.startForwarder(next.forward.url);
      result.forwarder = true;
    }
    if (!same(this.config.jobs, next.jobs)) {
      this.jobs?.stop();
      this.config = { ...this.config, jobs: next.jobs };
      this.startJobs();
    }
    this.alarms.setThresholds({
      backlogAgeMs: next.alarms.backlogAgeMs,
      diskFreeBytes: next.alarms.diskFreeBytes,
      linkDownMs: next.alarms.linkDownMs,
      staleInstruments: next.alarms.staleInstruments,
    });
    this.config = { ...this.config, alarms: next.alarms, logging: next.logging, inputs: effective };
    this.logger.level = next.logging.level;
    this.logger.info({ component: 'reload', ...result }, 'configuration reloaded');
    return result;
  }

  private startForwarder(url: string): void {
    const forward = this.config.forward;
    const transportOptions = {
      webServiceUrl: url,
      ...(forward.serviceUrl === null ? {} : { serviceUrl: forward.serviceUrl }),
      tls: forward.tls,
      ...(forward.token === undefined ? {} : { token: forward.token }),
      deadLinkTimeoutMs: forward.deadLinkTimeoutMs,
      sendTimeoutMs: forward.sendTimeoutMs,
      ...(forward.maxMessageBytes === null ? {} : { maxMessageBytes: forward.maxMessageBytes }),
    };
    const transport = createTransport(forward.transport, transportOptions);
    const admin = new PulsarAdmin(transportOptions);
    this.bucket = new TokenBucket(forward.bandwidth.bytesPerSecond);
    this.scheduler = new BandwidthScheduler(this.bucket, forward.bandwidth);
    this.scheduler.start();
    const topic = (stream: string, priority: PriorityClass): string => topicFor(forward.topic, this.config.site.id, stream, priority);
    this.forwarder = new Forwarder({
      source: this.buffer,
      transport,
      topicFor: topic,
      bandwidth: this.bucket,
      backoff: forward.backoff,
      window: forward.window,
      probe: () => admin.ready(),
      logger: wrapLogger(this.logger.child({ component: 'forward' })),
    });
    this.forwarder.start();
    this.logger.info({ component: 'forward', url, transport: transport.kind, target: forward.target }, 'forwarding');
    // cursors(), not streams(): the topics need no oldest-record lookup per stream.
    const topicsInUse = (): string[] => [...new Set(this.buffer.cursors().map((s) => topic(s.stream, s.priority)))];
    if (forward.target === 'site') {
      this.replication = new ReplicationMonitor(admin, forward.replicationCluster, topicsInUse);
      this.replication.start();
    }
    if (!forward.brokerChecks.enabled) return;
    this.brokerSettings = new BrokerSettingsChecker({
      admin,
      topics: topicsInUse,
      longestTtlMs: () => longestTtl(this.config.streams),
      outageHorizonMs: forward.brokerChecks.outageHorizonMs,
      intervalMs: forward.brokerChecks.intervalMs,
      bookieHttpUrl: forward.target === 'site' ? (forward.brokerChecks.bookieUrl ?? defaultBookieHttpUrl(url)) : null,
      checkJournal: forward.target === 'site',
      logger: wrapLogger(this.logger.child({ component: 'broker-settings' })),
    });
    this.brokerSettings.start();
    // Settings may have changed while the link was down (or a new broker answers): look again.
    this.forwarder.on('link', (link: { state: string }) => link.state === 'up' && this.brokerSettings?.recheck());
  }

  private onDecodeError(input: string, instrument: string, adapter: string, code: string): void {
    this.decodeErrors.add({ input, adapter, code });
    this.instruments.decodeError(instrument);
  }

  quarantined(): { counts: Array<{ input: string; adapter: string; code: string; count: number }>; recent: Array<Record<string, unknown>> } {
    return {
      counts: this.decodeErrors.list(),
      recent: this.quarantine.entries().map((e) => ({
        at: new Date(e.at).toISOString(),
        input: e.input ?? null,
        adapter: e.adapter,
        code: e.code,
        message: e.message,
        rawHex: e.raw.toString('hex'),
        rawLength: e.rawLength,
      })),
    };
  }

  // --- alarms, self-test, summary, history ---------------------------------------------------------

  private evaluateAlarms(): void {
    const now = Date.now();
    const stats = this.buffer.stats();
    const clock = this.clock.status();
    const oldest = Object.values(stats.byPriority)
      .map((c) => c.oldestIngestTime)
      .filter((t): t is number => t !== null);
    const oldestTime = oldest.length === 0 ? null : Math.min(...oldest);
    this.alarms.evaluate({
      now,
      link: this.forwarder === null ? null : this.forwarder.status().link,
      // An age taken from a time the clock got wrong would be absurd (500,000 hours): unknown.
      oldestBacklogAgeMs: oldestTime === null || !this.clock.trusted(oldestTime) || clock.state === 'unsynchronised' ? null : now - oldestTime,
      diskFreeBytes: stats.diskFreeBytes,
      staleStreams: this.instruments
        .list()
        .filter((i) => i.stale)
        .map((i) => i.stream),
      bufferAlarms: [...this.buffer.alarms(), ...clockAlarms(clock, now), ...(this.brokerSettings?.alarms() ?? [])],
    });
  }

  private onAlarm(event: 'raised' | 'cleared', alarm: Alarm): void {
    const line = { component: 'alarms', alarm: alarm.code, severity: alarm.severity, event };
    if (event === 'raised') this.logger.warn(line, `alarm raised: ${alarm.code}: ${alarm.message}`);
    else this.logger.info(line, `alarm cleared: ${alarm.code}`);
    this.emit('alarm', { event, alarm });
    if (this.config.alarms.record && this.started) {
      this.buffer
        .append({
          stream: ALARM_STREAM,
          payload: Buffer.from(JSON.stringify({ event, code: alarm.code, severity: alarm.severity, message: alarm.message, since: alarm.since, at: Date.now() })),
          contentType: 'application/json',
          schemaRef: 'skyhaul.alarm/v1',
          sourceTime: Date.now(),
        })
        .catch((error: Error) => this.logger.error({ component: 'alarms', err: error.message }, 'alarm record not buffered'));
    }
  }

  /** A canary through the buffer and, when forwarding is up, acknowledged by Pulsar. */
  async runSelfTest(timeoutMs = 30_000): Promise<SelfTestResult> {
    const at = Date.now();
    const result: SelfTestResult = { at, ok: false, bufferMs: null, forwardMs: null, checkedForwarding: false, error: null };
    try {
      const t0 = performance.now();
      const committed = await this.buffer.append({
        stream: SELFTEST_STREAM,
        payload: Buffer.from(JSON.stringify({ canary: at })),
        contentType: 'application/json',
        schemaRef: 'skyhaul.selftest/v1',
        sourceTime: at,
      });
      result.bufferMs = Math.round(performance.now() - t0);
      const forwarder = this.forwarder;
      if (forwarder !== null && !forwarder.isPaused && forwarder.status().link.state === 'up') {
        result.checkedForwarding = true;
        const deadline = monotonicMs() + timeoutMs;
        while ((forwarder.ackedSequence(SELFTEST_STREAM) ?? 0) < committed.sequence) {
          if (monotonicMs() > deadline) throw new Error(`canary #${committed.sequence} not acknowledged by Pulsar within ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        result.forwardMs = Math.round(performance.now() - t0);
      }
      result.ok = true;
    } catch (error) {
      result.error = (error as Error).message;
      this.logger.error({ component: 'selftest', err: result.error }, 'self-test failed');
    }
    this.selfTest = result;
    return result;
  }

  private logSummary(): Record<string, unknown> {
    const status = this.status();
    const summary = {
      since: new Date(this.daily.since).toISOString(),
      ingested: this.daily.ingested,
      forwarded: this.forwarder?.counters.ackedRecords ?? 0,
      backlogRecords: status.backlog.records,
      drops: status.drops.reduce((sum, d) => sum + d.count, 0),
      alarms: status.alarms.map((a) => a.code),
      link: status.link.state,
    };
    this.logger.info({ component: 'summary', ...summary }, 'daily summary');
    this.daily = { ingested: 0, since: Date.now() };
    return summary;
  }

  private sampleHistory(): void {
    const stats = this.buffer.stats();
    this.history.push({
      at: Date.now(),
      backlogRecords: stats.records,
      backlogBytes: stats.bytes,
      ingestPerSecond: this.ingestRate.perSecond(),
      forwardPerSecond: this.forwardRate.perSecond(),
      linkState: this.forwarder?.status().link.state ?? 'down',
    });
    if (this.history.length > HISTORY_POINTS) this.history.splice(0, this.history.length - HISTORY_POINTS);
  }

  historyPoints(): HistoryPoint[] {
    return [...this.history];
  }

  // --- actions (from the HTTP API, token-protected there) ------------------------------------------

  pauseForwarding(): boolean {
    if (this.forwarder === null) return false;
    this.forwarder.pause();
    return true;
  }

  resumeForwarding(): boolean {
    if (this.forwarder === null) return false;
    this.forwarder.resume();
    return true;
  }

  /** undefined: back to the configured schedule. */
  setBandwidthOverride(bytesPerSecond: number | null | undefined): boolean {
    if (this.scheduler === null) return false;
    this.scheduler.setOverride(bytesPerSecond);
    return true;
  }

  acknowledgeAlarm(code: string, by: string): Alarm | null {
    return this.alarms.acknowledge(code, by);
  }

  /** A new time-of-day schedule (and the cap outside it; undefined: the configured one); clears an override. */
  setBandwidthSchedule(schedule: Array<{ from: string; to: string; bytesPerSecond: number | null }>, outside: number | null | undefined): boolean {
    if (this.scheduler === null) return false;
    this.scheduler.setOverride(undefined);
    this.scheduler.reconfigure({ bytesPerSecond: outside === undefined ? this.config.forward.bandwidth.bytesPerSecond : outside, schedule });
    return true;
  }

  /** Sends the part of a stream's sequence range that the buffer still holds again (see Forwarder.rewind). */
  async replay(stream: string, fromSequence: number, toSequence: number): Promise<ReplayResult | { error: CommandError }> {
    if (this.forwarder === null) return { error: { code: 'SKY_ERR_FORWARDING_OFF', message: 'forwarding is off in this configuration' } };
    const state = this.buffer.streams().find((s) => s.stream === stream);
    if (state === undefined) return { error: { code: 'SKY_ERR_NOT_FOUND', message: `no stream '${stream}' in the buffer` } };
    const acknowledgedUpTo = state.ackedSequence;
    const lastSequence = state.nextSequence - 1;
    const from = Math.max(fromSequence, acknowledgedUpTo + 1);
    const to = Math.min(toSequence, lastSequence);
    if (from > to) return { stream, resend: null, acknowledgedUpTo, lastSequence };
    await this.forwarder.rewind(stream);
    return { stream, resend: { fromSequence: from, toSequence: to }, acknowledgedUpTo, lastSequence };
  }

  /**
   * Re-reads the configuration file and applies it (the `reload` action and SIGHUP). An invalid
   * file changes nothing: the running configuration stays, and the problems are the answer.
   */
  async reloadConfiguration(): Promise<{ applied: Record<string, unknown> } | { error: CommandError }> {
    const file = this.options.configFile ?? null;
    if (file === null) return { error: { code: 'SKY_ERR_RELOAD_UNAVAILABLE', message: 'running on the embedded default configuration: there is no file to re-read' } };
    let next: Config;
    try {
      next = loadConfig(file);
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [{ path: '', line: null, message: (error as Error).message }];
      this.logger.error({ component: 'reload', file, problems }, `${file} is invalid; keeping the running configuration`);
      const text = problems.map((p) => `${p.path || '(file)'}${p.line === null ? '' : ` (line ${p.line})`}: ${p.message}`).join('; ');
      return { error: { code: 'SKY_ERR_CONFIG', message: `${file} is invalid, the running configuration is kept: ${text}` } };
    }
    try {
      return { applied: { file, ...(await this.reload(next)) } };
    } catch (error) {
      this.logger.error({ component: 'reload', err: (error as Error).message }, 'reload failed');
      return { error: { code: 'SKY_ERR_RELOAD_FAILED', message: (error as Error).message } };
    }
  }

  // --- status --------------------------------------------------------------------------------------

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.started) reasons.push('daemon not started');
    if (!this.inputsStarted) reasons.push('inputs not started');
    const informational: string[] = [];
    for (const alarm of this.buffer.alarms()) if (alarm.code === 'buffer_quarantined') informational.push(`buffer: ${alarm.message}`);
    if (this.started && !this.buffer.stats().accepting) reasons.push('buffer is not accepting records (disk low)');
    // A quarantined file still leaves a working (fresh) buffer: ready, with the reason shown.
    return { ready: reasons.length === 0, reasons: [...reasons, ...informational] };
  }

  status(): DaemonStatus {
    const forward = this.forwarder?.status() ?? null;
    return assembleStatus({
      now: Date.now(),
      clock: this.clock,
      site: this.config.site,
      producerId: this.buffer.producerId,
      version: VERSION,
      startup: this.startup,
      startedAt: this.startedAt,
      readiness: this.readiness(),
      forward: forward === null ? null : { ...forward, paused: this.forwarder?.isPaused ?? false, counters: this.forwarder!.counters },
      target: this.config.forward.target,
      forwardUrl: this.config.forward.url,
      bandwidthBytesPerSecond: this.bucket?.bytesPerSecond ?? null,
      buffer: { stats: this.buffer.stats(), streams: this.buffer.streams(), drops: this.buffer.drops() },
      rates: { ingestPerSecond: this.ingestRate.perSecond(), forwardPerSecond: this.forwardRate.perSecond() },
      alarms: this.alarms.list(),
      replication: this.replication?.status() ?? null,
      instruments: this.instruments.list(),
      decodeErrors: this.decodeErrors.list(),
      readingFlags: this.readingFlags.list(),
      inputDrops: this.inputDrops.list(),
      inputs: this.inputs.map((input) => input.status()),
      jobs: this.jobs?.status() ?? [],
      host: this.host,
      selfTest: this.selfTest,
      control: this.controlChannel?.status() ?? null,
    });
  }

  /**
   * Stops in dependency order: control channel, inputs, jobs, forwarder (in-flight sends get 2 s to
   * be acknowledged), HTTP server (requests get 5 s), buffer (final commit, sync, close). The
   * `stopped` log line gives each phase's duration in ms (`phasesMs`), so a stop that comes near
   * systemd's TimeoutStopSec (30 s in systemd/skyhaul.service) names the phase that took the time.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const phasesMs: Record<string, number> = {};
    const phase = async (name: string, body: () => unknown): Promise<void> => {
      const t0 = monotonicMs();
      await body();
      phasesMs[name] = Math.round(monotonicMs() - t0);
    };
    // First: a command in hand finishes (its outcome sent and acknowledged) while everything still runs.
    await phase('control', async () => {
      await this.controlChannel?.stop().catch((error: Error) => this.logger.error({ err: error.message }, 'control channel stop failed'));
      this.controlChannel = null;
      this.journal?.close();
      this.journal = null;
    });
    await phase('inputs', async () => {
      for (const input of this.inputs) await input.stop().catch((error: Error) => this.logger.error({ err: error.message }, 'input stop failed'));
    });
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.jobs?.stop();
    this.replication?.stop();
    this.brokerSettings?.stop();
    this.scheduler?.stop();
    await phase('forwarder', () => this.forwarder?.stop());
    await phase('http', () => this.http?.stop());
    await phase('buffer', () => this.buffer.close());
    this.logger.info({ phasesMs }, 'stopped');
  }
}

function wrapLogger(logger: Logger): Pick<Console, 'info' | 'warn' | 'error' | 'debug'> {
  return {
    info: (message: string) => logger.info(message),
    warn: (message: string) => logger.warn(message),
    error: (message: string) => logger.error(message),
    debug: (message: string) => logger.debug(message),
  };
}
