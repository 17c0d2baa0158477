import type { PushSettings } from '../config/settings.js';
import { CorruptBlobError } from '../oci/blob-reader.js';
import type { LoadedImage } from '../oci/image.js';
import { shortDigest } from '../oci/digest.js';
import { type ImageNode, manifestsBottomUp, platformsOf } from '../oci/image.js';
import { readRegularFile } from '../oci/read-file.js';
import { type PutManifest, RepositoryClient, blobCheck, tagCheck } from '../registry/client.js';
import type { HttpRequest } from '../registry/http.js';
import type { CauseId } from '../registry/failure.js';
import { pushBlob } from '../transfer/blob.js';
import { holds } from '../transfer/steps.js';
import { mountCandidates, mountReading, planMounts, sayUnreadable } from './mount-sources.js';
import {
  BlobsFailedError,
  type ManifestContext,
  confirmTag,
  putManifest,
  standingTags,
} from '../transfer/manifest.js';
import { type LocalProof, localProof } from '../transfer/local-proof.js';
import {
  SHARES_PER_PLACE,
  type TransferPolicy,
  firstWave,
  transferPolicy,
} from '../transfer/policy.js';
import { limiter } from '../util/concurrency.js';
import { InputError } from '../util/errors.js';
import { formatSize } from '../util/format.js';
import { type BlobOutcome, type PushResult, type TargetResult, emptyResult } from './result.js';
import { type PushDeps, type PushRun, phase, runPush } from './push-run.js';
import { addReferrer, subjectOf } from './referrers.js';
import { type PutTag, applyTags } from './tag.js';
import { type Target, planTargets } from './targets.js';

export type { PushDeps } from './push-run.js';
export { BlobsFailedError } from '../transfer/manifest.js';

/**
 * Existence checks and verifications at once: they move no bytes, so they run wider than uploads.
 * On HTTP/2 they share one connection, so a 64-layer image is checked in one round trip; on
 * HTTP/1.1 each HEAD costs a connection (undici closes it after a HEAD), so fewer.
 */
const CHECK_CONCURRENCY = { multiplexed: 64, perConnection: 16 };

const checksFor = (registry: { multiplexed: boolean }): number =>
  registry.multiplexed ? CHECK_CONCURRENCY.multiplexed : CHECK_CONCURRENCY.perConnection;

/** One image push: what every phase reads and adds to. */
interface ImagePush {
  image: LoadedImage;
  settings: PushSettings;
  run: PushRun;
  result: PushResult;
  policy: TransferPolicy;
  /** Each target's client and blob context, set when it is authenticated. */
  contexts: Map<TargetResult, ManifestContext>;
  /** Whether each local file holds its blob, asked before a mount; shared by the targets. */
  proof: LocalProof;
  /** The cause, once a blob failed in a way no other blob can get past. */
  stopped?: CauseId;
  /** Manifests whose PUT the registry answered with OCI-Subject: it keeps their referrers. */
  keptBy: Map<TargetResult, Set<string>>;
  /** Each target's tags that pointed at this image before the push, read beside the blob checks. */
  standing: Map<TargetResult, Promise<Map<string, string>>>;
}

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
  result.digest = image.root.descriptor.digest;
  return runPush(settings, deps, result, async (run) => {
    const targets = planTargets(settings.tags, image.root.descriptor.digest);
    refuseUnservableDigests(image, targets);
    result.targets = targets.map((t): TargetResult => ({ ...t, blobs: new Map() }));
    const push: ImagePush = {
      image,
      settings,
      run,
      result,
      policy: transferPolicy(settings.transfer),
      contexts: new Map(),
      proof: localProof(),
      keptBy: new Map(),
      standing: new Map(),
    };
    await phase(run, 'auth', () => authenticate(push));
    if (settings.dryRun) return phase(run, 'blobs', () => checkOnly(push), 'Check (dry run)');
    await phase(run, 'blobs', () => uploadBlobs(push));
    refuseFailedBlobs(push);
    await phase(run, 'manifests', () => pushManifests(push));
    await phase(run, 'tags', () => tagTargets(push));
    await pushReferrers(push);
  });
}

/** Connects each target's registry, plans its mounts, and checks its credentials up front. */
async function authenticate(push: ImagePush): Promise<void> {
  const { image, settings, run, result } = push;
  const candidates = await mountCandidates(image, settings.mountFrom);
  const reading = mountReading();
  for (const target of result.targets) {
    // Its first checks go out beside the registry's `GET /v2/` where that can help (connect.ts).
    const checkAhead = (api: URL): HttpRequest[] => [
      ...target.tags.map((tag) =>
        tagCheck(api, target.repository, tag, [image.root.descriptor.mediaType]),
      ),
      ...[...image.blobs.keys()]
        .slice(0, CHECK_CONCURRENCY.multiplexed)
        .map((digest) => blobCheck(api, target.repository, digest)),
    ];
    // A dry run sends no body.
    const bodies = settings.dryRun ? 0 : firstWave(push.policy, [...image.blobs.values()]);
    const registry = await run.connect({ ...target, checkAhead, bodies });
    const mountFrom = mountSourceFor(result.targets, target);
    // The base image's blobs, where the registry has them: mounted, never uploaded again.
    const plan = candidates.length
      ? await planMounts(candidates, target, registry, image, reading, run.logger)
      : undefined;
    target.sourcesRead = plan?.read ?? [];
    // Only the target's own scope: a token service that refuses the mount source's scope
    // (Docker Hub: 400 "invalid repository name") must not stop the push; the mount asks for it.
    await registry.authorize(target.repository);
    target.mountedFrom = mountFrom;
    target.observations = registry.observations;
    push.contexts.set(target, {
      client: new RepositoryClient(registry, target.repository),
      policy: push.policy,
      clock: run.clock,
      logger: run.logger,
      mountFrom,
      // Known sources first (the base holds the base layers); then another target, which
      // holds every blob; then a source whose blobs are not known.
      mountFor: (digest) => plan?.known.get(digest) ?? mountFrom ?? plan?.anyBlob[0],
      image,
      blobs: target.blobs,
      stopped: () => push.stopped ?? (run.cancelled ? 'cancelled' : undefined),
      stop: (cause) => (push.stopped ??= cause),
      records: new Map(),
      proof: push.proof,
    });
  }
  sayUnreadable(reading, run.logger);
}

/** Every blob to every repository, each checked, uploaded and verified on its own. */
async function uploadBlobs(push: ImagePush): Promise<void> {
  const { result, policy } = push;
  for (const target of result.targets) {
    // Nothing is tagged once a blob failed: the next repository would only fail the same way.
    if (push.stopped || result.targets.some((t) => [...t.blobs.values()].some(isFailed))) break;
    // Only the requests that carry bytes wait for a place (small blobs share one).
    const uploads = limiter(policy.concurrency * SHARES_PER_PLACE);
    const ctx = push.contexts.get(target)!;
    const checks = limiter(checksFor(ctx.client.registry));
    push.standing.set(target, standingTags(ctx.client, push.image.root, target.tags, checks));
    await Promise.all(
      [...push.image.blobs.values()].map(async (blob) => {
        const outcome = await pushBlob(ctx, blob, { uploads, checks });
        if (!outcome) return;
        target.blobs.set(blob.digest, outcome);
        // A failure no other blob can get past (read-only, refused credentials) ends the phase.
        if (outcome.stopsPush) push.stopped ??= outcome.cause ?? 'unknown';
        sayBlob(push, target, outcome);
      }),
    );
  }
  const rest = result.targets.slice(LOGGED_TARGETS).filter((t) => t.blobs.size);
  if (rest.length) push.run.logger.info(`${rest.length} more repositories: ${blobCounts(rest)}`);
}

const isFailed = (b: BlobOutcome): boolean => b.state === 'failed';

/**
 * A dry run: each blob's existence asked in each repository, and what a push would send and tag
 * said; no upload, mount, manifest or tag.
 */
async function checkOnly(push: ImagePush): Promise<void> {
  const { result, run } = push;
  const dryRun = { wouldUpload: 0, wouldUploadBytes: 0, present: 0, wouldTag: [] as string[] };
  for (const target of result.targets) {
    const { client } = push.contexts.get(target)!;
    const checks = limiter(checksFor(client.registry));
    const missing: number[] = [];
    await Promise.all(
      [...push.image.blobs.values()].map((blob) =>
        checks(async () => {
          const stat = await client.statBlob(blob.digest, 'exists');
          if (holds(stat, blob.size)) dryRun.present++;
          else missing.push(blob.size);
        }),
      ),
    );
    const bytes = missing.reduce((a, b) => a + b, 0);
    dryRun.wouldUpload += missing.length;
    dryRun.wouldUploadBytes += bytes;
    const where = `${target.registry}/${target.repository}`;
    const tags = target.tags.map((tag) => `${where}:${tag}`);
    dryRun.wouldTag.push(...tags);
    run.logger.info(
      `${where}: would upload ${missing.length} of ${push.image.blobs.size} blobs (${formatSize(bytes)}), ${push.image.blobs.size - missing.length} already there; ${tags.length ? `would tag ${tags.join(', ')}` : 'would push by digest'}`,
    );
  }
  result.dryRun = dryRun;
  run.logger.info('dry run: nothing was uploaded, mounted, tagged or written');
}

/**
 * One line per blob. The log grows with what failed, not with the number of targets: after the
 * first few repositories a blob that went well is a debug line, and one line counts them.
 */
function sayBlob(push: ImagePush, target: TargetResult, outcome: BlobOutcome): void {
  const { logger } = push.run;
  const quiet = push.result.targets.indexOf(target) >= LOGGED_TARGETS;
  const what =
    outcome.state === 'failed'
      ? `FAILED: ${outcome.error?.message}`
      : outcome.mountedFrom
        ? `mounted from ${outcome.mountedFrom}`
        : outcome.how;
  const say = outcome.state === 'failed' || !quiet ? logger.info : logger.debug;
  // With several registries, each line says which one.
  const several = new Set(push.result.targets.map((t) => t.apiHost)).size > 1;
  const where = several ? `${target.registry}/${target.repository}` : target.repository;
  say.call(logger, `${where}: ${outcome.digest} (${outcome.size} bytes) ${what}`);
}

/** Stops before any manifest when a blob failed: a corrupt local blob in the input's words. */
function refuseFailedBlobs(push: ImagePush): void {
  const { result } = push;
  if (!result.failedBlobs.length) return;
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

/** Notes a manifest whose PUT the registry answered with OCI-Subject: it keeps its referrers. */
function noteSubject(
  push: ImagePush,
  target: TargetResult,
  node: ImageNode,
  answer: PutManifest,
): void {
  if (!answer.subject) return;
  const kept = push.keptBy.get(target) ?? new Set<string>();
  kept.add(node.descriptor.digest);
  push.keptBy.set(target, kept);
}

/**
 * Every manifest below the root, by digest; a tagged root is pushed by its tags. An image's
 * manifests name only blobs, all verified by now, so they go at once; an index, or an artifact
 * naming a subject, follows in bottom-up order.
 */
async function pushManifests(push: ImagePush): Promise<void> {
  for (const target of push.result.targets) {
    const ctx = push.contexts.get(target)!;
    const put = async (node: ImageNode): Promise<void> =>
      noteSubject(
        push,
        target,
        node,
        await putManifest(ctx.client, node, node.descriptor.digest, ctx),
      );
    // A PUT by digest as well as by tag would send the same bytes twice.
    const nodes = manifestsBottomUp(push.image.root).filter(
      (node) => node !== push.image.root || !target.tags.length,
    );
    const leaf = (node: ImageNode): boolean => node.kind === 'manifest' && !subjectOf(node);
    const at = limiter(checksFor(ctx.client.registry));
    await Promise.all(nodes.filter(leaf).map((node) => at(() => put(node))));
    for (const node of nodes.filter((n) => !leaf(n))) await put(node);
  }
}

/**
 * Each tag set and read back; the digest reported is the one the registry serves. A tag that
 * already pointed at this image, in a repository that already held every blob, is not written
 * again: its HEAD, asked beside the blob checks, was its read-back.
 */
async function tagTargets(push: ImagePush): Promise<void> {
  const { image, result, run, policy } = push;
  const put: PutTag = async (target, tag) => {
    const t = target as TargetResult;
    const ctx = push.contexts.get(t)!;
    const served = await alreadyTagged(push, t, tag);
    if (served) return { readBack: Promise.resolve(served), unchanged: true };
    noteSubject(push, t, image.root, await putManifest(ctx.client, image.root, tag, ctx));
    return {
      readBack: confirmTag(ctx.client, image.root, tag, run.clock, policy.verifyLagRetries),
    };
  };
  const digest = image.root.descriptor.digest;
  await applyTags(result.targets, digest, put, run.logger, result.refs, result.elsewhere);
  // A sha512 layout: the registry names the manifest by its own digest, and so do the outputs.
  const served = result.refs[0]?.split('@')[1];
  if (served && served !== digest) {
    result.digest = served;
    run.logger.info(
      `the registry serves the manifest as ${served}; the layout named it ${digest} (the same bytes)`,
    );
  }
}

/**
 * The digest a tag already serves this image as, when writing it again would change nothing: every
 * blob was there before the push, and the image names no subject (whose referrers its PUT keeps).
 */
async function alreadyTagged(
  push: ImagePush,
  target: TargetResult,
  tag: string,
): Promise<string | undefined> {
  if (subjectOf(push.image.root)) return undefined;
  if ([...target.blobs.values()].some((b) => b.how !== 'present')) return undefined;
  return (await push.standing.get(target))?.get(tag);
}

/**
 * Artifacts (signatures, SBOMs) name their subject; without the referrers API, the referrers tag
 * schema keeps them findable from it.
 */
async function pushReferrers(push: ImagePush): Promise<void> {
  const artifacts = manifestsBottomUp(push.image.root).filter((node) => subjectOf(node));
  if (!artifacts.length) return;
  await phase(push.run, 'referrers', async () => {
    for (const target of push.result.targets)
      for (const node of artifacts) {
        if (push.keptBy.get(target)?.has(node.descriptor.digest)) continue;
        await addReferrerTag(push, target, node);
      }
  });
}

async function addReferrerTag(
  push: ImagePush,
  target: TargetResult,
  node: ImageNode,
): Promise<void> {
  const { logger } = push.run;
  const tag = await addReferrer(push.contexts.get(target)!.client, node, subjectOf(node)!, logger);
  if (!tag) return;
  const ref = `${target.registry}/${target.repository}:${tag}`;
  if (!push.result.referrers.includes(ref)) push.result.referrers.push(ref);
  logger.info(`${ref}: lists ${node.descriptor.digest} (the registry has no referrers API)`);
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
