import { UsageError } from '../util/errors.js';
import { isDigest } from '../oci/digest.js';

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

const HOST_RE =
  /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]+)?$/;
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;

export interface ImageReference {
  /** The registry as the user wrote it (Docker Hub's aliases as `docker.io`), port included. */
  registry: string;
  /**
   * The host:port dialled, lowercased, with the port the user wrote kept (Docker Hub's API host
   * differs from its name). Never normalised further: `127.0.0.1:443` is not `127.0.0.1`.
   */
  apiHost: string;
  /** One key per registry for comparing (credentials, mounts): case and the default port folded. */
  hostKey: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * Parses a reference the way docker does: a first component with a dot, a colon or `localhost` is a
 * registry; otherwise the image is on Docker Hub, and single names live under `library/`.
 */
export function parseReference(input: string): ImageReference {
  const text = input.trim();
  const fail = (why: string): never => {
    // `user:password@host/…` is not a reference, but it may hold a password: never repeat it.
    const shown = input.replace(/^[^/@]*@(?=[^/]*\/)/, '***@');
    throw new UsageError(`tag ${JSON.stringify(shown)}: ${why}`);
  };
  if (!text) fail('empty reference');
  if (/\s/.test(text))
    fail('contains a space; separate several tags with commas or newlines, or repeat --tags');
  if (/^sha(256|512):[0-9a-f]+$/i.test(text))
    fail('is a digest, not a repository; write REPOSITORY@DIGEST');
  if (text.replace(/^\[[^\]]*\]/, '').includes('::'))
    fail("has '::'; a reference is [REGISTRY/]REPOSITORY[:TAG][@DIGEST]");
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) fail(`${digest} is not a valid digest`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) fail(`${JSON.stringify(tag)} is not a valid tag`);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry: string;
  let repository: string;
  if (
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))
  ) {
    registry = first;
    repository = rest.slice(slash + 1);
    if (!HOST_RE.test(registry)) fail(`${registry} is not a valid registry host`);
  } else {
    registry = DOCKER_HUB;
    repository = rest;
  }
  if (DOCKER_HUB_ALIASES.has(registry.toLowerCase())) {
    registry = DOCKER_HUB;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  if (!repository) fail('no repository name');
  if (repository.includes(':'))
    fail(
      "has more than one ':' after the registry; a reference is [REGISTRY/]REPOSITORY[:TAG][@DIGEST]",
    );
  if (
    repository !== repository.toLowerCase() &&
    COMPONENT_RE.test(repository.toLowerCase().split('/')[0] ?? '')
  )
    fail(`repository names are lowercase: write ${JSON.stringify(repository.toLowerCase())}`);
  for (const component of repository.split('/')) {
    if (!COMPONENT_RE.test(component)) {
      fail(
        `repository component ${JSON.stringify(component)} must be lowercase letters, digits and separators`,
      );
    }
  }
  if (repository.length > 255) fail('repository name is longer than 255 characters');
  const port = writtenPort(registry);
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    fail(`port ${port} is not between 1 and 65535`);
  const apiHost = registry === DOCKER_HUB ? DOCKER_HUB_API : registry.toLowerCase();
  return { registry, apiHost, hostKey: canonicalHost(registry), repository, tag, digest };
}

/** The port written after a host, if any: `127.0.0.1:443` → `443`, `[::1]` → undefined. */
export function writtenPort(host: string): string | undefined {
  return /:(\d+)$/.exec(host.replace(/^\[[^\]]*\]/, ''))?.[1];
}

/** Whether two hosts, as written, name one registry (case and the https default port folded). */
export function sameRegistry(a: string, b: string): boolean {
  return canonicalHost(a) === canonicalHost(b);
}

/**
 * A registry host as one key for comparing, never for dialling: host names are case-insensitive
 * and `:443` is where https goes anyway, so `LOCALHOST:443` and `localhost` name the same registry.
 */
export function canonicalHost(host: string): string {
  return host.toLowerCase().replace(/:443$/, '');
}

/** Whether a URL is on `host` (host[:port]), comparing as a browser would: case and default ports. */
export function isSameHost(url: URL, host: string): boolean {
  let other: URL;
  try {
    other = new URL(`${url.protocol}//${host}`);
  } catch {
    return false;
  }
  return url.host === other.host;
}

export function formatReference(ref: ImageReference, digest?: string): string {
  const tag = ref.tag ? `:${ref.tag}` : '';
  const d = digest ?? ref.digest;
  return `${ref.registry}/${ref.repository}${tag}${d ? `@${d}` : ''}`;
}

/** True for hosts that may use plain http without `insecure`: localhost, 127.0.0.0/8 and ::1. */
export function isLoopback(host: string): boolean {
  const name = host
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '')
    .toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * A reference a person names as a target (a tag to push, a registry to diagnose), read strictly: a
 * bare `host:port` is a registry, not an image, and a bare word would silently be a Docker Hub
 * image (`v` → docker.io/library/v). Both are refused with what to write instead.
 */
export function parseTarget(input: string): ImageReference {
  // `docker://HOST/REPO:TAG`, as skopeo names a registry target.
  const text = input.trim().replace(/^docker:\/\//, '');
  const hostPort = /^([^/@]+):(\d+)$/.exec(text);
  if (
    hostPort &&
    (/[.]/.test(hostPort[1]!) || hostPort[1] === 'localhost' || hostPort[1]!.startsWith('['))
  )
    throw new UsageError(
      `${JSON.stringify(text)} is a registry (HOST:PORT), not an image: add the repository, such as ${text}/team/app`,
    );
  if (/^[a-z0-9._-]+$/.test(text))
    throw new UsageError(
      `${JSON.stringify(text)} names no registry and no tag: it would be Docker Hub's docker.io/library/${text}; write that in full if it is meant`,
    );
  return parseReference(text);
}
