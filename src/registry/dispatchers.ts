import { Agent, type Dispatcher, ProxyAgent } from './undici.js';
import {
  type ProxySettings,
  proxyCredentials,
  proxyFor,
  proxySettingsFrom,
  proxyShown,
} from './proxy.js';
import {
  type Connector,
  TlsSessions,
  type Trust,
  hostTrust,
  trustingConnector,
} from './host-trust.js';
import { tunnelConnector } from './tunnel.js';
import type { EarlyConnections } from './early-connections.js';

export interface DispatcherOptions {
  /** Hosts (host:port) whose TLS certificate is not verified. */
  insecureHosts?: ReadonlySet<string>;
  /** Extra CA certificates (PEM) trusted on top of Node's. */
  ca?: string;
  /** Proxies; from HTTPS_PROXY, HTTP_PROXY and NO_PROXY when not given. */
  proxies?: ProxySettings;
  /** How long a connection (a tunnel and TLS included) may take to open. */
  connectMs: number;
  /** Connections opened early; the first https one to each host takes its own. */
  early?: EarlyConnections;
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
  /**
   * Whether the first connection to an https URL's host speaks HTTP/2, once it is open (false when
   * it failed, or when that URL is reached over plain http or through a proxy).
   */
  firstConnection(url: URL): Promise<boolean>;
  /**
   * A blob's body will soon go to this URL's origin: open its connection now, unless an idle or
   * opening one is there for it, so the handshakes overlap the round trip that starts the upload.
   */
  warm(url: URL): void;
  /**
   * Blob bodies will likely go to this URL's origin (its first connection speaks HTTP/2, so they
   * go on connections of their own): open up to `count` of them now, before any is announced.
   */
  preopen(url: URL, count: number): void;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** The deadlines of the transport end every request; undici's own timers are only a backstop. */
const COMMON = { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000 };

/** How long connections opened ahead wait for a TLS session to resume before they go without. */
const SESSION_WAIT_MS = 20;

/** Requests at once on one HTTP/2 connection (distribution's Go server allows 250). */
const H2_STREAMS = 100;

type Socket = Parameters<Parameters<Connector>[1]>[1];

/**
 * Connections opened before undici asks for one, per origin: undici's public API has no
 * preconnect, so the agent's own connect function takes a parked socket before it dials.
 */
class ParkedConnections {
  private readonly parked = new Map<string, Promise<Socket | undefined>[]>();
  /** Bodies announced and not yet sent, per origin. */
  private readonly awaited = new Map<string, number>();
  private closed = false;

  constructor(private readonly connector: Connector) {}

  /** undici's connect function: a parked socket that is still open, or a new connection. */
  readonly connect: Connector = (opts, done) => {
    const next = this.parked.get(`${opts.protocol}//${opts.host}`)?.shift();
    if (!next) return this.connector(opts, done);
    void next.then((socket) =>
      socket && !socket.destroyed ? done(null, socket) : this.connector(opts, done),
    );
  };

  /** Another body will go to `url`'s origin; `idle` connections there can take one each. */
  announce(url: URL, idle: number): void {
    const awaited = (this.awaited.get(url.origin) ?? 0) + 1;
    this.awaited.set(url.origin, awaited);
    if (idle + this.parkedAt(url).length < awaited) this.dial(url);
  }

  /** Bodies are likely to go to `url`'s origin before any is announced: `count` connections now. */
  open(url: URL, count: number): void {
    if (this.closed) return;
    for (let i = this.parkedAt(url).length; i < count; i++) this.dial(url);
  }

  private parkedAt(url: URL): Promise<Socket | undefined>[] {
    const parked = this.parked.get(url.origin) ?? [];
    this.parked.set(url.origin, parked);
    return parked;
  }

  private dial(url: URL): void {
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    this.parkedAt(url).push(
      new Promise((resolve) => {
        this.connector(
          { hostname: url.hostname, host: url.host, protocol: url.protocol, port, servername: '' },
          (error, socket) => {
            // A connection that failed here is dialled again when it is needed, and fails there.
            socket?.on('error', () => undefined);
            resolve(error ? undefined : (socket ?? undefined));
          },
        );
      }),
    );
  }

  /** A body is being sent to `origin`: one announced fewer. */
  sending(origin: string): void {
    this.awaited.set(origin, Math.max(0, (this.awaited.get(origin) ?? 0) - 1));
  }

  /**
   * Closes every parked connection. One still opening is closed when it opens: the run does not
   * wait a round trip for a connection it will not use (a re-push opens ahead and sends no body).
   */
  destroy(): Promise<void> {
    this.closed = true;
    const all = [...this.parked.values()].flat();
    this.parked.clear();
    for (const parked of all) void parked.then((socket) => socket?.destroy());
    return Promise.resolve();
  }
}

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
function http2Routing(
  connectMs: number,
  sessions: TlsSessions,
  early: EarlyConnections | undefined,
): {
  multiplexed: (trust: Trust) => Dispatcher;
  speaksH2: (url: URL) => boolean;
  seenH2: (host: string) => boolean;
  opened: (host: string) => Promise<boolean>;
} {
  const alpn = new Map<string, string>();
  const waiting = new Map<string, (h2: boolean) => void>();
  const opened = (host: string): Promise<boolean> =>
    alpn.has(host)
      ? Promise.resolve(alpn.get(host) === 'h2')
      : new Promise((resolve) => {
          const before = waiting.get(host);
          waiting.set(host, (h2) => (before?.(h2), resolve(h2)));
        });
  const learn = (host: string, protocol: string | undefined): void => {
    if (protocol !== undefined) alpn.set(host, protocol);
    waiting.get(host)?.(protocol === 'h2');
    waiting.delete(host);
  };
  const probing = new Set<string>();
  const multiplexed = (trust: Trust): Dispatcher => {
    const connector = trustingConnector(
      trust,
      { timeout: connectMs, allowH2: true },
      sessions,
      early,
    );
    return new Agent({
      ...COMMON,
      allowH2: true,
      pipelining: H2_STREAMS,
      connect: (opts, done) =>
        connector(opts, (error, socket) => {
          const protocol = (socket as { alpnProtocol?: string } | null)?.alpnProtocol;
          learn(opts.host ?? '', error ? undefined : protocol || '');
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
  return { multiplexed, speaksH2, seenH2: (host) => alpn.get(host) === 'h2', opened };
}

/**
 * Through a proxy: https through a CONNECT tunnel of our own connector (its deadline, its failures
 * said once); http as absolute-URI requests to the proxy, which fail like any request.
 */
function viaProxy(
  proxy: URL,
  url: URL,
  tls: { registry: object; proxy: object },
  connectMs: number,
): Dispatcher {
  const authorization = proxyAuthorization(proxy);
  if (url.protocol === 'https:')
    return new Agent({
      ...COMMON,
      connect: tunnelConnector({
        proxy,
        authorization,
        proxyTls: tls.proxy,
        registryTls: tls.registry,
        timeoutMs: connectMs,
      }),
    });
  return new ProxyAgent({
    ...COMMON,
    uri: new URL(proxyShown(proxy)).href,
    ...(authorization ? { token: authorization } : {}),
    proxyTls: { ...tls.proxy, timeout: connectMs },
    proxyTunnel: false,
  });
}

/**
 * One undici dispatcher per way of reaching a registry: direct or through which proxy, with which
 * TLS. One TLS setting serves every connection, direct or through a tunnel: the extra CA (with the
 * system's and NODE_EXTRA_CA_CERTS), or none checked for `insecure` hosts.
 */
export function createDispatchers(options: DispatcherOptions): Dispatchers {
  const { strict, trustFor } = hostTrust(options);
  const proxies = options.proxies ?? proxySettingsFrom(process.env);
  const made = new Map<string, Dispatcher>();
  const parked = new Map<Dispatcher, ParkedConnections>();
  const direct = (trust: Trust): Dispatcher => {
    const connections = new ParkedConnections(
      trustingConnector(trust, { timeout: options.connectMs }, sessions, options.early),
    );
    const agent = new Agent({ ...COMMON, connect: connections.connect });
    parked.set(agent, connections);
    return agent;
  };
  const sessions = new TlsSessions();
  const { multiplexed, speaksH2, seenH2, opened } = http2Routing(
    options.connectMs,
    sessions,
    options.early,
  );
  const route: Dispatchers['for'] = (url, load = 'small') => {
    const trust = trustFor(url);
    const proxy = proxyFor(url, proxies);
    // Not through a proxy: proxies stay as they were.
    const h2 = !proxy && url.protocol === 'https:' && load === 'small' && speaksH2(url);
    const key = `${trust.key} ${proxy?.href ?? 'direct'} ${proxy ? url.protocol : ''} ${h2 ? 'h2' : ''}`;
    let dispatcher = made.get(key);
    if (!dispatcher) {
      dispatcher = proxy
        ? viaProxy(proxy, url, { registry: trust.full(), proxy: strict() }, options.connectMs)
        : h2
          ? multiplexed(trust)
          : direct(trust);
      made.set(key, dispatcher);
    }
    return { dispatcher, proxy: proxy ? proxyShown(proxy) : undefined, h2 };
  };
  return {
    for: (url, load) => {
      const routed = route(url, load);
      if (load === 'bulk') parked.get(routed.dispatcher)?.sending(url.origin);
      return routed;
    },
    multiplexed: seenH2,
    firstConnection: (url) =>
      url.protocol === 'https:' && !proxyFor(url, proxies)
        ? opened(url.host)
        : Promise.resolve(false),
    warm: (url) => {
      // Direct connections only (`parked` has no proxy's agent): tunnels stay as they were.
      const { dispatcher } = route(url, 'bulk');
      const stats = (dispatcher as Agent).stats?.[url.origin] as { free?: number } | undefined;
      parked.get(dispatcher)?.announce(url, stats?.free ?? 0);
    },
    // After the first connection's TLS session is kept (a server sends it with its handshake):
    // these resume it, sparing both sides the certificate's signature and checks.
    preopen: (url, count) =>
      void sessions
        .kept(url.host, SESSION_WAIT_MS)
        .then(() => parked.get(route(url, 'bulk').dispatcher)?.open(url, count)),
    close: async () => {
      await Promise.all([...parked.values()].map((p) => p.destroy()));
      await Promise.all([...made.values()].map((d) => d.close()));
    },
    destroy: async () => {
      await Promise.all([...parked.values()].map((p) => p.destroy()));
      await Promise.all([...made.values()].map((d) => d.destroy()));
    },
  };
}
