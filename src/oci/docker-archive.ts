import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Gzip } from 'fflate';
import * as z from './schema.js';
import { CancelledError } from '../util/cancel.js';
import { InputError } from '../util/errors.js';
import { isGzip } from './archive.js';
import { digestOf } from './digest.js';
import { MediaType } from './media-types.js';
import { REF_NAME_ANNOTATION, describeSchemaError } from './types.js';
import { readRegularFile } from './read-file.js';

export type Compression = 'gzip' | 'none';

/** A fixed level: the same input must give the same bytes, so a re-run finds its blobs already pushed. */
const GZIP_LEVEL = 6;

const legacyManifestSchema = z.array(
  z.object({
    Config: z.string(),
    RepoTags: z.nullish(z.array(z.string())),
    Layers: z.array(z.string()),
  }),
);

/** Resolves an archive-relative path, following links, and refuses anything that leaves the archive. */
async function insidePath(root: string, rel: string, label: string): Promise<string> {
  const resolved = await realpath(join(root, rel)).catch(() => {
    throw new InputError(`${label}: ${rel} is named in manifest.json but missing from the archive`);
  });
  const back = relative(root, resolved);
  if (back.startsWith('..') || back.startsWith('/'))
    throw new InputError(`${label}: ${rel} points outside the archive`);
  return resolved;
}

/**
 * Gzips a layer with fflate (pure JavaScript): its output depends only on the input and the package
 * version, unlike the native zlib, whose output can change with the CPU's instruction set.
 * Streams, hashing while writing, so a 2 GiB layer costs a few MiB of memory.
 */
async function gzipFile(
  source: string,
  dest: string,
  signal?: AbortSignal,
): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const out = createWriteStream(dest);
  let failed: Error | undefined;
  out.on('error', (e) => (failed = e));
  const pending: Uint8Array[] = [];
  const gzip = new Gzip({ level: GZIP_LEVEL, mtime: 0 }, (chunk) => pending.push(chunk));
  const flush = async (): Promise<void> => {
    for (const chunk of pending.splice(0)) {
      hash.update(chunk);
      size += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  };
  for await (const chunk of createReadStream(source, { highWaterMark: 1 << 20 })) {
    // Checked per MiB: compressing a large layer is the longest step a cancel can meet here.
    if (signal?.aborted) {
      out.destroy();
      throw new CancelledError('cancelled while converting the docker-archive');
    }
    gzip.push(chunk as Buffer);
    await flush();
  }
  gzip.push(new Uint8Array(0), true);
  await flush();
  await new Promise<void>((resolve, reject) =>
    out.end((e?: Error | null) => (e ? reject(e) : resolve())),
  );
  if (failed) throw failed;
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

async function hashFile(
  path: string,
  signal?: AbortSignal,
): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    if (signal?.aborted) throw new CancelledError('cancelled while converting the docker-archive');
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Picks the image by a RepoTags entry (full or just its tag), or the only one. */
function pickEntry(
  entries: z.infer<typeof legacyManifestSchema>,
  ref: string | undefined,
  label: string,
): z.infer<typeof legacyManifestSchema>[number] {
  const tagsOf = (e: (typeof entries)[number]): string[] => e.RepoTags ?? [];
  if (ref !== undefined) {
    const hit = entries.filter((e) => tagsOf(e).some((t) => t === ref || t.endsWith(`:${ref}`)));
    if (hit.length === 1) return hit[0]!;
    throw new InputError(
      `${label}: ${hit.length ? 'several images match' : 'no image with tag'} ${JSON.stringify(ref)}; tags found: ${entries.flatMap(tagsOf).join(', ') || '(none)'}`,
    );
  }
  if (entries.length === 1) return entries[0]!;
  throw new InputError(
    `${label}: the archive holds ${entries.length} images; pick one with PATH:TAG. Tags found: ${entries.flatMap(tagsOf).join(', ') || '(none)'}`,
  );
}

/** Image configs with a long history grow past a manifest's size, but never near this. */
const MAX_CONFIG_BYTES = 64 << 20;

/** The entry of manifest.json to convert. */
async function legacyEntry(
  root: string,
  ref: string | undefined,
  label: string,
): Promise<z.infer<typeof legacyManifestSchema>[number]> {
  const manifestFile = join(root, 'manifest.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      (await readRegularFile(manifestFile, `${label}: manifest.json`)).toString('utf8'),
    );
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`${label}: manifest.json: malformed JSON (${(error as Error).message})`);
  }
  const result = legacyManifestSchema.safeParse(parsed);
  if (!result.success)
    throw new InputError(`${label}: manifest.json: ${describeSchemaError(result.error)}`);
  return pickEntry(result.data, ref, label);
}

/** The layout's blob folder: files stored by digest, each once. */
class BlobStore {
  constructor(readonly dir: string) {}

  path(digest: string): string {
    return join(this.dir, digest.slice('sha256:'.length));
  }

  private async has(digest: string): Promise<boolean> {
    return Boolean(await stat(this.path(digest)).catch(() => undefined));
  }

  /** Moves a staged file in (or drops it when that blob is already there). */
  async take(path: string, digest: string): Promise<void> {
    if (await this.has(digest)) await rm(path, { force: true });
    else await rename(path, this.path(digest));
  }

  /** Layers may be shared (layer.tar links), so the file stays where it is: a hard link, else a copy. */
  async place(path: string, digest: string): Promise<void> {
    if (await this.has(digest)) return;
    await link(path, this.path(digest)).catch(() => copyFile(path, this.path(digest)));
  }
}

/** One layer as a blob: compressed as asked (deterministically), or the layer file itself. */
async function layerBlob(
  store: BlobStore,
  layerPath: string,
  staged: string,
  compression: Compression,
  signal?: AbortSignal,
): Promise<{ mediaType: string; digest: string; size: number }> {
  if (compression === 'gzip' && !(await isGzip(layerPath))) {
    const { digest, size } = await gzipFile(layerPath, staged, signal);
    await store.take(staged, digest);
    return { mediaType: MediaType.ociLayerGzip, digest, size };
  }
  // Already compressed, or kept uncompressed: the layer file itself is the blob.
  const { digest, size } = await hashFile(layerPath, signal);
  await store.place(layerPath, digest);
  const mediaType = (await isGzip(layerPath)) ? MediaType.ociLayerGzip : MediaType.ociLayerTar;
  return { mediaType, digest, size };
}

/**
 * Converts an extracted legacy docker-archive (manifest.json, <id>.json, layer tars) into an OCI layout
 * in the same folder. The config bytes are kept as they are, so the image ID and the diff_ids do not
 * change; uncompressed layers are compressed as asked, deterministically.
 */
export async function convertDockerArchive(
  root: string,
  dest: string,
  ref: string | undefined,
  compression: Compression,
  label: string,
  signal?: AbortSignal,
): Promise<void> {
  const entry = await legacyEntry(root, ref, label);
  const store = new BlobStore(join(dest, 'blobs', 'sha256'));
  await mkdir(store.dir, { recursive: true });
  const configPath = await insidePath(root, entry.Config, label);
  const configBytes = await readRegularFile(
    configPath,
    `${label}: ${entry.Config}`,
    MAX_CONFIG_BYTES,
  );
  const config = {
    mediaType: MediaType.ociConfig,
    digest: digestOf(configBytes),
    size: configBytes.length,
  };
  await writeFile(store.path(config.digest), configBytes);
  const layers = [];
  for (const [i, layerRel] of entry.Layers.entries()) {
    const layerPath = await insidePath(root, layerRel, label);
    layers.push(
      await layerBlob(store, layerPath, join(dest, `.oci-push-layer-${i}`), compression, signal),
    );
  }
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers }),
  );
  const manifestDigest = digestOf(manifest);
  await writeFile(store.path(manifestDigest), manifest);
  const refName = entry.RepoTags?.[0];
  const descriptor = {
    mediaType: MediaType.ociManifest,
    digest: manifestDigest,
    size: manifest.length,
    ...(refName ? { annotations: { [REF_NAME_ANNOTATION]: refName } } : {}),
  };
  await writeFile(
    join(dest, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [descriptor] }),
  );
  await writeFile(join(dest, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}
