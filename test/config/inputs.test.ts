/**
 * The input transports' schema folders (convention 13): each registered transport has its
 * schema.ts, a sample.yaml that is a valid inputs section of the configuration, and a README that
 * documents every option; the registry composes the configuration schema and stays pure data.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import * as inputSchemas from '../../src/inputs/schemas.ts';

const inputsDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/inputs');
const registered = Object.entries(inputSchemas);

describe('input schema registry', () => {
  it('registers every transport folder under its own type, and the configuration offers exactly those', () => {
    const folders = readdirSync(inputsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(registered.map(([exportName]) => exportName).sort()).toEqual(folders);
    for (const [exportName, schema] of registered) expect(schema.type, exportName).toBe(exportName);
    const forms = configSchema.properties.inputs.items.oneOf.map((form) => form.properties.type.const);
    expect(forms.sort()).toEqual(folders);
  });

  it.each(registered.map(([type]) => type))('%s: schema.ts, sample.yaml and README.md are there', (type) => {
    for (const file of ['input.ts', 'schema.ts', 'sample.yaml', 'README.md']) expect(existsSync(join(inputsDir, type, file)), `${type}/${file}`).toBe(true);
  });

  it.each(registered.map(([type]) => type))("%s: sample.yaml is a valid inputs section of the daemon's configuration, for this type", (type) => {
    const text = readFileSync(join(inputsDir, type, 'sample.yaml'), 'utf8');
    const config = parseConfig(`site:\n  id: sample-check\n${text}`, `src/inputs/${type}/sample.yaml`, {});
    expect(config.inputs.map((i) => i.type)).toEqual([type]);
    // Every option is shown (commented out or set), so the sample doubles as a reference.
    const options = Object.keys(inputSchemas[type as keyof typeof inputSchemas].options.properties);
    for (const option of options) expect(text, `${type}/sample.yaml shows ${option}`).toMatch(new RegExp(`^\\s*#?\\s*${option}:`, 'm'));
    expect((parse(text) as { inputs: unknown[] }).inputs).toHaveLength(1);
  });

  it.each(registered.map(([type]) => type))('%s: README.md documents every option and the acknowledgement', (type) => {
    const readme = readFileSync(join(inputsDir, type, 'README.md'), 'utf8');
    expect(readme).toMatch(new RegExp(`^# ${type} — `));
    expect(readme).toMatch(/^## Options$/m);
    expect(readme).toMatch(/^## Acknowledgement$/m);
    const table = readme.slice(readme.indexOf('## Options'), readme.indexOf('## Acknowledgement'));
    for (const option of Object.keys(inputSchemas[type as keyof typeof inputSchemas].options.properties)) {
      expect(table, `${type}/README.md options table lists ${option}`).toMatch(new RegExp(`^\\| [^|]*\`${option}[\`.]`, 'm'));
    }
  });

  it('is pure data: the registry and every schema.ts import no input implementation and no package', () => {
    // The configuration, check-config and the example generator load this; serialport's native
    // binding or mqtt.js must not come with it.
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const [, specifier] of source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)) {
        if (specifier!.startsWith('.')) visit(resolve(dirname(file), specifier!));
        else packages.add(specifier!);
      }
    };
    visit(join(inputsDir, 'schemas.ts'));
    const files = [...seen].map((f) => f.slice(resolve(inputsDir, '../..').length + 1)).sort();
    expect(files).toEqual(expect.arrayContaining(registered.map(([type]) => `src/inputs/${type}/schema.ts`)));
    expect(files.filter((f) => !/^src\/inputs\/[^/]+\/schema\.ts$|^src\/inputs\/schemas\.ts$|^src\/config\/(forms|units)\.ts$|^lib\/schema-config\/units\.ts$/.test(f))).toEqual([]);
    expect([...packages]).toEqual([]);
  });
});
