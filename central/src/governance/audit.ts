/**
 * Writing the audit topic: an idempotent producer (acks=all, so a record is acknowledged once
 * `min.insync.replicas` replicas have it; the producer id and sequence numbers make a retried
 * produce land once) with group commit: records handed over while a produce is in flight go
 * together in the next one, in the order they were handed over. The key is the command id, so one
 * command's records share a partition and keep their order.
 *
 * `write(records)` resolves once Kafka acknowledged them (the caller then acknowledges RabbitMQ
 * or answers the operator: central invariant 12), and rejects when the produce failed; nothing is
 * retried here, the caller knows whether to hold the message (a consumer) or answer 503 (the API).
 *
 * Limits: at most MAX_BATCH records per produce; at most MAX_PENDING records waiting, beyond which
 * `write` rejects at once (AuditBackpressure) rather than queueing without bound while Kafka is away.
 */
import { type Producer, ProduceAcks } from '@platformatic/kafka';
import { auditHeaders, type AuditRecord } from '../../../src/record/command.ts';

const MAX_BATCH = 500;
const MAX_PENDING = 20_000;

export class AuditBackpressure extends Error {
  override readonly name = 'AuditBackpressure';
}

/** A record for the audit topic or the sites topic. */
export interface AuditOut {
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

interface Pending {
  out: AuditOut;
  done: (error: Error | null) => void;
}

export function auditOut(topic: string, record: AuditRecord): AuditOut {
  return { topic, key: record.id, value: Buffer.from(JSON.stringify(record)), headers: auditHeaders(record) };
}

export class AuditWriter {
  private queue: Pending[] = [];
  private sending = false;
  private closed = false;

  constructor(
    private readonly producer: Producer,
    private readonly observe: (records: number, seconds: number, ok: boolean) => void = () => undefined,
  ) {}

  /** Resolves when Kafka acknowledged every record (acks=all). */
  write(records: AuditOut[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('audit writer closed'));
    if (this.queue.length + records.length > MAX_PENDING) return Promise.reject(new AuditBackpressure(`${this.queue.length} audit records already wait for Kafka`));
    const all = records.map(
      (out) =>
        new Promise<void>((resolve, reject) => {
          this.queue.push({ out, done: (error) => (error === null ? resolve() : reject(error)) });
        }),
    );
    if (!this.sending) void this.pump();
    return Promise.all(all).then(() => undefined);
  }

  get pending(): number {
    return this.queue.length;
  }

  private async pump(): Promise<void> {
    this.sending = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const t0 = performance.now();
      let failure: Error | null = null;
      try {
        await this.producer.send({
          acks: ProduceAcks.ALL,
          messages: batch.map(({ out }) => ({
            topic: out.topic,
            key: Buffer.from(out.key),
            value: out.value,
            headers: new Map(Object.entries(out.headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
            timestamp: BigInt(Date.now()),
          })),
        });
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
      }
      this.observe(batch.length, (performance.now() - t0) / 1000, failure === null);
      for (const pending of batch) pending.done(failure);
    }
    this.sending = false;
  }

  /** Waits for the produce in flight, then closes the producer; later writes reject. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.sending) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const pending of this.queue.splice(0)) pending.done(new Error('audit writer closed'));
    await this.producer.close().catch(() => undefined);
  }
}
