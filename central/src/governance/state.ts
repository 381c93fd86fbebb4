/**
 * The governance service's view of every command: a fold over the audit topic. The audit topic is
 * the record of truth (every instance follows it from the start, so a restarted or second
 * instance knows every command, its state and its idempotency key); what this instance writes is
 * applied at once as well, and applied only once (records are de-duplicated by `eventId`, which a
 * retried step repeats).
 *
 * State precedence: a step may only move a command forward; the site's own word wins over what
 * the centre inferred, because it is what happened:
 *   rank 0  requested, authorised, published       (state accepted)
 *   rank 1  delivered
 *   rank 2  expired, publish_failed, dead_lettered, refused — taken by the governance service or RabbitMQ
 *   rank 3  done, failed, refused, expired          — reported by the site (source 'site')
 * A step of lower rank than the command's current one changes nothing (it is still kept in the
 * command's history); within rank 2 and 3 the first one wins. So a command the centre marked
 * expired (no delivery seen by its deadline) that the site did execute before its deadline shows
 * `done` once the site's report arrives, and a late `delivered` never reopens a finished command.
 *
 * Limits: at most `maxCommands` commands in memory (the oldest finished ones are forgotten first;
 * the audit topic keeps everything); an idempotency key names its command for `keyLifetimeMs`.
 */
import type { AuditEvent, AuditRecord, CommandError, CommandState, Role, SiteReport } from '../../../src/record/command.ts';

export interface CommandEventView {
  event: AuditEvent;
  at: number;
  state: CommandState | null;
  source: AuditRecord['source'];
  error: CommandError | null;
}

/** A command as the API shows it. */
export interface CommandView {
  id: string;
  correlationId: string;
  traceparent: string;
  operator: string;
  role: Role | null;
  site: string;
  command: string;
  params: Record<string, unknown> | null;
  idempotencyKey: string | null;
  state: CommandState;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
  deadline: number | null;
  published: boolean;
  result: Record<string, unknown> | null;
  error: CommandError | null;
  events: CommandEventView[];
}

function rank(record: Pick<AuditRecord, 'event' | 'source'>): number {
  if (record.event === 'requested' || record.event === 'authorised' || record.event === 'published') return 0;
  if (record.event === 'delivered') return 1;
  return record.source === 'site' ? 3 : 2;
}

interface Entry {
  view: CommandView;
  rank: number;
  eventIds: Set<string>;
}

type Waiter = { id: string; resolve: (view: CommandView | null) => void };

export class CommandStore {
  private readonly commands = new Map<string, Entry>();
  private readonly keys = new Map<string, { id: string; at: number }>();
  private readonly reports = new Map<string, SiteReport>();
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly options: { maxCommands: number; keyLifetimeMs: number }) {}

  /** The idempotency index key: keys are the operator's own (two operators may use the same string). */
  static keyOf(operator: string, idempotencyKey: string): string {
    return `${operator}\u0000${idempotencyKey}`;
  }

  /** Applies one audit record; false when it was applied before (same eventId) or is not one of ours. */
  apply(record: AuditRecord): boolean {
    let entry = this.commands.get(record.id);
    if (entry?.eventIds.has(record.eventId)) return false;
    if (entry === undefined) {
      entry = {
        rank: -1,
        eventIds: new Set(),
        view: {
          id: record.id,
          correlationId: record.correlationId,
          traceparent: record.traceparent,
          operator: record.operator,
          role: record.role,
          site: record.site,
          command: record.command,
          params: record.params,
          idempotencyKey: record.idempotencyKey,
          state: record.state ?? 'accepted',
          createdAt: record.at,
          updatedAt: record.at,
          deadline: record.deadline,
          published: false,
          result: null,
          error: null,
          events: [],
        },
      };
      this.commands.set(record.id, entry);
      this.evict();
    }
    entry.eventIds.add(record.eventId);
    const view = entry.view;
    view.events.push({ event: record.event, at: record.at, state: record.state, source: record.source, error: record.error });
    if (record.event === 'published') view.published = true;
    // What the governance service knew first (the request) is filled in from whichever of its records comes.
    if (view.params === null && record.params !== null) view.params = record.params;
    if (view.role === null && record.role !== null) view.role = record.role;
    if (view.deadline === null && record.deadline !== null) view.deadline = record.deadline;
    if (view.idempotencyKey === null && record.idempotencyKey !== null) view.idempotencyKey = record.idempotencyKey;
    if (record.idempotencyKey !== null && record.source === 'governance') {
      this.keys.set(CommandStore.keyOf(view.operator, record.idempotencyKey), { id: record.id, at: view.createdAt });
    }
    const r = rank(record);
    const terminalRank = r >= 2;
    // Forward only; a finished command takes no other finish of the same rank (the first one wins).
    if (record.state !== null && (r > entry.rank || (!terminalRank && r === entry.rank))) {
      entry.rank = r;
      view.state = record.state;
      view.updatedAt = Math.max(view.updatedAt, record.at);
      if (record.result !== null) view.result = record.result;
      if (record.error !== null || terminalRank) view.error = record.error;
      this.wake(record.id);
    }
    return true;
  }

  get(id: string): CommandView | null {
    return this.commands.get(id)?.view ?? null;
  }

  /** The command an operator's idempotency key names, while the key lives. */
  byKey(operator: string, idempotencyKey: string, now = Date.now()): CommandView | null {
    const hit = this.keys.get(CommandStore.keyOf(operator, idempotencyKey));
    if (hit === undefined) return null;
    if (now - hit.at > this.options.keyLifetimeMs) {
      this.keys.delete(CommandStore.keyOf(operator, idempotencyKey));
      return null;
    }
    return this.get(hit.id);
  }

  /** Newest first, optionally of one site, at most `limit`. */
  list(options: { site?: string; limit?: number } = {}): CommandView[] {
    const out: CommandView[] = [];
    const all = [...this.commands.values()];
    for (let i = all.length - 1; i >= 0 && out.length < (options.limit ?? 100); i--) {
      const view = all[i]!.view;
      if (options.site === undefined || view.site === options.site) out.push(view);
    }
    return out;
  }

  /** Commands in a state, oldest first (the sweeper's work list). */
  inState(state: CommandState): CommandView[] {
    return [...this.commands.values()].map((e) => e.view).filter((v) => v.state === state);
  }

  counts(): Record<CommandState, number> {
    const counts = { accepted: 0, delivered: 0, done: 0, failed: 0, expired: 0, refused: 0 } as Record<CommandState, number>;
    for (const { view } of this.commands.values()) counts[view.state] += 1;
    return counts;
  }

  get size(): number {
    return this.commands.size;
  }

  setReport(report: SiteReport): void {
    const known = this.reports.get(report.site);
    if (known === undefined || known.at <= report.at) this.reports.set(report.site, report);
  }

  report(site: string): SiteReport | null {
    return this.reports.get(site) ?? null;
  }

  /**
   * Resolves with the command once `done(view)` holds (checked now and on each change), or with
   * its current view (null if unknown) after `timeoutMs`.
   */
  waitFor(id: string, done: (view: CommandView) => boolean, timeoutMs: number): Promise<CommandView | null> {
    const now = this.get(id);
    if (now !== null && done(now)) return Promise.resolve(now);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        id,
        resolve: (view) => {
          if (view !== null && !done(view)) return;
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(view);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(this.get(id));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private wake(id: string): void {
    const view = this.get(id);
    for (const waiter of [...this.waiters]) if (waiter.id === id) waiter.resolve(view);
  }

  /** Forgets the oldest finished commands beyond maxCommands (Map order is insertion order). */
  private evict(): void {
    if (this.commands.size <= this.options.maxCommands) return;
    for (const [id, entry] of this.commands) {
      if (this.commands.size <= this.options.maxCommands) break;
      if (entry.rank < 2) continue;
      this.commands.delete(id);
    }
  }
}
