/**
 * Running totals by label set, for events counted since start that must survive the objects that
 * report them (a SIGHUP reload rebuilds inputs; the totals, and the metrics derived from them,
 * keep counting).
 */
export class Tally<L extends Record<string, string>> {
  private readonly counts = new Map<string, L & { count: number }>();

  constructor(private readonly keys: ReadonlyArray<keyof L & string>) {}

  add(labels: L, n = 1): void {
    if (n <= 0) return;
    const key = this.keys.map((k) => labels[k]).join('\u0000');
    const entry = this.counts.get(key);
    if (entry === undefined) this.counts.set(key, { ...labels, count: n });
    else entry.count += n;
  }

  /** Every label set with its total, in first-seen order. */
  list(): Array<L & { count: number }> {
    return [...this.counts.values()].map((e) => ({ ...e }));
  }
}
