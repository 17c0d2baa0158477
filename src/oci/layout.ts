import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledError } from '../util/cancel.js';
import { InputError } from '../util/errors.js';
import { blobName, digestOf, parseDigest } from './digest.js';
import { type BlobFile, type ImageNode, type LoadedImage, isNonDistributable } from './image.js';
import { manifestKind } from './media-types.js';
import { MAX_DOCUMENT_BYTES, readRegularFile } from './read-file.js';
import {
  type Descriptor,
  REF_NAME_ANNOTATION,
  type Schema,
  describeSchemaError,
  indexSchema,
  layoutMarkerSchema,
  manifestSchema,
} from './types.js';

/** Distribution refuses manifests over 4 MiB; a bigger "manifest" is a mistake, not something to parse. */
const MAX_MANIFEST_BYTES = MAX_DOCUMENT_BYTES;

export interface LayoutSelection {
  dir: string;
  ref?: string;
  /** Checked at every document read: a cancelled run stops reading at once. */
  signal?: AbortSignal;
}

/** Distinct manifests and indexes one image may hold; far more than any real multi-platform image. */
export const MAX_MANIFESTS = 1000;

export function blobPath(dir: string, digest: string): string {
  const parsed = parseDigest(digest);
  if (!parsed) throw new InputError(`invalid digest ${JSON.stringify(digest)}`);
  return join(dir, 'blobs', parsed.algorithm, parsed.hex);
}

async function readJsonFile<T>(path: string, label: string, schema: Schema<T>): Promise<T> {
  return parseJson((await readRegularFile(path, label)).toString('utf8'), label, schema);
}

function parseJson<T>(text: string, label: string, schema: Schema<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${label}: malformed JSON (${(error as Error).message})`);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new InputError(`${label}: ${describeSchemaError(result.error)}`);
  return result.data;
}

async function statBlob(dir: string, desc: Descriptor, where: string): Promise<string> {
  const path = blobPath(dir, desc.digest);
  const info = await stat(path).catch(() => undefined);
  if (!info || !info.isFile()) {
    throw new InputError(
      `${where}: blob ${desc.digest} is missing (expected ${blobName(desc.digest)})`,
    );
  }
  if (info.size !== desc.size) {
    throw new InputError(
      `${where}: blob ${desc.digest} has ${info.size} bytes on disk but its descriptor says ${desc.size}`,
    );
  }
  return path;
}

async function readDocument(dir: string, desc: Descriptor, where: string): Promise<Buffer> {
  if (desc.size > MAX_MANIFEST_BYTES) {
    throw new InputError(
      `${where}: manifest ${desc.digest} is ${desc.size} bytes, over the 4 MiB limit`,
    );
  }
  const path = await statBlob(dir, desc, where);
  const raw = await readRegularFile(path, blobName(desc.digest));
  const parsed = parseDigest(desc.digest)!;
  const actual = digestOf(raw, parsed.algorithm);
  if (actual !== desc.digest) {
    throw new InputError(
      `${blobName(desc.digest)}: content does not match its digest (it hashes to ${actual})`,
    );
  }
  return raw;
}

/** Picks the image from index.json: by ref name when one is given, else the only entry. */
export function selectImage(
  entries: Descriptor[],
  ref: string | undefined,
  label: string,
): Descriptor {
  const refOf = (d: Descriptor): string | undefined => d.annotations?.[REF_NAME_ANNOTATION];
  if (ref !== undefined) {
    const matches = entries.filter((d) => refOf(d) === ref);
    if (matches.length === 1) return matches[0] as Descriptor;
    const known = entries.map(refOf).filter((r): r is string => r !== undefined);
    if (matches.length === 0) {
      throw new InputError(
        `${label}: no image with ref ${JSON.stringify(ref)}; refs found: ${known.length ? known.join(', ') : '(none)'}`,
      );
    }
    throw new InputError(`${label}: ${matches.length} images carry ref ${JSON.stringify(ref)}`);
  }
  if (entries.length === 1) return entries[0] as Descriptor;
  if (entries.length === 0) throw new InputError(`${label}: the layout holds no image`);
  const refs = entries.map((d) => refOf(d) ?? `(no ref: ${d.digest})`);
  throw new InputError(
    `${label}: the layout holds ${entries.length} images; pick one with DIR:REF. Refs found: ${refs.join(', ')}`,
  );
}

/** The `oci-layout` marker: present, and of a version this reads. */
async function checkMarker(dir: string): Promise<void> {
  const file = join(dir, 'oci-layout');
  const marker = await readJsonFile(file, file, layoutMarkerSchema);
  if (!/^1\.\d+\.\d+$/.test(marker.imageLayoutVersion))
    throw new InputError(`${file}: unsupported imageLayoutVersion ${marker.imageLayoutVersion}`);
}

/** The graph below one image of a layout, each distinct document read once. */
class LayoutReader {
  readonly blobs = new Map<string, BlobFile>();
  readonly foreign: NonNullable<LoadedImage['foreign']> = [];
  private readonly documents = new Map<string, ImageNode>();

  constructor(private readonly selection: LayoutSelection) {}

  async visit(desc: Descriptor, where: string, depth: number): Promise<ImageNode> {
    const cached = this.documents.get(desc.digest);
    if (cached) {
      // Every descriptor is checked, not only the first one met: the order must not matter.
      if (cached.descriptor.size !== desc.size || cached.descriptor.mediaType !== desc.mediaType)
        throw new InputError(
          `${where}: manifest ${desc.digest} is listed again with size ${desc.size} and media type ${JSON.stringify(desc.mediaType)}, but it is ${cached.descriptor.size} bytes of ${JSON.stringify(cached.descriptor.mediaType)}`,
        );
      return cached;
    }
    if (depth > 8) throw new InputError(`${where}: indexes nest too deeply`);
    if (this.selection.signal?.aborted)
      throw new CancelledError('cancelled while reading the image');
    if (this.documents.size >= MAX_MANIFESTS)
      throw new InputError(
        `${where}: the image holds more than ${MAX_MANIFESTS} distinct manifests and indexes`,
      );
    const node = await this.read(desc, where, depth);
    this.documents.set(desc.digest, node);
    return node;
  }

  /** One manifest or index: read, matched to its digest, parsed, and its children visited. */
  private async read(desc: Descriptor, where: string, depth: number): Promise<ImageNode> {
    const file = blobName(desc.digest);
    const kind = manifestKind(desc.mediaType);
    if (!kind)
      throw new InputError(
        `${file}: unsupported manifest media type ${JSON.stringify(desc.mediaType)} (referenced from ${where})`,
      );
    const raw = await readDocument(this.selection.dir, desc, where);
    const schema = kind === 'index' ? indexSchema : manifestSchema;
    const doc = parseJson<{ mediaType?: string }>(
      raw.toString('utf8'),
      `${file} (${kind})`,
      schema as Schema<{ mediaType?: string }>,
    );
    if (doc.mediaType !== undefined && doc.mediaType !== desc.mediaType)
      throw new InputError(
        `${file}: its mediaType ${doc.mediaType} differs from the descriptor's ${desc.mediaType}`,
      );
    if (kind === 'index') {
      const index = indexSchema.parse(doc);
      const children: ImageNode[] = [];
      for (const child of index.manifests) children.push(await this.visit(child, file, depth + 1));
      return { kind, descriptor: desc, raw, file, index, children };
    }
    const manifest = manifestSchema.parse(doc);
    const nodeBlobs: BlobFile[] = [];
    for (const blob of [manifest.config, ...manifest.layers]) {
      const entry = await this.blob(blob, file);
      if (entry) nodeBlobs.push(entry);
    }
    return { kind, descriptor: desc, raw, file, manifest, blobs: nodeBlobs };
  }

  /**
   * A manifest's blob, present with its size. Non-distributable layers live elsewhere (urls) and
   * registries expect clients not to push them. Any other missing blob is an error, urls or not: a
   * registry that allowed foreign URLs would otherwise tag an image whose layer it does not hold.
   */
  private async blob(blob: Descriptor, file: string): Promise<BlobFile | undefined> {
    const { dir } = this.selection;
    if (
      isNonDistributable(blob.mediaType) &&
      blob.urls?.length &&
      !(await stat(blobPath(dir, blob.digest)).catch(() => undefined))
    ) {
      if (!this.foreign.some((f) => f.digest === blob.digest))
        this.foreign.push({ digest: blob.digest, mediaType: blob.mediaType, urls: blob.urls });
      return undefined;
    }
    const entry: BlobFile = {
      digest: blob.digest,
      size: blob.size,
      mediaType: blob.mediaType,
      path: await statBlob(dir, blob, file),
    };
    if (!this.blobs.has(entry.digest)) this.blobs.set(entry.digest, entry);
    return entry;
  }
}

/**
 * Reads and checks an OCI image layout before anything is sent: every manifest and index is present,
 * matches its digest and parses; every blob is present with the right size. Config and layer
 * contents are not hashed here: a blob the registry already has is never read, an upload is checked
 * by the registry against its digest, and a mount's file is hashed before the mount.
 */
export async function loadLayout(selection: LayoutSelection): Promise<LoadedImage> {
  const { dir } = selection;
  const info = await lstat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new InputError(`${dir}: not a directory`);
  await checkMarker(dir);
  const indexLabel = join(dir, 'index.json');
  const top = await readJsonFile(indexLabel, indexLabel, indexSchema);
  const reader = new LayoutReader(selection);
  const root = await reader.visit(
    selectImage(top.manifests, selection.ref, indexLabel),
    indexLabel,
    0,
  );
  const ref = selection.ref ? `:${selection.ref}` : '';
  return {
    root,
    blobs: reader.blobs,
    source: `oci layout ${dir}${ref}`,
    foreign: reader.foreign,
    cleanup: async () => undefined,
  };
}
