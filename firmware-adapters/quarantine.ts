/**
 * Bounded keeping of bad frames for diagnosis (Skyhaul's invariant 6: a bad frame is counted and
 * kept, bounded). Keeps the last `capacity` entries (raw bytes truncated to `maxRawBytes`, copied
 * so no large read buffer stays referenced) and counts every entry ever added per adapter and
 * error code, evicted or not.
 */
export interface QuarantineEntry {
  /** ms since epoch. */
  at: number;
  adapter: string;
  /** The input (instrument) name, when the caller knows it. */
  input?: string;
  /** `ADAPTER_*` from a decoder or `FRAMING_*` from a framer. */
  code: string;
  message: string;
  raw: Buffer;
  /** Length of the bad data before truncation to `maxRawBytes`. */
  rawLength: number;
}

export interface QuarantineOptions {
  capacity: number;
  maxRawBytes?: number;
}

export class Quarantine {
  readonly capacity: number;
  readonly maxRawBytes: number;
  private readonly ring: (QuarantineEntry | undefined)[];
  private next = 0;
  private size = 0;
  private readonly byAdapter = new Map<string, Map<string, number>>();
  private added = 0;

  constructor(options: QuarantineOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('quarantine capacity must be a positive integer');
    this.capacity = options.capacity;
    this.maxRawBytes = options.maxRawBytes ?? 1024;
    this.ring = new Array<QuarantineEntry | undefined>(this.capacity);
  }

  add(entry: { at: number; adapter: string; input?: string; code: string; message: string; raw: Buffer; rawLength?: number }): void {
    const kept: QuarantineEntry = {
      at: entry.at,
      adapter: entry.adapter,
      code: entry.code,
      message: entry.message,
      raw: Buffer.from(entry.raw.subarray(0, this.maxRawBytes)),
      rawLength: entry.rawLength ?? entry.raw.length,
    };
    if (entry.input !== undefined) kept.input = entry.input;
    this.ring[this.next] = kept;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
    this.added++;
    let codes = this.byAdapter.get(entry.adapter);
    if (codes === undefined) {
      codes = new Map();
      this.byAdapter.set(entry.adapter, codes);
    }
    codes.set(entry.code, (codes.get(entry.code) ?? 0) + 1);
  }

  /** Kept entries, oldest first. */
  entries(): QuarantineEntry[] {
    const out: QuarantineEntry[] = [];
    const start = (this.next - this.size + this.capacity) % this.capacity;
    for (let i = 0; i < this.size; i++) {
      const entry = this.ring[(start + i) % this.capacity];
      if (entry !== undefined) out.push(entry);
    }
    return out;
  }

  /** Every entry ever added, per adapter and code (evicted ones included). */
  counts(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [adapter, codes] of this.byAdapter) out[adapter] = Object.fromEntries(codes);
    return out;
  }

  /** Every entry ever added. */
  total(): number {
    return this.added;
  }

  /** Drops the kept entries; the counts stay (they are monotonic, like metrics). */
  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
    this.size = 0;
  }
}
