/**
 * `kill -9` mid-command, at either end: no command is lost and none is executed twice.
 *  - The governance service dies with commands in every state (some authorised, some published,
 *    some delivered, some answered); the operator's client retries each request with its
 *    Idempotency-Key against the restarted service: every command finishes, each executed once.
 *  - The edge daemon dies while executing a command: after the restart RabbitMQ delivers it again
 *    and the site's journal answers it (failed, interrupted) instead of running it a second time;
 *    a command sent while the daemon was down runs once after the restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATES } from '../../../src/record/command.ts';
import { ControlRig } from './support.ts';

let rig: ControlRig;

beforeAll(async () => {
  rig = await new ControlRig().start();
}, 180_000);

afterAll(async () => {
  await rig?.close();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('kill -9 of the governance service mid-command', () => {
  it('loses no command and runs none twice when the client retries with its idempotency keys', async () => {
    // A slow WAN: each command spends a while on the way, so the kill finds them in every state.
    rig.amqpLink.setLatency(150);
    const bodies = Array.from({ length: 12 }, (_, i) => ({ site: rig.site, command: 'bandwidth', params: { bytesPerSecond: 50_000 + i } }));
    const keys = bodies.map((_, i) => `crash-gov-${i}`);
    const first = bodies.map((body, i) => rig.send('alice', body, { key: keys[i]!, wait: '20s' }).catch((error: Error) => error));
    await rig.waitFor(async () => (await rig.audit()).some((r) => r.event === 'published'), 'a command published');
    await sleep(200);
    await rig.governance.kill('SIGKILL');
    const firstAnswers = await Promise.all(first);
    const interrupted = firstAnswers.filter((a) => a instanceof Error).length;
    expect(interrupted).toBeGreaterThan(0);

    await rig.governance.restart();
    await rig.governance.waitReady();
    const retried = await Promise.all(bodies.map((body, i) => rig.send('alice', body, { key: keys[i]!, wait: '30s' })));
    const ids = retried.map((a) => a.body.command!.id);
    expect(new Set(ids).size).toBe(bodies.length);
    const finals = await Promise.all(ids.map((id) => rig.finished(id, 60_000)));
    expect(finals.map((c) => c.state)).toEqual(bodies.map(() => 'done'));
    for (const id of ids) expect(await rig.executions(id), id).toBe(1);
    expect((await rig.edgeStatus()).control!.executed).toBe(bodies.length);
    // The audit holds one finish per command: a step written twice (audited, then the service
    // died before RabbitMQ's ack, so it came again) carries the same eventId, which readers keep once.
    const audit = await rig.audit();
    // The kill landed mid-command: some commands were authorised by the first process and finished
    // (their outcome audited) by the second.
    const writers = new Set(audit.map((r) => r.writer));
    expect(writers.size).toBe(2);
    const firstWriter = audit[0]!.writer;
    const spanning = ids.filter((id) => audit.some((r) => r.id === id && r.event === 'authorised' && r.writer === firstWriter) && audit.some((r) => r.id === id && r.event === 'done' && r.writer !== firstWriter));
    expect(spanning.length).toBeGreaterThan(0);
    for (const id of ids) {
      const finishes = audit.filter((r) => r.id === id && TERMINAL_STATES.has(r.state!) );
      expect(new Set(finishes.map((r) => r.eventId)), id).toEqual(new Set([`${id}/done`]));
    }
    rig.amqpLink.setLatency(0);
  });
});

describe('kill -9 of the edge daemon mid-command', () => {
  it('answers the redelivered command from the journal instead of running it again; a command queued meanwhile runs once', async () => {
    await rig.waitFor(async () => (await rig.edgeStatus()).link.state === 'up', 'the link to Pulsar up');
    // The self-test waits for its canary's Pulsar ack, which the black-holed link never brings.
    rig.pulsarLink.blackhole();
    const test = await rig.send('alice', { site: rig.site, command: 'self-test' }, { wait: '0' });
    const id = test.body.command!.id;
    await rig.waitFor(async () => (await rig.auditOf(id)).some((r) => r.event === 'delivered'), 'the self-test delivered');
    await sleep(300);
    await rig.edge!.kill('SIGKILL');
    rig.pulsarLink.restore();

    const queued = await rig.send('alice', { site: rig.site, command: 'pause' }, { key: 'while-down', wait: '0' });
    expect(queued.status).toBe(202);
    await rig.edge!.restart();
    await rig.edge!.waitReady();

    const interrupted = await rig.finished(id, 60_000);
    expect(interrupted.state).toBe('failed');
    expect(interrupted.error).toMatchObject({ code: 'SKY_ERR_INTERRUPTED' });
    // The daemon logs asynchronously: its line may trail the answer.
    await rig.waitFor(() => new RegExp(`"commandId":"${id}".*already handled was delivered again: answered from the journal, not executed`).test(rig.edge!.log()), 'the journal-answer line', 10_000);
    expect(await rig.executions(id, 2_000)).toBe(0);
    const paused = await rig.finished(queued.body.command!.id, 60_000);
    expect(paused.state).toBe('done');
    expect(await rig.executions(paused.id)).toBe(1);
    expect((await rig.edgeStatus()).paused).toBe(true);
    expect((await rig.edgeStatus()).control).toMatchObject({ fromJournal: 1, executed: 1 });
  });
});
