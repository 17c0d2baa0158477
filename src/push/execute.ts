import { writeFile } from 'node:fs/promises';
import type { PushSettings } from '../config/settings.js';
import type { LoadedImage } from '../oci/image.js';
import { readRegularFile } from '../oci/read-file.js';
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

/** The image cut to the `platforms` input: an index anew, with its new digest said. */
async function onlyPlatforms(
  image: LoadedImage,
  platforms: string[],
  logger: PushDeps['logger'],
): Promise<LoadedImage> {
  const { selectPlatforms } = await import('../oci/select-platforms.js');
  const selected = await selectPlatforms(image, platforms, async (node) => {
    const config = node.blobs[0];
    return config ? readRegularFile(config.path, config.digest, 1 << 20) : undefined;
  });
  if (selected.root !== image.root)
    logger.info(
      `platforms ${platforms.join(', ')}: a new index of ${selected.root.kind === 'index' ? selected.root.children.length : 1} manifests, ${selected.root.descriptor.digest}, ${selected.blobs.size} blobs`,
    );
  return selected;
}

/** The pushed digest in the `digest-file`, once the push succeeded; as skopeo writes it, no newline. */
async function withDigestFile(settings: PushSettings, result: PushResult): Promise<PushResult> {
  if (settings.digestFile && result.ok && result.digest && !result.dryRun)
    await writeFile(settings.digestFile, result.digest);
  return result;
}

/**
 * The whole job behind both shells: read and validate the image, then push it (or assemble the
 * index), then clean up. Never throws: a failure is a result that says where and why.
 */
export async function executePush(settings: PushSettings, deps: PushDeps): Promise<PushResult> {
  const started = Date.now();
  if (settings.indexFrom.length) {
    const { pushIndex } = await import('./push-index.js');
    return withDigestFile(settings, await pushIndex(settings, deps));
  }
  const base = deps.base ?? transportFor(settings, deps.signal, deps.connections);
  try {
    return await withDigestFile(
      settings,
      await validateAndPush(settings, { ...deps, base }, started),
    );
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
      return settings.platforms.length
        ? await onlyPlatforms(loaded, settings.platforms, logger)
        : loaded;
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
