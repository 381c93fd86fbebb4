/**
 * Native addons inside the single executable (bundled into it; not used under plain Node).
 *
 * The build (packaging/sea/build.ts) embeds each addon's `.node` file as a SEA asset, with a
 * manifest (name -> asset key, file name, SHA-256). Node can only load an addon from a file, so
 * at run time `loadAddon(name)`:
 *   1. reads the asset and checks its SHA-256 against the manifest (a damaged binary stops here);
 *   2. picks a private cache directory: $SKYHAUL_ADDON_DIR, $CACHE_DIRECTORY (systemd's
 *      CacheDirectory=, /var/cache/skyhaul), $STATE_DIRECTORY/addons-cache, $XDG_CACHE_HOME/skyhaul,
 *      ~/.cache/skyhaul, and last os.tmpdir()/skyhaul-<uid> - the first that is (or can be made)
 *      a real directory owned by this user and writable by no one else;
 *   3. uses `<dir>/addons/<sha256>/<file>` when it is already there, a regular file owned by this
 *      user, with the right hash; otherwise writes it (exclusive temp file, fsync, rename) and
 *      hashes what is on disk again;
 *   4. loads it with process.dlopen - only ever a file whose hash was just checked. The
 *      directories are this user's with no group/other write, so only this user (or root) could
 *      swap the file between the check and the load.
 * A directory on a noexec mount fails at dlopen; the next candidate is then tried.
 *
 * The bundle's addon loaders are redirected here at build time: better-sqlite3's
 * `require('bindings')('better_sqlite3.node')` and @serialport/bindings-cpp's
 * `require('node-gyp-build')(dir)` both become `loadAddon(<package>)`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, type Stats } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AddonEntry {
  /** The npm package whose addon this is, e.g. `better-sqlite3`. */
  name: string;
  /** SEA asset key holding the `.node` bytes. */
  asset: string;
  /** File name to write, e.g. `better_sqlite3.node`. */
  file: string;
  sha256: string;
  size: number;
}

export interface AddonManifest {
  version: 1;
  platform: string;
  arch: string;
  /** process.versions.modules of the node the addons were checked against. */
  modules: string;
  addons: AddonEntry[];
}

/** Asset key of the manifest inside the executable. */
export const MANIFEST_ASSET = 'skyhaul/addons.json';
/** better-sqlite3's JavaScript, one CommonJS text, for the buffer's writer thread (build.ts step 1b). */
export const WRITER_SQLITE_ASSET = 'skyhaul/better-sqlite3.cjs';

export class AddonError extends Error {
  readonly code = 'SKY_ERR_ADDON';
}

export interface AddonLoaderOptions {
  manifest: AddonManifest;
  /** Bytes of an asset (node:sea's getRawAsset in the executable). */
  getAsset: (key: string) => ArrayBuffer | Uint8Array;
  /** Cache directory candidates, most preferred first (default: cacheCandidates()). */
  directories?: string[];
  /** Loads a verified file (default process.dlopen). */
  dlopen?: (file: string) => unknown;
  uid?: number;
}

export interface LoadedAddon {
  name: string;
  path: string;
  sha256: string;
  /** True when this call wrote the file (false: a verified cached copy was used). */
  extracted: boolean;
  exports: unknown;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function firstOf(list: string | undefined): string | null {
  const first = list?.split(':')[0];
  return first === undefined || first === '' ? null : first;
}

/** Where to unpack addons, most preferred first (systemd's directories before the user's). */
export function cacheCandidates(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): string[] {
  const out: string[] = [];
  const push = (dir: string | null): void => {
    if (dir !== null && !out.includes(dir)) out.push(dir);
  };
  push(env.SKYHAUL_ADDON_DIR === undefined || env.SKYHAUL_ADDON_DIR === '' ? null : env.SKYHAUL_ADDON_DIR);
  push(firstOf(env.CACHE_DIRECTORY));
  const state = firstOf(env.STATE_DIRECTORY);
  push(state === null ? null : join(state, 'addons-cache'));
  if (env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME.startsWith('/')) push(join(env.XDG_CACHE_HOME, 'skyhaul'));
  let home = env.HOME;
  if (home === undefined || home === '') {
    try {
      home = homedir();
    } catch {
      home = undefined;
    }
  }
  if (home !== undefined && home.startsWith('/') && home !== '/') push(join(home, '.cache', 'skyhaul'));
  push(join(tmpdir(), `skyhaul-${uid}`));
  return out;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** A directory we may trust: real (not a symlink), ours, and writable by no one else. */
function privateDir(path: string, uid: number): void {
  let stats = lstatOrNull(path);
  if (stats === null) {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    stats = lstatSync(path);
  }
  if (!stats.isDirectory()) throw new AddonError(`${path} is not a directory (or is a symlink)`);
  if (stats.uid !== uid) throw new AddonError(`${path} belongs to uid ${stats.uid}, not ${uid}`);
  if ((stats.mode & 0o022) !== 0) throw new AddonError(`${path} is writable by group or others (mode ${(stats.mode & 0o777).toString(8)})`);
}

export class AddonLoader {
  private readonly loaded = new Map<string, LoadedAddon>();
  private readonly uid: number;
  private readonly directories: string[];
  private readonly dlopen: (file: string) => unknown;

  constructor(private readonly options: AddonLoaderOptions) {
    this.uid = options.uid ?? process.getuid?.() ?? 0;
    this.directories = options.directories ?? cacheCandidates(process.env, this.uid);
    this.dlopen =
      options.dlopen ??
      ((file) => {
        const module = { exports: {} as unknown };
        process.dlopen(module, file);
        return module.exports;
      });
  }

  get manifest(): AddonManifest {
    return this.options.manifest;
  }

  /** Loads (once) the addon of `name`; throws AddonError naming every directory tried. */
  load(name: string): LoadedAddon {
    const cached = this.loaded.get(name);
    if (cached !== undefined) return cached;
    const entry = this.options.manifest.addons.find((a) => a.name === name);
    if (entry === undefined) {
      throw new AddonError(`no native addon for '${name}' in this executable (it has: ${this.options.manifest.addons.map((a) => a.name).join(', ') || 'none'})`);
    }
    const raw = this.options.getAsset(entry.asset);
    const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw);
    const assetHash = sha256(bytes);
    if (assetHash !== entry.sha256) {
      throw new AddonError(`embedded addon '${name}' is damaged: SHA-256 ${assetHash}, expected ${entry.sha256}`);
    }
    const failures: string[] = [];
    for (const base of this.directories) {
      try {
        const result = this.loadFrom(base, entry, bytes);
        this.loaded.set(name, result);
        return result;
      } catch (error) {
        failures.push(`${base}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    throw new AddonError(`cannot load native addon '${name}' (${entry.file}, sha256 ${entry.sha256}):\n  ${failures.join('\n  ')}`);
  }

  private loadFrom(base: string, entry: AddonEntry, bytes: Uint8Array): LoadedAddon {
    privateDir(base, this.uid);
    const addonsDir = join(base, 'addons');
    privateDir(addonsDir, this.uid);
    const dir = join(addonsDir, entry.sha256);
    privateDir(dir, this.uid);
    const path = join(dir, entry.file);

    let extracted = false;
    const existing = lstatOrNull(path);
    const usable = existing !== null && existing.isFile() && existing.uid === this.uid && existing.size === entry.size && sha256(readFileSync(path)) === entry.sha256;
    if (!usable) {
      if (existing !== null) rmSync(path, { force: true, recursive: existing.isDirectory() });
      const temp = join(dir, `.${entry.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      const fd = openSync(temp, 'wx', 0o600);
      try {
        let offset = 0;
        while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
      extracted = true;
      // Check what is on disk now, not what we meant to write.
      const written = lstatSync(path);
      const onDisk = sha256(readFileSync(path));
      if (!written.isFile() || written.uid !== this.uid || onDisk !== entry.sha256) {
        rmSync(path, { force: true });
        throw new AddonError(`wrote ${path} but its SHA-256 is ${onDisk}, expected ${entry.sha256}; not loading it`);
      }
    }
    const exports = this.dlopen(path);
    return { name: entry.name, path, sha256: entry.sha256, extracted, exports };
  }
}
