/**
 * With target 'site', data reaches the data centre through the site Pulsar's geo-replication.
 * The operator needs to see that leg too: per topic, the replication backlog and whether the
 * replicator is connected, from the site Pulsar's topic stats (`replication.<cluster>`).
 */
import type { PulsarAdmin } from './pulsar/admin.ts';

export interface ReplicationStatus {
  cluster: string;
  checkedAt: number | null;
  error: string | null;
  backlog: number;
  connected: boolean | null;
  topics: Array<{ topic: string; backlog: number; connected: boolean; delaySeconds: number | null }>;
}

export class ReplicationMonitor {
  private timer: NodeJS.Timeout | null = null;
  private current: ReplicationStatus;

  constructor(
    private readonly admin: PulsarAdmin,
    private readonly cluster: string,
    private readonly topics: () => string[],
    private readonly intervalMs = 10_000,
  ) {
    this.current = { cluster, checkedAt: null, error: null, backlog: 0, connected: null, topics: [] };
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  status(): ReplicationStatus {
    return this.current;
  }

  async poll(): Promise<ReplicationStatus> {
    const topics: ReplicationStatus['topics'] = [];
    try {
      for (const topic of this.topics()) {
        const stats = await this.admin.topicStats(topic);
        const replicator = stats.replication?.[this.cluster];
        topics.push({
          topic,
          backlog: replicator?.replicationBacklog ?? 0,
          connected: replicator?.connected ?? false,
          delaySeconds: replicator?.replicationDelayInSeconds ?? null,
        });
      }
      this.current = {
        cluster: this.cluster,
        checkedAt: Date.now(),
        error: null,
        backlog: topics.reduce((sum, t) => sum + t.backlog, 0),
        connected: topics.length === 0 ? null : topics.every((t) => t.connected),
        topics,
      };
    } catch (error) {
      this.current = { ...this.current, checkedAt: Date.now(), error: (error as Error).message };
    }
    return this.current;
  }
}
