/**
 * A site's WAN link cut (the link simulator resets the edge's connection to RabbitMQ and refuses
 * new ones): a command sent meanwhile waits in the site's quorum queue and is executed once the
 * link returns; a command with a short TTL expires, is reported and audited as expired, and is
 * never executed, not even late.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteQueue } from '../../../src/record/command.ts';
import { ControlRig, queueDepth } from './support.ts';

let rig: ControlRig;

beforeAll(async () => {
  rig = await new ControlRig({ governance: { expiryGrace: '1s' } }).start();
}, 180_000);

afterAll(async () => {
  await rig?.close();
});

describe('link cut between the site and RabbitMQ', () => {
  it('delivers a waiting command after the link returns; a short-lived one expires and is never executed', async () => {
    rig.amqpLink.cut();
    await rig.waitFor(async () => (await rig.edgeStatus()).control?.state === 'connecting', 'the edge to notice the cut');

    const waiting = await rig.send('alice', { site: rig.site, command: 'bandwidth', params: { bytesPerSecond: 20_000 }, ttl: '2m' }, { key: 'outage-long', wait: '0' });
    expect(waiting.status).toBe(202);
    const shortLived = await rig.send('alice', { site: rig.site, command: 'bandwidth', params: { bytesPerSecond: 30_000 }, ttl: '3s' }, { key: 'outage-short', wait: '0' });
    expect(shortLived.status).toBe(202);
    expect(await queueDepth(rig.vhost, siteQueue(rig.site))).toEqual({ messages: 2, consumers: 0 });

    // Reported expired while the site is still away (the governance service's deadline watch:
    // RabbitMQ expires only at the head of the queue, and the long-lived command is ahead).
    const expired = await rig.finished(shortLived.body.command!.id, 30_000);
    expect(expired.state).toBe('expired');
    expect(expired.error!.code).toBe('SKY_ERR_EXPIRED');
    expect((await rig.get('alice', `/api/v1/commands/${waiting.body.command!.id}`)).body.command!.state).toBe('accepted');

    rig.amqpLink.restore();
    const done = await rig.finished(waiting.body.command!.id, 60_000);
    expect(done.state).toBe('done');
    expect((await rig.edgeStatus()).forwarding.bandwidthBytesPerSecond).toBe(20_000);

    // The short-lived one reached the head once the long-lived one was taken: RabbitMQ dead-lettered
    // it (expired), the site never saw it, its cap never applied.
    const shortId = shortLived.body.command!.id;
    await rig.waitFor(async () => (await rig.auditOf(shortId)).some((r) => r.event === 'expired' && r.source === 'rabbitmq'), 'the dead-lettered expiry audited');
    expect(await rig.executions(shortId, 2_000)).toBe(0);
    expect(rig.edge!.log()).not.toContain(`"commandId":"${shortId}"`);
    expect((await rig.edgeStatus()).control).toMatchObject({ received: 1, executed: 1 });
    expect(await queueDepth(rig.vhost, siteQueue(rig.site))).toEqual({ messages: 0, consumers: 1 });
    const events = (await rig.auditOf(shortId)).map((r) => `${r.event}/${r.source}`);
    expect(events).toEqual(['requested/governance', 'authorised/governance', 'published/governance', 'expired/governance', 'expired/rabbitmq']);
    expect((await rig.get('alice', `/api/v1/commands/${shortId}`)).body.command!.state).toBe('expired');
  });

  it('refuses at the site a command delivered after its deadline (held up on a black-holed link), as expired', async () => {
    // The deadline is checked again at the site: a delivery that was in flight while the link
    // black-holed arrives late and must not run. The edge's own check is exercised by a command
    // whose TTL is shorter than the time the link stays black-holed after it was delivered... which
    // RabbitMQ cannot produce on demand; so the message is published straight to the queue with a
    // deadline already past and no TTL, as a delayed delivery looks to the site.
    const { Connection } = await import('rabbitmq-client');
    const rabbit = new Connection(rig.amqpUrl().replace('guest@', 'guest:guest@'));
    const publisher = rabbit.createPublisher({ confirm: true });
    const id = `late-${Date.now()}`;
    try {
      await publisher.send(
        { exchange: 'skyhaul.control.commands', routingKey: rig.site, durable: true, messageId: id, contentType: 'application/json' },
        { v: 1, id, correlationId: id, site: rig.site, command: 'pause', params: {}, operator: 'alice', issuedAt: Date.now() - 60_000, deadline: Date.now() - 30_000, traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` },
      );
    } finally {
      await publisher.close();
      await rabbit.close();
    }
    await rig.waitFor(async () => (await rig.auditOf(id)).some((r) => r.event === 'expired'), 'the late delivery reported expired');
    const expiry = (await rig.auditOf(id)).find((r) => r.event === 'expired')!;
    expect(expiry).toMatchObject({ source: 'site', state: 'expired', error: { code: 'SKY_ERR_EXPIRED' } });
    expect(await rig.executions(id, 2_000)).toBe(0);
    expect((await rig.edgeStatus()).paused).toBe(false);
  });
});
