import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import type { Dispatcher } from './undici.js';
import type { ProxySettings } from './proxy.js';
import { type Load, createDispatchers } from './dispatchers.js';
import { type EarlyConnections, connectDeadline } from './early-connections.js';
import { TunnelError } from './tunnel.js';
import { InputError } from '../util/errors.js';
import { RegistryError } from './errors.js';
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
  /**
   * A check asked before anything is written (a blob's first existence check, a tag's state):
   * the same request asked ahead, beside the registry's `GET /v2/`, may stand for it.
   */
  mayUseAhead?: boolean;
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
  /** Connections opened before the transport was made; the first https one to each host takes one. */
  early?: EarlyConnections;
}

export interface BaseTransport {
  send: Transport;
  /** Whether requests to this host (host:port) share one HTTP/2 connection, as far as seen. */
  multiplexed?(host: string): boolean;
  /** A blob's body will soon go to this URL's origin: its connection may open now. */
  warm?(url: URL): void;
  /** Blob bodies will likely go to this URL's origin: up to `count` connections may open now. */
  preopen?(url: URL, count: number): void;
  /** Whether the first connection to an https URL's host speaks HTTP/2, once open. */
  firstConnection?(url: URL): Promise<boolean>;
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
 * One request's deadline, re-armed as the request moves on (writing, waiting, reading): `expired`
 * says which stage ran out. No deadline outlives its request.
 */
class RequestDeadline {
  readonly controller = new AbortController();
  expired?: string;
  private timer?: NodeJS.Timeout;
  private finished = false;

  arm(ms: number, what: string): void {
    clearTimeout(this.timer);
    // undici may still pull the body after an early answer: no deadline outlives the request.
    if (this.finished) return;
    this.timer = setTimeout(() => {
      this.expired = `${what} within ${formatDuration(ms)}`;
      this.controller.abort();
    }, ms);
  }

  finish(): void {
    this.finished = true;
    clearTimeout(this.timer);
  }
}

const STALLED_BODY = 'the body could not be sent (the connection stalled)';

/** The request's body, counted as it goes out, each write re-arming the deadline. */
function countedBody(
  req: HttpRequest,
  deadline: RequestDeadline,
  deadlines: Deadlines,
  onSent: (bytes: number) => void,
): AsyncIterable<Buffer> | undefined {
  const answerBytes = req.answerBytes ?? 0;
  if (!req.body) {
    deadline.arm(answerDeadline(deadlines, answerBytes), 'no answer');
    return undefined;
  }
  deadline.arm(deadlines.requestMs, STALLED_BODY);
  return countBytes(
    req.body(),
    (n) => {
      onSent(n);
      deadline.arm(deadlines.requestMs, STALLED_BODY);
      req.onProgress?.(n);
    },
    () => deadline.arm(answerDeadline(deadlines, answerBytes), 'no answer after the body was sent'),
  );
}

/** What a failed exchange was, as the failure rules read it: no answer came. */
function wireFailure(
  error: unknown,
  req: HttpRequest,
  how: { proxy?: string; expired?: string; cancelled: boolean; bodyIncomplete: boolean },
): RegistryError {
  const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const ended = how.cancelled ? 'cancelled' : how.expired ? 'deadline' : undefined;
  const tunnel =
    !ended && error instanceof TunnelError
      ? { failure: error.failure, status: error.status }
      : undefined;
  return new RegistryError({
    method: req.method,
    op: req.op,
    url: req.url,
    ...(ended ? { ended } : tunnel ? { tunnel } : { networkCode: err.code ?? err.cause?.code }),
    cause: error,
    bodyIncomplete: how.bodyIncomplete,
    proxy: how.proxy,
    ...(how.expired && !how.cancelled
      ? { context: `the registry stopped answering: ${how.expired}` }
      : {}),
  });
}

/**
 * A blob's bytes go on HTTP/1.1 connections of their own (see `Load`): undici also never puts a
 * streamed body on an HTTP/2 connection beside other requests, so each would open one anyway.
 */
function loadOf(req: HttpRequest): Load {
  return req.op === 'put-blob' || req.op === 'patch' ? 'bulk' : 'small';
}

/** The bottom layer: one undici request, no retries, no auth. Proxies come from HTTPS_PROXY/NO_PROXY. */
export function createBaseTransport(options: BaseTransportOptions = {}): BaseTransport {
  const deadlines = options.deadlines ?? DEFAULT_DEADLINES;
  // Every request in flight listens on the run's signal; dozens at once are expected, not a leak.
  if (options.signal) setMaxListeners(0, options.signal);
  const dispatchers = createDispatchers({
    ...options,
    connectMs: connectDeadline(deadlines.requestMs),
  });

  const send: Transport = async (req) => {
    let sent = 0;
    let answered = false;
    const deadline = new RequestDeadline();
    const body = countedBody(req, deadline, deadlines, (n) => (sent = n));
    const signal = options.signal
      ? AbortSignal.any([options.signal, deadline.controller.signal])
      : deadline.controller.signal;
    const { dispatcher, proxy, h2 } = dispatchers.for(req.url, loadOf(req));
    try {
      const res = await dispatcher.request({
        origin: req.url.origin,
        path: req.url.pathname + req.url.search,
        method: req.method as Dispatcher.HttpMethod,
        headers: { ...req.headers },
        // undici streams async iterables natively; its typings only list Readable.
        body: body as unknown as Readable | undefined,
        signal,
        // undici closes the connection after every HEAD, in case a server sends a body with it.
        // Registries do not; undici keeps it only when the answer also says `Connection:
        // keep-alive` (proxies mostly do, distribution's own Go server does not).
        ...(req.method === 'HEAD' ? { reset: false } : {}),
        // On HTTP/2 every request is a stream of its own: a POST need not wait for the others
        // in flight (undici holds a non-idempotent request until its connection is idle).
        ...(h2 ? { idempotent: true } : {}),
      });
      answered = true;
      deadline.arm(deadlines.requestMs, 'the answer did not arrive whole');
      const max = res.statusCode >= 300 ? MAX_ERROR_BODY_BYTES : MAX_RESPONSE_BYTES;
      const responseBody =
        req.method === 'HEAD' ? Buffer.alloc(0) : await readCapped(res.body, max);
      const headers = flattenHeaders(res.headers);
      return { status: res.statusCode, headers, body: responseBody, url: req.url, proxy };
    } catch (error) {
      // A problem with our own data (a corrupt local blob) is not the network's: pass it on as it is.
      if (error instanceof InputError) throw error;
      // Bytes handed to the socket may still be in its buffers; from here, a failure before any
      // response to a request with a body is a failure while sending it.
      throw wireFailure(error, req, {
        proxy,
        expired: deadline.expired,
        cancelled: options.signal?.aborted ?? false,
        bodyIncomplete: !answered && req.body !== undefined && sent > 0,
      });
    } finally {
      deadline.finish();
    }
  };

  return {
    send,
    multiplexed: dispatchers.multiplexed,
    warm: dispatchers.warm,
    preopen: dispatchers.preopen,
    firstConnection: dispatchers.firstConnection,
    close: dispatchers.close,
    destroy: dispatchers.destroy,
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
