import { RetryBudget } from '../registry/budget.js';
import type { RegistryError } from '../registry/errors.js';
import type { CauseId } from '../registry/failure.js';
import type { ChunkReason } from './outcome.js';
import type { TransferPolicy } from './policy.js';

export type Method = 'monolithic' | 'chunked';

/** Chunk sizes double on each grow: 64 KiB reaches 16 MiB in 8. */
export const MAX_GROWS = 8;

/**
 * Everything tried for one blob in one repository, in one record: the machine's transitions read
 * it, and nothing else counts tries. Every counter is either charged to the budget
 * (`retries`: resent requests, resumes, new sessions, re-uploads, quick retries) or is a bound of
 * its own (`MAX_GROWS`, `verifyLagRetries`, `reuploads`, one switch to chunks), as action.yml says.
 * The manifest's re-upload of a lost blob goes on with the same record.
 */
export interface Attempts {
  /** The shared budget: `retries` tries again, refilled when a chunk goes through. */
  budget: RetryBudget;
  /** Upload sessions started, and how many of them the registry lost. */
  sessions: number;
  /** New sessions after a failure: never refilled, so a blob starts at most `retries` again. */
  restarts: number;
  lostSessions: number;
  /** How the current session sends: one body, or chunks. */
  method: Method;
  /** Chunks sent in the session that succeeded. */
  chunks: number;
  /** New sessions because chunks were refused as too small, and chunks halved as too large. */
  grows: number;
  shrinks: number;
  /** HEADs after a commit that answered 404 and were asked again (replica lag). */
  lagHeads: number;
  /** Uploads again after the registry lost an acknowledged blob. */
  reuploads: number;
  /** HEADs asked again before a verification that then found the blob: replica lag waited out. */
  lagTotal: number;
  /** Requests sent again (retries and resumes) that were charged to the budget, in all. */
  retried: number;
  /** Why the single-body upload failed and the blob went on in chunks; unset while it has not. */
  chunkedBecause?: ChunkReason;
  /** The largest single body that failed, and the chunk size that last went through. */
  largestRefused?: number;
  chunkBytes?: number;
  /** Tries again of the same request (retry or quick retry) since the last step that succeeded. */
  retries: number;
  /** The current session resumed at an offset the registry reported. */
  resumed: boolean;
  /** The file was hashed after the registry refused its digest, and matched it. */
  fileChecked: boolean;
  /** The smallest body the path refused as too large: the smallest chunk, when even that was. */
  smallestRefused?: number;
  /** What went wrong on the way, oldest first, even when the blob got through in the end. */
  problems: { method: Method; error: RegistryError }[];
}

export function newAttempts(policy: Pick<TransferPolicy, 'retries'>): Attempts {
  return {
    budget: new RetryBudget(policy.retries),
    sessions: 0,
    restarts: 0,
    lostSessions: 0,
    method: 'monolithic',
    chunks: 0,
    grows: 0,
    shrinks: 0,
    lagHeads: 0,
    reuploads: 0,
    lagTotal: 0,
    retried: 0,
    retries: 0,
    resumed: false,
    fileChecked: false,
    problems: [],
  };
}

/** How a blob's machine ended a blob it could not push: that blob alone, or the whole push. */
export interface Decision {
  action: 'fail-blob' | 'fail-push';
  cause: CauseId;
}

/** Ends a blob with the decision that ended it, carrying the error it was about. */
export class UploadFailed extends Error {
  override name = 'UploadFailed';
  constructor(
    readonly decision: Decision,
    readonly original: unknown,
  ) {
    super(original instanceof Error ? original.message : String(original));
  }
}
