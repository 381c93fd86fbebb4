/**
 * `skyhaul-central command ...`: the operators' command line, a client of the governance
 * service's REST API (./api.ts), and `skyhaul-central token`, which makes a token to configure.
 *
 *   skyhaul-central command --site cerro-01 bandwidth 64KiB       cap forwarding at 64 KiB/s
 *   skyhaul-central command --site cerro-01 bandwidth unlimited | schedule
 *   skyhaul-central command --site cerro-01 bandwidth windows 22:00-06:00=32KiB 06:00-22:00=unlimited [--default 1MiB]
 *   skyhaul-central command --site cerro-01 pause | resume | self-test | reload | status | ping
 *   skyhaul-central command --site cerro-01 replay weather/wxt536 1200 1300
 *   skyhaul-central command --site cerro-01 ack-alarm link_down
 *   skyhaul-central command --site cerro-01 <command> --params '{"...": ...}'
 *   skyhaul-central command show <id> [--wait 30s]
 *   skyhaul-central command list [--site S] [--limit N]
 *
 * Options: --url (default governance.url of the configuration, or $SKYHAUL_CENTRAL_GOVERNANCE_URL),
 * --token-file FILE (else $SKYHAUL_CENTRAL_TOKEN: never on the command line, where `ps` shows it),
 * --wait DURATION (default: the service's reply timeout), --ttl DURATION, --idempotency-key KEY
 * (default: a new random key, so that this invocation's own HTTP retries cannot run it twice),
 * --json.
 *
 * Exit codes: 0 done; 1 the command failed, expired or was refused; 2 usage; 3 the governance
 * service could not be reached or answered an error; 4 still on its way after --wait (the id is
 * printed: `command show <id>`).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseBytes } from '../../../lib/schema-config/units.ts';
import { COMMANDS, isCommandName, ROLES } from '../../../src/record/command.ts';
import { newToken } from './auth.ts';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export const COMMAND_USAGE = `usage: skyhaul-central command --site SITE <command> [args] [options]
       skyhaul-central command show ID [--wait D]    |    skyhaul-central command list [--site S] [--limit N]
commands: ${Object.keys(COMMANDS).join(', ')}
  bandwidth 64KiB | unlimited | schedule | windows HH:MM-HH:MM=RATE ... [--default RATE]
  replay STREAM FROM TO        ack-alarm CODE        <command> --params JSON
options: --url URL  --token-file FILE (else $SKYHAUL_CENTRAL_TOKEN)  --wait D  --ttl D  --idempotency-key K  --json
exit: 0 done, 1 failed/expired/refused, 2 usage, 3 service unreachable or error, 4 still on its way after --wait`;

class UsageError extends Error {}

/** A rate: a size per second ("64KiB", "1MB", a number of bytes), or unlimited. */
function rate(text: string): number | null {
  if (text === 'unlimited' || text === 'none') return null;
  const value = /^\d+$/.test(text) ? Number(text) : (() => {
    try {
      return parseBytes(text.replace(/\/s$/, ''));
    } catch {
      throw new UsageError(`'${text}' is not a rate: bytes per second such as 64KiB, 1MB, 20000, or 'unlimited'`);
    }
  })();
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`'${text}' is not a positive rate`);
  return value;
}

/** The params of `<command> args...` as the catalogue wants them. */
export function paramsFrom(command: string, args: string[], options: { params?: string | undefined; default?: string | undefined }): Record<string, unknown> {
  if (options.params !== undefined) {
    if (args.length > 0) throw new UsageError('give the parameters either as arguments or with --params, not both');
    try {
      const parsed = JSON.parse(options.params) as unknown;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
      return parsed as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--params: ${(error as Error).message}`);
    }
  }
  const none = (): Record<string, unknown> => {
    if (args.length > 0) throw new UsageError(`${command} takes no arguments (got '${args.join(' ')}')`);
    return {};
  };
  switch (command) {
    case 'bandwidth': {
      const [first, ...rest] = args;
      if (first === undefined) throw new UsageError('bandwidth needs a rate (64KiB), unlimited, schedule, or windows ...');
      if (first === 'schedule') return { bytesPerSecond: 'schedule' };
      if (first === 'windows') {
        if (rest.length === 0) throw new UsageError('bandwidth windows needs at least one HH:MM-HH:MM=RATE');
        const schedule = rest.map((w) => {
          const match = /^([0-2]\d:[0-5]\d)-([0-2]\d:[0-5]\d)=(.+)$/.exec(w);
          if (match === null) throw new UsageError(`'${w}' is not a window HH:MM-HH:MM=RATE`);
          return { from: match[1]!, to: match[2]!, bytesPerSecond: rate(match[3]!) };
        });
        return { schedule, ...(options.default === undefined ? {} : { default: rate(options.default) }) };
      }
      if (rest.length > 0) throw new UsageError(`bandwidth takes one rate (got '${args.join(' ')}')`);
      return { bytesPerSecond: rate(first) };
    }
    case 'replay': {
      const [stream, from, to, ...rest] = args;
      if (stream === undefined || from === undefined || to === undefined || rest.length > 0 || !/^\d+$/.test(from) || !/^\d+$/.test(to)) {
        throw new UsageError('replay needs STREAM FROM TO (sequence numbers)');
      }
      return { stream, fromSequence: Number(from), toSequence: Number(to) };
    }
    case 'ack-alarm': {
      if (args.length !== 1) throw new UsageError('ack-alarm needs the alarm CODE');
      return { code: args[0] };
    }
    default:
      return none();
  }
}

interface Answer {
  status: number;
  body: { command?: { id: string; state: string; command: string; site: string; finished: boolean; result: unknown; error: { code: string; message: string } | null }; commands?: unknown[]; error?: { code: string; message: string } };
}

async function call(url: string, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${url.replace(/\/+$/, '')}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(120_000),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Answer['body'] };
}

function printCommand(io: CliIo, answer: Answer, json: boolean): number {
  const c = answer.body.command;
  if (json) io.out(JSON.stringify(answer.body));
  if (c === undefined) {
    const e = answer.body.error;
    if (!json) io.err(`skyhaul-central command: HTTP ${answer.status}${e === undefined ? '' : `: ${e.code}: ${e.message}`}`);
    return 3;
  }
  if (!json) {
    const detail = c.error !== null ? `${c.error.code}: ${c.error.message}` : c.result === null || c.result === undefined ? '' : JSON.stringify(c.result);
    io.out(`${c.command} to ${c.site}: ${c.state}  (id ${c.id})${detail === '' ? '' : `\n${detail}`}`);
    if (!c.finished) io.out(`still on its way: skyhaul-central command show ${c.id} --wait 30s`);
  }
  if (!c.finished) return 4;
  return c.state === 'done' ? 0 : 1;
}

/** `skyhaul-central command ...`; resolves with the exit code. `defaultUrl` comes from the configuration. */
export async function commandCli(argv: string[], io: CliIo, defaultUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        site: { type: 'string' },
        url: { type: 'string' },
        'token-file': { type: 'string' },
        wait: { type: 'string' },
        ttl: { type: 'string' },
        'idempotency-key': { type: 'string' },
        params: { type: 'string' },
        default: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        config: { type: 'string' },
      },
    });
  } catch (error) {
    io.err(`skyhaul-central command: ${(error as Error).message}\n${COMMAND_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.out(COMMAND_USAGE);
    return 0;
  }
  let token: string;
  try {
    token = values['token-file'] !== undefined ? readFileSync(values['token-file'], 'utf8').trim() : (env.SKYHAUL_CENTRAL_TOKEN ?? '');
  } catch (error) {
    io.err(`skyhaul-central command: --token-file: ${(error as Error).message}`);
    return 2;
  }
  if (token === '') {
    io.err('skyhaul-central command: no token: --token-file FILE or $SKYHAUL_CENTRAL_TOKEN');
    return 2;
  }
  const url = values.url ?? env.SKYHAUL_CENTRAL_GOVERNANCE_URL ?? defaultUrl;
  const json = values.json === true;
  const wait = values.wait === undefined ? '' : `?wait=${encodeURIComponent(values.wait)}`;
  const [verb, ...args] = positionals;
  try {
    if (verb === 'show') {
      if (args.length !== 1) throw new UsageError('show needs the command ID');
      return printCommand(io, await call(url, token, 'GET', `/api/v1/commands/${encodeURIComponent(args[0]!)}${wait}`), json);
    }
    if (verb === 'list') {
      const query = new URLSearchParams({ limit: values.limit ?? '20', ...(values.site === undefined ? {} : { site: values.site }) });
      const answer = await call(url, token, 'GET', `/api/v1/commands?${query}`);
      if (answer.status !== 200) return printCommand(io, answer, json);
      if (json) io.out(JSON.stringify(answer.body));
      else for (const c of (answer.body.commands ?? []) as Array<{ id: string; site: string; command: string; state: string; operator: string; updatedAt: number }>) io.out(`${new Date(c.updatedAt).toISOString()}  ${c.site}  ${c.command}  ${c.state}  ${c.operator}  ${c.id}`);
      return 0;
    }
    if (verb === undefined) throw new UsageError('which command?');
    if (values.site === undefined) throw new UsageError('--site SITE is required');
    if (!isCommandName(verb)) throw new UsageError(`unknown command '${verb}'`);
    const params = paramsFrom(verb, args, { params: values.params, default: values.default });
    const key = values['idempotency-key'] ?? randomUUID();
    const body = { site: values.site, command: verb, params, ...(values.ttl === undefined ? {} : { ttl: values.ttl }) };
    const answer = await call(url, token, 'POST', `/api/v1/commands${wait}`, body, { 'idempotency-key': key });
    return printCommand(io, answer, json);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`skyhaul-central command: ${error.message}\n${COMMAND_USAGE}`);
      return 2;
    }
    io.err(`skyhaul-central command: cannot reach ${url}: ${(error as Error).message}`);
    return 3;
  }
}

export const TOKEN_USAGE = `usage: skyhaul-central token --name NAME --role ${ROLES.join('|')} [--sites a,b | '*']
Prints a new random token (give it to the operator) and the governance.tokens entry to configure (its SHA-256 only).`;

/** `skyhaul-central token`: a new token and its configuration entry. */
export function tokenCli(argv: string[], io: CliIo): number {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, strict: true, options: { name: { type: 'string' }, role: { type: 'string' }, sites: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    io.err(`skyhaul-central token: ${(error as Error).message}\n${TOKEN_USAGE}`);
    return 2;
  }
  const { name, role, sites, help } = parsed.values;
  if (help === true) {
    io.out(TOKEN_USAGE);
    return 0;
  }
  if (name === undefined || !/^[\w.@-]{1,64}$/.test(name) || role === undefined || !(ROLES as readonly string[]).includes(role)) {
    io.err(`skyhaul-central token: --name (letters, digits, . @ - _) and --role (${ROLES.join(', ')}) are required\n${TOKEN_USAGE}`);
    return 2;
  }
  const { token, sha256 } = newToken();
  const siteList = (sites ?? '*').split(',').map((s) => s.trim()).filter((s) => s !== '');
  io.out(`token (give it to ${name}; it is not stored anywhere): ${token}`);
  io.out(`configuration (governance.tokens):\n  - name: ${name}\n    role: ${role}\n    sites: [${siteList.map((s) => JSON.stringify(s)).join(', ')}]\n    sha256: ${sha256}`);
  return 0;
}
