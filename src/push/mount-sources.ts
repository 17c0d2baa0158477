import type { LoadedImage, ManifestNode } from '../oci/image.js';
import { manifestsBottomUp } from '../oci/image.js';
import { MediaType } from '../oci/media-types.js';
import { readRegularFile } from '../oci/read-file.js';
import { formatPlatform, indexSchema, manifestSchema } from '../oci/types.js';
import { RepositoryClient } from '../registry/client.js';
import type { Registry } from '../registry/registry.js';
import { type ImageReference, parseReference, sameRegistry } from '../registry/reference.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { oneLine } from '../util/text.js';

// Where a blob the target lacks may already be, on the same registry: the image's base (its OCI
// annotations, or BuildKit's provenance), the repositories a person names (`mount-from`), and the
// other targets of the push. A mount costs no extra request even when the source lacks the blob:
// the registry's 202 opens the session the blob is then uploaded in.

const BASE_NAME = 'org.opencontainers.image.base.name';
const BASE_DIGEST = 'org.opencontainers.image.base.digest';

export type SourceKind = 'base image' | 'provenance' | 'mount-from';

export interface Candidate {
  /** As written: `docker.io/library/node:20`, `team/base`, `registry.example.com/team/base@sha256:…`. */
  text: string;
  kind: SourceKind;
}

/** The base images the image's manifests and indexes name in their annotations. */
function fromAnnotations(image: LoadedImage): Candidate[] {
  const out: Candidate[] = [];
  for (const node of manifestsBottomUp(image.root)) {
    const doc = node.kind === 'manifest' ? node.manifest : node.index;
    const a = { ...(node.descriptor.annotations ?? {}), ...(doc.annotations ?? {}) };
    const name = a[BASE_NAME];
    if (!name) continue;
    const digest = a[BASE_DIGEST];
    out.push({
      text: digest && !name.includes('@') ? `${name}@${digest}` : name,
      kind: 'base image',
    });
  }
  return out;
}

/** `pkg:docker/docker.io/library/node@20?platform=…` with its digest, as a reference. */
function fromPurl(uri: string, digest: string | undefined): string | undefined {
  const m = /^pkg:docker\/([^?#]+)/.exec(uri);
  if (!m) return undefined;
  const path = decodeURIComponent(m[1]!);
  const at = path.lastIndexOf('@');
  const name = at > 0 ? path.slice(0, at) : path;
  const version = at > 0 ? path.slice(at + 1) : undefined;
  const tag = version && !version.includes(':') ? `:${version}` : '';
  return `${name}${tag}${digest ? `@sha256:${digest}` : ''}`;
}

/**
 * The images a BuildKit build used, from the provenance attestation buildx puts in a `type=oci`
 * export: SLSA v0.2 `materials` and v1 `resolvedDependencies`.
 */
async function fromProvenance(image: LoadedImage): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const node of manifestsBottomUp(image.root)) {
    if (node.kind !== 'manifest') continue;
    if (node.descriptor.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest')
      continue;
    for (const [i, layer] of node.manifest.layers.entries()) {
      if (!layer.mediaType.startsWith('application/vnd.in-toto+json')) continue;
      const file = node.blobs[i + 1];
      if (!file) continue;
      let statement: {
        predicate?: {
          materials?: { uri?: string; digest?: { sha256?: string } }[];
          buildDefinition?: {
            resolvedDependencies?: { uri?: string; digest?: { sha256?: string } }[];
          };
        };
      };
      try {
        statement = JSON.parse((await readRegularFile(file.path, file.digest)).toString('utf8'));
      } catch {
        continue;
      }
      const materials = [
        ...(statement.predicate?.materials ?? []),
        ...(statement.predicate?.buildDefinition?.resolvedDependencies ?? []),
      ];
      for (const m of materials) {
        const ref = m.uri ? fromPurl(m.uri, m.digest?.sha256) : undefined;
        if (ref) out.push({ text: ref, kind: 'provenance' });
      }
    }
  }
  return out;
}

/** Every place the image's blobs may already be, most certain first, each once. */
export async function mountCandidates(
  image: LoadedImage,
  mountFrom: string[],
): Promise<Candidate[]> {
  const all = [
    ...fromAnnotations(image),
    ...(await fromProvenance(image)),
    ...mountFrom.map((text): Candidate => ({ text, kind: 'mount-from' })),
  ];
  const seen = new Set<string>();
  return all.filter((c) => !seen.has(c.text) && seen.add(c.text));
}

/** A candidate as a reference on the target's registry, or undefined when it lives elsewhere. */
function onRegistry(
  candidate: Candidate,
  target: { registry: string },
): ImageReference | undefined {
  const first = candidate.text.split('/')[0] ?? '';
  // `team/base` names a repository on the target's own registry, as mount-from's lines do.
  const hasHost = candidate.text.includes('/') && /[.:]|^localhost$/.test(first);
  const text =
    candidate.kind === 'mount-from' && !hasHost
      ? `${target.registry}/${candidate.text}`
      : candidate.text;
  let ref: ImageReference;
  try {
    ref = parseReference(text);
  } catch {
    return undefined;
  }
  return sameRegistry(ref.registry, target.registry) ? ref : undefined;
}

export interface MountPlan {
  /** The repository each blob is mounted from, when a source is known to hold it. */
  known: Map<string, string>;
  /** Sources whose blobs are not known (a repository without a tag): tried for any blob. */
  anyBlob: string[];
  /** What each source was, for the summary: `team/base` → `base image`. */
  kinds: Map<string, SourceKind>;
  /** The repositories read (pull only) to plan the mounts, for the summary. */
  read: string[];
}

const ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

/**
 * What a layout can make a push read, whatever it names: a layout controls its annotations and its
 * provenance, so its sources are bounded in count, and so are the manifests read to plan mounts.
 */
const MOUNT_LIMITS = { sources: 50, manifestReads: 200, depth: 3, childrenPerIndex: 8 };

/**
 * The reading shared by a push's targets: each distinct manifest is read once, and the limits hold
 * for the whole push. Sources that cannot be read are said in one warning at the end.
 */
export interface MountReading {
  reads: number;
  cache: Map<string, Promise<unknown>>;
  sources: Set<string>;
  limitSaid: boolean;
  unreadable: string[];
}

export function mountReading(): MountReading {
  return { reads: 0, cache: new Map(), sources: new Set(), limitSaid: false, unreadable: [] };
}

class MountLimitReached extends Error {}

/** The config and layer digests of a manifest, or of the index's children for the image's platforms. */
async function blobsOf(
  client: RepositoryClient,
  reading: MountReading,
  reference: string,
  platforms: Set<string>,
  depth = 1,
): Promise<string[]> {
  const doc = await readManifest(client, reading, reference);
  const index = indexSchema.safeParse(doc);
  if (index.success) {
    if (depth >= MOUNT_LIMITS.depth) return [];
    const children = index.data.manifests
      .filter((m) => !platforms.size || platforms.has(formatPlatform(m.platform) ?? ''))
      .slice(0, MOUNT_LIMITS.childrenPerIndex);
    const out: string[] = [];
    for (const child of children)
      out.push(...(await blobsOf(client, reading, child.digest, new Set(), depth + 1)));
    return out;
  }
  const manifest = manifestSchema.parse(doc);
  return [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
}

/** One manifest document, read once per push and counted against the limit. */
function readManifest(
  client: RepositoryClient,
  reading: MountReading,
  reference: string,
): Promise<unknown> {
  const key = `${client.registry.apiHost}/${client.repository}@${reference}`;
  let doc = reading.cache.get(key);
  if (!doc) {
    if (reading.reads >= MOUNT_LIMITS.manifestReads) throw new MountLimitReached();
    reading.reads++;
    doc = client
      .getManifest(reference, ACCEPT)
      .then((m) => JSON.parse(m.raw.toString('utf8')) as unknown);
    reading.cache.set(key, doc);
  }
  return doc;
}

/**
 * Finds, for one target, which of its blobs each source on the same registry holds: each distinct
 * manifest read once, with pull scope on exactly that source. A source that cannot be read is said
 * (grouped, by sayUnreadable), and its blobs are uploaded; never a failure.
 */
export async function planMounts(
  candidates: Candidate[],
  target: { registry: string; repository: string },
  registry: Registry,
  image: LoadedImage,
  reading: MountReading,
  logger: Logger,
): Promise<MountPlan> {
  const plan: MountPlan = { known: new Map(), anyBlob: [], kinds: new Map(), read: [] };
  const platforms = new Set(
    manifestsBottomUp(image.root)
      .filter((n): n is ManifestNode => n.kind === 'manifest')
      .map((n) => formatPlatform(n.descriptor.platform) ?? '')
      .filter((p) => p && p !== 'unknown/unknown'),
  );
  for (const candidate of candidates) {
    const ref = onRegistry(candidate, target);
    if (!ref || ref.repository === target.repository) continue;
    const key = `${registry.apiHost}/${ref.repository}`;
    if (!reading.sources.has(key) && reading.sources.size >= MOUNT_LIMITS.sources) {
      sayLimit(reading, target, logger);
      break;
    }
    reading.sources.add(key);
    plan.kinds.set(ref.repository, candidate.kind);
    const reference = ref.digest ?? ref.tag;
    if (
      !reference ||
      (candidate.kind === 'mount-from' && !/[:@]/.test(candidate.text.split('/').pop() ?? ''))
    ) {
      plan.anyBlob.push(ref.repository);
      continue;
    }
    // Pull scope only: the account may not push there, and need not.
    const client = new RepositoryClient(registry, ref.repository, [], 'pull');
    try {
      for (const digest of await blobsOf(client, reading, reference, platforms))
        if (!plan.known.has(digest)) plan.known.set(digest, ref.repository);
      if (!plan.read.includes(ref.repository)) plan.read.push(ref.repository);
    } catch (error) {
      if (error instanceof MountLimitReached) {
        sayLimit(reading, target, logger);
        break;
      }
      reading.unreadable.push(
        `${candidate.kind} ${oneLine(candidate.text)} (${errorMessage(error)})`,
      );
    }
  }
  if (plan.read.length)
    logger.info(
      `${target.registry}/${target.repository}: read ${plan.read.join(', ')} (pull only) for blobs to mount`,
    );
  return plan;
}

function sayLimit(reading: MountReading, target: { registry: string }, logger: Logger): void {
  if (reading.limitSaid) return;
  reading.limitSaid = true;
  logger.warning(
    `${target.registry}: the layout names more mount sources than are read (at most ${MOUNT_LIMITS.sources} sources and ${MOUNT_LIMITS.manifestReads} manifest reads); the blobs of the rest are uploaded instead`,
  );
}

/** One warning for every source that could not be read: their blobs are uploaded instead. */
export function sayUnreadable(reading: MountReading, logger: Logger): void {
  const n = reading.unreadable.length;
  if (!n) return;
  const shown = reading.unreadable.slice(0, 3).join('; ');
  const more = n > 3 ? `; and ${n - 3} more` : '';
  logger.warning(
    `${n === 1 ? 'a mount source' : `${n} mount sources`} could not be read, so their blobs are uploaded instead: ${shown}${more}`,
  );
}
