import type { PushSettings } from '../config/settings.js';
import { CorruptBlobError } from '../oci/blob-reader.js';
import type { LoadedImage } from '../oci/image.js';
import { shortDigest } from '../oci/digest.js';
import { type ImageNode, manifestsBottomUp, platformsOf } from '../oci/image.js';
import { readRegularFile } from '../oci/read-file.js';
import { type PutManifest, RepositoryClient } from '../registry/client.js';
import type { CauseId } from '../registry/failure.js';
import type { BlobContext } from '../transfer/blob.js';
import { pushBlob } from '../transfer/blob.js';
import { mountCandidates, mountReading, planMounts, sayUnreadable } from './mount-sources.js';
import {
  BlobsFailedError,
  type ManifestContext,
  confirmTag,
  putManifest,
} from '../transfer/manifest.js';
import { localProof } from '../transfer/local-proof.js';
import { SHARES_PER_PLACE, transferPolicy } from '../transfer/policy.js';
import { limiter } from '../util/concurrency.js';
import { InputError } from '../util/errors.js';
import { type PushResult, type TargetResult, emptyResult, tally } from './result.js';
import { type PushDeps, runPush } from './session.js';
import { addReferrer, subjectOf } from './referrers.js';
import { applyTags } from './tag.js';
import { type Target, planTargets } from './targets.js';

export type { PushDeps } from './session.js';
export { BlobsFailedError } from '../transfer/manifest.js';

/** Existence checks and verifications at once: they move no bytes, so they run wider than uploads. */
const CHECK_CONCURRENCY = 16;

/**
 * Pushes a validated image to every target: all blobs to all repositories first (each one verified),
 * then manifests bottom-up, then tags. Nothing is tagged anywhere unless every blob is in place.
 * Never throws: the result says what happened, and `error` why it stopped.
 */
export async function pushImage(
  image: LoadedImage,
  settings: PushSettings,
  deps: PushDeps,
): Promise<PushResult> {
  const result = emptyResult(settings.tags, { byDigest: settings.pushByDigest });
  result.image = image;
  result.platforms = await platformsOf(image.root, async (node) => {
    const config = node.kind === 'manifest' ? node.blobs[0] : undefined;
    return config ? readRegularFile(config.path, config.digest, 1 << 20) : undefined;
  });
  const digest = image.root.descriptor.digest;
  result.digest = digest;
  const policy = transferPolicy(settings.transfer);
  return runPush(settings, deps, result, async (session) => {
    const { logger, clock } = session;
    const targets = planTargets(settings.tags, digest);
    refuseUnservableDigests(image, targets);
    session.phase = 'auth';
    result.targets = targets.map((t): TargetResult => ({ ...t, blobs: new Map() }));
    const contexts = new Map<TargetResult, ManifestContext>();
    const candidates = await mountCandidates(image, settings.mountFrom);
    const proof = localProof();
    const reading = mountReading();
    let stopped: CauseId | undefined;
    await logger.group('Authenticate', async () => {
      for (const target of result.targets) {
        const registry = await session.connect(target);
        const mountFrom = mountSourceFor(result.targets, target);
        // The base image's blobs, where the registry has them: mounted, never uploaded again.
        const plan = candidates.length
          ? await planMounts(candidates, target, registry, image, reading, logger)
          : undefined;
        target.sourcesRead = plan?.read ?? [];
        // Only the target's own scope: a token service that refuses the mount source's scope
        // (Docker Hub: 400 "invalid repository name") must not stop the push; the mount asks for it.
        await registry.authorize(target.repository);
        target.mountedFrom = mountFrom;
        target.observations = registry.observations;
        const client = new RepositoryClient(registry, target.repository);
        contexts.set(target, {
          client,
          policy,
          clock,
          logger,
          mountFrom,
          // Known sources first (the base holds the base layers); then another target, which
          // holds every blob; then a source whose blobs are not known.
          mountFor: (digest) => plan?.known.get(digest) ?? mountFrom ?? plan?.anyBlob[0],
          image,
          blobs: target.blobs,
          stopped: () => stopped ?? (session.cancelled ? 'cancelled' : undefined),
          stop: (cause) => (stopped ??= cause),
          records: new Map(),
          proof,
        });
      }
      sayUnreadable(reading, logger);
    });

    session.phase = 'blobs';
    const blobs = [...image.blobs.values()];
    await logger.group('Upload blobs', async () => {
      for (const target of result.targets) {
        // Nothing is tagged once a blob failed: the next repository would only fail the same way.
        if (
          stopped ||
          result.targets.some((t) => [...t.blobs.values()].some((b) => b.state === 'failed'))
        )
          break;
        const ctx: BlobContext = contexts.get(target)!;
        const quiet = result.targets.indexOf(target) >= LOGGED_TARGETS;
        // Each blob checks, uploads and verifies on its own, so no blob's round trips wait for
        // another's; only the requests that carry bytes wait for a place (small blobs share one).
        const uploads = limiter(policy.concurrency * SHARES_PER_PLACE);
        const checks = limiter(CHECK_CONCURRENCY);
        await Promise.all(
          blobs.map(async (blob) => {
            const outcome = await pushBlob(ctx, blob, { uploads, checks });
            if (!outcome) return;
            target.blobs.set(blob.digest, outcome);
            // A failure no other blob can get past (read-only, refused credentials) ends the phase.
            if (outcome.stopsPush) stopped ??= outcome.cause ?? 'unknown';
            const what =
              outcome.state === 'failed'
                ? `FAILED: ${outcome.error?.message}`
                : outcome.mountedFrom
                  ? `mounted from ${outcome.mountedFrom}`
                  : outcome.how;
            // The log grows with what failed, not with the number of targets: after the first
            // few repositories a blob that went well is a debug line, and one line counts them.
            const say = outcome.state === 'failed' || !quiet ? logger.info : logger.debug;
            say.call(logger, `${target.repository}: ${blob.digest} (${blob.size} bytes) ${what}`);
          }),
        );
      }
      const rest = result.targets.slice(LOGGED_TARGETS).filter((t) => t.blobs.size);
      if (rest.length) logger.info(`${rest.length} more repositories: ${blobCounts(rest)}`);
    });
    tally(result);
    if (result.failedBlobs.length) {
      // A corrupt local blob is the input's fault: say that, in the input's words.
      const corrupt = result.targets
        .flatMap((t) => [...t.blobs.values()])
        .find((b) => b.error instanceof CorruptBlobError);
      if (corrupt?.error) throw corrupt.error;
      const n = result.failedBlobs.length;
      // A few digests name it; the failed-blobs output holds every one, so a line stays readable.
      const named = result.failedBlobs.slice(0, 3);
      const list =
        n <= 3
          ? named.join(', ')
          : `${named.map(shortDigest).join(', ')} and ${n - 3} more (the failed-blobs output lists them all)`;
      throw new BlobsFailedError(
        `${n} blob${n === 1 ? '' : 's'} failed, so no manifest was pushed: ${list}`,
      );
    }

    session.phase = 'manifests';
    /** Manifests whose PUT the registry answered with OCI-Subject: it keeps their referrers. */
    const keptBy = new Map<TargetResult, Set<string>>();
    const note = (target: TargetResult, node: ImageNode, answer: PutManifest): void => {
      if (!answer.subject) return;
      const kept = keptBy.get(target) ?? new Set<string>();
      kept.add(node.descriptor.digest);
      keptBy.set(target, kept);
    };
    await logger.group('Push manifests', async () => {
      for (const target of result.targets) {
        const ctx = contexts.get(target)!;
        for (const node of manifestsBottomUp(image.root)) {
          // A tagged root is pushed by its tags; a PUT by digest as well would send the same bytes twice.
          if (node === image.root && target.tags.length) continue;
          note(target, node, await putManifest(ctx.client, node, node.descriptor.digest, ctx));
        }
      }
    });

    session.phase = 'tags';
    await logger.group('Tag', async () => {
      const put = async (target: Target, tag: string): Promise<string> => {
        const t = target as TargetResult;
        const ctx = contexts.get(t)!;
        note(t, image.root, await putManifest(ctx.client, image.root, tag, ctx));
        return confirmTag(ctx.client, image.root, tag, clock, policy.verifyLagRetries);
      };
      await applyTags(result.targets, digest, put, logger, result.refs, result.elsewhere);
      // A sha512 layout: the registry names the manifest by its own digest, and so do the outputs.
      const served = result.refs[0]?.split('@')[1];
      if (served && served !== digest) {
        result.digest = served;
        logger.info(
          `the registry serves the manifest as ${served}; the layout named it ${digest} (the same bytes)`,
        );
      }
    });

    // Artifacts (signatures, SBOMs) name their subject; without the referrers API, the referrers
    // tag schema keeps them findable from it.
    const artifacts = manifestsBottomUp(image.root).filter((node) => subjectOf(node));
    if (!artifacts.length) return;
    session.phase = 'referrers';
    await logger.group('Referrers', async () => {
      for (const target of result.targets) {
        for (const node of artifacts) {
          if (keptBy.get(target)?.has(node.descriptor.digest)) continue;
          const tag = await addReferrer(
            contexts.get(target)!.client,
            node,
            subjectOf(node)!,
            logger,
          );
          if (!tag) continue;
          const ref = `${target.registry}/${target.repository}:${tag}`;
          if (!result.referrers.includes(ref)) result.referrers.push(ref);
          logger.info(
            `${ref}: lists ${node.descriptor.digest} (the registry has no referrers API)`,
          );
        }
      }
    });
  });
}

/**
 * A manifest pushed by digest must be named the way registries name it: distribution computes sha256
 * whatever the layout used, and answers DIGEST_INVALID to a PUT by a sha512 digest, so an index
 * listing a sha512 child would point at a digest no registry serves. Refused before anything is
 * sent. A sha512 manifest pushed by tag is fine: the registry names it by sha256, and so do the
 * outputs.
 */
function refuseUnservableDigests(image: LoadedImage, targets: Target[]): void {
  const byDigest = manifestsBottomUp(image.root).filter(
    (node) => node !== image.root || targets.some((t) => !t.tags.length),
  );
  const odd = byDigest.find((node) => !node.descriptor.digest.startsWith('sha256:'));
  if (!odd) return;
  const why =
    odd === image.root
      ? 'a push by digest needs a sha256 digest (registries name manifests by sha256); push it with a tag, or re-export it with sha256'
      : 'it is listed by digest in an index, and registries name manifests by sha256, so the index would point at a digest no registry serves; re-export the image with sha256 digests';
  throw new InputError(`${odd.file}: manifest ${odd.descriptor.digest}: ${why}`);
}

/** Repositories whose blobs each get a log line; the rest are counted in one. */
const LOGGED_TARGETS = 3;

function blobCounts(targets: TargetResult[]): string {
  const counts = new Map<string, number>();
  for (const t of targets)
    for (const b of t.blobs.values()) {
      const what = b.state === 'failed' ? 'failed' : (b.how ?? b.state);
      counts.set(what, (counts.get(what) ?? 0) + 1);
    }
  return [...counts].map(([what, n]) => `${n} ${what}`).join(', ');
}

/** Earlier repositories on the same registry hold every blob once their turn is done: mount from there. */
function mountSourceFor(targets: Target[], target: Target): string | undefined {
  return targets.find(
    (t) =>
      t.apiHost === target.apiHost && t !== target && targets.indexOf(t) < targets.indexOf(target),
  )?.repository;
}
