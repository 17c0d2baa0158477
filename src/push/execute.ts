import type { PushSettings } from '../config/settings.js';
import type { LoadedImage } from '../oci/image.js';
import { openImageSource } from '../oci/source.js';
import { faultOf } from '../registry/failure.js';
import { realClock } from '../util/clock.js';
import { pingEarly } from './connect.js';
import { type PushDeps, pushImage } from './push.js';
import { transportFor } from './push-run.js';
import { type PushResult, emptyResult } from './result.js';

/** A result for input that failed before anything was sent. */
export function failedBeforePush(
  tags: PushSettings['tags'],
  error: unknown,
  started = Date.now(),
): PushResult {
  return emptyResult(tags, {
    phase: 'validate',
    error: error instanceof Error ? error : new Error(String(error)),
    cause: faultOf(error).cause,
    durationMs: Date.now() - started,
  });
}

/**
 * The whole job behind both shells: read and validate the image, then push it (or assemble the
 * index), then clean up. Never throws: a failure is a result that says where and why.
 */
export async function executePush(settings: PushSettings, deps: PushDeps): Promise<PushResult> {
  const started = Date.now();
  if (settings.indexFrom.length) {
    const { pushIndex } = await import('./push-index.js');
    return pushIndex(settings, deps);
  }
  const base = deps.base ?? transportFor(settings, deps.signal);
  try {
    return await validateAndPush(settings, { ...deps, base }, started);
  } finally {
    // Only what this run opened; an early ping still waiting ends here too.
    if (!deps.base) await base.destroy().catch(() => undefined);
  }
}

async function validateAndPush(
  settings: PushSettings,
  deps: PushDeps,
  started: number,
): Promise<PushResult> {
  const { logger } = deps;
  let image: LoadedImage;
  try {
    image = await logger.group('Validate the image', async () => {
      const loaded = await openImageSource({
        layout: settings.layout,
        image: settings.image,
        engine: settings.engine,
        compression: settings.compression,
        maxImageSize: settings.maxImageSize,
        logger,
        signal: deps.signal,
      });
      logger.info(
        `${loaded.source}: ${loaded.root.descriptor.digest}, ${loaded.blobs.size} blobs present with the right sizes (the registry checks each upload against its digest; a refused one is hashed here to say why)`,
      );
      return loaded;
    });
  } catch (error) {
    return failedBeforePush(settings.tags, error, started);
  }
  // Asked once the image is valid, never before: input that is refused sends no request at all.
  // The answer overlaps the platform reads and the plan before the first check.
  const early = pingEarly(
    settings.tags.map((t) => t.apiHost),
    settings,
    { logger, clock: deps.clock ?? realClock, base: deps.base! },
  );
  try {
    return await pushImage(image, settings, { ...deps, early });
  } finally {
    await image.cleanup();
  }
}
