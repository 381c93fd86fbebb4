/**
 * Names: JSON field names to Avro names and back, and what a registry subject may contain.
 *
 * Avro names (record fields, record names, namespace segments) must match
 * `[A-Za-z_][A-Za-z0-9_]*` (Avro 1.11 specification, "Names"). Adapter field names often do not:
 * nut-upsd's `battery.charge`, json-lines' flattened `dome.azimuth`, a CSV column `wind-speed`.
 * The mapping is a pure function of the one name (never of the other names in the schema), so
 * adding a field can never rename another one, and it is reversible without a table:
 *
 *   - a name that starts with a letter and holds only letters, digits and `_` is its own Avro
 *     name (`air_temperature` -> `air_temperature`): almost every adapter field;
 *   - any other name becomes `_` + an escaped body, so it can never collide with a kept name
 *     (those start with a letter). In the body letters and digits stand for themselves, `_` is
 *     `__`, `.` is `_d`, `-` is `_h`, and any other UTF-16 code unit is `_x` + 4 lower-case hex
 *     digits: `battery.charge` -> `_battery_dcharge`, `_x` -> `___x`, `°C` -> `__x00b0C`.
 *
 * The escape codes are prefix-free, so `fromAvroName(toAvroName(n)) === n` for every string n.
 */

const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEPT = /^[A-Za-z][A-Za-z0-9_]*$/;
const ALNUM = /[A-Za-z0-9]/;

/**
 * Characters a subject may hold: Confluent Schema Registry accepts any string, but Skyhaul keeps
 * to letters, digits, `.`, `-` and `_` so a subject is also safe in a URL path segment and a file name.
 */
export const SUBJECT_PATTERN = /^[A-Za-z0-9._-]+$/;

/** True if `name` is a valid Avro name (field, record or enum name; one namespace segment). */
export function isAvroName(name: string): boolean {
  return AVRO_NAME.test(name);
}

/** The Avro field name for a JSON field name (see the module comment); always a valid Avro name. */
export function toAvroName(jsonName: string): string {
  if (KEPT.test(jsonName)) return jsonName;
  let body = '';
  for (let i = 0; i < jsonName.length; i++) {
    const ch = jsonName[i]!;
    if (ALNUM.test(ch)) body += ch;
    else if (ch === '_') body += '__';
    else if (ch === '.') body += '_d';
    else if (ch === '-') body += '_h';
    else body += `_x${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
  return `_${body}`;
}

/**
 * The JSON field name an Avro field name stands for (the inverse of `toAvroName`). Throws a
 * RangeError for a name `toAvroName` cannot have produced (a bad escape).
 */
export function fromAvroName(avroName: string): string {
  if (!avroName.startsWith('_')) return avroName;
  let out = '';
  for (let i = 1; i < avroName.length; i++) {
    const ch = avroName[i]!;
    if (ch !== '_') {
      out += ch;
      continue;
    }
    const code = avroName[i + 1];
    if (code === '_') out += '_';
    else if (code === 'd') out += '.';
    else if (code === 'h') out += '-';
    else if (code === 'x' && /^[0-9a-f]{4}$/.test(avroName.slice(i + 2, i + 6))) {
      out += String.fromCharCode(parseInt(avroName.slice(i + 2, i + 6), 16));
      i += 4;
    } else throw new RangeError(`'${avroName}' is not an escaped Avro name (bad escape at ${i})`);
    i += 1;
  }
  return out;
}
