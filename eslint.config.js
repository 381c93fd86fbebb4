// @ts-check
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

/**
 * The parts of ARCHITECTURE.md and which parts each may import (CONVENTIONS 17: boundaries
 * checked by a tool, not by care). The composition root (daemon, main, status) wires them all;
 * every other part sees only what it needs. Tests are outside these rules.
 */
const parts = [
  // Libraries of our own that know nothing of either program (lib/<name>/).
  { type: 'lib', pattern: 'lib/*' },
  { type: 'record', pattern: 'src/record' },
  { type: 'common', pattern: 'src/common' },
  { type: 'adapters', pattern: 'firmware-adapters' },
  { type: 'buffer', pattern: 'src/buffer' },
  { type: 'forward', pattern: 'src/forward' },
  { type: 'inputs', pattern: 'src/inputs' },
  { type: 'config', pattern: 'src/config' },
  { type: 'health', pattern: 'src/health' },
  { type: 'jobs', pattern: 'src/jobs' },
  { type: 'systemd', pattern: 'src/systemd' },
  { type: 'simulate', pattern: 'src/simulate' },
  { type: 'cli', pattern: 'src/cli' },
  // The composition root: src/daemon.ts, src/main.ts, src/status.ts.
  { type: 'root', pattern: 'src' },
  // central/ (ARCHITECTURE.md, central): shares only src/record and lib/ with the edge; one
  // folder per concern, and the services do not import each other.
  { type: 'central-config', pattern: 'central/src/config' },
  { type: 'central-service', pattern: 'central/src/service' },
  { type: 'central-kafka', pattern: 'central/src/kafka' },
  { type: 'central-pulsar', pattern: 'central/src/pulsar' },
  { type: 'central-schemas', pattern: 'central/src/schemas' },
  { type: 'central-objectstore', pattern: 'central/src/objectstore' },
  { type: 'central-curated', pattern: 'central/src/curated' },
  { type: 'central-registry', pattern: 'central/src/registry' },
  { type: 'central-bridge', pattern: 'central/src/bridge' },
  { type: 'central-etl', pattern: 'central/src/etl' },
  { type: 'central-archive', pattern: 'central/src/archive' },
  // central/src/main.ts: starts whichever service is asked for.
  { type: 'central-root', pattern: 'central/src' },
];

/** part -> the parts it may import (itself always). */
const allowed = {
  lib: [],
  record: [],
  common: [],
  adapters: ['record', 'common'],
  buffer: ['record', 'common'],
  forward: ['buffer', 'record', 'common'],
  inputs: ['adapters', 'buffer', 'record', 'common', 'config'],
  // The configuration describes the buffer's and the forwarder's settings (their types).
  config: ['adapters', 'buffer', 'forward', 'common'],
  health: ['buffer', 'forward', 'inputs', 'jobs', 'common', 'root'],
  jobs: ['common'],
  systemd: ['common'],
  simulate: ['adapters', 'common', 'record'],
  cli: ['buffer', 'config', 'common'],
  root: parts.filter((p) => !p.type.startsWith('central')).map((p) => p.type),
  'central-config': [],
  'central-service': ['central-config'],
  'central-kafka': [],
  'central-pulsar': [],
  'central-schemas': ['record'],
  'central-objectstore': [],
  // The curated record's contract (schema, units, site registry): what the ETL writes and the archiver reads.
  'central-curated': ['record', 'central-schemas'],
  'central-registry': ['central-config', 'central-service', 'central-kafka', 'central-schemas'],
  'central-bridge': ['central-config', 'central-service', 'central-kafka', 'central-pulsar', 'central-schemas', 'record'],
  'central-etl': ['central-config', 'central-service', 'central-kafka', 'central-schemas', 'central-curated', 'record'],
  'central-archive': ['central-config', 'central-service', 'central-kafka', 'central-schemas', 'central-curated', 'central-objectstore', 'record'],
  'central-root': parts.filter((p) => p.type.startsWith('central')).map((p) => p.type),
};

/** Input option schemas are pure data the configuration composes; input implementations are not. */
const inputSchemas = { element: { type: 'inputs' }, file: { categories: 'input-schema' } };

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.stack/**', 'data/**', 'test/artifacts/**', 'central/node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/**/*.ts', 'firmware-adapters/**/*.ts', 'lib/**/*.ts', 'central/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    plugins: { boundaries },
    settings: {
      // Folders, whole paths only (first match wins: the root folder last).
      'boundaries/elements': parts.map((p) => ({ ...p, partialMatch: false })),
      'boundaries/files': [{ category: 'input-schema', pattern: ['src/inputs/schemas.ts', 'src/inputs/*/schema.ts'] }],
      'boundaries/include': ['src/**/*.ts', 'firmware-adapters/**/*.ts', 'lib/**/*.ts', 'central/src/**/*.ts'],
      'import/resolver': { typescript: { alwaysTryTypes: true } },
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          policies: [
            ...Object.entries(allowed).map(([from, to]) => ({
              from: { element: { type: from } },
              // lib/ knows neither program: everyone may use it.
              allow: { to: { element: { types: { anyOf: [from, 'lib', ...to] } } } },
            })),
            { from: { element: { type: 'config' } }, allow: { to: inputSchemas } },
            // A schema file stays pure data: no input implementation behind it.
            { from: inputSchemas, disallow: { to: { element: { types: { anyOf: ['inputs'] } }, file: { categories: '!input-schema' } } } },
          ],
        },
      ],
    },
  },
);
