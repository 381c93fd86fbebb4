/**
 * Records from the adapters' own fixtures, for the schema tests: every fixture file of every
 * adapter (firmware-adapters/<name>/fixtures/, field reports included; `.hex` files are hex text),
 * framed with the adapter's framing and decoded by `safeDecode` with its sample.yaml options, as
 * an input would, then made into records by `toIncomingRecord`. Tests may import
 * firmware-adapters/; central/src may not.
 *
 * Each frame is decoded at several receipt times, so the records carry what `safeDecode` adds:
 * a trusted receipt time near the fixtures' own (no flags), the GPS rollover report's (which
 * flags that report and sets aside every other source time: `SOURCE_TIME_IMPLAUSIBLE` with
 * `device_time`), and an unsynchronised one (`RECEIPT_TIME_UNSYNCHRONISED`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingRecord } from '../../../src/record/record.ts';
import { adapterNames, getAdapter, safeDecode, toIncomingRecord, type DecodeMeta } from '../../../firmware-adapters/index.ts';
import { EXAMPLE_RECEIVED_AT, frameAll, sampleConfig } from '../../../firmware-adapters/testing.ts';

export const repoRoot = join(import.meta.dirname, '..', '..', '..');
const adaptersDir = join(repoRoot, 'firmware-adapters');

export const RECEIPT_TIMES: DecodeMeta[] = [
  { receivedAt: EXAMPLE_RECEIVED_AT },
  // A day after the rollover report's (corrected) fix: far from every other fixture's time.
  { receivedAt: Date.UTC(2020, 4, 31, 9, 30), receivedAtTrusted: true },
  { receivedAt: Date.UTC(2025, 0, 1), receivedAtTrusted: false },
];

export interface FixtureRecord {
  adapter: string;
  file: string;
  record: IncomingRecord & { contentType: string; schemaRef: string };
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Every record the adapters make of their fixtures, at every receipt time above. */
export function fixtureRecords(): FixtureRecord[] {
  const out: FixtureRecord[] = [];
  for (const name of adapterNames()) {
    const dir = join(adaptersDir, name);
    const adapter = getAdapter(name, sampleConfig(dir).adapterOptions);
    for (const file of files(join(dir, 'fixtures')).sort()) {
      const raw = readFileSync(file);
      const bytes = file.endsWith('.hex') ? Buffer.from(raw.toString('latin1').replace(/\s+/g, ''), 'hex') : raw;
      for (const event of frameAll(adapter.framing, [bytes])) {
        if (event.kind !== 'frame') continue;
        for (const meta of RECEIPT_TIMES) {
          const result = safeDecode(adapter, event.frame, meta);
          if (!result.ok) continue;
          for (const reading of result.readings) {
            const record = toIncomingRecord(name, adapter, reading, meta) as FixtureRecord['record'];
            out.push({ adapter: name, file: file.slice(adaptersDir.length + 1), record });
          }
        }
      }
    }
  }
  return out;
}
