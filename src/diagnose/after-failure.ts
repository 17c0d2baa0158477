import type { PushSettings } from '../config/settings.js';
import type { PushResult } from '../push/result.js';
import { type DiagnoseDeps, diagnose } from './diagnose.js';
import type { Finding } from './finding.js';

/**
 * After a failed push, probes the registry that failed (the first target with failed blobs, else the
 * first tag). Nothing is probed when the input was bad: the registry was never the problem then.
 */
export async function diagnoseAfterFailure(
  settings: PushSettings,
  result: PushResult,
  deps: Pick<DiagnoseDeps, 'logger' | 'env' | 'clock' | 'base'>,
): Promise<Finding[] | undefined> {
  if (
    result.ok ||
    settings.diagnose === 'never' ||
    result.phase === 'validate' ||
    result.cause === 'cancelled' ||
    result.cause === 'input'
  )
    return undefined;
  const failing = result.targets.find((t) =>
    [...t.blobs.values()].some((b) => b.state === 'failed'),
  );
  const ref =
    (failing &&
      settings.tags.find(
        (t) => t.apiHost === failing.apiHost && t.repository === failing.repository,
      )) ??
    settings.tags[0];
  if (!ref) return undefined;
  // Explicit credentials belong to the first tag's registry only, as in the push itself.
  const credentials = ref.apiHost === settings.tags[0]?.apiHost ? settings.credentials : undefined;
  return deps.logger.group('Diagnose the registry', async () =>
    diagnose({ ...settings, ref, credentials, maxProbe: false }, deps),
  );
}
