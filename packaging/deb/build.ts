/**
 * The Debian package: `npm run package:deb` -> dist/skyhaul_<version>_<arch>.deb, built with
 * `dpkg-deb --build --root-owner-group` (every file root:root in the archive; postinst gives the
 * configuration to group skyhaul once the group exists).
 *
 *   /usr/bin/skyhaul                          the single executable (0755)
 *   /lib/systemd/system/skyhaul.service       Type=notify daemon unit (enabled by postinst)
 *   /lib/systemd/system/skyhaul-pulsar.service  the site Pulsar standalone (not enabled)
 *   /usr/lib/sysusers.d/skyhaul.conf          the skyhaul account, in group dialout
 *   /usr/lib/tmpfiles.d/skyhaul.conf          /var/lib/skyhaul, /var/cache/skyhaul
 *   /usr/lib/sysctl.d/60-skyhaul.conf         net.core.rmem_max for the UDP input's 16 MiB buffer
 *   /etc/skyhaul/skyhaul.yaml                 conffile: the template (no site.id yet) - 0640
 *                                             root:skyhaul after postinst
 *   /etc/skyhaul-pulsar/standalone.conf       conffile: the site Pulsar's configuration that
 *                                             exactly-once rests on (packaging/pulsar/)
 *   /usr/share/doc/skyhaul/                   README.md, copyright, examples/skyhaul.example.yaml
 *
 * Maintainer scripts: packaging/deb/{postinst,prerm,postrm}; why the daemon is not started
 * before it is configured: packaging/deb/README.md.
 *
 *   tsx packaging/deb/build.ts [--binary FILE] [--arch x64|arm64] [--compress xz|gzip|none]
 *       [--depends 'libc6 (>= 2.31), ...'] [--version V] [--output DIR]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../../src/daemon.ts';
import { flagChoice, parseFlags, reportBuilt, runAsScript, stdoutLog } from '../cli.ts';
import { renderConfig } from '../example-config.ts';
import { buildSea, repoRoot, seaOutput } from '../sea/build.ts';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(repoRoot, 'dist');

/** Node's architecture names -> Debian's. */
export const DEB_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf' };

export const CONFFILES = ['/etc/skyhaul/skyhaul.yaml', '/etc/skyhaul-pulsar/standalone.conf'];

/** What the site computer needs besides the binary when dpkg-shlibdeps is not at hand (amd64, bookworm build). */
const FALLBACK_DEPENDS = 'libc6 (>= 2.34), libgcc-s1 (>= 3.4), libstdc++6 (>= 11)';

export interface DebBuildOptions {
  /** The single executable (default: build it, or reuse the cached one, for `arch`). */
  binary?: string;
  arch?: string;
  version?: string;
  /** dpkg-deb's compressor: xz (default, smallest), gzip, or none (fast, for tests). */
  compress?: 'xz' | 'gzip' | 'none';
  /** Directory for the .deb (default dist/). */
  output?: string;
  /** The shared-library part of Depends (default: dpkg-shlibdeps on the binary and its addons). */
  depends?: string;
  log?: (line: string) => void;
}

export interface DebBuildResult {
  file: string;
  bytes: number;
  ms: number;
  depends: string;
}

function run(command: string, args: string[], what: string, cwd?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd, maxBuffer: 64 * 1024 * 1024 });
  if (result.error !== undefined) throw new Error(`${what}: cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${what} failed (${command} ${args.join(' ')}):\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

function put(root: string, path: string, content: string | Buffer, mode: number): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

function copy(root: string, path: string, from: string, mode: number): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  copyFileSync(from, file);
  chmodSync(file, mode);
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}

/**
 * Shared-library dependencies of the binary and of the addons it unpacks at run time, as
 * dpkg-shlibdeps computes them (it wants a debian/control beside it, so one is made up).
 */
function shlibDepends(files: string[], log: (line: string) => void): string {
  const probe = spawnSync('dpkg-shlibdeps', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    log(`dpkg-shlibdeps not found (apt-get install dpkg-dev): Depends falls back to ${FALLBACK_DEPENDS}`);
    return FALLBACK_DEPENDS;
  }
  const work = mkdtempSync(join(tmpdir(), 'skyhaul-shlibdeps-'));
  try {
    mkdirSync(join(work, 'debian'));
    writeFileSync(join(work, 'debian', 'control'), 'Source: skyhaul\n\nPackage: skyhaul\nArchitecture: any\n');
    const out = run('dpkg-shlibdeps', ['-O', ...files.map((f) => `-e${f}`)], 'dpkg-shlibdeps', work);
    const depends = /^shlibs:Depends=(.*)$/m.exec(out)?.[1]?.trim();
    if (depends === undefined || depends === '') throw new Error(`dpkg-shlibdeps printed no shlibs:Depends:\n${out}`);
    return depends;
  } catch (error) {
    // E.g. an arm64 binary on an amd64 host without arm64 libraries (multiarch) to look at.
    log(`dpkg-shlibdeps failed (${(error as Error).message.split('\n')[0]}): Depends falls back to ${FALLBACK_DEPENDS}; pass --depends to set it`);
    return FALLBACK_DEPENDS;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const DESCRIPTION = `Description: store-and-forward telemetry daemon for remote telescope sites
 Skyhaul reads instrument telemetry (serial, MQTT, UDP, TCP, HTTP), commits every
 reading durably to a local SQLite WAL buffer, and forwards it to Apache Pulsar
 across link outages of minutes to days: every reading reaches the data centre
 once, in order per stream. A local health API shows what flows and what is stuck.
 .
 One self-contained executable (Node.js inside); runs as the skyhaul user under
 systemd. Set site.id in /etc/skyhaul/skyhaul.yaml, then start skyhaul.service.`;

export async function buildDeb(options: DebBuildOptions = {}): Promise<DebBuildResult> {
  const t0 = performance.now();
  const log = options.log ?? stdoutLog;
  const arch = options.arch ?? process.arch;
  const debArch = DEB_ARCH[arch];
  if (debArch === undefined) throw new Error(`no Debian architecture for '${arch}'`);
  const version = options.version ?? VERSION;
  const sea = options.binary === undefined ? await buildSea({ arch, log }) : null;
  const binary = options.binary ?? sea?.output ?? seaOutput(arch);
  const outDir = resolve(options.output ?? dist);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `skyhaul_${version}_${debArch}.deb`);

  const root = mkdtempSync(join(outDir, '.deb-root-'));
  let depends = FALLBACK_DEPENDS;
  try {
    chmodSync(root, 0o755);
    // Payload.
    copy(root, 'usr/bin/skyhaul', binary, 0o755);
    for (const unit of ['skyhaul.service', 'skyhaul-pulsar.service']) copy(root, `lib/systemd/system/${unit}`, join(repoRoot, 'systemd', unit), 0o644);
    copy(root, 'usr/lib/sysusers.d/skyhaul.conf', join(repoRoot, 'systemd', 'skyhaul.sysusers'), 0o644);
    copy(root, 'usr/lib/tmpfiles.d/skyhaul.conf', join(repoRoot, 'systemd', 'skyhaul.tmpfiles'), 0o644);
    copy(root, 'usr/lib/sysctl.d/60-skyhaul.conf', join(repoRoot, 'systemd', 'skyhaul.sysctl'), 0o644);
    put(root, 'etc/skyhaul/skyhaul.yaml', renderConfig('template'), 0o640);
    copy(root, 'etc/skyhaul-pulsar/standalone.conf', join(repoRoot, 'packaging', 'pulsar', 'standalone.conf'), 0o644);
    put(root, 'usr/share/doc/skyhaul/examples/skyhaul.example.yaml', renderConfig('example'), 0o644);
    copy(root, 'usr/share/doc/skyhaul/README.md', join(repoRoot, 'systemd', 'README.md'), 0o644);
    put(
      root,
      'usr/share/doc/skyhaul/copyright',
      `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: skyhaul\n\nFiles: *\nLicense: Apache-2.0\n On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n`,
      0o644,
    );

    // Control area.
    const files = walk(root).filter((f) => !relative(root, f).startsWith('DEBIAN'));
    const installedKiB = Math.ceil(files.reduce((sum, f) => sum + statSync(f).size, 0) / 1024);
    // The addons' own library needs count as the binary's: it loads them.
    depends = options.depends ?? shlibDepends([join(root, 'usr/bin/skyhaul'), ...(sea?.addonFiles ?? [])], log);
    const control = [
      'Package: skyhaul',
      `Version: ${version}`,
      `Architecture: ${debArch}`,
      `Maintainer: ${process.env.DEBFULLNAME ?? 'Skyhaul maintainers'} <${process.env.DEBEMAIL ?? 'skyhaul@localhost'}>`,
      `Installed-Size: ${installedKiB}`,
      `Depends: ${depends}, adduser | systemd`,
      'Recommends: systemd',
      'Section: net',
      'Priority: optional',
      DESCRIPTION,
      '',
    ].join('\n');
    put(root, 'DEBIAN/control', control, 0o644);
    put(root, 'DEBIAN/conffiles', `${CONFFILES.join('\n')}\n`, 0o644);
    for (const script of ['postinst', 'prerm', 'postrm']) copy(root, `DEBIAN/${script}`, join(here, script), 0o755);
    const md5 = files
      .filter((f) => !CONFFILES.includes(`/${relative(root, f)}`))
      .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(root, f)}`)
      .sort((a, b) => a.slice(34).localeCompare(b.slice(34)));
    put(root, 'DEBIAN/md5sums', `${md5.join('\n')}\n`, 0o644);

    const compress = options.compress ?? 'xz';
    run('dpkg-deb', ['--root-owner-group', `-Z${compress}`, '--build', root, file], 'dpkg-deb --build');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return { file, ...reportBuilt(log, file, t0), depends };
}

const CLI_OPTIONS = {
  binary: { type: 'string' },
  arch: { type: 'string' },
  version: { type: 'string' },
  output: { type: 'string' },
  depends: { type: 'string' },
  compress: { type: 'string' },
} as const;

function parseCli(argv: string[]): DebBuildOptions {
  const values = parseFlags(argv, 'package:deb', CLI_OPTIONS);
  const options: DebBuildOptions = {};
  if (values.binary !== undefined) options.binary = resolve(values.binary);
  if (values.arch !== undefined) options.arch = values.arch;
  if (values.version !== undefined) options.version = values.version;
  if (values.output !== undefined) options.output = values.output;
  if (values.depends !== undefined) options.depends = values.depends;
  if (values.compress !== undefined) options.compress = flagChoice(values.compress, 'compress', ['xz', 'gzip', 'none'] as const, 'package:deb', CLI_OPTIONS);
  return options;
}

await runAsScript(import.meta.url, 'package:deb', (argv) => buildDeb(parseCli(argv)));
