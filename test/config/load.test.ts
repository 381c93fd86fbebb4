import { describe, expect, it } from 'vitest';
import { ConfigError, envOverrides, parseConfig } from '../../src/config/load.ts';
import { globToRegExp, streamResolver } from '../../src/config/streams.ts';

function problems(text: string, env: NodeJS.ProcessEnv = {}): ConfigError['problems'] {
  try {
    parseConfig(text, '/etc/skyhaul/skyhaul.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('fills defaults and normalises units', () => {
    const config = parseConfig('site:\n  id: cerro-01\nforward:\n  url: http://pulsar.site:8080\n  deadLinkTimeout: 10s\n', '/etc/skyhaul/skyhaul.yaml', {});
    expect(config.buffer.synchronous).toBe('FULL');
    expect(config.buffer.quotaBytes).toBe(1024 ** 3);
    expect(config.buffer.policies).toEqual({ alarm: 'block', control: 'block', telemetry: 'drop-oldest', bulk: 'drop-oldest' });
    expect(config.buffer.path).toBe('/etc/skyhaul/data/buffer.sqlite');
    expect(config.forward.deadLinkTimeoutMs).toBe(10_000);
    expect(config.forward.backoff).toEqual({ initialMs: 250, maxMs: 30_000 });
    expect(config.http).toMatchObject({ bind: '127.0.0.1', port: 9880 });
  });

  it('reports every problem at once, each with its path and line', () => {
    const found = problems(
      [
        'site:', //              1
        '  id: Cerro_01', //     2  bad pattern
        'buffer:', //            3
        '  synchronous: FAST', // 4  not in enum
        '  quota: lots', //      5  not a size
        'forward:', //           6
        '  windw: {}', //        7  unknown key
        'inputs:', //            8
        '  - type: synthetic', // 9
        '    name: demo', //    10
        '    rateScale: fast', // 11 wrong type
      ].join('\n'),
    );
    const byPath = Object.fromEntries(found.map((p) => [p.path, p]));
    expect(byPath['site.id']).toMatchObject({ line: 2 });
    expect(byPath['buffer.synchronous']).toMatchObject({ line: 4 });
    expect(byPath['buffer.synchronous']!.message).toMatch(/"FULL".*found "FAST"/);
    expect(byPath['buffer.quota']).toMatchObject({ line: 5 });
    expect(byPath['buffer.quota']!.message).toMatch(/expected a size.*found "lots"/);
    expect(byPath['forward.windw']).toMatchObject({ line: 7 });
    expect(byPath['forward.windw']!.message).toMatch(/unknown key 'windw'; expected one of: .*window/);
    expect(byPath['inputs[0]']?.line ?? byPath['inputs[0].rateScale']?.line).toBeGreaterThanOrEqual(9);
  });

  it('names a missing required key and bad YAML with its line', () => {
    expect(problems('logging:\n  level: info\n')).toContainEqual(expect.objectContaining({ path: 'site', message: 'required but missing' }));
    const yamlProblems = problems('site:\n  id: a\n  id: b\n');
    expect(yamlProblems[0]!.message).toMatch(/bad YAML/);
    expect(yamlProblems[0]!.line).toBe(3);
  });

  it('applies SKYHAUL_<PATH> environment overrides derived from the schema', () => {
    expect(envOverrides().get('SKYHAUL_FORWARD_DEAD_LINK_TIMEOUT')).toEqual(['forward', 'deadLinkTimeout']);
    const config = parseConfig('site:\n  id: cerro-01\n', 'x.yaml', {
      SKYHAUL_FORWARD_URL: 'http://10.0.0.5:8080',
      SKYHAUL_BUFFER_SYNCHRONOUS: 'NORMAL',
      SKYHAUL_HTTP_PORT: '9999',
    });
    expect(config.forward.url).toBe('http://10.0.0.5:8080');
    expect(config.buffer.synchronous).toBe('NORMAL');
    expect(config.http.port).toBe(9999);
    expect(problems('site:\n  id: cerro-01\n', { SKYHAUL_HTTP_PORT: 'eighty' })[0]).toMatchObject({ path: 'http.port' });
  });

  it('refuses a disk watchdog without hysteresis', () => {
    expect(problems('site: { id: a }\nbuffer:\n  disk: { minFree: 1GiB, resumeFree: 512MiB }\n')[0]!.path).toBe('buffer.disk.resumeFree');
  });
});

describe('stream rules', () => {
  it('matches globs: * within a segment, ** across', () => {
    expect(globToRegExp('weather/*').test('weather/wxt536')).toBe(true);
    expect(globToRegExp('weather/*').test('weather/a/b')).toBe(false);
    expect(globToRegExp('*/alarms/**').test('demo/alarms/site/x')).toBe(true);
    expect(globToRegExp('a.b').test('aXb')).toBe(false);
  });

  it('takes the first matching rule, telemetry by default', () => {
    const resolve = streamResolver([
      { match: 'alarms/**', priority: 'alarm', ttlMs: null, expectedIntervalMs: null },
      { match: '**', priority: 'bulk', ttlMs: 1000, expectedIntervalMs: null },
    ]);
    expect(resolve('alarms/dome').priority).toBe('alarm');
    expect(resolve('mount/x')).toMatchObject({ priority: 'bulk', ttlMs: 1000 });
    expect(streamResolver([])('x').priority).toBe('telemetry');
  });
});
