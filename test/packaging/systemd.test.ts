/**
 * The unit files, sysusers.d and tmpfiles.d snippets in systemd/, checked by systemd's own tools
 * offline (no systemd as PID 1 needed): `systemd-analyze verify` in a scratch root that has the
 * ExecStart= programs (stubs) and the host's unit directory (for the targets), failing on any
 * warning; `systemd-analyze security --offline`; sysusers and tmpfiles applied to a scratch root.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianPackages, repoRoot } from '../../packaging/dev-stack/stack.ts';
import { parseConfig } from '../../src/config/load.ts';
import { parseBytes } from '../../lib/schema-config/units.ts';
import { centralEnvOverrides, parseCentralConfig } from '../../central/src/config/load.ts';

const UNITS = ['skyhaul.service', 'skyhaul-pulsar.service', 'skyhaul-central@.service'];
/** Templates are checked through their instances (systemd-analyze verify skips a bare template's body). */
const CENTRAL_INSTANCES = ['skyhaul-central@registry.service', 'skyhaul-central@bridge.service', 'skyhaul-central@etl.service', 'skyhaul-central@archive.service', 'skyhaul-central@governance.service'];
/** Drop-ins shipped for one instance: `<instance>.d/<file>`. */
const DROP_INS = ['skyhaul-central@governance.service.d/governance.conf'];
const VERIFIED = [...UNITS.filter((u) => !u.endsWith('@.service')), ...CENTRAL_INSTANCES];
const systemdDir = join(repoRoot, 'systemd');
const dirs: string[] = [];
let root = '';

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function unitText(name: string): string {
  return readFileSync(join(systemdDir, name), 'utf8');
}

/** `Key=value` lines of a unit (continuations joined), repeated keys kept in order. */
function directives(text: string): Array<[string, string]> {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('['))
    .map((line) => {
      const eq = line.indexOf('=');
      return [line.slice(0, eq), line.slice(eq + 1)] as [string, string];
    });
}

function values(text: string, key: string): string[] {
  return directives(text)
    .filter(([k]) => k === key)
    .map(([, v]) => v);
}

/** Every absolute program a unit's Exec*= lines run (prefixes such as '+-' stripped). */
function programs(text: string): string[] {
  return directives(text)
    .filter(([k]) => k.startsWith('Exec'))
    .map(([, v]) => v.replace(/^[-+@!:]+/, '').split(/\s+/)[0]!);
}

function analyze(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A root with the units installed as the .deb installs them, and stubs for their programs. */
function scratchRoot(): string {
  const dir = tempDir('skyhaul-units-');
  // Targets, sockets and the rest of the dependency graph: the host's own units.
  const hostUnits = ['/lib/systemd/system', '/usr/lib/systemd/system'].find((d) => existsSync(join(d, 'multi-user.target')));
  if (hostUnits === undefined) throw new Error('no systemd unit directory on this host (apt-get install systemd)');
  cpSync(hostUnits, join(dir, 'usr/lib/systemd/system'), { recursive: true, dereference: false });
  mkdirSync(join(dir, 'etc/systemd/system'), { recursive: true });
  for (const unit of UNITS) {
    cpSync(join(systemdDir, unit), join(dir, 'etc/systemd/system', unit));
    for (const program of programs(unitText(unit))) {
      const stub = join(dir, program);
      mkdirSync(dirname(stub), { recursive: true });
      writeFileSync(stub, '#!/bin/sh\nexit 0\n');
      chmodSync(stub, 0o755);
    }
  }
  for (const instance of CENTRAL_INSTANCES) symlinkSync('skyhaul-central@.service', join(dir, 'etc/systemd/system', instance));
  for (const dropIn of DROP_INS) {
    mkdirSync(join(dir, 'etc/systemd/system', dirname(dropIn)), { recursive: true });
    cpSync(join(systemdDir, dropIn), join(dir, 'etc/systemd/system', dropIn));
  }
  return dir;
}

beforeAll(() => {
  // systemd's offline tools (no systemd as PID 1 needed); installed when missing and root.
  ensureDebianPackages({ 'systemd-analyze': 'systemd', 'systemd-sysusers': 'systemd', 'systemd-tmpfiles': 'systemd' });
  root = scratchRoot();
}, 600_000);

describe('systemd units', () => {
  it.each(VERIFIED)('%s passes systemd-analyze verify with no warning at all', (unit) => {
    const result = analyze(['verify', `--root=${root}`, `etc/systemd/system/${unit}`]);
    expect(result.stderr + result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  it('the check fails on a misspelt directive, a bad value, or a missing program (it can fail)', () => {
    const bad = [
      ['bad-key.service', unitText('skyhaul.service').replace('ProtectSystem=strict', 'ProtectSytem=strict')],
      ['bad-value.service', unitText('skyhaul.service').replace('DevicePolicy=closed', 'DevicePolicy=clsd')],
      ['bad-exec.service', unitText('skyhaul.service').replace('ExecStart=/usr/bin/skyhaul', 'ExecStart=/usr/bin/skyhaul-missing')],
      ['bad-central@x.service', unitText('skyhaul-central@.service').replace('ProtectSystem=strict', 'ProtectSytem=strict')],
    ];
    for (const [name, text] of bad) {
      writeFileSync(join(root, 'etc/systemd/system', name!), text!);
      const result = analyze(['verify', `--root=${root}`, `etc/systemd/system/${name}`]);
      expect(result.stderr + result.stdout, name).not.toBe('');
      rmSync(join(root, 'etc/systemd/system', name!));
    }
  });

  it('skyhaul.service: Type=notify with the watchdog, the account, the directories and the command the issue asks for', () => {
    const text = unitText('skyhaul.service');
    const one = (key: string): string | undefined => values(text, key).at(-1);
    expect(one('Type')).toBe('notify');
    // systemd-notify sends on the daemon's behalf (src/systemd/notify.ts).
    expect(one('NotifyAccess')).toBe('all');
    expect(Number.parseInt(one('WatchdogSec') ?? '', 10)).toBeGreaterThan(0);
    expect(one('ExecStart')).toBe('/usr/bin/skyhaul run --config /etc/skyhaul/skyhaul.yaml');
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe('2');
    expect(one('TimeoutStopSec')).toBe('30s');
    expect(one('User')).toBe('skyhaul');
    expect(one('SupplementaryGroups')).toBe('dialout');
    expect(one('StateDirectory')).toBe('skyhaul');
    expect(one('ConfigurationDirectory')).toBe('skyhaul');
    expect(one('CacheDirectory')).toBe('skyhaul');
    for (const [key, value] of [
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['NoNewPrivileges', 'yes'],
      ['PrivateTmp', 'yes'],
      ['ProtectKernelTunables', 'yes'],
      ['ProtectControlGroups', 'yes'],
      ['LockPersonality', 'yes'],
      ['RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6 AF_NETLINK'],
    ]) {
      expect(one(key!), key).toBe(value);
    }
  });

  it('skyhaul.service never sets what would break V8 or the serial ports, and says why', () => {
    const text = unitText('skyhaul.service');
    const keys = new Set(directives(text).map(([k]) => k));
    // V8's JIT needs writable+executable memory; PrivateDevices hides /dev/tty*; PrivateUsers
    // maps the dialout group away.
    for (const key of ['MemoryDenyWriteExecute', 'PrivateDevices', 'PrivateUsers']) expect(keys.has(key), key).toBe(false);
    expect(text).toMatch(/MemoryDenyWriteExecute=yes\s+V8 .*JIT/s);
    // Serial ports stay reachable under the closed device policy.
    expect(values(text, 'DevicePolicy')).toEqual(['closed']);
    const allowed = values(text, 'DeviceAllow');
    for (const group of ['ttyUSB', 'ttyACM', 'ttyS', 'ttyAMA']) expect(allowed, group).toContain(`char-${group} rw`);
    // The USB serial drivers are loaded before DeviceAllow= is resolved from /proc/devices.
    expect(values(text, 'ExecStartPre').some((v) => /modprobe .*usbserial.*cdc_acm/.test(v))).toBe(true);
  });

  it('skyhaul.service scores "OK" or better in systemd-analyze security', () => {
    const result = analyze(['security', '--offline=true', `--root=${root}`, 'etc/systemd/system/skyhaul.service']);
    const match = /Overall exposure level for skyhaul\.service: (\d+(?:\.\d+)?)/.exec(result.stdout);
    expect(match, result.stdout + result.stderr).not.toBeNull();
    const exposure = Number(match![1]);
    console.log(`systemd-analyze security: skyhaul.service exposure ${exposure}`);
    expect(exposure).toBeLessThanOrEqual(3);
  });

  it('skyhaul-central@.service runs one central service per instance on the shared file, stateless and sandboxed (exposure "OK" or better)', () => {
    const text = unitText('skyhaul-central@.service');
    const one = (key: string): string | undefined => values(text, key).at(-1);
    expect(one('ExecStart')).toBe('/usr/bin/skyhaul-central %i --config /etc/skyhaul-central/central.yaml');
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe('2');
    expect(one('DynamicUser')).toBe('yes');
    expect(one('ConfigurationDirectory')).toBe('skyhaul-central');
    expect(directives(text).some(([k]) => k === 'MemoryDenyWriteExecute')).toBe(false);
    for (const instance of CENTRAL_INSTANCES) {
      const result = analyze(['security', '--offline=true', `--root=${root}`, instance]);
      const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(result.stdout);
      expect(match, result.stdout + result.stderr).not.toBeNull();
      console.log(`systemd-analyze security: ${instance} exposure ${match![1]}`);
      expect(Number(match![1])).toBeLessThanOrEqual(2);
    }
  });

  it('skyhaul-central@governance.service: its drop-in is read, and hands the RabbitMQ password over as a credential the config loader reads', () => {
    const dropIn = readFileSync(join(systemdDir, DROP_INS[0]!), 'utf8');
    expect(values(dropIn, 'LoadCredential')).toEqual(['rabbitmq-password:/etc/skyhaul-central/rabbitmq-governance.password']);
    expect(values(dropIn, 'Environment')).toEqual(['SKYHAUL_CENTRAL_GOVERNANCE_AMQP_PASSWORD_FILE=%d/rabbitmq-password']);
    const bad = join(root, 'etc/systemd/system/skyhaul-central@governance.service.d/zz-bad.conf');
    writeFileSync(bad, '[Service]\nLoadCredentail=x:/y\n');
    const broken = analyze(['verify', `--root=${root}`, 'etc/systemd/system/skyhaul-central@governance.service']);
    rmSync(bad);
    // The check sees drop-ins: a misspelt directive in one is reported (so the clean run above means something).
    expect(broken.stderr + broken.stdout).toMatch(/LoadCredentail/);
    // The variable is the override of governance.amqp.passwordFile; %d is the credentials directory.
    expect(centralEnvOverrides().get('SKYHAUL_CENTRAL_GOVERNANCE_AMQP_PASSWORD_FILE')).toEqual(['governance', 'amqp', 'passwordFile']);
    const credentials = tempDir('skyhaul-credentials-');
    writeFileSync(join(credentials, 'rabbitmq-password'), 's3cret\n');
    const config = parseCentralConfig('governance: { amqp: { url: "amqp://governance@rabbitmq:5672/skyhaul" } }\n', 'central.yaml', {
      SKYHAUL_CENTRAL_GOVERNANCE_AMQP_PASSWORD_FILE: join(credentials, 'rabbitmq-password'),
    });
    expect(config.governance.amqp.password).toBe('s3cret');
    // Every other service loads the same file without that variable, and needs no such file.
    expect(parseCentralConfig('governance: { amqp: { url: "amqp://governance@rabbitmq:5672/skyhaul" } }\n', 'central.yaml', {}).governance.amqp.password).toBeUndefined();
  });

  it('skyhaul-pulsar.service runs bin/pulsar standalone with absolute data paths, skipped when Pulsar is not installed', () => {
    const text = unitText('skyhaul-pulsar.service');
    const exec = values(text, 'ExecStart')[0]!;
    expect(exec).toMatch(/^\/opt\/pulsar\/bin\/pulsar standalone /);
    expect(exec).toContain('--metadata-dir /var/lib/skyhaul-pulsar/');
    expect(exec).toContain('--bookkeeper-dir /var/lib/skyhaul-pulsar/');
    expect(values(text, 'ConditionPathExists')).toEqual(['/opt/pulsar/bin/pulsar']);
    expect(values(text, 'Environment')).toContain('PULSAR_STANDALONE_CONF=/etc/skyhaul-pulsar/standalone.conf');
    expect(values(text, 'StateDirectory')).toEqual(['skyhaul-pulsar']);
    expect(directives(text).some(([k]) => k === 'MemoryDenyWriteExecute')).toBe(false);
  });

  it('sysctl.d raises net.core.rmem_max to at least the UDP input\'s default receive buffer', () => {
    const text = readFileSync(join(systemdDir, 'skyhaul.sysctl'), 'utf8');
    const settings = text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
    expect(settings).toEqual([expect.stringMatching(/^net\.core\.rmem_max = \d+$/)]);
    const rmemMax = Number(/= (\d+)/.exec(settings[0]!)![1]);
    const config = parseConfig('site: { id: s }\ninputs:\n  - { type: udp, name: u, port: 5000, adapter: json-lines }\n', 'test.yaml', {});
    const udp = config.inputs[0] as unknown as { receiveBuffer: string };
    expect(rmemMax).toBeGreaterThanOrEqual(parseBytes(udp.receiveBuffer));
  });

  it('sysusers.d creates skyhaul in group dialout, and tmpfiles.d its directories, in a scratch root', () => {
    const dir = tempDir('skyhaul-sysusers-');
    mkdirSync(join(dir, 'etc'), { recursive: true });
    mkdirSync(join(dir, 'usr/lib/sysusers.d'), { recursive: true });
    mkdirSync(join(dir, 'usr/lib/tmpfiles.d'), { recursive: true });
    cpSync(join(systemdDir, 'skyhaul.sysusers'), join(dir, 'usr/lib/sysusers.d/skyhaul.conf'));
    cpSync(join(systemdDir, 'skyhaul.tmpfiles'), join(dir, 'usr/lib/tmpfiles.d/skyhaul.conf'));
    const sysusers = spawnSync('systemd-sysusers', [`--root=${dir}`, 'skyhaul.conf'], { encoding: 'utf8' });
    expect(sysusers.status, sysusers.stderr).toBe(0);
    const passwd = readFileSync(join(dir, 'etc/passwd'), 'utf8');
    const group = readFileSync(join(dir, 'etc/group'), 'utf8');
    const user = /^skyhaul:x:(\d+):(\d+):[^:]*:\/var\/lib\/skyhaul:(\S+)$/m.exec(passwd);
    expect(user, passwd).not.toBeNull();
    expect(Number(user![1])).toBeLessThan(1000); // a system account
    expect(user![3]).toMatch(/nologin$/);
    expect(group).toMatch(/^dialout:x:\d+:(.*,)?skyhaul(,.*)?$/m);

    const tmpfiles = spawnSync('systemd-tmpfiles', ['--create', `--root=${dir}`, 'skyhaul.conf'], { encoding: 'utf8' });
    expect(tmpfiles.status, tmpfiles.stderr).toBe(0);
    for (const [path, mode] of [
      ['var/lib/skyhaul', 0o750],
      ['var/cache/skyhaul', 0o700],
    ] as const) {
      const stats = statSync(join(dir, path));
      expect(stats.isDirectory()).toBe(true);
      expect(stats.mode & 0o777, path).toBe(mode);
      expect(stats.uid, path).toBe(Number(user![1]));
      expect(stats.gid, path).toBe(Number(user![2]));
    }
  });
});
