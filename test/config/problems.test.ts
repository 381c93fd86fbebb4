/**
 * One problem per real mistake: the input's `type` selects the form its keys are checked
 * against, a failed anyOf (durations, sizes, nullable values) is one problem saying what was
 * expected and what was found, and each problem names its path and line.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, type ConfigProblem } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import * as inputSchemas from '../../src/inputs/schemas.ts';

const here = dirname(fileURLToPath(import.meta.url));
const FILE = '/etc/skyhaul/skyhaul.yaml';
const KNOWN_TYPES = Object.values(inputSchemas).map((s) => s.type).sort();

function problems(text: string, env: NodeJS.ProcessEnv = {}): ConfigProblem[] {
  try {
    parseConfig(text, FILE, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** The first input of a transport's sample.yaml, as a one-line YAML flow mapping. */
function sampleInput(type: string): Record<string, unknown> {
  const text = readFileSync(join(here, '../../src/inputs', type, 'sample.yaml'), 'utf8');
  return parseConfig(`site: { id: a }\n${text}`, 'sample.yaml', {}).inputs[0] as unknown as Record<string, unknown>;
}

describe('field report: a stray key in an http input', () => {
  it('is exactly one problem, inputs[0].tag_prefix, on its line (9)', () => {
    const text = readFileSync(join(here, 'fixtures', 'config-stray-key-in-input.yaml'), 'utf8');
    expect(problems(text)).toEqual([
      { path: 'inputs[0].tag_prefix', line: 9, message: "unknown key 'tag_prefix'; expected one of: type, name, token, maxRecordsPerRequest, maxRequestSize" },
    ]);
  });
});

describe('inputs are checked against the form their type selects', () => {
  it.each(KNOWN_TYPES)('a stray key in a %s input is one problem listing that type’s keys only', (type) => {
    const input = { ...sampleInput(type), tag_prefix: 'x' };
    const own = ['type', 'name', ...Object.keys(inputSchemas[type as keyof typeof inputSchemas].options.properties)];
    const found = problems(`site: { id: a }\ninputs:\n  - ${JSON.stringify(input)}\n`);
    expect(found).toEqual([{ path: 'inputs[0].tag_prefix', line: 3, message: `unknown key 'tag_prefix'; expected one of: ${own.join(', ')}` }]);
  });

  it('a required key missing from a udp input is that one problem, not one per other type', () => {
    expect(problems('site: { id: a }\ninputs:\n  - type: udp\n    name: wind\n    adapter: gill-windsonic\n')).toEqual([
      { path: 'inputs[0].port', line: 3, message: 'required but missing' },
    ]);
  });

  it('an unknown type is one problem, on the type line, listing the known types', () => {
    const found = problems('site: { id: a }\ninputs:\n  - name: push\n    type: htp\n    token: x\n');
    expect(found).toEqual([{ path: 'inputs[0].type', line: 4, message: `expected one of: ${KNOWN_TYPES.join(', ')}, found "htp"` }]);
    expect(KNOWN_TYPES).toEqual(expect.arrayContaining(['synthetic', 'http', 'serial', 'mqtt', 'udp', 'tcp']));
  });

  it('a missing or non-text type is one problem listing the known types', () => {
    expect(problems('site: { id: a }\ninputs:\n  - { name: push, port: 5 }\n')).toEqual([
      { path: 'inputs[0].type', line: 3, message: `required but missing; expected one of: ${KNOWN_TYPES.join(', ')}` },
    ]);
    expect(problems('site: { id: a }\ninputs:\n  - { type: 5, name: push }\n')).toEqual([
      { path: 'inputs[0].type', line: 3, message: `expected one of: ${KNOWN_TYPES.join(', ')}, found number 5` },
    ]);
  });

  it('fills defaults inside the selected form, nested ones included', () => {
    const config = parseConfig(
      [
        'site: { id: a }',
        'inputs:',
        '  - { type: serial, name: s, path: /dev/ttyUSB0, adapter: nmea0183 }',
        '  - { type: mqtt, name: m, url: "mqtt://b", tls: { caFile: /ca.pem }, subscriptions: [{ topic: "a/#", instrument: a, adapter: json-lines }] }',
        '  - { type: udp, name: u, port: 5005, adapter: gill-windsonic }',
        '  - { type: tcp, name: t, host: h, port: 10001, adapter: unihedron-sqm }',
        '  - { type: synthetic, name: d }',
        '  - { type: http, name: h }',
      ].join('\n'),
      FILE,
      {},
    );
    expect(config.inputs).toEqual([
      { type: 'serial', name: 's', path: '/dev/ttyUSB0', adapter: 'nmea0183', baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1, flowControl: 'none', adapterOptions: {}, backoff: { initial: '500ms', max: '30s' } },
      {
        type: 'mqtt',
        name: 'm',
        url: 'mqtt://b',
        tls: { caFile: '/ca.pem', allowInsecure: false },
        keepalive: 30,
        reconnect: '2s',
        subscriptions: [{ topic: 'a/#', instrument: 'a', adapter: 'json-lines', adapterOptions: {} }],
      },
      { type: 'udp', name: 'u', port: 5005, adapter: 'gill-windsonic', bind: '0.0.0.0', maxDatagramBytes: 65507, receiveBuffer: '16MiB', senders: {}, onlyListedSenders: false, journal: true, adapterOptions: {} },
      { type: 'tcp', name: 't', host: 'h', port: 10001, adapter: 'unihedron-sqm', connectTimeout: '10s', adapterOptions: {}, backoff: { initial: '500ms', max: '30s' } },
      { type: 'synthetic', name: 'd', profile: 'small', rateScale: 1 },
      { type: 'http', name: 'h', maxRecordsPerRequest: 5000, maxRequestSize: '8MiB' },
    ]);
  });
});

describe('durations, sizes and nullable values', () => {
  const DURATION = /^expected a duration: milliseconds, or a string such as "250ms", .*"7d"/;
  const SIZE = /^expected a size: bytes, or a string such as "512KiB", .*"500MB"/;

  it.each([
    ['a size', 'buffer:\n  quota: lots\n', 'buffer.quota', 3, SIZE, 'found "lots"'],
    ['a negative size', 'buffer:\n  quota: -5\n', 'buffer.quota', 3, SIZE, 'found number -5'],
    ['a duration', 'forward:\n  sendTimeout: 30 seconds\n', 'forward.sendTimeout', 3, DURATION, 'found "30 seconds"'],
    ['a nullable duration', 'streams:\n  - match: "wx/**"\n    ttl: 7days\n', 'streams[0].ttl', 4, /^expected a duration: .*, or null, found "7days"$/, 'found "7days"'],
    ['a nullable size given a mapping', 'alarms:\n  diskFree: { GiB: 1 }\n', 'alarms.diskFree', 3, /^expected a size: .*, or null, found a mapping$/, 'found a mapping'],
    ['a size in a list entry', 'forward:\n  bandwidth:\n    schedule:\n      - { from: "20:00", to: "06:00", limit: fast }\n', 'forward.bandwidth.schedule[0].limit', 5, SIZE, 'found "fast"'],
    ['a duration inside an input', 'inputs:\n  - type: tcp\n    name: sqm\n    host: h\n    port: 10001\n    adapter: unihedron-sqm\n    backoff: { initial: soon }\n', 'inputs[0].backoff.initial', 8, DURATION, 'found "soon"'],
    ['a size inside an input', 'inputs:\n  - { type: udp, name: u, port: 5005, adapter: gill-windsonic,\n      receiveBuffer: 16 megs }\n', 'inputs[0].receiveBuffer', 4, SIZE, 'found "16 megs"'],
    ['a nullable text', 'forward:\n  url: 8080\n', 'forward.url', 3, /^expected string or null, found number 8080$/, 'found number 8080'],
  ])('%s: one problem with path, line, expected form and found value', (_what, body, path, line, expected, found) => {
    const list = problems(`site: { id: a }\n${body}`);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ path, line });
    expect(list[0]!.message).toMatch(expected);
    expect(list[0]!.message.endsWith(found)).toBe(true);
  });
});

describe('forwarding transport and URLs', () => {
  it.each([
    ['binary without a serviceUrl', 'forward:\n  url: http://p:8080\n  transport: binary\n', /^required with forward.transport binary \(pulsar:\/\/host:port/],
    ['native without a serviceUrl', 'forward:\n  url: http://p:8080\n  transport: native\n', /^required with forward.transport native/],
    ['a serviceUrl of the wrong scheme', 'forward:\n  url: http://p:8080\n  serviceUrl: http://p:6650\n', /^expected pulsar:\/\/host:port or pulsar\+ssl:\/\/host:port, found "http:\/\/p:6650"$/],
    ['a serviceUrl without a port', 'forward:\n  url: http://p:8080\n  serviceUrl: pulsar://p\n', /found "pulsar:\/\/p"$/],
  ])('%s: one problem on forward.serviceUrl', (_what, body, expected) => {
    const list = problems(`site: { id: a }\n${body}`);
    expect(list).toHaveLength(1);
    expect(list[0]!.path).toBe('forward.serviceUrl');
    expect(list[0]!.message).toMatch(expected);
  });

  it('binary with pulsar+ssl:// is accepted', () => {
    const config = parseConfig('site: { id: a }\nforward:\n  url: https://p:8443\n  serviceUrl: pulsar+ssl://p:6651\n  transport: binary\n', FILE, {});
    expect(config.forward).toMatchObject({ transport: 'binary', serviceUrl: 'pulsar+ssl://p:6651' });
  });
});

describe('environment overrides', () => {
  it('a bad value from SKYHAUL_<PATH> names the variable instead of a line of the file', () => {
    const found = problems('site: { id: a }\nhttp:\n  port: 9000\n', { SKYHAUL_HTTP_PORT: 'eighty', SKYHAUL_ALARMS_LINK_DOWN: 'soon' });
    expect(found).toHaveLength(2);
    expect(found).toEqual(
      expect.arrayContaining([
        { path: 'alarms.linkDown', line: null, message: expect.stringMatching(/^expected a duration: .*, or null, found "soon" \(set by SKYHAUL_ALARMS_LINK_DOWN\)$/) },
        { path: 'http.port', line: null, message: 'expected integer, found "eighty" (set by SKYHAUL_HTTP_PORT)' },
      ]),
    );
  });
});

describe('several mistakes at once', () => {
  it('reports each once, in file order, with its own line', () => {
    const found = problems(
      [
        'site: { id: a }', //                               1
        'buffer:', //                                       2
        '  quota: lots', //                                 3  bad size
        'inputs:', //                                       4
        '  - type: serial', //                              5
        '    name: gps', //                                 6
        '    path: /dev/ttyUSB0', //                        7
        '    adapter: nmea0183', //                         8
        '    baud: 4800', //                                9  stray key
        '  - { type: serail, name: wx, path: /dev/x }', // 10  unknown type
        '  - type: udp', //                                11
        '    name: wind', //                                12  port missing
        '    adapter: gill-windsonic', //                   13
        '    receiveBuffer: big', //                        14 bad size
        '  - { type: tcp, name: ups, host: h, port: 3493, adapter: nut-ups }', // 15 unknown adapter
        '  - { type: tcp, name: sqm, host: h, port: 10001, connectTimeout: soon, adapter: unihedron-sqm, extra: 1 }', // 16 two
      ].join('\n'),
    );
    expect(found.map((p) => [p.path, p.line])).toEqual([
      ['buffer.quota', 3],
      ['inputs[0].baud', 9],
      ['inputs[1].type', 10],
      ['inputs[2].port', 11],
      ['inputs[2].receiveBuffer', 14],
      ['inputs[3].adapter', 15],
      ['inputs[4].connectTimeout', 16],
      ['inputs[4].extra', 16],
    ]);
    expect(found.find((p) => p.path === 'inputs[3].adapter')!.message).toMatch(/unknown adapter 'nut-ups'/);
  });

  it('the same mistake in several list entries is one problem per entry', () => {
    const found = problems('site: { id: a }\nstreams:\n  - { match: a, ttl: 1 week }\n  - { match: b, ttl: 7d }\n  - { match: c, ttl: 2 weeks, expectedInterval: often }\n');
    expect(found.map((p) => [p.path, p.line])).toEqual([
      ['streams[0].ttl', 3],
      ['streams[2].ttl', 5],
      ['streams[2].expectedInterval', 5],
    ]);
  });
});

interface Node {
  properties?: Record<string, Node>;
  items?: Node;
  anyOf?: Node[];
  oneOf?: Node[];
  discriminator?: unknown;
  additionalProperties?: unknown;
}

describe('the schema keeps the forms these messages rely on', () => {
  it('every oneOf has a discriminator, and every anyOf branch is a scalar form', () => {
    // A failed anyOf is reported as one problem standing for its branches' errors: that hides
    // nothing only while no branch has keys or entries of its own to be wrong about.
    const seen = { oneOf: 0, anyOf: 0 };
    const walk = (node: Node, path: string): void => {
      if (node.oneOf !== undefined) {
        seen.oneOf += 1;
        expect(node.discriminator, path).toBeDefined();
      }
      if (node.anyOf !== undefined) {
        seen.anyOf += 1;
        for (const branch of node.anyOf) expect(branch.properties === undefined && branch.items === undefined && branch.oneOf === undefined, path).toBe(true);
      }
      for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, `${path}.${key}`);
      if (node.items !== undefined) walk(node.items, `${path}[]`);
      for (const branch of [...(node.oneOf ?? []), ...(node.anyOf ?? [])]) walk(branch, path);
      if (typeof node.additionalProperties === 'object') walk(node.additionalProperties as Node, `${path}.*`);
    };
    walk(configSchema as unknown as Node, '');
    expect(seen.oneOf).toBeGreaterThan(0);
    expect(seen.anyOf).toBeGreaterThan(5);
  });
});
