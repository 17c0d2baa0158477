import type { Inputs } from '../inputs.js';
import type { LoadedImage } from '../oci/image.js';
import { openImageSource } from '../oci/source.js';
import { readCa } from '../registry/ca-file.js';
import { type PushDeps, pushImage } from './push.js';
import { type PushResult, emptyResult } from './result.js';

function failedBeforePush(inputs: Inputs, error: unknown, started: number): PushResult {
  return emptyResult(inputs.tags, {
    phase: 'validate',
    error: error instanceof Error ? error : new Error(String(error)),
    durationMs: Date.now() - started,
  });
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
