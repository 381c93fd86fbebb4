/**
 * The governance API's rules against the real service, RabbitMQ, Kafka and edge daemon: tokens and
 * roles (an observer's command refused, and the refusal audited), per-site authorisation, schema
 * validation before anything is sent, idempotency keys (a replayed request runs once, also when
 * the replays race; the same key with another body is 422), the 202 path for a caller that does
 * not wait, and the OpenAPI document against the routes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlRig, OPERATORS } from './support.ts';

let rig: ControlRig;

beforeAll(async () => {
  rig = await new ControlRig().start();
}, 180_000);

afterAll(async () => {
  await rig?.close();
});

describe('authentication and authorisation', () => {
  it('answers 401 without a token or with an unknown one, and audits nothing for it', async () => {
    const none = await fetch(`${rig.governance.url}/api/v1/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ site: rig.site, command: 'pause' }) });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await fetch(`${rig.governance.url}/api/v1/sites`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(wrong.status).toBe(401);
    expect((await rig.audit()).filter((r) => r.site === rig.site && r.command === 'pause')).toEqual([]);
  });

  it("refuses an observer's command (403) without sending it, and audits the refusal", async () => {
    const before = (await rig.edgeStatus()).control!.received;
    const answer = await rig.send('olga', { site: rig.site, command: 'pause' }, { key: 'olga-pause' });
    expect(answer.status).toBe(403);
    expect(answer.body.error).toMatchObject({ code: 'SKY_ERR_FORBIDDEN_ROLE' });
    expect(answer.body.error!.message).toMatch(/pause needs the role operator or above; olga is observer/);
    const id = answer.body.command!.id;
    expect(answer.body.command).toMatchObject({ state: 'refused', operator: 'olga' });
    const audit = await rig.auditOf(id);
    expect(audit.map((r) => [r.event, r.state])).toEqual([
      ['requested', null],
      ['refused', 'refused'],
    ]);
    expect(audit[1]).toMatchObject({ operator: 'olga', role: 'observer', site: rig.site, command: 'pause', error: { code: 'SKY_ERR_FORBIDDEN_ROLE' } });
    // Nothing reached the site: not even a delivery.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await rig.edgeStatus()).control!.received).toBe(before);
    expect((await rig.edgeStatus()).paused).toBe(false);
    // An observer may ask for a status snapshot (it changes nothing).
    expect((await rig.send('olga', { site: rig.site, command: 'status' })).body.command).toMatchObject({ state: 'done' });
  });

  it('refuses a site outside the token, an unknown site, reload below admin; lets an admin reload', async () => {
    const other = rig.sites[1]!;
    const foreign = await rig.send('sam', { site: other, command: 'pause' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error!.code).toBe('SKY_ERR_FORBIDDEN_SITE');
    const unknown = await rig.send('alice', { site: 'no-such-site', command: 'pause' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error!.code).toBe('SKY_ERR_UNKNOWN_SITE');
    expect((await rig.send('alice', { site: rig.site, command: 'reload' })).status).toBe(403);
    const reload = await rig.send('adam', { site: rig.site, command: 'reload' });
    expect(reload.body.command).toMatchObject({ state: 'done', result: { file: expect.stringContaining('skyhaul.yaml') } });
    // sam sees only sam's site.
    const sites = (await rig.get('sam', '/api/v1/sites')).body as unknown as { sites: Array<{ id: string }> };
    expect(sites.sites.map((s) => s.id)).toEqual([rig.site]);
  });
});

describe('validation', () => {
  it('refuses a malformed body, an unknown command and bad parameters with reasons, audited, nothing sent', async () => {
    const before = (await rig.edgeStatus()).control!.received;
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ site: rig.site }, 400, 'SKY_ERR_BAD_REQUEST', /must have required property 'command'/],
      [{ site: rig.site, command: 'frobnicate' }, 400, 'SKY_ERR_UNKNOWN_COMMAND', /unknown command 'frobnicate'; known: pause, resume/],
      [{ site: rig.site, command: 'bandwidth', params: { bytesPerSecond: 'lots' } }, 400, 'SKY_ERR_BAD_PARAMS', /bandwidth: params\/bytesPerSecond/],
      [{ site: rig.site, command: 'replay', params: { stream: 'a/b', fromSequence: 0, toSequence: 3 } }, 400, 'SKY_ERR_BAD_PARAMS', /params\/fromSequence must be >= 1/],
      [{ site: rig.site, command: 'pause', ttl: '2000d' }, 400, 'SKY_ERR_BAD_TTL', /exceeds governance.maxCommandTtl/],
    ];
    for (const [body, status, code, message] of cases) {
      const answer = await rig.send('alice', body);
      expect(answer.status, JSON.stringify(answer.body)).toBe(status);
      expect(answer.body.error!.code).toBe(code);
      expect(answer.body.error!.message).toMatch(message);
      expect((await rig.auditOf(answer.body.command!.id)).map((r) => r.event)).toEqual(['requested', 'refused']);
    }
    expect((await rig.edgeStatus()).control!.received).toBe(before);
  });
});

describe('idempotency keys', () => {
  it('runs a replayed request once, also when the replays race; another body under the same key is 422', async () => {
    const body = { site: rig.site, command: 'bandwidth', params: { bytesPerSecond: 40_000 } };
    const first = await rig.send('alice', body, { key: 'idem-1' });
    expect(first.status).toBe(200);
    const again = await rig.send('alice', body, { key: 'idem-1' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.command!.id).toBe(first.body.command!.id);
    // Racing replays of a new key: one command, one execution.
    const racing = await Promise.all(Array.from({ length: 5 }, () => rig.send('alice', { ...body, params: { bytesPerSecond: 41_000 } }, { key: 'idem-2' })));
    expect(new Set(racing.map((a) => a.body.command!.id)).size).toBe(1);
    expect(racing.every((a) => a.body.command!.state === 'done')).toBe(true);
    const id = racing[0]!.body.command!.id;
    expect(await rig.executions(first.body.command!.id)).toBe(1);
    expect(await rig.executions(id)).toBe(1);
    expect((await rig.auditOf(id)).filter((r) => r.event === 'authorised')).toHaveLength(1);
    // The same key with another body names another request: refused, nothing run.
    const mismatch = await rig.send('alice', { ...body, params: { bytesPerSecond: 1 } }, { key: 'idem-1' });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.error!.code).toBe('SKY_ERR_IDEMPOTENCY_MISMATCH');
    expect((await rig.edgeStatus()).forwarding.bandwidthBytesPerSecond).toBe(41_000);
    // Keys are each operator's own: adam's 'idem-1' is a command of its own.
    const adams = await rig.send('adam', body, { key: 'idem-1' });
    expect(adams.body.command!.id).not.toBe(first.body.command!.id);
  });
});

describe('asynchronous answers', () => {
  it('answers 202 with the command id to poll when asked not to wait; the poll sees it finish', async () => {
    const answer = await rig.send('alice', { site: rig.site, command: 'self-test' }, { wait: '0' });
    expect(answer.status).toBe(202);
    const id = answer.body.command!.id;
    expect(answer.headers.get('location')).toBe(`/api/v1/commands/${id}`);
    expect(['accepted', 'delivered']).toContain(answer.body.command!.state);
    const done = await rig.finished(id);
    expect(done.state).toBe('done');
    expect(done.result).toMatchObject({ ok: true, checkedForwarding: true });
    const listed = (await rig.get('alice', `/api/v1/commands?site=${rig.site}&limit=5`)).body.commands!;
    expect(listed[0]!.id).toBe(id);
    expect((await rig.get('olga', '/api/v1/commands/not-a-command')).status).toBe(404);
  });
});

describe('the OpenAPI document', () => {
  it('describes every route and every described GET answers', async () => {
    const doc = (await (await fetch(`${rig.governance.url}/api/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    for (const path of ['/api/v1/commands', '/api/v1/commands/{id}', '/api/v1/sites', '/api/v1/catalogue', '/api/v1/whoami', '/readyz', '/metrics', '/']) expect(Object.keys(doc.paths)).toContain(path);
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!('get' in methods) || path.includes('{')) continue;
      const res = await fetch(`${rig.governance.url}${path}`, { headers: { authorization: `Bearer ${OPERATORS.olga.token}` } });
      expect(res.status, path).toBeLessThan(400);
    }
    // The catalogue the document and the service use is the one the sites use.
    const catalogue = (await (await fetch(`${rig.governance.url}/api/v1/catalogue`)).json()) as { commands: Array<{ name: string; role: string }> };
    expect(catalogue.commands.map((c) => c.name)).toEqual(['pause', 'resume', 'bandwidth', 'replay', 'self-test', 'reload', 'ping', 'status', 'ack-alarm']);
  });
});
