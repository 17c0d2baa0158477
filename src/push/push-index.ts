import type { PushSettings } from '../config/settings.js';
import { foreignLine } from '../util/text.js';
import { InputError } from '../util/errors.js';
import { digestOf, isDigest } from '../oci/digest.js';
import { MediaType, manifestKind } from '../oci/media-types.js';
import {
  type Descriptor,
  type Platform,
  formatPlatform,
  indexSchema,
  manifestSchema,
} from '../oci/types.js';
import { RepositoryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import type { Registry } from '../registry/registry.js';
import { type ImageReference, formatReference, parseReference } from '../registry/reference.js';
import { type PushResult, type TargetResult, emptyResult } from './result.js';
import { type PushDeps, type PushRun, phase, runPush } from './push-run.js';
import { UploadFailed } from '../transfer/attempts.js';
import { type BlobContext, pushBlob } from '../transfer/blob.js';
import { confirmTag, sameDigest } from '../transfer/manifest.js';
import { MAX_MANIFESTS } from '../oci/layout.js';
import { type TransferPolicy, transferPolicy } from '../transfer/policy.js';
import { type PutTag, applyTags } from './tag.js';
import { planTargets } from './targets.js';

const ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
];

interface Source {
  ref: ImageReference;
  /** What to GET: a digest or a tag. */
  reference: string;
  /** Given as a bare digest: it names a manifest in the first tag's repository. */
  bare?: boolean;
}

interface Child {
  descriptor: Descriptor;
  repository: string;
}

/** `sha256:…` names a manifest in the first tag's repository; anything else is a full reference. */
function parseSource(text: string, first: ImageReference): Source {
  if (isDigest(text))
    return { ref: { ...first, tag: undefined, digest: text }, reference: text, bare: true };
  const ref = parseReference(text);
  if (ref.apiHost !== first.apiHost) {
    throw new InputError(
      `index-from ${text}: on ${ref.registry}, but the index goes to ${first.registry}; manifests must already be in the target registry`,
    );
  }
  const reference = ref.digest ?? ref.tag;
  if (!reference) throw new InputError(`index-from ${text}: name a manifest by digest or tag`);
  return { ref, reference };
}

async function platformOf(
  client: RepositoryClient,
  raw: Buffer,
  label: string,
): Promise<Platform | undefined> {
  const manifest = manifestSchema.safeParse(JSON.parse(raw.toString('utf8')));
  if (!manifest.success) throw new InputError(`index-from ${label}: not an image manifest`);
  const configDigest = manifest.data.config.digest;
  let config: Partial<Platform>;
  try {
    config = JSON.parse((await client.getBlob(configDigest)).toString('utf8')) as Partial<Platform>;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new InputError(
      `index-from ${label}: its config blob ${configDigest} is not JSON, so it names no platform (${error.message})`,
    );
  }
  if (typeof config !== 'object' || config === null) return undefined;
  if (!config.os || !config.architecture) return undefined;
  return {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
    ...(config['os.version'] ? { 'os.version': config['os.version'] } : {}),
  };
}

/**
 * Brings a manifest from another repository on the same registry: its blobs through the transfer
 * machine (checked, mounted, verified, as any blob of a push), then the PUT. Each distinct manifest
 * once, however often an index lists it.
 */
async function copyManifest(
  from: RepositoryClient,
  to: RepositoryClient,
  child: Child,
  blobs: Omit<BlobContext, 'client' | 'mountFrom'>,
  seen = new Set<string>(),
): Promise<void> {
  if (seen.has(child.descriptor.digest)) return;
  seen.add(child.descriptor.digest);
  if (seen.size > MAX_MANIFESTS)
    throw new InputError(`index-from: more than ${MAX_MANIFESTS} distinct manifests`);
  const { raw, mediaType } = await from.getManifest(child.descriptor.digest, ACCEPT);
  const parsed = JSON.parse(raw.toString('utf8'));
  if (manifestKind(mediaType) === 'index') {
    for (const grandchild of indexSchema.parse(parsed).manifests) {
      await copyManifest(
        from,
        to,
        { descriptor: grandchild, repository: child.repository },
        blobs,
        seen,
      );
    }
  } else {
    const manifest = manifestSchema.parse(parsed);
    for (const blob of [manifest.config, ...manifest.layers]) {
      const outcome = await pushBlob(
        { ...blobs, client: to, mountFrom: child.repository, mountOnly: true },
        { digest: blob.digest, size: blob.size, mediaType: blob.mediaType, path: '' },
      );
      if (outcome?.state === 'failed')
        throw outcome.cause === 'input'
          ? new InputError(
              `index-from: blob ${blob.digest} of ${child.descriptor.digest} cannot be mounted from ${child.repository}`,
            )
          : new UploadFailed(
              { action: 'fail-push', cause: outcome.cause ?? 'unknown' },
              outcome.error,
            );
    }
  }
  await to.putManifest(child.descriptor.digest, mediaType, raw);
}

/** One `index-from` push: what its phases read and add to. */
interface IndexPush {
  settings: PushSettings;
  run: PushRun;
  result: PushResult;
  policy: TransferPolicy;
  sources: Source[];
  registry?: Registry;
  children: Child[];
  index?: { raw: Buffer; digest: string };
}

/**
 * The `index-from` mode: assembles an OCI image index from manifests already in the registry (one
 * per matrix job, pushed by digest), pushes it to every target and tags it. Never throws.
 */
export async function pushIndex(settings: PushSettings, deps: PushDeps): Promise<PushResult> {
  const n = settings.indexFrom.length;
  const result = emptyResult(settings.tags, {
    source: `index from ${n} manifest${n === 1 ? '' : 's'}`,
  });
  return runPush(settings, deps, result, async (run) => {
    const push: IndexPush = {
      settings,
      run,
      result,
      policy: transferPolicy(settings.transfer),
      sources: checkedSources(settings),
      children: [],
    };
    push.registry = await phase(run, 'auth', () => authenticateIndex(push));
    await phase(run, 'manifests', () => readSources(push), 'Read the manifests');
    assembleIndex(push);
    await phase(run, 'manifests', () => pushIndexes(push), 'Push the index');
    await phase(run, 'tags', () => tagIndex(push));
  });
}

/** The sources as references: each once, all on the tags' one registry. */
function checkedSources(settings: PushSettings): Source[] {
  const first = settings.tags[0]!;
  const sources = settings.indexFrom.map((text) => parseSource(text, first));
  const seen = new Map<string, string>();
  for (const [i, source] of sources.entries()) {
    const key = `${source.ref.apiHost}/${source.ref.repository}@${source.reference}`;
    const earlier = seen.get(key);
    if (earlier !== undefined)
      throw new InputError(
        `index-from ${settings.indexFrom[i]}: the same manifest as ${earlier}; list each source once`,
      );
    seen.set(key, settings.indexFrom[i] as string);
  }
  if (settings.tags.some((t) => t.apiHost !== first.apiHost))
    throw new InputError(
      'index-from: every tag must be on one registry, where the manifests already are',
    );
  return sources;
}

/** Push to every tag's repository, with pull on the sources' repositories (to mount from them). */
async function authenticateIndex(push: IndexPush): Promise<Registry> {
  const { settings, run } = push;
  const repositories = [
    ...new Set([
      ...push.sources.map((s) => s.ref.repository),
      ...settings.tags.map((t) => t.repository),
    ]),
  ];
  const registry = await run.connect(settings.tags[0]!);
  for (const t of settings.tags)
    await registry.authorize(
      t.repository,
      repositories.filter((r) => r !== t.repository),
    );
  return registry;
}

/** Reads every source: an index's children, or one manifest with the platform its config names. */
async function readSources(push: IndexPush): Promise<void> {
  for (const source of push.sources) {
    const client = new RepositoryClient(push.registry!, source.ref.repository);
    const { raw, mediaType } = await readSource(client, source, push.settings.tags[0]!);
    const digest = digestOf(raw);
    const shown = formatReference(source.ref);
    if (source.ref.digest && source.ref.digest !== digest)
      throw new InputError(
        `index-from ${shown}: the registry served content with digest ${digest}`,
      );
    const kind =
      manifestKind(mediaType) ?? manifestKind(JSON.parse(raw.toString('utf8')).mediaType);
    if (kind === 'index') {
      for (const descriptor of indexSchema.parse(JSON.parse(raw.toString('utf8'))).manifests)
        push.children.push({ descriptor, repository: source.ref.repository });
    } else if (kind === 'manifest') {
      const platform = await platformOf(client, raw, shown);
      push.children.push({
        descriptor: { mediaType, digest, size: raw.length, ...(platform ? { platform } : {}) },
        repository: source.ref.repository,
      });
    } else
      throw new InputError(
        `index-from ${shown}: unsupported media type ${JSON.stringify(mediaType)}`,
      );
    push.run.logger.info(`${shown}: ${digest} (${mediaType})`);
  }
}

/** One source's manifest; a bare digest the first tag's repository lacks is said as such. */
function readSource(
  client: RepositoryClient,
  source: Source,
  first: ImageReference,
): Promise<{ raw: Buffer; mediaType: string }> {
  return client.getManifest(source.reference, ACCEPT).catch((error: unknown) => {
    if (error instanceof RegistryError && error.status === 404 && source.bare)
      throw new InputError(
        `index-from ${source.reference}: not in ${first.registry}/${first.repository}; a bare digest names a manifest in the first tag's repository (write REPOSITORY@${source.reference} for another one)`,
      );
    throw error;
  });
}

/**
 * One manifest per platform: the same manifest named twice is kept once; two manifests for one
 * platform are refused (unless `duplicate-platforms: allow`), since a runtime would pick either. Attestations (unknown/unknown) and
 * manifests naming no platform are not platforms.
 */
function oncePerPlatform(push: IndexPush): void {
  const seen = new Map<string, string>();
  const digests = new Set<string>();
  push.children = push.children.filter((c) => {
    if (digests.has(c.descriptor.digest)) return false;
    digests.add(c.descriptor.digest);
    return true;
  });
  for (const child of push.children) {
    const platform = formatPlatform(child.descriptor.platform);
    if (!platform || platform === 'unknown/unknown') continue;
    const first = seen.get(platform);
    if (first && push.settings.duplicatePlatforms === 'refuse')
      throw new InputError(
        `index-from: two manifests for ${foreignLine(platform, 80)}, ${first} and ${child.descriptor.digest}: a runtime would pick either; name each platform once, or set duplicate-platforms: allow`,
      );
    seen.set(platform, child.descriptor.digest);
  }
}

/** The index over the children, its digest, and the targets it goes to. */
function assembleIndex(push: IndexPush): void {
  const { settings, result } = push;
  oncePerPlatform(push);
  const raw = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: push.children.map((c) => c.descriptor),
      ...(Object.keys(settings.annotations).length ? { annotations: settings.annotations } : {}),
    }),
  );
  const digest = digestOf(raw);
  push.index = { raw, digest };
  result.digest = digest;
  result.platforms = push.children
    .map((c) => formatPlatform(c.descriptor.platform))
    .filter((p): p is string => Boolean(p) && p !== 'unknown/unknown');
  result.targets = planTargets(settings.tags, digest).map((t): TargetResult => ({
    ...t,
    blobs: new Map(),
    observations: push.registry!.observations,
  }));
}

/** Each target gets the children it lacks (mounted), then the index by digest. */
async function pushIndexes(push: IndexPush): Promise<void> {
  const { raw, digest } = push.index!;
  const registry = push.registry!;
  for (const target of push.result.targets) {
    const others = [...new Set(push.children.map((c) => c.repository))].filter(
      (r) => r !== target.repository,
    );
    const to = new RepositoryClient(registry, target.repository, others);
    for (const child of push.children.filter((c) => c.repository !== target.repository))
      await copyManifest(new RepositoryClient(registry, child.repository), to, child, {
        policy: push.policy,
        clock: push.run.clock,
        logger: push.run.logger,
        records: new Map(),
      });
    const { digest: returned } = await to.putManifest(digest, MediaType.ociIndex, raw);
    if (returned && !sameDigest(returned, digest, raw))
      throw new RegistryError({
        method: 'PUT',
        op: 'manifest',
        url: to.manifestUrl(digest),
        refused: 'manifest-digest-mismatch',
        context: `the registry answered the PUT of the index with digest ${returned}, expected ${digest}`,
      });
  }
}

/** Each tag set and read back. */
async function tagIndex(push: IndexPush): Promise<void> {
  const { raw, digest } = push.index!;
  const { run, result } = push;
  const node = { descriptor: { mediaType: MediaType.ociIndex, digest, size: raw.length }, raw };
  const put: PutTag = async (target, tag) => {
    const client = new RepositoryClient(push.registry!, target.repository);
    await client.putManifest(tag, MediaType.ociIndex, raw);
    return { readBack: confirmTag(client, node, tag, run.clock, push.policy.verifyLagRetries) };
  };
  await applyTags(result.targets, digest, put, run.logger, result.refs, result.elsewhere);
}
