/**
 * The opaque subject `skyhaul.opaque.v1`: a record whose payload has no schema this catalogue
 * knows (no schema reference, an unknown one, a known one whose stream suffix the adapter does not
 * declare, or a content type that is not JSON) crosses as it is: Avro record `skyhaul.opaque.Opaque`
 * `{ content_type: string, payload: bytes }`, byte for byte.
 */
import { recordValue, type AvroRecordSchema, type SubjectKind } from './avro.ts';
import { SchemaMismatchError } from './errors.ts';

/** The opaque subject's kind: any payload, as bytes, with its content type. */
export function opaqueKind(subject: string): SubjectKind {
  const avroSchema: AvroRecordSchema = {
    type: 'record',
    name: 'Opaque',
    namespace: 'skyhaul.opaque',
    doc: `A payload without a schema this catalogue knows (no or unknown schema reference, or not JSON), byte for byte. Subject ${subject}.`,
    fields: [
      { name: 'content_type', type: 'string', doc: "The record's content type (MIME), e.g. application/octet-stream." },
      { name: 'payload', type: 'bytes', doc: 'The payload bytes, unchanged.' },
    ],
  };
  return {
    subject,
    avroSchema,
    toAvro: (payload, contentType) => ({ content_type: contentType, payload }),
    fromAvro(raw) {
      const value = recordValue(subject, null, raw);
      if (!Buffer.isBuffer(value.payload)) throw new SchemaMismatchError(subject, 'payload', 'avro', 'not an Avro bytes value (a Buffer)');
      return value.payload;
    },
  };
}
