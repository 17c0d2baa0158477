import { makeSelfSigned } from './certs.js';
import { type RunningRegistry, startRegistry } from './registry.js';
import { type TokenServer, startTokenServer } from './token-server.js';

export const TOKEN_SERVICE = 'svc';

export interface TokenRegistry {
  registry: RunningRegistry;
  tokens: TokenServer;
  stop(): Promise<void>;
}

/** A real registry with `auth.token`, trusting a token server whose signing certificate is made here. */
export async function startTokenRegistry(
  dir: string,
  users: Record<string, string>,
  options: {
    refuseMountScopes?: boolean;
    grants?: (user: string | undefined, repository: string) => boolean;
    /** The realm as the registry announces it: the token server's own, or a way to it. */
    realm?: (tokenServerRealm: string) => Promise<string>;
  } = {},
): Promise<TokenRegistry> {
  const cert = makeSelfSigned(dir, `issuer-${Object.keys(users).join('-')}-${Date.now()}`);
  const tokens = await startTokenServer({
    users,
    service: TOKEN_SERVICE,
    issuer: 'iss',
    ...cert,
    refuseMountScopes: options.refuseMountScopes,
    grants: options.grants,
  });
  const realm = options.realm ? await options.realm(tokens.realm) : tokens.realm;
  const registry = await startRegistry({
    token: { realm, service: TOKEN_SERVICE, issuer: 'iss', certFile: cert.certFile },
  });
  return {
    registry,
    tokens,
    stop: async () => {
      await registry.stop();
      await tokens.stop();
    },
  };
}
