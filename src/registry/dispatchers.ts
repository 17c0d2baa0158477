import { Agent, type Dispatcher, ProxyAgent } from './undici.js';
import {
  type ProxySettings,
  proxyCredentials,
  proxyFor,
  proxySettingsFrom,
  proxyShown,
} from './proxy.js';
import { trustedWith } from './trust.js';
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

export interface Dispatchers {
  /** The undici dispatcher for a URL, and the proxy it goes through (as it may be shown). */
  for(url: URL): { dispatcher: Dispatcher; proxy?: string };
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** The deadlines of the transport end every request; undici's own timers are only a backstop. */
const COMMON = { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000 };

/** The Proxy-Authorization for a proxy URL's credentials, sent to the proxy only. */
function proxyAuthorization(proxy: URL): string | undefined {
  const credentials = proxyCredentials(proxy);
  return credentials
    ? `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`
    : undefined;
}

/**
 * One undici dispatcher per way of reaching a registry: direct or through which proxy, with which
 * TLS. One TLS setting serves every connection, direct or through a tunnel: the extra CA (with the
 * system's and NODE_EXTRA_CA_CERTS), or none checked for `insecure` hosts.
 */
export function createDispatchers(options: DispatcherOptions): Dispatchers {
  const strictTls = options.ca ? { ca: trustedWith(options.ca) } : {};
  const laxTls = { rejectUnauthorized: false };
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
  return {
    for: (url) => {
      const lax = url.protocol === 'https:' && insecure.has(canonicalHost(url.host));
      const tls = lax ? laxTls : strictTls;
      const proxy = proxyFor(url, proxies);
      const key = `${lax ? 'lax' : 'strict'} ${proxy?.href ?? 'direct'} ${proxy ? url.protocol : ''}`;
      let dispatcher = made.get(key);
      if (!dispatcher) {
        dispatcher = proxy
          ? viaProxy(proxy, url, tls)
          : new Agent({ ...COMMON, connect: { ...tls, timeout: options.connectMs } });
        made.set(key, dispatcher);
      }
      return { dispatcher, proxy: proxy ? proxyShown(proxy) : undefined };
    },
    close: async () => {
      await Promise.all([...made.values()].map((d) => d.close()));
    },
    destroy: async () => {
      await Promise.all([...made.values()].map((d) => d.destroy()));
    },
  };
}
