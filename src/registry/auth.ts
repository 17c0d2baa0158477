import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';
import { RegistryError } from './errors.js';
import { type HttpRequest, type HttpResponse, type Transport, errorFromResponse } from './http.js';
import { isLoopback, isSameHost } from './reference.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token realm. */
  identityToken?: string;
  /** Where these credentials were found, for messages: "input", "~/.docker/config.json", … */
  source?: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or Basic). Quoted values may hold commas. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2] ?? '')) !== null) {
    params[(p[1] as string).toLowerCase()] =
      p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: (m[1] as string).toLowerCase(), params };
}

export function repositoryScope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface AuthenticatorOptions {
  /** host:port of the registry API; credentials never leave for any other host. */
  host: string;
  /** The challenge `GET /v2/` answered with; absent when the registry is open. */
  challenge?: Challenge;
  credentials?: Credentials;
  /** Sends token requests; it carries retries but no auth. */
  transport: Transport;
  logger: Logger;
  clock: Clock;
  insecure: boolean;
  /** How the registry itself is reached: a plain-http realm is trusted only as far as the registry is. */
  registryProtocol?: string;
}

/** Per-registry credentials and token cache. One instance serves every repository on that registry. */
export class Authenticator {
  readonly host: string;
  challenge?: Challenge;
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(private readonly options: AuthenticatorOptions) {
    this.host = options.host;
    this.challenge = options.challenge;
    const { credentials, logger } = options;
    for (const secret of [credentials?.password, credentials?.identityToken])
      if (secret) logger.secret(secret);
    if (credentials?.username && credentials.password) {
      logger.secret(
        Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64'),
      );
    }
  }

  get hasCredentials(): boolean {
    const c = this.options.credentials;
    return Boolean((c?.username && c.password) || c?.identityToken);
  }

  get credentialSource(): string | undefined {
    return this.options.credentials?.source;
  }

  /** Whose access this is, for messages: "the credentials from …", or anonymous access. */
  get who(): string {
    return this.hasCredentials
      ? `the credentials from ${this.credentialSource ?? 'the inputs'}`
      : 'anonymous access (no credentials found)';
  }

  /** The Authorization header for a request needing `scopes`, or undefined for anonymous. */
  async header(scopes: string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return this.basicHeader();
    if (challenge.scheme !== 'bearer') return undefined;
    const key = [...new Set(scopes)].sort().join(' ');
    let pending = this.tokens.get(key);
    if (pending) {
      const cached = await pending.catch(() => undefined);
      if (cached && cached.expiresAt > this.options.clock.now()) return `Bearer ${cached.token}`;
      if (this.tokens.get(key) === pending) this.tokens.delete(key);
    }
    pending = this.tokens.get(key) ?? this.fetchToken(challenge, scopes);
    this.tokens.set(key, pending);
    try {
      return `Bearer ${(await pending).token}`;
    } catch (error) {
      if (this.tokens.get(key) === pending) this.tokens.delete(key);
      throw error;
    }
  }

  /** Forgets the token for `scopes` after a 401, taking the registry's new challenge into account. */
  invalidate(scopes: string[], wwwAuthenticate: string | undefined): string[] {
    const challenge = parseChallenge(wwwAuthenticate);
    if (challenge) this.challenge = challenge;
    this.tokens.delete([...new Set(scopes)].sort().join(' '));
    const extra = challenge?.params.scope?.split(' ').filter(Boolean) ?? [];
    if (extra.length) this.tokens.delete([...new Set([...scopes, ...extra])].sort().join(' '));
    return [...new Set([...scopes, ...extra])];
  }

  private basicHeader(): string | undefined {
    const c = this.options.credentials;
    if (!c?.username || !c.password) return undefined;
    return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  }

  private async fetchToken(challenge: Challenge, scopes: string[]): Promise<CachedToken> {
    const { transport, clock, logger, credentials } = this.options;
    const realm = challenge.params.realm;
    if (!realm)
      throw new RegistryError({
        method: 'GET',
        op: 'token',
        url: `https://${this.host}/v2/`,
        context: 'the registry asked for a Bearer token without a realm',
      });
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw realmRefused(
        this.host,
        'realm-invalid',
        `the token realm ${JSON.stringify(realm)} is not a URL`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw realmRefused(
        this.host,
        'realm-invalid',
        `the token realm is a ${url.protocol} URL, not http or https; oci-push does not follow it`,
        url,
      );
    // A loopback realm on plain http is as safe as the registry it serves only when that registry is
    // on plain http too: beside an https registry it is a downgrade like any other.
    const trustedPlain =
      this.options.insecure || (isLoopback(url.host) && this.options.registryProtocol === 'http:');
    if (url.protocol === 'http:' && !trustedPlain && this.hasCredentials) {
      throw realmRefused(
        this.host,
        'realm-insecure',
        'refusing to send credentials to a plain-http token realm while the registry is https',
        url,
      );
    }
    const req: HttpRequest = { method: 'GET', op: 'token', url, headers: {} };
    if (credentials?.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credentials.identityToken,
        client_id: 'oci-push',
      });
      if (challenge.params.service) form.set('service', challenge.params.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      req.method = 'POST';
      req.headers = { 'content-type': 'application/x-www-form-urlencoded' };
      const body = form.toString();
      req.body = () => body;
    } else {
      if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const basic = this.basicHeader();
      if (basic) req.headers = { authorization: basic };
    }
    const res = await transport(req);
    if (res.status !== 200) {
      const context =
        res.status === 401 || res.status === 403
          ? `the token service refused ${this.who}`
          : 'fetching a registry token';
      throw errorFromResponse(req, res, context);
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(res.body.toString('utf8')) as typeof parsed;
    } catch {
      throw errorFromResponse(req, res, 'the token service answered something other than JSON');
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw errorFromResponse(req, res, 'the token service answered without a token');
    logger.secret(token);
    // Renew a little early so a token does not expire between the check and the request.
    const lifetime = Math.max(10, Number(parsed.expires_in) || 60) * 1000;
    return { token, expiresAt: clock.now() + lifetime - Math.min(30_000, lifetime / 4) };
  }
}

/** A token realm oci-push will not use, and why. */
function realmRefused(
  host: string,
  refused: 'realm-insecure' | 'realm-invalid',
  context: string,
  url?: URL,
): RegistryError {
  return new RegistryError({
    method: 'GET',
    op: 'token',
    url: url ?? `https://${host}/v2/`,
    refused,
    context,
  });
}

/** Adds Authorization for the registry's own host only, and on a 401 refreshes the token once. */
export function withAuth(next: Transport, auth: Authenticator, onRefresh?: () => void): Transport {
  return async (req: HttpRequest): Promise<HttpResponse> => {
    if (!isSameHost(req.url, auth.host)) {
      const headers = { ...req.headers };
      delete headers.authorization;
      return next({ ...req, headers });
    }
    const scopes = req.scopes ?? [];
    const send = async (scopeList: string[]): Promise<HttpResponse> => {
      const header = await auth.header(scopeList);
      const headers = { ...req.headers };
      if (header) headers.authorization = header;
      return next({ ...req, headers });
    };
    const first = await send(scopes);
    if (first.status !== 401) return first;
    const hadChallenge = auth.challenge !== undefined;
    const refreshed = auth.invalidate(scopes, first.headers['www-authenticate']);
    if (
      !auth.challenge ||
      (!hadChallenge && auth.challenge.scheme === 'basic' && !auth.hasCredentials)
    )
      return first;
    const second = await send(refreshed);
    // A token that expired is one a fresh token replaces; a 401 again is a refusal (a mount's
    // source the account may not read), which the failure rules name.
    if (hadChallenge && second.status !== 401) onRefresh?.();
    return second;
  };
}
