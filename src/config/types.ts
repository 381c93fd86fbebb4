import type { PriorityClass, QuotaPolicy } from '../buffer/index.ts';
import type { BandwidthWindow } from '../forward/bandwidth.ts';
import type * as inputSchemas from '../inputs/schemas.ts';
import type { Bytes, Duration, SettingsOf } from './forms.ts';

/** The file as validated (defaults filled in), before units are normalised. */
export interface RawConfig {
  site: { id: string; name?: string };
  dataDir: string;
  logging: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' };
  buffer: {
    file: string;
    synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
    groupCommit: { maxRecords: number; maxDelayMs: number };
    quota: Bytes;
    policies: Record<PriorityClass, QuotaPolicy>;
    disk: { minFree: Bytes; resumeFree: Bytes; checkInterval: Duration };
    maxBlocked: Bytes;
    maxStreams: number;
    writerThread: boolean;
  };
  streams: Array<{ match: string; priority: PriorityClass; ttl: Duration | null; expectedInterval: Duration | null }>;
  forward: {
    enabled: boolean;
    target: 'site' | 'central';
    url: string | null;
    serviceUrl: string | null;
    transport: 'auto' | 'websocket' | 'binary' | 'native';
    topic: string;
    replicationCluster: string;
    window: { maxMessages: number; maxMessagesPerStream: number };
    sendTimeout: Duration;
    maxMessageSize: Bytes | null;
    brokerChecks: { enabled: boolean; interval: Duration; outageHorizon: Duration; bookieUrl: string | null };
    deadLinkTimeout: Duration;
    backoff: { initial: Duration; max: Duration };
    bandwidth: { limit: Bytes | null; schedule: Array<{ from: string; to: string; limit: Bytes | null }> };
    tls: { caFile?: string; certFile?: string; keyFile?: string; allowInsecure: boolean };
    auth: { token?: string; tokenFile?: string };
  };
  http: { enabled: boolean; bind: string; port: number; token?: string };
  control: {
    enabled: boolean;
    url: string | null;
    password?: string;
    passwordFile?: string;
    queue: string | null;
    heartbeat: Duration;
    backoff: { initial: Duration; max: Duration };
    reportInterval: Duration;
    journal: { retention: Duration; maxEntries: number };
    tls: { caFile?: string; certFile?: string; keyFile?: string; allowInsecure: boolean };
  };
  jobs: { ttlSweep: string; checkpoint: string; vacuum: string; hostSample: string; selfTest: string; summary: string };
  alarms: { backlogAge: Duration | null; diskFree: Bytes | null; linkDown: Duration | null; staleInstruments: boolean; record: boolean };
  inputs: InputConfig[];
}

type Registered = typeof inputSchemas;

/** One input as validated: the union of every registered transport's settings, keyed on `type`. */
export type InputConfig = { [K in keyof Registered]: SettingsOf<Registered[K]> }[keyof Registered];

export interface StreamRule {
  match: string;
  priority: PriorityClass;
  ttlMs: number | null;
  expectedIntervalMs: number | null;
}

export interface Config {
  site: { id: string; name?: string };
  dataDir: string;
  logging: RawConfig['logging'];
  buffer: {
    path: string;
    synchronous: RawConfig['buffer']['synchronous'];
    groupCommit: { maxRecords: number; maxDelayMs: number };
    quotaBytes: number;
    policies: Record<PriorityClass, QuotaPolicy>;
    disk: { minFreeBytes: number; resumeFreeBytes: number; checkIntervalMs: number };
    maxBlockedBytes: number;
    /** Most streams the buffer keeps (buffer.maxStreams). */
    maxStreams: number;
    /** SQLite on its own thread (buffer.writerThread). */
    writerThread: boolean;
  };
  streams: StreamRule[];
  forward: {
    enabled: boolean;
    target: 'site' | 'central';
    url: string | null;
    serviceUrl: string | null;
    transport: 'auto' | 'websocket' | 'binary' | 'native';
    topic: string;
    replicationCluster: string;
    window: { maxMessages: number; maxMessagesPerStream: number };
    sendTimeoutMs: number;
    /** null: the transport's default (DEFAULT_MAX_MESSAGE_BYTES). */
    maxMessageBytes: number | null;
    brokerChecks: { enabled: boolean; intervalMs: number; outageHorizonMs: number; bookieUrl: string | null };
    deadLinkTimeoutMs: number;
    backoff: { initialMs: number; maxMs: number };
    bandwidth: { bytesPerSecond: number | null; schedule: BandwidthWindow[] };
    tls: RawConfig['forward']['tls'];
    token: string | undefined;
  };
  http: RawConfig['http'];
  control: {
    enabled: boolean;
    url: string | null;
    password: string | undefined;
    queue: string | null;
    heartbeatMs: number;
    backoff: { initialMs: number; maxMs: number };
    reportIntervalMs: number;
    journal: { retentionMs: number; maxEntries: number };
    tls: RawConfig['control']['tls'];
  };
  jobs: RawConfig['jobs'];
  alarms: { backlogAgeMs: number | null; diskFreeBytes: number | null; linkDownMs: number | null; staleInstruments: boolean; record: boolean };
  inputs: InputConfig[];
}
