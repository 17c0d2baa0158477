import type { PushSettings } from '../config/settings.js';
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
import { type ImageReference, formatReference, parseReference } from '../registry/reference.js';
import { type PushResult, type TargetResult, emptyResult } from './result.js';
import { type PushDeps, runPush } from './session.js';
import { UploadFailed } from '../transfer/attempts.js';
import { type BlobContext, pushBlob } from '../transfer/blob.js';
import { confirmTag } from '../transfer/manifest.js';
import { MAX_MANIFESTS } from '../oci/layout.js';
import { transferPolicy } from '../transfer/policy.js';
import { applyTags } from './tag.js';
import { type Target, planTargets } from './targets.js';

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

/**
 * The `index-from` mode: assembles an OCI image index from manifests already in the registry (one
 * per matrix job, pushed by digest), pushes it to every target and tags it. Never throws.
 */
export async function pushIndex(settings: PushSettings, deps: PushDeps): Promise<PushResult> {
  const result = emptyResult(settings.tags, {
    source: `index from ${settings.indexFrom.length} manifest${settings.indexFrom.length === 1 ? '' : 's'}`,
  });
  const policy = transferPolicy(settings.transfer);
  return runPush(settings, deps, result, async (session) => {
    const { logger } = session;
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
    if (settings.tags.some((t) => t.apiHost !== first.apiHost)) {
      throw new InputError(
        'index-from: every tag must be on one registry, where the manifests already are',
      );
    }
    session.phase = 'auth';
    const repositories = [
      ...new Set([
        ...sources.map((s) => s.ref.repository),
        ...settings.tags.map((t) => t.repository),
      ]),
    ];
    const registry = await logger.group('Authenticate', async () => {
      const connected = await session.connect(first);
      for (const t of settings.tags)
        await connected.authorize(
          t.repository,
          repositories.filter((r) => r !== t.repository),
        );
      return connected;
    });

    session.phase = 'manifests';
    const children: Child[] = [];
    await logger.group('Read the manifests', async () => {
      for (const source of sources) {
        const client = new RepositoryClient(registry, source.ref.repository);
        const { raw, mediaType } = await client
          .getManifest(source.reference, ACCEPT)
          .catch((error: unknown) => {
            if (error instanceof RegistryError && error.status === 404 && source.bare)
              throw new InputError(
                `index-from ${source.reference}: not in ${first.registry}/${first.repository}; a bare digest names a manifest in the first tag's repository (write REPOSITORY@${source.reference} for another one)`,
              );
            throw error;
          });
        const digest = digestOf(raw);
        if (source.ref.digest && source.ref.digest !== digest) {
          throw new InputError(
            `index-from ${formatReference(source.ref)}: the registry served content with digest ${digest}`,
          );
        }
        const kind =
          manifestKind(mediaType) ?? manifestKind(JSON.parse(raw.toString('utf8')).mediaType);
        if (kind === 'index') {
          for (const descriptor of indexSchema.parse(JSON.parse(raw.toString('utf8'))).manifests)
            children.push({ descriptor, repository: source.ref.repository });
        } else if (kind === 'manifest') {
          const platform = await platformOf(client, raw, formatReference(source.ref));
          children.push({
            descriptor: { mediaType, digest, size: raw.length, ...(platform ? { platform } : {}) },
            repository: source.ref.repository,
          });
        } else {
          throw new InputError(
            `index-from ${formatReference(source.ref)}: unsupported media type ${JSON.stringify(mediaType)}`,
          );
        }
        logger.info(`${formatReference(source.ref)}: ${digest} (${mediaType})`);
      }
    });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: children.map((c) => c.descriptor),
        ...(Object.keys(settings.annotations).length ? { annotations: settings.annotations } : {}),
      }),
    );
    const digest = digestOf(index);
    result.digest = digest;
    result.platforms = children
      .map((c) => formatPlatform(c.descriptor.platform))
      .filter((p): p is string => Boolean(p) && p !== 'unknown/unknown');

    const targets = planTargets(settings.tags, digest);
    result.targets = targets.map((t): TargetResult => ({
      ...t,
      blobs: new Map(),
      observations: registry.observations,
    }));
    await logger.group('Push the index', async () => {
      for (const target of targets) {
        const others = [...new Set(children.map((c) => c.repository))].filter(
          (r) => r !== target.repository,
        );
        const to = new RepositoryClient(registry, target.repository, others);
        for (const child of children.filter((c) => c.repository !== target.repository)) {
          await copyManifest(new RepositoryClient(registry, child.repository), to, child, {
            policy,
            clock: session.clock,
            logger,
            records: new Map(),
          });
        }
        const { digest: returned } = await to.putManifest(digest, MediaType.ociIndex, index);
        if (returned && returned !== digest)
          throw new RegistryError({
            method: 'PUT',
            op: 'manifest',
            url: to.manifestUrl(digest),
            networkCode: 'DIGEST_MISMATCH',
            context: `the registry answered the PUT of the index with digest ${returned}, expected ${digest}`,
          });
      }
    });
    session.phase = 'tags';
    await logger.group('Tag', async () => {
      const node = {
        descriptor: { mediaType: MediaType.ociIndex, digest, size: index.length },
        raw: index,
      };
      const lagRetries = policy.verifyLagRetries;
      const put = async (target: Target, tag: string): Promise<string> => {
        const client = new RepositoryClient(registry, target.repository);
        await client.putManifest(tag, MediaType.ociIndex, index);
        return confirmTag(client, node, tag, session.clock, lagRetries);
      };
      await applyTags(targets, digest, put, logger, result.refs, result.elsewhere);
    });
  });
}
