import type { Limiter } from '../util/concurrency.js';
import type { Clock } from '../util/clock.js';
import { backoffDelay } from '../registry/retry.js';
import { digestOf, isDigest } from '../oci/digest.js';
import type { ImageNode, LoadedImage } from '../oci/image.js';
import type { PutManifest, RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { credentialsSent, faultOf } from '../registry/failure.js';
import { type BlobContext, pushBlob } from './blob.js';
import { UploadFailed } from './attempts.js';
import type { BlobOutcome } from './outcome.js';

/** Raised when blobs failed: the push stopped before any manifest was sent. */
export class BlobsFailedError extends Error {
  override name = 'BlobsFailedError';
}

export interface ManifestContext extends BlobContext {
  image: LoadedImage;
  /** The blob outcomes of this repository: a re-uploaded blob's outcome replaces its entry. */
  blobs: Map<string, BlobOutcome>;
}

function blobNamedBy(error: RegistryError, image: LoadedImage): string | undefined {
  const text = error.codes
    .map((c) => `${c.message ?? ''} ${JSON.stringify(c.detail ?? '')}`)
    .join(' ');
  const found = text.match(/sha(?:256|512):[a-f0-9]{64,128}/g) ?? [];
  return found.find((d) => image.blobs.has(d));
}

/**
 * PUTs one manifest and checks the digest the registry computed. When the registry says a blob is
 * unknown (it lost it after it was verified), that answer is the blob's next failure in its machine,
 * with the same attempts (a re-upload, charged to its budget there), and the PUT is sent once more.
 */
export async function putManifest(
  client: RepositoryClient,
  node: ImageNode,
  reference: string,
  ctx: ManifestContext,
): Promise<PutManifest> {
  const mediaType = node.descriptor.mediaType;
  const put = (): Promise<PutManifest> => client.putManifest(reference, mediaType, node.raw);
  let returned: PutManifest;
  try {
    returned = await put();
  } catch (error) {
    const missing = error instanceof RegistryError ? blobNamedBy(error, ctx.image) : undefined;
    if (!missing)
      throw new UploadFailed(
        {
          action: 'fail-push',
          cause: faultOf(error, {
            op: 'manifest',
            credentials: credentialsSent(true, client.registry.authorized),
            foreignBlob: true,
          }).cause,
        },
        error,
      );
    await uploadAgain(client, node, ctx, missing, error as RegistryError);
    returned = await put();
  }
  // By tag, the answer's digest is only a claim: the tag is read back (confirmTag) and that decides.
  if (
    isDigest(reference) &&
    returned.digest &&
    !sameDigest(returned.digest, node.descriptor.digest, node.raw)
  ) {
    throw new RegistryError({
      method: 'PUT',
      op: 'manifest',
      url: client.manifestUrl(reference),
      refused: 'manifest-digest-mismatch',
      context: `the registry answered the PUT of ${node.file} with digest ${returned.digest}, expected ${node.descriptor.digest}`,
    });
  }
  return returned;
}

/** The blob the registry lost goes on in its machine from that answer; its outcome replaces the old. */
async function uploadAgain(
  client: RepositoryClient,
  node: ImageNode,
  ctx: ManifestContext,
  missing: string,
  error: RegistryError,
): Promise<void> {
  ctx.logger.info(
    `${node.file}: the registry lost blob ${missing} after it was verified; uploading it again`,
  );
  const outcome = await pushBlob({ ...ctx, client }, ctx.image.blobs.get(missing)!, {
    vanished: error,
  });
  if (!outcome)
    throw new UploadFailed(
      { action: 'fail-push', cause: ctx.stopped?.() ?? 'cancelled' },
      new Error(`the push stopped before blob ${missing} could be uploaded again`),
    );
  outcome.tried.unshift(...(ctx.blobs.get(missing)?.tried ?? []));
  ctx.blobs.set(missing, outcome);
  if (outcome.state !== 'failed') return;
  // Whatever ended it, the registry losing what it had acknowledged is why it was sent again.
  if (outcome.vanishedAfterAck) outcome.cause = 'vanished-after-ack';
  // Not lost after all (another refusal of the PUT): the manifest's own failure.
  if (!outcome.vanishedAfterAck)
    throw new UploadFailed({ action: 'fail-push', cause: outcome.cause ?? 'unknown' }, error);
  throw new BlobsFailedError(
    `blob ${missing} failed after the registry lost it, so ${node.file} was not pushed`,
  );
}

/**
 * Reads a tag back after its PUT: the registry must serve it, with the digest of the bytes pushed.
 * A 404 is asked again a few times (a replica or cache may lag its own write). Returns the digest
 * the registry serves it as: ours, or for a sha512 layout the registry's own sha256 of the same
 * bytes. Throws a RegistryError the failure rules name (`manifest-dropped`,
 * `manifest-digest-mismatch`), with `served` set when the tag points elsewhere.
 */
export async function confirmTag(
  client: RepositoryClient,
  node: Pick<ImageNode, 'descriptor' | 'raw'>,
  tag: string,
  clock: Clock,
  lagRetries: number,
): Promise<string> {
  const ours = node.descriptor.digest;
  let served: string | undefined;
  for (let lagged = 0; ; lagged++) {
    served = await client.manifestDigest(tag, [node.descriptor.mediaType]);
    if (served !== undefined || lagged >= lagRetries) break;
    await clock.sleep(backoffDelay(lagged, clock));
  }
  const url = client.manifestUrl(tag);
  if (served === undefined)
    throw new RegistryError({
      method: 'HEAD',
      op: 'manifest',
      url,
      refused: 'manifest-dropped',
      context: `the registry acknowledged tag ${tag} and then answered 404 for it`,
    });
  // A registry that sends no digest with HEAD: it serves the tag, and cannot say more.
  if (!served) return canonicalDigest(ours, node.raw);
  if (!sameDigest(served, ours, node.raw))
    throw new TagElsewhereError(
      served,
      new RegistryError({
        method: 'HEAD',
        op: 'manifest',
        url,
        refused: 'manifest-digest-mismatch',
        context: `tag ${tag} points at ${served}, not at the pushed ${ours}`,
      }),
    );
  return served;
}

/**
 * The tags that point at `node` now, with the digest each serves it as, asked among the blob
 * checks (and counted with them); a tag that is missing, points elsewhere or
 * cannot be read is simply not among them (it is written as any other).
 */
export async function standingTags(
  client: RepositoryClient,
  node: Pick<ImageNode, 'descriptor' | 'raw'>,
  tags: readonly string[],
  checks: Limiter,
): Promise<Map<string, string>> {
  const served = await Promise.all(
    tags.map((tag) =>
      checks(() => client.manifestDigest(tag, [node.descriptor.mediaType], true)).catch(
        () => undefined,
      ),
    ),
  );
  const standing = new Map<string, string>();
  tags.forEach((tag, i) => {
    const digest = served[i];
    if (digest && sameDigest(digest, node.descriptor.digest, node.raw)) standing.set(tag, digest);
  });
  return standing;
}

/** A tag that reads back with another digest: what it points at, and the error that says so. */
export class TagElsewhereError extends Error {
  override name = 'TagElsewhereError';
  constructor(
    readonly served: string,
    readonly error: RegistryError,
  ) {
    super(error.message);
  }
}

/** The digest registries give these bytes: ours when it is sha256, else their sha256 (distribution's). */
export function canonicalDigest(ours: string, raw: Buffer): string {
  return ours.startsWith('sha256:') ? ours : digestOf(raw, 'sha256');
}

/**
 * Whether the registry's digest names these bytes. Registries compute sha256 whatever algorithm the
 * layout used (a sha512 layout is valid), so compare in the algorithm the registry answered in.
 */
export function sameDigest(returned: string, ours: string, raw: Buffer): boolean {
  if (returned === ours) return true;
  const algorithm = returned.split(':')[0];
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return false;
  return digestOf(raw, algorithm) === returned;
}
