import type { ImageNode } from '../oci/image.js';
import { digestOf, parseDigest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { type Descriptor, indexSchema } from '../oci/types.js';
import type { RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { InputError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

/** Tries to update the fallback tag when another pusher moved it in between. */
const MAX_TRIES = 5;

/** The manifest's `subject`, when it is an artifact about another manifest. */
export function subjectOf(node: ImageNode): Descriptor | undefined {
  return node.kind === 'manifest' ? node.manifest.subject : node.index.subject;
}

/**
 * The referrers tag schema's tag for a subject (distribution spec 1.1): `<alg>-<hex>`, the
 * algorithm cut to 32 characters and the hex to 64.
 */
export function referrersTag(subject: string): string {
  const parsed = parseDigest(subject);
  if (!parsed) throw new InputError(`subject ${subject} is not a digest`);
  return `${parsed.algorithm.slice(0, 32)}-${parsed.hex.slice(0, 64)}`;
}

/** How this manifest is listed in its subject's referrers index. */
function descriptorFor(node: ImageNode): Descriptor {
  const doc = node.kind === 'manifest' ? node.manifest : node.index;
  const artifactType =
    doc.artifactType ?? (node.kind === 'manifest' ? node.manifest.config.mediaType : undefined);
  return {
    mediaType: node.descriptor.mediaType,
    digest: node.descriptor.digest,
    size: node.descriptor.size,
    ...(artifactType ? { artifactType } : {}),
    ...(doc.annotations ? { annotations: doc.annotations } : {}),
  };
}

/**
 * For a registry without the referrers API (no `OCI-Subject` in the answer to the manifest PUT),
 * keeps the artifact findable from its subject: reads the fallback tag's index (a new one on 404),
 * adds this manifest's descriptor once, and PUTs it back, reading again if another pusher moved the
 * tag in between. Returns the tag it wrote, or undefined when the descriptor was listed already.
 */
export async function addReferrer(
  client: RepositoryClient,
  node: ImageNode,
  subject: Descriptor,
  logger: Logger,
): Promise<string | undefined> {
  const tag = referrersTag(subject.digest);
  const accept = [MediaType.ociIndex];
  for (let attempt = 1; ; attempt++) {
    let manifests: Descriptor[] = [];
    let read: string | undefined;
    try {
      const current = await client.getManifest(tag, accept);
      read = digestOf(current.raw);
      const parsed = indexSchema.safeParse(JSON.parse(current.raw.toString('utf8')));
      if (!parsed.success)
        throw new InputError(`the referrers tag ${tag} holds something other than an index`);
      manifests = parsed.data.manifests;
    } catch (error) {
      if (!(error instanceof RegistryError && error.status === 404)) throw error;
    }
    if (manifests.some((m) => m.digest === node.descriptor.digest)) return undefined;
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [...manifests, descriptorFor(node)],
      }),
    );
    // Another pusher may have added its artifact since we read: never overwrite it.
    const now = await client.manifestDigest(tag, accept);
    // A registry that sends no digest with HEAD cannot show a change: take its word.
    if (now !== '' && now !== read) {
      if (attempt >= MAX_TRIES)
        throw new InputError(
          `the referrers tag ${tag} kept changing while it was updated (${MAX_TRIES} tries)`,
        );
      logger.info(`${tag} changed while it was updated; reading it again`);
      continue;
    }
    await client.putManifest(tag, MediaType.ociIndex, index);
    return tag;
  }
}
