/**
 * The single executable's side of packaging/sea/addons.ts: the loader over node:sea's assets.
 * Only the SEA bundle imports this (node:sea answers isSea() false elsewhere).
 */
import * as sea from 'node:sea';
import { AddonLoader, MANIFEST_ASSET, type AddonManifest, type LoadedAddon } from './addons.ts';

let loader: AddonLoader | null = null;

export function seaAddons(): AddonLoader {
  if (loader === null) {
    if (!sea.isSea()) throw new Error('not running as a single executable: native addons load from node_modules');
    const manifest = JSON.parse(sea.getAsset(MANIFEST_ASSET, 'utf8')) as AddonManifest;
    loader = new AddonLoader({ manifest, getAsset: (key) => sea.getRawAsset(key) as ArrayBuffer });
  }
  return loader;
}

/** What the redirected `bindings(...)` / `node-gyp-build(...)` calls return: the addon's exports. */
export function loadAddon(name: string): unknown {
  return seaAddons().load(name).exports;
}

export function loadAddonInfo(name: string): LoadedAddon {
  return seaAddons().load(name);
}
