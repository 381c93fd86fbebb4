/**
 * The edge daemon: buffer, forwarder, inputs and the local HTTP server wired together.
 *
 * Start order matters for invariant 1: the buffer opens first (inputs have nowhere to put a
 * record before), then the forwarder, then inputs, then the HTTP server reports ready.
 * Stop order is the reverse: inputs stop taking data, pending commits finish, in-flight sends
 * get a moment to be acknowledged, and the buffer closes last.
 */
import { mkdirSync } from 'node:fs';
import { RecordBuffer, type PriorityClass } from './buffer/index.ts';
import { streamResolver } from './config/streams.ts';
import type { Config } from './config/types.ts';
import { BandwidthScheduler, TokenBucket } from './forward/bandwidth.ts';
import { Forwarder } from './forward/forwarder.ts';
import { createTransport } from './forward/pulsar/index.ts';
import { PulsarAdmin } from './forward/pulsar/admin.ts';
import { ReplicationMonitor } from './forward/replication.ts';
import { HealthServer } from './health/server.ts';
import { createInput, type Input } from './inputs/index.ts';
import { JobScheduler } from './jobs/scheduler.ts';
import type { Logger } from './log.ts';
import { RateMeter } from './rates.ts';
import type { IncomingRecord } from './record/record.ts';

export const VERSION = '0.1.0';

export function topicFor(template: string, siteId: string, stream: string, priority: PriorityClass): string {
  return template
    .replaceAll('{site}', siteId)
    .replaceAll('{priority}', priority)
    .replaceAll('{stream}', stream.replace(/\//g, '.'));
}

export class Daemon {
  readonly buffer: RecordBuffer;
  private forwarder: Forwarder | null = null;
  private scheduler: BandwidthScheduler | null = null;
  private replication: ReplicationMonitor | null = null;
  private readonly inputs: Input[] = [];
  private http: HealthServer | null = null;
  private jobs: JobScheduler | null = null;
  private readonly resolveStream: ReturnType<typeof streamResolver>;
  private readonly ingestRate = new RateMeter();
  private readonly forwardRate = new RateMeter();
  private rateTimer: NodeJS.Timeout | null = null;
  private started = false;
  private inputsStarted = false;
  readonly startedAt = Date.now();
  /** Start-up timings: buffer open, and ready measured from process start (invariant 5). */
  private startup: { bufferOpenMs: number | null; readyMs: number | null } = { bufferOpenMs: null, readyMs: null };

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.resolveStream = streamResolver(config.streams);
    this.buffer = new RecordBuffer({
      path: config.buffer.path,
      siteId: config.site.id,
      synchronous: config.buffer.synchronous,
      groupCommit: config.buffer.groupCommit,
      quotaBytes: config.buffer.quotaBytes,
      policies: config.buffer.policies,
      streamConfig: (stream) => {
        const resolved = this.resolveStream(stream);
        return { priority: resolved.priority, ttlMs: resolved.ttlMs };
      },
      disk: config.buffer.disk,
      maxBlockedBytes: config.buffer.maxBlockedBytes,
      logger: logger.child({ component: 'buffer' }),
    });
  }

  /** Where inputs put records: counted for the ingest rate, then committed durably. */
  private readonly sink = {
    append: (record: IncomingRecord) => {
      const committed = this.buffer.append(record);
      return committed.then((result) => {
        this.ingestRate.add(1);
        return result;
      });
    },
  };

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    mkdirSync(this.config.dataDir, { recursive: true });
    const t0 = performance.now();
    this.buffer.open();
    this.startup.bufferOpenMs = Math.round(performance.now() - t0);
    this.logger.info(
      { component: 'buffer', path: this.config.buffer.path, producerId: this.buffer.producerId, ms: this.startup.bufferOpenMs, ...this.buffer.stats() },
      'buffer open',
    );

    if (this.config.forward.enabled && this.config.forward.url !== null) this.startForwarder(this.config.forward.url);
    else this.logger.warn({ component: 'forward' }, 'forwarding is off (no forward.url): buffering only, link shown down');

    if (this.config.http.enabled) {
      this.http = new HealthServer({ bind: this.config.http.bind, port: this.config.http.port }, this, this.logger);
    }
    const routes = this.http ?? { post: () => {} };
    for (const inputConfig of this.config.inputs) {
      this.inputs.push(
        createInput(inputConfig, { sink: this.sink, logger: this.logger.child({ component: 'input', input: inputConfig.name }), siteId: this.config.site.id, routes }),
      );
    }
    for (const input of this.inputs) await input.start();
    this.inputsStarted = true;
    this.jobs = new JobScheduler(
      [
        { name: 'ttlSweep', schedule: this.config.jobs.ttlSweep, run: () => ({ dropped: this.buffer.sweepTtl() }) },
        { name: 'checkpoint', schedule: this.config.jobs.checkpoint, run: () => this.buffer.checkpoint() },
        { name: 'vacuum', schedule: this.config.jobs.vacuum, run: () => this.buffer.incrementalVacuum() },
      ],
      this.logger,
    );
    this.jobs.start();
    this.rateTimer = setInterval(() => {
      this.forwardRate.set(this.forwarder?.counters.ackedRecords ?? 0);
    }, 1000);
    this.rateTimer.unref();
    if (this.http !== null) {
      const address = await this.http.start();
      this.logger.info({ component: 'http', ...address }, `health API on http://${address.host}:${address.port}`);
    }
    this.startup.readyMs = Math.round(process.uptime() * 1000);
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
    };
    const transport = createTransport(forward.transport, transportOptions);
    const admin = new PulsarAdmin(transportOptions);
    const bucket = new TokenBucket(forward.bandwidth.bytesPerSecond);
    this.scheduler = new BandwidthScheduler(bucket, forward.bandwidth);
    this.scheduler.start();
    const topic = (stream: string, priority: PriorityClass): string => topicFor(forward.topic, this.config.site.id, stream, priority);
    this.forwarder = new Forwarder({
      source: this.buffer,
      transport,
      topicFor: topic,
      bandwidth: bucket,
      backoff: forward.backoff,
      window: forward.window,
      probe: () => admin.ready(),
      logger: wrapLogger(this.logger.child({ component: 'forward' })),
    });
    this.forwarder.start();
    this.logger.info({ component: 'forward', url, transport: transport.kind, target: forward.target }, 'forwarding');
    if (forward.target === 'site') {
      this.replication = new ReplicationMonitor(admin, forward.replicationCluster, () => {
        const topics = new Set(this.buffer.streams().map((s) => topic(s.stream, s.priority)));
        return [...topics];
      });
      this.replication.start();
    }
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.started) reasons.push('daemon not started');
    if (!this.inputsStarted) reasons.push('inputs not started');
    for (const alarm of this.buffer.alarms()) if (alarm.code === 'buffer_quarantined') reasons.push(`buffer: ${alarm.message}`);
    const stats = this.started ? this.buffer.stats() : null;
    if (stats !== null && !stats.accepting) reasons.push('buffer is not accepting records (disk low)');
    // Quarantine still leaves a working buffer: ready, but the reason is shown.
    const blocking = reasons.filter((r) => !r.startsWith('buffer: '));
    return { ready: blocking.length === 0, reasons };
  }

  pauseForwarding(): void {
    this.forwarder?.pause();
  }

  resumeForwarding(): void {
    this.forwarder?.resume();
  }

  setBandwidthOverride(bytesPerSecond: number | null | undefined): void {
    this.scheduler?.setOverride(bytesPerSecond);
  }

  status(): Record<string, unknown> {
    const now = Date.now();
    const stats = this.buffer.stats();
    const streams = this.buffer.streams();
    const forward = this.forwarder?.status() ?? null;
    const forwardRate = this.forwardRate.perSecond();
    return {
      site: this.config.site,
      producerId: this.buffer.producerId,
      version: VERSION,
      uptimeSeconds: Math.round((now - this.startedAt) / 1000),
      startup: this.startup,
      readiness: this.readiness(),
      link: forward?.link ?? { state: 'down', since: this.startedAt, lastError: { code: 'SKY_ERR_CONFIG', message: 'forwarding is off (no forward.url)', at: this.startedAt } },
      transport: forward?.transport ?? null,
      target: this.config.forward.target,
      inFlight: forward?.inFlight ?? 0,
      backlog: {
        records: stats.records,
        bytes: stats.bytes,
        quotaBytes: stats.quotaBytes,
        byPriority: stats.byPriority,
        streams: streams.map((s) => ({
          stream: s.stream,
          priority: s.priority,
          records: s.records,
          bytes: s.bytes,
          oldestAgeSeconds: s.oldestIngestTime === null ? null : Math.round((now - s.oldestIngestTime) / 1000),
          lastSequence: s.nextSequence - 1,
          ackedSequence: s.ackedSequence,
        })),
      },
      rates: { ingestPerSecond: this.ingestRate.perSecond(), forwardPerSecond: forwardRate },
      drainEtaSeconds: stats.records === 0 ? 0 : forwardRate > 0 ? Math.round(stats.records / forwardRate) : null,
      drops: this.buffer.drops(),
      disk: { freeBytes: stats.diskFreeBytes, accepting: stats.accepting },
      alarms: this.buffer.alarms(),
      replication: this.replication?.status() ?? null,
      inputs: this.inputs.map((input) => input.status()),
      jobs: this.jobs?.status() ?? [],
    };
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const input of this.inputs) await input.stop().catch((error: Error) => this.logger.error({ err: error.message }, 'input stop failed'));
    if (this.rateTimer !== null) clearInterval(this.rateTimer);
    this.jobs?.stop();
    this.replication?.stop();
    this.scheduler?.stop();
    await this.forwarder?.stop();
    await this.http?.stop();
    await this.buffer.close();
    this.logger.info('stopped');
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
