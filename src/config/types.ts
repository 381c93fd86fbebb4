import type { PriorityClass, QuotaPolicy } from '../buffer/index.ts';
import type { BandwidthWindow } from '../forward/bandwidth.ts';

type Duration = number | string;
type Bytes = number | string;

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
  };
  streams: Array<{ match: string; priority: PriorityClass; ttl: Duration | null; expectedInterval: Duration | null }>;
  forward: {
    enabled: boolean;
    target: 'site' | 'central';
    url: string | null;
    serviceUrl: string | null;
    transport: 'auto' | 'websocket' | 'native';
    topic: string;
    replicationCluster: string;
    window: { maxMessages: number; maxMessagesPerStream: number };
    sendTimeout: Duration;
    deadLinkTimeout: Duration;
    backoff: { initial: Duration; max: Duration };
    bandwidth: { limit: Bytes | null; schedule: Array<{ from: string; to: string; limit: Bytes | null }> };
    tls: { caFile?: string; certFile?: string; keyFile?: string; allowInsecure: boolean };
    auth: { token?: string; tokenFile?: string };
  };
  http: { enabled: boolean; bind: string; port: number; token?: string };
  jobs: { ttlSweep: string; checkpoint: string; vacuum: string; hostSample: string; selfTest: string; summary: string };
  alarms: { backlogAge: Duration | null; diskFree: Bytes | null; linkDown: Duration | null; staleInstruments: boolean; record: boolean };
  inputs: InputConfig[];
}

type Backoff = { initial: Duration; max: Duration };

export type InputConfig =
  | { type: 'synthetic'; name: string; profile: 'small'; rateScale: number }
  | { type: 'http'; name: string; token?: string; maxRecordsPerRequest: number }
  | {
      type: 'serial';
      name: string;
      path: string;
      baudRate: number;
      dataBits: 5 | 6 | 7 | 8;
      parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
      stopBits: 1 | 1.5 | 2;
      flowControl: 'none' | 'rtscts' | 'xonxoff';
      adapter: string;
      adapterOptions: Record<string, unknown>;
      backoff: Backoff;
    }
  | {
      type: 'mqtt';
      name: string;
      url: string;
      clientId?: string;
      username?: string;
      password?: string;
      tls?: { caFile?: string; certFile?: string; keyFile?: string; allowInsecure?: boolean };
      keepalive: number;
      reconnect: Duration;
      subscriptions: Array<{ topic: string; instrument: string; adapter: string; adapterOptions: Record<string, unknown> }>;
    }
  | {
      type: 'udp';
      name: string;
      bind: string;
      port: number;
      maxDatagramBytes: number;
      receiveBuffer: Bytes;
      senders: Record<string, string>;
      onlyListedSenders: boolean;
      adapter: string;
      adapterOptions: Record<string, unknown>;
    }
  | { type: 'tcp'; name: string; host: string; port: number; connectTimeout: Duration; adapter: string; adapterOptions: Record<string, unknown>; backoff: Backoff };

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
  };
  streams: StreamRule[];
  forward: {
    enabled: boolean;
    target: 'site' | 'central';
    url: string | null;
    serviceUrl: string | null;
    transport: 'auto' | 'websocket' | 'native';
    topic: string;
    replicationCluster: string;
    window: { maxMessages: number; maxMessagesPerStream: number };
    sendTimeoutMs: number;
    deadLinkTimeoutMs: number;
    backoff: { initialMs: number; maxMs: number };
    bandwidth: { bytesPerSecond: number | null; schedule: BandwidthWindow[] };
    tls: RawConfig['forward']['tls'];
    token: string | undefined;
  };
  http: RawConfig['http'];
  jobs: RawConfig['jobs'];
  alarms: { backlogAgeMs: number | null; diskFreeBytes: number | null; linkDownMs: number | null; staleInstruments: boolean; record: boolean };
  inputs: InputConfig[];
}
