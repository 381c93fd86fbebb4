/**
 * Scheduled maintenance (node-cron; schedules come from config): TTL sweeps, WAL checkpoints,
 * incremental vacuum, host sampling, the daily summary and the self-test. A job never overlaps
 * itself, a failure is logged and shown in status, and nothing a job throws reaches the daemon.
 */
import cron from 'node-cron';
import { SkyhaulError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';

export interface Job {
  name: string;
  /** cron expression (5 fields, or 6 with seconds first). */
  schedule: string;
  run(): unknown;
}

export interface JobStatus {
  name: string;
  schedule: string;
  runs: number;
  failures: number;
  lastRunAt: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  lastResult: unknown;
}

export class JobScheduler {
  private readonly tasks: cron.ScheduledTask[] = [];
  private readonly state = new Map<string, JobStatus & { running: boolean }>();

  constructor(
    private readonly jobs: Job[],
    private readonly logger: Logger,
  ) {
    for (const job of jobs) {
      if (!cron.validate(job.schedule)) {
        throw new SkyhaulError('SKY_ERR_CONFIG', `jobs.${job.name}: '${job.schedule}' is not a valid cron expression`);
      }
      this.state.set(job.name, {
        name: job.name,
        schedule: job.schedule,
        runs: 0,
        failures: 0,
        lastRunAt: null,
        lastDurationMs: null,
        lastError: null,
        lastResult: null,
        running: false,
      });
    }
  }

  start(): void {
    if (this.tasks.length > 0) return;
    for (const job of this.jobs) this.tasks.push(cron.schedule(job.schedule, () => void this.runNow(job.name)));
  }

  /** Runs a job now (also used by tests and the start-up self-test); skipped if already running. */
  async runNow(name: string): Promise<JobStatus> {
    const job = this.jobs.find((j) => j.name === name);
    const state = this.state.get(name);
    if (job === undefined || state === undefined) throw new SkyhaulError('SKY_ERR_USAGE', `no job named '${name}'`);
    if (state.running) return this.snapshot(state);
    state.running = true;
    const t0 = performance.now();
    try {
      state.lastResult = (await job.run()) ?? null;
      state.lastError = null;
    } catch (error) {
      state.failures += 1;
      state.lastError = (error as Error).message;
      this.logger.error({ component: 'jobs', job: name, err: state.lastError }, `job ${name} failed`);
    } finally {
      state.running = false;
      state.runs += 1;
      state.lastRunAt = Date.now();
      state.lastDurationMs = Math.round(performance.now() - t0);
    }
    return this.snapshot(state);
  }

  private snapshot(state: JobStatus & { running: boolean }): JobStatus {
    const { running: _running, ...rest } = state;
    return { ...rest };
  }

  status(): JobStatus[] {
    return [...this.state.values()].map((s) => this.snapshot(s));
  }

  stop(): void {
    for (const task of this.tasks.splice(0)) task.stop();
  }
}
