import type { Logger } from '../logger.js';
import type { BaseTransport } from '../registry/http.js';
import { isLoopback } from '../registry/reference.js';
import { Registry } from '../registry/registry.js';
import { credentialsFor } from '../registry/resolve-credentials.js';
import type { Clock } from '../util/clock.js';
import type { PushOptions } from './options.js';

export interface ConnectDeps {
  logger: Logger;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  base: BaseTransport;
}

/**
 * Opens one registry for a push: finds its credentials (inputs for the first tag's registry, stored
 * ones, the GHCR token), learns its scheme and auth with `GET /v2/`, and says what it found.
 */
export async function connectRegistry(
  target: { registry: string; apiHost: string; repository: string },
  firstRegistry: string | undefined,
  options: PushOptions,
  deps: ConnectDeps,
): Promise<Registry> {
  const { logger } = deps;
  const credentials = await credentialsFor(target.registry, target.repository, {
    explicit: options.credentials,
    explicitRegistry: firstRegistry,
    githubToken: options.githubToken,
    env: deps.env,
    logger,
  });
  const registry = new Registry({
    name: target.registry,
    apiHost: target.apiHost,
    credentials,
    insecure: options.insecure,
    retries: options.retries,
    clock: deps.clock,
    logger,
    base: deps.base,
  });
  await registry.ping();
  const how = credentials ? `credentials from ${credentials.source ?? 'the inputs'}` : 'anonymous';
  const scheme = registry.baseUrl.protocol.replace(':', '');
  logger.info(
    `${target.registry}: ${scheme}, ${registry.auth.challenge?.scheme ?? 'no'} auth, ${how}`,
  );
  if (scheme === 'http' && !isLoopback(target.apiHost)) {
    logger.warning(`${target.registry} is reached over plain http (insecure: true)`);
  }
  return registry;
}
