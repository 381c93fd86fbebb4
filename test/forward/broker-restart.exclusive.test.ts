/**
 * Restarting the edge broker mid-stream: runs alone (the 'exclusive' test project), since other
 * tests share that broker.
 */
import { describe, expect, it } from 'vitest';
import { stackDown, stackUp } from '../../packaging/dev-stack/stack.ts';
import { expectExactlyOnce, ingestFor, rig } from '../support/forward-rig.ts';

describe('forwarder across a broker restart', () => {
  it('resumes after the edge broker restarts mid-stream, nothing lost or duplicated', async () => {
    const r = await rig({ deadLinkTimeoutMs: 5000 });
    const streams = ['weather/wxt536', 'alarms/site'];
    await ingestFor(r, streams, 2000);
    const ingesting = ingestFor(r, streams, 15_000, 5, 100);
    await stackDown(['pulsar-edge']);
    await stackUp();
    await ingesting;
    await ingestFor(r, streams, 2000);
    await expectExactlyOnce(r, 180_000);
    expect(r.linkStates.some((s) => s.state === 'down' || s.state === 'blackholed')).toBe(true);
  }, 400_000);
});
