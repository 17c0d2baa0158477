import type { PushSettings } from '../config/settings.js';
import { credentialsSent, faultOf } from '../registry/failure.js';
import { RegistryError } from '../registry/errors.js';
import { type BaseTransport, DEFAULT_DEADLINES, createBaseTransport } from '../registry/http.js';
import type { EarlyConnections } from '../registry/early-connections.js';
import type { ConnectTarget, EarlyPing } from './connect.js';
import type { Registry } from '../registry/registry.js';
import { BlobsFailedError } from '../transfer/manifest.js';
import { UploadFailed } from '../transfer/attempts.js';
import { CancelledError, cancellableClock } from '../util/cancel.js';
import { type Clock, realClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { connectRegistry } from './connect.js';
import { type Phase, type PushResult } from './result.js';

export interface PushDeps {
  logger: Logger;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /** Overrides the network layer (tests); the push closes only what it created. */
  base?: BaseTransport;
  /** Aborts the push: requests in flight stop, sleeps end, nothing more is tagged. */
  signal?: AbortSignal;
  /** `GET /v2/` answers asked for while the image was read (`pingEarly`), by API host. */
  early?: Map<string, Promise<EarlyPing>>;
  /** TCP connections the shell opened as soon as it read the settings (`EarlyConnections.open`). */
  connections?: EarlyConnections;
}

/** What every phase of a push shares: the transport, the connected registries, and where it is. */
export interface PushRun {
  logger: Logger;
  clock: Clock;
  phase: Phase;
  /** True once the run was cancelled. */
  readonly cancelled: boolean;
  /** The registry of `target`, connected once per host. */
  connect(target: ConnectTarget): Promise<Registry>;
}

/** The run's network layer: one connection pool, the CA file and `insecure` applied. */
export function transportFor(
  settings: Pick<PushSettings, 'insecure' | 'tags' | 'ca' | 'requestTimeoutMs'>,
  signal?: AbortSignal,
  early?: EarlyConnections,
): BaseTransport {
  return createBaseTransport({
    insecureHosts: new Set(settings.insecure ? settings.tags.map((t) => t.apiHost) : []),
    ca: settings.ca,
    signal,
    early,
    deadlines: { ...DEFAULT_DEADLINES, requestMs: settings.requestTimeoutMs },
  });
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
  phases: (run: PushRun) => Promise<void>,
): Promise<PushResult> {
  const clock = cancellableClock(deps.clock ?? realClock, deps.signal);
  const env = deps.env ?? process.env;
  const started = clock.now();
  const base = deps.base ?? transportFor(settings, deps.signal, deps.connections);
  const registries = new Map<string, Promise<Registry>>();
  let last: Registry | undefined;
  const firstRegistry = settings.tags[0]?.registry;
  if (settings.credentials)
    result.credentialsRegistry = settings.credentialsRegistry ?? firstRegistry;
  const run: PushRun = {
    logger: deps.logger,
    clock,
    phase: 'validate',
    get cancelled() {
      return deps.signal?.aborted ?? false;
    },
    connect: (target) => {
      let registry = registries.get(target.apiHost);
      if (!registry) {
        registry = connectRegistry(target, firstRegistry, settings, settings.transfer.retries, {
          logger: deps.logger,
          clock,
          env,
          base,
          early: deps.early,
        });
        registries.set(target.apiHost, registry);
      }
      return registry.then((connected) => (last = connected));
    },
  };
  try {
    await phases(run);
    if (run.cancelled) throw new CancelledError('cancelled');
    result.ok = true;
  } catch (thrown) {
    // A failure the rules already decided on carries its decision: keep the registry's error.
    const error = thrown instanceof UploadFailed ? thrown.original : thrown;
    // No connection was made at all: that is where it stopped, not at the credentials.
    result.phase = run.phase === 'auth' && neverConnected(error) ? 'connect' : run.phase;
    result.error = error instanceof Error ? error : new Error(String(error));
    if (thrown instanceof UploadFailed && !run.cancelled) {
      result.cause = thrown.decision.cause;
    } else if (run.cancelled) {
      result.cause = 'cancelled';
      result.error = new CancelledError(cancelledMessage(result));
    } else if (!(error instanceof BlobsFailedError)) {
      result.stoppedAt = last?.apiHost;
      result.cause = faultOf(error, {
        credentials: credentialsSent(
          last ? last.auth.hasCredentials : true,
          run.phase !== 'auth' && run.phase !== 'validate',
        ),
      }).cause;
    }
  } finally {
    // Every request has finished: drop idle keep-alive sockets now rather than wait on them.
    if (!deps.base) await base.destroy().catch(() => undefined);
    result.durationMs = clock.now() - started;
  }
  return result;
}

/** A first request that got no answer at all: refused, unresolved, timed out, or not TLS. */
function neverConnected(error: unknown): boolean {
  return error instanceof RegistryError && error.op === 'ping' && error.status === undefined;
}

/** What a cancelled run leaves behind, in one line: what was uploaded and what was tagged. */
function cancelledMessage(result: PushResult): string {
  const blobs = `${result.blobsUploaded} blob${result.blobsUploaded === 1 ? '' : 's'} uploaded`;
  const tags = result.refs.length
    ? `tagged before it stopped: ${result.refs.join(', ')}`
    : 'nothing tagged';
  return `cancelled during ${result.phase ?? 'the push'}: ${blobs}, ${tags}`;
}

/** The log group each phase opens. */
const PHASE_TITLES: Partial<Record<Phase, string>> = {
  auth: 'Authenticate',
  blobs: 'Upload blobs',
  manifests: 'Push manifests',
  tags: 'Tag',
  referrers: 'Referrers',
};

/**
 * Runs one phase of a push: says where the push is (a failure is reported there) and opens its log
 * group. `title` overrides the phase's usual group title.
 */
export function phase<T>(
  run: PushRun,
  name: Phase,
  fn: () => Promise<T>,
  title = PHASE_TITLES[name] ?? name,
): Promise<T> {
  run.phase = name;
  return run.logger.group(title, fn);
}
