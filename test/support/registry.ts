import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface RegistryOptions {
  /** htpasswd users: name → password (bcrypt via `htpasswd -B`). */
  htpasswd?: Record<string, string>;
  /** Token auth: the registry trusts tokens signed by the key of this certificate. */
  token?: { realm: string; service: string; issuer: string; certFile: string };
  /** TLS for the registry itself. */
  tls?: { certFile: string; keyFile: string };
  /** distribution's `redirect` storage middleware: blob HEAD and GET answer 307 to this base URL. */
  redirectTo?: string;
  /** `http.relativeurls`: Locations without scheme and host. */
  relativeUrls?: boolean;
  /** `storage.maintenance.readonly`: every write answers 405. */
  readOnly?: boolean;
  /** `http.secret`; replicas that differ cannot read each other's upload state. */
  secret?: string;
  /** Share another registry's storage folder (replicas). */
  storage?: string;
  /** `validation.manifests.urls.allow`: accept layers that name foreign URLs. */
  allowForeignUrls?: boolean;
  /** Listen here instead of 127.0.0.1 and a free port (a fixed port such as 80 or 443). */
  address?: string;
  port?: number;
}

export interface RunningRegistry {
  /** host:port */
  host: string;
  url: string;
  storage: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts Debian's CNCF distribution on a free loopback port with its own temporary storage. */
export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'oci-push-registry-'));
  const storage = options.storage ?? join(dir, 'storage');
  const port = options.port ?? (await freePort());
  const address = options.address ?? '127.0.0.1';
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
  ];
  if (options.readOnly) lines.push('  maintenance:', '    readonly:', '      enabled: true');
  if (options.redirectTo)
    lines.push(
      'middleware:',
      '  storage:',
      '    - name: redirect',
      '      options:',
      `        baseurl: ${options.redirectTo}`,
    );
  if (options.allowForeignUrls)
    lines.push(
      'validation:',
      '  manifests:',
      '    urls:',
      '      allow:',
      "        - '^https?://'",
    );
  lines.push(
    'http:',
    `  addr: ${address}:${port}`,
    `  secret: ${options.secret ?? 'oci-push-test-secret'}`,
  );
  if (options.relativeUrls) lines.push('  relativeurls: true');
  if (options.tls)
    lines.push(
      '  tls:',
      `    certificate: ${options.tls.certFile}`,
      `    key: ${options.tls.keyFile}`,
    );
  if (options.htpasswd) {
    const file = join(dir, 'htpasswd');
    await writeFile(file, '');
    for (const [user, password] of Object.entries(options.htpasswd)) {
      execFileSync('htpasswd', ['-B', '-b', file, user, password], { stdio: 'ignore' });
    }
    lines.push('auth:', '  htpasswd:', '    realm: oci-push-test', `    path: ${file}`);
  } else if (options.token) {
    const t = options.token;
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${t.realm}`,
      `    service: ${t.service}`,
      `    issuer: ${t.issuer}`,
      `    rootcertbundle: ${t.certFile}`,
    );
  }
  const config = join(dir, 'config.yml');
  await writeFile(config, lines.join('\n') + '\n');
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://${address}:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const res = await fetch(`http://${address}:${port}/v2/`).catch(() => undefined);
      if (res || options.tls) {
        // A TLS port answers plain http with 400; either way it is listening.
        if (res || (await isListening(address, port))) break;
      }
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `${address}:${port}`,
    url,
    storage,
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function isListening(address: string, port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, address);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
