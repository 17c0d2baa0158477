// Image layouts for the benchmark: incompressible layers (AES-CTR keystream), written once as streams
// into bench/.data and reused.
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { link, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from '../test/support/run.js';

export const DATA = join(ROOT, 'bench', '.data');
export const MiB = 1 << 20;

async function randomBlob(
  dir: string,
  seed: string,
  size: number,
): Promise<{ digest: string; size: number }> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const tmp = join(dir, 'blobs', 'sha256', `.tmp-${seed.replace(/\W/g, '_')}`);
  const out = createWriteStream(tmp);
  const zeros = Buffer.alloc(4 * MiB);
  for (let written = 0; written < size;) {
    const n = Math.min(zeros.length, size - written);
    const chunk = cipher.update(zeros.subarray(0, n));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    written += n;
  }
  await new Promise<void>((r) => out.end(() => r()));
  const digest = `sha256:${hash.digest('hex')}`;
  await rename(tmp, join(dir, 'blobs', 'sha256', digest.slice(7)));
  return { digest, size };
}

async function jsonBlob(dir: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

async function manifest(
  dir: string,
  name: string,
  layers: number,
  layerSize: number,
  arch = 'amd64',
) {
  const blobs = [];
  for (let i = 0; i < layers; i++)
    blobs.push(await randomBlob(dir, `${name}/${arch}/${i}`, layerSize));
  const config = await jsonBlob(dir, {
    architecture: arch,
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.digest) },
  });
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...b })),
  };
  return {
    mediaType: doc.mediaType,
    ...(await jsonBlob(dir, doc)),
    platform: { os: 'linux', architecture: arch },
  };
}

/** Builds (once, cached in bench/.data) a layout of `layers` incompressible layers of `layerSize`. */
export async function layout(
  name: string,
  layers: number,
  layerSize: number,
  platforms = 1,
): Promise<string> {
  const dir = join(DATA, name);
  if (existsSync(join(dir, 'index.json'))) return dir;
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  let top;
  if (platforms > 1) {
    const children = [];
    for (const arch of ['amd64', 'arm64', 'ppc64le', 's390x'].slice(0, platforms))
      children.push(await manifest(dir, name, layers, layerSize, arch));
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: children,
    };
    top = { mediaType: index.mediaType, ...(await jsonBlob(dir, index)) };
  } else {
    const m = await manifest(dir, name, layers, layerSize);
    top = { mediaType: m.mediaType, digest: m.digest, size: m.size };
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [top] }));
  return dir;
}

/**
 * An image built FROM another (cached in bench/.data): the base layout's layers, then its own
 * `ownSize` layer; the base itself is pushed to another repository before each measurement.
 */
export async function derivedLayout(base: string, name: string, ownSize: number): Promise<string> {
  const dir = join(DATA, name);
  if (existsSync(join(dir, 'index.json'))) return dir;
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const baseIndex = JSON.parse(await readFile(join(base, 'index.json'), 'utf8'));
  const baseManifest = JSON.parse(
    await readFile(join(base, 'blobs', 'sha256', baseIndex.manifests[0].digest.slice(7)), 'utf8'),
  );
  for (const layer of baseManifest.layers as { digest: string }[])
    await link(
      join(base, 'blobs', 'sha256', layer.digest.slice(7)),
      join(dir, 'blobs', 'sha256', layer.digest.slice(7)),
    ).catch(() => undefined);
  const own = await randomBlob(dir, `${name}/own`, ownSize);
  const layers = [
    ...baseManifest.layers,
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...own },
  ];
  const config = await jsonBlob(dir, {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: layers.map((l: { digest: string }) => l.digest) },
  });
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers,
  };
  const top = { mediaType: doc.mediaType, ...(await jsonBlob(dir, doc)) };
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [top] }));
  return dir;
}
