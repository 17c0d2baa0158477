import { Output, type OutputName } from '../inputs.js';
import type { PushResult } from '../push/result.js';

/** The action's outputs as strings, the same on success and failure. */
export function outputsOf(result: PushResult | undefined): Record<OutputName, string> {
  return {
    [Output.digest]: result?.ok ? (result.digest ?? '') : '',
    [Output.refs]: JSON.stringify(result?.refs ?? []),
    [Output.blobsUploaded]: String(result?.blobsUploaded ?? 0),
    [Output.blobsSkipped]: String(result?.blobsSkipped ?? 0),
    [Output.bytesUploaded]: String(result?.bytesUploaded ?? 0),
    [Output.failedBlobs]: JSON.stringify(result?.failedBlobs ?? []),
  };
}
