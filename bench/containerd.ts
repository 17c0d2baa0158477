// containerd's pusher, the code BuildKit (and so docker/build-push-action) pushes with, run as the
// bench's peer: its own containerd daemon with root, state and socket in a temporary folder, each
// image imported once, then `ctr images push` per measurement.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Containerd {
  /** `ctr` with the daemon's socket and the bench's namespace, and its arguments. */
  ctr(...args: string[]): string[];
  /** Imports an OCI layout folder once, as `name`. */
  importLayout(dir: string, name: string): Promise<void>;
  stop(): Promise<void>;
}

const NAMESPACE = 'oci-push-bench';

export async function startContainerd(): Promise<Containerd> {
  const dir = await mkdtemp(join(tmpdir(), 'oci-push-bench-containerd-'));
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  // Only the content store and the image service are needed: no CRI, no snapshotters that need a
  // kernel feature, nothing unpacked.
  await writeFile(
    config,
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[debug]',
      `  address = "${socket}.debug"`,
      '',
    ].join('\n'),
  );
  const daemon = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  daemon.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(socket)) {
    daemon.kill('SIGKILL');
    throw new Error(`containerd did not start: ${log}`);
  }
  const ctr = (...args: string[]): string[] => ['-a', socket, '-n', NAMESPACE, ...args];
  return {
    ctr,
    importLayout: async (layout, name) => {
      const tar = join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.tar`);
      execFileSync('tar', ['-C', layout, '-cf', tar, '.']);
      execFileSync(
        'ctr',
        ctr('images', 'import', '--all-platforms', '--no-unpack', '--index-name', name, tar),
        { stdio: 'ignore' },
      );
      await rm(tar, { force: true });
    },
    stop: async () => {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
