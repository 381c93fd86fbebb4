/**
 * Schema pieces shared by the configuration schema (src/config/schema.ts) and the input
 * transports' own option schemas (src/inputs/<transport>/schema.ts): the unit forms, backoff,
 * the firmware adapter keys, and `defineInputSchema`, which is what a transport's schema.ts
 * default-exports.
 *
 * Pure data, no I/O and no import of an input implementation: the configuration, the example
 * generator and `check-config` load this without loading serialport or mqtt.
 */
import { DURATION_PATTERN, SIZE_PATTERN } from '../../lib/schema-config/units.ts';

/** A duration as written in the file: milliseconds, or a string; parse with `parseDuration`. */
export type Duration = number | string;
/** A size as written in the file: bytes, or a string; parse with `parseBytes`. */
export type Bytes = number | string;

// `x-expected` words the form for error messages and the example file; a setting's own
// `description` may replace the text.
export const duration = {
  'x-expected': 'a duration: milliseconds, or a string such as "250ms", "15s", "30m", "12h", "7d"',
  description: 'A duration: a number of milliseconds, or a string such as "250ms", "15s", "30m", "12h", "7d".',
  anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: DURATION_PATTERN }],
} as const;

export const bytes = {
  'x-expected': 'a size: bytes, or a string such as "512KiB", "64MiB", "10GiB", "500MB"',
  description: 'A size: a number of bytes, or a string such as "512KiB", "64MiB", "10GiB", "500MB".',
  anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: SIZE_PATTERN }],
} as const;

/** Reconnect backoff of a device input, as validated: exponential with jitter, from `initial` up to `max`. */
export interface BackoffSettings {
  initial: Duration;
  max: Duration;
}

/** Reconnect backoff; the defaults are those of the device inputs (serial, tcp). */
export const backoff = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: { initial: { ...duration, default: '500ms' }, max: { ...duration, default: '30s' } },
} as const;

/** The firmware adapter that decodes what an input receives (its options are checked by the adapter). */
export const adapter = { type: 'string', description: 'Firmware adapter (see firmware-adapters/).' } as const;
export const adapterOptions = { type: 'object', default: {} } as const;

/**
 * A JSON Schema of an input's options: the keys beside `type` and `name`, which every input has
 * and the configuration schema adds. `additionalProperties: false` is added too: a key the
 * transport does not know is a mistake, reported against that transport alone.
 */
export interface InputOptionsSchema {
  /** One line for the example file and the docs: what the transport is for. */
  readonly description: string;
  readonly required?: readonly string[];
  readonly properties: Readonly<Record<string, object>>;
}

/**
 * What a transport's schema.ts default-exports. `Settings` is the input's configuration as
 * validated (defaults filled, units not yet parsed); it exists for the type system only, so the
 * configuration's `InputConfig` union is derived from the registry instead of being listed again.
 */
export interface InputSchema<Settings extends { type: string; name: string }> {
  /** The value of `type` that selects this transport's options. */
  readonly type: Settings['type'];
  readonly options: InputOptionsSchema;
  /** Type-level only; never set. */
  readonly settings?: Settings;
}

/** Declares a transport's options schema; `type` must be the `type` of `Settings`. */
export function defineInputSchema<Settings extends { type: string; name: string }>(definition: {
  type: Settings['type'];
  options: InputOptionsSchema;
}): InputSchema<Settings> {
  return definition;
}

/** The validated configuration of the input an `InputSchema` describes. */
export type SettingsOf<S> = S extends InputSchema<infer Settings> ? Settings : never;
