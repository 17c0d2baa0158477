import type { Inputs } from '../inputs.js';
import type { PushResult } from '../push/result.js';
import type { Finding } from '../report/summary.js';
import { readCa } from '../registry/ca-file.js';
import { type DiagnoseOptions, diagnose } from './diagnose.js';

/**
 * After a failed push, probes the registry that failed (the first target with failed blobs, else the
 * first tag). Nothing is probed when the input was bad: the registry was never the problem then.
 */
export async function diagnoseAfterFailure(
  inputs: Inputs,
  result: PushResult,
  deps: Pick<DiagnoseOptions, 'logger' | 'env' | 'clock' | 'base'>,
): Promise<Finding[] | undefined> {
  if (result.ok || inputs.diagnose === 'never' || result.phase === 'validate') return undefined;
  const failing = result.targets.find((t) =>
    [...t.blobs.values()].some((b) => b.state === 'failed'),
  );
  const ref =
    (failing &&
      inputs.tags.find(
        (t) => t.apiHost === failing.apiHost && t.repository === failing.repository,
      )) ??
    inputs.tags[0];
  if (!ref) return undefined;
  // Explicit credentials belong to the first tag's registry only, as in the push itself.
  const credentials = ref.apiHost === inputs.tags[0]?.apiHost ? inputs.credentials : undefined;
  return deps.logger.group('Diagnose the registry', async () =>
    diagnose({
      ref,
      credentials,
      githubToken: inputs.githubToken,
      insecure: inputs.insecure,
      ca: await readCa(inputs.caFile),
      maxProbe: false,
      ...deps,
    }),
  );
}
