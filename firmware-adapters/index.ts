/**
 * Firmware adapters: the public API for inputs and the CLI.
 *
 *   const adapter = getAdapter('vaisala-wxt', options);   // options validated, defaults filled
 *   const framer = createFramer(adapter.framing);
 *   for (const ev of framer.push(bytes)) {
 *     if (ev.kind === 'error') quarantine.add({ at, adapter: adapter.name, code: ev.code, message: ev.message, raw: ev.raw, rawLength: ev.length });
 *     else { const result = safeDecode(adapter, ev.frame, { receivedAt: at }); ... }
 *   }
 *
 * The adapters themselves are listed in registered.ts, one line each.
 */
import AjvModule, { type ErrorObject } from 'ajv';
import { SkyhaulError } from '../src/common/errors.ts';
import { READING_FLAGS, type AdapterDefinition, type DecodeMeta, type DecodeResult, type FieldValue, type FirmwareAdapter } from './adapter.ts';
import * as registered from './registered.ts';
import { checkSourceTime } from './source-time.ts';

export type * from './adapter.ts';
export { ok, fail, skip, schemaRef, toIncomingRecord, readingPayload, READING_FLAGS } from './adapter.ts';
export {
  RECEIPT_TIME_FLOOR_MS,
  RECEIPT_TIME_CEILING_MS,
  SOURCE_TIME_MAX_PAST_MS,
  SOURCE_TIME_MAX_FUTURE_MS,
  GPS_WEEK_EPOCH_MS,
  receiptTimeTrusted,
} from './source-time.ts';
export { createFramer, RAW_LIMIT, type Framer, type FramerEvent, type FramingErrorCode, type FramingErrorEvent } from './framing.ts';
export { Quarantine, type QuarantineEntry, type QuarantineOptions } from './quarantine.ts';

/** Every registered adapter definition, by name. */
export const adapters: Readonly<Record<string, AdapterDefinition>> = Object.freeze(
  Object.fromEntries(Object.values(registered as Record<string, AdapterDefinition>).map((d) => [d.name, d])),
);

export function adapterNames(): string[] {
  return Object.keys(adapters).sort();
}

// ajv ships CommonJS with a default export; under NodeNext that is `.default`.
const Ajv = AjvModule.default;
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true });
const validators = new Map<string, ReturnType<typeof ajv.compile>>();

function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath === '' ? '(options)' : e.instancePath} ${e.message ?? 'is invalid'}`);
}

/** Validates an adapter's options (a copy; defaults filled in). For config loading: every error at once. */
export function validateAdapterOptions(name: string, options: unknown = {}): { ok: true; options: unknown } | { ok: false; errors: string[] } {
  const definition = adapters[name];
  if (definition === undefined) return { ok: false, errors: [`unknown adapter '${name}' (known: ${adapterNames().join(', ')})`] };
  let validate = validators.get(name);
  if (validate === undefined) {
    validate = ajv.compile(definition.optionsSchema);
    validators.set(name, validate);
  }
  const copy: unknown = structuredClone(options ?? {});
  return validate(copy) ? { ok: true, options: copy } : { ok: false, errors: formatErrors(validate.errors) };
}

/** An adapter made from validated options; throws SkyhaulError `SKY_ERR_CONFIG` naming every problem. */
export function getAdapter(name: string, options?: unknown): FirmwareAdapter {
  const checked = validateAdapterOptions(name, options);
  if (!checked.ok) throw new SkyhaulError('SKY_ERR_CONFIG', `adapter '${name}': ${checked.errors.join('; ')}`);
  try {
    return adapters[name]!.create(checked.options);
  } catch (cause) {
    throw new SkyhaulError('SKY_ERR_CONFIG', `adapter '${name}': ${(cause as Error).message}`, { cause });
  }
}

const KNOWN_FLAGS: ReadonlySet<string> = new Set(READING_FLAGS);

/**
 * decode() that never throws: an exception inside it (an adapter bug) becomes `ADAPTER_INTERNAL`,
 * and so does a result that is not a DecodeResult (flags that are not `READING_FLAGS` codes
 * included). Non-finite numbers (a conversion bug) become null. Then every reading's times are
 * checked against the receipt time (`checkSourceTime`, source-time.ts): an implausible source
 * time is set aside (`SOURCE_TIME_IMPLAUSIBLE`, device value kept in `deviceTime`) and an
 * untrusted receipt time is flagged (`RECEIPT_TIME_UNSYNCHRONISED`), whatever the adapter.
 */
export function safeDecode(adapter: FirmwareAdapter, frame: Buffer, meta: DecodeMeta): DecodeResult {
  try {
    const result = adapter.decode(frame, meta);
    if (result === null || typeof result !== 'object' || (result.ok !== true && result.ok !== false)) {
      return internal(adapter, 'returned no result');
    }
    if (!result.ok) return result;
    if (!Array.isArray(result.readings)) return internal(adapter, 'returned no readings array');
    for (const reading of result.readings) {
      for (const [key, value] of Object.entries(reading.fields) as [string, FieldValue][]) {
        if (typeof value === 'number' && !Number.isFinite(value)) reading.fields[key] = null;
      }
      if (reading.flags !== undefined && (!Array.isArray(reading.flags) || !reading.flags.every((f) => KNOWN_FLAGS.has(f)))) {
        return internal(adapter, `returned unknown flags ${JSON.stringify(reading.flags).slice(0, 80)}`);
      }
      if (reading.deviceTime !== undefined && !Number.isFinite(reading.deviceTime)) delete reading.deviceTime;
      checkSourceTime(reading, meta);
    }
    return result;
  } catch (error) {
    return internal(adapter, `threw: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function internal(adapter: FirmwareAdapter, what: string): DecodeResult {
  return { ok: false, error: { code: 'ADAPTER_INTERNAL', message: `${adapter.name} decoder ${what}` } };
}
