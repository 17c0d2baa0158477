import type { BlobFile } from '../oci/image.js';
import type { RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import {
  backoffDelay,
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
} from '../registry/retry.js';
import { checkFileDigest, fileRange, hashedFileBody } from './body.js';
import { MIN_CHUNK, type UploadSettings } from './options.js';

/** Filled in as the upload goes, so a caller still knows what was tried when it throws. */
export interface UploadOutcome {
  method: 'monolithic' | 'chunked';
  chunks: number;
  /** Upload sessions started (1 when the first one went through). */
  sessions: number;
  /** What went wrong on the way, oldest first, even when the upload succeeded in the end. */
  problems: { method: 'monolithic' | 'chunked'; error: RegistryError }[];
}

/**
 * Failures of the body request that mean "this path cannot carry a body this big": go chunked. A 413
 * always does (chunks can shrink below the cap); a reset, timeout or 52x only when chunks would be
 * smaller than the blob, since otherwise chunking sends the same body again.
 */
export function isBodyPathFailure(error: unknown, blobSize = Infinity, chunkSize = 0): boolean {
  if (!(error instanceof RegistryError)) return false;
  if (error.status === 413) return true;
  if (blobSize <= chunkSize) return false;
  if (error.status === 520 || error.status === 522 || error.status === 524) return true;
  if (error.status !== undefined) return false;
  const code = error.networkCode ?? '';
  const broken =
    /ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|UND_ERR_CLOSED/.test(
      code,
    );
  return broken && error.bodyIncomplete;
}

/** The registry lost the upload session: BLOB_UPLOAD_UNKNOWN, or a bare 404 on it. A 404 that says the
 * repository does not exist (NAME_UNKNOWN) is final, not a lost session. */
export function isSessionGone(error: unknown): boolean {
  if (!(error instanceof RegistryError)) return false;
  if (error.hasCode('BLOB_UPLOAD_UNKNOWN')) return true;
  return (
    error.status === 404 && !error.hasCode('NAME_UNKNOWN', 'NAME_INVALID', 'UNAUTHORIZED', 'DENIED')
  );
}

function isTransient(error: unknown): boolean {
  if (!(error instanceof RegistryError)) return false;
  if (error.status === undefined) return isRetryableError(error);
  return isRetryableStatus(error.status) || error.status === 416;
}

class SessionGone extends Error {}

export interface UploadSession {
  location: URL;
  minChunk?: number;
  maxChunk?: number;
}

/**
 * Uploads one blob. `auto` tries one monolithic PUT, and on a body-path failure (413, a reset while
 * sending, 520/522/524) cancels the session and goes chunked. A session that fails for a transient
 * reason is started again; requests inside a session are not retried on their own, so retries never
 * multiply.
 */
export async function uploadBlob(
  client: RepositoryClient,
  blob: BlobFile,
  settings: UploadSettings,
  outcome: UploadOutcome,
  firstSession?: UploadSession,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const host = client.registry.apiHost;
  const limit = settings.monolithicLimit.get(host);
  let chunked =
    settings.mode === 'chunked' ||
    (settings.mode === 'auto' && limit !== undefined && blob.size >= limit);
  outcome.method = chunked ? 'chunked' : 'monolithic';
  let pending = firstSession;
  let failures = 0;
  let chunkSize = settings.chunkSize;

  for (;;) {
    const session = pending ?? (await openSession(client));
    pending = undefined;
    outcome.sessions++;
    try {
      if (chunked) {
        const result = await sendChunks(client, blob, session, chunkSize, settings, onProgress);
        outcome.chunks = result.chunks;
        chunkSize = result.chunkSize;
      } else {
        await client.putBlob(session.location, blob.digest, blob.size, hashedFileBody(blob), {
          retries: 0,
          onProgress,
        });
        outcome.chunks = 1;
      }
      outcome.method = chunked ? 'chunked' : 'monolithic';
      return;
    } catch (error) {
      if (error instanceof RegistryError)
        outcome.problems.push({ method: chunked ? 'chunked' : 'monolithic', error });
      await client.cancelUpload(session.location);
      if (!chunked && settings.mode === 'auto' && isBodyPathFailure(error, blob.size, chunkSize)) {
        settings.monolithicLimit.set(
          host,
          Math.min(settings.monolithicLimit.get(host) ?? Infinity, blob.size),
        );
        settings.logger.info(
          `${blob.digest}: the monolithic upload failed (${(error as Error).message}); switching to chunks of ${formatSize(chunkSize)}`,
        );
        chunked = true;
        outcome.method = 'chunked';
        continue;
      }
      const retryable = error instanceof SessionGone || isTransient(error) || isSessionGone(error);
      if (!retryable || failures >= settings.retries)
        throw error instanceof SessionGone ? error.cause : error;
      const retryAfter =
        error instanceof RegistryError
          ? parseRetryAfter(error.headers['retry-after'], settings.clock.now())
          : undefined;
      const wait = retryAfter ?? backoffDelay(failures, settings.clock);
      failures++;
      settings.logger.info(
        `${blob.digest}: upload failed (${(error as Error).message}); starting again in ${(wait / 1000).toFixed(1)} s`,
      );
      await settings.clock.sleep(wait);
    }
  }
}

async function openSession(client: RepositoryClient): Promise<UploadSession> {
  const start = await client.startUpload();
  if (start.mounted) throw new Error('unexpected mount');
  return start;
}

export function effectiveChunkSize(requested: number, min?: number, max?: number): number {
  let size = requested;
  if (min !== undefined && size < min) size = min;
  if (max !== undefined && max > 0 && size > max) size = max;
  return size;
}

/**
 * PATCHes the blob in equal chunks read from the file at an offset, then commits with an empty PUT.
 * A failed PATCH asks the session where it stands (GET) and resumes from there; a 413 halves the chunk.
 */
async function sendChunks(
  client: RepositoryClient,
  blob: BlobFile,
  session: UploadSession,
  requested: number,
  settings: UploadSettings,
  onProgress?: (bytes: number) => void,
): Promise<{ chunks: number; chunkSize: number }> {
  // Chunks can be resent after a resume, so their bytes cannot be hashed in one pass: check the file
  // before the first chunk instead.
  await checkFileDigest(blob);
  const floor = Math.max(MIN_CHUNK, session.minChunk ?? 0);
  const host = client.registry.apiHost;
  const learned = settings.chunkLimit.get(host);
  let chunkSize = effectiveChunkSize(
    Math.min(requested, learned ?? requested),
    session.minChunk,
    session.maxChunk,
  );
  let location = session.location;
  let offset = 0;
  let chunks = 0;
  let resumes = 0;
  while (offset < blob.size) {
    const length = Math.min(chunkSize, blob.size - offset);
    const base = offset;
    try {
      location = await client.patchChunk(
        location,
        offset,
        length,
        fileRange(blob.path, offset, length),
        {
          retries: 0,
          onProgress: onProgress && ((n) => onProgress(base + n)),
        },
      );
      offset += length;
      chunks++;
    } catch (error) {
      if (error instanceof RegistryError && error.status === 413 && chunkSize > floor) {
        chunkSize = Math.max(floor, Math.floor(chunkSize / 2));
        settings.chunkLimit.set(
          host,
          Math.min(chunkSize, settings.chunkLimit.get(host) ?? Infinity),
        );
        settings.logger.info(
          `${blob.digest}: a chunk was refused as too large (413); chunks are now ${formatSize(chunkSize)}`,
        );
        continue;
      }
      if (isSessionGone(error)) throw new SessionGone('upload session gone', { cause: error });
      if (!isTransient(error) || resumes >= settings.retries) throw error;
      await settings.clock.sleep(backoffDelay(resumes++, settings.clock));
      let status;
      try {
        status = await client.uploadStatus(location);
      } catch (statusError) {
        if (isSessionGone(statusError))
          throw new SessionGone('upload session gone', { cause: statusError });
        throw statusError;
      }
      settings.logger.info(
        `${blob.digest}: resuming the upload at byte ${status.offset} after ${(error as Error).message}`,
      );
      location = status.location;
      offset = status.offset;
    }
  }
  await client.commitUpload(location, blob.digest, 0);
  return { chunks, chunkSize };
}

export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function newUploadOutcome(): UploadOutcome {
  return { method: 'monolithic', chunks: 0, sessions: 0, problems: [] };
}
