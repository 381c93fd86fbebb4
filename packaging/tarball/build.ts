/**
 * The release tarball for hosts without dpkg: `npm run package:tarball` ->
 * dist/skyhaul-<version>-linux-<arch>.tar.gz, one directory holding
 *
 *   bin/skyhaul                     the single executable
 *   systemd/*.service               the units (install.sh rewrites ExecStart for its --prefix)
 *   sysusers.d/skyhaul.conf         the account; tmpfiles.d/skyhaul.conf its directories
 *   sysctl.d/60-skyhaul.conf        net.core.rmem_max for the UDP input's 16 MiB buffer
 *   config/skyhaul.yaml             the template installed when /etc/skyhaul/skyhaul.yaml is absent
 *   config/skyhaul.example.yaml     every setting at its default
 *   install.sh, README.md
 *
 * Files are root-owned in the archive (tar --owner=0 --group=0 --numeric-owner).
 *
 *   tsx packaging/tarball/build.ts [--binary FILE] [--arch x64|arm64] [--level 1-9] [--output DIR]
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../../src/daemon.ts';
import { flagNumber, parseFlags, reportBuilt, runAsScript, stdoutLog } from '../cli.ts';
import { renderConfig } from '../example-config.ts';
import { buildSea, repoRoot } from '../sea/build.ts';

const here = dirname(fileURLToPath(import.meta.url));

export interface TarballOptions {
  binary?: string;
  arch?: string;
  version?: string;
  /** gzip level (default 9: the tarball travels over site links; tests use 1). */
  level?: number;
  output?: string;
  log?: (line: string) => void;
}

export interface TarballResult {
  file: string;
  /** The top directory inside the archive. */
  top: string;
  bytes: number;
  ms: number;
}

function put(root: string, path: string, from: string | { text: string }, mode: number): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  if (typeof from === 'string') copyFileSync(from, file);
  else writeFileSync(file, from.text);
  chmodSync(file, mode);
}

export async function buildTarball(options: TarballOptions = {}): Promise<TarballResult> {
  const t0 = performance.now();
  const log = options.log ?? stdoutLog;
  const arch = options.arch ?? process.arch;
  const version = options.version ?? VERSION;
  const binary = options.binary ?? (await buildSea({ arch, log })).output;
  const outDir = resolve(options.output ?? join(repoRoot, 'dist'));
  mkdirSync(outDir, { recursive: true });
  const top = `skyhaul-${version}-linux-${arch}`;
  const file = join(outDir, `${top}.tar.gz`);
  const level = options.level ?? 9;
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new Error('the gzip level is 1 to 9');

  const stage = mkdtempSync(join(outDir, '.tarball-'));
  try {
    const root = join(stage, top);
    put(root, 'bin/skyhaul', binary, 0o755);
    for (const unit of ['skyhaul.service', 'skyhaul-pulsar.service']) put(root, `systemd/${unit}`, join(repoRoot, 'systemd', unit), 0o644);
    put(root, 'sysusers.d/skyhaul.conf', join(repoRoot, 'systemd', 'skyhaul.sysusers'), 0o644);
    put(root, 'tmpfiles.d/skyhaul.conf', join(repoRoot, 'systemd', 'skyhaul.tmpfiles'), 0o644);
    put(root, 'sysctl.d/60-skyhaul.conf', join(repoRoot, 'systemd', 'skyhaul.sysctl'), 0o644);
    put(root, 'config/skyhaul.yaml', { text: renderConfig('template') }, 0o640);
    put(root, 'config/skyhaul-pulsar.conf', join(repoRoot, 'packaging', 'pulsar', 'standalone.conf'), 0o644);
    put(root, 'config/skyhaul.example.yaml', { text: renderConfig('example') }, 0o644);
    put(root, 'install.sh', join(here, 'install.sh'), 0o755);
    put(root, 'README.md', join(repoRoot, 'systemd', 'README.md'), 0o644);
    chmodSync(root, 0o755);
    const tar = spawnSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '--sort=name', `--use-compress-program=gzip -${level}`, '-cf', file, '-C', stage, top], {
      encoding: 'utf8',
    });
    if (tar.error !== undefined || tar.status !== 0) throw new Error(`tar failed: ${tar.error?.message ?? tar.stderr}`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return { file, top, ...reportBuilt(log, file, t0) };
}

const CLI_OPTIONS = {
  binary: { type: 'string' },
  arch: { type: 'string' },
  version: { type: 'string' },
  level: { type: 'string' },
  output: { type: 'string' },
} as const;

function parseCli(argv: string[]): TarballOptions {
  const values = parseFlags(argv, 'package:tarball', CLI_OPTIONS);
  const options: TarballOptions = {};
  if (values.binary !== undefined) options.binary = resolve(values.binary);
  if (values.arch !== undefined) options.arch = values.arch;
  if (values.version !== undefined) options.version = values.version;
  if (values.level !== undefined) options.level = flagNumber(values.level, 'level', { min: 1, max: 9, integer: true }, 'package:tarball', CLI_OPTIONS);
  if (values.output !== undefined) options.output = values.output;
  return options;
}

await runAsScript(import.meta.url, 'package:tarball', (argv) => buildTarball(parseCli(argv)));
