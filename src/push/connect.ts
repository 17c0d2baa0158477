import type { ConnectionSettings } from '../config/settings.js';
import type { BaseTransport, HttpRequest } from '../registry/http.js';
import { type PingResult, ping } from '../registry/ping.js';
import { isLoopback } from '../registry/reference.js';
import { Registry } from '../registry/registry.js';
import { type Ahead, askAhead } from '../registry/ahead.js';
import { credentialsFor } from '../registry/resolve-credentials.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

/** Body connections opened before any upload starts (`openBodyConnections`). */
const EARLY_BODY_CONNECTIONS = 8;

export interface ConnectDeps {
  logger: Logger;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  base: BaseTransport;
  /** `GET /v2/` answers asked for early, by API host; one that failed is asked again here. */
  early?: Map<string, Promise<EarlyPing>>;
}

/** An early `GET /v2/`: what it taught, or how it failed (its one try counts against the budget). */
export type EarlyPing = { pinged: PingResult } | { failed: unknown };

/**
 * Asks each registry's `GET /v2/` before the image is read, so the round trip (and the connection's
 * handshakes) overlap reading it. Anonymous and tried once: a registry that does not answer cleanly
 * is asked again, with retries and in its turn, when the push connects.
 */
export function pingEarly(
  apiHosts: string[],
  settings: Pick<ConnectionSettings, 'insecure'>,
  deps: Pick<ConnectDeps, 'logger' | 'clock' | 'base'>,
): Map<string, Promise<EarlyPing>> {
  const early = new Map<string, Promise<EarlyPing>>();
  for (const apiHost of new Set(apiHosts))
    early.set(
      apiHost,
      pingHost(apiHost, settings, 0, deps).then(
        (pinged) => ({ pinged }),
        (failed: unknown) => ({ failed }),
      ),
    );
  return early;
}

function pingHost(
  apiHost: string,
  settings: Pick<ConnectionSettings, 'insecure'>,
  retries: number,
  deps: Pick<ConnectDeps, 'logger' | 'clock' | 'base'>,
): Promise<PingResult> {
  return ping({
    apiHost,
    insecure: settings.insecure,
    retries,
    clock: deps.clock,
    logger: deps.logger,
    send: deps.base.send,
  });
}

/** A registry to open, and the blobs of its repository to check while it is asked `GET /v2/`. */
export interface ConnectTarget {
  registry: string;
  apiHost: string;
  repository: string;
  /** The checks a push asks first, built for an API base URL. */
  checkAhead?: (api: URL) => HttpRequest[];
  /** How many blob bodies the first wave of uploads may send at once. */
  bodies?: number;
}

/**
 * Over HTTP/2 blob bodies go on HTTP/1.1 connections of their own (see `Load`). The first wave's
 * open as soon as the registry's first connection is seen to speak HTTP/2, so that their
 * handshakes overlap the checks and the POSTs instead of following them. At most a few: one
 * connection sends a body faster than a round trip, and later bodies' connections open with their
 * POSTs, resuming this one's TLS session.
 */
function openBodyConnections(target: ConnectTarget, deps: ConnectDeps): void {
  const { firstConnection, preopen } = deps.base;
  const count = Math.min(target.bodies ?? 0, EARLY_BODY_CONNECTIONS);
  if (!count || !firstConnection || !preopen || !deps.early?.has(target.apiHost)) return;
  const api = new URL(`https://${target.apiHost}/`);
  void firstConnection(api).then((h2) => h2 && preopen(api, count));
}

/**
 * Checks sent beside the early `GET /v2/` of a registry pushed to without credentials,
 * on the HTTP/2 connection it opens: one round trip less before the first upload. Nothing is asked
 * ahead when that ping goes over plain http (it settles first) or the connection is not HTTP/2.
 */
function checksAhead(target: ConnectTarget, deps: ConnectDeps): Ahead | undefined {
  const early = deps.early?.get(target.apiHost);
  if (!target.checkAhead || !early || !deps.base.firstConnection) return undefined;
  const api = new URL(`https://${target.apiHost}/`);
  const ready = Promise.race([deps.base.firstConnection(api), early.then(() => false)]);
  // Not logged here: the check that takes an answer logs it as its own.
  return askAhead(target.checkAhead(api), deps.base.send, ready);
}

/**
 * Opens one registry: finds its credentials (explicit ones for the first tag's registry, stored
 * ones, the GHCR token), learns its scheme and auth with `GET /v2/`, and says what it found.
 */
export async function connectRegistry(
  target: ConnectTarget,
  firstRegistry: string | undefined,
  settings: ConnectionSettings,
  retries: number,
  deps: ConnectDeps,
): Promise<Registry> {
  const { logger, clock } = deps;
  const credentials = await credentialsFor(target.registry, target.repository, {
    explicit: settings.credentials,
    explicitRegistry: settings.credentialsRegistry ?? firstRegistry,
    more: settings.moreCredentials,
    githubToken: settings.githubToken,
    env: deps.env,
    logger,
  });
  const ahead = credentials ? undefined : checksAhead(target, deps);
  openBodyConnections(target, deps);
  const pinged = await pingOnce(target.apiHost, settings, retries, deps);
  const registry = new Registry({
    name: target.registry,
    apiHost: target.apiHost,
    credentials,
    insecure: settings.insecure,
    retries,
    clock,
    logger,
    base: deps.base,
    pinged,
    ...(ahead && pinged.baseUrl.protocol === 'https:' ? { ahead } : {}),
  });
  const scheme = registry.baseUrl.protocol.replace(':', '');
  logger.info(
    `${target.registry}: ${scheme}, ${registry.auth.challenge?.scheme ?? 'no'} auth, ${registry.auth.who}`,
  );
  if (scheme === 'http' && !isLoopback(target.apiHost)) {
    logger.warning(`${target.registry} is reached over plain http (insecure: true)`);
  }
  return registry;
}

/**
 * The registry's `GET /v2/` answer: the early one, or asked again with what is left of the budget.
 * The early try was the first of `retries + 1`, so `retries: 0` asks once in all.
 */
async function pingOnce(
  apiHost: string,
  settings: Pick<ConnectionSettings, 'insecure'>,
  retries: number,
  deps: ConnectDeps,
): Promise<PingResult> {
  const early = await deps.early?.get(apiHost);
  if (!early) return pingHost(apiHost, settings, retries, deps);
  if ('pinged' in early) return early.pinged;
  if (retries === 0) throw early.failed;
  return pingHost(apiHost, settings, retries - 1, deps);
}
