import type { BlobFile } from '../oci/image.js';
import type { BlobStat, RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { blobProgress } from '../report/progress.js';
import type { UploadSettings } from '../upload/options.js';
import { type UploadSession, newUploadOutcome, uploadBlob } from '../upload/upload-blob.js';
import { verifyBlob } from '../upload/verify.js';
import type { BlobOutcome } from './result.js';

/** After an acknowledged upload that HEAD cannot find, upload again at most this many times. */
export const MAX_REUPLOADS = 2;

export interface BlobContext {
  client: RepositoryClient;
  settings: UploadSettings;
  /** Another repository on the same registry that already holds the image's blobs. */
  mountFrom?: string;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Puts one blob into one repository and confirms it is there: HEAD (skip when present), mount when
 * another repository has it, else upload; then HEAD again, uploading again if it vanished.
 */
export async function pushBlob(
  ctx: BlobContext,
  blob: BlobFile,
  force = false,
  /** The answer of an earlier HEAD for this blob, when the caller checked in bulk. */
  known?: BlobStat,
): Promise<BlobOutcome> {
  const { client, settings } = ctx;
  const { clock, logger } = settings;
  const started = clock.now();
  const outcome: BlobOutcome = {
    digest: blob.digest,
    size: blob.size,
    mediaType: blob.mediaType,
    chunks: 0,
    attempts: 0,
    durationMs: 0,
    state: 'failed',
    tried: [],
    errors: [],
    vanishedAfterAck: false,
  };
  const finish = (): BlobOutcome => {
    outcome.durationMs = clock.now() - started;
    return outcome;
  };
  try {
    if (!force) {
      const stat = known ?? (await client.statBlob(blob.digest));
      if (stat.exists && (stat.size === undefined || stat.size === blob.size)) {
        outcome.how = 'present';
        outcome.state = 'skipped';
        return finish();
      }
    }
    let session: UploadSession | undefined;
    if (ctx.mountFrom && !force) {
      const start = await client.startUpload({ digest: blob.digest, from: ctx.mountFrom });
      if (start.mounted) {
        const verified = await verifyBlob(client, blob, clock);
        if (verified.ok) {
          outcome.how = 'mounted';
          outcome.state = 'skipped';
          return finish();
        }
        outcome.tried.push(
          `mount from ${ctx.mountFrom} acknowledged, then HEAD: ${verified.reason}`,
        );
      } else {
        session = start;
      }
    }
    const progress = blobProgress(blob.digest, blob.size, logger, clock);
    let last: { status: number; reason: string } | undefined;
    for (let upload = 0; upload <= MAX_REUPLOADS; upload++) {
      const stats = newUploadOutcome();
      try {
        await uploadBlob(
          client,
          blob,
          settings,
          stats,
          session,
          progress && ((n) => progress.update(n)),
        );
      } finally {
        session = undefined;
        outcome.attempts += stats.sessions;
        outcome.how = stats.method;
        outcome.chunks = stats.chunks;
        for (const problem of stats.problems) {
          outcome.tried.push(`${problem.method} upload: ${problem.error.message}`);
          outcome.errors.push(problem.error);
        }
      }
      const verified = await verifyBlob(client, blob, clock);
      if (verified.ok) {
        progress?.done();
        outcome.state = 'pushed';
        return finish();
      }
      outcome.vanishedAfterAck ||= verified.missing;
      last = verified;
      outcome.tried.push(`upload ${upload + 1} acknowledged (201), then HEAD: ${verified.reason}`);
      logger.warning(
        `${blob.digest}: acknowledged but ${verified.reason}${upload < MAX_REUPLOADS ? '; uploading it again' : ''}`,
      );
    }
    outcome.error = new RegistryError({
      method: 'HEAD',
      url: new URL(`/v2/${client.repository}/blobs/${blob.digest}`, client.registry.baseUrl),
      status: last?.status,
      context: `blob ${blob.digest} did not verify after ${MAX_REUPLOADS + 1} uploads (${last?.reason})`,
    });
    outcome.errors.push(outcome.error as RegistryError);
  } catch (error) {
    outcome.error = error instanceof Error ? error : new Error(describe(error));
    if (error instanceof RegistryError && !outcome.errors.includes(error))
      outcome.errors.push(error);
    if (!outcome.tried.some((line) => line.endsWith(describe(error))))
      outcome.tried.push(describe(error));
  }
  return finish();
}
