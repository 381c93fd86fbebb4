/**
 * The bridge's de-duplication state: per (producer_id, stream), the highest sequence written to
 * Kafka. It lives in a compacted Kafka topic (`bridge.stateTopic`) and every change is written in
 * the same Kafka transaction as the records it covers, so "in Kafka" and "remembered" can never
 * disagree, whatever crashes, rebalances or redeliveries happen; and it does not depend on the
 * edge broker's de-duplication window (ARCHITECTURE.md central invariant 8).
 *
 * Record: key `<producer_id>\u0000<stream>`, value JSON `{"sequence": N, "topic": "<pulsar topic>"}`
 * (the topic only for operators reading the state).
 */
import type { InRecord, OutRecord } from '../kafka/index.ts';

export interface Verdict {
  /** 'new': write it; 'duplicate': already in Kafka (a redelivery, a re-send): skip it. */
  kind: 'new' | 'duplicate';
  /** Sequences missing just before this record (counted and reported, never hidden). */
  gap: number;
}

export function stateKey(producerId: string, stream: string): string {
  return `${producerId}\u0000${stream}`;
}

export class DedupState {
  private readonly highest = new Map<string, number>();

  /**
   * Replaces the state with what the state topic holds (read to its end, read_committed). With
   * `pulsarTopic`, only that topic's keys are kept (a producer writes to one site topic; each
   * topic's bridge needs only its own).
   */
  load(records: InRecord[], pulsarTopic?: string): void {
    this.highest.clear();
    for (const r of records) {
      if (r.value === null || r.value.length === 0) {
        this.highest.delete(r.key);
        continue;
      }
      try {
        const { sequence, topic } = JSON.parse(r.value.toString()) as { sequence?: unknown; topic?: unknown };
        if (pulsarTopic !== undefined && typeof topic === 'string' && topic !== pulsarTopic) continue;
        if (typeof sequence === 'number' && Number.isSafeInteger(sequence)) this.highest.set(r.key, Math.max(sequence, this.highest.get(r.key) ?? 0));
      } catch {
        // A record the bridge did not write: not state.
      }
    }
  }

  get size(): number {
    return this.highest.size;
  }

  /** Highest sequence written for the key, 0 when none. */
  get(key: string): number {
    return this.highest.get(key) ?? 0;
  }

  /** What to do with a record, against the state plus what the current batch already accepted. */
  judge(key: string, sequence: number, pending: ReadonlyMap<string, number>): Verdict {
    const highest = pending.get(key) ?? this.get(key);
    if (sequence <= highest) return { kind: 'duplicate', gap: 0 };
    return { kind: 'new', gap: highest === 0 ? 0 : sequence - highest - 1 };
  }

  /** Applies a committed batch's highest sequences. */
  apply(pending: ReadonlyMap<string, number>): void {
    for (const [key, sequence] of pending) if (sequence > this.get(key)) this.highest.set(key, sequence);
  }

  /** The state records for a batch (in the batch's transaction). */
  static records(stateTopic: string, pulsarTopic: string, pending: ReadonlyMap<string, number>): OutRecord[] {
    return [...pending].map(([key, sequence]) => ({ topic: stateTopic, key, value: Buffer.from(JSON.stringify({ sequence, topic: pulsarTopic })), headers: {} }));
  }
}
