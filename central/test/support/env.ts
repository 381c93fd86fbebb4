/**
 * The dev stack's endpoints for central tests (written by `npm run stack:up`, which the global
 * setup runs): Kafka, both Pulsars. Of the edge's test support, central tests share only
 * test/support/processes.ts (and the one system test, central/test/e2e, the daemon and the simulator).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { endpoints } from '../../../packaging/dev-stack/stack.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function stackEnv(name: string): string {
  if (process.env[name] !== undefined && process.env[name] !== '') return process.env[name]!;
  const dir = process.env.SKYHAUL_STACK_DIR ?? join(repoRoot, '.stack');
  const match = new RegExp(`^${name}=(.+)$`, 'm').exec(readFileSync(join(dir, 'stack.env'), 'utf8'));
  if (match !== null) return match[1]!;
  // A stack.env written by another checkout's stack code (a shared stack dir) may lack newer
  // services' keys: the endpoints are fixed by packaging/dev-stack/stack.ts.
  const fixed = (endpoints() as unknown as Record<string, string | undefined>)[name];
  if (fixed !== undefined) return fixed;
  throw new Error(`${name} is not in ${dir}/stack.env (is the dev stack up?)`);
}

/** A name no other test or run has used (topics, subjects, sites). */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}
