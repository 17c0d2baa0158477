import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface CertPair {
  certFile: string;
  keyFile: string;
}

/** A self-signed certificate made by openssl, valid for `hosts` (DNS names or IPs). */
export function makeSelfSigned(dir: string, name: string, hosts: string[] = []): CertPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2'];
  args.push('-keyout', keyFile, '-out', certFile, '-subj', `/CN=${name}`);
  if (san) args.push('-addext', `subjectAltName=${san}`);
  execFileSync('openssl', args, { stdio: 'ignore' });
  return { certFile, keyFile };
}
