/**
 * The broker settings checker's decisions, against canned admin answers served over real HTTP
 * (the shapes Pulsar 4.0.7 and BookKeeper 4.17.2 give, recorded from the dev stack), through the
 * real PulsarAdmin client. The real-broker proof is dedup-window.exclusive.test.ts; this file
 * covers the cases a healthy broker cannot show (401, a dead link, a namespace policy turning
 * de-duplication off) and the shipped configuration files themselves.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../packaging/dev-stack/stack.ts';
import { PulsarAdmin } from '../../../src/forward/pulsar/admin.ts';
import { BrokerSettingsChecker, formatSpan, longestTtl, type BrokerSettingsOptions } from '../../../src/forward/pulsar/broker-settings.ts';
import { AlarmManager } from '../../../src/health/alarms.ts';
import { SHIPPED_SITE_CONF, parseConf } from './standalone.ts';

type Answer = { status: number; body: string } | 'hang';

const TOPIC = 'persistent://skyhaul/telemetry/cerro-01';
const TOPIC_PATH = '/admin/v2/persistent/skyhaul/telemetry/cerro-01';
const DAY_MIN = 24 * 60;

/** A broker-shaped HTTP server: answers from a table (path with query -> answer), 404 otherwise. */
class CannedBroker {
  readonly answers = new Map<string, Answer>();
  readonly requests: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  private server: Server | null = null;
  private readonly hanging: Array<() => void> = [];
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests.push({ url: req.url ?? '', headers: req.headers });
      const answer = this.answers.get(req.url ?? '') ?? { status: 404, body: '{"reason":"Topic not found"}' };
      if (answer === 'hang') {
        this.hanging.push(() => res.destroy());
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  set(path: string, status: number, body: unknown): void {
    this.answers.set(path, { status, body: typeof body === 'string' ? body : JSON.stringify(body) });
  }

  async stop(): Promise<void> {
    for (const release of this.hanging.splice(0)) release();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** The runtime configuration as Pulsar 4.0.7 answers it (every value a string), trimmed to what matters. */
function runtime(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    brokerDeduplicationEnabled: 'true',
    brokerDeduplicationProducerInactivityTimeoutMinutes: '20160',
    brokerDeleteInactiveTopicsEnabled: 'false',
    ttlDurationDefaultInSeconds: '0',
    webSocketSessionIdleTimeoutMillis: '30000',
    ...overrides,
  };
}

/** A broker and bookie with Skyhaul's site settings, topic created. */
function siteBroker(broker: CannedBroker, bookie: CannedBroker): void {
  broker.set('/admin/v2/brokers/configuration/runtime', 200, runtime());
  broker.set(`${TOPIC_PATH}/deduplicationEnabled?applied=true`, 200, 'true');
  broker.set(`${TOPIC_PATH}/messageTTL?applied=true`, 200, '0');
  broker.set(`${TOPIC_PATH}/inactiveTopicPolicies?applied=true`, 200, { inactiveTopicDeleteMode: 'delete_when_no_subscriptions', maxInactiveDurationSeconds: 60, deleteWhileInactive: false });
  bookie.set('/api/v1/config/server_config', 200, { journalSyncData: 'true', journalWriteData: 'true', httpServerEnabled: 'true' });
}

const servers: CannedBroker[] = [];
const checkers: BrokerSettingsChecker[] = [];
afterEach(async () => {
  for (const checker of checkers.splice(0)) checker.stop();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function setup(options: Partial<BrokerSettingsOptions> & { token?: string; deadLinkTimeoutMs?: number } = {}): Promise<{ broker: CannedBroker; bookie: CannedBroker; checker: BrokerSettingsChecker }> {
  const broker = new CannedBroker();
  const bookie = new CannedBroker();
  await Promise.all([broker.start(), bookie.start()]);
  servers.push(broker, bookie);
  siteBroker(broker, bookie);
  const admin = new PulsarAdmin({ webServiceUrl: broker.url, deadLinkTimeoutMs: options.deadLinkTimeoutMs ?? 2000, ...(options.token === undefined ? {} : { token: options.token }) });
  const checker = new BrokerSettingsChecker({
    admin,
    topics: () => [TOPIC],
    longestTtlMs: () => null,
    bookieHttpUrl: bookie.url,
    checkJournal: true,
    requestTimeoutMs: options.deadLinkTimeoutMs ?? 2000,
    ...options,
  });
  checkers.push(checker);
  return { broker, bookie, checker };
}

const codes = (checker: BrokerSettingsChecker): string[] => checker.status().findings.map((f) => f.code);

describe('broker settings checker', () => {
  it('finds nothing on a broker and bookie set up as packaging/pulsar/standalone.conf says', async () => {
    const { checker } = await setup();
    const report = await checker.check();
    expect(report.ok).toBe(true);
    expect(report.findings).toEqual([]);
    expect(report.values).toMatchObject({
      'broker:brokerDeduplicationProducerInactivityTimeoutMinutes': '20160',
      [`${TOPIC}:deduplication`]: 'true',
      [`${TOPIC}:messageTTL`]: '0',
      [`${TOPIC}:deleteWhileInactive`]: 'false',
      'bookie:journalSyncData': 'true',
      'bookie:journalWriteData': 'true',
    });
    expect(checker.alarms()).toEqual([]);
  });

  it('on a stock standalone: the 6 h window (warning), inactive-topic deletion (warning) and the unsynced journal (critical)', async () => {
    const { broker, bookie, checker } = await setup();
    broker.set('/admin/v2/brokers/configuration/runtime', 200, runtime({ brokerDeduplicationProducerInactivityTimeoutMinutes: '360', brokerDeleteInactiveTopicsEnabled: 'true' }));
    // The topic does not exist yet: namespace policies unset (empty body), so the broker's values apply.
    broker.answers.clear();
    broker.set('/admin/v2/brokers/configuration/runtime', 200, runtime({ brokerDeduplicationProducerInactivityTimeoutMinutes: '360', brokerDeleteInactiveTopicsEnabled: 'true' }));
    for (const policy of ['deduplication', 'messageTTL', 'inactiveTopicPolicies']) broker.set(`/admin/v2/namespaces/skyhaul/telemetry/${policy}`, 200, '');
    bookie.set('/api/v1/config/server_config', 200, { journalSyncData: 'false' });
    await checker.check();
    expect(codes(checker)).toEqual(['broker_dedup_window', 'broker_topic_gc', 'broker_journal_sync']);
    const alarms = Object.fromEntries(checker.alarms().map((a) => [a.code, a]));
    expect(alarms.broker_dedup_window).toMatchObject({
      severity: 'warning',
      message:
        "brokerDeduplicationProducerInactivityTimeoutMinutes=360 (6 h) is shorter than the 7 d outage this site is set to ride out: after a longer outage the broker forgets this site's de-duplication state and re-sent records are duplicated",
    });
    expect(alarms.broker_topic_gc).toMatchObject({
      severity: 'warning',
      message: `inactive-topic deletion is on for ${TOPIC}: while the link is down the topic is deleted with its de-duplication state, and records re-sent afterwards are stored twice`,
    });
    expect(alarms.broker_journal_sync).toMatchObject({
      severity: 'critical',
      message: 'journalSyncData=false: the bookie acknowledges records before they are on disk; a power cut loses records Skyhaul has already deleted from its buffer',
    });
    const window = checker.status().findings[0]!;
    expect(window).toMatchObject({ kind: 'wrong', setting: 'brokerDeduplicationProducerInactivityTimeoutMinutes', scope: 'broker', found: '360', wanted: '>= 10080 (7 d)', source: '/admin/v2/brokers/configuration/runtime' });
  });

  it('wants the window to cover the longest stream TTL when that is longer than the outage horizon', async () => {
    const { checker } = await setup({ longestTtlMs: () => 30 * 86_400_000 });
    await checker.check();
    expect(checker.alarms().map((a) => a.message)).toEqual([
      "brokerDeduplicationProducerInactivityTimeoutMinutes=20160 (14 d) is shorter than the longest TTL 30 d: after a longer outage the broker forgets this site's de-duplication state and re-sent records are duplicated",
    ]);
    expect(checker.status().findings[0]!.wanted).toBe(`>= ${30 * DAY_MIN} (30 d)`);
  });

  it('de-duplication off by a namespace policy (topic not created yet) or by the applied topic policy is critical', async () => {
    const { broker, checker } = await setup();
    broker.answers.delete(`${TOPIC_PATH}/deduplicationEnabled?applied=true`);
    broker.set('/admin/v2/namespaces/skyhaul/telemetry/deduplication', 200, 'false');
    await checker.check();
    expect(checker.alarms()).toMatchObject([
      {
        code: 'broker_dedup_off',
        severity: 'critical',
        message: `de-duplication is off for ${TOPIC} (namespace/topic policy=false): every record re-sent after a lost acknowledgement, a reconnect or a crash is stored twice`,
      },
    ]);
    broker.set(`${TOPIC_PATH}/deduplicationEnabled?applied=true`, 200, 'false');
    await checker.check();
    expect(checker.status().findings).toMatchObject([{ code: 'broker_dedup_off', source: `${TOPIC_PATH}/deduplicationEnabled?applied=true` }]);
  });

  it('a message TTL applied to the topic is critical (it expires the geo-replication backlog too)', async () => {
    const { broker, checker } = await setup();
    broker.set(`${TOPIC_PATH}/messageTTL?applied=true`, 200, '3600');
    await checker.check();
    expect(checker.alarms()).toMatchObject([
      {
        code: 'broker_message_ttl',
        severity: 'critical',
        message: `message TTL 3600 s (60 min) on ${TOPIC}: records waiting longer for geo-replication or a consumer expire unread, after Skyhaul deleted them from its buffer`,
      },
    ]);
  });

  it('several topics with one problem are one alarm naming the first and counting the rest', async () => {
    const second = 'persistent://skyhaul/telemetry/cerro-01-bulk';
    const { broker, checker } = await setup({ topics: () => [TOPIC, second] });
    broker.set(`${TOPIC_PATH}/messageTTL?applied=true`, 200, '60');
    broker.set('/admin/v2/persistent/skyhaul/telemetry/cerro-01-bulk/deduplicationEnabled?applied=true', 200, 'true');
    broker.set('/admin/v2/persistent/skyhaul/telemetry/cerro-01-bulk/messageTTL?applied=true', 200, '60');
    broker.set('/admin/v2/persistent/skyhaul/telemetry/cerro-01-bulk/inactiveTopicPolicies?applied=true', 200, { deleteWhileInactive: false });
    await checker.check();
    expect(checker.status().findings.map((f) => [f.code, f.scope])).toEqual([
      ['broker_message_ttl', TOPIC],
      ['broker_message_ttl', second],
    ]);
    expect(checker.alarms()).toHaveLength(1);
    expect(checker.alarms()[0]!.message).toMatch(new RegExp(`on ${TOPIC}: .* \\(and 1 more: ${second}\\)$`));
  });

  it('a refused read (401) is "unverified", one warning naming each setting and the reason; readable ones are still checked', async () => {
    const { broker, checker } = await setup({ token: 'site-token' });
    broker.set('/admin/v2/brokers/configuration/runtime', 401, '{"reason":"Unauthorized"}');
    broker.set(`${TOPIC_PATH}/messageTTL?applied=true`, 200, '600');
    await checker.check();
    expect(checker.status().findings.filter((f) => f.kind === 'unverified').map((f) => f.setting)).toEqual([
      'brokerDeduplicationEnabled',
      'brokerDeduplicationProducerInactivityTimeoutMinutes',
      'brokerDeleteInactiveTopicsEnabled',
      'ttlDurationDefaultInSeconds',
    ]);
    const alarms = Object.fromEntries(checker.alarms().map((a) => [a.code, a]));
    expect(alarms.broker_message_ttl?.severity).toBe('critical');
    expect(alarms.broker_settings_unverified).toMatchObject({
      severity: 'warning',
      message:
        'cannot verify brokerDeduplicationEnabled, brokerDeduplicationProducerInactivityTimeoutMinutes, brokerDeleteInactiveTopicsEnabled, ttlDurationDefaultInSeconds ' +
        '(GET /admin/v2/brokers/configuration/runtime: HTTP 401 (the token may not read this: broker configuration needs a super-user, policies a tenant admin)): ' +
        'exactly-once and durability rest on them unchecked',
    });
  });

  it('sends the token to the broker, never to the bookie', async () => {
    const { broker, bookie, checker } = await setup({ token: 'site-token' });
    await checker.check();
    expect(broker.requests.every((r) => r.headers.authorization === 'Bearer site-token')).toBe(true);
    expect(bookie.requests.length).toBe(1);
    expect(bookie.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('journal: unverified without a bookie URL or when the bookie does not answer; not checked at all for target central', async () => {
    const noUrl = await setup({ bookieHttpUrl: null });
    await noUrl.checker.check();
    expect(noUrl.checker.alarms()).toMatchObject([
      {
        code: 'broker_settings_unverified',
        message:
          "cannot verify journalSyncData, journalWriteData (no bookie HTTP admin URL is configured, and the broker's admin API does not expose bookie settings): exactly-once and durability rest on them unchecked",
      },
    ]);
    const down = await setup();
    await down.bookie.stop();
    await down.checker.check();
    expect(down.checker.status().findings.map((f) => [f.code, f.setting])).toEqual([
      ['broker_settings_unverified', 'journalSyncData'],
      ['broker_settings_unverified', 'journalWriteData'],
    ]);
    expect(down.checker.status().findings[0]!.why).toMatch(/ECONNREFUSED/);
    const central = await setup({ bookieHttpUrl: null, checkJournal: false });
    expect((await central.checker.check()).findings).toEqual([]);
  });

  it('a journal setting the bookie was not given is BookKeeper\'s default (true)', async () => {
    const { bookie, checker } = await setup();
    bookie.set('/api/v1/config/server_config', 200, { httpServerEnabled: 'true' });
    const report = await checker.check();
    expect(report.findings).toEqual([]);
    expect(report.values['bookie:journalSyncData']).toBeNull();
  });

  it('a dead link keeps the last findings (stale) instead of inventing new ones, and recovers', async () => {
    const { broker, checker } = await setup({ deadLinkTimeoutMs: 300 });
    broker.set('/admin/v2/brokers/configuration/runtime', 200, runtime({ brokerDeduplicationProducerInactivityTimeoutMinutes: '360' }));
    const first = await checker.check();
    expect(codes(checker)).toEqual(['broker_dedup_window']);
    const since = checker.alarms()[0]!.since;
    broker.answers.set('/admin/v2/brokers/configuration/runtime', 'hang');
    const stale = await checker.check();
    expect(stale.stale?.error).toMatch(/no answer from 127\.0\.0\.1:\d+ within 300 ms/);
    expect(stale.checkedAt).toBe(first.checkedAt);
    expect(codes(checker)).toEqual(['broker_dedup_window']);
    expect(checker.alarms()[0]!.since).toBe(since);
    broker.set('/admin/v2/brokers/configuration/runtime', 200, runtime());
    const back = await checker.check();
    expect(back.stale).toBeNull();
    expect(back.ok).toBe(true);
  });

  it('never rejects, one check at a time, and recheck() runs another after the one under way', async () => {
    const { broker, checker } = await setup();
    checker.start();
    const a = checker.check();
    expect(checker.check()).toBe(a);
    await a;
    const before = broker.requests.length;
    checker.recheck();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(broker.requests.length).toBeGreaterThan(before);
    // An answer of the wrong shape is reported, not thrown.
    broker.set('/admin/v2/brokers/configuration/runtime', 200, '"not an object"');
    await expect(checker.check()).resolves.toMatchObject({ ok: false });
    expect(codes(checker)).toContain('broker_settings_unverified');
  });

  it('feeds the alarm manager: status, severity and the raise/clear events (logs and metrics hang on them)', async () => {
    const { broker, checker } = await setup();
    const alarms = new AlarmManager({ backlogAgeMs: null, diskFreeBytes: null, linkDownMs: null, staleInstruments: false });
    const events: string[] = [];
    alarms.on('raised', (a: { code: string; severity: string }) => events.push(`raised ${a.code} ${a.severity}`));
    alarms.on('cleared', (a: { code: string }) => events.push(`cleared ${a.code}`));
    const evaluate = (): void => alarms.evaluate({ now: Date.now(), link: null, oldestBacklogAgeMs: null, diskFreeBytes: null, staleStreams: [], bufferAlarms: checker.alarms() });
    broker.set('/admin/v2/brokers/configuration/runtime', 200, runtime({ brokerDeduplicationProducerInactivityTimeoutMinutes: '360' }));
    await checker.check();
    evaluate();
    broker.set('/admin/v2/brokers/configuration/runtime', 200, runtime());
    await checker.check();
    evaluate();
    expect(events).toEqual(['raised broker_dedup_window warning', 'cleared broker_dedup_window']);
  });
});

describe('helpers', () => {
  it('formats spans and picks the longest finite TTL', () => {
    expect([formatSpan(60_000), formatSpan(360 * 60_000), formatSpan(20160 * 60_000), formatSpan(45_000), formatSpan(90 * 60_000)]).toEqual(['60 s', '6 h', '14 d', '45 s', '90 min']);
    expect(longestTtl([{ ttlMs: null }, { ttlMs: 86_400_000 }, { ttlMs: 3_600_000 }])).toBe(86_400_000);
    expect(longestTtl([{ ttlMs: null }])).toBeNull();
  });
});

describe('the Pulsar configuration files Skyhaul ships', () => {
  const required = {
    brokerDeduplicationEnabled: 'true',
    brokerDeleteInactiveTopicsEnabled: 'false',
    ttlDurationDefaultInSeconds: '0',
    journalSyncData: 'true',
    webSocketServiceEnabled: 'true',
  };
  const files = {
    'packaging/pulsar/standalone.conf': SHIPPED_SITE_CONF,
    'packaging/dev-stack/standalone.conf.template': join(repoRoot, 'packaging', 'dev-stack', 'standalone.conf.template'),
  };
  for (const [name, file] of Object.entries(files)) {
    it(`${name}: each key once (the bookie reads a repeated key's first value, the broker its last), and the settings exactly-once and durability need`, () => {
      const entries = parseConf(readFileSync(file, 'utf8'));
      const seen = new Map<string, number>();
      const repeated = entries.filter((e) => seen.has(e.key) || (seen.set(e.key, e.line), false)).map((e) => `${e.key} (lines ${seen.get(e.key)} and ${e.line})`);
      expect(repeated).toEqual([]);
      const values = Object.fromEntries(entries.map((e) => [e.key, e.value]));
      expect(values).toMatchObject(required);
      // The window covers the 7-day outage horizon the daemon checks against.
      expect(Number(values.brokerDeduplicationProducerInactivityTimeoutMinutes)).toBeGreaterThanOrEqual(7 * DAY_MIN);
    });
  }

  it('the site file keeps the bookie HTTP admin on loopback, where the daemon looks for it by default', () => {
    const values = Object.fromEntries(parseConf(readFileSync(SHIPPED_SITE_CONF, 'utf8')).map((e) => [e.key, e.value]));
    expect(values).toMatchObject({ httpServerEnabled: 'true', httpServerHost: '127.0.0.1', httpServerPort: '8000', journalWriteData: 'true', bindAddress: '127.0.0.1' });
  });
});
