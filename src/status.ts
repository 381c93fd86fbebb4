/**
 * The status document (`GET /api/v1/status`, the SSE stream, `skyhaul status`, metrics): the
 * one place the daemon tells the operator what is true.
 */
import type { ClassStats, DropCount, PriorityClass } from './buffer/index.ts';
import type { ClockStatus } from './common/clock.ts';
import type { LinkState } from './forward/forwarder.ts';
import type { ReplicationStatus } from './forward/replication.ts';
import type { Alarm } from './health/alarms.ts';
import type { HostSample } from './health/host.ts';
import type { InstrumentStatus } from './health/instruments.ts';
import type { InputStatus } from './inputs/input.ts';
import type { JobStatus } from './jobs/scheduler.ts';

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
