import { createPrivateKey, createSign, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenServerOptions {
  users: Record<string, string>;
  service: string;
  issuer: string;
  certFile: string;
  keyFile: string;
  /** Token lifetime; short ones let tests expire a token in the middle of a push. */
  ttlSeconds?: number;
  /** Docker Hub refuses a token whose scopes name a repository it will not grant: 400. */
  refuseMountScopes?: boolean;
  /** Whether `user` gets any access to `repository` (default: all): a refused scope is left out of the token, as Harbor leaves a project the account is not in. */
  grants?: (user: string | undefined, repository: string) => boolean;
  /** Listen on this loopback address instead of 127.0.0.1 (a realm on another host). */
  address?: string;
}

export interface TokenServer {
  realm: string;
  /** Every token request received: user (or anonymous) and scopes. */
  requests: { user?: string; scopes: string[]; authorized: boolean }[];
  /** Tokens issued, to check none of them leaks into logs. */
  issued: string[];
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/**
 * A token server as distribution's `auth.token` expects: Basic credentials in, an RS256 JWT out,
 * signed by a key whose certificate (sent in x5c) is the registry's rootcertbundle.
 */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const key = createPrivateKey(readFileSync(options.keyFile));
  const certDer = new X509Certificate(readFileSync(options.certFile)).raw;
  const requests: TokenServer['requests'] = [];
  const issued: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const scopes = url.searchParams.getAll('scope');
    const header = req.headers.authorization ?? '';
    let user: string | undefined;
    let authorized = false;
    if (header.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(header.slice(6), 'base64').toString().split(':');
      user = name;
      authorized = name !== undefined && options.users[name] === rest.join(':');
      if (!authorized) {
        requests.push({ user, scopes, authorized });
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
    }
    requests.push({ user, scopes, authorized });
    if (options.refuseMountScopes && scopes.length > 1 && scopes.some((s) => /:pull$/.test(s))) {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ details: 'invalid repository name' }));
      return;
    }
    const access = authorized
      ? scopes
          .map((s) => {
            const [type, ...middle] = s.split(':');
            const actions = middle.pop() ?? '';
            return { type, name: middle.join(':'), actions: actions.split(',') };
          })
          .filter((a) => options.grants?.(user, a.name) ?? true)
      : [];
    const now = Math.floor(Date.now() / 1000);
    const ttl = options.ttlSeconds ?? 300;
    const head = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: options.issuer,
      sub: user ?? '',
      aud: options.service,
      exp: now + ttl,
      nbf: now - 5,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const unsigned = `${b64url(JSON.stringify(head))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(unsigned).sign(key);
    const token = `${unsigned}.${b64url(signature)}`;
    issued.push(token);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: ttl }));
  });
  const address = options.address ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://${address}:${port}/token`,
    requests,
    issued,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
