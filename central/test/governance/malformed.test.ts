/**
 * Bad input from the broker, at both ends: a message in a site's queue that is not a command (not
 * JSON, not the contract, an unknown command) is refused by the site with a clear reason,
 * dead-lettered by RabbitMQ and audited, and the site's consumer goes on; a command that is
 * delivered again and again without an ack (a poison message) is dead-lettered at the delivery
 * limit and audited as failed; results that are not results are refused and audited too. No
 * process crashes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection, ConsumerStatus } from 'rabbitmq-client';
import { siteQueue, TOPOLOGY } from '../../../src/record/command.ts';
import { metricValue } from '../support/central.ts';
import { ControlRig } from './support.ts';

let rig: ControlRig;
let rabbit: Connection;

beforeAll(async () => {
  rig = await new ControlRig({ governance: { deliveryLimit: 3 } }).start();
  rabbit = new Connection(rig.amqpUrl().replace('guest@', 'guest:guest@'));
}, 180_000);

afterAll(async () => {
  await rabbit?.close();
  await rig?.close();
});

async function publishRaw(exchange: string, routingKey: string, body: string | Buffer | object, messageId?: string): Promise<void> {
  const publisher = rabbit.createPublisher({ confirm: true });
  try {
    await publisher.send({ exchange, routingKey, durable: true, ...(messageId === undefined ? {} : { messageId }) }, body);
  } finally {
    await publisher.close();
  }
}

const trace = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;

describe('malformed and unknown commands in a site queue', () => {
  it('refuses each with a reason, dead-letters and audits it, and goes on with the next command', async () => {
    const now = Date.now();
    const unknownId = `unknown-${now}`;
    const shapelessId = `shapeless-${now}`;
    await publishRaw(TOPOLOGY.commandsExchange, rig.site, Buffer.from('this is not JSON {'), `garbage-${now}`);
    await publishRaw(TOPOLOGY.commandsExchange, rig.site, { v: 1, id: unknownId, correlationId: unknownId, site: rig.site, command: 'frobnicate', params: {}, operator: 'mallory', issuedAt: now, deadline: now + 60_000, traceparent: trace });
    await publishRaw(TOPOLOGY.commandsExchange, rig.site, { v: 1, id: shapelessId, correlationId: shapelessId, site: rig.site, command: 'pause' });
    await publishRaw(TOPOLOGY.commandsExchange, rig.site, { v: 1, id: `other-site-${now}`, correlationId: 'x', site: 'somewhere-else', command: 'pause', params: {}, operator: 'mallory', issuedAt: now, deadline: now + 60_000, traceparent: trace });

    // The consumer goes on: a valid command after them runs.
    const after = await rig.send('alice', { site: rig.site, command: 'bandwidth', params: { bytesPerSecond: 12_345 } });
    expect(after.body.command).toMatchObject({ state: 'done' });
    expect((await rig.edgeStatus()).control).toMatchObject({ refused: 4, executed: 1 });
    expect(rig.edge!.process.exitCode).toBeNull();
    expect((await rig.edgeStatus()).paused).toBe(false);

    // Each one audited: the site's refusal with its reason (when it had an id to answer to), and
    // RabbitMQ's dead-lettering (reason rejected).
    await rig.waitFor(async () => (await rig.audit()).filter((r) => r.event === 'dead_lettered').length >= 4, 'four dead letters audited');
    const unknown = await rig.auditOf(unknownId);
    expect(unknown.map((r) => `${r.event}/${r.source}`)).toEqual(['refused/site', 'dead_lettered/rabbitmq']);
    expect(unknown[0]!.error).toMatchObject({ code: 'SKY_ERR_UNKNOWN_COMMAND', message: expect.stringMatching(/unknown command 'frobnicate'/) });
    expect(unknown[1]!.error!.message).toMatch(/rejected by the consumer of skyhaul\.control\.site\./);
    const shapeless = await rig.auditOf(shapelessId);
    expect(shapeless[0]).toMatchObject({ event: 'refused', error: { code: 'SKY_ERR_BAD_COMMAND', message: expect.stringMatching(/not a command message \(v1\): .*must have required property/) } });
    const garbage = await rig.auditOf(`garbage-${now}`);
    expect(garbage.map((r) => r.event)).toEqual(['dead_lettered']);
    expect(garbage[0]).toMatchObject({ site: rig.site, error: { code: 'SKY_ERR_REJECTED' } });
    // Refused at the site, it says so in the edge's own audit too.
    // The daemon logs asynchronously: its audit line may trail the answer.
    await rig.waitFor(() => new RegExp(`"component":"audit","action":"frobnicate","who":"mallory","via":"amqp","commandId":"${unknownId}".*"outcome":"refused","error":"SKY_ERR_UNKNOWN_COMMAND"`).test(rig.edge!.log()), 'the refusal audit line', 10_000);
  });
});

describe('a poison command', () => {
  it('is dead-lettered at the delivery limit and audited as failed', async () => {
    // The second site has no daemon: this consumer plays one that dies on the command every time.
    const other = rig.sites[1]!;
    const sent = await rig.send('alice', { site: other, command: 'pause' }, { wait: '0' });
    expect(sent.status).toBe(202);
    let deliveries = 0;
    const crashing = rabbit.createConsumer({ queue: siteQueue(other), queueOptions: { passive: true }, qos: { prefetchCount: 1 } }, () => {
      deliveries += 1;
      return ConsumerStatus.REQUEUE;
    });
    try {
      const failed = await rig.finished(sent.body.command!.id, 30_000);
      expect(failed.state).toBe('failed');
      expect(failed.error).toMatchObject({ code: 'SKY_ERR_DELIVERY_LIMIT' });
    } finally {
      await crashing.close();
    }
    // x-delivery-limit 3: the first delivery and three redeliveries.
    expect(deliveries).toBe(4);
  });
});

describe('results that are not results', () => {
  it('are refused by the governance service, dead-lettered and audited; the service goes on', async () => {
    const now = Date.now();
    await publishRaw(TOPOLOGY.resultsExchange, TOPOLOGY.resultKey, Buffer.from('\u0000\u0001 not json'), `bad-result-${now}`);
    await publishRaw(TOPOLOGY.resultsExchange, TOPOLOGY.resultKey, { v: 1, kind: 'outcome', id: `ghost-${now}`, correlationId: 'x', site: 'no-such-site', command: 'pause', state: 'done', at: now, traceparent: trace }, `ghost-${now}`);
    await rig.waitFor(async () => (await rig.auditOf(`ghost-${now}`)).length > 0 && (await rig.auditOf(`bad-result-${now}`)).length > 0, 'both dead letters audited');
    const ghost = await rig.auditOf(`ghost-${now}`);
    expect(ghost).toHaveLength(1);
    expect(ghost[0]).toMatchObject({ event: 'dead_lettered', state: null, error: { message: expect.stringMatching(/skyhaul\.control\.results/) } });
    const metrics = await rig.governance.metrics();
    expect(metricValue(metrics, 'skyhaul_central_governance_rejected_results_total', { reason: 'not_json' })).toBe(1);
    expect(metricValue(metrics, 'skyhaul_central_governance_rejected_results_total', { reason: 'unknown_site' })).toBe(1);
    expect((await rig.send('alice', { site: rig.site, command: 'status' })).body.command).toMatchObject({ state: 'done' });
    expect(rig.governance.process.exitCode).toBeNull();
  });
});
