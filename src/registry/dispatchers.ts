import { createSecureContext } from 'node:tls';
import { Agent, type Dispatcher, ProxyAgent, buildConnector } from './undici.js';
import {
  type ProxySettings,
  proxyCredentials,
  proxyFor,
  proxySettingsFrom,
  proxyShown,
} from './proxy.js';
import { certsDirCas, trustedWith } from './trust.js';
import { canonicalHost } from './reference.js';
import { tunnelConnector } from './tunnel.js';

export interface DispatcherOptions {
  /** Hosts (host:port) whose TLS certificate is not verified. */
  insecureHosts?: ReadonlySet<string>;
  /** Extra CA certificates (PEM) trusted on top of Node's. */
  ca?: string;
  /** Proxies; from HTTPS_PROXY, HTTP_PROXY and NO_PROXY when not given. */
  proxies?: ProxySettings;
  /** How long a connection (a tunnel and TLS included) may take to open. */
  connectMs: number;
}

/**
 * What a request carries: `bulk` is a blob body, which HTTP/2's flow-control windows would hold to
 * a window per round trip on a distant link (distribution's Go server grants 1 MiB per connection),
 * so it goes on HTTP/1.1 connections of its own; everything else shares one HTTP/2 connection where
 * the registry offers it over TLS.
 */
export type Load = 'small' | 'bulk';

export interface Dispatchers {
  /** The undici dispatcher for a URL and a load, and the proxy it goes through (as it may be shown). */
  for(url: URL, load?: Load): { dispatcher: Dispatcher; proxy?: string; h2: boolean };
  /** Whether a host (host:port) was seen to speak HTTP/2. */
  multiplexed(host: string): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** The deadlines of the transport end every request; undici's own timers are only a backstop. */
const COMMON = { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000 };

/** Requests at once on one HTTP/2 connection (distribution's Go server allows 250). */
const H2_STREAMS = 100;

/** The Proxy-Authorization for a proxy URL's credentials, sent to the proxy only. */
function proxyAuthorization(proxy: URL): string | undefined {
  const credentials = proxyCredentials(proxy);
  return credentials
    ? `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`
    : undefined;
}

/**
 * HTTP/2 where the registry's TLS offers it. undici sends one request at a time on a connection
 * unless told `pipelining`, which on an HTTP/1.1 connection would pipeline: so only a request to a
 * host already seen to speak h2, or the first one to a host (which finds out), goes this way.
 */
function http2Routing(connectMs: number): {
  multiplexed: (tls: object) => Dispatcher;
  speaksH2: (url: URL) => boolean;
  seenH2: (host: string) => boolean;
} {
  const alpn = new Map<string, string>();
  const probing = new Set<string>();
  const multiplexed = (tls: object): Dispatcher => {
    const connector = buildConnector({ ...tls, timeout: connectMs, allowH2: true });
    return new Agent({
      ...COMMON,
      allowH2: true,
      pipelining: H2_STREAMS,
      connect: (opts, done) =>
        connector(opts, (error, socket) => {
          if (!error)
            alpn.set(opts.host ?? '', (socket as { alpnProtocol?: string }).alpnProtocol || '');
          done(error, socket as never);
        }),
    });
  };
  const speaksH2 = (url: URL): boolean => {
    const seen = alpn.get(url.host);
    if (seen !== undefined) return seen === 'h2';
    if (probing.has(url.host)) return false;
    probing.add(url.host);
    return true;
  };
  return { multiplexed, speaksH2, seenH2: (host) => alpn.get(host) === 'h2' };
}

/**
 * One undici dispatcher per way of reaching a registry: direct or through which proxy, with which
 * TLS. One TLS setting serves every connection, direct or through a tunnel: the extra CA (with the
 * system's and NODE_EXTRA_CA_CERTS), or none checked for `insecure` hosts.
 */
export function createDispatchers(options: DispatcherOptions): Dispatchers {
  // One TLS context for every connection: building one from the roots costs ~20 ms of CPU on Node
  // 20's OpenSSL, which `ca` on each connection would pay again.
  const strictTls = options.ca
    ? { secureContext: createSecureContext({ ca: trustedWith(options.ca) }) }
    : {};
  const laxTls = { rejectUnauthorized: false };
  // A registry with CAs of its own in certs.d gets a context with them added; each host's folders
  // are read once.
  const hostTrust = new Map<string, { tls: object; key: string }>();
  const trustFor = (host: string): { tls: object; key: string } => {
    let trust = hostTrust.get(host);
    if (!trust) {
      const cas = certsDirCas(host);
      const ca = cas.length ? trustedWith(...(options.ca ? [options.ca] : []), ...cas) : [];
      trust = cas.length
        ? { tls: { secureContext: createSecureContext({ ca }) }, key: `certs.d ${host}` }
        : { tls: strictTls, key: 'strict' };
      hostTrust.set(host, trust);
    }
    return trust;
  };
  const proxies = options.proxies ?? proxySettingsFrom(process.env);
  const insecure = new Set([...(options.insecureHosts ?? [])].map(canonicalHost));
  const made = new Map<string, Dispatcher>();
  const viaProxy = (proxy: URL, url: URL, tls: object): Dispatcher => {
    const authorization = proxyAuthorization(proxy);
    // https through a CONNECT tunnel of our own connector (its deadline, its failures said once);
    // http as absolute-URI requests to the proxy, which fail like any request.
    if (url.protocol === 'https:')
      return new Agent({
        ...COMMON,
        connect: tunnelConnector({
          proxy,
          authorization,
          proxyTls: strictTls,
          registryTls: tls,
          timeoutMs: options.connectMs,
        }),
      });
    return new ProxyAgent({
      ...COMMON,
      uri: new URL(proxyShown(proxy)).href,
      ...(authorization ? { token: authorization } : {}),
      proxyTls: { ...strictTls, timeout: options.connectMs },
      proxyTunnel: false,
    });
  };
  const direct = (tls: object): Dispatcher =>
    new Agent({ ...COMMON, connect: { ...tls, timeout: options.connectMs } });
  const { multiplexed, speaksH2, seenH2 } = http2Routing(options.connectMs);
  return {
    for: (url, load = 'small') => {
      const lax = url.protocol === 'https:' && insecure.has(canonicalHost(url.host));
      const trust = lax ? { tls: laxTls, key: 'lax' } : trustFor(url.host);
      const tls = trust.tls;
      const proxy = proxyFor(url, proxies);
      // Not through a proxy: proxies stay as they were.
      const h2 = !proxy && url.protocol === 'https:' && load === 'small' && speaksH2(url);
      const key = `${trust.key} ${proxy?.href ?? 'direct'} ${proxy ? url.protocol : ''} ${h2 ? 'h2' : ''}`;
      let dispatcher = made.get(key);
      if (!dispatcher) {
        dispatcher = proxy ? viaProxy(proxy, url, tls) : h2 ? multiplexed(tls) : direct(tls);
        made.set(key, dispatcher);
      }
      return { dispatcher, proxy: proxy ? proxyShown(proxy) : undefined, h2 };
    },
    multiplexed: seenH2,
    close: async () => {
      await Promise.all([...made.values()].map((d) => d.close()));
    },
    destroy: async () => {
      await Promise.all([...made.values()].map((d) => d.destroy()));
    },
  };
}
