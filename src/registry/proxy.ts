import { isIP } from 'node:net';
import { InputError } from '../util/errors.js';

/**
 * Proxy settings as people write them, read as Go's `httpproxy` reads them (curl agrees on all but
 * the corners noted): HTTPS_PROXY / https_proxy for https registries, HTTP_PROXY / http_proxy for
 * http ones, the upper-case name first; NO_PROXY / no_proxy lists what goes direct.
 */
export interface ProxySettings {
  https?: URL;
  http?: URL;
  noProxy: NoProxyRule[];
}

type NoProxyRule =
  | { kind: 'all' }
  | { kind: 'ip'; ip: bigint; v6: boolean; port?: string }
  | { kind: 'cidr'; base: bigint; bits: number; v6: boolean }
  | { kind: 'domain'; suffix: string; matchHost: boolean; port?: string };

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return env[name.toUpperCase()] || env[name.toLowerCase()] || undefined;
}

/** A proxy URL as written: a missing scheme means http (`proxy:3128`), as Go and curl take it. */
function parseProxyUrl(name: string, text: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    // The value may hold a password: never echo it.
    throw new InputError(`${name}: not a proxy URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InputError(
      `${name}: proxies over ${url.protocol.replace(':', '')} are not supported (http or https)`,
    );
  return url;
}

/** An IP as a number; an IPv4-mapped IPv6 address as the IPv4 one (Go's net.IP.Equal agrees). */
function ipValue(ip: string): { value: bigint; v6: boolean } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return ipValue(mapped[1]!);
  if (isIP(ip) === 4)
    return {
      value: ip.split('.').reduce((n, part) => (n << 8n) + BigInt(Number(part)), 0n),
      v6: false,
    };
  // Expand :: and read eight 16-bit groups (a trailing dotted quad as two).
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  const text = dotted
    ? ip.replace(
        dotted[1]!,
        (() => {
          const v = ipValue(dotted[1]!).value;
          return `${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
        })(),
      )
    : ip;
  const [head = '', tail = ''] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = text.includes('::')
    ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
    : h;
  return {
    value: groups.reduce((n, g) => (n << 16n) + BigInt(parseInt(g || '0', 16)), 0n),
    v6: true,
  };
}

/** Go's net.SplitHostPort: `[v6]:port` or exactly one colon; undefined where Go errs. */
function splitHostPort(text: string): { host: string; port: string } | undefined {
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
    return m ? { host: m[1]!, port: m[2]! } : undefined;
  }
  const colon = text.indexOf(':');
  if (colon < 0 || text.indexOf(':', colon + 1) >= 0) return undefined;
  return { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

/**
 * One NO_PROXY entry, read as Go's httpproxy reads it (golang.org/x/net/http/httpproxy, which
 * docker, containerd and skopeo use): `*`, a CIDR, an IP with an optional port, or a domain with an
 * optional port that matches itself and its subdomains (`.domain` and `*.domain`: subdomains only).
 * Nothing else is normalised: a trailing dot stays, and so a name with one matches only itself.
 */
function parseRule(entry: string): NoProxyRule | undefined | 'all' {
  const text = entry.trim().toLowerCase();
  if (!text) return undefined;
  if (text === '*') return 'all';
  const cidr = /^(.+)\/(\d{1,3})$/.exec(text);
  if (cidr && isIP(cidr[1]!)) {
    const { value, v6 } = ipValue(cidr[1]!);
    const bits = Number(cidr[2]);
    if (bits <= (v6 ? 128 : 32)) return { kind: 'cidr', base: value, bits, v6 };
  }
  const split = splitHostPort(text);
  if (split && !split.host) return undefined;
  const host = split?.host ?? text;
  if (isIP(host)) {
    const { value, v6 } = ipValue(host);
    return { kind: 'ip', ip: value, v6, port: split?.port || undefined };
  }
  const suffix = host.startsWith('*.') ? host.slice(1) : host;
  const matchHost = !suffix.startsWith('.');
  return {
    kind: 'domain',
    suffix: matchHost ? `.${suffix}` : suffix,
    matchHost,
    port: split?.port || undefined,
  };
}

export function proxySettingsFrom(env: NodeJS.ProcessEnv): ProxySettings {
  const https = envValue(env, 'https_proxy');
  const http = envValue(env, 'http_proxy');
  const rules: NoProxyRule[] = [];
  // Go splits on commas only: `a.com b.com` is one entry (that matches no host), as docker reads it.
  for (const entry of (envValue(env, 'no_proxy') ?? '').split(',')) {
    const rule = parseRule(entry);
    if (rule === 'all') {
      rules.splice(0, rules.length, { kind: 'all' });
      break;
    }
    if (rule) rules.push(rule);
  }
  return {
    https: https ? parseProxyUrl('HTTPS_PROXY', https) : undefined,
    http: http ? parseProxyUrl('HTTP_PROXY', http) : undefined,
    noProxy: rules,
  };
}

const defaultPort = (url: URL): string => url.port || (url.protocol === 'https:' ? '443' : '80');

function inCidr(
  ip: { value: bigint; v6: boolean },
  rule: Extract<NoProxyRule, { kind: 'cidr' }>,
): boolean {
  if (ip.v6 !== rule.v6) return false;
  const shift = BigInt((rule.v6 ? 128 : 32) - rule.bits);
  return ip.value >> shift === rule.base >> shift;
}

function bypasses(url: URL, rule: NoProxyRule): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = defaultPort(url);
  const ip = isIP(host) ? ipValue(host) : undefined;
  switch (rule.kind) {
    case 'all':
      return true;
    case 'ip':
      return (
        !!ip && ip.value === rule.ip && ip.v6 === rule.v6 && (!rule.port || rule.port === port)
      );
    case 'cidr':
      return !!ip && inCidr(ip, rule);
    case 'domain':
      if (!host.endsWith(rule.suffix) && !(rule.matchHost && host === rule.suffix.slice(1)))
        return false;
      return !rule.port || rule.port === port;
  }
}

/** Loopback never goes through a proxy, as Go decides: `localhost` and loopback addresses only. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (!isIP(host)) return false;
  const { value, v6 } = ipValue(host);
  return v6 ? value === 1n : value >> 24n === 127n;
}

/** The proxy a request to `url` goes through, or undefined for a direct connection. */
export function proxyFor(url: URL, settings: ProxySettings): URL | undefined {
  const proxy = url.protocol === 'https:' ? settings.https : settings.http;
  if (!proxy || isLoopbackHost(url.hostname)) return undefined;
  if (settings.noProxy.some((rule) => bypasses(url, rule))) return undefined;
  return proxy;
}

/** A proxy as it may be shown: scheme, host and port, never its credentials. */
export function proxyShown(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}

/** The credentials in a proxy URL, percent-decoded, for Proxy-Authorization; never logged. */
export function proxyCredentials(proxy: URL): { user: string; password: string } | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { user: decode(proxy.username), password: decode(proxy.password) };
}

/** Every secret in the proxy settings of this environment, in every form it can be shown: to be masked. */
export function proxySecrets(env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>();
  for (const name of ['https_proxy', 'http_proxy']) {
    const text = envValue(env, name);
    if (text) for (const value of secretForms(text)) if (value) out.add(value);
  }
  return [...out];
}

const decoded = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/**
 * A proxy URL's password and user:password as written, percent-decoded, percent-encoded as a URL
 * parser writes them, and as the Basic token sent to the proxy. The user information ends at the
 * last `@` before the host, as Go and the WHATWG parser read it, so an unencoded `@` or `:` in a
 * password is part of it.
 */
function secretForms(text: string): string[] {
  const authority = text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[/?#]/)[0] ?? '';
  const at = authority.lastIndexOf('@');
  if (at < 0) return [];
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  const password = colon >= 0 ? userinfo.slice(colon + 1) : '';
  if (!password) return [];
  const plain = decoded(password);
  const parsed = (() => {
    try {
      return new URL(`http://${authority}`).password;
    } catch {
      return '';
    }
  })();
  const token = Buffer.from(`${decoded(user)}:${plain}`).toString('base64');
  return [password, plain, encodeURIComponent(plain), parsed, userinfo, decoded(userinfo), token];
}
