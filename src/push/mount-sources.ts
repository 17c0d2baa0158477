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
}

const ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

/** The config and layer digests of a manifest, or of the index's children for the image's platforms. */
async function blobsOf(
  client: RepositoryClient,
  reference: string,
  platforms: Set<string>,
): Promise<string[]> {
  const read = async (ref: string): Promise<unknown> =>
    JSON.parse((await client.getManifest(ref, ACCEPT)).raw.toString('utf8'));
  const doc = await read(reference);
  const index = indexSchema.safeParse(doc);
  if (index.success) {
    const children = index.data.manifests
      .filter((m) => !platforms.size || platforms.has(formatPlatform(m.platform) ?? ''))
      .slice(0, 8);
    const out: string[] = [];
    for (const child of children) out.push(...(await blobsOf(client, child.digest, new Set())));
    return out;
  }
  const manifest = manifestSchema.parse(doc);
  return [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
}

/**
 * Finds, for one target, which of its blobs each source on the same registry holds: one manifest
 * read per source (two for an index), with pull scope on it only. A source that cannot be read is
 * said once, and its blobs are uploaded; never a failure.
 */
export async function planMounts(
  candidates: Candidate[],
  target: { registry: string; repository: string },
  registry: Registry,
  image: LoadedImage,
  logger: Logger,
): Promise<MountPlan> {
  const plan: MountPlan = { known: new Map(), anyBlob: [], kinds: new Map() };
  const platforms = new Set(
    manifestsBottomUp(image.root)
      .filter((n): n is ManifestNode => n.kind === 'manifest')
      .map((n) => formatPlatform(n.descriptor.platform) ?? '')
      .filter((p) => p && p !== 'unknown/unknown'),
  );
  for (const candidate of candidates) {
    const ref = onRegistry(candidate, target);
    if (!ref || ref.repository === target.repository) continue;
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
      for (const digest of await blobsOf(client, reference, platforms))
        if (!plan.known.has(digest)) plan.known.set(digest, ref.repository);
    } catch (error) {
      logger.warning(
        `${target.registry}: the ${candidate.kind} ${oneLine(candidate.text)} could not be read (${errorMessage(error)}); its blobs are uploaded instead`,
      );
    }
  }
  return plan;
}
