import type { Logger } from '../util/logger.js';
import type { Credentials } from './auth.js';
import { lookupCredentials } from './credentials.js';
import { canonicalHost, sameRegistry } from './reference.js';

export const GHCR = 'ghcr.io';

export interface CredentialContext {
  /** Credentials from the inputs; they belong to `explicitRegistry` only. */
  explicit?: Credentials;
  explicitRegistry?: string;
  /** Credentials given for other registries, each for its own (`--creds`). */
  more?: readonly { registry: string; credentials: Credentials }[];
  /** The github-token input, else GITHUB_TOKEN: a fallback for ghcr.io. */
  githubToken?: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

/**
 * Credentials for one registry, in order: the inputs (their registry only), `--creds`, docker's and
 * podman's stored credentials, then for ghcr.io the workflow's GitHub token with the actor as user.
 * Undefined means anonymous.
 */
export async function credentialsFor(
  registry: string,
  repository: string,
  ctx: CredentialContext,
): Promise<Credentials | undefined> {
  if (ctx.explicit && ctx.explicitRegistry && sameRegistry(registry, ctx.explicitRegistry))
    return ctx.explicit;
  const given = ctx.more?.find((m) => sameRegistry(registry, m.registry));
  if (given) return given.credentials;
  const stored = await lookupCredentials(canonicalHost(registry), repository, {
    env: ctx.env,
    logger: ctx.logger,
  });
  if (stored) return stored;
  const token = ctx.githubToken || ctx.env.GITHUB_TOKEN;
  if (canonicalHost(registry) === GHCR && token) {
    ctx.logger.secret(token);
    return {
      username: ctx.env.GITHUB_ACTOR || 'github-actions',
      password: token,
      source: 'the github-token input (the workflow token)',
    };
  }
  return undefined;
}
