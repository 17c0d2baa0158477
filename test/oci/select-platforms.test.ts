import { describe, expect, it } from 'vitest';
import type { ImageNode, IndexNode, LoadedImage } from '../../src/oci/image.js';
import { selectPlatforms } from '../../src/oci/select-platforms.js';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;

function manifest(
  c: string,
  platform: Record<string, string>,
  annotations?: Record<string, string>,
): ImageNode {
  const descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: digest(c),
    size: 2,
    platform,
    ...(annotations ? { annotations } : {}),
  };
  return {
    kind: 'manifest',
    descriptor,
    raw: Buffer.from('{}'),
    file: c,
    manifest: {
      schemaVersion: 2,
      config: { mediaType: 'x', digest: digest(c), size: 1 },
      layers: [],
    },
    blobs: [{ digest: digest(c), size: 1, mediaType: 'x', path: `/nowhere/${c}` }],
  } as unknown as ImageNode;
}

function imageOf(children: ImageNode[]): LoadedImage {
  const root = {
    kind: 'index',
    descriptor: {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: digest('f'),
      size: 2,
    },
    raw: Buffer.from('{}'),
    file: 'index.json',
    index: { schemaVersion: 2, manifests: children.map((c) => c.descriptor) },
    children,
  } as unknown as IndexNode;
  return { root, blobs: new Map(), source: 'oci layout ./l', cleanup: async () => undefined };
}

const none = async (): Promise<undefined> => undefined;

describe('selectPlatforms', () => {
  it('keeps the platforms asked for and their attestations, as a new index', async () => {
    const amd = manifest('a', { os: 'linux', architecture: 'amd64' });
    const arm = manifest('b', { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const att = manifest(
      'c',
      { os: 'unknown', architecture: 'unknown' },
      {
        'vnd.docker.reference.digest': digest('b'),
      },
    );
    const image = imageOf([amd, arm, att]);
    const cut = await selectPlatforms(image, ['linux/arm64'], none);
    expect(cut.root.kind).toBe('index');
    const root = cut.root as IndexNode;
    expect(root.children.map((c) => c.descriptor.digest)).toEqual([digest('b'), digest('c')]);
    expect(root.descriptor.digest).not.toBe(image.root.descriptor.digest);
    expect(JSON.parse(root.raw.toString()).manifests).toHaveLength(2);
    expect([...cut.blobs.keys()].sort()).toEqual([digest('b'), digest('c')]);
  });

  it('a platform the image lacks: one line, the layout’s own names made inert', async () => {
    const odd = manifest('a', { os: 'linux\n::error::x', architecture: 'amd64' });
    await expect(selectPlatforms(imageOf([odd]), ['linux/s390x'], none)).rejects.toThrow(
      /^oci layout \.\/l: no linux\/s390x in the image; it has linux\\n::error::x\/amd64$/,
    );
  });
});
