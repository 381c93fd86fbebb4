/**
 * The UDP input's journal: datagrams survive a crash of the process between being read from the
 * socket and being committed to the buffer (UDP has no acknowledgement to hold back, so without it
 * up to a group commit's worth of datagrams is lost on `kill -9`).
 *
 * Datagrams are appended to the journal before they are decoded: the burst one turn of the event
 * loop read goes out in one `writev(2)` (a write per datagram cost more than its decoding). The write
 * lands in the page cache, which outlives the process (like Fluent Bit's filesystem chunks); it is
 * not fsync'ed, so a power cut can still lose what had not been committed (committed records keep
 * the buffer's own fsync). The position up to which datagrams are settled travels as a source mark
 * (`udp:<input>` / `journal`) in the commit transaction of each datagram's records, so "committed"
 * and "journal position" cannot disagree. On start the journal is replayed from that mark.
 *
 * Layout: segment files `<dir>/<input>.<start offset, 16 hex digits>.udpj`; offsets are global and
 * only grow, so a mark names one place whatever segments exist. An entry is
 *
 *     u32 LE  length of the body
 *     u32 LE  CRC-32 of the body (zlib polynomial)
 *     body:   f64 LE receivedAt (ms since epoch) | u16 LE sender port | u8 address length |
 *             address (UTF-8) | datagram bytes
 *
 * Reading stops at the first entry that is short or fails its CRC (a write torn by a power cut).
 * A segment is retired once the mark is past its end; a clean stop, everything settled, removes
 * them all. Limits: segments of 16 MiB; at most `maxBytes` of unsettled journal (default 256 MiB)
 * — beyond it new datagrams are still decoded and committed but no longer journaled, and counted
 * (`journalOverflow`). Exact when each datagram carries whole frames (every UDP instrument
 * supported); a frame split across datagrams may be lost or repeated on replay after a crash.
 *
 * Our own code: no maintained Node package offers an append-only, CRC-framed, replayable segment
 * log of this shape (the buffer itself is SQLite; writing each datagram there before decoding
 * would double the per-datagram cost).
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

/** One journaled datagram. */
export interface JournalEntry {
  /** Global offset just past this entry: what a mark records once the datagram is settled. */
  end: number;
  receivedAt: number;
  address: string;
  port: number;
  datagram: Buffer;
}

const SEGMENT_BYTES = 16 << 20;
const HEADER = 8;
const FIXED_BODY = 8 + 2 + 1;
const SUFFIX = '.udpj';
/** iovecs per writev(2) (two per datagram): Linux's IOV_MAX. */
const MAX_IOVECS = 1024;
/** A header arena grown past this by one huge burst is let go afterwards. */
const HEADER_ARENA_KEEP = 1 << 20;

type Crc32 = (data: Uint8Array, value?: number) => number;
const crc32: Crc32 = (zlib as unknown as { crc32: Crc32 }).crc32;

interface Segment {
  start: number;
  file: string;
}

export class UdpJournal {
  private fd: number | null = null;
  private segments: Segment[] = [];
  /** Global offset of the next write. */
  private head = 0;
  private current: Segment | null = null;
  private arena = Buffer.alloc(0);
  /** Datagrams read but not journaled because the journal held maxBytes unsettled. */
  journalOverflow = 0;

  constructor(
    private readonly dir: string,
    private readonly input: string,
    private readonly maxBytes = 256 << 20,
  ) {}

  /**
   * Opens the journal and returns the entries after `settledUpTo` (the committed mark), in order,
   * for replay. Throws (naming the directory) when it cannot be created or read.
   */
  open(settledUpTo: number): JournalEntry[] {
    fs.mkdirSync(this.dir, { recursive: true });
    const prefix = `${this.input}.`;
    this.segments = fs
      .readdirSync(this.dir)
      .filter((f) => f.startsWith(prefix) && f.endsWith(SUFFIX) && /^[0-9a-f]{16}$/.test(f.slice(prefix.length, -SUFFIX.length)))
      .map((f) => ({ start: parseInt(f.slice(prefix.length, -SUFFIX.length), 16), file: path.join(this.dir, f) }))
      .sort((a, b) => a.start - b.start);
    const replay: JournalEntry[] = [];
    let end = settledUpTo;
    for (const seg of this.segments) {
      const data = fs.readFileSync(seg.file);
      let at = 0;
      while (at + HEADER <= data.length) {
        const length = data.readUInt32LE(at);
        const body = data.subarray(at + HEADER, at + HEADER + length);
        if (body.length < length || length < FIXED_BODY || crc32(body) !== data.readUInt32LE(at + 4)) break;
        at += HEADER + length;
        const entryEnd = seg.start + at;
        if (entryEnd > settledUpTo) {
          const addressLength = body.readUInt8(10);
          replay.push({
            end: entryEnd,
            receivedAt: body.readDoubleLE(0),
            port: body.readUInt16LE(8),
            address: body.toString('utf8', FIXED_BODY, FIXED_BODY + addressLength),
            datagram: Buffer.from(body.subarray(FIXED_BODY + addressLength)),
          });
        }
      }
      end = Math.max(end, seg.start + at);
      // A torn tail is cut off, so later appends never follow garbage.
      if (at < data.length) fs.truncateSync(seg.file, at);
    }
    // An empty segment would share its name with the next one written.
    for (const seg of this.segments.filter((s) => fs.statSync(s.file).size === 0)) fs.rmSync(seg.file, { force: true });
    this.segments = this.segments.filter((s) => fs.existsSync(s.file));
    // New writes go to a fresh segment after everything readable (a torn tail is left behind).
    this.head = end;
    this.retire(settledUpTo);
    return replay;
  }

  /**
   * Appends a burst of datagrams (those one turn of the event loop read) with one `writev(2)` per
   * segment and per IOV_MAX/2 datagrams: a write per datagram cost more than decoding it. Returns,
   * per datagram in order, the offset just past it (the mark to commit with its records), or null
   * when it could not be journaled (over maxBytes, or a write error: the datagram is still decoded
   * and committed, only its crash protection is missing).
   */
  appendMany(datagrams: ReadonlyArray<{ datagram: Buffer; address: string; port: number; receivedAt: number }>): Array<number | null> {
    const ends: Array<number | null> = [];
    const iov: Buffer[] = [];
    let fd: number | null = null;
    let pending: number[] = [];
    /** Global offset where the queued writev starts. */
    let writeStart = this.head;
    let arenaAt = 0;
    const arena = this.headerArena(datagrams.length);
    const write = (): void => {
      if (fd !== null && iov.length > 0) {
        const expected = this.head - writeStart;
        let written = -1;
        try {
          written = fs.writevSync(fd, iov);
        } catch {
          // reported below as not journaled
        }
        if (written === expected) {
          for (const end of pending) ends.push(end);
        } else {
          // A failed or short write (disk full): cut what it left, so later entries never follow
          // a torn one, and count its datagrams as not journaled (still decoded and committed).
          try {
            fs.ftruncateSync(fd, writeStart - (this.current as Segment).start);
          } catch {
            // the next open() stops at the torn entry and cuts it there
          }
          this.head = writeStart;
          this.journalOverflow += pending.length;
          for (let i = 0; i < pending.length; i++) ends.push(null);
        }
      }
      iov.length = 0;
      pending = [];
      writeStart = this.head;
    };
    for (const { datagram, address, port, receivedAt } of datagrams) {
      const addressLength = Math.min(Buffer.byteLength(address), 255);
      const bodyLength = FIXED_BODY + addressLength + datagram.length;
      const unsettled = this.head - (this.segments[0]?.start ?? this.head);
      if (unsettled + HEADER + bodyLength > this.maxBytes) {
        write();
        this.journalOverflow++;
        ends.push(null);
        continue;
      }
      let target: number;
      try {
        target = this.writable(HEADER + bodyLength, write);
      } catch {
        this.journalOverflow++;
        ends.push(null);
        continue;
      }
      fd = target;
      if (iov.length >= MAX_IOVECS) write();
      const h = arena.subarray(arenaAt, arenaAt + HEADER + FIXED_BODY + addressLength);
      arenaAt += h.length;
      h.writeDoubleLE(receivedAt, HEADER);
      h.writeUInt16LE(port, HEADER + 8);
      h.writeUInt8(addressLength, HEADER + 10);
      h.write(address, HEADER + FIXED_BODY, addressLength, 'utf8');
      h.writeUInt32LE(bodyLength, 0);
      // An empty datagram is hashed as nothing: zlib.crc32 answers 0, not the running value, for a
      // Buffer without a backing store, and the replay would stop at this entry.
      const headerCrc = crc32(h.subarray(HEADER));
      h.writeUInt32LE(datagram.length === 0 ? headerCrc : crc32(datagram, headerCrc), 4);
      iov.push(h, datagram);
      this.head += HEADER + bodyLength;
      pending.push(this.head);
    }
    write();
    if (this.arena.length > HEADER_ARENA_KEEP) this.arena = Buffer.alloc(0);
    return ends;
  }

  /** Header space for `n` entries: reused between bursts (headers are written before writev returns). */
  private headerArena(n: number): Buffer {
    const need = n * (HEADER + FIXED_BODY + 255);
    if (this.arena.length < need) this.arena = Buffer.allocUnsafe(Math.max(need, 64 * (HEADER + FIXED_BODY + 255)));
    return this.arena;
  }

  /** Removes segments that end at or before `settledUpTo` (except the one being written). */
  retire(settledUpTo: number): void {
    for (;;) {
      const [first, second] = this.segments;
      if (first === undefined || first === this.current || (second?.start ?? this.head) > settledUpTo) return;
      fs.rmSync(first.file, { force: true });
      this.segments.shift();
    }
  }

  /** Closes; with everything settled (`settledUpTo` at the head) no segment is left behind. */
  close(settledUpTo: number): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    this.current = null;
    this.retire(settledUpTo);
  }

  /** The fd to append `bytes` to; before moving to a new segment, `flush` writes what is queued for the old one. */
  private writable(bytes: number, flush: () => void = () => {}): number {
    if (this.fd !== null && this.current !== null && this.head - this.current.start + bytes <= SEGMENT_BYTES) return this.fd;
    flush();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    const seg = { start: this.head, file: path.join(this.dir, `${this.input}.${this.head.toString(16).padStart(16, '0')}${SUFFIX}`) };
    this.fd = fs.openSync(seg.file, 'a');
    this.current = seg;
    this.segments.push(seg);
    return this.fd;
  }
}
