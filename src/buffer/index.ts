/**
 * # The durable buffer — contract
 *
 * Every record an input hands over is committed here before the source is acknowledged, and
 * leaves only when the broker acknowledged it, or when a policy drops it and counts the drop.
 * One SQLite file in WAL mode, one writer (this process); SQLite statements run on the main
 * thread, the commit's fsync on libuv's thread pool (`durability.ts`). Files: `types.ts` (public
 * types), `schema.ts` (layout, open, quarantine), `migrations/` (versioned upgrades),
 * `durability.ts` (the fsync pipeline), `identity.ts` (sequence mark), `checksum.ts`, `trace.ts`
 * (traceparent generation), `buffer.ts` (RecordBuffer: open/close, transactions, alarms,
 * status, maintenance, and the public API), and the parts of its work, one file per seam:
 * `writer.ts` (appends and the group commit), `quota.ts` (quota, eviction, waiting units),
 * `reader.ts` (reads and acks), `ttl.ts` (TTL sweep), `disk.ts` (disk watchdog), `integrity.ts`
 * (the full check), with `units.ts`, `journal.ts` and `statements.ts` as what they share. Tests:
 * `test/buffer/`, one per invariant below, named `invariant <name>`.
 *
 * ## On-disk layout (schema version 4, in `meta.schema_version`)
 *
 * Pragmas: `auto_vacuum = INCREMENTAL` (set before the first CREATE TABLE, so free pages can be
 * returned with `incrementalVacuum()`), `journal_mode = WAL`, `locking_mode = EXCLUSIVE` (one
 * process owns the file; the WAL index lives in heap memory, so there is no -shm file),
 * `synchronous` NORMAL with our own fdatasync per group commit when FULL/EXTRA is configured
 * (below), `journal_size_limit` 64 MiB, WAL auto-checkpoint at about 8 MiB, `page_size` 2048 for
 * new files.
 *
 *     meta       (key TEXT PK, value)            schema_version, producer_id ("edge-<16 hex>",
 *                                                generated once), created_at, opened_at
 *     streams    (id INTEGER PK, name UNIQUE,    one row per stream ever seen, never deleted:
 *                 priority, next_sequence,       next_sequence is the next number to assign;
 *                 acked_sequence, records,       acked_sequence the broker's cursor (0 = none);
 *                 bytes, last_ingest_time)       records/bytes the stream's live rows
 *     drops      (stream, reason, count;         cumulative drop counters
 *                 PK (stream, reason))
 *     producer_epochs, source_marks              see migrations/002-producer-epochs.ts
 *     records    (pos INTEGER PK,                ONE append log for every stream: pos (the rowid)
 *                 stream_id, sequence,           is the global append position, so a group commit
 *                 ingest_time, source_time,      touching many streams appends at one right edge;
 *                 size, crc, content_type,       UNIQUE INDEX records_by_stream (stream_id,
 *                 schema_ref, traceparent,       sequence) serves per-stream reads, head walks
 *                 payload)                       and prefix deletes (all range scans of the index).
 *
 * Why one log (measured, 1,242 streams, random stream per record, synchronous FULL, 60-byte
 * payloads): one table per stream (schema 2) cost 7.8 µs/record in commits of 150 and 6.3 in
 * commits of 1,000; the log with its index 7.6 and 4.8; a WITHOUT ROWID table keyed by (stream,
 * sequence) 17.9. The log also costs nothing per new stream (schema 2 ran a CREATE TABLE, which
 * re-prepares every statement in use, 0.6-1.7 ms) and needs one set of prepared statements for all
 * streams instead of eight per stream (memory). Small columns precede the payload so head walks
 * read little.
 *
 * Limits: streams ≤ `maxStreams` (default 10,000; a record of a further stream is dropped as
 * 'stream_limit', counted under the stream '*', alarm `buffer_stream_limit`); sequences and `pos`
 * are JavaScript numbers, exact to 2^53 − 1 per stream (at 1 million records/s, 285 years); record
 * size ≤ `maxRecordBytes` (the daemon sets it from what the forwarding transport carries; SQLite's
 * own ceiling is 1 GB per value); stream names ≤ 1024 characters; buffered bytes ≤ quotaBytes.
 *
 * ## Writing: group commit
 *
 * append() validates, copies the payload, and queues the record. The writer commits the queue as
 * soon as it is idle: on the next turn of the event loop (so the appends of one turn share a
 * commit) when no fsync is running, else when the running fsync completes, or `maxDelayMs` after
 * it was scheduled, whichever is first (the delay is an upper bound, not a wait), and at once when
 * `maxRecords` are queued. Each transaction holds at most maxRecords appends (on the writer thread,
 * below: what accumulated while the previous commit ran, up to 16 × maxRecords). Inside it: the quota
 * decision for each record in arrival order (below), one prepared INSERT per record into the log,
 * one UPDATE per stream row changed by anything but inserts (see "Stream rows"), one upsert per
 * (stream, reason) drop counter, one upsert per (source, key) source mark.
 *
 * The writer thread (`writer-thread.ts`, `BufferOptions.writerThread`, default on): the one SQLite
 * connection lives in a `worker_threads` worker. The main thread still decides everything —
 * sequences, quota, stream rows — and hands a group commit to the thread as one message (inserts
 * column-wise in transferred buffers, payloads copied once into one ArrayBuffer); the thread runs
 * the INSERTs and the COMMIT (and any automatic checkpoint) while the event loop goes on
 * receiving and decoding. At most one group commit is in flight: the next one, and every other
 * call (read, ack, TTL, maintenance, status that needs the file), first waits for it, so a failed
 * commit is undone in memory before anything builds on it; those other calls are synchronous
 * round trips to the thread (`Atomics.wait`), and the API stays synchronous. Measured with
 * `test/bench/buffer-wal.ts` (1,245 streams, 30,000 records/s, 8 s, two runs each, alternating
 * `--writer-thread true|false`): main thread 14.3-14.5 -> 5.4-5.5 µs per record, event loop delay
 * p99 5.5-6.0 -> 2.4-2.5 ms; CPU per record over both threads 15.5-15.8 -> 17.8 µs (the hand-off).
 * Read-only opens and a single executable keep the connection on the main thread
 * (`connection.ts`, `LocalConnection`): the thread loads better-sqlite3 from its module path,
 * which a single executable does not have.
 *
 * ## Stream rows
 *
 * A stream's row in `streams` (next_sequence, records, bytes, last_ingest_time) is written in the
 * transaction of every change except an insert. A group commit leaves the rows of streams it only
 * appended to as they were, and writes all such lagging rows at most `ROW_WRITE_INTERVAL_MS`
 * (1 s) after it last did, and at close. Invariant (lagging-rows): a row lags memory by inserts
 * only, so the records past its next_sequence run on from it without a gap; open() counts them
 * into the row (O(what lags): about a second of appends). Why: with 1,245 streams a commit of a
 * few dozen records rewrote a `streams` page for nearly every record. Measured with
 * `test/bench/buffer-wal.ts` (1,245 streams, 30,000 records/s, `page_size` 2048, medians of 3
 * runs alternating with the previous code): WAL per record 3.70 -> 2.67 KB, CPU per record
 * 21.4 -> 18.7 µs, event loop delay p99 about 11 -> 8 ms. Schema version 4 marks files written
 * this way (`migrations/004-lagging-stream-rows.ts`).
 *
 * Durability under synchronous FULL/EXTRA (`durability.ts`): SQLite runs at NORMAL, so COMMIT
 * writes the WAL frames without an fsync and returns; the buffer then fdatasyncs the WAL file on
 * the thread pool, one sync at a time covering every commit made while the previous one ran. The
 * promise of every record in a commit resolves, and its records become readable (each stream's
 * durable watermark; read() and cursors() stop below it), only after a sync that started after
 * its COMMIT completed: what resolved is on disk exactly as under FULL, and a record a power cut
 * can still lose was never sent, so its sequence may be given again. A failed fdatasync rejects
 * that commit's appends (alarm `buffer_sync_failed`). Under NORMAL/OFF appends resolve at COMMIT
 * (a power loss can lose committed records: that is what those modes mean). Events ('drop',
 * 'committed', alarms) fire when the commit's appends settle; a listener that throws is logged,
 * never able to undo or block a commit. If a transaction fails (disk full, I/O error) it rolls
 * back, the in-memory cursors and counters are restored to their pre-transaction values, and
 * every append in it rejects (SKY_ERR_DISK_LOW for SQLITE_FULL). Acks, TTL and maintenance commit
 * without their own fsync (redone or resent if a power cut loses them); the next group commit's
 * sync covers them.
 *
 * ## Source marks
 *
 * appendBatch(records, { mark }) commits `mark` (source, key, fingerprint) in the same transaction
 * as the records, and only if they are inserted: an input that cannot tell a re-send from a new
 * message (an MQTT broker re-sending a retained message, the UDP journal replayed after a crash)
 * asks sourceMarks(source) what was committed last, and the answer can never be ahead of or
 * behind the records. One row per (source, key); within a transaction the last inserted unit's
 * mark wins (units commit in arrival order), so a burst of UDP datagrams writes its mark once.
 *
 * ## Sequences
 *
 * Assigned inside the commit transaction from the stream's next sequence in memory (the row's
 * next_sequence plus the records past it, "Stream rows"): 1, 2, 3, … per stream in commit order,
 * never from the wall clock, never reused (the streams row outlives the stream's records).
 * Records dropped before commit get no sequence, so committed sequences are contiguous; gaps in
 * what the forwarder reads come only from counted drops of committed records (drop-oldest, TTL,
 * checksum).
 *
 * ## Checksum
 *
 * `crc` = CRC-32 (zlib polynomial) over: the UTF-8 of `${stream}\n${contentType}\n${schemaRef ??
 * '\u0000'}\n`, float64 big-endian sourceTime (NaN when null), float64 big-endian ingestTime, the
 * UTF-8 traceparent, the payload, float64 big-endian sequence (`recordChecksum`; the order lets the
 * writer do all but the sequence when the record is appended, outside the transaction). Verified by
 * read() for every record it returns and by checkIntegrity(). A mismatch in read(): the row is
 * deleted, counted ('checksum'), alarmed (`buffer_checksum`, logged as error) and skipped.
 *
 * ## Reading and acknowledging
 *
 * read(stream, after, limit, maxBytes) returns records with sequence > after, ascending, at most
 * `limit`, and after the first record no more than `maxBytes` of accounted size. Reading does not
 * move any cursor. ack(stream, n) deletes the stream's rows with sequence <= n, subtracts them from
 * the stream's counters and sets acked_sequence = n, in one transaction: after a crash either all
 * of it happened or none. Acks at or below the cursor are no-ops (broker acks may repeat); an ack
 * above the last assigned sequence or for an unknown stream is a caller bug (SKY_ERR_USAGE).
 * ackMany() does several in one transaction. Deletes only ever remove a prefix of a stream (ack,
 * TTL, eviction), except a checksum failure, which removes that one row.
 *
 * ## Quota accounting and policies
 *
 * A record's accounted size is payload + content type + schema ref + traceparent + 48 bytes of
 * row overhead (`recordSize`); quotaBytes bounds the sum over buffered records. (The file is
 * larger: page slack, free pages, WAL. The disk watchdog guards the disk itself.) When a record
 * of class C does not fit, in the commit transaction:
 *
 *  1. Records of strictly lower classes whose policy is 'drop-oldest' are evictable for any C,
 *     lowest class first (bulk, then telemetry, …): fresh alarms outrank days-old bulk data.
 *     Higher classes, and lower classes under 'block' or 'drop-newest', are never evicted.
 *  2. If C is 'drop-oldest', C's own records are evictable too, after the lower classes.
 *  3. If the evictable bytes cover the shortfall, the oldest evictable records are deleted —
 *     within a class oldest first by each stream's first record's ingest time, always a prefix of
 *     a stream — counted as 'quota_drop_oldest' per stream, and the record is inserted.
 *  4. Otherwise nothing is evicted, and by C's policy:
 *     - 'block': the append waits (no sequence yet) in C's FIFO; waiters are retried, highest class
 *       first and in order within a class, after acks, TTL or checksum removals free space. Later
 *       appends of C queue behind them, so a stream's order is kept. Waiting is bounded: a record
 *       that would take the waiting bytes (all classes, including disk-low waiters) beyond
 *       maxBlockedBytes is dropped instead: 'backpressure_overflow' (its append rejects with
 *       SKY_ERR_BUFFER_FULL). Alarm `buffer_quota_blocked` is raised while records wait for space.
 *     - 'drop-newest', and 'drop-oldest' when even C's own class cannot make room (the quota is
 *       held by higher or non-evictable classes): the incoming record is dropped and counted as
 *       'quota_drop_newest'.
 *  A record larger than the whole quota is dropped as 'quota_drop_newest' whatever the policy.
 *
 * A dropped incoming record never looks committed: its append() REJECTS with SkyhaulError
 * (SKY_ERR_BUFFER_FULL, or SKY_ERR_DISK_LOW for 'disk_low'), after the transaction that counted it
 * committed. (Rejection rather than a result value: a caller that forgets to look cannot mistake a
 * drop for a commit and acknowledge its source.)
 *
 * Defaults: alarm and control 'block' — rare, small, and each one matters (an alarm or a control
 * acknowledgement must not vanish); their sources (MQTT QoS 1, polled instruments) can hold and
 * retry, and by rule 1 they take space from telemetry/bulk before waiting at all. telemetry and
 * bulk 'drop-oldest' — continuous series whose newest values matter most to operators; blocking
 * would stall instrument inputs that cannot hold data anyway, so during a long outage the buffer
 * keeps the most recent window (ring buffer) and counts what it overwrote.
 *
 * ## TTL
 *
 * sweepTtl(now) walks each stream with a ttlMs from its first record and deletes those with
 * ingestTime + ttlMs <= now, stopping at the first unexpired one (records are in ingest order in
 * practice; a caller-supplied older ingestTime behind a newer one waits for it), counted as 'ttl',
 * at most 10,000 per transaction. No scan of the table.
 *
 * ## Disk watchdog
 *
 * statfs of the buffer's directory every checkIntervalMs and before an append when the last
 * sample is older than that. Free < minFreeBytes: stop accepting ('accepting' false, alarm
 * `buffer_disk_low`); free >= resumeFreeBytes: accept again ('accepting' true, alarm cleared,
 * waiters retried). While not accepting, every append waits as under 'block', sharing the
 * maxBlockedBytes bound; overflow is dropped as 'disk_low'.
 *
 * ## Crash recovery and start-up
 *
 * Nothing to replay: SQLite's WAL recovery restores the last committed transaction, and every
 * transaction leaves rows, cursors, counters and drop counters consistent with each other (a
 * stream row behind by inserts only, counted in at open: "Stream rows"). An
 * older schema is migrated in place (`migrations/`), all steps and the start-up checks in one
 * transaction: a file that fails the checks after migrating is rolled back and refused. A
 * record whose append had resolved is in the file; a record whose append had not resolved may or
 * may not be (its source was not acknowledged and will resend; consumers de-duplicate).
 * open() reads meta, streams and drops, and per stream its first and last row through the
 * (stream_id, sequence) index (validating acked < first <= last < next, after counting in the
 * records past a lagging row's next_sequence: "Stream rows"), and checks that the log's smallest
 * and largest stream id (and any id the streams table skips) belong to a stream. That is
 * O(streams · log records) plus what lags: no COUNT(*) of a whole stream, no scan, no
 * integrity_check.
 *
 * Only a file that SQLite itself reports damaged (SQLITE_CORRUPT*, SQLITE_NOTADB, or
 * `PRAGMA quick_check` finding damage after our own cross-checks failed) is moved with its
 * -wal/-shm to `<path>.quarantined-<ISO time>[-wal|-shm]`; a fresh buffer (new producer id,
 * sequences from 1) is created, and alarm `buffer_quarantined` names the moved file and the error
 * (alarms(), 'alarm' event, logger.error). The sidecars are hard-linked before SQLite opens the
 * file, since SQLite deletes a WAL when it closes a connection, even a failed one.
 * Everything else stops open() with the file left byte for byte as it was (validation happens
 * before the first write of an open), because moving it would hide a healthy backlog under a new
 * producer id: another program's database or a newer schema version (a package downgrade) or
 * cursors that contradict rows while SQLite finds the file intact (SKY_ERR_BUFFER_INCOMPATIBLE),
 * permissions, a read-only filesystem or I/O errors (SKY_ERR_BUFFER_ACCESS), another process
 * holding the file (SQLITE_BUSY: SKY_ERR_USAGE). Each message names the file and the reason.
 * checkIntegrity() is the full, O(file), check for `skyhaul buffer check`.
 *
 * `readOnly` (the offline tools): the file must exist; SQLite opens it read-only in normal
 * locking mode (an exclusive lock needs a writable descriptor), creating a -shm and an empty -wal
 * for its WAL index, which close() removes again when they did not exist before. Nothing is
 * written and nothing is quarantined; read() skips (and logs) a record failing its checksum. An
 * older file is read through a copy migrated in memory (costs memory of the file's size).
 *
 * ## Invariants (each has a test named `invariant <name>`)
 *
 *  - commit-before-resolve: append() resolves only after the transaction holding its record has
 *    committed and been synced; a resolved record survives close, SIGKILL and reopen; a record
 *    whose sync is still running is not readable.
 *  - sequence-never-reused: per stream, committed records are numbered 1, 2, 3, … in commit order;
 *    no number is assigned twice, even after all records were acked and deleted and across
 *    restarts.
 *  - ack-deletes-exactly-the-prefix: ack(s, n) removes exactly the records of s with sequence <= n
 *    and moves the cursor, all or nothing, also across a crash.
 *  - counters-equal-rows: each stream's records/bytes equal its rows, after any mix of appends,
 *    acks, evictions, TTL and checksum removals.
 *  - lagging-rows: a stream's row lags memory by inserts only; a file copied mid-run (what a
 *    crash leaves) opens with every stream's next sequence, records and bytes exact.
 *  - no-silent-drop: every record that leaves other than by ack is counted by stream and reason in
 *    the transaction that deletes it and emitted as 'drop'; every append that is not committed
 *    is counted (or rejected as closed/invalid). committed = buffered + acked + counted drops.
 *  - dropped-never-resolves: an append whose record is not kept rejects; it never resolves.
 *  - checksum-verified-on-read: read() never returns a record whose checksum fails.
 *  - quota-never-exceeded: after every commit, buffered accounted bytes <= quotaBytes.
 *  - read-in-sequence-order: read() returns strictly increasing sequences above `after`.
 *  - bounded-startup: open() cost depends on the number of streams, not records (plus the
 *    records past lagging rows: at most about a second of appends, "Stream rows").
 *  - corrupt-file-quarantined: open() never throws for a file SQLite reports corrupt.
 *  - only-sqlite-corruption-quarantined: a foreign, newer or inconsistent (but intact) file, or
 *    one that cannot be written, stops open() and is left untouched.
 *  - producer-id-stable: the producer id is created once and survives restarts.
 *  - single-writer: a second buffer on the same file fails to open and quarantines nothing.
 *
 * ## Events
 *
 * 'committed' (streams: string[], info: { records, durationMs (COMMIT and its fsync), latenciesMs })
 * after each group commit is durable;
 * 'drop' ({ stream, reason, count }) per stream and reason per transaction; 'alarm' (BufferAlarm)
 * when raised or updated; 'alarm_cleared' (code); 'accepting' (boolean) on watchdog transitions.
 */
export { RecordBuffer, ALARM } from './buffer.ts';
export { recordChecksum, recordSize, ROW_OVERHEAD_BYTES } from './checksum.ts';
export { SCHEMA_VERSION } from './schema.ts';
export { configureWriterThread, type ThreadSqlite } from './writer-thread.ts';
export {
  PRIORITY_ORDER,
  DROP_REASONS,
  DEFAULT_POLICIES,
  DEFAULT_GROUP_COMMIT,
  DEFAULT_QUOTA_BYTES,
  DEFAULT_MAX_BLOCKED_BYTES,
  DEFAULT_DISK,
} from './types.ts';
export type {
  PriorityClass,
  QuotaPolicy,
  DropReason,
  SynchronousMode,
  StreamConfig,
  DiskWatchdogOptions,
  BufferLogger,
  BufferOptions,
  Committed,
  StreamState,
  StreamCursor,
  SourceMark,
  BufferAlarm,
  BufferStats,
  ClassStats,
  DropCount,
  IntegrityReport,
  CommitInfo,
} from './types.ts';
