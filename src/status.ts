/**
 * The status document (`GET /api/v1/status`, the SSE stream, `skyhaul status`, metrics): the
 * one place the daemon tells the operator what is true. `assembleStatus` derives it from the
 * parts' own reports (the daemon, src/daemon.ts, only gathers them): ages that a wrong clock would
 * make absurd are null, the drain ETA only while the link is up, the link shown down when
 * forwarding is off.
 */
import type { BufferStats, ClassStats, DropCount, PriorityClass, StreamState } from './buffer/index.ts';
import type { ClockMonitor, ClockStatus } from './common/clock.ts';
import type { LinkState } from './forward/forwarder.ts';
import type { ReplicationStatus } from './forward/replication.ts';
import type { Alarm } from './health/alarms.ts';
import type { HostSample } from './health/host.ts';
import type { InstrumentStatus } from './health/instruments.ts';
import type { InputStatus } from './inputs/input.ts';
import type { JobStatus } from './jobs/scheduler.ts';
import type { ControlChannelStatus } from './control/amqp.ts';

export interface SelfTestResult {
  at: number;
  ok: boolean;
  /** Canary committed to the buffer, ms. */
  bufferMs: number | null;
  /** Canary acknowledged by the broker, ms (null: forwarding down or off, not checked). */
  forwardMs: number | null;
  checkedForwarding: boolean;
  error: string | null;
}

export interface StreamBacklog {
  stream: string;
  priority: PriorityClass;
  records: number;
  bytes: number;
  /** null when empty, or when its ingest time came from a clock known to be wrong (age unknown). */
  oldestAgeSeconds: number | null;
  lastSequence: number;
  ackedSequence: number;
}

export interface DaemonStatus {
  /** The daemon's clock (ms since epoch), so clients can show ages without trusting their own. */
  now: number;
  /** Whether that clock can be trusted: unsynchronised (below this build's date) or recently stepped. */
  clock: ClockStatus;
  site: { id: string; name?: string };
  producerId: string;
  version: string;
  uptimeSeconds: number;
  startup: { bufferOpenMs: number | null; readyMs: number | null };
  readiness: { ready: boolean; reasons: string[] };
  link: LinkState;
  transport: string | null;
  target: 'site' | 'central';
  forwardUrl: string | null;
  paused: boolean;
  inFlight: number;
  forwarding: {
    reconnects: number;
    sendFailures: number;
    bandwidthBytesPerSecond: number | null;
    streams: Array<{ stream: string; priority: PriorityClass; connected: boolean; sentUpTo: number; ackedUpTo: number; inFlight: number; ackedRecords: number }>;
  };
  backlog: {
    records: number;
    bytes: number;
    quotaBytes: number;
    byPriority: Record<PriorityClass, ClassStats>;
    streams: StreamBacklog[];
  };
  rates: { ingestPerSecond: number; forwardPerSecond: number };
  drainEtaSeconds: number | null;
  drops: DropCount[];
  disk: { freeBytes: number | null; accepting: boolean };
  alarms: Alarm[];
  replication: ReplicationStatus | null;
  instruments: InstrumentStatus[];
  /** Bad frames by input, adapter and error code (framing and decode errors). */
  decodeErrors: Array<{ input: string; adapter: string; code: string; count: number }>;
  /** Readings that carried an adapter flag (a corrected device time, an escaped text value), by input, adapter and flag. */
  readingFlags: Array<{ input: string; adapter: string; flag: string; count: number }>;
  /** What inputs received and deliberately did not commit (oversize, unknown sender, kernel socket drops, unmatched topic). */
  inputDrops: Array<{ input: string; reason: string; count: number }>;
  inputs: InputStatus[];
  jobs: JobStatus[];
  host: HostSample | null;
  selfTest: SelfTestResult | null;
  /** Remote commands over RabbitMQ (src/control/): null when control is off. */
  control: ControlChannelStatus | null;
}

/** One point of the backlog history the dashboard draws. */
export interface HistoryPoint {
  at: number;
  backlogRecords: number;
  backlogBytes: number;
  ingestPerSecond: number;
  forwardPerSecond: number;
  linkState: string;
}

/** What the daemon's parts report, gathered for `assembleStatus`. */
export interface StatusParts {
  now: number;
  clock: Pick<ClockMonitor, 'status' | 'trusted'>;
  site: DaemonStatus['site'];
  producerId: string;
  version: string;
  startup: DaemonStatus['startup'];
  startedAt: number;
  readiness: DaemonStatus['readiness'];
  /** null: forwarding is off. */
  forward: {
    link: LinkState;
    transport: string;
    inFlight: number;
    paused: boolean;
    streams: DaemonStatus['forwarding']['streams'];
    counters: { reconnects: number; sendFailures: number };
  } | null;
  target: DaemonStatus['target'];
  forwardUrl: string | null;
  bandwidthBytesPerSecond: number | null;
  buffer: { stats: BufferStats; streams: StreamState[]; drops: DropCount[] };
  rates: DaemonStatus['rates'];
  alarms: Alarm[];
  replication: ReplicationStatus | null;
  instruments: InstrumentStatus[];
  decodeErrors: DaemonStatus['decodeErrors'];
  readingFlags: DaemonStatus['readingFlags'];
  inputDrops: DaemonStatus['inputDrops'];
  inputs: InputStatus[];
  jobs: JobStatus[];
  host: HostSample | null;
  selfTest: SelfTestResult | null;
  control: ControlChannelStatus | null;
}

export function assembleStatus(p: StatusParts): DaemonStatus {
  const { now, buffer, forward } = p;
  const clock = p.clock.status();
  const ageKnown = (time: number): boolean => clock.state !== 'unsynchronised' && p.clock.trusted(time);
  const records = buffer.stats.records;
  const forwardRate = p.rates.forwardPerSecond;
  return {
    now,
    clock,
    site: p.site,
    producerId: p.producerId,
    version: p.version,
    uptimeSeconds: Math.round(process.uptime()),
    startup: p.startup,
    readiness: p.readiness,
    link: forward?.link ?? {
      state: 'down',
      since: p.startedAt,
      lastError: { code: 'SKY_ERR_CONFIG', message: 'forwarding is off (no forward.url)', at: p.startedAt },
      lastAckAt: null,
      reconnectAttempts: 0,
      nextAttemptAt: null,
    },
    transport: forward?.transport ?? null,
    target: p.target,
    forwardUrl: p.forwardUrl,
    paused: forward?.paused ?? false,
    inFlight: forward?.inFlight ?? 0,
    forwarding: {
      reconnects: forward?.counters.reconnects ?? 0,
      sendFailures: forward?.counters.sendFailures ?? 0,
      bandwidthBytesPerSecond: p.bandwidthBytesPerSecond,
      streams: forward?.streams ?? [],
    },
    backlog: {
      records,
      bytes: buffer.stats.bytes,
      quotaBytes: buffer.stats.quotaBytes,
      byPriority: buffer.stats.byPriority,
      streams: buffer.streams.map((s) => ({
        stream: s.stream,
        priority: s.priority,
        records: s.records,
        bytes: s.bytes,
        // Unknown, not absurd, when the time came from a clock known to be wrong (or is one now).
        oldestAgeSeconds: s.oldestIngestTime === null || !ageKnown(s.oldestIngestTime) ? null : Math.round((now - s.oldestIngestTime) / 1000),
        lastSequence: s.nextSequence - 1,
        ackedSequence: s.ackedSequence,
      })),
    },
    rates: p.rates,
    // Only a link that is up drains; the averaged rate lingers for a while after a cut.
    drainEtaSeconds: records === 0 ? 0 : forward?.link.state === 'up' && forwardRate > 0 ? Math.round(records / forwardRate) : null,
    drops: buffer.drops,
    disk: { freeBytes: buffer.stats.diskFreeBytes, accepting: buffer.stats.accepting },
    alarms: p.alarms,
    replication: p.replication,
    instruments: p.instruments,
    decodeErrors: p.decodeErrors,
    readingFlags: p.readingFlags,
    inputDrops: p.inputDrops,
    inputs: p.inputs,
    jobs: p.jobs,
    host: p.host,
    selfTest: p.selfTest,
    control: p.control,
  };
}
