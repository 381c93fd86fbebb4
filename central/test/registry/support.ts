/**
 * Registries for the tests: the real RegistryService in this process, served by the runner's
 * serveHttp on a free port, against the dev stack's Kafka (each test its own `_schemas` topic).
 */
import type { FastifyInstance } from 'fastify';
import { parseCentralConfig, type CentralConfig } from '../../src/config/load.ts';
import { RegistryService } from '../../src/registry/service.ts';
import { createContext, serveHttp, type ServiceContext } from '../../src/service/runner.ts';
import { stackEnv } from '../support/env.ts';

export const bootstrap = stackEnv('SKYHAUL_KAFKA_BOOTSTRAP');

/** The central configuration for a registry on `topic` (single-broker dev Kafka: replication 1). */
export function registryConfig(topic: string, compatibility = 'BACKWARD_TRANSITIVE'): CentralConfig {
  const yaml = [
    'logging: { level: warn }',
    `kafka: { bootstrap: ["${bootstrap}"], clientId: registry-test, replicationFactor: 1, minInsyncReplicas: 1 }`,
    `registry: { topic: "${topic}", compatibility: ${compatibility}, listen: { bind: 127.0.0.1, port: 0 } }`,
  ].join('\n');
  return parseCentralConfig(yaml, 'registry-test.yaml', {});
}

export interface RunningRegistry {
  service: RegistryService;
  context: ServiceContext;
  app: FastifyInstance;
  url: string;
  /** stop() then close the HTTP server (what runService does on SIGTERM). */
  close(): Promise<void>;
}

/** Starts a registry as runService does (HTTP first, then start()), and waits until it is ready. */
export async function startRegistry(topic: string, compatibility?: string): Promise<RunningRegistry> {
  const config = registryConfig(topic, compatibility);
  const context = createContext('registry', 'warn');
  const service = new RegistryService(config, context);
  const { app, port } = await serveHttp(service, context, config.registry.listen);
  try {
    await service.start();
  } catch (error) {
    await service.stop();
    await app.close();
    throw error;
  }
  let closed: Promise<void> | null = null;
  return {
    service,
    context,
    app,
    url: `http://127.0.0.1:${port}`,
    close: () => (closed ??= (async () => {
      await service.stop();
      await app.close();
    })()),
  };
}

/** A request to the registry's REST API: status, body (parsed JSON when it is JSON), content type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read the JSON answers freely
export async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; contentType: string | null }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed, contentType: response.headers.get('content-type') };
}
