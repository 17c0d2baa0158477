import { InputError } from '../util/errors.js';
import type { ImageNode, LoadedImage } from '../oci/image.js';
import type { RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { classifyError } from '../registry/failure.js';
import { type BlobContext, pushBlob } from './blob.js';
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
 * unknown (it lost it after it was verified), that blob is uploaded and verified again, once, and
 * the PUT is sent once more.
 */
export async function putManifest(
  client: RepositoryClient,
  node: ImageNode,
  reference: string,
  ctx: ManifestContext,
): Promise<void> {
  const mediaType = node.descriptor.mediaType;
  const put = (): Promise<string | undefined> => client.putManifest(reference, mediaType, node.raw);
  let returned: string | undefined;
  try {
    returned = await put();
  } catch (error) {
    // One recovery per manifest: the blob's own upload has its own budget.
    const decision = classifyError(
      error,
      { authorized: client.registry.authorized, budgetLeft: 1, sessionsLeft: 1 },
      'manifest',
    );
    const missing =
      decision.action === 'reupload' && error instanceof RegistryError
        ? blobNamedBy(error, ctx.image)
        : undefined;
    if (!missing) throw error;
    ctx.logger.warning(
      `${node.file}: the registry lost blob ${missing} after it was verified; uploading it again`,
    );
    const outcome = await pushBlob(
      { ...ctx, client, mountFrom: undefined },
      ctx.image.blobs.get(missing)!,
      {
        force: true,
      },
    );
    const previous = ctx.blobs.get(missing);
    const code = (error as RegistryError).codes[0]?.code;
    outcome.tried.unshift(
      ...(previous?.tried ?? []),
      `verified, then the manifest PUT answered ${code}`,
    );
    outcome.vanishedAfterAck = true;
    if (outcome.state === 'failed') outcome.cause = 'vanished-after-ack';
    ctx.blobs.set(missing, outcome);
    if (outcome.state === 'failed') {
      throw new BlobsFailedError(
        `blob ${missing} failed after the registry lost it, so ${node.file} was not pushed`,
      );
    }
    returned = await put();
  }
  if (returned && returned !== node.descriptor.digest) {
    throw new InputError(
      `${node.file}: the registry computed digest ${returned} for the manifest, expected ${node.descriptor.digest}`,
    );
  }
}
