import { InputError } from '../util/errors.js';
import { foreignLine } from '../util/text.js';
import { digestOf } from './digest.js';
import {
  type BlobFile,
  type ImageNode,
  type IndexNode,
  type LoadedImage,
  manifestsBottomUp,
  platformsOf,
} from './image.js';
import { type Descriptor, formatPlatform } from './types.js';

/** BuildKit's attestation manifests name the manifest they describe in this annotation. */
const ATTESTATION_OF = 'vnd.docker.reference.digest';

/** `linux/arm64` matches linux/arm64 whatever its variant; `linux/arm/v7` only that variant. */
function matches(descriptor: Descriptor, wanted: readonly string[]): boolean {
  const platform = formatPlatform(descriptor.platform);
  if (!platform) return false;
  return wanted.some((w) => platform === w || platform.startsWith(`${w}/`));
}

/**
 * The image cut down to `wanted` platforms (`os/arch[/variant]`). An index keeps only those
 * manifests, and the attestations BuildKit attached to them, and is written anew: a new document, a
 * new digest, the same other fields. A single manifest must be of one of them. A platform the image
 * does not have is refused, naming the ones it has.
 */
export async function selectPlatforms(
  image: LoadedImage,
  wanted: readonly string[],
  readConfig: Parameters<typeof platformsOf>[1],
): Promise<LoadedImage> {
  const has = await platformsOf(image.root, readConfig);
  const missing = wanted.filter((w) => !has.some((p) => p === w || p.startsWith(`${w}/`)));
  if (missing.length)
    throw new InputError(
      `${image.source}: no ${missing.join(', ')} in the image; it has ${has.map((p) => foreignLine(p, 80)).join(', ') || 'no platform it names'}`,
    );
  if (image.root.kind === 'manifest') return image;
  const root = keepPlatforms(image.root, wanted);
  const blobs = new Map<string, BlobFile>();
  const layers = new Set<string>();
  for (const node of manifestsBottomUp(root)) {
    if (node.kind !== 'manifest') continue;
    for (const blob of node.blobs) blobs.set(blob.digest, blob);
    for (const layer of node.manifest.layers) layers.add(layer.digest);
  }
  const foreign = image.foreign?.filter((f) => layers.has(f.digest));
  return { ...image, root, blobs, foreign };
}

/** The index with only the wanted platforms' manifests and their attestations, as a new document. */
function keepPlatforms(root: IndexNode, wanted: readonly string[]): IndexNode {
  const chosen = new Set(
    root.children.filter((c) => matches(c.descriptor, wanted)).map((c) => c.descriptor.digest),
  );
  const children: ImageNode[] = root.children.filter((c) => {
    if (chosen.has(c.descriptor.digest)) return true;
    const subject = c.descriptor.annotations?.[ATTESTATION_OF];
    return subject !== undefined && chosen.has(subject);
  });
  const index = { ...root.index, manifests: children.map((c) => c.descriptor) };
  const raw = Buffer.from(JSON.stringify(index));
  const algorithm = root.descriptor.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
  return {
    ...root,
    index,
    children,
    raw,
    file: `${root.file} (${wanted.join(', ')} only)`,
    descriptor: { ...root.descriptor, digest: digestOf(raw, algorithm), size: raw.length },
  };
}
