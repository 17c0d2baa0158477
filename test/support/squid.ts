import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface RunningSquid {
  port: number;
  /** `http://127.0.0.1:PORT`, without credentials. */
  url: string;
  stop(): Promise<void>;
}

export interface SquidOptions {
  /** Names the proxy resolves (as its own hosts file): the registry's name behind the proxy. */
  hosts: Record<string, string>;
  /** Require these credentials (Basic, checked by squid's basic_ncsa_auth). */
  credentials?: { user: string; password: string };
  /** Refuse CONNECT to these ports (403), as a proxy's rules would. */
  denyPorts?: number[];
}

/**
 * Debian's squid as a forward proxy on 127.0.0.1: CONNECT for https, absolute-URI requests for
 * http, names resolved from its own hosts file (the machine has no DNS), nothing cached.
 */
export async function startSquid(options: SquidOptions): Promise<RunningSquid> {
  const dir = await mkdtemp(join(tmpdir(), 'oci-push-squid-'));
  // squid drops to its own user after reading the config: everything it reads must be readable.
  await chmod(dir, 0o755);
  const port = await freePort();
  await writeFile(
    join(dir, 'hosts'),
    Object.entries(options.hosts)
      .map(([name, ip]) => `${ip} ${name}`)
      .join('\n') + '\n',
  );
  const auth = options.credentials
    ? (() => {
        const file = join(dir, 'passwd');
        const made = spawnSync('htpasswd', [
          '-bc',
          file,
          options.credentials.user,
          options.credentials.password,
        ]);
        if (made.status !== 0) throw new Error(`htpasswd failed: ${made.stderr}`);
        return [
          `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${file}`,
          'auth_param basic realm oci-push-test-proxy',
          'acl authed proxy_auth REQUIRED',
        ];
      })()
    : [];
  if (options.credentials) await chmod(join(dir, 'passwd'), 0o644);
  const config = [
    `http_port 127.0.0.1:${port}`,
    'pid_filename none',
    'cache deny all',
    'cache_mem 8 MB',
    'access_log none',
    'cache_log /dev/null',
    'cache_store_log none',
    'logfile_rotate 0',
    `hosts_file ${join(dir, 'hosts')}`,
    'dns_nameservers 127.0.0.1',
    'visible_hostname oci-push-test-proxy',
    'shutdown_lifetime 0 seconds',
    'forwarded_for delete',
    ...auth,
    ...(options.denyPorts?.length
      ? [`acl denied port ${options.denyPorts.join(' ')}`, 'http_access deny CONNECT denied']
      : []),
    options.credentials ? 'http_access allow authed' : 'http_access allow all',
    'http_access deny all',
  ];
  const conf = join(dir, 'squid.conf');
  await writeFile(conf, config.join('\n') + '\n');
  await chmod(conf, 0o644);
  const child: ChildProcess = spawn('/usr/sbin/squid', ['-N', '-f', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`squid exited: ${stderr}`);
    const open = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) })
      .then(() => true)
      .catch(() => false);
    if (open) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`squid did not start within 15 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
