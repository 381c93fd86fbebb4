/**
 * Bundles the daemon into one ES module, dist/skyhaul.mjs (esbuild, offline). Native addons stay
 * external: they load from node_modules here, and the single-executable build embeds them.
 *
 * `bundle({ format: 'cjs', ... })` is the single-executable variant (packaging/sea/build.ts):
 * Node's SEA main script must be CommonJS, so there is no `import.meta`; `import.meta.url` is
 * defined as a file URL beside the executable that is never argv[1] (main.ts's "am I the entry"
 * check stays false, and the SEA entry calls main() itself).
 */
import { build, type Plugin } from 'esbuild';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE = join(root, 'dist', 'skyhaul.mjs');
/** The data-centre services (central/src/main.ts), one executable ES module: /usr/bin/skyhaul-central. */
export const CENTRAL_BUNDLE = join(root, 'dist', 'skyhaul-central.mjs');

/** Packages whose native addons keep them out of the ES module bundle. */
const NATIVE_EXTERNALS = ['better-sqlite3', 'serialport', '@serialport/*', 'pulsar-client'];

export interface BundleOptions {
  /** 'esm' (default): dist/skyhaul.mjs, run as `node dist/skyhaul.mjs`. 'cjs': the SEA main script. */
  format?: 'esm' | 'cjs';
  /** Entry point (default src/main.ts). */
  entry?: string;
  /** Output file (default dist/skyhaul.mjs). */
  outfile?: string;
  /** Left out of the bundle (default: the packages with native addons). */
  external?: string[];
  plugins?: Plugin[];
  /** Source map (default 'linked' for esm, none for cjs: a SEA has nowhere to find one). */
  sourcemap?: boolean | 'linked' | 'inline';
  /** A `#!/usr/bin/env node` first line, so the file runs as a program (esm only). */
  executable?: boolean;
}

const ESM_BANNER = [
  "import { createRequire as __skyhaulCreateRequire } from 'node:module';",
  "import { fileURLToPath as __skyhaulFileURLToPath } from 'node:url';",
  "import { dirname as __skyhaulDirname } from 'node:path';",
  'const require = __skyhaulCreateRequire(import.meta.url);',
  'const __filename = __skyhaulFileURLToPath(import.meta.url);',
  'const __dirname = __skyhaulDirname(__filename);',
].join(' ');

/**
 * @platformatic/wasm-utils (the Kafka client's CRC32C and compression) reads `native.wasm` beside
 * its own module when imported: in a bundle that file is not there, and every central service
 * died at start with ENOENT. The package ships `@platformatic/wasm-utils/bundled`, the same code
 * with the WebAssembly embedded, for bundlers: resolve the package to it.
 */
export const platformaticWasmBundled: Plugin = {
  name: 'platformatic-wasm-bundled',
  setup(b) {
    b.onResolve({ filter: /^@platformatic\/wasm-utils$/ }, async (args) => {
      const resolved = await b.resolve('@platformatic/wasm-utils/bundled', { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer });
      return resolved.errors.length > 0 ? { errors: resolved.errors } : { path: resolved.path };
    });
  },
};

const CJS_BANNER =
  "var __skyhaulImportMetaUrl = require('node:url').pathToFileURL(require('node:path').join(require('node:path').dirname(__filename), 'skyhaul.bundle.cjs')).href;";

export async function bundle(options: BundleOptions = {}): Promise<string> {
  const format = options.format ?? 'esm';
  const outfile = options.outfile ?? BUNDLE;
  await build({
    entryPoints: [options.entry ?? join(root, 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    sourcemap: options.sourcemap ?? (format === 'esm' ? 'linked' : false),
    legalComments: 'none',
    external: options.external ?? NATIVE_EXTERNALS,
    plugins: options.plugins ?? [],
    // ESM: CommonJS dependencies (pino, fastify, node-cron) use require and __dirname; give the
    // ES module both. CJS: the other way round, import.meta.url from __filename.
    banner: { js: format === 'esm' ? `${options.executable === true ? '#!/usr/bin/env node\n' : ''}${ESM_BANNER}` : CJS_BANNER },
    // The build time is the clock floor (src/common/clock.ts): no correct clock is earlier.
    define: {
      __SKYHAUL_BUILD_TIME__: JSON.stringify(new Date().toISOString()),
      ...(format === 'cjs' ? { 'import.meta.url': '__skyhaulImportMetaUrl' } : {}),
    },
    logLevel: 'warning',
  });
  oneByteSource(outfile);
  if (options.executable === true) chmodSync(outfile, 0o755);
  return outfile;
}

/**
 * Rewrites every character above U+00FF left in the bundle (in comments and template literals,
 * which esbuild's `charset: 'ascii'` leaves as they are) as a `\uXXXX` escape. V8 keeps a script's
 * source in memory for its whole life, one byte per character when every character fits in
 * Latin-1 and two bytes otherwise: 18 dashes and ellipses made the 4.3 MB daemon bundle cost
 * 8.6 MB of heap. The escape means the same in a comment, a string, a template literal and a
 * regular expression; only a tagged template's raw text would differ, which is why the build
 * refuses a bundle that has such a character inside `String.raw`.
 */
export function oneByteSource(file: string): void {
  const source = readFileSync(file, 'utf8');
  if (!/[\u0100-\uffff]/.test(source)) return;
  for (const m of source.matchAll(/String\.raw`[^`]*`/g)) {
    if (/[\u0100-\uffff]/.test(m[0])) throw new Error(`${file}: String.raw template with a character above U+00FF: ${m[0].slice(0, 80)}`);
  }
  const escaped = source.replace(/[\u0100-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  writeFileSync(file, escaped);
}

/** dist/skyhaul-central.mjs (or `outfile`): every dependency inside, nothing read from beside it. */
export function bundleCentral(outfile = CENTRAL_BUNDLE): Promise<string> {
  // Central has no native addon: nothing stays external.
  return bundle({ entry: join(root, 'central', 'src', 'main.ts'), outfile, external: [], executable: true, plugins: [platformaticWasmBundled] });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const out = await bundle();
  const central = await bundleCentral();
  process.stdout.write(`built ${out} and ${central} in ${Math.round(performance.now() - t0)} ms\n`);
}
