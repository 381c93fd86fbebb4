/**
 * The daemon bundle's source is one byte per character in V8 (packaging/build.ts oneByteSource):
 * V8 keeps a script's source for the process's life, at two bytes per character as soon as one
 * character is above U+00FF.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundle, oneByteSource } from '../../packaging/build.ts';

const dir = mkdtempSync(join(tmpdir(), 'skyhaul-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the daemon bundle', () => {
  it('has no character above U+00FF, so V8 holds its source at one byte per character', async () => {
    const out = await bundle({ outfile: join(dir, 'skyhaul.mjs'), sourcemap: false });
    const source = readFileSync(out, 'utf8');
    expect(source.length).toBeGreaterThan(1_000_000);
    expect(source.match(/[\u0100-\uffff]/g) ?? []).toEqual([]);
  }, 120_000);

  it('escapes such characters in comments, strings and templates without changing their meaning, and refuses them in String.raw', async () => {
    const file = join(dir, 'sample.mjs');
    writeFileSync(file, '// a dash \u2014 in a comment\nexport const s = "\u2014", t = `x\u2026${1}`, r = /[\u2014]/;\n');
    oneByteSource(file);
    expect(readFileSync(file, 'utf8')).not.toMatch(/[\u0100-\uffff]/);
    const m = (await import(file)) as { s: string; t: string; r: RegExp };
    expect([m.s, m.t, m.r.test('\u2014')]).toEqual(['\u2014', 'x\u20261', true]);
    const raw = join(dir, 'raw.mjs');
    writeFileSync(raw, 'export const h = String.raw`<p>\u2014</p>`;\n');
    expect(() => oneByteSource(raw)).toThrow(/String\.raw template with a character above U\+00FF/);
  });
});
