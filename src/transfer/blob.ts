import type { BlobFile } from '../oci/image.js';
import type { RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { type CauseId, type Decision, classifyError } from '../registry/failure.js';
import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { type Limiter, unlimited } from '../util/concurrency.js';
import type { Logger } from '../util/logger.js';
import { type BlobOutcome, newBlobOutcome } from './outcome.js';
import { type TransferPolicy, uploadShares } from './policy.js';
import { blobProgress } from './progress.js';
import {
  type BlobTries,
  UploadFailed,
  type UploadSession,
  newBlobTries,
  uploadBlob,
} from './upload.js';
import { verifyBlob } from './verify.js';

export interface BlobContext {
  client: RepositoryClient;
  policy: TransferPolicy;
  clock: Clock;
  logger: Logger;
  /** Another repository on the same registry that already holds the image's blobs. */
  mountFrom?: string;
  /** The cause, once a blob failed in a way no other blob can get past (or the run was cancelled). */
  stopped?: () => CauseId | undefined;
  /** Says that this blob failed in a way no other blob can get past. */
  stop?: (cause: CauseId) => void;
}

/**
 * A blob's whole life in one repository: HEAD (skip when present), mount when another repository
 * has it, else upload; then HEAD again, uploading again if the registry lost it. Every failure goes
 * through the failure rules; the blob's tries are one budget across all of it. Never throws.
 * Undefined when the push stopped for another blob before this one's upload could start.
 */
export async function pushBlob(
  ctx: BlobContext,
  blob: BlobFile,
  options: {
    force?: boolean;
    /** Where the requests that carry the blob's bytes wait for their share of an upload place. */
    uploads?: Limiter;
    /**
     * Where existence checks and verifications wait: they move no bytes, so they run wider than
     * uploads and beside them. A verification goes first: it finishes a blob already sent.
     */
    checks?: Limiter;
  } = {},
): Promise<BlobOutcome | undefined> {
  const { client, policy, clock, logger } = ctx;
  const started = clock.now();
  const outcome = newBlobOutcome(blob);
  const tries = newBlobTries(policy);
  const finish = (): BlobOutcome => {
    outcome.durationMs = clock.now() - started;
    return outcome;
  };
  const fail = (error: unknown, decision: Decision): BlobOutcome => {
    outcome.state = 'failed';
    outcome.error = error instanceof Error ? error : new Error(errorMessage(error));
    outcome.cause = decision.cause;
    outcome.stopsPush = decision.action === 'fail-push';
    outcome.refusedBytes = tries.refusedBytes;
    if (error instanceof RegistryError && !outcome.errors.includes(error))
      outcome.errors.push(error);
    if (!outcome.tried.some((line) => line.endsWith(errorMessage(error))))
      outcome.tried.push(errorMessage(error));
    return finish();
  };
  const checks = options.checks ?? unlimited;
  try {
    if (!options.force) {
      const stat = await checks(async () =>
        // A blob still waiting when the push stopped is left alone: it has no outcome.
        ctx.stopped?.() ? undefined : client.statBlob(blob.digest, 'exists', tries.budget),
      );
      if (!stat) return undefined;
      if (stat.exists && (stat.size === undefined || stat.size === blob.size)) {
        outcome.how = 'present';
        outcome.state = 'skipped';
        return finish();
      }
    }
    let session: UploadSession | undefined;
    if (ctx.mountFrom && !options.force) {
      // A mount moves no bytes: it waits with the checks, not for an upload place.
      const mounted = await checks(() => tryMount(ctx, blob, tries, outcome));
      if (mounted === true) return finish();
      session = mounted || undefined;
    }
    const progress = blobProgress(blob.digest, blob.size, logger, clock);
    const upload = {
      client,
      policy,
      clock,
      logger,
      stopped: ctx.stopped,
      onProgress: progress && ((n: number) => progress.update(n)),
    };
    const inPlace = options.uploads ?? unlimited;
    for (let reuploads = 0; ; reuploads++) {
      try {
        const began = await inPlace(
          async () => {
            // Another blob stopped the push while this one waited: it never started, so it has no outcome.
            if (reuploads === 0 && !session && ctx.stopped?.()) return false;
            try {
              await uploadBlob(upload, blob, tries, session);
            } catch (error) {
              // Said before the place is given back, so no blob waiting for it starts in vain.
              const decision = decisionFor(error, tries, client);
              if (decision.action === 'fail-push') ctx.stop?.(decision.cause);
              throw error;
            }
            return true;
          },
          { weight: uploadShares(policy, blob.size) },
        );
        if (!began) return undefined;
      } finally {
        session = undefined;
        collect(outcome, tries);
      }
      const verified = await verifyBlob(
        client,
        blob,
        clock,
        policy.verifyLagRetries,
        tries.budget,
        (fn) => checks(fn, { first: true }),
      );
      if (verified.ok) {
        progress?.done();
        outcome.state = 'pushed';
        return finish();
      }
      outcome.vanishedAfterAck ||= verified.missing;
      outcome.tried.push(
        `upload ${reuploads + 1} acknowledged (201), then HEAD: ${verified.reason}`,
      );
      const error = new RegistryError({
        method: 'HEAD',
        op: 'verify',
        url: new URL(`/v2/${client.repository}/blobs/${blob.digest}`, client.registry.baseUrl),
        status: verified.status,
        context: `blob ${blob.digest} did not verify after ${reuploads + 1} upload${reuploads ? 's' : ''} (${verified.reason})`,
      });
      outcome.errors.push(error);
      const decision: Decision = {
        action: reuploads < policy.reuploads ? 'reupload' : 'fail-blob',
        cause: verified.missing ? 'vanished-after-ack' : 'verify-mismatch',
      };
      if (decision.action !== 'reupload' || !tries.budget.spend()) return fail(error, decision);
      logger.info(`${blob.digest}: acknowledged but ${verified.reason}; uploading it again`);
    }
  } catch (error) {
    collect(outcome, tries);
    return fail(
      error instanceof UploadFailed ? error.original : error,
      decisionFor(error, tries, client),
    );
  }
}

/** What the failure rules said about an error that ended a blob's upload. */
function decisionFor(error: unknown, tries: BlobTries, client: RepositoryClient): Decision {
  if (error instanceof UploadFailed) return error.decision;
  return tries.decision ?? classifyError(error, { authorized: client.registry.authorized });
}

/** Copies what the upload tried into the outcome, once per problem. */
function collect(outcome: BlobOutcome, tries: BlobTries): void {
  outcome.attempts = tries.sessions;
  outcome.how = tries.method;
  outcome.chunks = tries.chunks;
  for (const problem of tries.problems) {
    if (outcome.errors.includes(problem.error)) continue;
    outcome.tried.push(`${problem.method} upload: ${problem.error.message}`);
    outcome.errors.push(problem.error);
  }
}

/**
 * Asks the registry to mount the blob from `mountFrom`. True when it did (and HEAD agrees), the
 * session to upload into when it answered 202, false when it refused the mount: then a plain upload.
 */
async function tryMount(
  ctx: BlobContext,
  blob: BlobFile,
  tries: BlobTries,
  outcome: BlobOutcome,
): Promise<true | UploadSession | false> {
  const { client, clock, policy } = ctx;
  try {
    const start = await client.startUpload(
      { digest: blob.digest, from: ctx.mountFrom! },
      tries.budget,
    );
    if (!start.mounted) return start;
    const verified = await verifyBlob(client, blob, clock, policy.verifyLagRetries, tries.budget);
    if (verified.ok) {
      outcome.how = 'mounted';
      outcome.state = 'skipped';
      return true;
    }
    outcome.tried.push(`mount from ${ctx.mountFrom} acknowledged, then HEAD: ${verified.reason}`);
    return false;
  } catch (error) {
    if (!(error instanceof RegistryError)) throw error;
    const decision = classifyError(
      error,
      { authorized: client.registry.authorized, budgetLeft: tries.budget.left },
      'mount',
    );
    if (decision.action !== 'plain-upload') throw error;
    outcome.tried.push(`mount from ${ctx.mountFrom} refused (${error.message}); uploading instead`);
    return false;
  }
}
