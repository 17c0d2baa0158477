import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type Platform,
  formatPlatform,
} from './types.js';

/** A blob (config or layer) that lives in a file on disk and is pushed through the blob API. */
export interface BlobFile {
  digest: string;
  size: number;
  mediaType: string;
  path: string;
}

interface NodeBase {
  descriptor: Descriptor;
  /** The exact bytes of the document; the digest covers them, so they are pushed unchanged. */
  raw: Buffer;
  /** Where the document came from, for error messages. */
  file: string;
}

export interface ManifestNode extends NodeBase {
  kind: 'manifest';
  manifest: ImageManifest;
  /** Config first, then layers in order: the order the summary shows them in. */
  blobs: BlobFile[];
}

export interface IndexNode extends NodeBase {
  kind: 'index';
  index: ImageIndex;
  children: ImageNode[];
}

export type ImageNode = ManifestNode | IndexNode;

export interface LoadedImage {
  root: ImageNode;
  /** Every distinct config and layer blob under root, by digest. */
  blobs: Map<string, BlobFile>;
  /** A short description of the source, for logs and the summary. */
  source: string;
  /** Non-distributable layers not in the layout: the registry is told where they live (`urls`). */
  foreign?: { digest: string; mediaType: string; urls: string[] }[];
  /** Removes temporary files the source needed (an extracted archive). */
  cleanup: () => Promise<void>;
}

/**
 * Children before parents, so pushing in this order never references a missing manifest. Each
 * distinct manifest once: an index may list a child many times, and indexes nest, so walking every
 * path would be exponential (20 copies at 8 levels is 20^8 paths to one image).
 */
export function manifestsBottomUp(root: ImageNode): ImageNode[] {
  const out: ImageNode[] = [];
  const seen = new Set<string>();
  const visit = (node: ImageNode): void => {
    if (seen.has(node.descriptor.digest)) return;
    seen.add(node.descriptor.digest);
    if (node.kind === 'index') node.children.forEach(visit);
    out.push(node);
  };
  visit(root);
  return out;
}

/** Layer types a registry does not store: they are fetched from their `urls` (Windows base layers). */
export function isNonDistributable(mediaType: string): boolean {
  return (
    mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.') ||
    mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
  );
}

/**
 * The platforms an image is for, as `os/arch[/variant]`: an index's entries, or a single image's
 * config. Unknown entries (attestations, artifacts) are left out.
 */
export async function platformsOf(
  root: ImageNode,
  readConfig: (node: ManifestNode) => Promise<Buffer | undefined>,
): Promise<string[]> {
  const known = (p: string | undefined): p is string => Boolean(p) && p !== 'unknown/unknown';
  if (root.kind === 'index')
    return root.children.map((c) => formatPlatform(c.descriptor.platform)).filter(known);
  const fromDescriptor = formatPlatform(root.descriptor.platform);
  if (known(fromDescriptor)) return [fromDescriptor];
  const raw = await readConfig(root).catch(() => undefined);
  if (!raw) return [];
  try {
    const config = JSON.parse(raw.toString('utf8')) as Partial<Platform>;
    const platform =
      typeof config.os === 'string' && typeof config.architecture === 'string'
        ? formatPlatform({
            os: config.os,
            architecture: config.architecture,
            variant: config.variant,
          })
        : undefined;
    return known(platform) ? [platform] : [];
  } catch {
    return [];
  }
}
