import { endpoints, readStackEnv } from '../../packaging/dev-stack/stack.ts';

/** Endpoints of the running dev stack (written by `stack:up`, which the global setup runs). */
export function stackEnv(): Record<string, string> {
  const env = readStackEnv();
  if (env === null) throw new Error('no .stack/stack.env: the global setup did not bring the stack up (run `npm run stack:up`)');
  return env;
}

export function requireEnv(name: string): string {
  // Fixed endpoints fill in keys a stack.env written by another checkout's stack code lacks.
  const value = process.env[name] ?? stackEnv()[name] ?? (endpoints() as unknown as Record<string, string | undefined>)[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set in the environment or .stack/stack.env`);
  return value;
}

/** A topic name no other test or earlier run has used. */
export function uniqueTopic(prefix: string, namespace = requireEnv('SKYHAUL_PULSAR_NAMESPACE')): string {
  return `persistent://${namespace}/${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
