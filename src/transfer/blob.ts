import type { BlobFile } from '../oci/image.js';
import type { RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import type { CauseId } from '../registry/failure.js';
import type { Clock } from '../util/clock.js';
import { type Limiter, unlimited } from '../util/concurrency.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { type Attempts, UploadFailed, newAttempts } from './attempts.js';
import type { State } from './blob-state.js';
import { runBlob } from './machine.js';
import type { LocalProof } from './local-proof.js';
import { type BlobOutcome, newBlobOutcome } from './outcome.js';
import type { TransferPolicy } from './policy.js';
import { blobProgress } from './progress.js';

export { UploadFailed };

export interface BlobContext {
  client: RepositoryClient;
  policy: TransferPolicy;
  clock: Clock;
  logger: Logger;
  /** Another repository on the same registry that already holds the image's blobs. */
  mountFrom?: string;
  /** The repository to mount one blob from, when a source is known for it (its base image). */
  mountFor?: (digest: string) => string | undefined;
  /** The cause, once a blob failed in a way no other blob can get past (or the run was cancelled). */
  stopped?: () => CauseId | undefined;
  /** Says that this blob failed in a way no other blob can get past. */
  stop?: (cause: CauseId) => void;
  /** Each blob's attempts in this repository, so a later re-upload goes on with the same record. */
  records?: Map<string, Attempts>;
  /** No local files: blobs are mounted from `mountFrom` or fail (index-from's copies). */
  mountOnly?: boolean;
  /** Whether each local file holds its blob, asked before a mount; shared by a run's targets. */
  proof?: LocalProof;
}

export interface BlobOptions {
  /** Upload without asking first (a probe's upload). */
  force?: boolean;
  /** The manifest PUT said the registry lost this blob: the machine starts from that failure. */
  vanished?: RegistryError;
  /** Where the requests that carry the blob's bytes wait for their share of an upload place. */
  uploads?: Limiter;
  /**
   * Where existence checks and verifications wait: they move no bytes, so they run wider than
   * uploads and beside them. A verification goes first: it finishes a blob already sent.
   */
  checks?: Limiter;
}

/** What the blob's tries got past, as its outcome reports it. */
function recoveredFrom(attempts: Attempts): BlobOutcome['recovered'] {
  const chunked = attempts.chunkedBecause && attempts.method === 'chunked';
  return {
    reuploads: attempts.reuploads,
    lagHeads: attempts.lagTotal,
    lostSessions: attempts.lostSessions,
    retries: attempts.retried,
    ...(chunked
      ? {
          chunkedBecause: attempts.chunkedBecause,
          largestRefused: attempts.largestRefused,
          chunkBytes: attempts.chunkBytes,
        }
      : {}),
  };
}

/**
 * A blob's whole life in one repository, run by the transfer machine (`machine.ts`): HEAD (skip
 * when present), mount when another repository has it, else upload; then HEAD again, uploading
 * again if the registry lost it. Never throws. Undefined when the push stopped for another blob
 * before this one's upload could start.
 */
export async function pushBlob(
  ctx: BlobContext,
  blob: BlobFile,
  options: BlobOptions = {},
): Promise<BlobOutcome | undefined> {
  const { clock } = ctx;
  const started = clock.now();
  const outcome = newBlobOutcome(blob);
  let attempts = ctx.records?.get(blob.digest);
  if (!attempts) {
    attempts = newAttempts(ctx.policy);
    ctx.records?.set(blob.digest, attempts);
  }
  const progress = blobProgress(blob.digest, blob.size, ctx.logger, clock);
  const start: State = options.vanished
    ? { name: 'vanished', error: options.vanished }
    : options.force
      ? { name: 'open' }
      : { name: 'check' };
  const fresh = options.force || options.vanished;
  const mountFrom = fresh ? undefined : (ctx.mountFor?.(blob.digest) ?? ctx.mountFrom);
  let end;
  try {
    end = await runBlob(
      {
        ...ctx,
        blob,
        attempts,
        outcome,
        mountFrom,
        uploads: options.uploads ?? unlimited,
        checks: options.checks ?? unlimited,
        onProgress: progress && ((n: number) => progress.update(n)),
      },
      start,
    );
  } catch (error) {
    // A bug or the unexpected: still an outcome, never a throw.
    end = {
      name: 'failed' as const,
      error,
      decision: { action: 'fail-push' as const, cause: 'unknown' as const },
    };
  }
  outcome.durationMs = clock.now() - started;
  outcome.attempts = attempts.sessions;
  outcome.chunks = attempts.chunks;
  outcome.recovered = recoveredFrom(attempts);
  if (end.name === 'never-started') return undefined;
  if (end.name === 'done') {
    outcome.how = end.how;
    outcome.state = end.how === 'present' || end.how === 'mounted' ? 'skipped' : 'pushed';
    if (end.how === 'mounted') outcome.mountedFrom = mountFrom;
    if (outcome.state === 'pushed') progress?.done();
    return outcome;
  }
  const { error, decision } = end;
  outcome.how = attempts.sessions ? attempts.method : undefined;
  outcome.state = 'failed';
  outcome.error = error instanceof Error ? error : new Error(errorMessage(error));
  outcome.cause = decision.cause;
  outcome.stopsPush = decision.action === 'fail-push';
  outcome.smallestRefused = attempts.smallestRefused;
  outcome.largestRefused = attempts.largestRefused;
  if (error instanceof RegistryError && !outcome.errors.includes(error)) outcome.errors.push(error);
  if (!outcome.tried.some((line) => line.endsWith(errorMessage(error))))
    outcome.tried.push(errorMessage(error));
  return outcome;
}
