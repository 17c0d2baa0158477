import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';

/**
 * Node's roots plus NODE_EXTRA_CA_CERTS plus `extra`: passing `ca` to TLS replaces the default list,
 * so an extra CA must come with the ones already trusted.
 */
export function trustedWith(...extra: string[]): string[] {
  const fromEnv = process.env.NODE_EXTRA_CA_CERTS;
  let envCerts: string[] = [];
  if (fromEnv) {
    try {
      envCerts = [readFileSync(fromEnv, 'utf8')];
    } catch {
      // Node itself warns about an unreadable NODE_EXTRA_CA_CERTS at startup.
    }
  }
  return [...rootCertificates, ...envCerts, ...extra];
}

/** Where podman and docker keep per-registry CAs: a folder named host[:port] in each. */
export const CERTS_D = ['/etc/containers/certs.d', '/etc/docker/certs.d'];

/**
 * The CA certificates podman and docker trust for one registry: every `*.crt` in
 * `/etc/containers/certs.d/HOST[:PORT]/` and `/etc/docker/certs.d/HOST[:PORT]/` (`apiHost` as the
 * tag names it, the port only when it is not 443). Client certificates (`*.cert`, `*.key`) are
 * not read. Unreadable folders and files are skipped, as those tools skip them.
 */
export function certsDirCas(apiHost: string, roots: readonly string[] = CERTS_D): string[] {
  const found: string[] = [];
  for (const root of roots) {
    const folder = join(root, apiHost.replace(/:443$/, ''));
    let names: string[];
    try {
      names = readdirSync(folder)
        .filter((n) => n.endsWith('.crt'))
        .sort();
    } catch {
      continue;
    }
    for (const name of names) {
      try {
        const pem = readFileSync(join(folder, name), 'utf8');
        if (pem.includes('-----BEGIN CERTIFICATE-----')) found.push(pem);
      } catch {
        // Skipped, as podman skips it.
      }
    }
  }
  return found;
}
