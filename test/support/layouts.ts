import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Deterministic pseudo-random bytes: the same seed always gives the same image. */
export function seededBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

async function tarOf(name: string, content: Buffer): Promise<Buffer> {
  const archive = pack();
  archive.entry({ name, size: content.length, mode: 0o644, mtime: new Date(0) }, content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

export interface LayoutSpec {
  seed: string;
  layers?: number;
  layerSize?: number;
  /** Several platforms make a multi-platform index; none makes a single manifest. */
  platforms?: PlatformSpec[];
  /** The platform in a single manifest's config. */
  platform?: PlatformSpec;
  /** org.opencontainers.image.ref.name on the index.json entry. */
  refName?: string;
}

export interface BuiltImage {
  digest: string;
  mediaType: string;
  /** Every config and layer digest. */
  blobs: string[];
  manifests: string[];
}

export class LayoutWriter {
  readonly entries: object[] = [];

  constructor(readonly dir: string) {}

  async init(): Promise<this> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    return this;
  }

  async blob(data: Buffer | string): Promise<{ digest: string; size: number }> {
    const buffer = Buffer.from(data);
    const digest = sha256(buffer);
    await writeFile(join(this.dir, 'blobs', 'sha256', digest.slice(7)), buffer);
    return { digest, size: buffer.length };
  }

  async manifest(
    spec: LayoutSpec,
    platform?: PlatformSpec,
  ): Promise<BuiltImage & { size: number }> {
    const layers = [];
    const seed = `${spec.seed}/${platform ? `${platform.os}/${platform.architecture}` : ''}`;
    for (let i = 0; i < (spec.layers ?? 2); i++) {
      // Gzipped, as skopeo would compress an uncompressed layer when pulling it back into a layout.
      const tar = await tarOf(
        `file-${i}.bin`,
        seededBytes(`${seed}/layer${i}`, spec.layerSize ?? 4096),
      );
      layers.push({
        mediaType: OCI_LAYER,
        diffId: sha256(tar),
        ...(await this.blob(gzipSync(tar, { level: 1 }))),
      });
    }
    const config = {
      architecture: platform?.architecture ?? 'amd64',
      os: platform?.os ?? 'linux',
      ...(platform?.variant ? { variant: platform.variant } : {}),
      config: { Labels: { seed: spec.seed } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    };
    const configBlob = { mediaType: OCI_CONFIG, ...(await this.blob(JSON.stringify(config))) };
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configBlob,
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    };
    const written = await this.blob(JSON.stringify(manifest));
    return {
      ...written,
      mediaType: OCI_MANIFEST,
      blobs: [configBlob.digest, ...layers.map((l) => l.digest)],
      manifests: [written.digest],
    };
  }

  async image(spec: LayoutSpec): Promise<BuiltImage> {
    let built: BuiltImage & { size: number };
    if (spec.platforms?.length) {
      const children = [];
      for (const platform of spec.platforms)
        children.push({ platform, ...(await this.manifest(spec, platform)) });
      const index = {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: children.map((c) => ({
          mediaType: OCI_MANIFEST,
          digest: c.digest,
          size: c.size,
          platform: c.platform,
        })),
      };
      const written = await this.blob(JSON.stringify(index));
      built = {
        ...written,
        mediaType: OCI_INDEX,
        blobs: children.flatMap((c) => c.blobs),
        manifests: [...children.map((c) => c.digest), written.digest],
      };
    } else {
      built = await this.manifest(spec, spec.platform);
    }
    const annotations = spec.refName
      ? { 'org.opencontainers.image.ref.name': spec.refName }
      : undefined;
    this.entries.push({
      mediaType: built.mediaType,
      digest: built.digest,
      size: built.size,
      ...(annotations ? { annotations } : {}),
    });
    await this.writeIndex();
    return built;
  }

  async writeIndex(): Promise<void> {
    await writeFile(
      join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.entries }),
    );
  }
}

/** Writes a layout holding one image and returns what it holds. */
export async function makeLayout(dir: string, spec: LayoutSpec): Promise<BuiltImage> {
  const writer = await new LayoutWriter(dir).init();
  return writer.image(spec);
}

/**
 * An image built FROM the one in `baseDir`: the base's layers, then one layer of its own (`ownSize`
 * bytes), with `annotations` on its manifest. Returns what it holds.
 */
export async function makeDerivedLayout(
  dir: string,
  baseDir: string,
  base: BuiltImage,
  seed: string,
  ownSize = 200 * 1024,
  annotations?: Record<string, string>,
): Promise<BuiltImage & { ownLayer: string; size: number }> {
  const w = await new LayoutWriter(dir).init();
  const baseManifest = JSON.parse(
    await readFile(join(baseDir, 'blobs', 'sha256', base.digest.slice(7)), 'utf8'),
  ) as { layers: { mediaType: string; digest: string; size: number }[] };
  for (const layer of baseManifest.layers)
    await w.blob(await readFile(join(baseDir, 'blobs', 'sha256', layer.digest.slice(7))));
  const own = await w.blob(gzipSync(seededBytes(`${seed}/own`, ownSize), { level: 1 }));
  const config = await w.blob(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { seed } } }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, ...config },
    layers: [...baseManifest.layers, { mediaType: OCI_LAYER, ...own }],
    ...(annotations ? { annotations } : {}),
  };
  const written = await w.blob(JSON.stringify(manifest));
  w.entries.push({ mediaType: OCI_MANIFEST, ...written });
  await w.writeIndex();
  const blobs = [config.digest, ...manifest.layers.map((l) => l.digest)];
  return {
    ...written,
    mediaType: OCI_MANIFEST,
    blobs,
    manifests: [written.digest],
    ownLayer: own.digest,
  };
}
