/**
 * Main script of the single executable (CommonJS once bundled; see packaging/sea/build.ts).
 * `skyhaul <command>` is src/main.ts's CLI; one extra switch belongs to the executable itself:
 *
 *   skyhaul --check-addons   unpack and load every embedded native addon, exercise each
 *                            (SQLite in memory, the serial port binding), print JSON; exit 0
 *                            when all work. For diagnosing a site computer, and for the tests.
 */
import * as sea from 'node:sea';
import { main } from '../../src/main.ts';
import { configureWriterThread } from '../../src/buffer/index.ts';
import { WRITER_SQLITE_ASSET } from './addons.ts';
import { loadAddonInfo, seaAddons } from './runtime.ts';

interface AddonReport {
  name: string;
  ok: boolean;
  path?: string;
  sha256?: string;
  extracted?: boolean;
  probe?: string;
  error?: string;
}

async function probe(name: string): Promise<string> {
  if (name === 'better-sqlite3') {
    // Through the package, as the buffer opens it: proves the bindings() redirect too.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(':memory:');
    try {
      const row = db.prepare('SELECT sqlite_version() AS version').get() as { version: string };
      return `sqlite ${row.version}`;
    } finally {
      db.close();
    }
  }
  if (name === '@serialport/bindings-cpp') {
    // Through the serialport package, as the serial input uses it.
    const { SerialPort } = await import('serialport');
    return `serial binding ${typeof SerialPort.binding.open === 'function' ? 'ready' : 'incomplete'}`;
  }
  return 'loaded';
}

async function checkAddons(): Promise<number> {
  const manifest = seaAddons().manifest;
  const reports: AddonReport[] = [];
  for (const { name } of manifest.addons) {
    try {
      const info = loadAddonInfo(name);
      reports.push({ name, ok: true, path: info.path, sha256: info.sha256, extracted: info.extracted, probe: await probe(name) });
    } catch (error) {
      reports.push({ name, ok: false, error: (error as Error).message });
    }
  }
  const ok = reports.every((r) => r.ok);
  process.stdout.write(`${JSON.stringify({ ok, node: process.version, arch: process.arch, modules: process.versions.modules, addons: reports }, null, 2)}\n`);
  return ok ? 0 : 1;
}

// The buffer's writer thread has no node_modules here: it loads the embedded copy (build.ts 1b).
configureWriterThread(() => ({ source: sea.getAsset(WRITER_SQLITE_ASSET, 'utf8'), addon: loadAddonInfo('better-sqlite3').path }));

const args = process.argv.slice(2);
const command = args[0] === '--check-addons' ? checkAddons() : main(args);
command.then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`skyhaul: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
