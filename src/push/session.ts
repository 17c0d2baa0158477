import type { PushSettings } from '../config/settings.js';
import { classifyError } from '../registry/failure.js';
import { type BaseTransport, createBaseTransport } from '../registry/http.js';
import type { Registry } from '../registry/registry.js';
import { BlobsFailedError } from '../transfer/manifest.js';
import { type Clock, realClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { connectRegistry } from './connect.js';
import { type Phase, type PushResult, tally } from './result.js';

export interface PushDeps {
  logger: Logger;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /** Overrides the network layer (tests); the push closes only what it created. */
  base?: BaseTransport;
}

/** What every phase of a push shares: the transport, the connected registries, and where it is. */
export interface PushSession {
  logger: Logger;
  clock: Clock;
  phase: Phase;
  /** The registry of `target`, connected once per host. */
  connect(target: { registry: string; apiHost: string; repository: string }): Promise<Registry>;
}

/**
 * The skeleton of the image and index pushes: one transport for the run, registries connected
 * once, the phase tracked, and any error turned into the result (with its cause from the failure
 * rules). Never throws.
 */
export async function runPush(
  settings: PushSettings,
  deps: PushDeps,
  result: PushResult,
  phases: (session: PushSession) => Promise<void>,
): Promise<PushResult> {
  const clock = deps.clock ?? realClock;
  const env = deps.env ?? process.env;
  const started = clock.now();
  const base =
    deps.base ??
    createBaseTransport({
      insecureHosts: new Set(settings.insecure ? settings.tags.map((t) => t.apiHost) : []),
      ca: settings.ca,
    });
  const registries = new Map<string, Promise<Registry>>();
  let last: Registry | undefined;
  const firstRegistry = settings.tags[0]?.registry;
  const session: PushSession = {
    logger: deps.logger,
    clock,
    phase: 'validate',
    connect: (target) => {
      let registry = registries.get(target.apiHost);
      if (!registry) {
        registry = connectRegistry(target, firstRegistry, settings, settings.transfer.retries, {
          logger: deps.logger,
          clock,
          env,
          base,
        });
        registries.set(target.apiHost, registry);
      }
      return registry.then((connected) => (last = connected));
    },
  };
  try {
    await phases(session);
    result.ok = true;
  } catch (error) {
    result.phase = session.phase;
    result.error = error instanceof Error ? error : new Error(String(error));
    if (!(error instanceof BlobsFailedError))
      result.cause = classifyError(error, {
        authorized: session.phase !== 'auth' && session.phase !== 'validate',
        anonymous: last ? !last.auth.hasCredentials : false,
      }).cause;
  } finally {
    // Every request has finished: drop idle keep-alive sockets now rather than wait on them.
    if (!deps.base) await base.destroy().catch(() => undefined);
    tally(result);
    result.durationMs = clock.now() - started;
  }
  return result;
}
