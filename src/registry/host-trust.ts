import { type TLSSocket, createSecureContext } from 'node:tls';
import type { EarlyConnections } from './early-connections.js';
import { buildConnector, errors } from './undici.js';
import { canonicalHost } from './reference.js';
import { certsDirCas, trustedWith } from './trust.js';

export type Connector = ReturnType<typeof buildConnector>;

/** How a host's certificate is checked; `key` tells apart trusts that need their own connections. */
export interface Trust {
  key: string;
  /** The CAs given for this host (the CA file, certs.d), alone, when there are any. */
  own?: object;
  /** Node's roots (and NODE_EXTRA_CA_CERTS) with those CAs: the whole trust, built when needed. */
  full(): object;
}

export interface TrustOptions {
  /** Hosts (host:port) whose TLS certificate is not verified. */
  insecureHosts?: ReadonlySet<string>;
  /** Extra CA certificates (PEM) trusted on top of Node's. */
  ca?: string;
}

/** A value built once, at its first use. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

/**
 * The trust each host is reached with. A context holding Node's ~145 roots costs 13 ms of CPU on
 * Node 24 and 26 ms on Node 20 to build, before the first handshake: so a host with CAs of its own
 * is checked against those alone first (a context of one certificate), and the whole context is
 * built only for a certificate they do not vouch for. Each context is built once per run; each
 * host's certs.d folders are read once.
 */
export function hostTrust(options: TrustOptions): {
  strict: () => object;
  trustFor: (url: URL) => Trust;
} {
  const given = options.ca ? [options.ca] : [];
  const strict = once(() =>
    given.length ? { secureContext: createSecureContext({ ca: trustedWith(...given) }) } : {},
  );
  const strictTrust: Trust = {
    key: 'strict',
    ...(given.length ? { own: { secureContext: createSecureContext({ ca: given }) } } : {}),
    full: strict,
  };
  const insecure = new Set([...(options.insecureHosts ?? [])].map(canonicalHost));
  const byHost = new Map<string, Trust>();
  const certsD = (host: string): Trust => {
    const cas = [...given, ...certsDirCas(host)];
    if (cas.length === given.length) return strictTrust;
    return {
      key: `certs.d ${host}`,
      own: { secureContext: createSecureContext({ ca: cas }) },
      full: once(() => ({ secureContext: createSecureContext({ ca: trustedWith(...cas) }) })),
    };
  };
  const lax: Trust = { key: 'lax', full: () => ({ rejectUnauthorized: false }) };
  const trustFor = (url: URL): Trust => {
    if (url.protocol === 'https:' && insecure.has(canonicalHost(url.host))) return lax;
    let trust = byHost.get(url.host);
    if (!trust) byHost.set(url.host, (trust = certsD(url.host)));
    return trust;
  };
  return { strict, trustFor };
}

/**
 * undici's connector for a trust. With CAs of its own, a TLS connection is first checked against
 * them alone; one they do not vouch for (a public certificate, a redirect to cloud storage) is
 * closed before anything is sent on it, and that host is dialled again, now and from then on, with
 * the whole trust, whose failure is the one reported. Node sets `authorized` only when the chain
 * and the host name both check out.
 */
export function trustingConnector(
  trust: Trust,
  options: buildConnector.BuildOptions,
  sessions: TlsSessions,
  early?: EarlyConnections,
): Connector {
  if (!trust.own) return resuming({ ...trust.full(), ...options }, sessions, early);
  const own = resuming({ ...trust.own, ...options, rejectUnauthorized: false }, sessions, early);
  const full = once(() => resuming({ ...trust.full(), ...options }, sessions, early));
  const needsRoots = new Set<string>();
  return (opts, done) => {
    const host = opts.host ?? '';
    if (opts.protocol !== 'https:') return own(opts, done);
    if (needsRoots.has(host)) return full()(opts, done);
    own(opts, (error, socket) => {
      if (error || (socket as TLSSocket).authorized) return done(error, socket as never);
      socket!.destroy();
      needsRoots.add(host);
      full()(opts, done);
    });
  };
}

/** TLS sessions by host, kept from connections whose certificate checked out. */
export class TlsSessions {
  private readonly tickets = new Map<string, Buffer>();
  private readonly waiting = new Map<string, (() => void)[]>();

  get(host: string): Buffer | undefined {
    return this.tickets.get(host);
  }

  set(host: string, ticket: Buffer): void {
    this.tickets.set(host, ticket);
    for (const resolve of this.waiting.get(host) ?? []) resolve();
    this.waiting.delete(host);
  }

  /** Settles once a session for `host` is kept, or after `ms` without one. */
  kept(host: string, ms: number): Promise<void> {
    if (this.tickets.has(host)) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.set(host, [...(this.waiting.get(host) ?? []), resolve]);
      setTimeout(resolve, ms).unref();
    });
  }
}

/**
 * A connector that resumes the host's last TLS session: a new connection then skips the
 * certificate the server would send and sign and the client check, which dozens of blob bodies
 * opening at once pay on both sides. undici keeps sessions per connector; this shares them between
 * the connectors of a run (HTTP/2 and HTTP/1.1). Only a session of a connection that was
 * authorized is kept.
 */
function resuming(
  options: buildConnector.BuildOptions & { rejectUnauthorized?: boolean },
  sessions: TlsSessions,
  early?: EarlyConnections,
): Connector {
  const fresh = overEarly(buildConnector(options), early);
  return (opts, done) => {
    const host = opts.host ?? '';
    const session = opts.protocol === 'https:' ? sessions.get(host) : undefined;
    const connector = session ? overEarly(buildConnector({ ...options, session }), early) : fresh;
    connector(opts, (error, socket) => {
      const tls = socket as TLSSocket | null;
      tls?.on?.('session', (ticket: Buffer) => {
        if (tls.authorized || options.rejectUnauthorized !== false) sessions.set(host, ticket);
      });
      done(error, socket as never);
    });
  };
}

/**
 * A connector whose first https dial of a host makes its TLS handshake over the TCP connection
 * opened early for that host and port (undici's `httpSocket`), if there is one.
 */
function overEarly(connector: Connector, early: EarlyConnections | undefined): Connector {
  if (!early) return connector;
  return (opts, done) => {
    const opened = opts.protocol === 'https:' ? early.take(opts.hostname, opts.port) : undefined;
    if (!opened) return connector(opts, done);
    void opened.then((taken) => {
      if (!taken) return connector(opts, done);
      if ('socket' in taken) return connector({ ...opts, httpSocket: taken.socket }, done);
      // Its deadline has passed already: a second wait as long would double it.
      const address = `${opts.hostname}:${opts.port || 443}`;
      done(
        new errors.ConnectTimeoutError(
          `Connect Timeout Error (attempted address: ${address}, timeout: ${taken.timedOutMs}ms)`,
        ),
        null,
      );
    });
  };
}
