/**
 * The daemon's operator actions: one implementation and one audit path for both ways in — the
 * local HTTP API (src/health/server.ts: bearer token, rate limit) and remote commands from the
 * governance service over RabbitMQ (./amqp.ts). Both hand a command name and its parameters to
 * `ControlActions.execute`, which validates them against the command catalogue
 * (src/record/command.ts: the same JSON Schema the governance service checks), runs the action on
 * the daemon, and audits the outcome once: a log line (`component: audit`, with who, how, the
 * command's id and correlation id) and the counter `skyhaul_control_actions_total{action, via,
 * outcome}` (CONVENTIONS 6: one call logs and counts).
 *
 * Outcomes: `done` (with a result), `failed` (the action could not be done now: forwarding off, no
 * such alarm, the replay range gone; `error` says why), `refused` (unknown command, bad
 * parameters: `error` names the parameter and the rule). An action never throws to the caller.
 */
import AjvModule, { type ValidateFunction } from 'ajv';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import { COMMANDS, isCommandName, type CommandError, type CommandName } from '../record/command.ts';

/** Where an action came from, for the audit line. */
export interface ActionOrigin {
  via: 'http' | 'amqp';
  /** Who: `name@address` for HTTP, the operator named by the governance service for AMQP. */
  who: string;
  /** The command's id (remote commands). */
  id?: string;
  correlationId?: string;
  traceparent?: string;
}

export interface ActionOutcome {
  state: 'done' | 'failed' | 'refused';
  result?: Record<string, unknown>;
  error?: CommandError;
}

export interface ReplayResult {
  stream: string;
  /** The part of the range the buffer still holds (null: none of it). */
  resend: { fromSequence: number; toSequence: number } | null;
  /** Pulsar acknowledged every sequence up to here: those records are no longer in the buffer. */
  acknowledgedUpTo: number;
  /** The stream's newest committed sequence. */
  lastSequence: number;
}

/** What the actions act on: the daemon (src/daemon.ts) implements it. */
export interface ControlTarget {
  pauseForwarding(): boolean;
  resumeForwarding(): boolean;
  /** undefined: back to the configured schedule; null: unlimited. False when forwarding is off. */
  setBandwidthOverride(bytesPerSecond: number | null | undefined): boolean;
  /** Replaces the time-of-day schedule (and the cap outside it); false when forwarding is off. */
  setBandwidthSchedule(schedule: Array<{ from: string; to: string; bytesPerSecond: number | null }>, outside: number | null | undefined): boolean;
  /** null: forwarding is off, or the stream is unknown (the reason in `error`). */
  replay(stream: string, fromSequence: number, toSequence: number): Promise<ReplayResult | { error: CommandError }>;
  runSelfTest(): Promise<{ ok: boolean; error: string | null }>;
  /** Re-reads the configuration file and applies it; `error` when it cannot (invalid file, no file). */
  reloadConfiguration(): Promise<{ applied: Record<string, unknown> } | { error: CommandError }>;
  status(): object;
  acknowledgeAlarm(code: string, by: string): object | null;
}

// ajv is CommonJS: its class is the default export's `default` under Node's ESM loader.
const Ajv = AjvModule.default;

const FORWARDING_OFF: CommandError = { code: 'SKY_ERR_FORWARDING_OFF', message: 'forwarding is off in this configuration' };

/** Tells a result from an error in the target's answers. */
function isError<T extends object>(value: T | { error: CommandError }): value is { error: CommandError } {
  return 'error' in value && typeof (value as { error?: unknown }).error === 'object';
}

export class ControlActions {
  private readonly validators = new Map<CommandName, ValidateFunction>();
  private readonly counter: Counter<'action' | 'via' | 'outcome'>;

  constructor(
    private readonly target: ControlTarget,
    private readonly logger: Logger,
    registry: Registry,
  ) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const spec of Object.values(COMMANDS)) this.validators.set(spec.name as CommandName, ajv.compile(spec.params));
    this.counter = new Counter({
      name: 'skyhaul_control_actions_total',
      help: 'Operator actions, by action, the way they came (http: the local API, amqp: the governance service) and outcome (done, failed, refused).',
      labelNames: ['action', 'via', 'outcome'],
      registers: [registry],
    });
  }

  /**
   * Checks `params` against the command's schema: null when valid, else the refusal naming the
   * parameter and the rule (ajv's messages, e.g. `params/bytesPerSecond must be integer`).
   */
  check(command: string, params: unknown): CommandError | null {
    if (!isCommandName(command)) return { code: 'SKY_ERR_UNKNOWN_COMMAND', message: `unknown command '${command}'; known: ${Object.keys(COMMANDS).join(', ')}` };
    const validate = this.validators.get(command)!;
    if (validate(params ?? {})) return null;
    const problems = (validate.errors ?? []).map((e) => `params${e.instancePath} ${e.message ?? 'is invalid'}${e.params && 'allowedValues' in e.params ? ` (${JSON.stringify(e.params.allowedValues)})` : ''}`);
    return { code: 'SKY_ERR_BAD_PARAMS', message: `${command}: ${[...new Set(problems)].join('; ')}` };
  }

  /** Runs one command and audits it (log line and counter). Never throws. */
  async execute(command: string, params: unknown, origin: ActionOrigin): Promise<ActionOutcome> {
    const problem = this.check(command, params);
    let outcome: ActionOutcome;
    if (problem !== null) outcome = { state: 'refused', error: problem };
    else {
      try {
        outcome = await this.run(command as CommandName, (params ?? {}) as Record<string, unknown>, origin);
      } catch (error) {
        outcome = { state: 'failed', error: { code: 'SKY_ERR_ACTION_FAILED', message: (error as Error).message } };
      }
    }
    this.audit(command, params, origin, outcome);
    return outcome;
  }

  /** The one audit line (and count) per action, whichever way it came; also for refusals before execute (bad token, rate limit). */
  audit(command: string, params: unknown, origin: ActionOrigin, outcome: { state: string; error?: CommandError }): void {
    const action = isCommandName(command) ? command : 'unknown';
    this.counter.inc({ action, via: origin.via, outcome: outcome.state });
    const line = {
      component: 'audit',
      action: command,
      who: origin.who,
      via: origin.via,
      ...(origin.id === undefined ? {} : { commandId: origin.id }),
      ...(origin.correlationId === undefined ? {} : { correlationId: origin.correlationId }),
      ...(origin.traceparent === undefined ? {} : { traceparent: origin.traceparent }),
      params,
      outcome: outcome.state,
      ...(outcome.error === undefined ? {} : { error: outcome.error.code }),
    };
    const text = `action ${command} by ${origin.who} via ${origin.via}: ${outcome.state}${outcome.error === undefined ? '' : `: ${outcome.error.message}`}`;
    if (outcome.state === 'done') this.logger.info(line, text);
    else this.logger.warn(line, text);
  }

  private async run(command: CommandName, params: Record<string, unknown>, origin: ActionOrigin): Promise<ActionOutcome> {
    const done = (result: Record<string, unknown>): ActionOutcome => ({ state: 'done', result });
    const failed = (error: CommandError): ActionOutcome => ({ state: 'failed', error });
    const t = this.target;
    switch (command) {
      case 'pause':
        return t.pauseForwarding() ? done({ paused: true }) : failed(FORWARDING_OFF);
      case 'resume':
        return t.resumeForwarding() ? done({ paused: false }) : failed(FORWARDING_OFF);
      case 'bandwidth': {
        if ('schedule' in params) {
          const schedule = params.schedule as Array<{ from: string; to: string; bytesPerSecond: number | null }>;
          const outside = params.default as number | null | undefined;
          return t.setBandwidthSchedule(schedule, outside) ? done({ schedule, ...(outside === undefined ? {} : { default: outside }) }) : failed(FORWARDING_OFF);
        }
        const value = params.bytesPerSecond as number | null | 'schedule';
        return t.setBandwidthOverride(value === 'schedule' ? undefined : value) ? done({ bytesPerSecond: value }) : failed(FORWARDING_OFF);
      }
      case 'replay': {
        const { stream, fromSequence, toSequence } = params as { stream: string; fromSequence: number; toSequence: number };
        if (toSequence < fromSequence) return { state: 'refused', error: { code: 'SKY_ERR_BAD_PARAMS', message: `replay: toSequence ${toSequence} is below fromSequence ${fromSequence}` } };
        const answer = await t.replay(stream, fromSequence, toSequence);
        if (isError(answer)) return failed(answer.error);
        if (answer.resend === null) {
          return failed({
            code: 'SKY_ERR_REPLAY_GONE',
            message: `${stream} ${fromSequence}-${toSequence}: not in the buffer any more (Pulsar acknowledged up to ${answer.acknowledgedUpTo}, newest ${answer.lastSequence}); read it from Kafka's raw topic instead`,
          });
        }
        return done({ ...answer });
      }
      case 'self-test': {
        const result = await t.runSelfTest();
        return result.ok ? done({ ...result }) : { state: 'failed', result: { ...result }, error: { code: 'SKY_ERR_SELFTEST', message: result.error ?? 'self-test failed' } };
      }
      case 'reload': {
        const answer = await t.reloadConfiguration();
        return isError(answer) ? failed(answer.error) : done(answer.applied);
      }
      case 'ping':
        // Nothing to do: the answer itself is the point (the daemon's control path is alive).
        return done({ pong: true });
      case 'status':
        return done({ status: t.status() });
      case 'ack-alarm': {
        const code = params.code as string;
        const alarm = t.acknowledgeAlarm(code, origin.who);
        return alarm === null ? failed({ code: 'SKY_ERR_NOT_FOUND', message: `no active alarm '${code}'` }) : done({ alarm });
      }
    }
  }
}
