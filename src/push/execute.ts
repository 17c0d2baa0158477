import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import type { Inputs } from '../inputs.js';
import type { LoadedImage } from '../oci/image.js';
import { openImageSource } from '../oci/source.js';
import { formatReference } from '../registry/reference.js';
import { type PushDeps, pushImage } from './push.js';
import type { PushResult } from './result.js';

/** The ca-file input, read once; an unreadable file is the user's input error, named. */
export async function readCa(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new InputError(
      `ca-file ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new InputError(`ca-file ${path}: no PEM certificate in it`);
  return pem;
}

function failedBeforePush(inputs: Inputs, error: unknown, started: number): PushResult {
  return {
    ok: false,
    refs: [],
    targetRefs: inputs.tags.map((t) => formatReference(t)),
    targets: [],
    phase: 'validate',
    error: error instanceof Error ? error : new Error(String(error)),
    failedBlobs: [],
    blobsUploaded: 0,
    blobsSkipped: 0,
    blobsMounted: 0,
    bytesUploaded: 0,
    durationMs: Date.now() - started,
  };
}

/**
 * The whole job behind both shells: read and validate the inputs' files, then push the image (or
 * assemble the index), then clean up. Never throws: a failure is a result that says where and why.
 */
export async function executePush(inputs: Inputs, deps: PushDeps): Promise<PushResult> {
  const { logger } = deps;
  const started = Date.now();
  let image: LoadedImage | undefined;
  let ca: string | undefined;
  try {
    ca = await readCa(inputs.caFile);
    if (!inputs.indexFrom.length) {
      image = await logger.group('Validate the image', async () => {
        const loaded = await openImageSource({
          layout: inputs.layout,
          image: inputs.image,
          engine: inputs.engine,
          compression: inputs.compression,
          logger,
        });
        logger.info(
          `${loaded.source}: ${loaded.root.descriptor.digest}, ${loaded.blobs.size} blobs present with the right sizes (their contents are checked against their digests as they upload)`,
        );
        return loaded;
      });
    }
  } catch (error) {
    return failedBeforePush(inputs, error, started);
  }
  if (!image) {
    const { pushIndex } = await import('./push-index.js');
    return pushIndex({ ...inputs, ca }, deps);
  }
  try {
    return await pushImage(image, { ...inputs, ca }, deps);
  } finally {
    await image.cleanup();
  }
}
