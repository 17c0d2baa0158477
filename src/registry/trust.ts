import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

/**
 * Node's roots plus NODE_EXTRA_CA_CERTS plus `extra`: passing `ca` to TLS replaces the default list,
 * so an extra CA must come with the ones already trusted.
 */
export function trustedWith(extra: string): string[] {
  const fromEnv = process.env.NODE_EXTRA_CA_CERTS;
  let envCerts: string[] = [];
  if (fromEnv) {
    try {
      envCerts = [readFileSync(fromEnv, 'utf8')];
    } catch {
      // Node itself warns about an unreadable NODE_EXTRA_CA_CERTS at startup.
    }
  }
  return [...rootCertificates, ...envCerts, extra];
}
