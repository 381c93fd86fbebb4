/**
 * Checks, through the admin APIs, the broker settings Skyhaul's exactly-once and durability rest
 * on, and turns what is off into alarms.
 *
 * Why: the forwarder deletes a record from the buffer as soon as the broker acknowledges it, and
 * re-sends unacknowledged records trusting broker de-duplication to drop copies the broker already
 * holds. Both promises are the broker's, and a stock standalone keeps neither for a remote site:
 * it forgets a producer's de-duplication state 6 h after it left, deletes idle topics (and that
 * state with them) after 60 s, and acknowledges before its journal is on disk. The settings Skyhaul
 * ships are in packaging/pulsar/standalone.conf; this module tells the operator when the running
 * broker does not have them.
 *
 * What is read (Pulsar 4.0.7; each answered on the dev stack, README "Broker settings"):
 *  - `GET /admin/v2/brokers/configuration/runtime`: every ServiceConfiguration field as a string
 *    (ServiceConfiguration.java; the dynamic overrides applied). Super-user only when
 *    authorization is on. Read: brokerDeduplicationEnabled,
 *    brokerDeduplicationProducerInactivityTimeoutMinutes, brokerDeleteInactiveTopicsEnabled,
 *    ttlDurationDefaultInSeconds.
 *  - per topic in use, the policy the broker applies (topic > namespace > broker):
 *    `GET /admin/v2/persistent/{tenant}/{ns}/{topic}/{deduplicationEnabled|messageTTL|inactiveTopicPolicies}?applied=true`
 *    (topicLevelPoliciesEnabled). A topic not created yet answers 404: then the namespace policy
 *    (`GET /admin/v2/namespaces/{tenant}/{ns}/{deduplication|messageTTL|inactiveTopicPolicies}`,
 *    an empty body when unset) and, if unset, the broker's value decide.
 *  - the bookie's journal settings, which the broker's admin API does not expose at all:
 *    `GET <bookieHttpUrl>/api/v1/config/server_config` (BookKeeper's HTTP admin, enabled by the
 *    shipped configuration on 127.0.0.1:8000), a JSON object of the settings the bookie was given,
 *    values as strings. journalSyncData and journalWriteData, absent = BookKeeper's default true
 *    (ServerConfiguration.java).
 *
 * Findings are either `wrong` (read, and not what Skyhaul needs: one alarm per code, severity by
 * consequence: possible loss is critical, possible duplicates a warning) or `unverified` (the
 * broker answered but refused or lacked the endpoint, or no bookie endpoint is known: one warning
 * alarm, `broker_settings_unverified`, naming each setting and why). A check the link prevents
 * (timeout, connection refused by the network path) changes nothing: the last findings stay,
 * marked stale, and the link's own alarm speaks for the outage.
 *
 * Checked at start(), every `intervalMs` (settings can change at run time: dynamic broker
 * settings and every namespace/topic policy), and at recheck() (the daemon calls it when the link
 * comes back). Never throws into the daemon; one check at a time.
 */
import { AdminHttpError, type PulsarAdmin } from './admin.ts';

export type BrokerSettingCode =
  | 'broker_dedup_off'
  | 'broker_dedup_window'
  | 'broker_journal_sync'
  | 'broker_topic_gc'
  | 'broker_message_ttl'
  | 'broker_settings_unverified';

export interface BrokerSettingFinding {
  /** Alarm code this finding raises. */
  code: BrokerSettingCode;
  /** `wrong`: read and not what Skyhaul needs. `unverified`: could not be read. */
  kind: 'wrong' | 'unverified';
  severity: 'warning' | 'critical';
  /** The setting's name as in standalone.conf / the policy's name, e.g. `journalSyncData`. */
  setting: string;
  /** `broker`, `bookie`, or the topic the applied policy belongs to. */
  scope: string;
  /** The value as read (strings as the API gave them); null when it could not be read. */
  found: string | null;
  /** What Skyhaul needs, e.g. `>= 10080 (7 d)`. */
  wanted: string;
  /** Why it matters (the consequence), or why it could not be read. */
  why: string;
  /** Where the value came from (endpoint), for the operator to look at. */
  source: string;
  /** One line for status, logs and the alarm: names the setting and the consequence. */
  message: string;
}

export interface BrokerSettingsReport {
  /** When the last check completed (ms since epoch); null before the first one. */
  checkedAt: number | null;
  /** True when the last completed check found nothing wrong or unverified; null before one. */
  ok: boolean | null;
  findings: BrokerSettingFinding[];
  /** Why the latest attempt could not complete (link down); null when it did. Findings are then the previous check's. */
  stale: { at: number; error: string } | null;
  /** Values read in the last completed check, `scope:setting` -> value (null: unreadable). */
  values: Record<string, string | null>;
}

/** What the checker needs of PulsarAdmin (a narrower type keeps the unit tests honest). */
export type AdminReader = Pick<PulsarAdmin, 'get' | 'getUrl'>;

export interface BrokerSettingsOptions {
  admin: AdminReader;
  /** Fully qualified topics the daemon writes to now (`persistent://tenant/ns/name`). */
  topics: () => string[];
  /**
   * The longest finite stream TTL in the configuration (ms), or null when none is set: records
   * may wait that long for the link, so de-duplication must remember a producer that long.
   */
  longestTtlMs: () => number | null;
  /**
   * The outage the site must ride out, used when no TTL is longer (ms). Default 7 days.
   * Proposed config key: `forward.brokerChecks.outageHorizon`.
   */
  outageHorizonMs?: number;
  /**
   * The bookie's HTTP admin (`http://127.0.0.1:8000` with the shipped configuration). null: the
   * journal settings are reported unverified. Proposed config key: `forward.brokerChecks.bookieUrl`.
   */
  bookieHttpUrl: string | null;
  /** Whether the journal is Skyhaul's concern at all (target `site`); with `central` it is the data centre's. */
  checkJournal: boolean;
  /** Default 10 min. Proposed config key: `forward.brokerChecks.interval`. */
  intervalMs?: number;
  /** Per request; default 10 s. */
  requestTimeoutMs?: number;
  logger?: Pick<Console, 'info' | 'warn'>;
  clock?: () => number;
}

export const DEFAULT_OUTAGE_HORIZON_MS = 7 * 86_400_000;
export const DEFAULT_CHECK_INTERVAL_MS = 10 * 60_000;

const RUNTIME = '/brokers/configuration/runtime';

/** "6 h", "14 d", "90 min", "45 s": the largest unit that divides cleanly enough to read. */
export function formatSpan(ms: number): string {
  const s = ms / 1000;
  if (s < 120) return `${Math.round(s)} s`;
  const min = s / 60;
  if (min < 120) return `${Math.round(min)} min`;
  const h = min / 60;
  if (h < 48) return `${Number.isInteger(h) ? h : h.toFixed(1)} h`;
  const d = h / 24;
  return `${Number.isInteger(d) ? d : d.toFixed(1)} d`;
}

/** A link-level failure (no answer from the broker), as opposed to an answer refusing the request. */
function isLinkFailure(error: unknown): boolean {
  return !(error instanceof AdminHttpError);
}

function describe(error: unknown): string {
  if (error instanceof AdminHttpError) {
    const hint =
      error.status === 401 || error.status === 403
        ? ' (the token may not read this: broker configuration needs a super-user, policies a tenant admin)'
        : error.status === 404 || error.status === 405
          ? ' (endpoint not offered by this broker version)'
          : '';
    return `HTTP ${error.status}${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** `persistent://t/ns/name` -> `{ path: 'persistent/t/ns/name', namespace: 't/ns' }`; null when not a topic name. */
function splitTopic(topic: string): { path: string; namespace: string } | null {
  const match = /^(persistent|non-persistent):\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(topic);
  if (!match) return null;
  return { path: `${match[1]}/${match[2]}/${match[3]}/${encodeURIComponent(match[4]!)}`, namespace: `${match[2]}/${match[3]}` };
}

/** An admin answer as a plain string or parsed JSON; '' (unset policy) becomes null. */
function scalar(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.trim() === '' ? null : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

interface InactivePolicy {
  deleteWhileInactive?: boolean;
  maxInactiveDurationSeconds?: number;
  inactiveTopicDeleteMode?: string;
}

function parsePolicy(value: unknown): InactivePolicy | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'string') {
    try {
      return JSON.parse(value) as InactivePolicy;
    } catch {
      return null;
    }
  }
  return value as InactivePolicy;
}

export class BrokerSettingsChecker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<BrokerSettingsReport> | null = null;
  private again = false;
  private started = false;
  private report: BrokerSettingsReport = { checkedAt: null, ok: null, findings: [], stale: null, values: {} };
  private readonly clock: () => number;
  private readonly timeoutMs: number;
  private lastLogged = '';
  /** When each code was first found (kept while it stays found): the alarm's `since`. */
  private readonly firstSeen = new Map<BrokerSettingCode, number>();

  constructor(private readonly options: BrokerSettingsOptions) {
    this.clock = options.clock ?? Date.now;
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** Checks now, then every `intervalMs`. Safe to call twice. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
    this.timer.unref();
    void this.check();
  }

  /** Stops the timer; a check under way finishes and is kept. Safe to call twice. */
  stop(): void {
    this.started = false;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Check again soon (the link came back): now, or right after the check under way. */
  recheck(): void {
    if (!this.started) return;
    if (this.running !== null) this.again = true;
    else void this.check();
  }

  /** The last report (a copy): findings, values read, and whether the last attempt was stale. */
  status(): BrokerSettingsReport {
    return { ...this.report, findings: [...this.report.findings] };
  }

  /**
   * The findings as alarm inputs, one per code (several topics with the same problem are one
   * alarm naming the first and counting the rest). `since` is when the finding was first seen.
   */
  alarms(): Array<{ code: string; severity: 'warning' | 'critical'; message: string; since: number; details: Record<string, unknown> }> {
    const byCode = new Map<BrokerSettingCode, BrokerSettingFinding[]>();
    for (const finding of this.report.findings) byCode.set(finding.code, [...(byCode.get(finding.code) ?? []), finding]);
    return [...byCode].map(([code, findings]) => {
      const first = findings[0]!;
      let message = first.message;
      if (code === 'broker_settings_unverified') {
        // Group by reason: "cannot verify journalSyncData, journalWriteData (no bookie URL); …".
        const byWhy = new Map<string, string[]>();
        for (const f of findings) byWhy.set(f.why, [...(byWhy.get(f.why) ?? []), `${f.setting}${f.scope === 'broker' || f.scope === 'bookie' ? '' : ` on ${f.scope}`}`]);
        message = `cannot verify ${[...byWhy].map(([why, settings]) => `${settings.join(', ')} (${why})`).join('; ')}: exactly-once and durability rest on them unchecked`;
      } else if (findings.length > 1) {
        message += ` (and ${findings.length - 1} more: ${findings.slice(1, 4).map((f) => f.scope).join(', ')}${findings.length > 4 ? ', …' : ''})`;
      }
      return {
        code,
        severity: findings.some((f) => f.severity === 'critical') ? 'critical' : 'warning',
        message,
        since: this.firstSeen.get(code) ?? this.clock(),
        details: { findings: findings.map(({ setting, scope, found, wanted, why, source }) => ({ setting, scope, found, wanted, why, source })) },
      };
    });
  }

  /** Runs one check (or joins the one under way). Never rejects. */
  check(): Promise<BrokerSettingsReport> {
    if (this.running !== null) return this.running;
    this.running = this.runCheck()
      .catch((error: unknown) => {
        // A bug here must not take the daemon down: report it as stale and keep the last findings.
        this.report = { ...this.report, stale: { at: this.clock(), error: `check failed: ${describe(error)}` } };
        return this.report;
      })
      .finally(() => {
        this.running = null;
        if (this.again && this.started) {
          this.again = false;
          void this.check();
        }
      });
    return this.running;
  }

  private async runCheck(): Promise<BrokerSettingsReport> {
    const findings: BrokerSettingFinding[] = [];
    const values: Record<string, string | null> = {};
    const { admin } = this.options;

    // --- broker-wide settings ---
    let runtime: Record<string, string> | null = null;
    try {
      const answer = await admin.get<Record<string, string> | string>(RUNTIME, this.timeoutMs);
      runtime = typeof answer === 'object' && answer !== null ? answer : null;
      if (runtime === null) throw new AdminHttpError(200, `GET ${RUNTIME}: not a JSON object`);
    } catch (error) {
      if (isLinkFailure(error)) return this.markStale(error);
      for (const setting of ['brokerDeduplicationEnabled', 'brokerDeduplicationProducerInactivityTimeoutMinutes', 'brokerDeleteInactiveTopicsEnabled', 'ttlDurationDefaultInSeconds']) {
        findings.push(this.unverified(setting, 'broker', `GET /admin/v2${RUNTIME}: ${describe(error)}`, `/admin/v2${RUNTIME}`));
      }
    }
    const broker = (name: string): string | null => {
      const value = runtime === null ? null : scalar(runtime[name]);
      values[`broker:${name}`] = value;
      return value;
    };
    if (runtime !== null) {
      const timeout = broker('brokerDeduplicationProducerInactivityTimeoutMinutes');
      const required = this.requiredWindow();
      const minutes = timeout === null ? NaN : Number(timeout);
      if (!Number.isFinite(minutes)) {
        findings.push(this.unverified('brokerDeduplicationProducerInactivityTimeoutMinutes', 'broker', `not in GET /admin/v2${RUNTIME}`, `/admin/v2${RUNTIME}`));
      } else if (minutes * 60_000 < required.ms) {
        findings.push({
          code: 'broker_dedup_window',
          kind: 'wrong',
          severity: 'warning',
          setting: 'brokerDeduplicationProducerInactivityTimeoutMinutes',
          scope: 'broker',
          found: timeout,
          wanted: `>= ${Math.ceil(required.ms / 60_000)} (${formatSpan(required.ms)})`,
          why: 'after a longer outage the broker forgets this site\'s de-duplication state and re-sent records are duplicated',
          source: `/admin/v2${RUNTIME}`,
          message: `brokerDeduplicationProducerInactivityTimeoutMinutes=${timeout} (${formatSpan(minutes * 60_000)}) is shorter than ${required.reason}: after a longer outage the broker forgets this site's de-duplication state and re-sent records are duplicated`,
        });
      }
    }

    // --- per topic: the policies the broker applies ---
    for (const topic of this.options.topics()) {
      const parts = splitTopic(topic);
      if (parts === null) continue;
      const applied = async (policy: string, namespacePolicy: string): Promise<{ value: unknown; source: string } | { error: unknown; source: string }> => {
        const topicPath = `/${parts.path}/${policy}?applied=true`;
        try {
          return { value: await admin.get<unknown>(topicPath, this.timeoutMs), source: topicPath };
        } catch (error) {
          if (!(error instanceof AdminHttpError && error.status === 404)) return { error, source: topicPath };
        }
        // Not created yet: the namespace policy, else the broker's setting, will apply to it.
        const nsPath = `/namespaces/${parts.namespace}/${namespacePolicy}`;
        try {
          return { value: await admin.get<unknown>(nsPath, this.timeoutMs), source: nsPath };
        } catch (error) {
          return { error, source: nsPath };
        }
      };

      const dedup = await applied('deduplicationEnabled', 'deduplication');
      if ('error' in dedup && isLinkFailure(dedup.error)) return this.markStale(dedup.error);
      const dedupValue = 'error' in dedup ? undefined : (scalar(dedup.value) ?? broker('brokerDeduplicationEnabled'));
      values[`${topic}:deduplication`] = dedupValue ?? null;
      if ('error' in dedup) findings.push(this.unverified('deduplication', topic, `GET /admin/v2${dedup.source}: ${describe(dedup.error)}`, `/admin/v2${dedup.source}`));
      else if (dedupValue === null) findings.push(this.unverified('deduplication', topic, 'neither the policy nor brokerDeduplicationEnabled could be read', `/admin/v2${dedup.source}`));
      else if (dedupValue !== 'true') {
        findings.push({
          code: 'broker_dedup_off',
          kind: 'wrong',
          severity: 'critical',
          setting: 'brokerDeduplicationEnabled',
          scope: topic,
          found: dedupValue ?? null,
          wanted: 'true',
          why: 'every record re-sent after a lost acknowledgement, a reconnect or a crash is stored twice',
          source: `/admin/v2${dedup.source}`,
          message: `de-duplication is off for ${topic} (${scalar(dedup.value) === null ? 'brokerDeduplicationEnabled' : 'namespace/topic policy'}=${dedupValue}): every record re-sent after a lost acknowledgement, a reconnect or a crash is stored twice`,
        });
      }

      const ttl = await applied('messageTTL', 'messageTTL');
      if ('error' in ttl && isLinkFailure(ttl.error)) return this.markStale(ttl.error);
      const ttlValue = 'error' in ttl ? undefined : (scalar(ttl.value) ?? broker('ttlDurationDefaultInSeconds'));
      values[`${topic}:messageTTL`] = ttlValue ?? null;
      if ('error' in ttl) findings.push(this.unverified('messageTTL', topic, `GET /admin/v2${ttl.source}: ${describe(ttl.error)}`, `/admin/v2${ttl.source}`));
      else if (ttlValue !== undefined && ttlValue !== null && Number(ttlValue) > 0) {
        findings.push({
          code: 'broker_message_ttl',
          kind: 'wrong',
          severity: 'critical',
          setting: scalar(ttl.value) === null ? 'ttlDurationDefaultInSeconds' : 'messageTTL',
          scope: topic,
          found: ttlValue ?? null,
          wanted: '0 (no TTL)',
          why: 'records not yet replicated to the data centre (or consumed) expire unread, after Skyhaul deleted them from its buffer',
          source: `/admin/v2${ttl.source}`,
          message: `message TTL ${ttlValue} s (${formatSpan(Number(ttlValue) * 1000)}) on ${topic}: records waiting longer for geo-replication or a consumer expire unread, after Skyhaul deleted them from its buffer`,
        });
      }

      const gc = await applied('inactiveTopicPolicies', 'inactiveTopicPolicies');
      if ('error' in gc && isLinkFailure(gc.error)) return this.markStale(gc.error);
      if ('error' in gc) findings.push(this.unverified('inactiveTopicPolicies', topic, `GET /admin/v2${gc.source}: ${describe(gc.error)}`, `/admin/v2${gc.source}`));
      else {
        const policy = parsePolicy(gc.value);
        const deletes = policy?.deleteWhileInactive ?? (broker('brokerDeleteInactiveTopicsEnabled') === null ? null : broker('brokerDeleteInactiveTopicsEnabled') === 'true');
        values[`${topic}:deleteWhileInactive`] = deletes === null ? null : String(deletes);
        if (deletes === null) findings.push(this.unverified('brokerDeleteInactiveTopicsEnabled', topic, 'neither the policy nor the broker setting could be read', `/admin/v2${gc.source}`));
        else if (deletes) {
          const after = policy?.maxInactiveDurationSeconds;
          findings.push({
            code: 'broker_topic_gc',
            kind: 'wrong',
            severity: 'warning',
            setting: policy?.deleteWhileInactive === undefined ? 'brokerDeleteInactiveTopicsEnabled' : 'inactiveTopicPolicies.deleteWhileInactive',
            scope: topic,
            found: 'true',
            wanted: 'false',
            why: 'while the link is down the topic is deleted with its de-duplication state, and records re-sent afterwards are stored twice',
            source: `/admin/v2${gc.source}`,
            message: `inactive-topic deletion is on for ${topic}${after === undefined ? '' : ` (after ${formatSpan(after * 1000)})`}: while the link is down the topic is deleted with its de-duplication state, and records re-sent afterwards are stored twice`,
          });
        }
      }
    }

    // --- the bookie's journal ---
    if (this.options.checkJournal) findings.push(...(await this.checkJournal(values)));

    const now = this.clock();
    for (const finding of findings) if (!this.firstSeen.has(finding.code)) this.firstSeen.set(finding.code, now);
    for (const code of [...this.firstSeen.keys()]) if (!findings.some((f) => f.code === code)) this.firstSeen.delete(code);
    this.report = { checkedAt: now, ok: findings.length === 0, findings, stale: null, values };
    this.log();
    return this.report;
  }

  private async checkJournal(values: Record<string, string | null>): Promise<BrokerSettingFinding[]> {
    const url = this.options.bookieHttpUrl;
    if (url === null) {
      return ['journalSyncData', 'journalWriteData'].map((setting) =>
        this.unverified(setting, 'bookie', 'no bookie HTTP admin URL is configured, and the broker\'s admin API does not expose bookie settings', 'none'),
      );
    }
    const source = new URL('/api/v1/config/server_config', url).toString();
    let config: Record<string, unknown>;
    try {
      const answer = await this.options.admin.getUrl<unknown>(source, this.timeoutMs);
      if (typeof answer !== 'object' || answer === null) throw new AdminHttpError(200, `GET ${source}: not a JSON object`);
      config = answer as Record<string, unknown>;
    } catch (error) {
      // The bookie is usually on this host: no answer is not the link's fault, so not stale.
      return ['journalSyncData', 'journalWriteData'].map((setting) => this.unverified(setting, 'bookie', `GET ${source}: ${describe(error)}`, source));
    }
    const findings: BrokerSettingFinding[] = [];
    for (const setting of ['journalSyncData', 'journalWriteData']) {
      const raw = scalar(config[setting]);
      // Absent: the bookie runs with BookKeeper's default, true for both (ServerConfiguration.java).
      const value = raw ?? 'true';
      values[`bookie:${setting}`] = raw;
      if (value !== 'true') {
        findings.push({
          code: 'broker_journal_sync',
          kind: 'wrong',
          severity: 'critical',
          setting,
          scope: 'bookie',
          found: value,
          wanted: 'true',
          why: 'the bookie acknowledges records before they are on disk; a power cut loses records Skyhaul has already deleted from its buffer',
          source,
          message:
            setting === 'journalSyncData'
              ? `journalSyncData=${value}: the bookie acknowledges records before they are on disk; a power cut loses records Skyhaul has already deleted from its buffer`
              : `journalWriteData=${value}: the bookie writes no journal, records are on disk only after the next flush; a power cut loses records Skyhaul has already deleted from its buffer`,
        });
      }
    }
    return findings;
  }

  /** max(outage horizon, longest TTL), with the reason in words for the alarm message. */
  private requiredWindow(): { ms: number; reason: string } {
    const horizon = this.options.outageHorizonMs ?? DEFAULT_OUTAGE_HORIZON_MS;
    const ttl = this.options.longestTtlMs();
    if (ttl !== null && ttl > horizon) return { ms: ttl, reason: `the longest TTL ${formatSpan(ttl)}` };
    return { ms: horizon, reason: `the ${formatSpan(horizon)} outage this site is set to ride out` };
  }

  private unverified(setting: string, scope: string, why: string, source: string): BrokerSettingFinding {
    return {
      code: 'broker_settings_unverified',
      kind: 'unverified',
      severity: 'warning',
      setting,
      scope,
      found: null,
      wanted: 'readable',
      why,
      source,
      message: `cannot verify ${setting}${scope === 'broker' || scope === 'bookie' ? '' : ` on ${scope}`}: ${why}`,
    };
  }

  private markStale(error: unknown): BrokerSettingsReport {
    this.report = { ...this.report, stale: { at: this.clock(), error: describe(error) } };
    return this.report;
  }

  private log(): void {
    const key = this.report.findings.map((f) => `${f.code}|${f.scope}|${f.setting}|${f.found}`).join(',');
    if (key === this.lastLogged) return;
    this.lastLogged = key;
    if (this.report.findings.length === 0) this.options.logger?.info('broker settings: de-duplication, its window, topic retention and the journal are as Skyhaul needs them');
    else for (const finding of this.report.findings) this.options.logger?.warn(`broker settings: ${finding.message}`);
  }
}

/** The bookie HTTP URL to use by default: the shipped configuration's, when the broker is on this host. */
export function defaultBookieHttpUrl(webServiceUrl: string): string | null {
  try {
    const host = new URL(webServiceUrl).hostname;
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1' ? 'http://127.0.0.1:8000' : null;
  } catch {
    return null;
  }
}

/** Longest finite TTL among stream rules (ms), or null. */
export function longestTtl(rules: Array<{ ttlMs: number | null }>): number | null {
  const ttls = rules.map((r) => r.ttlMs).filter((t): t is number => t !== null && Number.isFinite(t));
  return ttls.length === 0 ? null : Math.max(...ttls);
}
