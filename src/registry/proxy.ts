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
  | { kind: 'ip'; ip: string; port?: string }
  | { kind: 'cidr'; base: bigint; bits: number; v6: boolean }
  | { kind: 'name'; name: string; subdomainsOnly: boolean; port?: string };

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

function ipToBigInt(ip: string): { value: bigint; v6: boolean } {
  if (isIP(ip) === 4)
    return {
      value: ip.split('.').reduce((n, part) => (n << 8n) + BigInt(Number(part)), 0n),
      v6: false,
    };
  // Expand :: and read eight 16-bit groups.
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return {
    value: groups.reduce((n, g) => (n << 16n) + BigInt(parseInt(g || '0', 16)), 0n),
    v6: true,
  };
}

function parseRule(entry: string): NoProxyRule | undefined {
  const text = entry.trim().toLowerCase();
  if (!text) return undefined;
  if (text === '*') return { kind: 'all' };
  const cidr = /^(.+)\/(\d{1,3})$/.exec(text);
  if (cidr && isIP(cidr[1]!)) {
    const { value, v6 } = ipToBigInt(cidr[1]!);
    return { kind: 'cidr', base: value, bits: Number(cidr[2]), v6 };
  }
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { kind: 'ip', ip: bracketed[1]!, port: bracketed[2] };
  if (isIP(text)) return { kind: 'ip', ip: text };
  const withPort = /^(.+):(\d+)$/.exec(text);
  const host = withPort ? withPort[1]! : text;
  if (isIP(host)) return { kind: 'ip', ip: host, port: withPort?.[2] };
  const name = host.replace(/^\*\./, '.').replace(/\.$/, '');
  return {
    kind: 'name',
    name: name.replace(/^\./, ''),
    subdomainsOnly: name.startsWith('.'),
    port: withPort?.[2],
  };
}

export function proxySettingsFrom(env: NodeJS.ProcessEnv): ProxySettings {
  const https = envValue(env, 'https_proxy');
  const http = envValue(env, 'http_proxy');
  return {
    https: https ? parseProxyUrl('HTTPS_PROXY', https) : undefined,
    http: http ? parseProxyUrl('HTTP_PROXY', http) : undefined,
    noProxy: (envValue(env, 'no_proxy') ?? '')
      .split(/[\s,]+/)
      .map(parseRule)
      .filter((r): r is NoProxyRule => r !== undefined),
  };
}

const defaultPort = (url: URL): string => url.port || (url.protocol === 'https:' ? '443' : '80');

function inCidr(ip: string, rule: Extract<NoProxyRule, { kind: 'cidr' }>): boolean {
  const { value, v6 } = ipToBigInt(ip);
  if (v6 !== rule.v6) return false;
  const width = v6 ? 128 : 32;
  if (rule.bits > width) return false;
  const shift = BigInt(width - rule.bits);
  return value >> shift === rule.base >> shift;
}

function bypasses(url: URL, rule: NoProxyRule): boolean {
  const host = url.hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
  const port = defaultPort(url);
  switch (rule.kind) {
    case 'all':
      return true;
    case 'ip':
      return isIP(host) > 0 && host === rule.ip && (!rule.port || rule.port === port);
    case 'cidr':
      return isIP(host) > 0 && inCidr(host, rule);
    case 'name':
      if (rule.port && rule.port !== port) return false;
      if (host === rule.name) return !rule.subdomainsOnly;
      return host.endsWith(`.${rule.name}`);
  }
}

/** Loopback never goes through a proxy (as Go decides): a service container on localhost is local. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1'
  );
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

/** Every secret in the proxy settings of this environment, as written and decoded: to be masked. */
export function proxySecrets(env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>();
  for (const name of ['https_proxy', 'http_proxy']) {
    const text = envValue(env, name);
    if (!text) continue;
    const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^/@]*)@/i.exec(text);
    const userinfo = m?.[1];
    if (!userinfo) continue;
    const [, password = ''] = /^[^:]*:(.*)$/.exec(userinfo) ?? [];
    for (const value of [password, userinfo]) {
      if (!value) continue;
      out.add(value);
      try {
        out.add(decodeURIComponent(value));
      } catch {
        // Not percent-encoded: the raw form is masked already.
      }
    }
  }
  return [...out];
}
