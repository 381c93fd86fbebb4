/**
 * The de-duplication window, against a real broker: a standalone of the test's own, booted from
 * the shipped site configuration (packaging/pulsar/standalone.conf) with a one-minute
 * `brokerDeduplicationProducerInactivityTimeoutMinutes` (the smallest it takes: minValue 1).
 *
 * That setting is not dynamic on Pulsar 4.0.7 (POST /admin/v2/brokers/configuration/... answers
 * 412), so the shared dev brokers cannot be given it; and the broker purges inactive producers only
 * every timeout/3 (BrokerService.startInactivityMonitor), so with one minute the state goes between
 * 60 and 80 s after the broker noticed the producer left (here: webSocketSessionIdleTimeoutMillis,
 * shortened to 10 s (the test consumer pings every 5 s), after the link went dark).
 *
 * Exclusive: it starts a third broker JVM, which on 2 cores would disturb the timing of the tests
 * running beside it. Runs in about 2.5 minutes, most of it waiting for the broker to forget.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordBuffer } from '../../../src/buffer/index.ts';
import { TokenBucket } from '../../../src/forward/bandwidth.ts';
import { Forwarder } from '../../../src/forward/forwarder.ts';
import { PulsarAdmin } from '../../../src/forward/pulsar/admin.ts';
import { BrokerSettingsChecker } from '../../../src/forward/pulsar/broker-settings.ts';
import { WebSocketTransport } from '../../../src/forward/pulsar/websocket.ts';
import { AlarmManager, type Alarm } from '../../../src/health/alarms.ts';
import { fromPulsarMessage } from '../../../src/record/record.ts';
import { LinkSimulator } from '../../support/link-sim.ts';
import { WsConsumer, adminGet } from '../../support/pulsar.ts';
import { parseConf, startStandalone, type DedicatedStandalone } from './standalone.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

let broker: DedicatedStandalone;

beforeAll(async () => {
  broker = await startStandalone({
    overrides: {
      brokerDeduplicationProducerInactivityTimeoutMinutes: 1,
      // The broker notices a black-holed WebSocket producer after this much silence.
      webSocketSessionIdleTimeoutMillis: 10_000,
      // Snapshot the de-duplication state every second, so the `pulsar.dedup` cursor shows it.
      brokerDeduplicationSnapshotIntervalSeconds: 1,
      brokerDeduplicationSnapshotFrequencyInSeconds: 1,
    },
  });
}, 240_000);

afterAll(async () => {
  await broker?.stop();
});

describe('the site configuration on Pulsar 4.0.7', () => {
  it('every key of the file takes effect (broker runtime configuration or bookie server_config), and the checker finds only the shortened window', async () => {
    const runtime = await adminGet<Record<string, string>>(broker.webUrl, '/brokers/configuration/runtime');
    const bookie = (await (await fetch(`${broker.bookieHttpUrl}/api/v1/config/server_config`)).json()) as Record<string, string>;
    const mismatches: string[] = [];
    for (const { key, value } of parseConf(readFileSync(broker.confFile, 'utf8'))) {
      // Optional<> settings (the ports) read back as "Optional[6650]".
      const raw = key in runtime ? runtime[key] : key in bookie ? bookie[key] : undefined;
      const seen = raw === undefined ? undefined : String(raw).replace(/^Optional\[(.*)\]$/, '$1');
      if (seen === undefined) mismatches.push(`${key}: neither the broker nor the bookie knows it`);
      else if (String(seen) !== value && Number(seen) !== Number(value)) mismatches.push(`${key}: file ${value}, running ${seen}`);
    }
    expect(mismatches).toEqual([]);

    const checker = new BrokerSettingsChecker({
      admin: new PulsarAdmin({ webServiceUrl: broker.webUrl, deadLinkTimeoutMs: 10_000 }),
      topics: () => ['persistent://skyhaul/telemetry/not-created-yet'],
      longestTtlMs: () => null,
      bookieHttpUrl: broker.bookieHttpUrl,
      checkJournal: true,
    });
    const report = await checker.check();
    expect(report.findings.map((f) => [f.code, f.setting, f.found])).toEqual([
      ['broker_dedup_window', 'brokerDeduplicationProducerInactivityTimeoutMinutes', '1'],
    ]);
    expect(report.values['bookie:journalSyncData']).toBe('true');
    expect(report.values['bookie:journalWriteData']).toBe('true');
  });
});

describe('a producer away longer than brokerDeduplicationProducerInactivityTimeoutMinutes', () => {
  it('gets its re-sent records stored twice, each copy with the same producer_id/stream/sequence, and the alarm said so before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhaul-dedup-window-'));
    const topic = `persistent://skyhaul/telemetry/window-${Date.now().toString(36)}`;
    const consumer = await WsConsumer.open(broker.wsUrl, topic, 'datacentre');
    const link = new LinkSimulator({ target: { host: '127.0.0.1', port: Number(new URL(broker.webUrl).port) } });
    await link.start();
    const buffer = new RecordBuffer({
      path: join(dir, 'buffer.sqlite'),
      siteId: 'window-test',
      synchronous: 'NORMAL',
      streamConfig: () => ({ priority: 'telemetry', ttlMs: null }),
    });
    buffer.open();
    const transportOptions = { webServiceUrl: `http://127.0.0.1:${link.port}`, deadLinkTimeoutMs: 3000, sendTimeoutMs: 30_000 };
    const admin = new PulsarAdmin(transportOptions);
    const forwarder = new Forwarder({
      source: buffer,
      transport: new WebSocketTransport(transportOptions),
      topicFor: () => topic,
      bandwidth: new TokenBucket(null),
      backoff: { initialMs: 200, maxMs: 2000 },
      window: { maxMessages: 2000, maxMessagesPerStream: 500 },
      probe: () => admin.ready(),
      probeIntervalMs: 1000,
    });
    // The daemon's wiring, in small: the checker reads through the same link, its findings feed
    // the alarm manager, and the link coming back triggers a recheck.
    const checker = new BrokerSettingsChecker({
      admin,
      topics: () => [topic],
      longestTtlMs: () => null,
      bookieHttpUrl: broker.bookieHttpUrl,
      checkJournal: true,
      // Long enough that the only check after the restore is the one the link's return triggers.
      intervalMs: 600_000,
    });
    const alarms = new AlarmManager({ backlogAgeMs: null, diskFreeBytes: null, linkDownMs: null, staleInstruments: false });
    const raised: Array<Alarm & { at: number }> = [];
    alarms.on('raised', (alarm: Alarm) => raised.push({ ...alarm, at: Date.now() }));
    const evaluate = (): void =>
      alarms.evaluate({ now: Date.now(), link: forwarder.status().link, oldestBacklogAgeMs: null, diskFreeBytes: null, staleStreams: [], bufferAlarms: checker.alarms() });
    const evaluator = setInterval(evaluate, 200);
    forwarder.on('link', (state: { state: string }) => state.state === 'up' && checker.recheck());
    const t0 = Date.now();
    try {
      forwarder.start();
      checker.start();
      // stream -> sequences committed (and so acknowledged to their source).
      const committed = new Map<string, number[]>();
      const total = (stream: string): number => committed.get(stream)?.length ?? 0;
      const ingest = async (stream: string, count: number): Promise<void> => {
        const results = await Promise.all(
          Array.from({ length: count }, (_, i) => buffer.append({ stream, payload: Buffer.from(`${stream} ${i} ${Date.now()}`), contentType: 'text/plain' })),
        );
        committed.set(stream, [...(committed.get(stream) ?? []), ...results.map((r) => r.sequence)]);
      };
      const copies = (stream: string): Map<number, ReturnType<typeof fromPulsarMessage>[]> => {
        const bySequence = new Map<number, ReturnType<typeof fromPulsarMessage>[]>();
        for (const message of consumer.messages) {
          const record = fromPulsarMessage(message);
          if (record.stream !== stream) continue;
          bySequence.set(record.sequence, [...(bySequence.get(record.sequence) ?? []), record]);
        }
        return bySequence;
      };
      /**
       * Acks lost in a black hole: with 400 ms one-way latency, records sent in the last ~400 ms
       * before the link goes dark are stored by the broker while their acks wait in the
       * simulator's downstream queue, which the black hole drops. Returns the in-doubt sequences:
       * stored by the broker (the consumer, attached directly, saw them), not acknowledged to us.
       */
      const loseAcks = async (stream: string): Promise<{ acked: number; inDoubt: number[] }> => {
        link.setLatency(400);
        // The stream's producer open and flowing first (opening it takes a few round trips).
        await ingest(stream, 10);
        await waitUntil(`${stream} flowing`, () => (forwarder.ackedSequence(stream) ?? 0) >= total(stream), 60_000);
        for (let i = 0; i < 40; i++) {
          await ingest(stream, 10);
          await sleep(25);
        }
        link.blackhole();
        await sleep(300);
        const acked = forwarder.ackedSequence(stream) ?? 0;
        const stored = [...(await consumer.settle(1500), copies(stream)).keys()];
        return { acked, inDoubt: stored.filter((s) => s > acked).sort((a, b) => a - b) };
      };

      // 1. The alarm is up before anything happens: the broker's window (1 min) is shorter than the 7 d horizon.
      await waitUntil('the broker_dedup_window alarm', () => alarms.list().some((a) => a.code === 'broker_dedup_window'), 30_000);
      const windowAlarm = raised.find((a) => a.code === 'broker_dedup_window')!;
      expect(windowAlarm.severity).toBe('warning');
      expect(windowAlarm.message).toBe(
        "brokerDeduplicationProducerInactivityTimeoutMinutes=1 (60 s) is shorter than the 7 d outage this site is set to ride out: after a longer outage the broker forgets this site's de-duplication state and re-sent records are duplicated",
      );
      expect(alarms.list().map((a) => a.code)).toEqual(['broker_dedup_window']);

      // 2. Control: acks lost, link back well within the window -> the broker drops every re-sent copy.
      const control = await loseAcks('control/short');
      expect(control.inDoubt.length).toBeGreaterThan(0);
      await sleep(12_000); // past the 10 s WebSocket idle timeout, far short of 60 s + purge
      link.setLatency(0);
      link.restore();
      await consumer.waitFor(total('control/short'), 60_000);
      await consumer.settle(2000);
      const controlCopies = copies('control/short');
      expect(controlCopies.size).toBe(total('control/short'));
      expect([...controlCopies.values()].filter((c) => c.length > 1)).toEqual([]);

      // 3. Acks lost, and the link stays dark until the broker has forgotten the producer.
      const outage = await loseAcks('weather/long');
      expect(outage.inDoubt.length).toBeGreaterThan(0);
      const blackholedAt = Date.now();
      const producerName = `${buffer.producerId}/weather/long`;
      await waitUntil('the broker to purge the producer', () => broker.log().includes(`Purging dedup information for producer ${producerName}`), 150_000);
      const forgottenAfterMs = Date.now() - blackholedAt;
      // The snapshot taken at the purge no longer names the producer (the `pulsar.dedup` cursor's properties).
      const stats = await adminGet<{ cursors: Record<string, { properties?: Record<string, number> }> }>(broker.webUrl, `/${topic.replace('://', '/')}/internalStats`);
      expect(Object.keys(stats.cursors['pulsar.dedup']?.properties ?? {})).not.toContain(producerName);
      const restoredAt = Date.now();
      link.setLatency(0);
      link.restore();

      const expectedMessages = total('weather/long') + outage.inDoubt.length;
      await consumer.waitFor(total('control/short') + expectedMessages, 60_000);
      await consumer.settle(3000);
      const longCopies = copies('weather/long');
      // Every record arrived; exactly the in-doubt ones arrived twice, nothing three times.
      expect(longCopies.size).toBe(total('weather/long'));
      const duplicated = [...longCopies].filter(([, c]) => c.length > 1).map(([s]) => s).sort((a, b) => a - b);
      expect(duplicated).toEqual(outage.inDoubt);
      expect(Math.max(...[...longCopies.values()].map((c) => c.length))).toBe(2);
      // The two copies are the same record: same producer_id, stream, sequence, payload, ingest time,
      // so a downstream de-duplication on (producer_id, stream, sequence) catches them.
      for (const sequence of duplicated) {
        const [first, second] = longCopies.get(sequence)!;
        expect({ ...second!, payload: second!.payload.toString() }).toEqual({ ...first!, payload: first!.payload.toString() });
        expect(first!.producerId).toBe(buffer.producerId);
      }
      // The second copies were stored with the resend, after the link was back (publish time, same host clock).
      const publishTimes = (sequence: number): number[] =>
        consumer.messages.filter((m) => fromPulsarMessage(m).stream === 'weather/long' && fromPulsarMessage(m).sequence === sequence).map((m) => Date.parse(m.publishTime));
      for (const sequence of duplicated) {
        const [first, second] = publishTimes(sequence);
        expect(first!).toBeLessThan(blackholedAt);
        expect(second!).toBeGreaterThanOrEqual(restoredAt - 1000);
      }
      expect([...longCopies.keys()].sort((a, b) => a - b)).toEqual(committed.get('weather/long'));

      // The operator was told before: the alarm was raised before the outage began, and is still up.
      expect(windowAlarm.at).toBeLessThan(blackholedAt);
      expect(alarms.list().map((a) => a.code)).toContain('broker_dedup_window');
      // The link coming back made the checker look again (a completed check after the restore).
      await waitUntil('a check after the link came back', () => (checker.status().checkedAt ?? 0) > restoredAt, 30_000);
      process.stdout.write(
        `[dedup-window] control in doubt ${control.inDoubt.length} (0 duplicated); outage in doubt ${outage.inDoubt.length}, duplicated ${duplicated.length}; ` +
          `broker forgot after ${Math.round(forgottenAfterMs / 1000)} s dark; scenario ${Math.round((Date.now() - t0) / 1000)} s, broker start ${Math.round(broker.startMs / 1000)} s\n`,
      );
    } finally {
      clearInterval(evaluator);
      checker.stop();
      await forwarder.stop();
      await buffer.close();
      await consumer.close();
      await link.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 360_000);
});
