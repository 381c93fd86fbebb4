/**
 * Bundles the daemon into one ES module, dist/skyhaul.mjs (esbuild, offline). Native addons stay
 * external: they load from node_modules here, and the single-executable build embeds them.
 */
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE = join(root, 'dist', 'skyhaul.mjs');

export async function bundle(): Promise<string> {
  await build({
    entryPoints: [join(root, 'src', 'main.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    legalComments: 'none',
    external: ['better-sqlite3', 'serialport', '@serialport/*', 'pulsar-client'],
    // CommonJS dependencies (pino, fastify, node-cron) use require and __dirname; give the ES module both.
    banner: {
      js: [
        "import { createRequire as __skyhaulCreateRequire } from 'node:module';",
        "import { fileURLToPath as __skyhaulFileURLToPath } from 'node:url';",
        "import { dirname as __skyhaulDirname } from 'node:path';",
        'const require = __skyhaulCreateRequire(import.meta.url);',
        'const __filename = __skyhaulFileURLToPath(import.meta.url);',
        'const __dirname = __skyhaulDirname(__filename);',
      ].join(' '),
    },
    logLevel: 'warning',
  });
  return BUNDLE;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const out = await bundle();
  process.stdout.write(`built ${out} in ${Math.round(performance.now() - t0)} ms\n`);
}
