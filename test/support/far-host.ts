import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSelfSigned } from './certs.js';

/** A distant registry's name: resolves to 127.0.0.1 through /etc/hosts, written by the setup. */
export const FAR_HOST = 'far-registry.test';

/** Makes FAR_HOST resolve to 127.0.0.1 (root: the setup's, like its apt packages). */
export async function ensureHostName(): Promise<void> {
  const hosts = await readFile('/etc/hosts', 'utf8');
  if (new RegExp(`\\s${FAR_HOST.replace(/\./g, '\\.')}(\\s|$)`, 'm').test(hosts)) return;
  await writeFile('/etc/hosts', `${hosts.trimEnd()}\n127.0.0.1 ${FAR_HOST}\n`);
}

/** A certificate for FAR_HOST (its own CA), and a cert folder as skopeo reads one. */
export async function farCertificates(): Promise<{
  cert: { certFile: string; keyFile: string };
  certDir: string;
  dir: string;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'oci-push-far-certs-'));
  const cert = makeSelfSigned(dir, 'far', [FAR_HOST]);
  const certDir = join(dir, 'skopeo');
  await mkdir(certDir);
  await copyFile(cert.certFile, join(certDir, 'ca.crt'));
  return { cert, certDir, dir };
}
