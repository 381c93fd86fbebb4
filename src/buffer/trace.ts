/**
 * W3C traceparent generation for records that arrive without one: the same format as
 * `newTraceparent()` in record.ts, from a pooled random buffer (one randomFillSync per 256 ids
 * instead of two randomBytes calls per record).
 */
import { randomFillSync } from 'node:crypto';

const ID_BYTES = 24; // 16 trace-id + 8 parent-id
const pool = Buffer.alloc(ID_BYTES * 256);
let offset = pool.length;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_PARENT = '0'.repeat(16);

export function generateTraceparent(): string {
  for (;;) {
    if (offset + ID_BYTES > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const start = offset;
    offset += ID_BYTES;
    const trace = pool.toString('hex', start, start + 16);
    const parent = pool.toString('hex', start + 16, start + ID_BYTES);
    if (trace !== ZERO_TRACE && parent !== ZERO_PARENT) return `00-${trace}-${parent}-01`;
  }
}
