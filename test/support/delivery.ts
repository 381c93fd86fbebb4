/**
 * What the data centre must see: per stream, every expected sequence exactly once, in order.
 * Reads the Skyhaul properties of consumed Pulsar messages.
 */
import { fromPulsarMessage } from '../../src/record/record.ts';
import type { ConsumedMessage } from './pulsar.ts';

export interface DeliveryReport {
  received: number;
  unique: number;
  duplicates: number;
  outOfOrder: number;
  missing: number;
  /** First few problems, for the assertion message. */
  problems: string[];
}

/** `expected`: stream -> the sequences that must arrive (acknowledged to their source). */
export function checkDelivery(messages: ConsumedMessage[], expected: Map<string, Iterable<number>>): DeliveryReport {
  const seen = new Map<string, Set<number>>();
  const last = new Map<string, number>();
  const report: DeliveryReport = { received: messages.length, unique: 0, duplicates: 0, outOfOrder: 0, missing: 0, problems: [] };
  const problem = (text: string): void => {
    if (report.problems.length < 10) report.problems.push(text);
  };
  for (const message of messages) {
    const record = fromPulsarMessage(message);
    const key = `${record.producerId}|${record.stream}`;
    const set = seen.get(key) ?? new Set<number>();
    seen.set(key, set);
    if (set.has(record.sequence)) {
      report.duplicates += 1;
      problem(`duplicate ${record.stream}#${record.sequence}`);
      continue;
    }
    set.add(record.sequence);
    report.unique += 1;
    const previous = last.get(key);
    if (previous !== undefined && record.sequence < previous) {
      report.outOfOrder += 1;
      problem(`out of order ${record.stream}: ${record.sequence} after ${previous}`);
    }
    last.set(key, Math.max(previous ?? -Infinity, record.sequence));
  }
  for (const [stream, sequences] of expected) {
    const got = [...seen].filter(([key]) => key.endsWith(`|${stream}`)).flatMap(([, set]) => [...set]);
    const gotSet = new Set(got);
    for (const sequence of sequences) {
      if (!gotSet.has(sequence)) {
        report.missing += 1;
        problem(`missing ${stream}#${sequence}`);
      }
    }
  }
  return report;
}
