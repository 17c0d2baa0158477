import type { Inputs } from '../inputs.js';
import type { Logger } from '../logger.js';
import { openImageSource } from '../oci/source.js';
import { formatReference } from '../registry/reference.js';
import { type PushDeps, pushImage } from './push.js';
import type { PushResult } from './result.js';

/** The whole job behind both shells: read and validate the image, push it, clean up. Never throws. */
export async function executePush(inputs: Inputs, deps: PushDeps): Promise<PushResult> {
  const logger: Logger = deps.logger;
  const started = Date.now();
  let image;
  try {
    image = await logger.group('Validate the image', async () => {
      const loaded = await openImageSource({
        layout: inputs.layout,
        image: inputs.image,
        engine: inputs.engine,
        compression: inputs.compression,
        logger,
      });
      logger.info(
        `${loaded.source}: ${loaded.root.descriptor.digest}, ${loaded.blobs.size} blobs, all present and matching their digests`,
      );
      return loaded;
    });
  } catch (error) {
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
  try {
    return await pushImage(image, inputs, deps);
  } finally {
    await image.cleanup();
  }
}
