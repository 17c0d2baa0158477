import { createHash } from 'node:crypto';
import {
  type IncomingMessage,
  type Server,
  type ServerResponse,
  createServer as createHttpServer,
  request as httpRequest,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { type Profile, type ProfileName, type ProfileRequest, makeProfile } from './profiles.js';

/** What the proxy saw, one entry per request, for tests to assert on. */
export interface ProxyLogEntry {
  n: number;
  method: string;
  path: string;
  status: number;
  contentLength?: number;
  contentRange?: string;
  authorization: boolean;
  /** How the proxy interfered, if it did. */
  fault?: string;
}

export interface BodyCap {
  bytes: number;
  style: 'cloudflare' | 'nginx';
}

export interface FaultConfig {
  /** Requests whose body is larger than this get 413 with an HTML page, as Cloudflare and nginx send it. */
  bodyCap?: BodyCap;
  /** Answer 524 (a proxy timeout) to PUT and PATCH bodies larger than this. */
  timeoutBodiesOver?: number;
  /** Cut the connection after this many body bytes of a PUT or PATCH, `times` times. */
  resetBody?: { afterBytes: number; times: number; methods?: string[] };
  /** Answer these request numbers (1-based, counting every request) with `status`, never forwarding them. */
  failNth?: { nth: number[]; status: number; methods?: string[] };
  /** Seeded random faults on a fraction of requests: statuses or mid-body resets. */
  random?: { seed: number; fraction: number; statuses: number[]; resets: boolean };
  /** Answer every request matching a rule with its status and a registry JSON error, never forwarding it. */
  failWhen?: {
    method: string;
    path: RegExp;
    status: number;
    code?: string;
    message?: string;
    headers?: Record<string, string>;
  }[];
  /** 429 with Retry-After on these request numbers. */
  rateLimit?: { nth: number[]; retryAfter: string };
  /** A blob HEAD answers 404 for the first K times after its commit (replica lag). */
  headLag?: number;
  /** After a commit answers 201, delete the blob upstream: every time ('never-stays') for these digests. */
  neverStays?: string[];
  /** The same, once per digest: the registry loses the first upload and keeps the second. */
  lostOnce?: string[];
  /** On the first manifest PUT, delete these blobs upstream first (the seed report's `unknown blob`). */
  deleteBeforeManifest?: string[];
  /** Rewrite Location headers: relative, or pointing at a stale session on the first POST. */
  location?: 'relative' | 'stale-once' | 'stale-always';
  /** Add this (raw, already percent-encoded) query text to every upload Location. */
  locationSuffix?: string;
  /** Send Location headers for uploads through another origin (a different host string). */
  uploadsVia?: string;
  /** Extra headers on POST /blobs/uploads/ responses (OCI-Chunk-Min-Length and -Max-Length). */
  postHeaders?: Record<string, string>;
  /** Answer a manifest PUT with 401 once, as an expired token would (with this challenge). */
  unauthorizedOnce?: { path: RegExp; challenge: string };
  /** Send X-Forwarded-Proto on a TLS proxy; without it distribution writes http Locations. */
  forwardedProto?: boolean;
  /** From this request number on, answer every /v2/<repo>/ request with 401 (a token that expired for good). */
  unauthorizedFrom?: { n: number; challenge: string };
  /** Flip one byte in every PUT or PATCH body, as a broken proxy or disk would. */
  corruptBodies?: boolean;
  /** Add this Authorization upstream: a storage host with credentials of its own. */
  injectAuthorization?: string;
  /** Behave as this hosted registry does on the wire (test/support/profiles.ts). */
  profile?: ProfileName;
  /** Forward request bodies at this many bytes per second: an upload that takes a while. */
  slowBodies?: number;
  /** Extra headers on every answer to a manifest PUT (a registry with the referrers API). */
  manifestHeaders?: Record<string, string>;
  /** Answer a manifest PUT by tag with 201 and the body's right digest, and never store it. */
  dropTagPuts?: boolean;
  /** Answer every manifest PUT with this Docker-Content-Digest (it is stored as sent). */
  manifestDigestHeader?: string;
  /** Answer every manifest HEAD and GET with this Docker-Content-Digest (a tag read back). */
  servedDigestHeader?: string;
  /** Upload sessions expire this long after their first PATCH: 404 BLOB_UPLOAD_UNKNOWN after. */
  sessionLifetimeMs?: number;
  /** Read the request, then never answer: for these methods on paths matching `path`. */
  neverAnswer?: { methods: string[]; path: RegExp };
}

export interface FaultProxy {
  host: string;
  url: string;
  log: ProxyLogEntry[];
  config: FaultConfig;
  /** Digests the proxy deleted upstream. */
  deleted: string[];
  /** The most requests of each method the proxy held at once (from arrival until the answer ended). */
  peak: Record<string, number>;
  stop(): Promise<void>;
}

/** mulberry32: a small seeded PRNG, so a random fault schedule can be replayed exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CLOUDFLARE_413 = `<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n`;
const NGINX_413 = `<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n`;
const ERROR_PAGE = (status: number): string =>
  `<!DOCTYPE html><html><head><title>Error ${status}</title></head><body><h1>Error ${status}</h1><p>cloudflare</p></body></html>`;

/**
 * A reverse proxy on node:http in front of the real registry that injects the faults real networks
 * produce. It never invents registry behaviour: whatever it forwards, the registry answers.
 */
export async function startFaultProxy(
  upstream: { host: string },
  config: FaultConfig = {},
  tls?: { certFile: string; keyFile: string },
): Promise<FaultProxy> {
  const log: ProxyLogEntry[] = [];
  const deleted: string[] = [];
  const inFlight: Record<string, number> = {};
  const peak: Record<string, number> = {};
  const lag = new Map<string, number>();
  let count = 0;
  let resets = 0;
  let staleDone = false;
  let manifestSeen = false;
  let unauthorizedDone = false;
  const random = config.random ? seededRandom(config.random.seed) : undefined;
  const profile: Profile | undefined = config.profile ? makeProfile(config.profile) : undefined;
  /** Upload id → the latest upstream session path and query, for profiles that hide `_state`. */
  const sessions = new Map<string, { repo: string; path: string }>();
  const sessionBirth = new Map<string, number>();
  /** Download alias → the upstream blob path (GAR). */
  const downloads = new Map<string, string>();
  const [upHost, upPort] = upstream.host.split(':') as [string, string];

  const deleteUpstream = (path: string): Promise<void> =>
    new Promise((resolve) => {
      const req = httpRequest(
        { host: upHost, port: Number(upPort), method: 'DELETE', path },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', () => resolve());
      req.end();
    });

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const n = ++count;
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    const contentLength =
      req.headers['content-length'] !== undefined
        ? Number(req.headers['content-length'])
        : undefined;
    const entry: ProxyLogEntry = {
      n,
      method,
      path: url.pathname + decodeURIComponent(url.search),
      status: 0,
      contentLength,
      contentRange: req.headers['content-range'] as string | undefined,
      authorization: Boolean(req.headers.authorization),
    };
    log.push(entry);
    inFlight[method] = (inFlight[method] ?? 0) + 1;
    peak[method] = Math.max(peak[method] ?? 0, inFlight[method]!);
    res.once('close', () => inFlight[method]!--);
    // Profiles: map the client's session and download aliases back to distribution's own paths.
    let upstreamPath = req.url ?? '/';
    let sessionId: string | undefined;
    if (profile) {
      const alias =
        /^\/artifacts-uploads\/namespaces\/p\/repositories\/r\/uploads\/([^/?]+)$/.exec(
          url.pathname,
        ) ?? /^\/v2\/.+\/blobs\/uploads\/([^/?]+)$/.exec(url.pathname);
      sessionId = alias?.[1];
      const known = sessionId ? sessions.get(sessionId) : undefined;
      if (known && profile.sessions) {
        const target = new URL(known.path, 'http://upstream');
        for (const [k, v] of url.searchParams)
          if (!['_state', '_stateHash'].includes(k)) target.searchParams.set(k, v);
        upstreamPath = target.pathname + target.search;
      }
      const download =
        /^\/artifacts-downloads\/namespaces\/p\/repositories\/r\/downloads\/(\d+)$/.exec(
          url.pathname,
        );
      if (download) upstreamPath = downloads.get(download[1] as string) ?? '/missing';
    }
    const profileRequest: ProfileRequest = {
      method,
      url: new URL(url),
      contentLength,
      contentRange: req.headers['content-range'] as string | undefined,
      session: sessionId,
    };
    const answer = (
      status: number,
      headers: Record<string, string>,
      body: string,
      fault: string,
    ): void => {
      entry.status = status;
      entry.fault = fault;
      req.resume();
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    const blobMatch = /^\/v2\/(.+)\/blobs\/(sha\d+:[a-f0-9]+)$/.exec(url.pathname);
    const isManifestPut = method === 'PUT' && /\/manifests\//.test(url.pathname);
    const hasBody = method === 'PUT' || method === 'PATCH';
    const early = profile?.before?.(profileRequest);
    if (early)
      return answer(
        early.status,
        early.headers ?? {},
        early.body ?? '',
        `profile ${config.profile}`,
      );
    // A profile may have changed the query (ECR drops mount and from).
    if (profile && !sessionId && profileRequest.url.search !== url.search)
      upstreamPath = profileRequest.url.pathname + profileRequest.url.search;

    if (
      config.unauthorizedOnce &&
      !unauthorizedDone &&
      config.unauthorizedOnce.path.test(url.pathname)
    ) {
      unauthorizedDone = true;
      return answer(
        401,
        {
          'content-type': 'application/json',
          'www-authenticate': config.unauthorizedOnce.challenge,
        },
        JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token expired' }] }),
        '401 token expired',
      );
    }
    if (
      config.unauthorizedFrom &&
      n >= config.unauthorizedFrom.n &&
      /^\/v2\/.+/.test(url.pathname)
    ) {
      return answer(
        401,
        {
          'content-type': 'application/json',
          'www-authenticate': config.unauthorizedFrom.challenge,
        },
        JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }),
        '401 from now on',
      );
    }
    const rule = config.failWhen?.find((r) => r.method === method && r.path.test(url.pathname));
    if (rule) {
      return answer(
        rule.status,
        { 'content-type': 'application/json', ...(rule.headers ?? {}) },
        JSON.stringify({
          errors: [{ code: rule.code ?? 'UNKNOWN', message: rule.message ?? 'injected failure' }],
        }),
        `${rule.status} by rule`,
      );
    }
    if (config.rateLimit?.nth.includes(n)) {
      return answer(
        429,
        { 'retry-after': config.rateLimit.retryAfter, 'content-type': 'application/json' },
        JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }),
        '429',
      );
    }
    if (
      config.failNth?.nth.includes(n) &&
      (!config.failNth.methods || config.failNth.methods.includes(method))
    ) {
      return answer(
        config.failNth.status,
        { 'content-type': 'text/html', server: 'cloudflare' },
        ERROR_PAGE(config.failNth.status),
        `${config.failNth.status}`,
      );
    }
    if (config.bodyCap && hasBody && (contentLength ?? 0) > config.bodyCap.bytes) {
      const cloudflare = config.bodyCap.style === 'cloudflare';
      return answer(
        413,
        {
          'content-type': 'text/html',
          server: cloudflare ? 'cloudflare' : 'nginx/1.22.1',
          ...(cloudflare ? { 'cf-ray': '8a1b2c3d4e5f-AMS' } : {}),
        },
        cloudflare ? CLOUDFLARE_413 : NGINX_413,
        '413 cap',
      );
    }
    if (
      config.timeoutBodiesOver !== undefined &&
      hasBody &&
      (contentLength ?? 0) > config.timeoutBodiesOver
    ) {
      return answer(
        524,
        { 'content-type': 'text/html', server: 'cloudflare' },
        ERROR_PAGE(524),
        '524 timeout',
      );
    }
    let resetAfter: number | undefined;
    if (
      config.resetBody &&
      hasBody &&
      resets < config.resetBody.times &&
      (!config.resetBody.methods || config.resetBody.methods.includes(method)) &&
      (contentLength ?? 0) > config.resetBody.afterBytes
    ) {
      resets++;
      resetAfter = config.resetBody.afterBytes;
    }
    if (random && random() < config.random!.fraction) {
      const pick = random();
      if (config.random!.resets && hasBody && (contentLength ?? 0) > 1 && pick < 0.3) {
        resetAfter = Math.floor((contentLength ?? 2) * random());
      } else {
        const statuses = config.random!.statuses;
        const status = statuses[Math.floor(random() * statuses.length)] ?? 503;
        return answer(
          status,
          { 'content-type': 'text/html', server: 'cloudflare' },
          ERROR_PAGE(status),
          `random ${status}`,
        );
      }
    }
    if (blobMatch && method === 'HEAD' && (lag.get(blobMatch[2] as string) ?? 0) > 0) {
      lag.set(blobMatch[2] as string, (lag.get(blobMatch[2] as string) ?? 0) - 1);
      entry.fault = 'replica lag';
      entry.status = 404;
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end();
      req.resume();
      return;
    }
    const uploadId = /\/blobs\/uploads\/([^/?]+)/.exec(url.pathname)?.[1];
    if (config.sessionLifetimeMs && uploadId && method !== 'POST') {
      const born = sessionBirth.get(uploadId) ?? Date.now();
      sessionBirth.set(uploadId, born);
      if (Date.now() - born > config.sessionLifetimeMs)
        return answer(
          404,
          { 'content-type': 'application/json' },
          JSON.stringify({
            errors: [{ code: 'BLOB_UPLOAD_UNKNOWN', message: 'blob upload unknown to registry' }],
          }),
          'session expired',
        );
    }
    if (
      config.neverAnswer?.methods.includes(method) &&
      config.neverAnswer.path.test(url.pathname + url.search)
    ) {
      entry.fault = 'never answered';
      req.resume();
      return;
    }
    if (isManifestPut && config.dropTagPuts && !/\/manifests\/sha\d+:/.test(url.pathname)) {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const digest = `sha256:${createHash('sha256').update(Buffer.concat(chunks)).digest('hex')}`;
      entry.status = 201;
      entry.fault = 'manifest acknowledged, not stored';
      res.writeHead(201, { 'docker-content-digest': digest, 'content-length': '0' });
      res.end();
      return;
    }
    if (isManifestPut && !manifestSeen && config.deleteBeforeManifest?.length) {
      manifestSeen = true;
      const repo = /^\/v2\/(.+)\/manifests\//.exec(url.pathname)?.[1];
      for (const digest of config.deleteBeforeManifest) {
        await deleteUpstream(`/v2/${repo}/blobs/${digest}`);
        deleted.push(digest);
      }
      entry.fault = 'deleted blobs before manifest';
    }

    const headers = { ...req.headers };
    if (tls && config.forwardedProto) headers['x-forwarded-proto'] = 'https';
    if (config.injectAuthorization) headers.authorization = config.injectAuthorization;
    const upstreamReq = httpRequest({
      host: upHost,
      port: Number(upPort),
      method,
      path: upstreamPath,
      headers,
    });
    upstreamReq.on('response', async (up) => {
      entry.status = up.statusCode ?? 0;
      const outHeaders = { ...up.headers };
      const location = up.headers.location;
      if (location && typeof location === 'string') {
        const loc = new URL(location, `http://${req.headers.host}`);
        if (config.location === 'relative') outHeaders.location = loc.pathname + loc.search;
        const stale =
          config.location === 'stale-always' || (config.location === 'stale-once' && !staleDone);
        // Only the session Location a POST returns goes stale.
        if (stale && method === 'POST') {
          staleDone = true;
          outHeaders.location = loc
            .toString()
            .replace(/uploads\/[0-9a-f-]+/, 'uploads/00000000-0000-4000-8000-000000000000');
          entry.fault = 'stale location';
        }
        if (config.locationSuffix && /\/blobs\/uploads\//.test(loc.pathname)) {
          outHeaders.location = `${String(outHeaders.location ?? location)}${config.locationSuffix}`;
        }
        if (config.uploadsVia && /\/blobs\/uploads\//.test(loc.pathname)) {
          outHeaders.location = `${config.uploadsVia}${loc.pathname}${loc.search}`;
        }
      }
      if (method === 'POST' && config.postHeaders && up.statusCode === 202)
        Object.assign(outHeaders, config.postHeaders);
      if (isManifestPut && config.manifestHeaders)
        Object.assign(outHeaders, config.manifestHeaders);
      if (isManifestPut && config.manifestDigestHeader)
        outHeaders['docker-content-digest'] = config.manifestDigestHeader;
      if (
        config.servedDigestHeader &&
        (method === 'HEAD' || method === 'GET') &&
        /\/manifests\//.test(url.pathname)
      )
        outHeaders['docker-content-digest'] = config.servedDigestHeader;
      let status = up.statusCode ?? 502;
      if (profile) {
        const loc = typeof outHeaders.location === 'string' ? outHeaders.location : undefined;
        const upload =
          loc && /^(?:https?:\/\/[^/]+)?\/v2\/(.+)\/blobs\/uploads\/([^/?]+)/.exec(loc);
        if (upload && profile.sessions) {
          const [, repo, id] = upload as unknown as [string, string, string];
          const parsed = new URL(loc as string, 'http://upstream');
          sessions.set(id, { repo, path: parsed.pathname + parsed.search });
          outHeaders.location =
            profile.sessions === 'gar'
              ? `/artifacts-uploads/namespaces/p/repositories/r/uploads/${id}`
              : profile.sessions === 'r2'
                ? `/v2/${repo}/blobs/uploads/${id}?_stateHash=${(sessions.size * 7919).toString(16)}`
                : `/v2/${repo}/blobs/uploads/${id}`;
        }
        if (
          profile.downloadAliases &&
          blobMatch &&
          status === 200 &&
          (method === 'GET' || method === 'HEAD')
        ) {
          const token = String(downloads.size + 1);
          downloads.set(token, url.pathname);
          up.resume();
          entry.status = 302;
          entry.fault = 'profile download alias';
          res.writeHead(302, {
            location: `/artifacts-downloads/namespaces/p/repositories/r/downloads/${token}`,
            'content-length': '0',
          });
          res.end();
          return;
        }
        const flat: Record<string, string> = {};
        for (const [k, v] of Object.entries(outHeaders)) if (typeof v === 'string') flat[k] = v;
        const view = { status, headers: flat };
        profile.after?.(profileRequest, view);
        status = view.status;
        for (const k of Object.keys(outHeaders))
          if (typeof outHeaders[k] === 'string' && !(k in view.headers)) delete outHeaders[k];
        Object.assign(outHeaders, view.headers);
        entry.status = status;
      }
      const committed =
        method === 'PUT' && up.statusCode === 201 ? url.searchParams.get('digest') : null;
      if (committed && config.headLag) lag.set(committed, config.headLag);
      const loseNow =
        committed &&
        (config.neverStays?.includes(committed) ||
          (config.lostOnce?.includes(committed) && !deleted.includes(committed)));
      if (committed && loseNow) {
        const repo = /^\/v2\/(.+)\/blobs\/uploads\//.exec(url.pathname)?.[1];
        up.resume();
        await new Promise((r) => up.on('end', r));
        await deleteUpstream(`/v2/${repo}/blobs/${committed}`);
        deleted.push(committed);
        entry.fault = 'deleted after commit';
        res.writeHead(up.statusCode ?? 502, outHeaders);
        res.end();
        return;
      }
      res.writeHead(status, outHeaders);
      up.pipe(res);
    });
    upstreamReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    if (resetAfter !== undefined) {
      entry.fault = `reset after ${resetAfter} bytes`;
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        if (seen >= resetAfter!) return;
        const take = Math.min(chunk.length, resetAfter! - seen);
        seen += take;
        if (take) upstreamReq.write(chunk.subarray(0, take));
        if (seen >= resetAfter!) {
          upstreamReq.destroy();
          const socket = req.socket as Socket;
          if (socket.resetAndDestroy) socket.resetAndDestroy();
          else socket.destroy();
        }
      });
      return;
    }
    if (config.corruptBodies && hasBody && (contentLength ?? 0) > 0) {
      let flipped = false;
      entry.fault = 'corrupted body';
      req.on('data', (chunk: Buffer) => {
        if (!flipped) {
          chunk = Buffer.from(chunk);
          chunk[0] = (chunk[0] ?? 0) ^ 0xff;
          flipped = true;
        }
        upstreamReq.write(chunk);
      });
      req.on('end', () => upstreamReq.end());
      return;
    }
    if (config.slowBodies && hasBody) {
      const rate = config.slowBodies;
      req.on('data', (chunk: Buffer) => {
        upstreamReq.write(chunk);
        req.pause();
        setTimeout(() => req.resume(), (chunk.length / rate) * 1000);
      });
      req.on('end', () => upstreamReq.end());
      return;
    }
    req.pipe(upstreamReq);
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handler(req, res).catch(() => res.destroy());
  };
  const server: Server = tls
    ? createHttpsServer(
        { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) },
        listener,
      )
    : createHttpServer(listener);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    log,
    config,
    deleted,
    peak,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** Fault proxies a test file starts in front of one registry, all stopped together. */
export function faultProxies(registry: () => { host: string }): {
  start(config: FaultConfig): Promise<FaultProxy>;
  stopAll(): Promise<void>;
} {
  const started: FaultProxy[] = [];
  return {
    start: async (config) => {
      const p = await startFaultProxy(registry(), config);
      started.push(p);
      return p;
    },
    stopAll: async () => {
      await Promise.all(started.map((p) => p.stop()));
    },
  };
}
