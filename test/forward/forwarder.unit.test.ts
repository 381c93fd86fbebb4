/**
 * The forwarder's branches that the real-broker tests rarely reach, fast, against a fake
 * transport (pure logic: the proof that forwarding works end to end is in forwarder.test.ts,
 * against real Pulsar). The buffer is the real one.
 *
 * The fake behaves like Pulsar's WebSocket proxy where it matters: it numbers messages itself
 * from `initialSequenceId + 1`, so it records any producer that sends a non-contiguous sequence.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecordBuffer } from '../../src/buffer/index.ts';
import { SkyhaulError } from '../../src/common/errors.ts';
import { TokenBucket } from '../../src/forward/bandwidth.ts';
import { Forwarder, type ForwardSource, type LinkState } from '../../src/forward/forwarder.ts';
import type { OutgoingMessage, ProducerOptions, PulsarTransport, TransportProducer } from '../../src/forward/pulsar/transport.ts';
import { makeBuffer, openBuffer, range, rec, sequencesOf, tempDir } from '../buffer/helpers.ts';

type OpenOutcome = 'ok' | SkyhaulError;

class FakeProducer implements TransportProducer {
  readonly bufferedBytes = 0;
  private next: number;
  private closed = false;
  private readonly listeners: Array<(e: SkyhaulError | null) => void> = [];

  constructor(
    readonly producerName: string,
    initialSequenceId: number,
    private readonly transport: FakeTransport,
  ) {
    this.next = initialSequenceId + 1;
  }

  send(message: OutgoingMessage): Promise<void> {
    if (this.closed) return Promise.reject(new SkyhaulError('SKY_ERR_TRANSPORT', 'closed'));
    if (message.sequenceId !== this.next) this.transport.violations.push(`${this.producerName}: sent #${message.sequenceId}, proxy numbers it #${this.next}`);
    this.next += 1;
    const refusal = this.transport.onSend(message);
    if (refusal !== null) {
      this.fail(refusal);
      return Promise.reject(refusal);
    }
    this.transport.delivered.push({ producerName: this.producerName, sequence: message.sequenceId, producerId: message.properties.producer_id! });
    return Promise.resolve();
  }

  fail(error: SkyhaulError | null): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.listeners.splice(0)) l(error);
  }

  onClose(listener: (e: SkyhaulError | null) => void): void {
    if (this.closed) listener(null);
    else this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.fail(null);
  }
}

class FakeTransport implements PulsarTransport {
  readonly kind = 'websocket' as const;
  maxMessageBytes = 1024 * 1024;
  readonly opens: Array<ProducerOptions & { outcome: 'ok' | string }> = [];
  readonly delivered: Array<{ producerName: string; sequence: number; producerId: string }> = [];
  readonly violations: string[] = [];
  readonly producers: FakeProducer[] = [];
  /** Decides each producer open (default: succeed). */
  onOpen: (options: ProducerOptions) => OpenOutcome = () => 'ok';
  /** Decides each send: null delivers, an error closes the producer (default: deliver). */
  onSend: (message: OutgoingMessage) => SkyhaulError | null = () => null;

  encodedBytes(message: OutgoingMessage): number {
    return Math.ceil(message.payload.length / 3) * 4 + 512;
  }

  async createProducer(options: ProducerOptions): Promise<TransportProducer> {
    const outcome = this.onOpen(options);
    this.opens.push({ ...options, outcome: outcome === 'ok' ? 'ok' : outcome.code });
    if (outcome !== 'ok') throw outcome;
    const producer = new FakeProducer(options.producerName, options.initialSequenceId, this);
    this.producers.push(producer);
    return producer;
  }

  async close(): Promise<void> {}
}

const forwarders: Forwarder[] = [];
afterEach(async () => {
  for (const f of forwarders.splice(0)) await f.stop();
});

function start(
  source: ForwardSource,
  transport: FakeTransport,
  extra: Partial<ConstructorParameters<typeof Forwarder>[0]> = {},
): { forwarder: Forwarder; links: LinkState[] } {
  const forwarder = new Forwarder({
    source,
    transport,
    topicFor: (stream) => `persistent://skyhaul/telemetry/${stream.replace(/\//g, '.')}`,
    bandwidth: new TokenBucket(null),
    backoff: { initialMs: 50, maxMs: 400 },
    window: { maxMessages: 100, maxMessagesPerStream: 20 },
    ackFlushMs: 5,
    ...extra,
  });
  const links: LinkState[] = [];
  forwarder.on('link', (l: LinkState) => links.push(l));
  forwarders.push(forwarder);
  forwarder.start();
  return { forwarder, links };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('forwarder (fake transport)', () => {
  it('a gap reopens the producer at the new position once in-flight sends are acknowledged', async () => {
    const buffer = openBuffer({ path: path.join(tempDir(), 'b.db') });
    await buffer.appendBatch(range(1, 10).map((i) => rec('wx', i)));
    buffer.discard('wx', 5, 'oversize'); // a hole, as a quota or TTL drop leaves
    const transport = new FakeTransport();
    start(buffer, transport);
    await until(() => sequencesOf(buffer, 'wx').length === 0, 'the stream to drain');
    expect(transport.delivered.map((d) => d.sequence)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10]);
    expect(transport.opens.map((o) => o.initialSequenceId)).toEqual([0, 5]);
    expect(transport.violations).toEqual([]);
  });

  it('a stream-level refusal backs that stream off alone; the link and the other streams go on', async () => {
    const buffer = openBuffer({ path: path.join(tempDir(), 'b.db') });
    await buffer.appendBatch([...range(1, 5).map((i) => rec('held', i)), ...range(1, 5).map((i) => rec('free', i))]);
    const transport = new FakeTransport();
    let refuse = true;
    transport.onOpen = (o) => (refuse && o.producerName.endsWith('/held') ? new SkyhaulError('SKY_ERR_TRANSPORT', 'creating producer: HTTP 409 Producer with name is already connected') : 'ok');
    const { forwarder } = start(buffer, transport);
    await until(() => sequencesOf(buffer, 'free').length === 0, 'the free stream to drain');
    await sleep(300);
    const heldAttempts = transport.opens.filter((o) => o.producerName.endsWith('/held')).length;
    expect(forwarder.status().link.state).toBe('up');
    // Backed off (50, 100, 200, 400 ms ceilings with jitter): a handful of attempts, not hundreds.
    expect(heldAttempts).toBeGreaterThan(1);
    expect(heldAttempts).toBeLessThan(12);
    refuse = false;
    await until(() => sequencesOf(buffer, 'held').length === 0, 'the held stream to drain after the refusal stops');
  });

  it('a dead link: one pilot retries with backoff while every other stream waits, then all follow', async () => {
    const buffer = openBuffer({ path: path.join(tempDir(), 'b.db'), streamConfig: (s) => ({ priority: s === 'alarm' ? 'alarm' : 'telemetry', ttlMs: null }) });
    await buffer.appendBatch(['alarm', 'a', 'b', 'c'].flatMap((s) => range(1, 3).map((i) => rec(s, i))));
    const transport = new FakeTransport();
    let dead = true;
    transport.onOpen = () => (dead ? new SkyhaulError('SKY_ERR_LINK_DEAD', 'no answer within 15000 ms') : 'ok');
    const { forwarder } = start(buffer, transport);
    await sleep(600);
    expect(forwarder.status().link.state).toBe('blackholed');
    // Only the pilot — the most urgent stream — tried.
    expect(new Set(transport.opens.map((o) => o.producerName.split('/')[1]))).toEqual(new Set(['alarm']));
    expect(transport.opens.length).toBeLessThan(10);
    dead = false;
    await until(() => buffer.stats().records === 0, 'everything to drain once the link is back');
    expect(forwarder.status().link.state).toBe('up');
    expect(transport.violations).toEqual([]);
  });

  it('the pump order follows streams that appear later: a new alarm stream becomes the pilot at once', async () => {
    const buffer = openBuffer({ path: path.join(tempDir(), 'b.db'), streamConfig: (s) => ({ priority: s === 'alarm' ? 'alarm' : 'telemetry', ttlMs: null }) });
    await buffer.appendBatch(['b', 'c'].flatMap((s) => range(1, 3).map((i) => rec(s, i))));
    const transport = new FakeTransport();
    let dead = true;
    transport.onOpen = () => (dead ? new SkyhaulError('SKY_ERR_LINK_DEAD', 'no answer within 15000 ms') : 'ok');
    start(buffer, transport);
    await until(() => transport.opens.length > 0, 'a pilot');
    expect(transport.opens[0]?.producerName.split('/')[1]).toBe('b');
    await buffer.appendBatch(range(1, 2).map((i) => rec('alarm', i)));
    const before = transport.opens.length;
    await until(() => transport.opens.length > before + 1, 'more pilot attempts');
    expect(new Set(transport.opens.slice(before + 1).map((o) => o.producerName.split('/')[1]))).toEqual(new Set(['alarm']));
    dead = false;
    await until(() => buffer.stats().records === 0, 'everything to drain once the link is back');
    expect(transport.delivered.map((d) => `${d.producerName.split('/')[1]}#${d.sequence}`).sort()).toEqual(['alarm#1', 'alarm#2', 'b#1', 'b#2', 'b#3', 'c#1', 'c#2', 'c#3']);
  });

  it('records of a retired producer identity go out under it; the stream reopens under the new one', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'b.db');
    const first = openBuffer({ path: file });
    await first.appendBatch(range(1, 3).map((i) => rec('wx', i)));
    const retired = first.producerId;
    await first.close();
    // The file goes back in time (its mark says the stream had reached 9): a new identity.
    const mark = JSON.parse((await import('node:fs')).readFileSync(`${file}.sequences`, 'utf8')) as { streams: Record<string, number> };
    mark.streams.wx = 10;
    (await import('node:fs')).writeFileSync(`${file}.sequences`, JSON.stringify(mark));
    const buffer = openBuffer({ path: file });
    expect(buffer.producerId).not.toBe(retired);
    await buffer.appendBatch(range(4, 6).map((i) => rec('wx', i)));
    const transport = new FakeTransport();
    start(buffer, transport);
    await until(() => sequencesOf(buffer, 'wx').length === 0, 'the stream to drain');
    expect(transport.delivered.map((d) => `${d.producerId === retired ? 'retired' : 'new'}#${d.sequence}`)).toEqual([
      'retired#1',
      'retired#2',
      'retired#3',
      'new#4',
      'new#5',
      'new#6',
    ]);
    expect(transport.opens.map((o) => [o.producerName, o.initialSequenceId])).toEqual([
      [`${retired}/wx`, 0],
      [`${buffer.producerId}/wx`, 3],
    ]);
    expect(transport.violations).toEqual([]);
  });

  it('a record over the transport limit is set aside as a counted oversize drop, and the stream goes on', async () => {
    const buffer = openBuffer({ path: path.join(tempDir(), 'b.db') });
    await buffer.appendBatch([rec('wx', 1), rec('wx', 2, 300_000), rec('wx', 3)]);
    const transport = new FakeTransport();
    transport.maxMessageBytes = 100_000;
    const { forwarder } = start(buffer, transport);
    await until(() => sequencesOf(buffer, 'wx').length === 0, 'the stream to drain');
    expect(transport.delivered.map((d) => d.sequence)).toEqual([1, 3]);
    expect(buffer.drops()).toEqual([{ stream: 'wx', reason: 'oversize', count: 1 }]);
    expect(forwarder.counters.oversize).toBe(1);
  });

  it('a broker that refuses a message as too big (1009) although it fitted the configured limit: set aside, limit learnt, no tight loop', async () => {
    const buffer = openBuffer({ path: path.join(tempDir(), 'b.db') });
    await buffer.appendBatch([rec('wx', 1), rec('wx', 2, 200_000), rec('wx', 3), rec('wx', 4, 250_000), rec('wx', 5)]);
    const transport = new FakeTransport(); // configured for 1 MiB, but the "proxy" takes 100 kB
    transport.onSend = (m) => (transport.encodedBytes(m) > 100_000 ? new SkyhaulError('SKY_ERR_RECORD_TOO_LARGE', 'closed by peer (1009 too large)') : null);
    start(buffer, transport);
    await until(() => sequencesOf(buffer, 'wx').length === 0, 'the stream to drain');
    // #1 may go twice (its ack was still on its way when the producer closed): the broker drops the copy.
    expect([...new Set(transport.delivered.map((d) => d.sequence))]).toEqual([1, 3, 5]);
    expect(buffer.drops()).toEqual([{ stream: 'wx', reason: 'oversize', count: 2 }]);
    expect(transport.violations).toEqual([]);
    // #2 was refused once and taught the limit; #4 (larger) was set aside without being sent: one
    // producer lost, then a reopen at each of the two holes — not one reopen per retry, forever.
    expect(transport.opens.map((o) => o.initialSequenceId)).toEqual([0, 0, 2, 4]);
    expect(transport.delivered.filter((d) => d.sequence === 4 || d.sequence === 2)).toEqual([]);
  });

  it('acks that cannot be written (disk full) are retried; appends failing with SQLITE_FULL do not stop the drain', async () => {
    const buffer = openBuffer({ path: path.join(tempDir(), 'b.db'), groupCommit: { maxRecords: 1000, maxDelayMs: 1 } });
    await buffer.appendBatch(range(1, 50).map((i) => rec('wx', i, 1000)));
    // Cap the file at its current size: the next append that needs a page fails with SQLITE_FULL.
    const db = (buffer as unknown as { conn: { pragma(s: string, o?: object): unknown } }).conn;
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    await expect(buffer.appendBatch(range(51, 150).map((i) => rec('wx', i, 1000)))).rejects.toSatisfy(
      (e) => (e as { code?: string }).code === 'SKY_ERR_DISK_LOW',
    );
    let failAcks = 3;
    const source: ForwardSource = {
      cursors: () => buffer.cursors(),
      read: (...args) => buffer.read(...args),
      discard: (...args) => buffer.discard(...args),
      setInFlight: (...args) => buffer.setInFlight(...args),
      on: (event, listener) => buffer.on(event, listener),
      off: (event, listener) => buffer.off(event, listener),
      ackMany: (acks) => {
        if (failAcks-- > 0) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        buffer.ackMany(acks);
      },
    };
    const transport = new FakeTransport();
    start(source, transport);
    await until(() => sequencesOf(buffer, 'wx').length === 0, 'the acks to be written after the failures');
    expect(transport.delivered.map((d) => d.sequence)).toEqual(range(1, 50)); // each sent once
    expect(failAcks).toBeLessThan(0);
  });

  it('a step of the wall clock neither stalls a reconnect nor changes the backoff (durations are monotonic)', async () => {
    const buffer = openBuffer({ path: path.join(tempDir(), 'b.db') });
    await buffer.appendBatch(range(1, 3).map((i) => rec('wx', i)));
    const transport = new FakeTransport();
    let down = true;
    transport.onOpen = () => (down ? new SkyhaulError('SKY_ERR_TRANSPORT', 'connect ECONNREFUSED') : 'ok');
    let wall = Date.parse('2026-11-30T12:00:00Z');
    start(buffer, transport, { clock: () => wall });
    await sleep(150);
    wall -= 86_400_000; // NTP steps the clock back a day while the link is down
    down = false;
    await until(() => sequencesOf(buffer, 'wx').length === 0, 'the reconnect despite the clock step', 3000);
  });
});

describe('forwarder source contract', () => {
  it('the buffer is a ForwardSource', () => {
    const buffer: ForwardSource = makeBuffer({ path: path.join(tempDir(), 'b.db') }) as RecordBuffer;
    expect(typeof buffer.cursors).toBe('function');
  });
});
