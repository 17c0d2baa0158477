import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledError, trackTemp, untrackTemp } from '../util/cancel.js';
import { InputError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { Compression } from './docker-archive.js';
import type { Engine } from './engine-export.js';
import type { LoadedImage } from './image.js';
import { readFifo } from './fifo.js';
import { loadLayout } from './layout.js';

/** Where temporary files go: the runner's temp folder when there is one, so the runner cleans it too. */
export function tempRoot(): string {
  return process.env.RUNNER_TEMP || tmpdir();
}

export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tempRoot(), prefix));
  trackTemp(dir);
  return dir;
}

/** Removes a folder made by makeTempDir. */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  untrackTemp(dir);
}

const STDIN_NAMES = new Set(['/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

const exists = async (path: string): Promise<boolean> =>
  Boolean(await stat(path).catch(() => undefined));

/**
 * Splits `PATH[:REF]` the way skopeo's oci: transport does. A path that exists as written wins, so a
 * folder whose name holds a colon still works; otherwise the shortest existing prefix is the path,
 * so a REF may hold colons itself (`image.tar:localhost/app:1`).
 */
export async function parseLayoutSpec(
  spec: string,
  isThere: (path: string) => Promise<boolean> = exists,
): Promise<{ path: string; ref?: string }> {
  if (await isThere(spec)) return { path: spec };
  // A Windows drive letter (`C:\…`, `D:/…`) is part of the path, never a REF separator.
  const start = /^[a-zA-Z]:[\\/]/.test(spec) ? 2 : 0;
  for (let colon = spec.indexOf(':', start); colon > 0; colon = spec.indexOf(':', colon + 1)) {
    const path = spec.slice(0, colon);
    const ref = spec.slice(colon + 1);
    if (ref && (await isThere(path))) return { path, ref };
  }
  throw new InputError(`layout ${spec}: no such file or directory`);
}

export interface SourceOptions {
  layout?: string;
  image?: string;
  engine: Engine;
  compression: Compression;
  logger: Logger;
  /** A cancelled run stops reading the image. */
  signal?: AbortSignal;
  /** The most an archive or a pipe may expand to in the temp folder, when a person set one. */
  maxImageSize?: number;
}

/**
 * Turns a folder into a pushable image: an OCI layout as it is (docker 25+ saves are OCI layouts too),
 * or a legacy docker-archive converted into `scratch`. Error messages name `shownAs`, not temp paths.
 */
async function openFolder(
  dir: string,
  ref: string | undefined,
  options: SourceOptions,
  shownAs: string,
  scratch: () => Promise<string>,
): Promise<LoadedImage> {
  const rename = (error: unknown): never => {
    if (error instanceof InputError && dir !== shownAs)
      throw new InputError(error.message.split(dir).join(shownAs));
    throw error;
  };
  if (await exists(join(dir, 'oci-layout')))
    return loadLayout({ dir, ref, signal: options.signal }).catch(rename);
  if (await exists(join(dir, 'manifest.json'))) {
    const dest = await scratch();
    // Loaded on demand: most pushes never meet a docker-archive.
    const { convertDockerArchive } = await import('./docker-archive.js');
    await convertDockerArchive(dir, dest, ref, options.compression, shownAs, options.signal).catch(
      rename,
    );
    const image = await loadLayout({ dir: dest, signal: options.signal }).catch(rename);
    return {
      ...image,
      source: `docker-archive ${shownAs}${ref ? `:${ref}` : ''} (converted to OCI, ${options.compression} layers)`,
    };
  }
  throw new InputError(
    `${shownAs}: neither an OCI image layout (no oci-layout file) nor a docker-archive (no manifest.json)`,
  );
}

/** Where the input is: a path to read, how to name it, and the image it picks (`PATH:REF`). */
interface InputPlace {
  path: string;
  ref?: string;
  shownAs: string;
}

async function inputPlace(
  options: SourceOptions,
  scratch: () => Promise<string>,
): Promise<InputPlace> {
  if (options.image) {
    const { exportImage } = await import('./engine-export.js');
    const path = await exportImage(
      options.image,
      options.engine,
      await scratch(),
      options.logger,
      options.signal,
    );
    return { path, shownAs: `image ${options.image}` };
  }
  // `-` is stdin, as tar, skopeo and docker load take it.
  if (options.layout === '-') return { path: '/dev/stdin', shownAs: 'stdin' };
  const { path, ref } = await parseLayoutSpec(options.layout ?? '');
  return { path, ref, shownAs: path };
}

/** An archive's image, named as one (a docker-archive says so itself). */
function asArchive(image: LoadedImage, place: InputPlace): LoadedImage {
  if (image.source.startsWith('docker-archive')) return image;
  return { ...image, source: `oci archive ${place.shownAs}${place.ref ? `:${place.ref}` : ''}` };
}

/**
 * A pipe (`-`, `/dev/stdin`, a process substitution) is read once, as it arrives: extracted as a
 * stream, never spooled first. This process's own stdin is read as it is, so a writer that is
 * already gone (`true | oci-push push - REF`) is an empty input at once; a named pipe is opened
 * without blocking and waits a bounded time for its writer.
 */
async function readPipe(
  place: InputPlace,
  stdin: boolean,
  options: SourceOptions,
  scratch: () => Promise<string>,
): Promise<LoadedImage> {
  const extracted = await scratch();
  const { extractStream } = await import('./archive.js');
  await extractStream(
    stdin ? process.stdin : readFifo(place.path, place.shownAs, options.signal),
    place.shownAs,
    extracted,
    { signal: options.signal, maxBytes: options.maxImageSize },
  );
  return asArchive(await openFolder(extracted, place.ref, options, place.shownAs, scratch), place);
}

/** An archive file, extracted (its errors name the input as the person wrote it). */
async function readArchiveFile(
  place: InputPlace,
  options: SourceOptions,
  scratch: () => Promise<string>,
): Promise<LoadedImage> {
  const extracted = await scratch();
  const { extractArchive } = await import('./archive.js');
  await extractArchive(place.path, extracted, {
    signal: options.signal,
    maxBytes: options.maxImageSize,
  }).catch((error: unknown) => {
    if (error instanceof InputError)
      throw new InputError(error.message.split(place.path).join(place.shownAs));
    throw error;
  });
  return asArchive(await openFolder(extracted, place.ref, options, place.shownAs, scratch), place);
}

/** The image at a place: a folder, an archive file, or a pipe. */
async function readPlace(
  place: InputPlace,
  options: SourceOptions,
  scratch: () => Promise<string>,
): Promise<LoadedImage> {
  const stdin = STDIN_NAMES.has(place.path);
  if (stdin && process.stdin.isTTY)
    throw new InputError(
      `${place.shownAs}: a terminal, not an image; pipe an archive into it (oci-push push - REF < image.tar)`,
    );
  const info = await stat(place.path);
  if (info.isSocket() && !stdin) throw new InputError(`${place.shownAs}: a socket, not an archive`);
  if (info.isFIFO() || info.isSocket()) return readPipe(place, stdin, options, scratch);
  if (info.isDirectory()) return openFolder(place.path, place.ref, options, place.shownAs, scratch);
  if (!info.isFile()) throw new InputError(`${place.shownAs}: not a file, a folder or a pipe`);
  return readArchiveFile(place, options, scratch);
}

/** Opens the image input: a layout folder or archive (`layout`), or an image exported from an engine (`image`). */
export async function openImageSource(options: SourceOptions): Promise<LoadedImage> {
  const temps: string[] = [];
  const scratch = async (): Promise<string> => {
    const dir = await makeTempDir('oci-push-');
    temps.push(dir);
    return dir;
  };
  const cleanup = async (): Promise<void> => {
    await Promise.all(temps.map(removeTempDir));
  };
  try {
    const image = await readPlace(await inputPlace(options, scratch), options, scratch);
    return { ...image, cleanup };
  } catch (error) {
    await cleanup();
    if (options.signal?.aborted && !(error instanceof CancelledError))
      throw new CancelledError('cancelled while reading the image');
    throw error;
  }
}
