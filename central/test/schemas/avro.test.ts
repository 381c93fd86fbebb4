/**
 * The Avro schemas derived from the catalogue: their shape (vaisala-wxt's ptu in full), valid and
 * stable names, reversible field names, and schema evolution as the registry will judge it under
 * BACKWARD_TRANSITIVE, checked with avsc's resolver (`Type.forSchema(newer).createResolver(
 * Type.forSchema(older))`: can a reader with the newer schema read data written with the older?).
 */
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/schemas/catalogue.ts';
import { createSchemaCatalogue, fromAvroName, isAvroName, subjects, toAvroName, avroSchemaFor, type AvroRecordSchema, type AvroType, type Catalogue, type JsonSchema } from '../../src/schemas/index.ts';

const PTU = 'skyhaul.adapter.vaisala-wxt.v1.ptu';

describe('Avro schemas', () => {
  it("vaisala-wxt's ptu: a Reading record with the declared fields, null_fields, units, flags and device_time", () => {
    const nullable = (name: string, doc: string) => ({ name, type: ['null', 'double'], default: null, doc });
    expect(avroSchemaFor(PTU)).toEqual({
      type: 'record',
      name: 'Reading',
      namespace: 'skyhaul.adapter.vaisala_wxt.ptu',
      doc: `WXT pressure, temperature, humidity (aR2 / composite). Subject ${PTU}.`,
      fields: [
        {
          name: 'fields',
          doc: expect.any(String),
          default: {},
          type: {
            type: 'record',
            name: 'Fields',
            fields: [
              nullable('air_pressure', 'Air pressure (station level). Unit: hPa (UCUM).'),
              nullable('air_temperature', 'Air temperature. Unit: Cel (UCUM).'),
              nullable('internal_temperature', 'Internal temperature. Unit: Cel (UCUM).'),
              nullable('relative_humidity', 'Relative humidity. Unit: % (UCUM).'),
            ],
          },
        },
        { name: 'null_fields', doc: expect.any(String), type: { type: 'array', items: 'string' }, default: [] },
        { name: 'units', doc: expect.any(String), type: { type: 'map', values: 'string' }, default: {} },
        { name: 'flags', doc: expect.any(String), type: { type: 'array', items: 'string' }, default: [] },
        { name: 'device_time', doc: expect.any(String), type: ['null', 'long'], default: null },
      ],
    });
  });

  it('open streams: additional fields as a map of a union (json-lines, csv: nothing declared; nut-upsd: declared ones too)', () => {
    const fieldNames = (subject: string) => avroSchemaFor(subject).fields.map((f) => f.name);
    const additional = { name: 'additional_fields', doc: expect.any(String), type: { type: 'map', values: ['null', 'boolean', 'double', 'string'] }, default: {} };
    for (const subject of ['skyhaul.adapter.json-lines.v1', 'skyhaul.adapter.csv.v1']) {
      expect(fieldNames(subject)).toEqual(['additional_fields', 'units', 'flags', 'device_time']);
      expect(avroSchemaFor(subject).fields[0]).toEqual(additional);
    }
    expect(fieldNames('skyhaul.adapter.nut-upsd.v1.vars')).toEqual(['fields', 'additional_fields', 'null_fields', 'units', 'flags', 'device_time']);
  });

  it('the daemon payloads and the opaque subject', () => {
    const shape = (subject: string) => {
      const s = avroSchemaFor(subject);
      return { name: `${s.namespace}.${s.name}`, fields: s.fields.map((f) => [f.name, f.type]) };
    };
    expect(shape('skyhaul.alarm.v1')).toEqual({ name: 'skyhaul.alarm.Alarm', fields: [['at', 'long'], ['code', 'string'], ['event', 'string'], ['message', 'string'], ['severity', 'string'], ['since', 'long']] });
    expect(shape('skyhaul.selftest.v1')).toEqual({ name: 'skyhaul.selftest.Selftest', fields: [['canary', 'long']] });
    expect(shape('skyhaul.opaque.v1')).toEqual({ name: 'skyhaul.opaque.Opaque', fields: [['content_type', 'string'], ['payload', 'bytes']] });
  });

  it('every subject has one, avsc takes it, it is named under skyhaul. and without the version, and every reading field has a default', () => {
    const fullNames = new Set<string>();
    for (const subject of subjects()) {
      const schema = avroSchemaFor(subject);
      const type = avro.Type.forSchema(schema);
      expect(type.name, subject).toMatch(/^skyhaul\.[a-z0-9_.]+\.[A-Z][a-z]+$/);
      expect(type.name, subject).not.toMatch(/\.v[0-9]+\./);
      fullNames.add(type.name!);
      if (subject.startsWith('skyhaul.adapter.')) for (const field of allFields(schema)) expect(field.default, `${subject} ${field.name}`).not.toBe(undefined);
    }
    // One record name per subject: none of them is the same type under two subjects.
    expect(fullNames.size).toBe(subjects().length);
  });

  it('a fresh copy every time: a caller cannot change the schema another one gets', () => {
    const a = avroSchemaFor(PTU);
    a.fields.length = 0;
    expect(avroSchemaFor(PTU).fields.length).toBe(5);
  });
});

describe('field names', () => {
  it('a valid Avro name stays; others are escaped reversibly', () => {
    expect(toAvroName('air_temperature')).toBe('air_temperature');
    expect(toAvroName('battery.charge')).toBe('_battery_dcharge');
    expect(toAvroName('wind-speed')).toBe('_wind_hspeed');
    expect(toAvroName('_x')).toBe('___x');
    expect(toAvroName('2nd')).toBe('_2nd');
    expect(toAvroName('°C')).toBe('__x00b0C');
    expect(toAvroName('')).toBe('_');
    expect(() => fromAvroName('_a_q')).toThrow(RangeError);
  });

  it('for any string: a valid Avro name, and fromAvroName gives the string back (so no two names collide)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[A-Za-z_.\-0-9]{0,12}$/)), (name) => {
        const avroName = toAvroName(name);
        expect(isAvroName(avroName)).toBe(true);
        expect(fromAvroName(avroName)).toBe(name);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('evolution (BACKWARD: the newer schema reads data written with the older)', () => {
  /** The ptu subject's Avro schema after `change` to its stream's JSON Schema in a copy of the catalogue. */
  function evolved(change: (fields: Record<string, JsonSchema>, stream: JsonSchema) => void, subject = PTU, adapter = 'vaisala-wxt', stream = 'ptu'): AvroRecordSchema {
    const copy = structuredClone(CATALOGUE) as Catalogue;
    const schema = copy.adapters[adapter]!.streams[stream]!;
    change((schema.properties as { fields: { properties: Record<string, JsonSchema> } }).fields.properties, schema);
    return createSchemaCatalogue(copy).avroSchemaFor(subject);
  }

  function resolves(newer: AvroRecordSchema, older: AvroRecordSchema): boolean {
    try {
      avro.Type.forSchema(newer).createResolver(avro.Type.forSchema(older));
      return true;
    } catch {
      return false;
    }
  }

  const older = avroSchemaFor(PTU);

  it('compatible: a new nullable field; old data reads with it null and comes back as it was', () => {
    const newer = evolved((fields) => {
      fields.dew_point = { type: ['number', 'null'], description: 'Dew point.' };
    });
    expect(newer.fields[0]!.type).toMatchObject({ fields: expect.arrayContaining([expect.objectContaining({ name: 'dew_point' })]) });
    expect(resolves(newer, older)).toBe(true);
    const olderType = avro.Type.forSchema(older);
    const newerType = avro.Type.forSchema(newer);
    const payload = { fields: { air_temperature: 4.5, relative_humidity: null }, units: { air_temperature: 'Cel', relative_humidity: '%' }, flags: ['SOURCE_TIME_IMPLAUSIBLE'], device_time: 971515800000 };
    const written = olderType.toBuffer(createSchemaCatalogue(CATALOGUE as Catalogue).toAvroValue(PTU, { payload: Buffer.from(JSON.stringify(payload)), contentType: 'application/json' }));
    const read = newerType.fromBuffer(written, newerType.createResolver(olderType));
    expect(read.fields.dew_point).toBeNull();
    expect(JSON.parse(createSchemaCatalogue(CATALOGUE as Catalogue).fromAvroValue(PTU, read).toString())).toStrictEqual(payload);
  });

  it('compatible: integer to number (Avro promotes long to double), a removed field (a reader ignores what it does not know), a closed stream opened', () => {
    const status = avroSchemaFor('skyhaul.adapter.boltek-ld250.v1.status');
    expect(resolves(evolved((f) => (f.close_strike_rate = { type: ['number', 'null'] }), 'skyhaul.adapter.boltek-ld250.v1.status', 'boltek-ld250', 'status'), status)).toBe(true);
    expect(resolves(evolved((f) => delete f.internal_temperature), older)).toBe(true);
    const opened = evolved((_, s) => ((s.properties as { fields: JsonSchema }).fields.additionalProperties = { type: ['number', 'string', 'boolean', 'null'] }));
    expect(opened.fields.map((f) => f.name)).toContain('additional_fields');
    expect(resolves(opened, older)).toBe(true);
    // A generic stream that starts declaring fields: Reading gains `fields`, with its default.
    const jsonLines = avroSchemaFor('skyhaul.adapter.json-lines.v1');
    expect(resolves(evolved((f) => (f.temp = { type: ['number', 'null'] }), 'skyhaul.adapter.json-lines.v1', 'json-lines', '*'), jsonLines)).toBe(true);
  });

  it('incompatible: a field whose type changed (number to string, number to integer, string to boolean)', () => {
    expect(resolves(evolved((f) => (f.air_temperature = { type: ['string', 'null'] })), older)).toBe(false);
    expect(resolves(evolved((f) => (f.air_temperature = { type: ['integer', 'null'] })), older)).toBe(false);
    const text = avroSchemaFor('skyhaul.adapter.vaisala-wxt.v1.text');
    expect(resolves(evolved((f) => (f.message = { type: ['boolean', 'null'] }), 'skyhaul.adapter.vaisala-wxt.v1.text', 'vaisala-wxt', 'text'), text)).toBe(false);
  });

  it('incompatible: a field without a default that older data lacks (which the derivation never writes, hence the check above)', () => {
    const newer = evolved((fields) => (fields.dew_point = { type: ['number', 'null'] }));
    const record = newer.fields[0]!.type as AvroRecordSchema;
    delete record.fields.find((f) => f.name === 'dew_point')!.default;
    expect(resolves(newer, older)).toBe(false);
  });

  it('incompatible: an alarm property changing type', () => {
    const copy = structuredClone(CATALOGUE) as Catalogue;
    (copy.daemon['skyhaul.alarm/v1']!.schema.properties as Record<string, JsonSchema>).since = { type: 'string' };
    expect(resolves(createSchemaCatalogue(copy).avroSchemaFor('skyhaul.alarm.v1'), avroSchemaFor('skyhaul.alarm.v1'))).toBe(false);
  });
});

/** Every field of a record schema, nested records' fields included. */
function allFields(schema: AvroRecordSchema): Array<{ name: string; default?: unknown }> {
  return schema.fields.flatMap((f) => {
    const t = f.type as AvroType;
    return [f, ...(typeof t === 'object' && !Array.isArray(t) && t.type === 'record' ? allFields(t) : [])];
  });
}
