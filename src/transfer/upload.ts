import type { BlobFile } from '../oci/image.js';
import { RetryBudget } from '../registry/budget.js';
import type { RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { type CauseId, type Decision, type Situation, classifyError } from '../registry/failure.js';
import { waitFor } from '../registry/retry.js';
import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { formatSize } from '../util/format.js';
import type { Logger } from '../util/logger.js';
import { checkFileDigest, fileRange, hashedFileBody } from './body.js';
import { CHUNK_FLOOR, type TransferPolicy } from './policy.js';

type Method = 'monolithic' | 'chunked';

/**
 * One blob's tries, shared by every level that can try again (request, resume, session,
 * re-upload): so their limits add up instead of multiplying. Filled in as the upload goes, so the
 * caller still knows what was tried when it fails.
 */
export interface BlobTries {
  budget: RetryBudget;
  /** New sessions after a failure still allowed (a switch to chunks is not a failure). */
  restartsLeft: number;
  sessions: number;
  lostSessions: number;
  method: Method;
  chunks: number;
  /** What went wrong on the way, oldest first, even when the upload succeeded in the end. */
  problems: { method: Method; error: RegistryError }[];
  /** The decision on the last failure: its cause is the blob's cause if it fails. */
  decision?: Decision;
  /** The chunk size refused last, for a path that refused even the smallest one. */
  refusedBytes?: number;
  /** The current session resumed at an offset the registry reported. */
  resumed?: boolean;
  /** New sessions started because chunks were too small (bounded: each doubles the size). */
  grows: number;
  /** The file was hashed against its digest: later sessions of this blob need not read it again. */
  fileChecked?: boolean;
}

export function newBlobTries(policy: TransferPolicy): BlobTries {
  return {
    budget: new RetryBudget(policy.retries),
    restartsLeft: policy.retries,
    sessions: 0,
    lostSessions: 0,
    method: 'monolithic',
    chunks: 0,
    problems: [],
    grows: 0,
  };
}

/** Chunk sizes double on each grow: 64 KiB reaches 16 MiB in 8. */
const MAX_GROWS = 8;

export interface UploadSession {
  location: URL;
  minChunk?: number;
  maxChunk?: number;
}

export interface UploadContext {
  client: RepositoryClient;
  policy: TransferPolicy;
  clock: Clock;
  logger: Logger;
  onProgress?: (bytes: number) => void;
  /** The cause, once another blob found a failure no blob can get past: stop trying. */
  stopped?: () => CauseId | undefined;
}

/** Ends a blob's upload with the decision that ended it. */
export class UploadFailed extends Error {
  override name = 'UploadFailed';
  constructor(
    readonly decision: Decision,
    readonly original: unknown,
  ) {
    super(original instanceof Error ? original.message : String(original));
  }
}

function situation(tries: BlobTries, extra: Partial<Situation>): Situation {
  return {
    budgetLeft: tries.budget.left,
    sessionsLeft: tries.restartsLeft,
    lostSessions: tries.lostSessions,
    ...extra,
  };
}

function note(tries: BlobTries, method: Method, error: unknown): void {
  if (error instanceof RegistryError && !tries.problems.some((p) => p.error === error))
    tries.problems.push({ method, error });
}

/**
 * Uploads one blob. `auto` tries one body, and when the path refuses it (413, a reset while
 * sending, 520/522/524 on a blob larger than a chunk) goes chunked. Every other failure goes to the
 * failure rules, which say whether to resume, start a new session, or give up.
 */
export async function uploadBlob(
  ctx: UploadContext,
  blob: BlobFile,
  tries: BlobTries,
  firstSession?: UploadSession,
): Promise<void> {
  const { client, policy, logger } = ctx;
  const limits = client.registry.limits;
  let chunked =
    policy.mode === 'chunked' || (policy.mode === 'auto' && limits.prefersChunks(blob.size));
  let pending = firstSession;
  for (;;) {
    const method: Method = chunked ? 'chunked' : 'monolithic';
    tries.method = method;
    let session: UploadSession | undefined;
    const chunkSize = { current: limits.chunkSize(policy.chunkSize) };
    try {
      session = pending ?? (await openSession(client, tries.budget));
      pending = undefined;
      tries.sessions++;
      tries.resumed = false;
      if (chunked) {
        await sendChunks(ctx, blob, session, tries, chunkSize);
      } else {
        await client.putBlob(session.location, blob.digest, blob.size, hashedFileBody(blob), {
          onProgress: ctx.onProgress,
        });
        tries.chunks = 1;
      }
      return;
    } catch (error) {
      note(tries, method, error);
      if (session) await client.cancelUpload(session.location);
      const decision =
        error instanceof UploadFailed
          ? error.decision
          : classifyError(
              error,
              situation(tries, {
                authorized: client.registry.authorized,
                chunked,
                mayChunk: policy.mode === 'auto',
                blobSize: blob.size,
                chunkSize: chunkSize.current,
                chunkFloor: CHUNK_FLOOR,
                resumed: tries.resumed,
              }),
            );
      tries.decision = decision;
      const original = error instanceof UploadFailed ? error.original : error;
      if (decision.action === 'grow' && tries.grows < MAX_GROWS) {
        tries.grows++;
        logger.info(
          `${blob.digest}: chunks of ${formatSize(chunkSize.current)} were refused as too small; starting again with ${formatSize(limits.chunkSize(policy.chunkSize))}`,
        );
        continue;
      }
      if (decision.action === 'chunk') {
        limits.monolithicRefused(blob.size);
        logger.info(
          `${blob.digest}: the single-body upload failed (${errorMessage(original)}); switching to chunks`,
        );
        chunked = true;
        continue;
      }
      // Stopped for another blob's reason: this blob failed for that same reason, not its own.
      const stopCause = decision.action === 'restart' ? ctx.stopped?.() : undefined;
      if (stopCause) throw new UploadFailed({ action: 'fail-blob', cause: stopCause }, original);
      if (decision.action !== 'restart' || !tries.budget.spend())
        throw error instanceof UploadFailed ? error : new UploadFailed(decision, original);
      tries.restartsLeft--;
      if (decision.cause === 'lost-session' || decision.cause === 'no-shared-secret')
        tries.lostSessions++;
      const wait = waitFor(
        decision,
        policy.retries - tries.budget.left - 1,
        ctx.clock,
        headersOf(original),
      );
      logger.info(
        `${blob.digest}: upload failed (${errorMessage(original)}); starting again in ${(wait / 1000).toFixed(1)} s`,
      );
      await ctx.clock.sleep(wait);
    }
  }
}

function headersOf(error: unknown): Record<string, string> {
  return error instanceof RegistryError ? error.headers : {};
}

async function openSession(client: RepositoryClient, budget: RetryBudget): Promise<UploadSession> {
  const start = await client.startUpload(undefined, budget);
  if (start.mounted) throw new Error('the registry answered a plain upload as a mount');
  return start;
}

/** The chunk size within the registry's window and our floor. */
export function effectiveChunkSize(requested: number, min?: number, max?: number): number {
  let size = Math.max(requested, CHUNK_FLOOR);
  if (min !== undefined && size < min) size = min;
  if (max !== undefined && max > 0 && size > max) size = max;
  return size;
}

/**
 * PATCHes the blob in equal chunks read from the file at an offset, then commits with an empty PUT.
 * The failure rules decide each failed PATCH: resume from where the session stands, shrink or grow
 * the chunk, or give up (the caller then starts a new session or fails the blob).
 */
async function sendChunks(
  ctx: UploadContext,
  blob: BlobFile,
  session: UploadSession,
  tries: BlobTries,
  chunkSize: { current: number },
): Promise<void> {
  const { client, logger, onProgress } = ctx;
  const limits = client.registry.limits;
  // Chunks can be resent after a resume, so their bytes cannot be hashed in one pass: check the file
  // before the first chunk instead.
  if (!tries.fileChecked) await checkFileDigest(blob);
  tries.fileChecked = true;
  const floor = Math.max(CHUNK_FLOOR, session.minChunk ?? 0);
  const ceiling = session.maxChunk && session.maxChunk > 0 ? session.maxChunk : undefined;
  let size = effectiveChunkSize(chunkSize.current, session.minChunk, ceiling);
  let location = session.location;
  let offset = 0;
  let chunks = 0;
  let resumes = 0;
  while (offset < blob.size) {
    const length = Math.min(size, blob.size - offset);
    chunkSize.current = size;
    const base = offset;
    try {
      location = await client.patchChunk(
        location,
        offset,
        length,
        fileRange(blob.path, offset, length),
        { onProgress: onProgress && ((n) => onProgress(base + n)) },
      );
      offset += length;
      chunks++;
      if (length === size) limits.chunkWorked(size);
      tries.budget.refill();
    } catch (error) {
      note(tries, 'chunked', error);
      const decision = classifyError(
        error,
        situation(tries, {
          authorized: client.registry.authorized,
          chunked: true,
          blobSize: blob.size,
          chunkSize: length,
          chunkFloor: floor,
        }),
      );
      tries.decision = decision;
      if (decision.action === 'shrink') {
        limits.chunkRefusedAsTooLarge(length);
        size = Math.max(floor, Math.floor(length / 2));
        logger.info(
          `${blob.digest}: a chunk of ${formatSize(length)} was refused as too large; chunks are now ${formatSize(size)}`,
        );
        continue;
      }
      if (decision.action === 'grow') {
        // Parts already stored are too small for this registry (ECR checks each part when the
        // next one comes): a new session with larger chunks, unless the window has no room.
        limits.chunkRefusedAsTooSmall(size);
        if (ceiling !== undefined && size >= ceiling)
          throw new UploadFailed({ action: 'fail-blob', cause: 'chunk-window' }, error);
        throw new UploadFailed(decision, error);
      }
      if (decision.cause === 'body-limit-at-floor') tries.refusedBytes = length;
      if (decision.action !== 'resume' || !tries.budget.spend())
        throw new UploadFailed(decision, error);
      await ctx.clock.sleep(waitFor(decision, resumes++, ctx.clock, headersOf(error)));
      const status = await client.uploadStatus(location, tries.budget);
      // Never trust a registry's offset past the bytes actually sent.
      const resumeAt = Math.min(status.offset, offset + length);
      logger.info(
        `${blob.digest}: resuming the upload at byte ${resumeAt} after ${errorMessage(error)}`,
      );
      location = status.location;
      offset = resumeAt;
      tries.resumed = true;
    }
  }
  await client.commitUpload(location, blob.digest, tries.budget);
  tries.chunks = chunks;
}
