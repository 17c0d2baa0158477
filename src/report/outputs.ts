import type { PushResult } from '../push/result.js';
import { recoveryCounts } from './failure-model.js';

export const Output = {
  digest: 'digest',
  refs: 'refs',
  blobsUploaded: 'blobs-uploaded',
  blobsSkipped: 'blobs-skipped',
  bytesUploaded: 'bytes-uploaded',
  bytesMounted: 'bytes-mounted',
  failedBlobs: 'failed-blobs',
  referrersTags: 'referrers-tags',
  tagsElsewhere: 'tags-elsewhere',
  recoveries: 'recoveries',
} as const;

export type OutputName = (typeof Output)[keyof typeof Output];

/** The action's outputs as strings, the same on success and failure. */
export function outputsOf(result: PushResult | undefined): Record<OutputName, string> {
  return {
    // Set whenever a ref points at it: a later target's failure does not unset what was tagged.
    // A dry run gives the digest it would push.
    [Output.digest]: result?.ok || result?.refs.length ? (result.digest ?? '') : '',
    [Output.refs]: JSON.stringify(result?.refs ?? []),
    [Output.blobsUploaded]: String(result?.blobsUploaded ?? 0),
    [Output.blobsSkipped]: String(result?.blobsSkipped ?? 0),
    [Output.bytesUploaded]: String(result?.bytesUploaded ?? 0),
    [Output.bytesMounted]: String(result?.bytesMounted ?? 0),
    [Output.failedBlobs]: JSON.stringify(result?.failedBlobs ?? []),
    [Output.referrersTags]: JSON.stringify(result?.referrers ?? []),
    [Output.tagsElsewhere]: JSON.stringify(result?.elsewhere ?? []),
    [Output.recoveries]: JSON.stringify(recoveryCounts(result)),
  };
}
