import type { PriorityClass } from '../buffer/index.ts';
import type { StreamRule } from './types.ts';

/** Glob over stream names: `*` matches within a segment (no `/`), `**` across segments. */
export function globToRegExp(glob: string): RegExp {
  let pattern = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        pattern += '.*';
        i++;
      } else pattern += '[^/]*';
    } else if (c === '?') pattern += '[^/]';
    else pattern += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${pattern}$`);
}

export interface ResolvedStream {
  priority: PriorityClass;
  ttlMs: number | null;
  expectedIntervalMs: number | null;
}

/** First matching rule wins; a stream no rule names is ordinary telemetry without TTL. */
export function streamResolver(rules: StreamRule[]): (stream: string) => ResolvedStream {
  const compiled = rules.map((rule) => ({ rule, re: globToRegExp(rule.match) }));
  const cache = new Map<string, ResolvedStream>();
  return (stream) => {
    let resolved = cache.get(stream);
    if (resolved === undefined) {
      const rule = compiled.find((c) => c.re.test(stream))?.rule;
      resolved = rule === undefined
        ? { priority: 'telemetry', ttlMs: null, expectedIntervalMs: null }
        : { priority: rule.priority, ttlMs: rule.ttlMs, expectedIntervalMs: rule.expectedIntervalMs };
      cache.set(stream, resolved);
    }
    return resolved;
  };
}
