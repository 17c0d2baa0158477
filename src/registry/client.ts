import {
  type BodyFactory,
  type HttpRequest,
  type HttpResponse,
  errorFromResponse,
} from './http.js';
import { repositoryScope } from './auth.js';
import { isDigest } from '../oci/digest.js';
import { type Refusal, RegistryError } from './errors.js';
import { resolveLocation } from './location.js';
import { isSameHost } from './reference.js';
import type { Registry } from './registry.js';

export interface BlobStat {
  exists: boolean;
  status: number;
  size?: number;
  digest?: string;
}

export type UploadStart =
  { mounted: true } | { mounted: false; location: URL; minChunk?: number; maxChunk?: number };

export interface PutManifest {
  /** The digest the registry computed. */
  digest?: string;
  /** `OCI-Subject`: the registry keeps referrers itself (it has the referrers API). */
  subject?: string;
}

/** Requests for a blob are sent once: the blob's own machine decides every try again. */
export interface SendOptions {
  onProgress?: (bytesSent: number) => void;
}

const MAX_REDIRECTS = 5;

function isRedirect(res: HttpResponse): boolean {
  return [301, 302, 303, 307, 308].includes(res.status) && Boolean(res.headers.location);
}

function headerNumber(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

/**
 * The first existence check of a blob: the same request whether it is asked in its turn or ahead,
 * beside the registry's `GET /v2/` (whose answer may then stand for it).
 */
export function blobCheck(base: URL, repository: string, digest: string): HttpRequest {
  const url = new URL(`/v2/${repository}/blobs/${digest}`, base);
  return { method: 'HEAD', op: 'exists', url, mayUseAhead: true };
}

/** Where a tag points before the push: asked in its turn or ahead, as `blobCheck`. */
export function tagCheck(
  base: URL,
  repository: string,
  tag: string,
  accept: readonly string[],
): HttpRequest {
  const url = new URL(`/v2/${repository}/manifests/${tag}`, base);
  return {
    method: 'HEAD',
    op: 'read',
    url,
    headers: { accept: accept.join(', ') },
    mayUseAhead: true,
  };
}

/** The protocol steps against one repository, each a small function over the registry's transport. */
export class RepositoryClient {
  readonly scopes: string[];

  constructor(
    readonly registry: Registry,
    readonly repository: string,
    extraScopes: string[] = [],
    /** `pull` for a repository only read (a mount source): its token need not allow pushing. */
    access: 'pull,push' | 'pull' = 'pull,push',
  ) {
    this.scopes =
      access === 'pull'
        ? [repositoryScope(repository, 'pull')]
        : registry.scopesFor(repository, extraScopes);
  }

  private url(path: string): URL {
    return new URL(`/v2/${this.repository}/${path}`, this.registry.baseUrl);
  }

  /** Where a manifest or tag of this repository lives. */
  manifestUrl(reference: string): URL {
    return this.url(`manifests/${reference}`);
  }

  private async send(req: HttpRequest): Promise<HttpResponse> {
    return this.registry.send({ scopes: this.scopes, ...req });
  }

  /** A blob step's request: sent once, since its machine decides what happens after a failure. */
  private async sendOnce(req: HttpRequest): Promise<HttpResponse> {
    return this.registry.sendOnce({ scopes: this.scopes, ...req });
  }

  private location(res: HttpResponse, req: HttpRequest): URL {
    const header = res.headers.location;
    if (!header) throw errorFromResponse(req, res, 'the registry gave no Location for the upload');
    const resolved = resolveLocation(req.url, header);
    // Said once per registry here; the summary and one warning say it again at the end.
    if (resolved.downgraded && !this.registry.observations.locationDowngraded) {
      this.registry.observations.locationDowngraded = true;
      this.registry.logger.info(
        `${this.registry.name} answered with an http Location although it is reached over https; keeping https (the proxy in front of it probably does not send X-Forwarded-Proto)`,
      );
    }
    // Upload Locations on another host (an origin's internal address leaking through a proxy)
    // that could not be reached once: their paths go to the registry's own host.
    if (
      this.registry.profile.locationsOnOwnHost &&
      !isSameHost(resolved.url, this.registry.apiHost)
    )
      return onOwnHost(resolved.url, this.registry.baseUrl);
    return resolved.url;
  }

  /**
   * HEAD a blob: what the registry reports for it, without treating 404 as an error. A redirect
   * (distribution redirects to its storage once it has found the blob) is followed for the size,
   * without credentials to another host; a storage host that refuses the HEAD or cannot be reached
   * leaves the size unknown rather than the blob missing. A redirect that loops, or leaves http(s),
   * is an error of its own: it says nothing about the blob.
   */
  async statBlob(digest: string, op: 'exists' | 'verify' = 'exists'): Promise<BlobStat> {
    // A verification is the same HEAD, never answered ahead.
    const req: HttpRequest = {
      ...blobCheck(this.registry.baseUrl, this.repository, digest),
      op,
      mayUseAhead: op === 'exists',
    };
    const res = await this.sendOnce(req);
    if (res.status === 404) return { exists: false, status: 404 };
    if (isRedirect(res)) {
      const final = await this.follow(req, res);
      return {
        exists: true,
        status: res.status,
        size: final?.status === 200 ? headerNumber(final.headers['content-length']) : undefined,
        digest: servedDigest(req, res),
      };
    }
    if (res.status !== 200) throw errorFromResponse(req, res, `checking blob ${digest}`);
    return {
      exists: true,
      status: 200,
      size: headerNumber(res.headers['content-length']),
      digest: servedDigest(req, res),
    };
  }

  /**
   * Follows a redirect chain (at most 5 hops) with the same method. Credentials stay on the
   * registry's host (the auth layer drops them for any other), so a storage host that wants none
   * gets none. Returns the last answer, or undefined when the storage host could not be asked.
   * Throws for a chain that loops, runs past 5 hops, or names a scheme other than http(s).
   */
  private async follow(req: HttpRequest, res: HttpResponse): Promise<HttpResponse | undefined> {
    let current = res;
    let url = req.url;
    const seen = new Set([url.href]);
    for (let hop = 0; isRedirect(current); hop++) {
      const location = current.headers.location as string;
      // Named by the request that was answered with the redirect: nothing was sent to its target.
      const from = url;
      const refuse = (refused: Refusal, context: string): RegistryError =>
        new RegistryError({ method: req.method, op: req.op, url: from, refused, context });
      try {
        url = new URL(location, url);
      } catch {
        throw refuse('redirect-scheme', 'the registry redirects blob reads to something not a URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw refuse(
          'redirect-scheme',
          `the registry redirects blob reads to a ${url.protocol} URL, which is not followed`,
        );
      if (seen.has(url.href) || hop >= MAX_REDIRECTS)
        throw refuse(
          'redirect-loop',
          seen.has(url.href)
            ? `the registry redirects blob reads in a loop (back to a URL already asked after ${hop + 1})`
            : `the registry redirects blob reads more than ${MAX_REDIRECTS} times`,
        );
      seen.add(url.href);
      try {
        current = await this.sendOnce({ ...req, url });
      } catch {
        // A storage host that cannot be reached says nothing about the blob.
        return undefined;
      }
    }
    return current;
  }

  /** POST a new upload session, or ask the registry to mount the blob from another repository. */
  async startUpload(mount?: { digest: string; from: string }): Promise<UploadStart> {
    const url = this.url('blobs/uploads/');
    if (mount) {
      url.searchParams.set('mount', mount.digest);
      url.searchParams.set('from', mount.from);
    }
    const req: HttpRequest = {
      method: 'POST',
      op: mount ? 'mount' : 'open',
      url,
      headers: { 'content-length': '0' },
      // Only a mount asks for pull on its source: a registry that refuses that scope still takes
      // a plain upload with a token for the target alone.
      ...(mount ? { scopes: this.registry.scopesFor(this.repository, [mount.from]) } : {}),
    };
    // Over HTTP/2 the body follows the answer on an HTTP/1.1 connection of its own (see `Load`):
    // its handshakes overlap this round trip instead of following it. Over HTTP/1.1 the body takes
    // this request's connection once it is answered.
    if (!mount && this.registry.multiplexed) this.registry.warm(url);
    const res = await this.sendOnce(req);
    if (mount && res.status === 201) return { mounted: true };
    if (res.status !== 202) throw errorFromResponse(req, res, 'starting an upload');
    return {
      mounted: false,
      location: this.location(res, req),
      minChunk: headerNumber(res.headers['oci-chunk-min-length']),
      maxChunk: headerNumber(res.headers['oci-chunk-max-length']),
    };
  }

  /** Monolithic upload: PUT the whole body to the session with `?digest=`, which also commits it. */
  async putBlob(
    location: URL,
    digest: string,
    size: number,
    body: BodyFactory,
    options: SendOptions = {},
  ): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const req: HttpRequest = {
      method: 'PUT',
      op: 'put-blob',
      url,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
      onProgress: options.onProgress,
      answerBytes: size,
    };
    const res = await this.sendOnce(req);
    // 201 by the spec; older Quay answered 202, and a commit is a commit.
    if (res.status < 200 || res.status > 204)
      throw errorFromResponse(req, res, `uploading blob ${digest}`);
  }

  /** One chunk: PATCH with an inclusive `Content-Range: start-end`. Returns the next Location. */
  async patchChunk(
    location: URL,
    start: number,
    length: number,
    body: BodyFactory,
    options: SendOptions = {},
  ): Promise<URL> {
    const req: HttpRequest = {
      method: 'PATCH',
      op: 'patch',
      url: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(length),
        'content-range': `${start}-${start + length - 1}`,
      },
      body,
      onProgress: options.onProgress,
      answerBytes: length,
    };
    const res = await this.sendOnce(req);
    if (res.status !== 202 && res.status !== 201 && res.status !== 204)
      throw errorFromResponse(req, res, `uploading bytes ${start}-${start + length - 1}`);
    return res.headers.location ? this.location(res, req) : location;
  }

  /** Closes a chunked upload: PUT `?digest=` with no body. */
  /** Commits a chunked upload; the registry stores `size` bytes before it answers. */
  async commitUpload(location: URL, digest: string, size: number): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const req: HttpRequest = {
      method: 'PUT',
      op: 'commit',
      url,
      headers: { 'content-length': '0' },
      answerBytes: size,
    };
    const res = await this.sendOnce(req);
    if (res.status < 200 || res.status > 204)
      throw errorFromResponse(req, res, `committing blob ${digest}`);
  }

  /** GET the session: how many bytes it holds (the end of `Range`, exclusive) and where to continue. */
  async uploadStatus(location: URL): Promise<{ location: URL; offset: number }> {
    const req: HttpRequest = { method: 'GET', op: 'status', url: location };
    const res = await this.sendOnce(req);
    if (res.status !== 204 && res.status !== 202 && res.status !== 200) {
      throw errorFromResponse(req, res, 'asking where the upload stands');
    }
    const range = /^(?:bytes=)?(\d+)-(\d+)$/.exec((res.headers.range ?? '').trim());
    // Distribution answers "0-0" for an empty session as well as for one byte: read it as empty,
    // since resending a byte costs nothing and skipping one corrupts the blob.
    const end = range ? Number(range[2]) : 0;
    const offset = end === 0 ? 0 : end + 1;
    return { location: res.headers.location ? this.location(res, req) : location, offset };
  }

  /** Cancels a session; failures are ignored because the registry expires sessions anyway. */
  async cancelUpload(location: URL): Promise<void> {
    try {
      await this.sendOnce({ method: 'DELETE', op: 'cancel', url: location });
    } catch {
      // Best effort only.
    }
  }

  /** GET a manifest or index as raw bytes, with the media type the registry serves it as. */
  async getManifest(
    reference: string,
    accept: string[],
  ): Promise<{ raw: Buffer; mediaType: string; digest?: string }> {
    const req: HttpRequest = {
      method: 'GET',
      op: 'read',
      url: this.url(`manifests/${reference}`),
      headers: { accept: accept.join(', ') },
    };
    const res = await this.send(req);
    if (res.status !== 200) throw errorFromResponse(req, res, `reading manifest ${reference}`);
    const mediaType = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
    return { raw: res.body, mediaType, digest: servedDigest(req, res) };
  }

  /** GET a small blob (an image config) whole, following a redirect to the registry's storage. */
  async getBlob(digest: string): Promise<Buffer> {
    const req: HttpRequest = { method: 'GET', op: 'read', url: this.url(`blobs/${digest}`) };
    let res = await this.send(req);
    if (isRedirect(res)) res = (await this.follow(req, res)) ?? res;
    if (res.status !== 200)
      throw errorFromResponse({ ...req, url: res.url }, res, `reading blob ${digest}`);
    return res.body;
  }

  /** PUT a manifest or index by tag or digest; returns the digest the registry computed. */
  async putManifest(reference: string, mediaType: string, raw: Buffer): Promise<PutManifest> {
    const req: HttpRequest = {
      method: 'PUT',
      op: 'manifest',
      url: this.url(`manifests/${reference}`),
      headers: { 'content-type': mediaType, 'content-length': String(raw.length) },
      body: () => raw,
    };
    const res = await this.send(req);
    if (res.status !== 201 && res.status !== 200)
      throw errorFromResponse(req, res, `pushing manifest ${reference}`);
    return {
      digest: servedDigest(req, res),
      subject: res.headers['oci-subject'],
    };
  }

  /**
   * The digest a tag points at now (HEAD), or undefined when there is no such tag; an empty string
   * when the registry serves it without a Docker-Content-Digest.
   */
  async manifestDigest(
    reference: string,
    accept: string[],
    /** Asked before anything is written: an answer asked ahead may stand for it. */
    beforeThePush = false,
  ): Promise<string | undefined> {
    const req: HttpRequest = {
      ...tagCheck(this.registry.baseUrl, this.repository, reference, accept),
      mayUseAhead: beforeThePush,
    };
    const res = await this.send(req);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw errorFromResponse(req, res, `checking manifest ${reference}`);
    return servedDigest(req, res) ?? '';
  }
}

/**
 * The Docker-Content-Digest a registry sent, once it has the digest grammar: the value reaches
 * outputs, the summary and later steps' shells, so anything else is refused as an answer of its
 * own, never echoed.
 */
function servedDigest(req: HttpRequest, res: HttpResponse): string | undefined {
  const value = res.headers['docker-content-digest'];
  if (!value || isDigest(value)) return value || undefined;
  throw new RegistryError({
    method: req.method,
    op: req.op,
    url: req.url,
    refused: 'invalid-digest',
    context: `the registry sent an invalid digest (${value.length} characters, not algorithm:hex) in Docker-Content-Digest`,
  });
}

/** A Location's path and query on the registry's own origin. */
export function onOwnHost(location: URL, base: URL): URL {
  return new URL(`${location.pathname}${location.search}`, base);
}
