/**
 * Alarms: thresholds from config (backlog age, disk free, link down for too long, stale
 * instruments) plus the buffer's own alarms (quarantine, checksum, disk low). Each transition is
 * one event: logged, counted in metrics, shown in status, and optionally written as a record into
 * the alarm lane so the data centre hears of it first when the link returns.
 */
import { EventEmitter } from 'node:events';
import type { ClockStatus } from '../common/clock.ts';

export interface AlarmThresholds {
  backlogAgeMs: number | null;
  diskFreeBytes: number | null;
  linkDownMs: number | null;
  staleInstruments: boolean;
}

export interface Alarm {
  code: string;
  severity: 'warning' | 'critical';
  message: string;
  since: number;
  acknowledged: { by: string; at: number } | null;
  details?: Record<string, unknown>;
}

export interface AlarmInputs {
  now: number;
  link: { state: string; since: number } | null;
  oldestBacklogAgeMs: number | null;
  diskFreeBytes: number | null;
  staleStreams: string[];
  /** Alarms raised elsewhere (the buffer, the clock), critical unless they say otherwise. */
  bufferAlarms: Array<{ code: string; message: string; since: number; severity?: 'warning' | 'critical'; details?: Record<string, unknown> }>;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * The clock's alarms: `clock_unsynchronised` (critical: every ingest time is wrong until NTP or
 * the RTC sets the clock; backlog age and TTL ignore such times) and `clock_stepped` (warning).
 */
export function clockAlarms(clock: ClockStatus, now: number): AlarmInputs['bufferAlarms'] {
  if (clock.state === 'unsynchronised') {
    return [
      {
        code: 'clock_unsynchronised',
        message: `the system clock reads ${new Date(clock.wallTime).toISOString()}, before this build (${new Date(clock.floor).toISOString()}): ingest times are wrong until it is set (NTP, RTC); backlog age and TTL ignore them`,
        since: now,
      },
    ];
  }
  if (clock.state === 'stepped' && clock.lastStep !== null) {
    return [
      {
        code: 'clock_stepped',
        severity: 'warning',
        message: `the system clock stepped by ${Math.round(clock.lastStep.deltaMs / 1000)} s at ${new Date(clock.lastStep.at).toISOString()}`,
        since: now,
      },
    ];
  }
  return [];
}

export class AlarmManager extends EventEmitter {
  private readonly active = new Map<string, Alarm>();
  /** Counts of raises per code since start, for metrics. */
  readonly raised = new Map<string, number>();

  constructor(private thresholds: AlarmThresholds) {
    super();
  }

  setThresholds(thresholds: AlarmThresholds): void {
    this.thresholds = thresholds;
  }

  evaluate(inputs: AlarmInputs): void {
    const wanted = new Map<string, Omit<Alarm, 'since' | 'acknowledged'>>();
    const t = this.thresholds;
    if (t.linkDownMs !== null && inputs.link !== null && inputs.link.state !== 'up' && inputs.link.state !== 'paused') {
      const downFor = inputs.now - inputs.link.since;
      if (downFor >= t.linkDownMs) {
        wanted.set('link_down', { code: 'link_down', severity: 'critical', message: `link ${inputs.link.state} for ${formatDuration(downFor)}` });
      }
    }
    if (t.backlogAgeMs !== null && inputs.oldestBacklogAgeMs !== null && inputs.oldestBacklogAgeMs >= t.backlogAgeMs) {
      wanted.set('backlog_age', {
        code: 'backlog_age',
        severity: 'warning',
        message: `oldest buffered record is ${formatDuration(inputs.oldestBacklogAgeMs)} old`,
      });
    }
    if (t.diskFreeBytes !== null && inputs.diskFreeBytes !== null && inputs.diskFreeBytes < t.diskFreeBytes) {
      wanted.set('disk_free', {
        code: 'disk_free',
        severity: 'critical',
        message: `${Math.round(inputs.diskFreeBytes / 1024 ** 2)} MiB free on the buffer disk`,
      });
    }
    if (t.staleInstruments && inputs.staleStreams.length > 0) {
      wanted.set('instrument_stale', {
        code: 'instrument_stale',
        severity: 'warning',
        message: `${inputs.staleStreams.length} stale: ${inputs.staleStreams.slice(0, 5).join(', ')}${inputs.staleStreams.length > 5 ? ', …' : ''}`,
        details: { streams: inputs.staleStreams },
      });
    }
    for (const alarm of inputs.bufferAlarms) {
      wanted.set(alarm.code, { code: alarm.code, severity: alarm.severity ?? 'critical', message: alarm.message, ...(alarm.details ? { details: alarm.details } : {}) });
    }

    for (const [code, alarm] of wanted) {
      const existing = this.active.get(code);
      if (existing === undefined) {
        const raised: Alarm = { ...alarm, since: inputs.now, acknowledged: null };
        this.active.set(code, raised);
        this.raised.set(code, (this.raised.get(code) ?? 0) + 1);
        this.emit('raised', raised);
      } else {
        existing.message = alarm.message;
        if (alarm.details !== undefined) existing.details = alarm.details;
      }
    }
    for (const [code, alarm] of this.active) {
      if (!wanted.has(code)) {
        this.active.delete(code);
        this.emit('cleared', alarm, inputs.now);
      }
    }
  }

  acknowledge(code: string, by: string, at = Date.now()): Alarm | null {
    const alarm = this.active.get(code);
    if (alarm === undefined) return null;
    alarm.acknowledged = { by, at };
    return alarm;
  }

  list(): Alarm[] {
    return [...this.active.values()].map((a) => ({ ...a }));
  }
}
