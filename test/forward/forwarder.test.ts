/**
 * The forwarder against the real stack, through the link simulator: records buffered on the
 * edge reach a consumer on the central cluster (via geo-replication) once each, in order per
 * stream, across outages, black holes and flapping.
 */
import { describe, expect, it } from 'vitest';
import { expectExactlyOnce, ingestFor, rig } from '../support/forward-rig.ts';

describe('forwarder (edge -> geo-replication -> central)', () => {
  it('outage: a 60 s cut while ingesting; after restore every record arrives once, in order per stream', async () => {
    const r = await rig();
    const streams = ['weather/wxt536', 'gps/time', 'mount/encoders'];
    await ingestFor(r, streams, 2000);
    r.link.cut();
    const during = await ingestFor(r, streams, 60_000, 5, 100);
    expect(r.forwarder.status().link.state).toBe('down');
    expect(r.buffer.stats().records).toBeGreaterThanOrEqual(during);
    r.link.restore();
    await ingestFor(r, streams, 2000);
    await expectExactlyOnce(r);
  }, 240_000);

  it('black hole: silent drop is detected within the 15 s bound, and nothing is lost or duplicated', async () => {
    const r = await rig();
    const streams = ['cloud/boltwood', 'sky/sqm'];
    await ingestFor(r, streams, 1500);
    const holeAt = Date.now();
    r.link.blackhole();
    await ingestFor(r, streams, 20_000, 5, 100);
    const detected = r.linkStates.find((s) => s.state === 'blackholed' && s.at >= holeAt);
    expect(detected, `link states: ${JSON.stringify(r.linkStates)}`).toBeDefined();
    const detectionMs = detected!.at - holeAt;
    console.log(`black hole detected after ${detectionMs} ms`);
    expect(detectionMs).toBeLessThanOrEqual(15_000);
    r.link.restore();
    await ingestFor(r, streams, 1500);
    await expectExactlyOnce(r);
  }, 180_000);

  it('flapping: 50 cuts of random length within 2 minutes', async () => {
    const r = await rig({ deadLinkTimeoutMs: 5000 });
    const streams = ['dome/status', 'wind/windsonic', 'power/ups'];
    const flapping = r.link.flap({ cuts: 50, minUpMs: 300, maxUpMs: 2000, minDownMs: 100, maxDownMs: 2000, mode: 'cut', seed: 42 });
    let done = false;
    void flapping.then(() => (done = true));
    while (!done) {
      await Promise.all(streams.map((s) => r.ingest(s, 3)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const result = await flapping;
    expect(result.downPeriodsRun).toBe(50);
    expect(result.elapsedMs).toBeLessThanOrEqual(120_000);
    expect(r.link.stats.cuts).toBeGreaterThanOrEqual(50);
    await expectExactlyOnce(r);
  }, 300_000);

  it('after an outage, alarm and control streams drain before bulk streams', async () => {
    const r = await rig({
      consumeFrom: 'edge',
      priorities: { 'alarms/site': 'alarm', 'dome/control': 'control', 'mount/encoders': 'bulk' },
    });
    r.link.cut();
    await r.ingest('mount/encoders', 3000);
    await r.ingest('dome/control', 200);
    await r.ingest('alarms/site', 200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    r.link.restore();
    await expectExactlyOnce(r, 60_000);
    const order = r.consumer.messages.map((m) => m.properties.stream);
    const lastAlarm = order.lastIndexOf('alarms/site');
    const lastControl = order.lastIndexOf('dome/control');
    const firstBulk = order.indexOf('mount/encoders');
    expect(lastAlarm).toBeLessThan(firstBulk);
    expect(lastControl).toBeLessThan(firstBulk);
    expect(order.indexOf('alarms/site')).toBeLessThan(order.indexOf('dome/control'));
  }, 120_000);

  it('keeps to the bandwidth cap', async () => {
    const r = await rig({ consumeFrom: 'edge', bytesPerSecond: 50_000 });
    await r.ingest('bulk/images', 400, 1000);
    const t0 = Date.now();
    await r.waitDelivered(400, 60_000);
    const seconds = (Date.now() - t0) / 1000;
    // 400 records x (1000 payload + 256 accounted overhead) at 50,000 B/s ~ 10 s.
    const rate = (400 * 1256) / seconds;
    console.log(`bandwidth cap 50000 B/s: measured ${Math.round(rate)} B/s over ${seconds.toFixed(1)} s`);
    expect(rate).toBeLessThan(50_000 * 1.15);
    expect(rate).toBeGreaterThan(50_000 * 0.75);
  }, 90_000);

  it('pause and resume: the link shows up again at once, though idle producers have nothing to send', async () => {
    const r = await rig({ consumeFrom: 'edge' });
    await r.ingest('weather/wxt536', 20);
    await r.waitDelivered(20, 30_000);
    expect(r.forwarder.status().link.state).toBe('up');
    r.forwarder.pause();
    expect(r.forwarder.status().link.state).toBe('paused');
    await r.ingest('weather/wxt536', 10);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(r.consumer.messages.length).toBe(20);
    const resumedAt = Date.now();
    r.forwarder.resume();
    // Producers stay open across a pause; before the fix the link stayed 'connecting' until they idled out (60 s).
    const deadline = Date.now() + 5000;
    while (r.forwarder.status().link.state !== 'up' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.forwarder.status().link.state).toBe('up');
    console.log(`link up ${Date.now() - resumedAt} ms after resume`);
    await expectExactlyOnce(r, 30_000);
  }, 90_000);
});
