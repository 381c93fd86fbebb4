/**
 * The REST API over plain HTTP (fetch), route by route, against Confluent's API reference: the
 * answers' shapes, the content type `application/vnd.schemaregistry.v1+json`, and the error codes
 * (40401 subject, 40402 version, 40403 schema, 40404-40408, 409 incompatible, 42201 invalid
 * schema, 42202 invalid version, 42203 invalid level), with the registry in this process and its
 * state in the dev stack's Kafka. The `_schemas` records are checked as documented in store.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaLog } from '../../src/kafka/index.ts';
import { RegistryService } from '../../src/registry/service.ts';
import { createContext, serveHttp } from '../../src/service/runner.ts';
import { unique } from '../support/env.ts';
import { bootstrap, call, registryConfig, startRegistry, type RunningRegistry } from './support.ts';

let registry: RunningRegistry;
let url: string;
beforeAll(async () => {
  registry = await startRegistry(unique('registry-api'));
  url = registry.url;
});
afterAll(async () => {
  await registry?.close();
});

const record = (fields: Array<{ name: string; type: unknown; default?: unknown }>): string => JSON.stringify({ type: 'record', name: 'Obs', namespace: 'skyhaul.test', fields });
const A1 = record([{ name: 'temperature', type: 'double' }]);
const A2 = record([
  { name: 'temperature', type: 'double' },
  { name: 'humidity', type: ['null', 'double'], default: null },
]);
const subject = (name: string): string => unique(`api.${name}`);

describe('registry REST API (Confluent API reference)', () => {
  it('answers in application/vnd.schemaregistry.v1+json, errors as { error_code, message }', async () => {
    const ok = await call(url, 'GET', '/subjects');
    expect(ok.status).toBe(200);
    expect(ok.contentType).toMatch(/^application\/vnd\.schemaregistry\.v1\+json/);
    const missing = await call(url, 'GET', `/subjects/${subject('none')}/versions`);
    expect(missing.status).toBe(404);
    expect(missing.contentType).toMatch(/^application\/vnd\.schemaregistry\.v1\+json/);
    expect(missing.body).toEqual({ error_code: 40401, message: expect.stringContaining('not found') });
    expect((await call(url, 'GET', '/schemas/types')).body).toEqual(['AVRO', 'JSON']);
    // Bodies labelled application/json or not labelled at all are read as JSON as well.
    const plain = await fetch(`${url}/subjects/${subject('plain')}/versions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema: A1 }) });
    expect(plain.status).toBe(200);
    const bad = await call(url, 'POST', `/subjects/${subject('bad')}/versions`, '{not json');
    expect(bad).toMatchObject({ status: 400, body: { error_code: 400 } });
  });

  it('registers: the same schema keeps its id, another subject gets the same id, versions count per subject', async () => {
    // A schema of its own (other tests register A1 under other subjects).
    const A1 = record([{ name: 'pressure', type: 'double' }]);
    const A2 = record([
      { name: 'pressure', type: 'double' },
      { name: 'humidity', type: ['null', 'double'], default: null },
    ]);
    const s1 = subject('reg1');
    const s2 = subject('reg2');
    const first = await call(url, 'POST', `/subjects/${s1}/versions`, { schema: A1 });
    expect(first.status).toBe(200);
    const id = first.body.id as number;
    expect((await call(url, 'POST', `/subjects/${s1}/versions`, { schema: JSON.stringify(JSON.parse(A1), null, 4) })).body).toEqual({ id });
    // Key order does not make another schema either.
    const reordered = JSON.stringify({ namespace: 'skyhaul.test', fields: [{ type: 'double', name: 'pressure' }], name: 'Obs', type: 'record' });
    expect((await call(url, 'POST', `/subjects/${s2}/versions`, { schema: reordered, schemaType: 'AVRO' })).body).toEqual({ id });
    expect((await call(url, 'GET', `/subjects/${s1}/versions`)).body).toEqual([1]);
    const second = await call(url, 'POST', `/subjects/${s1}/versions`, { schema: A2 });
    expect(second.body.id).toBeGreaterThan(id);
    expect((await call(url, 'GET', `/subjects/${s1}/versions`)).body).toEqual([1, 2]);
    expect((await call(url, 'GET', `/subjects/${s1}/versions/latest`)).body).toEqual({ subject: s1, version: 2, id: second.body.id, schema: A2 });
    expect((await call(url, 'GET', `/subjects/${s1}/versions/-1`)).body.version).toBe(2);
    expect((await call(url, 'GET', `/subjects/${s1}/versions/1/schema`)).body).toEqual(JSON.parse(A1));
    expect((await call(url, 'GET', `/schemas/ids/${id}`)).body).toEqual({ schema: A1 });
    expect((await call(url, 'GET', `/schemas/ids/${id}/schema`)).body).toEqual(JSON.parse(A1));
    expect((await call(url, 'GET', `/schemas/ids/${id}/subjects`)).body).toEqual([s1, s2].sort());
    expect((await call(url, 'GET', `/schemas/ids/${id}/versions`)).body).toEqual(expect.arrayContaining([{ subject: s1, version: 1 }, { subject: s2, version: 1 }]));
    // Look-up: POST /subjects/{subject}.
    expect((await call(url, 'POST', `/subjects/${s1}`, { schema: A2 })).body).toEqual({ subject: s1, version: 2, id: second.body.id, schema: A2 });
    expect((await call(url, 'POST', `/subjects/${s2}`, { schema: A2 })).body).toMatchObject({ error_code: 40403 });
    expect((await call(url, 'POST', `/subjects/${subject('nobody')}`, { schema: A2 })).body).toMatchObject({ error_code: 40401 });
  });

  it('refuses what it must with Confluent codes: 40402, 40403, 42201, 42202, 42203, 40408, 409', async () => {
    const s = subject('errors');
    await call(url, 'POST', `/subjects/${s}/versions`, { schema: A1 });
    expect(await call(url, 'GET', `/subjects/${s}/versions/7`)).toMatchObject({ status: 404, body: { error_code: 40402 } });
    expect(await call(url, 'GET', `/subjects/${s}/versions/zero`)).toMatchObject({ status: 422, body: { error_code: 42202 } });
    expect(await call(url, 'GET', `/subjects/${s}/versions/0`)).toMatchObject({ status: 422, body: { error_code: 42202 } });
    expect(await call(url, 'GET', '/schemas/ids/999999')).toMatchObject({ status: 404, body: { error_code: 40403 } });
    expect(await call(url, 'POST', `/subjects/${s}/versions`, { schema: '{"type":"record","name":"X"}' })).toMatchObject({ status: 422, body: { error_code: 42201 } });
    expect(await call(url, 'POST', `/subjects/${s}/versions`, { schema: 'not json' })).toMatchObject({ status: 422, body: { error_code: 42201 } });
    expect(await call(url, 'POST', `/subjects/${s}/versions`, { schema: A1, schemaType: 'PROTOBUF' })).toMatchObject({ status: 422, body: { error_code: 42201 } });
    expect(await call(url, 'POST', `/subjects/${s}/versions`, { schema: '{"type":"nonsense"}', schemaType: 'JSON' })).toMatchObject({ status: 422, body: { error_code: 42201 } });
    expect(await call(url, 'POST', `/subjects/${s}/versions`, { schema: A1, references: [{ name: 'x', subject: 'y', version: 1 }] })).toMatchObject({ status: 422, body: { error_code: 42201 } });
    expect(await call(url, 'PUT', `/config/${s}`, { compatibility: 'SIDEWAYS' })).toMatchObject({ status: 422, body: { error_code: 42203 } });
    expect(await call(url, 'PUT', '/config', {})).toMatchObject({ status: 422, body: { error_code: 42203 } });
    expect(await call(url, 'GET', `/config/${s}`)).toMatchObject({ status: 404, body: { error_code: 40408 } });
    expect(await call(url, 'GET', `/config/${s}?defaultToGlobal=true`)).toMatchObject({ status: 200, body: { compatibilityLevel: 'BACKWARD_TRANSITIVE' } });
    const incompatible = await call(url, 'POST', `/subjects/${s}/versions`, { schema: record([{ name: 'temperature', type: 'string' }]) });
    expect(incompatible).toMatchObject({ status: 409, body: { error_code: 409 } });
    expect(incompatible.body.message).toContain(`subject ${s}: field temperature: type changed from double to string: not BACKWARD_TRANSITIVE compatible with version 1`);
    const added = await call(url, 'POST', `/subjects/${s}/versions`, { schema: record([{ name: 'temperature', type: 'double' }, { name: 'station', type: 'string' }]) });
    expect(added.body.message).toContain(`subject ${s}: field station: field added without a default: not BACKWARD_TRANSITIVE compatible with version 1`);
  });

  it('compatibility checks: is_compatible, verbose messages, against one version or per level', async () => {
    const s = subject('compat');
    await call(url, 'POST', `/subjects/${s}/versions`, { schema: A1 });
    await call(url, 'POST', `/subjects/${s}/versions`, { schema: A2 });
    expect((await call(url, 'POST', `/compatibility/subjects/${s}/versions/latest`, { schema: A2 })).body).toEqual({ is_compatible: true });
    const dropped = record([{ name: 'humidity', type: ['null', 'double'], default: null }]);
    expect((await call(url, 'PUT', `/config/${s}`, { compatibility: 'FORWARD' })).body).toEqual({ compatibility: 'FORWARD' });
    const verbose = await call(url, 'POST', `/compatibility/subjects/${s}/versions/1?verbose=true`, { schema: dropped });
    expect(verbose.body).toEqual({ is_compatible: false, messages: [`subject ${s}: field temperature: field removed, and the older schema declares it without a default: not FORWARD compatible with version 1`] });
    expect((await call(url, 'POST', `/compatibility/subjects/${s}/versions/2`, { schema: dropped })).body).toEqual({ is_compatible: false });
    await call(url, 'PUT', `/config/${s}`, { compatibility: 'FULL_TRANSITIVE' });
    const all = await call(url, 'POST', `/compatibility/subjects/${s}/versions?verbose=true`, { schema: dropped });
    expect(all.body.is_compatible).toBe(false);
    expect(all.body.messages).toHaveLength(2); // against versions 2 and 1, forward direction
    expect(await call(url, 'POST', `/compatibility/subjects/${s}/versions/9`, { schema: A1 })).toMatchObject({ status: 404, body: { error_code: 40402 } });
    expect(await call(url, 'POST', `/compatibility/subjects/${subject('none')}/versions/latest`, { schema: A1 })).toMatchObject({ status: 404, body: { error_code: 40401 } });
    expect((await call(url, 'DELETE', `/config/${s}`)).body).toEqual({ compatibilityLevel: 'FULL_TRANSITIVE' });
    expect((await call(url, 'GET', `/config/${s}?defaultToGlobal=true`)).body).toEqual({ compatibilityLevel: 'BACKWARD_TRANSITIVE' });
  });

  it('deletes softly, then permanently, with Confluent codes (40404, 40405, 40406, 40407)', async () => {
    const s = subject('delete');
    const id1 = (await call(url, 'POST', `/subjects/${s}/versions`, { schema: A1 })).body.id as number;
    await call(url, 'POST', `/subjects/${s}/versions`, { schema: A2 });
    expect(await call(url, 'DELETE', `/subjects/${s}/versions/1?permanent=true`)).toMatchObject({ status: 404, body: { error_code: 40407 } });
    expect((await call(url, 'DELETE', `/subjects/${s}/versions/1`)).body).toBe(1);
    expect(await call(url, 'DELETE', `/subjects/${s}/versions/1`)).toMatchObject({ status: 404, body: { error_code: 40406 } });
    expect((await call(url, 'GET', `/subjects/${s}/versions`)).body).toEqual([2]);
    expect((await call(url, 'GET', `/subjects/${s}/versions?deleted=true`)).body).toEqual([1, 2]);
    expect(await call(url, 'GET', `/subjects/${s}/versions/1`)).toMatchObject({ status: 404, body: { error_code: 40402 } });
    expect((await call(url, 'GET', `/subjects/${s}/versions/1?deleted=true`)).body).toMatchObject({ version: 1, id: id1 });
    expect(await call(url, 'DELETE', `/subjects/${s}?permanent=true`)).toMatchObject({ status: 404, body: { error_code: 40405 } });
    expect((await call(url, 'DELETE', `/subjects/${s}`)).body).toEqual([2]);
    expect(await call(url, 'DELETE', `/subjects/${s}`)).toMatchObject({ status: 404, body: { error_code: 40404 } });
    expect((await call(url, 'GET', '/subjects')).body).not.toContain(s);
    expect((await call(url, 'GET', '/subjects?deleted=true')).body).toContain(s);
    // A soft-deleted schema still has its id; registering it again makes a new version with that id.
    expect((await call(url, 'GET', `/schemas/ids/${id1}`)).status).toBe(200);
    expect((await call(url, 'POST', `/subjects/${s}/versions`, { schema: A1 })).body).toEqual({ id: id1 });
    expect((await call(url, 'GET', `/subjects/${s}/versions`)).body).toEqual([3]);
    expect((await call(url, 'DELETE', `/subjects/${s}/versions/1?permanent=true`)).body).toBe(1);
    expect((await call(url, 'GET', `/subjects/${s}/versions?deleted=true`)).body).toEqual([2, 3]);
  });

  it('keeps every change in _schemas as documented: keys, values, tombstones, the id counter', async () => {
    const s = subject('records');
    const A1 = record([{ name: 'wind_speed', type: 'double' }]); // used nowhere else: it gets a new id
    const { id } = (await call(url, 'POST', `/subjects/${s}/versions`, { schema: A1 })).body as { id: number };
    await call(url, 'PUT', `/config/${s}`, { compatibility: 'FULL' });
    await call(url, 'DELETE', `/subjects/${s}`);
    await call(url, 'DELETE', `/subjects/${s}?permanent=true`);
    const kafka = new KafkaLog({ bootstrap: [bootstrap], clientId: 'registry-api-test' });
    try {
      const records = (await kafka.readToEnd(registry.service.store.topic)).filter((r) => r.key.includes(`"${s}"`) || (r.key.includes('ID_COUNTER') && r.value?.toString() === JSON.stringify({ maxId: id })));
      expect(records.map((r) => [r.key, r.value === null ? null : JSON.parse(r.value.toString())])).toEqual([
        ['{"keytype":"ID_COUNTER","magic":0}', { maxId: id }],
        [`{"keytype":"SCHEMA","subject":"${s}","version":1,"magic":1}`, { subject: s, version: 1, id, schema: A1, deleted: false }],
        [`{"keytype":"CONFIG","subject":"${s}","magic":0}`, { compatibilityLevel: 'FULL' }],
        [`{"keytype":"SCHEMA","subject":"${s}","version":1,"magic":1}`, { subject: s, version: 1, id, schema: A1, deleted: true }],
        [`{"keytype":"SCHEMA","subject":"${s}","version":1,"magic":1}`, null],
        [`{"keytype":"CONFIG","subject":"${s}","magic":0}`, null],
      ]);
    } finally {
      await kafka.close();
    }
    expect(await call(url, 'GET', `/schemas/ids/${id}`)).toMatchObject({ status: 404, body: { error_code: 40403 } });
  });

  it('answers 503 (not ready) until the topic has been read, as the runner serves HTTP before start(); stop() is safe twice', async () => {
    const config = registryConfig(unique('registry-notready'));
    const context = createContext('registry', 'warn');
    const service = new RegistryService(config, context);
    const { app, port } = await serveHttp(service, context, config.registry.listen);
    try {
      const early = `http://127.0.0.1:${port}`;
      expect(await call(early, 'GET', '/readyz')).toMatchObject({ status: 503, body: { ready: false, reasons: [expect.stringContaining('to its end')] } });
      expect(await call(early, 'GET', '/subjects')).toMatchObject({ status: 503, body: { error_code: 50301 } });
      await service.start();
      expect(await call(early, 'GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true } });
      expect(await call(early, 'GET', '/subjects')).toMatchObject({ status: 200, body: [] });
    } finally {
      await service.stop();
      await service.stop();
      await app.close();
    }
    expect(service.readiness()).toEqual({ ready: false, reasons: ['stopped'] });
  });

  it('reports readiness and metrics: requests by route and status, schemas, subjects', async () => {
    expect((await call(url, 'GET', '/readyz')).status).toBe(200);
    const metrics = (await call(url, 'GET', '/metrics')).body as string;
    expect(metrics).toMatch(/skyhaul_central_registry_requests_total\{route="\/subjects\/:subject\/versions",method="POST",status="409"\} [1-9]/);
    expect(metrics).toMatch(/skyhaul_central_registry_requests_total\{route="\/schemas\/ids\/:id",method="GET",status="404"\} [1-9]/);
    const subjects = ((await call(url, 'GET', '/subjects')).body as string[]).length;
    expect(metrics).toContain(`skyhaul_central_registry_subjects ${subjects}`);
    expect(metrics).toMatch(/skyhaul_central_registry_schemas [1-9]/);
    expect(metrics).toContain('skyhaul_central_registry_writer 1');
  });
});
