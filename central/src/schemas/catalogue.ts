/**
 * The schema catalogue: `src/record/adapter-schemas.json`, part of the record contract that the
 * edge and the central services share (ARCHITECTURE: central/ shares src/record/ and nothing
 * else). Generated from firmware-adapters/ and src/daemon.ts by packaging/adapter-schemas.ts
 * (`npm run schemas`); central/test/schemas/catalogue.test.ts fails when it is stale.
 *
 *   {
 *     "$comment": "...",
 *     "adapters": {                                   // every registered adapter, by name
 *       "vaisala-wxt": {
 *         "name": "vaisala-wxt",
 *         "schemaRef": "skyhaul.adapter.vaisala-wxt/v1",   // what records carry (Pulsar property `schema`)
 *         "schemaVersion": 1,
 *         "streams": { "ptu": <JSON Schema>, ... }          // by stream suffix; "*": any suffix
 *       }, ...
 *     },
 *     "daemon": {                                     // the daemon's own payloads, by schemaRef
 *       "skyhaul.alarm/v1": { "schemaRef": "skyhaul.alarm/v1", "stream": "_skyhaul/alarms", "schema": <JSON Schema> },
 *       "skyhaul.selftest/v1": { ... }
 *     }
 *   }
 *
 * Stream JSON Schemas are those of `streamSchema()` (firmware-adapters/adapter.ts): a reading
 * `{ fields, units, flags?, device_time? }`. An adapter whose fields and stream names are set by
 * the site's configuration (csv, json-lines) has one stream `*` with the open reading schema.
 * Every object's keys are sorted (the generator's output is deterministic).
 */
import committed from '../../../src/record/adapter-schemas.json' with { type: 'json' };

/** A JSON Schema (draft-07) object, as the catalogue holds it. */
export type JsonSchema = { [keyword: string]: unknown };

export interface AdapterEntry {
  /** Registry name, e.g. `vaisala-wxt`. */
  name: string;
  /** `skyhaul.adapter.<name>/v<schemaVersion>`. */
  schemaRef: string;
  schemaVersion: number;
  /** JSON Schema of each stream's payload, by stream suffix (`ptu`), or `*` for any suffix. */
  streams: Record<string, JsonSchema>;
}

export interface DaemonPayloadEntry {
  /** e.g. `skyhaul.alarm/v1`. */
  schemaRef: string;
  /** The stream the daemon writes it to, e.g. `_skyhaul/alarms`. */
  stream: string;
  schema: JsonSchema;
}

export interface Catalogue {
  $comment?: string;
  adapters: Record<string, AdapterEntry>;
  daemon: Record<string, DaemonPayloadEntry>;
}

/** The committed catalogue (read-only: the same object for every caller). */
export const CATALOGUE: Readonly<Catalogue> = deepFreeze(committed as unknown as Catalogue);

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
