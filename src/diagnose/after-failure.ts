import type { PushSettings } from '../config/settings.js';
import type { PushResult } from '../push/result.js';
import { RegistryError } from '../registry/errors.js';
import type { CauseId } from '../registry/failure.js';
import { isSameHost } from '../registry/reference.js';
import { type DiagnoseDeps, diagnose } from './diagnose.js';
import type { Finding } from './finding.js';

/** The proxy stood between the runner and the registry: every probe would fail the same way. */
const NEVER_REACHED = new Set<CauseId>([
  'proxy-tunnel',
  'proxy-auth',
  'proxy-refused',
  'proxy-unreachable',
]);

/**
 * The target that failed: the one with failed blobs, else the one whose registry answered the error
 * (a second registry refusing its credentials), else the first.
 */
function failedTarget(
  settings: PushSettings,
  result: PushResult,
): PushSettings['tags'][number] | undefined {
  const failing = result.targets.find((t) =>
    [...t.blobs.values()].some((b) => b.state === 'failed'),
  );
  if (failing)
    return settings.tags.find(
      (t) => t.apiHost === failing.apiHost && t.repository === failing.repository,
    );
  const error = result.error;
  if (error instanceof RegistryError) {
    const url = urlOf(error.url);
    const named = url && settings.tags.find((t) => isSameHost(url, t.apiHost));
    if (named) return named;
  }
  return settings.tags[0];
}

/** An error's URL, if it is one. */
function urlOf(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/**
 * After a failed push, probes the registry that failed. Nothing is probed when the input was bad, or a proxy kept the registry out of reach:
 * the registry was never the problem then. A cancel ends the probe at once.
 */
export async function diagnoseAfterFailure(
  settings: PushSettings,
  result: PushResult,
  deps: Pick<DiagnoseDeps, 'logger' | 'env' | 'clock' | 'base' | 'signal'>,
): Promise<Finding[] | undefined> {
  if (
    result.ok ||
    settings.diagnose === 'never' ||
    result.phase === 'validate' ||
    result.cause === 'cancelled' ||
    result.cause === 'input' ||
    (result.cause !== undefined && NEVER_REACHED.has(result.cause))
  )
    return undefined;
  const ref = failedTarget(settings, result);
  if (!ref) return undefined;
  // Explicit credentials belong to the first tag's registry only, as in the push itself.
  const credentials = ref.apiHost === settings.tags[0]?.apiHost ? settings.credentials : undefined;
  return deps.logger.group('Diagnose the registry', async () =>
    diagnose({ ...settings, ref, credentials, maxProbe: false }, deps),
  );
}
