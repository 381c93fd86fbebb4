/**
 * The single executable: `npm run package` -> dist/skyhaul-linux-<arch>, one file that runs on a
 * host without Node.js or node_modules. Offline, from what node_modules and the running Node hold:
 *
 *   1. esbuild bundle of packaging/sea/entry.ts (which runs src/main.ts) as CommonJS - a SEA main
 *      script must be CommonJS on Node 20 - with the native addons' loaders redirected to
 *      packaging/sea/addons.ts (better-sqlite3's `bindings`, @serialport/bindings-cpp's
 *      `node-gyp-build`); any other package that loads an addon fails the build;
 *   2. the addons' `.node` files + a manifest (SHA-256 of each) become SEA assets, and so does
 *      better-sqlite3's JavaScript as one CommonJS text (WRITER_SQLITE_ASSET): the buffer's writer
 *      thread loads SQLite from it, as it has no node_modules to require from (entry.ts);
 *   3. `node --experimental-sea-config` writes the preparation blob (useSnapshot false, the
 *      experimental warning off, V8 code cache on for native builds);
 *   4. a copy of the node binary (symbols stripped: 12 MiB less to send over a site link) gets
 *      the blob injected by postject, flipping the sentinel fuse.
 * The result is cached: a build whose inputs (bundle, addons, node binary, options, this file)
 * hash the same as the last one keeps the existing executable. A lock serialises concurrent
 * builds (parallel test files).
 *
 * Other architectures (Raspberry Pi, Jetson): packaging/sea/README.md.
 *
 *   tsx packaging/sea/build.ts [--node FILE] [--arch x64|arm64|arm] [--output FILE]
 *       [--addon NAME=FILE ...] [--no-strip] [--strip-tool TOOL] [--no-code-cache] [--force]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as esbuild, type Plugin } from 'esbuild';
import { bundle } from '../build.ts';
import { usageError } from '../../src/common/args.ts';
import { flagsUsage, parseFlags, reportBuilt, runAsScript, stdoutLog } from '../cli.ts';
import { MANIFEST_ASSET, WRITER_SQLITE_ASSET, type AddonEntry, type AddonManifest } from './addons.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
const dist = join(repoRoot, 'dist');
const require = createRequire(import.meta.url);

export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Where the executable for an architecture goes. */
export function seaOutput(arch: string = process.arch): string {
  return join(dist, `skyhaul-linux-${arch}`);
}

export interface SeaBuildOptions {
  /** The node binary to embed (default: the one running this build). */
  node?: string;
  /** Target architecture, Node's names (default process.arch). */
  arch?: string;
  output?: string;
  /** Addon files by package name, overriding node_modules (needed for another architecture). */
  addons?: Record<string, string>;
  /** Strip symbols (default: true for a native build, false for a cross build without stripTool). */
  strip?: boolean;
  /** The strip program (default `strip`; e.g. aarch64-linux-gnu-strip for arm64). */
  stripTool?: string;
  /** V8 code cache in the blob (default: native builds only; it is specific to the CPU architecture). */
  codeCache?: boolean;
  /** Rebuild even if the inputs are unchanged. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface SeaBuildResult {
  output: string;
  bytes: number;
  cached: boolean;
  ms: number;
  addons: AddonEntry[];
  /** The addon files embedded (their shared-library needs are the package's too). */
  addonFiles: string[];
  /** Hash of every input; the executable is reused while it stays the same. */
  inputHash: string;
}

interface AddonSource {
  /** The npm package. */
  name: string;
  /** The addon file for an architecture, in node_modules. */
  find: (arch: string) => string | null;
}

const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183, arm: 40, ia32: 3 };

function packageDir(name: string): string | null {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    return null;
  }
}

/** The addons the executable carries (pulsar-client is optional and not carried yet: README). */
const ADDON_SOURCES: AddonSource[] = [
  {
    name: 'better-sqlite3',
    // Compiled at `npm install` for the host: right only for a native build.
    find: (arch) => {
      const dir = packageDir('better-sqlite3');
      return dir === null || arch !== process.arch ? null : join(dir, 'build', 'Release', 'better_sqlite3.node');
    },
  },
  {
    name: '@serialport/bindings-cpp',
    // N-API prebuilds for every Linux architecture ship in the npm package.
    find: (arch) => {
      const dir = packageDir('@serialport/bindings-cpp');
      if (dir === null) return null;
      const file = { x64: 'linux-x64/node.napi.glibc.node', arm64: 'linux-arm64/node.napi.armv8.node', arm: 'linux-arm/node.napi.armv7.node' }[arch];
      return file === undefined ? null : join(dir, 'prebuilds', file);
    },
  },
];

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function elfMachine(file: string): number | null {
  const header = readFileSync(file).subarray(0, 20);
  if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) return null;
  return header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
}

/**
 * esbuild plugin: the addon loaders of better-sqlite3 and @serialport/bindings-cpp become calls
 * to the SEA runtime; `bindings` or `node-gyp-build` from anywhere else (a new dependency with
 * an addon nobody embedded) fails the build instead of failing on a site computer.
 */
export function addonRedirects(hits: Set<string>): Plugin {
  const runtime = join(here, 'runtime.ts');
  const owners: Array<{ loader: string; owner: string }> = [
    { loader: 'bindings', owner: 'better-sqlite3' },
    { loader: 'node-gyp-build', owner: '@serialport/bindings-cpp' },
  ];
  return {
    name: 'skyhaul-sea-addons',
    setup(build) {
      build.onResolve({ filter: /^(bindings|node-gyp-build)$/ }, (args) => {
        const match = owners.find((o) => o.loader === args.path && args.importer.includes(`${join('node_modules', o.owner)}/`));
        if (match === undefined) {
          return { errors: [{ text: `${relative(repoRoot, args.importer)} loads a native addon through '${args.path}', which the single executable does not embed: add it to ADDON_SOURCES and addonRedirects in packaging/sea/build.ts` }] };
        }
        hits.add(match.owner);
        return { path: match.owner, namespace: 'skyhaul-addon' };
      });
      build.onLoad({ filter: /.*/, namespace: 'skyhaul-addon' }, (args) => ({
        contents: `module.exports = function () { return require(${JSON.stringify(runtime)}).loadAddon(${JSON.stringify(args.path)}); };`,
        loader: 'js',
        resolveDir: here,
      }));
      // ws's optional native speed-ups: absent, as ws expects them to be when not installed
      // (otherwise the SEA's require() warns that it loads only built-in modules).
      build.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (args) => ({ path: args.path, namespace: 'skyhaul-absent' }));
      build.onLoad({ filter: /.*/, namespace: 'skyhaul-absent' }, (args) => ({
        contents: `throw Object.assign(new Error(${JSON.stringify(`Cannot find module '${args.path}'`)}), { code: 'MODULE_NOT_FOUND' });`,
        loader: 'js',
      }));
      build.onResolve({ filter: /\.node$/ }, (args) => ({
        errors: [{ text: `${relative(repoRoot, args.importer)} requires the native addon ${args.path} directly, which the single executable cannot load` }],
      }));
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** mkdir is atomic: the first process to create the lock directory builds, the others wait. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(lockDir), { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
      } catch {
        // being created or removed
      }
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir} (held by pid ${owner})`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function run(command: string, args: string[], what: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error !== undefined) throw new Error(`${what}: cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${what} failed (${command} ${args.join(' ')}, exit ${result.status ?? result.signal}):\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

export async function buildSea(options: SeaBuildOptions = {}): Promise<SeaBuildResult> {
  const t0 = performance.now();
  const log = options.log ?? stdoutLog;
  const arch = options.arch ?? process.arch;
  const native = arch === process.arch;
  const node = realpathSync(options.node ?? process.execPath);
  const output = resolve(options.output ?? seaOutput(arch));
  const strip = options.strip ?? (native || options.stripTool !== undefined);
  const stripTool = options.stripTool ?? 'strip';
  const codeCache = options.codeCache ?? native;
  if (codeCache && !native) throw new Error('the V8 code cache is specific to the CPU architecture: use codeCache false for a cross build');
  const machine = ELF_MACHINE[arch];
  if (machine === undefined) throw new Error(`unsupported architecture '${arch}'`);
  if (elfMachine(node) !== machine) throw new Error(`${node} is not a Linux ${arch} executable`);

  const work = join(dist, 'sea', arch);
  return withLock(join(dist, `.sea-build-${arch}.lock`), async () => {
    mkdirSync(work, { recursive: true });

    // 1. The CommonJS bundle, addon loaders redirected.
    const hits = new Set<string>();
    const bundleFile = await bundle({
      format: 'cjs',
      entry: join(here, 'entry.ts'),
      outfile: join(work, 'skyhaul.cjs'),
      external: ['pulsar-client'],
      plugins: [addonRedirects(hits)],
    });
    for (const required of ADDON_SOURCES.map((s) => s.name)) {
      if (!hits.has(required)) throw new Error(`the bundle never loads ${required}'s addon through its loader: the redirect in packaging/sea/build.ts no longer matches the package`);
    }
    // 1b. better-sqlite3's JavaScript for the writer thread, which gets the addon as nativeBinding:
    // its own `bindings` loader is never called there.
    const writerSqlite = join(work, 'better-sqlite3.cjs');
    await esbuild({
      stdin: { contents: "module.exports = require('better-sqlite3');", resolveDir: repoRoot, loader: 'js' },
      outfile: writerSqlite,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      legalComments: 'none',
      logLevel: 'silent',
      plugins: [
        {
          name: 'skyhaul-no-bindings',
          setup(b) {
            b.onResolve({ filter: /^bindings$/ }, () => ({ path: 'bindings', namespace: 'skyhaul-no-bindings' }));
            b.onLoad({ filter: /.*/, namespace: 'skyhaul-no-bindings' }, () => ({
              contents: "module.exports = function () { throw new Error('the writer thread passes better-sqlite3 its addon as nativeBinding'); };",
              loader: 'js',
            }));
          },
        },
      ],
    });
    if (packageDir('pulsar-client') !== null) log('note: pulsar-client is installed, but the single executable does not carry it (native transport unavailable; WebSocket is used)');

    // 2. Addons and their manifest.
    const assets: Record<string, string> = {};
    const entries: AddonEntry[] = [];
    for (const source of ADDON_SOURCES) {
      const file = options.addons?.[source.name] ?? source.find(arch);
      if (file === null || !existsSync(file)) {
        throw new Error(`no ${arch} build of ${source.name}'s addon${file === null ? '' : ` at ${file}`}: pass --addon ${source.name}=FILE (packaging/sea/README.md)`);
      }
      if (elfMachine(file) !== machine) throw new Error(`${file} (${source.name}) is not a Linux ${arch} shared object`);
      const bytes = readFileSync(file);
      const key = `skyhaul/addons/${source.name.replace(/^@/, '').replace(/\//g, '-')}.node`;
      assets[key] = file;
      entries.push({ name: source.name, asset: key, file: basename(file), sha256: sha256(bytes), size: bytes.length });
    }
    const addonFiles = entries.map((e) => assets[e.asset]!);
    const manifest: AddonManifest = { version: 1, platform: 'linux', arch, modules: process.versions.modules, addons: entries };
    const manifestFile = join(work, 'addons.json');
    writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    assets[MANIFEST_ASSET] = manifestFile;
    assets[WRITER_SQLITE_ASSET] = writerSqlite;

    // The executable is rebuilt only when something that goes into it changed.
    const nodeStat = statSync(node);
    const inputHash = createHash('sha256')
      .update(readFileSync(bundleFile))
      .update(readFileSync(writerSqlite))
      .update(JSON.stringify({ manifest, node, size: nodeStat.size, mtime: nodeStat.mtimeMs, strip, stripTool, codeCache }))
      .update(readFileSync(fileURLToPath(import.meta.url)))
      .update(readFileSync(require.resolve('postject/package.json')))
      .digest('hex');
    const stamp = `${output}.inputs`;
    if (options.force !== true && existsSync(output) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === inputHash) {
      const ms = Math.round(performance.now() - t0);
      log(`${relative(process.cwd(), output)} is up to date (${statSync(output).size} bytes)`);
      return { output, bytes: statSync(output).size, cached: true, ms, addons: entries, addonFiles, inputHash };
    }

    // Each addon must load in the node we embed (ABI), checked where that node can run.
    if (native) {
      for (const entry of entries) {
        const file = options.addons?.[entry.name] ?? assets[entry.asset]!;
        run(node, ['-e', `process.dlopen({ exports: {} }, ${JSON.stringify(file)})`], `loading ${entry.name}'s addon in ${node}`);
      }
    }

    // 3. The preparation blob.
    const blob = join(work, 'sea-prep.blob');
    const seaConfig = {
      main: bundleFile,
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: codeCache,
      assets,
    };
    const seaConfigFile = join(work, 'sea-config.json');
    writeFileSync(seaConfigFile, `${JSON.stringify(seaConfig, null, 2)}\n`);
    // The blob's format follows the Node version: written by the node we embed when it can run here.
    run(native ? node : process.execPath, ['--experimental-sea-config', seaConfigFile], 'writing the SEA blob');

    // 4. Copy, strip, inject; rename into place only when complete.
    mkdirSync(dirname(output), { recursive: true });
    const temp = `${output}.tmp-${process.pid}`;
    rmSync(temp, { force: true });
    try {
      let stripped = false;
      if (strip) {
        const available = spawnSync(stripTool, ['--version'], { stdio: 'ignore' }).status === 0;
        if (available) {
          run(stripTool, ['--strip-all', '-o', temp, node], 'stripping the node binary');
          stripped = true;
        } else if (options.stripTool !== undefined) throw new Error(`${stripTool} is not available`);
        else log(`${stripTool} not found (apt-get install binutils): the node binary goes in unstripped`);
      }
      if (!stripped) copyFileSync(node, temp);
      chmodSync(temp, 0o755);
      // postject's CLI in a child: its ELF library prints harmless "string offset" warnings
      // straight to stderr, which stay out of the build log unless the injection fails.
      run(process.execPath, [join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js'), temp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, '--overwrite'], 'postject');
      if (native) {
        const version = run(temp, ['version'], 'running the new executable').trim();
        if (!/^skyhaul \S+$/.test(version)) throw new Error(`the new executable answered 'version' with: ${version}`);
      }
      renameSync(temp, output);
      writeFileSync(stamp, `${inputHash}\n`);
    } finally {
      rmSync(temp, { force: true });
    }
    // Nothing else of an older build lingers beside it.
    for (const name of readdirSync(dirname(output))) if (name.startsWith(`${basename(output)}.tmp-`)) rmSync(join(dirname(output), name), { force: true });
    const { bytes, ms } = reportBuilt(log, output, t0, `${entries.length} addons`);
    return { output, bytes, cached: false, ms, addons: entries, addonFiles, inputHash };
  });
}

const CLI_OPTIONS = {
  node: { type: 'string' },
  arch: { type: 'string' },
  output: { type: 'string' },
  'no-strip': { type: 'boolean' },
  'strip-tool': { type: 'string' },
  'no-code-cache': { type: 'boolean' },
  force: { type: 'boolean' },
  addon: { type: 'string', multiple: true },
} as const;

function parseCli(argv: string[]): SeaBuildOptions {
  const values = parseFlags(argv, 'package', CLI_OPTIONS);
  const options: SeaBuildOptions = {};
  if (values.node !== undefined) options.node = values.node;
  if (values.arch !== undefined) options.arch = values.arch;
  if (values.output !== undefined) options.output = values.output;
  if (values['no-strip'] === true) options.strip = false;
  if (values['strip-tool'] !== undefined) options.stripTool = values['strip-tool'];
  if (values['no-code-cache'] === true) options.codeCache = false;
  if (values.force === true) options.force = true;
  for (const addon of values.addon ?? []) {
    const [name, file] = addon.split('=', 2) as [string, string | undefined];
    if (file === undefined || name === '') throw usageError('package', `--addon takes NAME=FILE, got '${addon}'`, flagsUsage('package', CLI_OPTIONS));
    options.addons = { ...options.addons, [name]: resolve(file) };
  }
  return options;
}

await runAsScript(import.meta.url, 'package', (argv) => buildSea(parseCli(argv)));
