/**
 * The object store interface (central/src/objectstore) against the dev stack's S3 server
 * (versitygw): bucket creation, first-writer-wins conditional writes, reads, metadata, listing
 * by prefix across pages.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ObjectStore } from '../../src/objectstore/index.ts';
import { stackEnv, unique } from '../support/env.ts';

const store = new ObjectStore({
  endpoint: stackEnv('SKYHAUL_S3_ENDPOINT'),
  region: stackEnv('SKYHAUL_S3_REGION'),
  accessKeyId: stackEnv('SKYHAUL_S3_ACCESS_KEY'),
  secretAccessKey: stackEnv('SKYHAUL_S3_SECRET_KEY'),
  bucket: unique('contract').toLowerCase(),
  forcePathStyle: true,
});
afterAll(() => store.close());

describe('ObjectStore (real S3 server)', () => {
  it('creates its bucket once; the first writer of a key wins, a second is told it exists and changes nothing', async () => {
    await store.ensureBucket();
    await store.ensureBucket();
    const key = 'site=a/stream=x/date=2026-11-30/hour=12/raw-0-100-199.parquet';
    expect(await store.putIfAbsent(key, Buffer.from('first'), { contentType: 'application/vnd.apache.parquet', metadata: { records: '100' } })).toBe('created');
    expect(await store.putIfAbsent(key, Buffer.from('second'), { contentType: 'application/vnd.apache.parquet' })).toBe('exists');
    expect((await store.get(key))!.toString()).toBe('first');
    expect(await store.head(key)).toMatchObject({ size: 5, metadata: { records: '100' } });
    expect(await store.get('no/such/key')).toBeNull();
    expect(await store.head('no/such/key')).toBeNull();
  });

  it('lists every key under a prefix across pages, and nothing outside it', async () => {
    await store.ensureBucket();
    const keys = Array.from({ length: 7 }, (_, i) => `list/p=1/${String(i).padStart(3, '0')}.json`);
    for (const key of keys) await store.put(key, Buffer.from(key), { contentType: 'application/json' });
    await store.put('list/p=10/other.json', Buffer.from('x'), { contentType: 'application/json' });
    expect((await store.list('list/p=1/', 3)).map((o) => o.key)).toEqual(keys);
    await store.delete(keys[0]!);
    expect((await store.list('list/p=1/', 3)).map((o) => o.key)).toEqual(keys.slice(1));
  });
});
