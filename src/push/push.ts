import { InputError } from '../errors.js';
import { CorruptBlobError } from '../upload/body.js';
import type { Logger } from '../logger.js';
import type { ImageNode, LoadedImage } from '../oci/image.js';
import { manifestsBottomUp } from '../oci/image.js';
import { RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { type BaseTransport, createBaseTransport } from '../registry/http.js';
import type { Registry } from '../registry/registry.js';
import type { UploadSettings } from '../upload/options.js';
import { type Clock, realClock } from '../util/clock.js';
import { mapConcurrent } from '../util/concurrency.js';
import { connectRegistry } from './connect.js';
import type { PushOptions } from './options.js';
import { type BlobContext, pushBlob } from './push-blob.js';
import { type Phase, type PushResult, type TargetResult, emptyResult, tally } from './result.js';
import { applyTags } from './tag.js';
import { type Target, planTargets } from './targets.js';

export interface PushDeps {
  logger: Logger;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /** Overrides the network layer (tests); the push closes only what it created. */
  base?: BaseTransport;
}

/** Raised when blobs failed: the push stopped before any manifest was sent. */
export class BlobsFailedError extends Error {
  override name = 'BlobsFailedError';
}

const BLOB_UNKNOWN_CODES = ['MANIFEST_BLOB_UNKNOWN', 'BLOB_UNKNOWN'];
const HEAD_CONCURRENCY = 16;

/**
 * Pushes a validated image to every target: all blobs to all repositories first (each one verified),
 * then manifests bottom-up, then tags. Nothing is tagged anywhere unless every blob is in place.
 * Never throws: the result says what happened, and `error` why it stopped.
 */
export async function pushImage(
  image: LoadedImage,
  options: PushOptions,
  deps: PushDeps,
): Promise<PushResult> {
  const { logger } = deps;
  const clock = deps.clock ?? realClock;
  const env = deps.env ?? process.env;
  const result = emptyResult(options.tags);
  result.image = image;
  const started = clock.now();
  const digest = image.root.descriptor.digest;
  result.digest = digest;
  const insecureHosts = new Set(options.insecure ? options.tags.map((t) => t.apiHost) : []);
  const base = deps.base ?? createBaseTransport({ insecureHosts, ca: options.ca });
  let phase: Phase = 'auth';
  try {
    const targets = planTargets(options.tags, digest);
    const registries = new Map<string, Registry>();
    result.targets = targets.map((t): TargetResult => ({ ...t, blobs: new Map() }));

    await logger.group('Authenticate', async () => {
      for (const target of targets) {
        let registry = registries.get(target.apiHost);
        if (!registry) {
          registry = await connectRegistry(target, targets[0]?.registry, options, {
            logger,
            clock,
            env,
            base,
          });
          registries.set(target.apiHost, registry);
        }
        const mountFrom = mountSourceFor(targets, target);
        await registry.authorize(target.repository, mountFrom ? [mountFrom] : []);
      }
    });

    phase = 'blobs';
    const blobs = [...image.blobs.values()];
    const settings: UploadSettings = {
      mode: options.uploadMode,
      chunkSize: options.chunkSize,
      retries: options.retries,
      clock,
      logger,
      monolithicLimit: new Map(),
      chunkLimit: new Map(),
    };
    const clients = new Map<TargetResult, RepositoryClient>();
    await logger.group('Upload blobs', async () => {
      for (const target of result.targets) {
        const registry = registries.get(target.apiHost)!;
        const mountFrom = mountSourceFor(result.targets, target);
        const client = new RepositoryClient(
          registry,
          target.repository,
          mountFrom ? [mountFrom] : [],
        );
        clients.set(target, client);
        const ctx: BlobContext = { client, settings, mountFrom };
        target.mountedFrom = mountFrom;
        target.observations = registry.observations;
        // Existence checks move no bytes, so they run wider than uploads; what is present is skipped.
        const known = await mapConcurrent(
          blobs,
          Math.max(options.concurrency, HEAD_CONCURRENCY),
          (blob) => client.statBlob(blob.digest).catch(() => undefined),
        );
        const stats = new Map(blobs.map((blob, i) => [blob.digest, known[i]]));
        await mapConcurrent(blobs, options.concurrency, async (blob) => {
          const outcome = await pushBlob(ctx, blob, false, stats.get(blob.digest));
          target.blobs.set(blob.digest, outcome);
          const what =
            outcome.state === 'failed' ? `FAILED: ${outcome.error?.message}` : outcome.how;
          logger.info(`${target.repository}: ${blob.digest} (${blob.size} bytes) ${what}`);
        });
      }
    });
    tally(result);
    if (result.failedBlobs.length) {
      // A corrupt local blob is the input's fault: say that, in the input's words.
      const corrupt = result.targets
        .flatMap((t) => [...t.blobs.values()])
        .find((b) => b.error instanceof CorruptBlobError);
      if (corrupt?.error) throw corrupt.error;
      const n = result.failedBlobs.length;
      throw new BlobsFailedError(
        `${n} blob${n === 1 ? '' : 's'} failed, so no manifest was pushed: ${result.failedBlobs.join(', ')}`,
      );
    }

    phase = 'manifests';
    await logger.group('Push manifests', async () => {
      for (const target of result.targets) {
        const client = clients.get(target)!;
        for (const node of manifestsBottomUp(image.root)) {
          // A tagged root is pushed by its tags; a PUT by digest as well would send the same bytes twice.
          if (node === image.root && target.tags.length) continue;
          await putManifest(client, node, node.descriptor.digest, { settings, image, target });
        }
      }
    });

    phase = 'tags';
    await logger.group('Tag', async () => {
      const put = (target: Target, tag: string): Promise<void> => {
        const t = target as TargetResult;
        return putManifest(clients.get(t)!, image.root, tag, { settings, image, target: t });
      };
      result.refs.push(...(await applyTags(result.targets, digest, put, logger)));
    });
    result.ok = true;
  } catch (error) {
    result.phase = phase;
    result.error = error instanceof Error ? error : new Error(String(error));
  } finally {
    // Every request has finished: drop idle keep-alive sockets now rather than wait on them.
    if (!deps.base) await base.destroy().catch(() => undefined);
    tally(result);
    result.durationMs = clock.now() - started;
  }
  return result;
}

/** Earlier repositories on the same registry hold every blob once their turn is done: mount from there. */
function mountSourceFor(targets: Target[], target: Target): string | undefined {
  return targets.find(
    (t) =>
      t.apiHost === target.apiHost && t !== target && targets.indexOf(t) < targets.indexOf(target),
  )?.repository;
}

interface ManifestContext {
  settings: UploadSettings;
  image: LoadedImage;
  target: TargetResult;
}

function blobNamedBy(error: RegistryError, image: LoadedImage): string | undefined {
  const text = error.codes
    .map((c) => `${c.message ?? ''} ${JSON.stringify(c.detail ?? '')}`)
    .join(' ');
  const found = text.match(/sha(?:256|512):[a-f0-9]{64,128}/g) ?? [];
  return found.find((d) => image.blobs.has(d));
}

/**
 * PUTs one manifest and checks the digest the registry computed. If the registry says a blob is
 * unknown (it vanished after it was verified), that blob is uploaded and verified again, and the PUT
 * is tried once more.
 */
async function putManifest(
  client: RepositoryClient,
  node: ImageNode,
  reference: string,
  ctx: ManifestContext,
): Promise<void> {
  const mediaType = node.descriptor.mediaType;
  const put = (): Promise<string | undefined> => client.putManifest(reference, mediaType, node.raw);
  let returned: string | undefined;
  try {
    returned = await put();
  } catch (error) {
    const missing =
      error instanceof RegistryError && error.hasCode(...BLOB_UNKNOWN_CODES)
        ? blobNamedBy(error, ctx.image)
        : undefined;
    if (!missing) throw error;
    ctx.settings.logger.warning(
      `${node.file}: the registry lost blob ${missing} after it was verified; uploading it again`,
    );
    const outcome = await pushBlob(
      { client, settings: ctx.settings },
      ctx.image.blobs.get(missing)!,
      true,
    );
    const previous = ctx.target.blobs.get(missing);
    const code = (error as RegistryError).codes[0]?.code;
    outcome.tried.unshift(
      ...(previous?.tried ?? []),
      `verified, then the manifest PUT answered ${code}`,
    );
    outcome.vanishedAfterAck = true;
    ctx.target.blobs.set(missing, outcome);
    if (outcome.state === 'failed') {
      throw new BlobsFailedError(
        `blob ${missing} failed after the registry lost it, so ${node.file} was not pushed`,
      );
    }
    returned = await put();
  }
  if (returned && returned !== node.descriptor.digest) {
    throw new InputError(
      `${node.file}: the registry computed digest ${returned} for the manifest, expected ${node.descriptor.digest}`,
    );
  }
}
