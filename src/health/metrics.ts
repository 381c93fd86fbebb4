/**
 * Prometheus metrics (prom-client): names `skyhaul_*`, units in names, `_total` counters, labels
 * stream / input / priority / reason / state. Gauges are read from the daemon's status when
 * scraped; counters that only the status knows as running totals advance by their deltas.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { monotonicMs } from '../common/clock.ts';
import type { DaemonStatus } from '../status.ts';

const LINK_STATES = ['connecting', 'up', 'down', 'blackholed', 'paused', 'stopped'] as const;

export class SkyhaulMetrics {
  readonly registry = new Registry();
  private snapshot: { at: number; status: DaemonStatus } | null = null;
  readonly ingested: Counter<'stream' | 'input'>;
  readonly commitSeconds: Histogram;
  readonly commitLatencySeconds: Histogram;
  private readonly lastTotals = new Map<string, number>();

  constructor(
    private readonly status: () => DaemonStatus,
    version: string,
  ) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'skyhaul_' });
    // prom-client names three gauges `*_total`, which Prometheus reserves for counters
    // (`promtool check metrics` rejects them): replace them with correctly named gauges.
    for (const name of ['active_handles', 'active_requests', 'active_resources']) registry.removeSingleMetric(`skyhaul_nodejs_${name}_total`);
    const activeResources = new Gauge({
      name: 'skyhaul_nodejs_event_loop_resources',
      help: 'Active libuv resources keeping the event loop alive, by type.',
      labelNames: ['type'],
      registers: [registry],
      collect() {
        activeResources.reset();
        const counts = new Map<string, number>();
        for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
        for (const [type, count] of counts) activeResources.set({ type }, count);
      },
    });
    // One status per scrape, however many collectors ask.
    const current = (): DaemonStatus => {
      const now = monotonicMs();
      if (this.snapshot === null || now - this.snapshot.at > 250) this.snapshot = { at: now, status: this.status() };
      return this.snapshot.status;
    };
    // A total that went down was reset (its owner was rebuilt by a reload): it counts from zero
    // again, so everything it shows now is new. A counter must never stop moving.
    const advance = (counter: Counter<string>, key: string, labels: Record<string, string>, total: number): void => {
      const last = this.lastTotals.get(key) ?? 0;
      const delta = total >= last ? total - last : total;
      if (delta > 0) counter.inc(labels, delta);
      this.lastTotals.set(key, total);
    };

    // Stalls of the event loop (a long synchronous commit, sweep or parse) delay every input,
    // ack and API answer: measured since the previous scrape.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const loopDelay = new Gauge({
      name: 'skyhaul_event_loop_delay_seconds',
      // A gauge, not a summary: the label may not be called `quantile` (promtool).
      help: 'Event-loop delay since the previous scrape, by percentile (50, 99, 100 = the maximum).',
      labelNames: ['percentile'],
      registers: [registry],
      collect() {
        if (loop.count === 0) return;
        loopDelay.set({ percentile: '50' }, loop.percentile(50) / 1e9);
        loopDelay.set({ percentile: '99' }, loop.percentile(99) / 1e9);
        loopDelay.set({ percentile: '100' }, loop.max / 1e9);
        loop.reset();
      },
    });
    new Gauge({ name: 'skyhaul_build_info', help: 'Skyhaul version (value is always 1).', labelNames: ['version'], registers: [registry] }).set({ version }, 1);
    this.ingested = new Counter({
      name: 'skyhaul_records_ingested_total',
      help: 'Records durably committed to the buffer, by stream and input.',
      labelNames: ['stream', 'input'],
      registers: [registry],
    });
    this.commitSeconds = new Histogram({
      name: 'skyhaul_buffer_commit_duration_seconds',
      help: 'Duration of a buffer group commit (one SQLite transaction, fsync included).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    this.commitLatencySeconds = new Histogram({
      name: 'skyhaul_buffer_commit_latency_seconds',
      help: 'Per record, from arrival at the buffer to its durable commit: how long a source waits for its acknowledgement.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    });
    const forwarded = new Counter({
      name: 'skyhaul_records_forwarded_total',
      help: 'Records acknowledged by the broker, by stream and priority.',
      labelNames: ['stream', 'priority'],
      registers: [registry],
      collect() {
        for (const s of current().forwarding.streams) advance(forwarded, `fwd|${s.stream}`, { stream: s.stream, priority: s.priority }, s.ackedRecords);
      },
    });
    const dropped = new Counter({
      name: 'skyhaul_records_dropped_total',
      help: 'Records dropped by a policy (quota, TTL, disk, checksum, overflow), by stream and reason. Persisted across restarts.',
      labelNames: ['stream', 'reason'],
      registers: [registry],
      collect() {
        for (const d of current().drops) advance(dropped, `drop|${d.stream}|${d.reason}`, { stream: d.stream, reason: d.reason }, d.count);
      },
    });
    const reconnects = new Counter({
      name: 'skyhaul_link_reconnects_total',
      help: 'Times the link to Pulsar came back after being down or black-holed.',
      registers: [registry],
      collect() {
        advance(reconnects, 'reconnects', {}, current().forwarding.reconnects);
      },
    });
    const sendFailures = new Counter({
      name: 'skyhaul_send_failures_total',
      help: 'Producer failures (connection lost, dead link, broker refusal).',
      registers: [registry],
      collect() {
        advance(sendFailures, 'sendFailures', {}, current().forwarding.sendFailures);
      },
    });
    const backlogRecords = new Gauge({
      name: 'skyhaul_backlog_records',
      help: 'Records buffered and not yet acknowledged by the broker.',
      labelNames: ['stream', 'priority'],
      registers: [registry],
      collect() {
        backlogRecords.reset();
        for (const s of current().backlog.streams) backlogRecords.set({ stream: s.stream, priority: s.priority }, s.records);
      },
    });
    const backlogBytes = new Gauge({
      name: 'skyhaul_backlog_bytes',
      help: 'Accounted bytes of buffered records.',
      labelNames: ['stream', 'priority'],
      registers: [registry],
      collect() {
        backlogBytes.reset();
        for (const s of current().backlog.streams) backlogBytes.set({ stream: s.stream, priority: s.priority }, s.bytes);
      },
    });
    const oldest = new Gauge({
      name: 'skyhaul_backlog_oldest_age_seconds',
      help: 'Age of the oldest buffered record, by priority class (0 when empty, -1 when unknown: stamped by a clock known to be wrong).',
      labelNames: ['priority'],
      registers: [registry],
      collect() {
        const status = current();
        for (const priority of Object.keys(status.backlog.byPriority)) {
          const streams = status.backlog.streams.filter((s) => s.priority === priority && s.records > 0);
          const unknown = streams.some((s) => s.oldestAgeSeconds === null);
          oldest.set({ priority }, unknown ? -1 : Math.max(0, ...streams.map((s) => s.oldestAgeSeconds ?? 0)));
        }
      },
    });
    const clockSynchronised = new Gauge({
      name: 'skyhaul_clock_synchronised',
      help: '1 when the wall clock can be trusted; 0 when it reads earlier than this build (no RTC, no NTP yet), or stepped in the last 10 minutes.',
      registers: [registry],
      collect() {
        clockSynchronised.set(current().clock.state === 'synchronised' ? 1 : 0);
      },
    });
    const clockSteps = new Counter({
      name: 'skyhaul_clock_steps_total',
      help: 'Steps of the wall clock against the monotonic clock (NTP corrections, an operator setting the date).',
      registers: [registry],
      collect() {
        advance(clockSteps, 'clockSteps', {}, current().clock.steps);
      },
    });
    const inputDropped = new Counter({
      name: 'skyhaul_input_dropped_total',
      help: 'What inputs received and deliberately did not commit, by input and reason (oversize, unknown_sender, kernel_socket_buffer, unmatched_topic).',
      labelNames: ['input', 'reason'],
      registers: [registry],
      collect() {
        for (const d of current().inputDrops) advance(inputDropped, `idrop|${d.input}|${d.reason}`, { input: d.input, reason: d.reason }, d.count);
      },
    });
    const readingFlags = new Counter({
      name: 'skyhaul_reading_flags_total',
      help: 'Readings an adapter flagged (a corrected or implausible device time, an escaped text value), by input, adapter and flag.',
      labelNames: ['input', 'adapter', 'flag'],
      registers: [registry],
      collect() {
        for (const f of current().readingFlags) advance(readingFlags, `flag|${f.input}|${f.adapter}|${f.flag}`, { input: f.input, adapter: f.adapter, flag: f.flag }, f.count);
      },
    });
    const drainEta = new Gauge({
      name: 'skyhaul_drain_eta_seconds',
      help: 'Time to drain the backlog at the current forward rate (-1 when not draining).',
      registers: [registry],
      collect() {
        drainEta.set(current().drainEtaSeconds ?? -1);
      },
    });
    const quota = new Gauge({ name: 'skyhaul_buffer_quota_bytes', help: 'Configured buffer quota.', registers: [registry], collect() { quota.set(current().backlog.quotaBytes); } });
    const diskFree = new Gauge({
      name: 'skyhaul_disk_free_bytes',
      help: 'Free space on the buffer disk.',
      registers: [registry],
      collect() {
        diskFree.set(current().disk.freeBytes ?? 0);
      },
    });
    const accepting = new Gauge({
      name: 'skyhaul_buffer_accepting',
      help: '1 while the buffer accepts records, 0 while the disk watchdog holds intake.',
      registers: [registry],
      collect() {
        accepting.set(current().disk.accepting ? 1 : 0);
      },
    });
    const linkUp = new Gauge({
      name: 'skyhaul_link_up',
      help: '1 when the link to Pulsar is up.',
      registers: [registry],
      collect() {
        linkUp.set(current().link.state === 'up' ? 1 : 0);
      },
    });
    const linkState = new Gauge({
      name: 'skyhaul_link_state',
      help: 'Link state: 1 for the current state, 0 for the others.',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const state = current().link.state;
        for (const s of LINK_STATES) linkState.set({ state: s }, s === state ? 1 : 0);
      },
    });
    const linkSince = new Gauge({
      name: 'skyhaul_link_state_since_timestamp_seconds',
      help: 'When the link entered its current state (Unix time).',
      registers: [registry],
      collect() {
        linkSince.set(current().link.since / 1000);
      },
    });
    const inFlight = new Gauge({ name: 'skyhaul_inflight_messages', help: 'Messages sent and not yet acknowledged.', registers: [registry], collect() { inFlight.set(current().inFlight); } });
    const replicationBacklog = new Gauge({
      name: 'skyhaul_replication_backlog_messages',
      help: "Site Pulsar's geo-replication backlog towards the central cluster (target 'site' only).",
      labelNames: ['cluster'],
      registers: [registry],
      collect() {
        replicationBacklog.reset();
        const r = current().replication;
        if (r !== null) replicationBacklog.set({ cluster: r.cluster }, r.backlog);
      },
    });
    const replicationConnected = new Gauge({
      name: 'skyhaul_replication_connected',
      help: '1 when every replicator of the site Pulsar is connected to the central cluster.',
      labelNames: ['cluster'],
      registers: [registry],
      collect() {
        replicationConnected.reset();
        const r = current().replication;
        if (r !== null && r.connected !== null) replicationConnected.set({ cluster: r.cluster }, r.connected ? 1 : 0);
      },
    });
    const alarmActive = new Gauge({
      name: 'skyhaul_alarm_active',
      help: 'Active alarms (1), by alarm code and severity.',
      labelNames: ['alarm', 'severity'],
      registers: [registry],
      collect() {
        alarmActive.reset();
        for (const a of current().alarms) alarmActive.set({ alarm: a.code, severity: a.severity }, 1);
      },
    });
    const instrumentLastSeen = new Gauge({
      name: 'skyhaul_instrument_last_seen_timestamp_seconds',
      help: 'When each stream last delivered a reading (Unix time).',
      labelNames: ['stream'],
      registers: [registry],
      collect() {
        instrumentLastSeen.reset();
        for (const i of current().instruments) if (i.lastSeen !== null) instrumentLastSeen.set({ stream: i.stream }, i.lastSeen / 1000);
      },
    });
    const instrumentStale = new Gauge({
      name: 'skyhaul_instrument_stale',
      help: '1 when a stream has been silent for more than 3 expected intervals.',
      labelNames: ['stream'],
      registers: [registry],
      collect() {
        instrumentStale.reset();
        for (const i of current().instruments) if (i.expectedIntervalMs !== null) instrumentStale.set({ stream: i.stream }, i.stale ? 1 : 0);
      },
    });
    const inputUp = new Gauge({
      name: 'skyhaul_input_up',
      help: '1 when an input is running (connected to its device, broker or socket).',
      labelNames: ['input', 'type'],
      registers: [registry],
      collect() {
        inputUp.reset();
        for (const i of current().inputs) inputUp.set({ input: i.name, type: i.type }, i.state === 'running' ? 1 : 0);
      },
    });
    const decodeErrors = new Counter({
      name: 'skyhaul_decode_errors_total',
      help: 'Bad frames (framing, checksum, parse) by input, adapter and error code; kept in the quarantine for diagnosis.',
      labelNames: ['input', 'adapter', 'code'],
      registers: [registry],
      collect() {
        for (const d of current().decodeErrors) advance(decodeErrors, `dec|${d.input}|${d.adapter}|${d.code}`, { input: d.input, adapter: d.adapter, code: d.code }, d.count);
      },
    });
    const jobRuns = new Counter({
      name: 'skyhaul_job_runs_total',
      help: 'Scheduled job runs, by job and outcome.',
      labelNames: ['job', 'outcome'],
      registers: [registry],
      collect() {
        for (const j of current().jobs) {
          advance(jobRuns, `job|${j.name}|ok`, { job: j.name, outcome: 'ok' }, j.runs - j.failures);
          advance(jobRuns, `job|${j.name}|error`, { job: j.name, outcome: 'error' }, j.failures);
        }
      },
    });
    const selfTest = new Gauge({
      name: 'skyhaul_selftest_ok',
      help: '1 when the last self-test passed (canary record through the buffer and, with the link up, Pulsar).',
      registers: [registry],
      collect() {
        const st = current().selfTest;
        if (st !== null) selfTest.set(st.ok ? 1 : 0);
      },
    });
    const cpu = new Gauge({
      name: 'skyhaul_host_cpu_load_ratio',
      help: 'Host CPU load (0-1), sampled by the host job.',
      registers: [registry],
      collect() {
        const h = current().host;
        if (h?.cpuLoadPercent != null) cpu.set(h.cpuLoadPercent / 100);
      },
    });
    const memAvail = new Gauge({
      name: 'skyhaul_host_memory_available_bytes',
      help: 'Host memory available.',
      registers: [registry],
      collect() {
        const h = current().host;
        if (h?.memoryAvailableBytes != null) memAvail.set(h.memoryAvailableBytes);
      },
    });
    const temperature = new Gauge({
      name: 'skyhaul_host_temperature_celsius',
      help: 'Host temperatures where the hardware reports them.',
      labelNames: ['sensor'],
      registers: [registry],
      collect() {
        temperature.reset();
        for (const t of current().host?.temperatures ?? []) temperature.set({ sensor: t.sensor }, t.celsius);
      },
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    this.snapshot = null;
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
