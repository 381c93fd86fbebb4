/**
 * Schema 3 -> 4: the `streams` row of a stream may lag its inserts (contract in `../index.ts`,
 * "Stream rows"). Nothing in the file changes shape; the version changes because the meaning of
 * a row does: after a crash a version-4 file can hold records past a row's next_sequence, which a
 * version-3 build would refuse as "rows lie outside its cursors". With the new version an older
 * build refuses the file by its version instead, and leaves it untouched (a downgrade).
 *
 * A version-3 file is already a valid version-4 file (every row current), so the step only
 * renumbers it.
 */
import type { Migration } from './index.ts';

export const migration004: Migration = {
  from: 3,
  to: 4,
  name: 'lagging-stream-rows',
  up(): void {
    // Same tables, same rows: see above.
  },
};
