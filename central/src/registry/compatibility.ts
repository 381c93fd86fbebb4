/**
 * Compatibility levels and how a candidate schema is checked against a subject's versions
 * (Confluent's definitions, "Schema Evolution and Compatibility" and the API reference's
 * "Compatibility" section):
 *
 *   BACKWARD     the new schema can read data written with the latest version
 *   FORWARD      the latest version can read data written with the new schema
 *   FULL         both
 *   *_TRANSITIVE the same against every live (not deleted) version, not only the latest
 *   NONE         no check
 *
 * Whether one schema can read another's data is the format's question (avro.ts: avsc's resolver;
 * json-schema.ts: Confluent's structural rules); this module only picks the pairs and words the
 * answer: `subject S: field F: RULE: not LEVEL compatible with version N`.
 */

export const COMPATIBILITY_LEVELS = ['NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE'] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

export function isCompatibilityLevel(value: unknown): value is CompatibilityLevel {
  return typeof value === 'string' && (COMPATIBILITY_LEVELS as readonly string[]).includes(value);
}

/**
 * Why a reader cannot read a writer's data, in terms of the change from the older schema to the
 * newer one: `field` is a dotted path into the schema (`fields.air_temperature`, `readings[]`,
 * `(root)`), `rule` says what changed (`type changed from double to string`).
 */
export interface Problem {
  field: string;
  rule: string;
}

/** Which way data flows in one check. */
export type Direction = 'backward' | 'forward';

/** A parsed schema of one format, and what compatibility needs of it. */
export interface SchemaFormat<P> {
  /**
   * Problems when data written with `writer` is read with `reader`; empty when it can be read.
   * `direction` says which of the two is the newer schema ('backward': the reader), so the rules
   * can be worded as changes from the older to the newer.
   */
  readProblems(reader: P, writer: P, direction: Direction): Problem[];
}

/** A version of the subject to check against. */
export interface PriorVersion<P> {
  version: number;
  parsed: P;
}

/**
 * The messages (empty: compatible) for registering `candidate` under `subject` whose live
 * versions are `prior` (ascending by version) at `level`.
 */
export function checkCompatibility<P>(format: SchemaFormat<P>, subject: string, level: CompatibilityLevel, candidate: P, prior: Array<PriorVersion<P>>): string[] {
  if (level === 'NONE' || prior.length === 0) return [];
  const transitive = level.endsWith('_TRANSITIVE');
  const against = transitive ? [...prior].reverse() : prior.slice(-1);
  const base = level.replace('_TRANSITIVE', '');
  const messages: string[] = [];
  for (const old of against) {
    const directions: Direction[] = base === 'BACKWARD' ? ['backward'] : base === 'FORWARD' ? ['forward'] : ['backward', 'forward'];
    for (const direction of directions) {
      const problems = direction === 'backward' ? format.readProblems(candidate, old.parsed, 'backward') : format.readProblems(old.parsed, candidate, 'forward');
      const why = base === 'FULL' ? ` (${direction === 'backward' ? 'the new schema cannot read data written with it' : 'it cannot read data written with the new schema'})` : '';
      for (const problem of problems) messages.push(`subject ${subject}: field ${problem.field}: ${problem.rule}: not ${level} compatible with version ${old.version}${why}`);
    }
  }
  return messages;
}
