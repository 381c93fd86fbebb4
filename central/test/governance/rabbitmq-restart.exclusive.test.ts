/**
 * RabbitMQ restarted with commands queued for a site that is away: the quorum queue keeps them
 * (they were confirmed), the governance service and the edge reconnect by themselves (client
 * backoff, channel recovery), and every command runs once when the site is back. Exclusive: it
 * restarts the dev stack's RabbitMQ (only the control plane's tests use it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteQueue } from '../../../src/record/command.ts';
import { stackDown, stackUp } from '../../../packaging/dev-stack/stack.ts';
import { ControlRig, queueDepth } from './support.ts';

let rig: ControlRig;

beforeAll(async () => {
  rig = await new ControlRig().start();
}, 180_000);

afterAll(async () => {
  await rig?.close();
});

describe('RabbitMQ restart with commands queued', () => {
  it('loses none of them and runs each once', async () => {
    rig.amqpLink.cut();
    await rig.waitFor(async () => (await rig.edgeStatus()).control?.state === 'connecting', 'the edge cut off');
    const sent = await Promise.all(
      Array.from({ length: 5 }, (_, i) => rig.send('alice', { site: rig.site, command: 'bandwidth', params: { bytesPerSecond: 70_000 + i }, ttl: '10m' }, { key: `restart-${i}`, wait: '0' })),
    );
    expect(sent.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    const ids = sent.map((a) => a.body.command!.id);
    await rig.waitFor(async () => (await rig.audit()).filter((r) => r.event === 'published').length === 5, 'all five published (confirmed by RabbitMQ)');
    expect((await queueDepth(rig.vhost, siteQueue(rig.site))).messages).toBe(5);

    await stackDown(['rabbitmq']);
    await rig.waitFor(async () => (await fetch(`${rig.governance.url}/readyz`)).status === 503, 'the governance service to see RabbitMQ gone');
    await stackUp();
    await rig.governance.waitReady(120_000);
    expect((await queueDepth(rig.vhost, siteQueue(rig.site))).messages).toBe(5);

    rig.amqpLink.restore();
    const finals = await Promise.all(ids.map((id) => rig.finished(id, 120_000)));
    expect(finals.map((c) => c.state)).toEqual(['done', 'done', 'done', 'done', 'done']);
    for (const id of ids) expect(await rig.executions(id)).toBe(1);
    // Queue order is command order: the last one's cap is in force.
    expect((await rig.edgeStatus()).forwarding.bandwidthBytesPerSecond).toBe(70_004);
    // And the service publishes again after the restart.
    expect((await rig.send('alice', { site: rig.site, command: 'status' })).body.command).toMatchObject({ state: 'done' });
  }, 300_000);
});
