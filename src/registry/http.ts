import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher, ProxyAgent } from './undici.js';
import {
  type ProxySettings,
  proxyCredentials,
  proxyFor,
  proxySettingsFrom,
  proxyShown,
} from './proxy.js';
import { InputError } from '../util/errors.js';
import { RegistryError } from './errors.js';
import { canonicalHost } from './reference.js';
import { tunnelConnector } from './tunnel.js';
import { formatDuration } from '../util/format.js';
import type { Op } from './failure.js';

/** A body is a factory so that a retry rereads it from its source instead of holding it in memory. */
export type BodyFactory = () => Readable | Buffer | string | AsyncIterable<Buffer>;

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: BodyFactory;
  /** Token scopes this request needs (`repository:NAME:pull,push`). */
  scopes?: string[];
  /** What the request is for; the failure rules read it. */
  op?: Op;
  /** Called with the running count of body bytes handed to the socket. */
  onProgress?: (bytesSent: number) => void;
  /**
   * Bytes the registry must store before it answers: a body's length, or a whole blob for the
   * empty PUT that commits a chunked upload. Its answer deadline grows with them.
   */
  answerBytes?: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  body: Buffer;
  url: URL;
  /** The proxy the request went through (scheme, host and port), when one did. */
  proxy?: string;
}

export type Transport = (request: HttpRequest) => Promise<HttpResponse>;

/** The largest response body we keep; registries answer us with JSON documents, never blobs. */
const MAX_RESPONSE_BYTES = 8 << 20;
/**
 * The most of an error body kept: its JSON errors or the start of a proxy's page. The rest is never
 * read: the connection is closed instead, so an endless body costs nothing.
 */
export const MAX_ERROR_BODY_BYTES = 64 << 10;

/**
 * How long a request may take. A request without a body waits `requestMs` for its answer; a body
 * may pause `requestMs` between two writes, and after its last byte the registry gets `requestMs`
 * plus `msPerMiB` for each MiB it must store. Reading an answer's body gets `requestMs` again.
 */
export interface Deadlines {
  requestMs: number;
  msPerMiB: number;
}

export const DEFAULT_DEADLINES: Deadlines = { requestMs: 30_000, msPerMiB: 50 };

/** The wait for an answer after everything was sent. */
export function answerDeadline(deadlines: Deadlines, answerBytes = 0): number {
  return deadlines.requestMs + Math.ceil((answerBytes / (1 << 20)) * deadlines.msPerMiB);
}

export interface BaseTransportOptions {
  /** How long each request may take (DEFAULT_DEADLINES). */
  deadlines?: Deadlines;
  /** Hosts (host:port) whose TLS certificate is not verified. */
  insecureHosts?: ReadonlySet<string>;
  /** Aborts every request in flight, and every later one, when the run is cancelled. */
  signal?: AbortSignal;
  /** Extra CA certificates (PEM) trusted on top of Node's. */
  ca?: string;
  /** Proxies; from HTTPS_PROXY, HTTP_PROXY and NO_PROXY when not given. */
  proxies?: ProxySettings;
}

export interface BaseTransport {
  send: Transport;
  close(): Promise<void>;
  /** Closes every socket now, idle or not: for when every request has finished. */
  destroy(): Promise<void>;
}

function flattenHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

async function* countBytes(
  source: Readable | Buffer | string | AsyncIterable<Buffer>,
  progress: (n: number) => void,
  done: () => void,
): AsyncGenerator<Buffer> {
  let sent = 0;
  if (typeof source === 'string' || Buffer.isBuffer(source)) {
    const buffer = Buffer.from(source);
    yield buffer;
    progress(buffer.length);
    done();
    return;
  }
  for await (const chunk of source) {
    sent += (chunk as Buffer).length;
    yield chunk as Buffer;
    progress(sent);
  }
  done();
}

async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const room = max - size;
    chunks.push(room < (chunk as Buffer).length ? (chunk as Buffer).subarray(0, room) : chunk);
    size += (chunk as Buffer).length;
    if (size >= max) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks);
}

/**
 * Node's roots plus NODE_EXTRA_CA_CERTS plus `extra`: passing `ca` to TLS replaces the default list,
 * so an extra CA must come with the ones already trusted.
 */
export function trustedWith(extra: string): string[] {
  const fromEnv = process.env.NODE_EXTRA_CA_CERTS;
  let envCerts: string[] = [];
  if (fromEnv) {
    try {
      envCerts = [readFileSync(fromEnv, 'utf8')];
    } catch {
      // Node itself warns about an unreadable NODE_EXTRA_CA_CERTS at startup.
    }
  }
  return [...rootCertificates, ...envCerts, extra];
}

/** The bottom layer: one undici request, no retries, no auth. Proxies come from HTTPS_PROXY/NO_PROXY. */
export function createBaseTransport(options: BaseTransportOptions = {}): BaseTransport {
  const deadlines = options.deadlines ?? DEFAULT_DEADLINES;
  // The deadlines below end every request; undici's own timers are only a backstop.
  const common = {
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 30_000,
  };
  // Every request in flight listens on the run's signal; dozens at once are expected, not a leak.
  if (options.signal) setMaxListeners(0, options.signal);
  // One TLS setting for every connection to a registry, direct or through a proxy's tunnel: the
  // extra CA (with the system's and NODE_EXTRA_CA_CERTS), or none checked for `insecure` hosts.
  const strictTls = options.ca ? { ca: trustedWith(options.ca) } : {};
  const laxTls = { rejectUnauthorized: false };
  const proxies = options.proxies ?? proxySettingsFrom(process.env);
  // A connection, tunnel and TLS included, has the request's deadline; a little less, so that a
  // proxy or host that stalls before any request is sent is named, not taken for a stalled registry.
  const connectMs = Math.max(1, deadlines.requestMs - Math.min(250, deadlines.requestMs / 10));
  const viaProxy = (proxy: URL, url: URL, tls: object): Dispatcher => {
    const credentials = proxyCredentials(proxy);
    // Sent to the proxy only (Proxy-Authorization), on the CONNECT or the absolute-URI request.
    const authorization = credentials
      ? `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`
      : undefined;
    // https goes through a CONNECT tunnel of our own connector (its deadline, its failures said
    // once); http as absolute-URI requests to the proxy, which fail like any request.
    if (url.protocol === 'https:')
      return new Agent({
        ...common,
        connect: tunnelConnector({
          proxy,
          authorization,
          proxyTls: strictTls,
          registryTls: tls,
          timeoutMs: connectMs,
        }),
      });
    return new ProxyAgent({
      ...common,
      uri: new URL(proxyShown(proxy)).href,
      ...(authorization ? { token: authorization } : {}),
      proxyTls: { ...strictTls, timeout: connectMs },
      proxyTunnel: false,
    });
  };
  const dispatchers = new Map<string, Dispatcher>();
  const insecure = new Set([...(options.insecureHosts ?? [])].map(canonicalHost));
  const dispatcherFor = (url: URL): { dispatcher: Dispatcher; proxy?: string } => {
    const lax = url.protocol === 'https:' && insecure.has(canonicalHost(url.host));
    const tls = lax ? laxTls : strictTls;
    const proxy = proxyFor(url, proxies);
    // https goes through a CONNECT tunnel; http as absolute-URI requests to the proxy.
    const key = `${lax ? 'lax' : 'strict'} ${proxy?.href ?? 'direct'} ${proxy ? url.protocol : ''}`;
    let dispatcher = dispatchers.get(key);
    if (!dispatcher) {
      dispatcher = proxy
        ? viaProxy(proxy, url, tls)
        : new Agent({ ...common, connect: { ...tls, timeout: connectMs } });
      dispatchers.set(key, dispatcher);
    }
    return { dispatcher, proxy: proxy ? proxyShown(proxy) : undefined };
  };

  const send: Transport = async (req) => {
    let bodyDone = req.body === undefined;
    let sent = 0;
    let body: AsyncIterable<Buffer> | undefined;
    // One deadline at a time, re-armed as the request moves on: writing, waiting, reading.
    const deadline = new AbortController();
    let expired: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const arm = (ms: number, what: string): void => {
      clearTimeout(timer);
      // undici may still pull the body after an early answer: no deadline outlives the request.
      if (finished) return;
      timer = setTimeout(() => {
        expired = `${what} within ${formatDuration(ms)}`;
        deadline.abort();
      }, ms);
    };
    const answerBytes = req.answerBytes ?? 0;
    if (req.body) {
      const whenSent = (): void =>
        arm(answerDeadline(deadlines, answerBytes), 'no answer after the body was sent');
      body = countBytes(
        req.body(),
        (n) => {
          sent = n;
          arm(deadlines.requestMs, 'the body could not be sent (the connection stalled)');
          req.onProgress?.(n);
        },
        whenSent,
      );
      arm(deadlines.requestMs, 'the body could not be sent (the connection stalled)');
    } else arm(answerDeadline(deadlines, answerBytes), 'no answer');
    const signal = options.signal
      ? AbortSignal.any([options.signal, deadline.signal])
      : deadline.signal;
    const headers = { ...req.headers };
    const { dispatcher, proxy } = dispatcherFor(req.url);
    try {
      const res = await dispatcher.request({
        origin: req.url.origin,
        path: req.url.pathname + req.url.search,
        method: req.method as Dispatcher.HttpMethod,
        headers,
        // undici streams async iterables natively; its typings only list Readable.
        body: body as unknown as Readable | undefined,
        signal,
        // undici closes the connection after every HEAD, in case a server sends a body with it.
        // Registries do not, and a new connection per existence check costs a round trip (more
        // with TLS) on a distant registry. undici keeps it only when the answer also says
        // `Connection: keep-alive`: proxies in front of registries mostly do, distribution's own
        // Go server does not (there every HEAD still costs a new connection).
        ...(req.method === 'HEAD' ? { reset: false } : {}),
      });
      bodyDone = true;
      arm(deadlines.requestMs, 'the answer did not arrive whole');
      const max = res.statusCode >= 300 ? MAX_ERROR_BODY_BYTES : MAX_RESPONSE_BYTES;
      const responseBody =
        req.method === 'HEAD' ? Buffer.alloc(0) : await readCapped(res.body, max);
      return {
        status: res.statusCode,
        headers: flattenHeaders(res.headers),
        body: responseBody,
        url: req.url,
        proxy,
      };
    } catch (error) {
      // A problem with our own data (a corrupt local blob) is not the network's: pass it on as it is.
      if (error instanceof InputError) throw error;
      const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
      // undici says a refused CONNECT in its message only: `Proxy response (407) !== 200 …`.
      const tunnel = proxy && /Proxy response \((\d{3})\)/.exec(err.message ?? '');
      const networkCode = options.signal?.aborted
        ? 'CANCELLED'
        : expired
          ? 'DEADLINE'
          : tunnel
            ? `PROXY_${tunnel[1]}`
            : (err.code ?? err.cause?.code ?? 'NETWORK_ERROR');
      // Bytes handed to the socket may still be in its buffers; from here, a failure before any
      // response to a request with a body is a failure while sending it.
      throw new RegistryError({
        method: req.method,
        op: req.op,
        url: req.url,
        networkCode,
        cause: error,
        bodyIncomplete: !bodyDone && req.body !== undefined && sent > 0,
        proxy,
        ...(expired && !options.signal?.aborted
          ? { context: `the registry stopped answering: ${expired}` }
          : {}),
      });
    } finally {
      finished = true;
      clearTimeout(timer);
    }
  };

  return {
    send,
    close: async () => {
      await Promise.all([...dispatchers.values()].map((d) => d.close()));
    },
    destroy: async () => {
      await Promise.all([...dispatchers.values()].map((d) => d.destroy()));
    },
  };
}

/** A response the caller did not expect becomes a RegistryError carrying what the registry said. */
export function errorFromResponse(
  req: HttpRequest,
  res: HttpResponse,
  context?: string,
): RegistryError {
  const keep = [
    'server',
    'content-type',
    'location',
    'www-authenticate',
    'retry-after',
    'cf-ray',
    'via',
    'range',
    'allow',
    'ratelimit-limit',
    'ratelimit-remaining',
    'docker-ratelimit-source',
  ];
  const headers: Record<string, string> = {};
  for (const name of keep) if (res.headers[name]) headers[name] = res.headers[name] as string;
  if (res.headers['proxy-authenticate'])
    headers['proxy-authenticate'] = res.headers['proxy-authenticate'];
  const text = res.body.toString('utf8');
  let codes: RegistryError['codes'] = [];
  try {
    const parsed = JSON.parse(text) as { errors?: RegistryError['codes'] };
    if (Array.isArray(parsed.errors)) {
      codes = parsed.errors.map((e) => ({
        code: String(e.code),
        message: e.message,
        detail: e.detail,
      }));
    }
  } catch {
    // Not JSON: an HTML page from a proxy, kept as a snippet below.
  }
  return new RegistryError({
    method: req.method,
    op: req.op,
    url: req.url,
    status: res.status,
    codes,
    headers,
    bodySnippet: codes.length ? undefined : text.slice(0, 2048),
    context,
    proxy: res.proxy,
  });
}
