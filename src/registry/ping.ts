import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { type Challenge, parseChallenge } from './auth.js';
import { RegistryError } from './errors.js';
import { faultOf } from './failure.js';
import { type HttpResponse, type Transport, errorFromResponse } from './http.js';
import { isLoopback, writtenPort } from './reference.js';
import { withRetry } from './retry.js';

export interface PingOptions {
  apiHost: string;
  insecure: boolean;
  retries: number;
  clock: Clock;
  logger: Logger;
  /** The bottom transport: no auth, no retries. */
  send: Transport;
}

/** What `GET /v2/` taught: where the API is and how it wants to be authenticated. */
export interface PingResult {
  baseUrl: URL;
  challenge?: Challenge;
}

/**
 * Finds the scheme and the auth challenge with `GET /v2/`. https comes first; loopback hosts and
 * `insecure` registries fall back to plain http when the port does not speak TLS. No credentials
 * are sent before the scheme is known. The port dialled is always the one written: `host:443`
 * over http is still port 443, never 80.
 */
export async function ping(options: PingOptions): Promise<PingResult> {
  const { apiHost, clock, logger } = options;
  const loopback = isLoopback(apiHost);
  // A written :443 says https: asking plain http first would be a TLS handshake wasted at best.
  const httpFirst = loopback && writtenPort(apiHost) !== '443';
  const get = (scheme: string, retries: number): Promise<HttpResponse> =>
    withRetry(
      options.send,
      { retries, clock },
      logger,
    )({ method: 'GET', op: 'ping', url: new URL(`${scheme}://${apiHost}/v2/`) });

  let res: HttpResponse | undefined;
  let baseUrl = new URL(`https://${apiHost}`);
  if (httpFirst) {
    // Loopback registries mostly speak plain http: asking that first saves a TLS handshake. A TLS
    // port answers 400 or drops the connection, and https follows.
    let refused: unknown;
    // Asked once, never again: its failure only says which scheme to ask next.
    const plain = await options
      .send({ method: 'GET', op: 'ping', url: new URL(`http://${apiHost}/v2/`) })
      .catch((error: unknown) => {
        refused = error;
        return undefined;
      });
    // Nothing listens on the port yet: https would dial the same port and fail the same way, so
    // the tries again (a service still starting) are over http, and a failure says it as tried.
    if (refused && faultOf(refused, { op: 'ping' }).cause === 'connection-refused') {
      const late = await get('http', options.retries).catch((error: unknown) => {
        throw explained(error, apiHost);
      });
      // A TLS port that came up meanwhile answers plain http with an error: https follows.
      if (late.status === 200 || late.status === 401) {
        res = late;
        baseUrl = new URL(`http://${apiHost}`);
      }
    } else if (refused instanceof RegistryError && refused.ended === 'deadline') {
      // A TLS port answers plain http at once (an error or a close): one that takes the request
      // and never answers is not waiting for a handshake, and https would wait the same again.
      throw explained(refused, apiHost);
    } else if (plain && (plain.status === 200 || plain.status === 401)) {
      res = plain;
      baseUrl = new URL(`http://${apiHost}`);
    }
  }
  if (!res) {
    try {
      res = await get('https', options.retries);
    } catch (error) {
      const cause = faultOf(error, { op: 'ping' }).cause;
      const mayUseHttp = options.insecure || loopback;
      if (cause === 'http-over-https' && mayUseHttp) {
        res = await get('http', options.retries);
        baseUrl = new URL(`http://${apiHost}`);
      } else throw explained(error, apiHost);
    }
  }
  if (res.status === 401)
    return { baseUrl, challenge: parseChallenge(res.headers['www-authenticate']) };
  if (res.status !== 200) {
    const req = { method: 'GET', op: 'ping' as const, url: new URL('/v2/', baseUrl) };
    const why =
      res.status === 407
        ? `the proxy at ${res.proxy ?? 'HTTP_PROXY'} asked for credentials before it would connect to ${apiHost} (407)`
        : res.status >= 500
          ? `${apiHost} is unavailable`
          : `${apiHost} does not answer as an OCI registry`;
    throw errorFromResponse(req, res, why);
  }
  return { baseUrl };
}

/**
 * What a connection failure at the first request was, said in the first line people read: facts
 * only. The probable cause and its fix come from causes.ts, on the lines after it.
 */
const CONNECT_CONTEXT: Partial<Record<string, (host: string, proxy: string) => string>> = {
  'tls-untrusted': (h) => `the certificate of ${h} is not trusted`,
  'tls-self-signed': (h) => `the certificate of ${h} is not trusted (self-signed)`,
  'tls-name-mismatch': (h) => `the certificate of ${h} is for another host name`,
  'http-over-https': (h) => `${h} speaks plain http, not https`,
  'connection-refused': (h) => `nothing accepted a connection at ${h}`,
  'dns-failure': (h) => `the host name of ${h} does not resolve`,
  'connect-timeout': (h) => `connecting to ${h} timed out`,
  'proxy-auth': (h, p) =>
    `the proxy at ${p} asked for credentials before it would connect to ${h} (407)`,
  'proxy-refused': (h, p) => `the proxy at ${p} refused to connect to ${h}`,
  'proxy-unreachable': (_h, p) => `the proxy at ${p} cannot be reached`,
  'proxy-tunnel': (h, p) => `the proxy at ${p} did not open a tunnel to ${h}`,
};

function explained(error: unknown, host: string): unknown {
  if (!(error instanceof RegistryError) || error.status !== undefined) return error;
  const context = CONNECT_CONTEXT[faultOf(error, { op: 'ping' }).cause]?.(
    host,
    error.proxy ?? 'HTTPS_PROXY',
  );
  if (!context) return error;
  return new RegistryError({
    method: error.method,
    op: 'ping',
    url: error.url,
    networkCode: error.networkCode,
    tunnel: error.tunnel,
    ended: error.ended,
    cause: error.cause,
    context,
    proxy: error.proxy,
  });
}
