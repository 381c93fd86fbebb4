/**
 * Compatibility rules, level by level, for both formats (no Kafka: the rules are pure).
 * Avro: avsc's resolver decides and the message names field and rule; the bridge's real
 * evolution (central/src/schemas) must pass. JSON Schema: Confluent's documented rules (open and
 * closed content models, widening and narrowing), which json-schema.ts implements itself.
 */
import { describe, expect, it } from 'vitest';
import { avroFormat, parseAvro } from '../../src/registry/avro.ts';
import { checkCompatibility, type CompatibilityLevel } from '../../src/registry/compatibility.ts';
import { jsonSchemaFormat, parseJsonSchema } from '../../src/registry/json-schema.ts';
import { avroSchemaFor, subjects } from '../../src/schemas/index.ts';

const avro = (schema: unknown) => parseAvro(JSON.stringify(schema));
const json = (schema: unknown) => parseJsonSchema(JSON.stringify(schema));
const avroCheck = (level: CompatibilityLevel, candidate: unknown, ...prior: unknown[]): string[] =>
  checkCompatibility(avroFormat, 's', level, avro(candidate), prior.map((p, i) => ({ version: i + 1, parsed: avro(p) })));
const jsonCheck = (level: CompatibilityLevel, candidate: unknown, ...prior: unknown[]): string[] =>
  checkCompatibility(jsonSchemaFormat, 's', level, json(candidate), prior.map((p, i) => ({ version: i + 1, parsed: json(p) })));

const rec = (fields: unknown[], name = 'R') => ({ type: 'record', name, fields });

describe('Avro compatibility (avsc resolver)', () => {
  const v1 = rec([{ name: 'a', type: 'double' }]);
  const withDefault = rec([{ name: 'a', type: 'double' }, { name: 'b', type: ['null', 'string'], default: null }]);
  const withoutDefault = rec([{ name: 'a', type: 'double' }, { name: 'b', type: 'string' }]);

  it('adding a field: with a default is BACKWARD and FORWARD; without one is FORWARD only', () => {
    expect(avroCheck('FULL', withDefault, v1)).toEqual([]);
    expect(avroCheck('BACKWARD', withoutDefault, v1)).toEqual(['subject s: field b: field added without a default: not BACKWARD compatible with version 1']);
    expect(avroCheck('FORWARD', withoutDefault, v1)).toEqual([]);
  });

  it('removing a field without a default is BACKWARD only', () => {
    expect(avroCheck('BACKWARD', v1, withoutDefault)).toEqual([]);
    expect(avroCheck('FORWARD', v1, withoutDefault)).toEqual(['subject s: field b: field removed, and the older schema declares it without a default: not FORWARD compatible with version 1']);
    expect(avroCheck('FULL', v1, withoutDefault)[0]).toContain('(it cannot read data written with the new schema)');
  });

  it('promotions read one way (int -> long -> double), type changes not at all', () => {
    const int = rec([{ name: 'a', type: 'int' }]);
    const long = rec([{ name: 'a', type: 'long' }]);
    expect(avroCheck('BACKWARD', long, int)).toEqual([]);
    expect(avroCheck('FORWARD', long, int)).toEqual(['subject s: field a: type changed from int to long: not FORWARD compatible with version 1']);
    expect(avroCheck('BACKWARD', rec([{ name: 'a', type: 'string' }]), v1)).toEqual(['subject s: field a: type changed from double to string: not BACKWARD compatible with version 1']);
  });

  it('names the nested field inside a union, enums and record renames', () => {
    const nested = (t: unknown) => rec([{ name: 'fields', type: ['null', rec([{ name: 'air_temperature', type: t }], 'Fields')], default: null }]);
    expect(avroCheck('BACKWARD', nested('string'), nested('double'))).toEqual(['subject s: field fields.air_temperature: type changed from double to string: not BACKWARD compatible with version 1']);
    const e = (symbols: string[]) => rec([{ name: 'state', type: { type: 'enum', name: 'State', symbols } }]);
    expect(avroCheck('BACKWARD', e(['A', 'B', 'C']), e(['A', 'B']))).toEqual([]);
    expect(avroCheck('BACKWARD', e(['A']), e(['A', 'B']))).toEqual(['subject s: field state: enum symbols removed: B: not BACKWARD compatible with version 1']);
    expect(avroCheck('BACKWARD', rec([{ name: 'a', type: 'double' }], 'Other'), v1)).toEqual(['subject s: field (root): record name changed from R to Other: not BACKWARD compatible with version 1']);
    expect(avroCheck('BACKWARD', rec([{ name: 'a', type: ['null', 'double'], default: null }]), v1)).toEqual([]);
    expect(avroCheck('BACKWARD', v1, rec([{ name: 'a', type: ['null', 'double'], default: null }]))).toEqual([
      'subject s: field a: type changed from [null,double] to double: not BACKWARD compatible with version 1',
    ]);
  });

  it('transitive levels check every prior version, the others only the latest', () => {
    const v2 = withoutDefault; // v1 -> v2 is not BACKWARD, but v2 -> v3 is
    const v3 = rec([{ name: 'a', type: 'double' }, { name: 'b', type: 'string' }, { name: 'c', type: 'int', default: 0 }]);
    expect(avroCheck('BACKWARD', v3, v1, v2)).toEqual([]);
    expect(avroCheck('BACKWARD_TRANSITIVE', v3, v1, v2)).toEqual(['subject s: field b: field added without a default: not BACKWARD_TRANSITIVE compatible with version 1']);
    expect(avroCheck('NONE', rec([{ name: 'z', type: 'string' }], 'Z'), v1, v2)).toEqual([]);
  });

  it("the bridge's own schemas: each compatible with itself, and their documented evolution (a new optional reading) BACKWARD_TRANSITIVE", () => {
    for (const subject of subjects()) {
      const schema = avroSchemaFor(subject) as unknown as { fields: Array<{ name: string; type: unknown }> };
      expect(avroCheck('FULL_TRANSITIVE', schema, schema), subject).toEqual([]);
      const evolved = structuredClone(schema);
      evolved.fields.push({ name: 'added_later', type: ['null', 'double'], default: null } as never);
      expect(avroCheck('BACKWARD_TRANSITIVE', evolved, schema), subject).toEqual([]);
    }
  });
});

describe('JSON Schema compatibility (Confluent rules, own implementation)', () => {
  const closed = { type: 'object', properties: { a: { type: 'number' } }, additionalProperties: false };
  const open = { type: 'object', properties: { a: { type: 'number' } } };

  it('adding an optional property: compatible to a closed content model, not to an open one', () => {
    expect(jsonCheck('BACKWARD', { ...closed, properties: { ...closed.properties, b: { type: 'string' } } }, closed)).toEqual([]);
    expect(jsonCheck('BACKWARD', { ...open, properties: { ...open.properties, b: { type: 'string' } } }, open)).toEqual([
      'subject s: field b: property added to an open content model: not BACKWARD compatible with version 1',
    ]);
    // …unless the new property accepts anything.
    expect(jsonCheck('BACKWARD', { ...open, properties: { ...open.properties, b: {} } }, open)).toEqual([]);
  });

  it('removing a property: compatible from an open content model, not from a closed one', () => {
    expect(jsonCheck('BACKWARD', { type: 'object' }, open)).toEqual([]);
    expect(jsonCheck('BACKWARD', { type: 'object', additionalProperties: false }, closed)).toEqual([
      'subject s: field a: property removed from a closed content model: not BACKWARD compatible with version 1',
    ]);
  });

  it('types widen (integer -> number, adding a type), never narrow; required, enum, bounds likewise', () => {
    const t = (type: unknown) => ({ type: 'object', properties: { a: { type } }, additionalProperties: false });
    expect(jsonCheck('BACKWARD', t('number'), t('integer'))).toEqual([]);
    expect(jsonCheck('BACKWARD', t('integer'), t('number'))).toEqual(['subject s: field a: type changed from number to integer: not BACKWARD compatible with version 1']);
    expect(jsonCheck('BACKWARD', t(['number', 'null']), t('number'))).toEqual([]);
    expect(jsonCheck('FORWARD', t(['number', 'null']), t('number'))).toEqual(['subject s: field a: type changed from number to [number,null]: not FORWARD compatible with version 1']);
    expect(jsonCheck('BACKWARD', { ...closed, required: ['a'] }, closed)).toEqual(['subject s: field a: property became required (without a default): not BACKWARD compatible with version 1']);
    expect(jsonCheck('BACKWARD', closed, { ...closed, required: ['a'] })).toEqual([]);
    const e = (values: string[]) => ({ type: 'string', enum: values });
    expect(jsonCheck('BACKWARD', e(['x', 'y']), e(['x']))).toEqual([]);
    expect(jsonCheck('BACKWARD', e(['x']), e(['x', 'y']))).toEqual(['subject s: field (root): enum values removed: "y": not BACKWARD compatible with version 1']);
    expect(jsonCheck('BACKWARD', { type: 'string', maxLength: 10 }, { type: 'string', maxLength: 5 })).toEqual([]);
    expect(jsonCheck('BACKWARD', { type: 'string', maxLength: 5 }, { type: 'string', maxLength: 10 })).toEqual(['subject s: field (root): maxLength from 10 to 5: not BACKWARD compatible with version 1']);
    expect(jsonCheck('BACKWARD', { type: 'number', minimum: 0 }, { type: 'number' })).toEqual(['subject s: field (root): minimum added or narrowed: not BACKWARD compatible with version 1']);
  });

  it('closing an open content model is refused; arrays, anyOf and local $refs are followed', () => {
    expect(jsonCheck('BACKWARD', closed, open)).toEqual(['subject s: field additionalProperties: content model closed: not BACKWARD compatible with version 1']);
    expect(jsonCheck('BACKWARD', { type: 'array', items: { type: 'string' } }, { type: 'array', items: { type: 'number' } })).toEqual([
      'subject s: field (root)[]: type changed from number to string: not BACKWARD compatible with version 1',
    ]);
    expect(jsonCheck('BACKWARD', { anyOf: [{ type: 'string' }, { type: 'number' }] }, { type: 'string' })).toEqual([]);
    expect(jsonCheck('BACKWARD', { type: 'string' }, { anyOf: [{ type: 'string' }, { type: 'number' }] })).toHaveLength(1);
    const withRef = (t: string) => ({ definitions: { T: { type: t } }, type: 'object', properties: { a: { $ref: '#/definitions/T' } }, additionalProperties: false });
    expect(jsonCheck('BACKWARD', withRef('number'), withRef('integer'))).toEqual([]);
    expect(jsonCheck('BACKWARD', withRef('string'), withRef('integer'))).toEqual(['subject s: field a: type changed from integer to string: not BACKWARD compatible with version 1']);
  });

  it('refuses a change it does not check rather than passing it, and ignores annotations', () => {
    expect(jsonCheck('BACKWARD', { type: 'object', propertyNames: { maxLength: 3 } }, { type: 'object' })).toEqual([
      'subject s: field (root): keyword propertyNames changed: not checked by this registry: not BACKWARD compatible with version 1',
    ]);
    expect(jsonCheck('FULL', { ...closed, title: 'T', description: 'd' }, closed)).toEqual([]);
  });

  it('refuses texts that are not JSON Schemas (ajv)', () => {
    expect(() => json({ type: 'nonsense' })).toThrow(/Invalid schema/);
    expect(() => json([1])).toThrow(/Invalid schema/);
    expect(json(true).canonical).toBe('true');
  });
});
