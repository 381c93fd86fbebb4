/**
 * A site upgraded in place (issue 13, "Migration, never quarantine"): the buffer file written by
 * the schema-2 code (one table per stream, 60 streams, a partly acknowledged stream, holes) is
 * opened by this build, migrated to the append log, and drained to the real edge Pulsar: every
 * unacknowledged record arrives exactly once, in order, under its original producer id and
 * sequence.
 */
import { describe, expect, it } from 'vitest';
import { SCHEMA_2_FIXTURE, schema2Backlog } from '../buffer/helpers.ts';
import { checkDelivery } from '../support/delivery.ts';
import { rig } from '../support/forward-rig.ts';

describe('migrated backlog', () => {
  it('a schema-2 backlog over 60 streams is forwarded exactly once with its original sequences', async () => {
    const r = await rig({ bufferFile: SCHEMA_2_FIXTURE, consumeFrom: 'edge' });
    expect(r.buffer.producerId).toBe('edge-e62129b8c52a9215');
    const expected = schema2Backlog();
    const total = [...expected.values()].reduce((n, list) => n + list.length, 0);
    expect(total).toBe(3509);
    await r.waitDelivered(total, 120_000);
    await r.consumer.settle(2000);
    const report = checkDelivery(r.consumer.messages, expected);
    expect(report, JSON.stringify(report)).toMatchObject({ duplicates: 0, outOfOrder: 0, missing: 0, unique: total, received: total });
    expect(new Set(r.consumer.messages.map((m) => m.properties.producer_id))).toEqual(new Set(['edge-e62129b8c52a9215']));
    const deadline = Date.now() + 10_000;
    while (r.buffer.stats().records > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.buffer.stats().records).toBe(0);
  });
});
