/**
 * The .deb and the tarball, as dpkg and a site engineer see them: metadata and contents, an
 * installation into a scratch root by dpkg itself (maintainer scripts included, the host left
 * alone), upgrade/remove/purge, the tarball's install.sh; and the example configuration that
 * both ship, generated from the schema.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, appendFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianPackages, repoRoot } from '../../packaging/dev-stack/stack.ts';
import { buildDeb, CONFFILES, type DebBuildResult } from '../../packaging/deb/build.ts';
import { EXAMPLE_CONFIG, renderConfig } from '../../packaging/example-config.ts';
import { buildTarball, type TarballResult } from '../../packaging/tarball/build.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import { VERSION } from '../../src/daemon.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix = 'skyhaul-deb-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function ok(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const result = run(command, args, options);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stderr}${result.stdout}`);
  return result.stdout + result.stderr;
}

/** uid/gid of a name in a root's own passwd/group files. */
function idIn(root: string, file: 'passwd' | 'group', name: string): number {
  const line = readFileSync(join(root, 'etc', file), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (line === undefined) throw new Error(`${name} not in ${root}/etc/${file}`);
  return Number(line.split(':')[2]);
}

function mode(path: string): number {
  return statSync(path).mode & 0o7777;
}

/** The host state the scratch installs must not touch. */
function hostSnapshot(): string {
  const wants = '/etc/systemd/system/multi-user.target.wants';
  const state = '/var/lib/systemd/deb-systemd-helper-enabled';
  return JSON.stringify({
    wants: existsSync(wants) ? readdirSync(wants).filter((n) => n.includes('skyhaul')) : [],
    state: existsSync(state) ? readdirSync(state, { recursive: true }).filter((n) => String(n).includes('skyhaul')) : [],
    passwd: readFileSync('/etc/passwd', 'utf8').includes('\nskyhaul:'),
    etc: existsSync('/etc/skyhaul/skyhaul.yaml.dpkg-new'),
  });
}

let deb: DebBuildResult;
let tarball: TarballResult;

beforeAll(async () => {
  ensureDebianPackages({ 'dpkg-deb': 'dpkg', 'dpkg-shlibdeps': 'dpkg-dev', 'deb-systemd-helper': 'init-system-helpers', 'systemd-sysusers': 'systemd', 'systemd-analyze': 'systemd', strip: 'binutils' });
  // Uncompressed data.tar: the archive is the same, minutes of xz are not (releases use xz).
  deb = await buildDeb({ compress: 'none', log: () => {} });
  tarball = await buildTarball({ level: 1, log: () => {} });
}, 600_000);

describe('.deb', () => {
  it('has the metadata dpkg needs: name, version, architecture, library dependencies, conffiles', () => {
    const info = ok('dpkg-deb', ['--info', deb.file]);
    expect(info).toMatch(/^ Package: skyhaul$/m);
    expect(info).toMatch(new RegExp(`^ Version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    expect(info).toMatch(/^ Architecture: amd64$/m);
    expect(info).toMatch(/^ Depends: .*libc6 \(>= 2\.\d+\)/m);
    expect(info).toMatch(/^ Installed-Size: \d+$/m);
    expect(info).toMatch(/^ Maintainer: .+ <.+>$/m);
    for (const script of ['postinst', 'prerm', 'postrm']) expect(info).toMatch(new RegExp(`\\d+ lines\\s+\\*\\s+${script}\\s`));
    expect(ok('dpkg-deb', ['--info', deb.file, 'conffiles']).trim().split('\n')).toEqual(CONFFILES);
  });

  it('holds the binary, the units, sysusers/tmpfiles and the configuration, root-owned with the right modes', () => {
    const listing = ok('dpkg-deb', ['--contents', deb.file]);
    const entries = new Map(
      listing
        .trim()
        .split('\n')
        .map((line) => {
          const [perms, owner, , , , path] = line.split(/\s+/);
          return [path!.replace(/^\.\//, '/'), `${perms} ${owner}`] as const;
        }),
    );
    expect(entries.get('/usr/bin/skyhaul')).toBe('-rwxr-xr-x root/root');
    expect(entries.get('/lib/systemd/system/skyhaul.service')).toBe('-rw-r--r-- root/root');
    expect(entries.get('/lib/systemd/system/skyhaul-pulsar.service')).toBe('-rw-r--r-- root/root');
    // The site Pulsar's configuration that exactly-once rests on (a conffile, see CONFFILES).
    expect(entries.get('/etc/skyhaul-pulsar/standalone.conf')).toBe('-rw-r--r-- root/root');
    expect(CONFFILES).toContain('/etc/skyhaul-pulsar/standalone.conf');
    expect(entries.get('/usr/lib/sysusers.d/skyhaul.conf')).toBe('-rw-r--r-- root/root');
    expect(entries.get('/usr/lib/tmpfiles.d/skyhaul.conf')).toBe('-rw-r--r-- root/root');
    expect(entries.get('/usr/lib/sysctl.d/60-skyhaul.conf')).toBe('-rw-r--r-- root/root');
    // Group skyhaul does not exist when dpkg unpacks: postinst hands it the file.
    expect(entries.get('/etc/skyhaul/skyhaul.yaml')).toBe('-rw-r----- root/root');
    expect(entries.get('/usr/share/doc/skyhaul/examples/skyhaul.example.yaml')).toBe('-rw-r--r-- root/root');
    for (const [path, value] of entries) expect(value.split(' ')[1], path).toBe('root/root');
  });

  it('unpacks (dpkg -x) to a binary that runs and a template it refuses until site.id is set', () => {
    const dir = tempDir();
    ok('dpkg', ['-x', deb.file, dir]);
    const binary = join(dir, 'usr/bin/skyhaul');
    expect(ok(binary, ['version'], { env: { PATH: '/usr/bin:/bin', HOME: dir } }).trim()).toBe(`skyhaul ${VERSION}`);
    const check = run(binary, ['check-config', join(dir, 'etc/skyhaul/skyhaul.yaml'), '--json'], { env: { PATH: '/usr/bin:/bin', HOME: dir } });
    expect(check.status).toBe(2);
    const problems = (JSON.parse(check.stdout) as { problems: Array<{ path: string; message: string }> }).problems;
    expect(problems).toEqual([expect.objectContaining({ path: 'site', message: 'required but missing' })]);
    // The unit in the package is the one in the repository.
    expect(readFileSync(join(dir, 'lib/systemd/system/skyhaul.service'), 'utf8')).toBe(readFileSync(join(repoRoot, 'systemd/skyhaul.service'), 'utf8'));
  });

  describe('installed by dpkg into a scratch root (maintainer scripts run with DPKG_ROOT)', () => {
    let root = '';
    let before = '';
    const dpkg = (...args: string[]): string =>
      ok('dpkg', [`--root=${root}`, '--force-not-root', '--force-bad-path', '--force-script-chrootless', '--force-depends', '--log=/dev/null', ...args]);

    beforeAll(() => {
      before = hostSnapshot();
      root = tempDir('skyhaul-dpkg-root-');
      for (const dir of ['var/lib/dpkg/updates', 'var/lib/dpkg/info', 'etc']) mkdirSync(join(root, dir), { recursive: true });
      writeFileSync(join(root, 'var/lib/dpkg/status'), '');
      dpkg('--install', deb.file);
    });

    it('creates the account in group dialout, its directories, and hands the configuration to it (0640 root:skyhaul)', () => {
      const uid = idIn(root, 'passwd', 'skyhaul');
      const gid = idIn(root, 'group', 'skyhaul');
      expect(readFileSync(join(root, 'etc/group'), 'utf8')).toMatch(/^dialout:x:\d+:(.*,)?skyhaul(,.*)?$/m);
      const config = statSync(join(root, 'etc/skyhaul/skyhaul.yaml'));
      expect([config.uid, config.gid, mode(join(root, 'etc/skyhaul/skyhaul.yaml'))]).toEqual([0, gid, 0o640]);
      const binary = statSync(join(root, 'usr/bin/skyhaul'));
      expect([binary.uid, binary.gid, mode(join(root, 'usr/bin/skyhaul'))]).toEqual([0, 0, 0o755]);
      const state = statSync(join(root, 'var/lib/skyhaul'));
      expect([state.uid, state.gid, mode(join(root, 'var/lib/skyhaul'))]).toEqual([uid, gid, 0o750]);
      expect(mode(join(root, 'var/cache/skyhaul'))).toBe(0o700);
    });

    it('registers the configuration as a conffile and enables skyhaul.service (not the Pulsar unit) - in the scratch root only', () => {
      const status = dpkg('--status', 'skyhaul');
      expect(status).toMatch(/^Status: install ok installed$/m);
      expect(status).toMatch(/^Conffiles:\n \/etc\/skyhaul\/skyhaul\.yaml [0-9a-f]{32}$/m);
      const wants = join(root, 'etc/systemd/system/multi-user.target.wants');
      expect(readlinkSync(join(wants, 'skyhaul.service'))).toBe('/lib/systemd/system/skyhaul.service');
      expect(existsSync(join(wants, 'skyhaul-pulsar.service'))).toBe(false);
      expect(hostSnapshot()).toBe(before);
    });

    it('keeps the admin\'s configuration over a reinstall; remove keeps buffer and configuration; purge removes them', () => {
      appendFileSync(join(root, 'etc/skyhaul/skyhaul.yaml'), 'site: { id: scratch-site }\n');
      writeFileSync(join(root, 'var/lib/skyhaul/buffer.sqlite'), 'records');
      dpkg('--install', deb.file);
      expect(readFileSync(join(root, 'etc/skyhaul/skyhaul.yaml'), 'utf8')).toContain('site: { id: scratch-site }');
      expect(existsSync(join(root, 'etc/skyhaul/skyhaul.yaml.dpkg-new'))).toBe(false);

      dpkg('--remove', 'skyhaul');
      expect(existsSync(join(root, 'usr/bin/skyhaul'))).toBe(false);
      expect(readFileSync(join(root, 'var/lib/skyhaul/buffer.sqlite'), 'utf8')).toBe('records');
      expect(existsSync(join(root, 'etc/skyhaul/skyhaul.yaml'))).toBe(true);
      // Masked while removed-not-purged, so nothing starts a unit whose binary is gone.
      expect(lstatSync(join(root, 'etc/systemd/system/skyhaul.service')).isSymbolicLink()).toBe(true);

      dpkg('--purge', 'skyhaul');
      expect(existsSync(join(root, 'var/lib/skyhaul'))).toBe(false);
      expect(existsSync(join(root, 'var/cache/skyhaul'))).toBe(false);
      expect(existsSync(join(root, 'etc/skyhaul'))).toBe(false);
      expect(existsSync(join(root, 'etc/systemd/system/skyhaul.service'))).toBe(false);
      expect(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants/skyhaul.service'))).toBe(false);
      expect(hostSnapshot()).toBe(before);
    });
  });
});

describe('tarball and install.sh', () => {
  let unpacked = '';

  beforeAll(() => {
    const dir = tempDir('skyhaul-tarball-');
    ok('tar', ['-xzf', tarball.file, '-C', dir]);
    unpacked = join(dir, tarball.top);
  });

  it('holds the binary, units, snippets, the template and the example, and install.sh', () => {
    const listing = ok('tar', ['-tvzf', tarball.file]);
    for (const path of ['bin/skyhaul', 'systemd/skyhaul.service', 'systemd/skyhaul-pulsar.service', 'sysusers.d/skyhaul.conf', 'tmpfiles.d/skyhaul.conf', 'sysctl.d/60-skyhaul.conf', 'config/skyhaul.yaml', 'config/skyhaul-pulsar.conf', 'config/skyhaul.example.yaml', 'install.sh', 'README.md']) {
      expect(listing, path).toMatch(new RegExp(`^\\S+ 0/0 .* ${tarball.top}/${path.replace(/\./g, '\\.')}$`, 'm'));
    }
    expect(mode(join(unpacked, 'bin/skyhaul'))).toBe(0o755);
    expect(mode(join(unpacked, 'install.sh'))).toBe(0o755);
    expect(ok(join(unpacked, 'bin/skyhaul'), ['version']).trim()).toBe(`skyhaul ${VERSION}`);
  });

  it('--dry-run prints every step and changes nothing', () => {
    const root = tempDir('skyhaul-install-');
    const out = ok(join(unpacked, 'install.sh'), ['--root', root, '--prefix', '/opt/skyhaul', '--dry-run']);
    expect(out).toContain(`+ install -m 0755 ${join(unpacked, 'bin/skyhaul')} ${root}/opt/skyhaul/bin/skyhaul`);
    expect(out).toMatch(/\+ (systemd-sysusers|useradd) /);
    expect(readdirSync(root)).toEqual([]);
  });

  it('installs under --prefix, rewrites ExecStart, creates the account, keeps an existing configuration, and is idempotent', () => {
    const root = tempDir('skyhaul-install-');
    ok(join(unpacked, 'install.sh'), ['--root', root, '--prefix', '/opt/skyhaul']);
    const binary = join(root, 'opt/skyhaul/bin/skyhaul');
    expect([statSync(binary).uid, mode(binary)]).toEqual([0, 0o755]);
    const unit = readFileSync(join(root, 'etc/systemd/system/skyhaul.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/opt\/skyhaul\/bin\/skyhaul run --config \/etc\/skyhaul\/skyhaul\.yaml$/m);
    expect(unit).not.toContain('/usr/bin/skyhaul');
    const gid = idIn(root, 'group', 'skyhaul');
    const config = join(root, 'etc/skyhaul/skyhaul.yaml');
    expect([statSync(config).uid, statSync(config).gid, mode(config)]).toEqual([0, gid, 0o640]);
    expect(statSync(join(root, 'var/lib/skyhaul')).uid).toBe(idIn(root, 'passwd', 'skyhaul'));
    expect(readFileSync(join(root, 'etc/sysctl.d/60-skyhaul.conf'), 'utf8')).toMatch(/^net\.core\.rmem_max = \d+$/m);
    expect(readFileSync(join(root, 'etc/skyhaul-pulsar/standalone.conf'), 'utf8')).toMatch(/^journalSyncData=true$/m);

    appendFileSync(config, 'site: { id: mine }\n');
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const second = ok(join(unpacked, 'install.sh'), ['--root', root, '--prefix', '/opt/skyhaul']);
    expect(second).toContain(`= keeping ${config}`);
    expect(readFileSync(config, 'utf8')).toContain('site: { id: mine }');
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toBe(passwd);

    // The rewritten unit is still a valid unit.
    cpSync(['/lib/systemd/system', '/usr/lib/systemd/system'].find((d) => existsSync(join(d, 'multi-user.target')))!, join(root, 'usr/lib/systemd/system'), { recursive: true });
    for (const stub of ['bin/kill', 'sbin/modprobe']) {
      mkdirSync(dirname(join(root, stub)), { recursive: true });
      writeFileSync(join(root, stub), '#!/bin/sh\n');
      chmodSync(join(root, stub), 0o755);
    }
    const verify = run('systemd-analyze', ['verify', `--root=${root}`, 'etc/systemd/system/skyhaul.service']);
    expect(verify.stderr + verify.stdout).toBe('');
    expect(verify.status).toBe(0);
  });

  it('refuses unknown options and a relative prefix', () => {
    expect(run(join(unpacked, 'install.sh'), ['--bogus']).status).toBe(2);
    expect(run(join(unpacked, 'install.sh'), ['--prefix', 'relative', '--dry-run']).status).toBe(2);
  });
});

describe('example configuration (packaging/example-config.ts)', () => {
  interface SchemaNode {
    properties?: Record<string, SchemaNode>;
    default?: unknown;
    oneOf?: unknown;
  }

  /** Every setting reachable through objects (lists' entries are documented as comments). */
  function settings(node: SchemaNode, path: string[] = []): Array<{ path: string[]; hasDefault: boolean }> {
    return Object.entries(node.properties ?? {}).flatMap(([key, child]) =>
      child.properties !== undefined && child.oneOf === undefined ? settings(child, [...path, key]) : [{ path: [...path, key], hasDefault: child.default !== undefined }],
    );
  }

  it('config/skyhaul.example.yaml is what the schema generates now (run `npm run package:config` if not)', () => {
    expect(readFileSync(EXAMPLE_CONFIG, 'utf8')).toBe(renderConfig('example'));
  });

  it('is a valid configuration whose every value is the default the daemon would use anyway', () => {
    const text = readFileSync(EXAMPLE_CONFIG, 'utf8');
    const file = join(repoRoot, 'config', 'skyhaul.example.yaml');
    const example = parseConfig(text, file, {});
    const minimal = parseConfig('site: { id: example-site }\n', file, {});
    expect(example).toEqual(minimal);
  });

  it('shows every setting: defaults set, the others commented out with their description', () => {
    const text = readFileSync(EXAMPLE_CONFIG, 'utf8');
    const raw = parse(text) as Record<string, unknown>;
    for (const { path, hasDefault } of settings(configSchema as unknown as SchemaNode)) {
      let node: unknown = raw;
      for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key];
      if (hasDefault) expect(node, path.join('.')).not.toBeUndefined();
      else if (node === undefined) expect(text, path.join('.')).toMatch(new RegExp(`^\\s*# ${path.at(-1)}:`, 'm'));
    }
    // Descriptions come along: one from the schema, checked verbatim.
    expect(text).toContain(`# ${configSchema.properties.dataDir.description}`);
  });

  it('the packaged template is refused for the one reason that site.id is missing, and valid once it is set', () => {
    const template = renderConfig('template');
    let error: unknown;
    try {
      parseConfig(template, '/etc/skyhaul/skyhaul.yaml', {});
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.objectContaining({ path: 'site', message: 'required but missing' })]);
    const configured = parseConfig(`${template}site:\n  id: my-site\n`, '/etc/skyhaul/skyhaul.yaml', {});
    expect(configured.dataDir).toBe('/var/lib/skyhaul');
    expect(configured).toEqual(parseConfig('site: { id: my-site }\ndataDir: /var/lib/skyhaul\n', '/etc/skyhaul/skyhaul.yaml', {}));
  });
});
