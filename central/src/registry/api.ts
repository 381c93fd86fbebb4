/**
 * The Confluent Schema Registry REST API (the subset real clients use), on fastify. Each route
 * follows Confluent's API reference, https://docs.confluent.io/platform/current/schema-registry/develop/api.html
 * (sections "Schemas", "Subjects", "Config", "Compatibility"): same paths, bodies, answers and
 * error codes (errors.ts). Requests and answers are `application/vnd.schemaregistry.v1+json`
 * (`application/vnd.schemaregistry+json`, `application/json`, `application/octet-stream` and no
 * content type are accepted too, as Confluent does).
 *
 * Reads are answered from memory (store.ts); writes go through Kafka first.
 * Not implemented: schema references (refused, 42201), contexts beyond the default one, modes
 * (READONLY/IMPORT), metadata and rule sets (ignored), `normalize` (accepted, no effect: identity
 * already ignores whitespace and key order), `format`, Protobuf.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type CompatibilityLevel, isCompatibilityLevel } from './compatibility.ts';
import {
  badRequest,
  ErrorCode,
  invalidCompatibility,
  invalidVersion,
  RegistryError,
  schemaNotFound,
  subjectNotFound,
  versionNotFound,
} from './errors.ts';
import { parseSchema, SCHEMA_TYPES, type SchemaStore, schemaTypeOf, type SchemaType, SchemaStore as Store, type VersionEntry } from './store.ts';

export const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

type Query = Record<string, string | undefined>;
type Params = Record<string, string>;

const flag = (value: string | undefined): boolean => value === 'true';

/** `latest`/-1 or 1..2^31-1; RegistryError 42202 otherwise. */
function parseVersion(raw: string): number | 'latest' {
  if (raw === 'latest' || raw === '-1') return 'latest';
  if (!/^[0-9]+$/.test(raw)) throw invalidVersion(raw);
  const n = Number(raw);
  if (n < 1 || n > 2 ** 31 - 1) throw invalidVersion(raw);
  return n;
}

/** The schema object a request carries: `{ schema, schemaType?, references? }`. */
function schemaBody(body: unknown): { type: SchemaType; text: unknown } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object: {"schema": "...", "schemaType": "AVRO"|"JSON"}');
  const b = body as Record<string, unknown>;
  if (Array.isArray(b.references) && b.references.length > 0) throw new RegistryError(422, ErrorCode.INVALID_SCHEMA, 'Invalid schema: schema references are not supported by this registry');
  return { type: schemaTypeOf(b.schemaType), text: b.schema };
}

/** The answer for one version: Confluent's Schema object (`schemaType` only when not AVRO). */
function versionAnswer(store: SchemaStore, entry: VersionEntry): Record<string, unknown> {
  const schema = store.state.schemas.get(entry.id)!;
  return { subject: entry.subject, version: entry.version, id: entry.id, ...(schema.type === 'AVRO' ? {} : { schemaType: schema.type }), schema: schema.text };
}

/** A subject's version by number or `latest`; 40401 / 40402 as Confluent answers. */
function findVersion(store: SchemaStore, subject: string, raw: string, includeDeleted: boolean): VersionEntry {
  const version = parseVersion(raw);
  const all = store.state.versions(subject, true);
  const visible = store.state.versions(subject, includeDeleted);
  if (visible.length === 0 && (version === 'latest' || all.length === 0)) throw subjectNotFound(subject);
  const entry = version === 'latest' ? visible.at(-1) : visible.find((v) => v.version === version);
  if (entry === undefined) throw versionNotFound(raw);
  return entry;
}

/**
 * Adds the routes to `app` (their own encapsulated scope: content types and errors apply to them
 * alone). `observe` is told each answered request: its route pattern, method and status.
 */
export function registryRoutes(app: FastifyInstance, store: SchemaStore, observe: (route: string, method: string, status: number) => void = () => undefined): void {
  void app.register(async (scope) => {
    // One parser for every content type Confluent accepts: the body is JSON whatever the label.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch (error) {
        done(badRequest(`the body is not JSON: ${(error as Error).message}`), undefined);
      }
    });
    scope.setErrorHandler((error: Error, _request, reply) => {
      if (error instanceof RegistryError) return reply.code(error.status).type(CONTENT_TYPE).send(JSON.stringify(error.toJSON()));
      const statusCode = (error as Error & { statusCode?: unknown }).statusCode;
      const status = typeof statusCode === 'number' ? statusCode : 500;
      const code = status >= 500 ? 50001 : status;
      return reply.code(status).type(CONTENT_TYPE).send(JSON.stringify({ error_code: code, message: error.message }));
    });
    scope.setNotFoundHandler((request, reply) => reply.code(404).type(CONTENT_TYPE).send(JSON.stringify({ error_code: 404, message: `HTTP 404 Not Found: ${request.method} ${request.url}` })));
    scope.addHook('onRequest', async () => {
      if (!store.ready) throw new RegistryError(503, ErrorCode.NOT_READY, `the registry is not ready: ${store.reasons().join('; ')}`);
    });
    scope.addHook('onResponse', async (request, reply) => {
      observe(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode);
    });
    scope.addHook('onSend', async (_request, reply, payload) => {
      if (String(reply.getHeader('content-type') ?? '').startsWith('application/json')) reply.type(CONTENT_TYPE);
      return payload;
    });

    const get = (path: string, handler: (request: FastifyRequest<{ Params: Params; Querystring: Query }>, reply: FastifyReply) => Promise<unknown>): void => {
      scope.get(path, handler);
    };
    const raw = (reply: FastifyReply, text: string): FastifyReply => reply.type(CONTENT_TYPE).send(text);

    get('/', async () => ({}));
    get('/schemas/types', async () => SCHEMA_TYPES);
    get('/contexts', async () => ['.']);

    // ---- Schemas ---------------------------------------------------------------------------
    const schemaById = (raw: string): { id: number; schema: NonNullable<ReturnType<typeof store.state.schemas.get>> } => {
      const id = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
      const schema = store.state.schemas.get(id);
      if (schema === undefined) throw schemaNotFound(Number.isNaN(id) ? undefined : id);
      return { id, schema };
    };
    /** GET /schemas/ids/{id}: { schema, schemaType? }; 40403. (`subject`, `format` accepted and ignored: one context, no formats.) */
    get('/schemas/ids/:id', async (request) => {
      const { schema } = schemaById(request.params.id!);
      return { ...(schema.type === 'AVRO' ? {} : { schemaType: schema.type }), schema: schema.text };
    });
    /** GET /schemas/ids/{id}/schema: the schema text itself. */
    get('/schemas/ids/:id/schema', async (request, reply) => raw(reply, schemaById(request.params.id!).schema.text));
    const usesOf = (id: number, deleted: boolean): VersionEntry[] =>
      store.state
        .subjectNames(true)
        .flatMap((s) => store.state.versions(s, deleted))
        .filter((v) => v.id === id);
    /** GET /schemas/ids/{id}/subjects: the subjects using it; `deleted=true` includes soft-deleted versions. */
    get('/schemas/ids/:id/subjects', async (request) => {
      const { id } = schemaById(request.params.id!);
      return [...new Set(usesOf(id, flag(request.query.deleted)).map((v) => v.subject))];
    });
    /** GET /schemas/ids/{id}/versions: [{ subject, version }]. */
    get('/schemas/ids/:id/versions', async (request) => {
      const { id } = schemaById(request.params.id!);
      return usesOf(id, flag(request.query.deleted)).map((v) => ({ subject: v.subject, version: v.version }));
    });

    // ---- Subjects --------------------------------------------------------------------------
    /** GET /subjects: names; `deleted=true` includes soft-deleted subjects; `subjectPrefix` filters. */
    get('/subjects', async (request) => {
      const prefix = request.query.subjectPrefix ?? '';
      return store.state.subjectNames(flag(request.query.deleted)).filter((s) => s.startsWith(prefix));
    });
    /** GET /subjects/{subject}/versions: version numbers; 40401. */
    get('/subjects/:subject/versions', async (request) => {
      const versions = store.state.versions(request.params.subject!, flag(request.query.deleted));
      if (versions.length === 0) throw subjectNotFound(request.params.subject!);
      return versions.map((v) => v.version);
    });
    /** GET /subjects/{subject}/versions/{version}: { subject, id, version, schema, schemaType? }; 40401, 40402, 42202. */
    get('/subjects/:subject/versions/:version', async (request) => versionAnswer(store, findVersion(store, request.params.subject!, request.params.version!, flag(request.query.deleted))));
    /** GET /subjects/{subject}/versions/{version}/schema: the schema text itself. */
    get('/subjects/:subject/versions/:version/schema', async (request, reply) => {
      const entry = findVersion(store, request.params.subject!, request.params.version!, flag(request.query.deleted));
      return raw(reply, store.state.schemas.get(entry.id)!.text);
    });
    /** GET /subjects/{subject}/versions/{version}/referencedby: ids of schemas referring to it; none (no references here). */
    get('/subjects/:subject/versions/:version/referencedby', async (request) => {
      findVersion(store, request.params.subject!, request.params.version!, true);
      return [];
    });

    /**
     * POST /subjects/{subject}/versions: registers { schema, schemaType?, references? } -> { id }.
     * The same schema again returns its existing id; a schema another subject has gets that id.
     * 409 incompatible (the message names subject, field, rule and version), 42201 invalid schema.
     */
    scope.post<{ Params: Params; Body: unknown }>('/subjects/:subject/versions', async (request) => {
      const subject = request.params.subject!;
      const { type, text } = schemaBody(request.body);
      const { parsed, canonical, text: stored } = parseSchema(type, text);
      return store.write((state) => {
        const live = state.versions(subject);
        const existing = live.find((v) => state.schemas.get(v.id)?.type === type && state.schemas.get(v.id)?.canonical === canonical);
        if (existing !== undefined) return { records: [], result: { id: existing.id } };
        const level = state.level(subject);
        const messages = store.compatibilityMessages(subject, type, parsed, live, level);
        if (messages.length > 0) {
          throw new RegistryError(409, ErrorCode.INCOMPATIBLE_SCHEMA, `Schema being registered is incompatible with an earlier schema for subject "${subject}": ${messages.join('; ')}`);
        }
        const known = state.idOf(type, canonical);
        const id = known ?? state.maxId + 1;
        const version = (state.versions(subject, true).at(-1)?.version ?? 0) + 1;
        return { records: Store.versionRecords(subject, version, id, type, stored, false, known === undefined), result: { id } };
      });
    });

    /** POST /subjects/{subject}: is this schema registered here? -> { subject, id, version, schema, schemaType? }; 40401, 40403. */
    scope.post<{ Params: Params; Querystring: Query; Body: unknown }>('/subjects/:subject', async (request) => {
      const subject = request.params.subject!;
      const { type, text } = schemaBody(request.body);
      const { canonical } = parseSchema(type, text);
      const versions = store.state.versions(subject, flag(request.query.deleted));
      if (versions.length === 0) throw subjectNotFound(subject);
      const match = versions.filter((v) => store.state.schemas.get(v.id)?.type === type && store.state.schemas.get(v.id)?.canonical === canonical).at(-1);
      if (match === undefined) throw schemaNotFound();
      return versionAnswer(store, match);
    });

    /**
     * DELETE /subjects/{subject}: soft-deletes every version -> [versions]; `permanent=true`
     * removes versions soft-deleted before (and the subject's config). 40401, 40404, 40405.
     */
    scope.delete<{ Params: Params; Querystring: Query }>('/subjects/:subject', async (request) => {
      const subject = request.params.subject!;
      const permanent = flag(request.query.permanent);
      return store.write((state) => {
        const all = state.versions(subject, true);
        const live = state.versions(subject);
        if (all.length === 0) throw subjectNotFound(subject);
        if (!permanent) {
          if (live.length === 0) throw new RegistryError(404, ErrorCode.SUBJECT_SOFT_DELETED, `Subject '${subject}' was soft deleted. Set permanent=true to delete permanently`);
          const records = live.flatMap((v) => {
            const s = state.schemas.get(v.id)!;
            return Store.versionRecords(subject, v.version, v.id, s.type, s.text, true, false);
          });
          return { records, result: live.map((v) => v.version) };
        }
        if (live.length > 0) throw new RegistryError(404, ErrorCode.SUBJECT_NOT_SOFT_DELETED, `Subject '${subject}' was not deleted first before being permanently deleted`);
        const records = all.map((v) => Store.tombstone(subject, v.version));
        if (state.configs.has(subject)) records.push(Store.configRecord(subject, null));
        return { records, result: all.map((v) => v.version) };
      });
    });

    /** DELETE /subjects/{subject}/versions/{version}: soft (or, after that, `permanent=true`) -> the version; 40401, 40402, 40406, 40407, 42202. */
    scope.delete<{ Params: Params; Querystring: Query }>('/subjects/:subject/versions/:version', async (request) => {
      const subject = request.params.subject!;
      const rawVersion = request.params.version!;
      const permanent = flag(request.query.permanent);
      const version = parseVersion(rawVersion);
      return store.write((state) => {
        const all = state.versions(subject, true);
        if (all.length === 0) throw subjectNotFound(subject);
        const entry = version === 'latest' ? (permanent ? all : state.versions(subject)).at(-1) : all.find((v) => v.version === version);
        if (entry === undefined) throw versionNotFound(rawVersion);
        if (!permanent) {
          if (entry.deleted) throw new RegistryError(404, ErrorCode.VERSION_SOFT_DELETED, `Subject '${subject}' Version ${entry.version} was soft deleted. Set permanent=true to delete permanently`);
          const s = state.schemas.get(entry.id)!;
          return { records: Store.versionRecords(subject, entry.version, entry.id, s.type, s.text, true, false), result: entry.version };
        }
        if (!entry.deleted) throw new RegistryError(404, ErrorCode.VERSION_NOT_SOFT_DELETED, `Subject '${subject}' Version ${entry.version} was not deleted first before being permanently deleted`);
        return { records: [Store.tombstone(subject, entry.version)], result: entry.version };
      });
    });

    // ---- Config ----------------------------------------------------------------------------
    const levelFrom = (body: unknown): CompatibilityLevel => {
      const level = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).compatibility : undefined;
      const upper = typeof level === 'string' ? level.toUpperCase() : level;
      if (!isCompatibilityLevel(upper)) throw invalidCompatibility(level);
      return upper;
    };
    /** GET /config: { compatibilityLevel } (global). */
    get('/config', async () => ({ compatibilityLevel: store.state.level(null) }));
    /** PUT /config { compatibility } -> { compatibility }; 42203. */
    scope.put<{ Body: unknown }>('/config', async (request) => {
      const level = levelFrom(request.body);
      return store.write(() => ({ records: [Store.configRecord(null, level)], result: { compatibility: level } }));
    });
    /** DELETE /config: back to the configured default -> { compatibilityLevel } (the one removed). */
    scope.delete('/config', async () =>
      store.write((state) => {
        const previous = state.level(null);
        return { records: state.configs.has('') ? [Store.configRecord(null, null)] : [], result: { compatibilityLevel: previous } };
      }),
    );
    /** GET /config/{subject}: { compatibilityLevel }; without `defaultToGlobal=true`, 40408 when the subject has no level of its own. */
    get('/config/:subject', async (request) => {
      const subject = request.params.subject!;
      const own = store.state.configs.get(subject);
      if (own !== undefined) return { compatibilityLevel: own };
      if (flag(request.query.defaultToGlobal)) return { compatibilityLevel: store.state.level(null) };
      throw new RegistryError(404, ErrorCode.SUBJECT_COMPATIBILITY_NOT_CONFIGURED, `Subject '${subject}' does not have subject-level compatibility configured`);
    });
    /** PUT /config/{subject} { compatibility } -> { compatibility }; 42203. */
    scope.put<{ Params: Params; Body: unknown }>('/config/:subject', async (request) => {
      const level = levelFrom(request.body);
      return store.write(() => ({ records: [Store.configRecord(request.params.subject!, level)], result: { compatibility: level } }));
    });
    /** DELETE /config/{subject}: removes the subject's level -> { compatibilityLevel } (the one removed, or the global when it had none); 40401. */
    scope.delete<{ Params: Params }>('/config/:subject', async (request) => {
      const subject = request.params.subject!;
      return store.write((state) => {
        const own = state.configs.get(subject);
        if (own === undefined && state.versions(subject, true).length === 0) throw subjectNotFound(subject);
        return { records: own === undefined ? [] : [Store.configRecord(subject, null)], result: { compatibilityLevel: own ?? state.level(null) } };
      });
    });

    // ---- Compatibility ---------------------------------------------------------------------
    const compatibility = (subject: string, body: unknown, against: VersionEntry[], verbose: boolean): Record<string, unknown> => {
      const { type, text } = schemaBody(body);
      const { parsed } = parseSchema(type, text);
      const messages = store.compatibilityMessages(subject, type, parsed, against, store.state.level(subject));
      return { is_compatible: messages.length === 0, ...(verbose ? { messages } : {}) };
    };
    /**
     * POST /compatibility/subjects/{subject}/versions/{version}: can the schema be registered with
     * respect to that version (at the subject's level)? -> { is_compatible, messages? (verbose=true) };
     * 40401, 40402, 42201, 42202.
     */
    scope.post<{ Params: Params; Querystring: Query; Body: unknown }>('/compatibility/subjects/:subject/versions/:version', async (request) => {
      const subject = request.params.subject!;
      const entry = findVersion(store, subject, request.params.version!, false);
      return compatibility(subject, request.body, [entry], flag(request.query.verbose));
    });
    /** POST /compatibility/subjects/{subject}/versions: the same against the versions its level names (all, for transitive levels). */
    scope.post<{ Params: Params; Querystring: Query; Body: unknown }>('/compatibility/subjects/:subject/versions', async (request) => {
      const subject = request.params.subject!;
      return compatibility(subject, request.body, store.state.versions(subject), flag(request.query.verbose));
    });
  });
}
