import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededBytes } from '../support/layouts.js';
import { layoutContents } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { type RunResult, run, runCli, skopeoPull } from '../support/run.js';

let registry: RunningRegistry;
let work: string;
let image: string;
let imageId: string;
let n = 0;

async function podman(args: string[]): Promise<RunResult> {
  const res = await run('podman', args);
  if (res.code !== 0) throw new Error(`podman ${args.join(' ')} failed: ${res.stderr}`);
  return res;
}

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-sources-'));
  // A real image built offline by podman: FROM scratch plus COPY, as the issue asks.
  const context = join(work, 'context');
  await mkdir(context);
  await writeFile(join(context, 'data.bin'), seededBytes('sources', 300 * 1024));
  await writeFile(join(context, 'hello.txt'), 'hello from oci-push\n');
  await writeFile(
    join(context, 'Containerfile'),
    'FROM scratch\nCOPY data.bin /data.bin\nCOPY hello.txt /hello.txt\n',
  );
  image = `localhost/oci-push-sources:${process.pid}`;
  await podman(['build', '-q', '-t', image, context]);
  imageId = (await podman(['image', 'inspect', '--format', '{{.Id}}', image])).stdout.trim();
}, 120_000);
afterAll(async () => {
  await run('podman', ['rmi', '-f', image]);
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

interface Pushed {
  digest: string;
  'blobs-uploaded': number;
}

async function push(args: string[], env?: NodeJS.ProcessEnv): Promise<Pushed & { repo: string }> {
  const repo = `sources/r${++n}`;
  const res = await runCli(
    [...args, '--tags', `${registry.host}/${repo}:1`, '--json'],
    env ? { env } : {},
  );
  expect(res.code, res.stderr).toBe(0);
  return { ...(JSON.parse(res.stdout) as Pushed), repo };
}

/** Pulls back with skopeo and returns the pulled manifest; the digests must match what oci-push reported. */
async function pullBack(
  repo: string,
  digest: string,
): Promise<{ config: { digest: string }; layers: { digest: string; mediaType: string }[] }> {
  const dest = join(work, `pull-${repo.replace('/', '-')}`);
  const pulled = await skopeoPull(`${registry.host}/${repo}:1`, dest);
  expect(pulled.code, pulled.stderr).toBe(0);
  const contents = await layoutContents(dest);
  expect(contents.top).toBe(digest);
  const manifest = JSON.parse(
    await readFile(join(dest, 'blobs', 'sha256', digest.slice(7)), 'utf8'),
  );
  for (const d of [
    manifest.config.digest,
    ...manifest.layers.map((l: { digest: string }) => l.digest),
  ])
    expect(contents.blobs).toContain(d);
  return manifest;
}

describe('images from podman', () => {
  it('podman save --format docker-archive: converted to OCI, config unchanged (digest = image ID), deterministic across pushes', async () => {
    const archive = join(work, 'docker-archive.tar');
    await podman(['save', '--format', 'docker-archive', '-o', archive, image]);
    const first = await push(['--layout', archive]);
    const manifest = await pullBack(first.repo, first.digest);
    expect(manifest.config.digest).toBe(`sha256:${imageId}`);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(
      Array(2).fill('application/vnd.oci.image.layer.v1.tar+gzip'),
    );
    // The same archive again, into the same repository: same bytes, so the same manifest and no upload.
    const again = await runCli([
      '--layout',
      archive,
      '--tags',
      `${registry.host}/${first.repo}:1`,
      '--json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).digest).toBe(first.digest);
    expect(JSON.parse(again.stdout)['blobs-uploaded']).toBe(0);
  });

  it('compression: none keeps docker-archive layers uncompressed', async () => {
    const archive = join(work, 'docker-archive-none.tar');
    await podman(['save', '--format', 'docker-archive', '-o', archive, image]);
    const pushed = await push(['--layout', archive, '--compression', 'none']);
    const res = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${registry.host}/${pushed.repo}:1`,
    ]);
    const manifest = JSON.parse(res.stdout);
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(
      Array(2).fill('application/vnd.oci.image.layer.v1.tar'),
    );
    expect(manifest.config.digest).toBe(`sha256:${imageId}`);
  });

  it('podman save --format oci-archive', async () => {
    const archive = join(work, 'oci-archive.tar');
    await podman(['save', '--format', 'oci-archive', '-o', archive, image]);
    const pushed = await push(['--layout', archive]);
    const manifest = await pullBack(pushed.repo, pushed.digest);
    expect(manifest.config.digest).toBe(`sha256:${imageId}`);
  });

  it('a gzip-compressed oci-archive', async () => {
    const archive = join(work, 'oci-archive.tar');
    const gz = join(work, 'oci-archive.tar.gz');
    expect((await run('sh', ['-c', `gzip -c ${archive} > ${gz}`])).code).toBe(0);
    const pushed = await push(['--layout', gz]);
    await pullBack(pushed.repo, pushed.digest);
  });

  it('podman push … oci:DIR', async () => {
    const dir = join(work, 'oci-dir');
    await podman(['push', image, `oci:${dir}`]);
    const pushed = await push(['--layout', dir]);
    const manifest = await pullBack(pushed.repo, pushed.digest);
    expect(manifest.config.digest).toBe(`sha256:${imageId}`);
  });

  it('the engine itself: image with engine: podman, exported into RUNNER_TEMP and removed afterwards', async () => {
    const runnerTemp = await mkdtemp(join(work, 'runner-temp-'));
    const pushed = await push(['--image', image, '--engine', 'podman'], {
      ...process.env,
      RUNNER_TEMP: runnerTemp,
    });
    const manifest = await pullBack(pushed.repo, pushed.digest);
    expect(manifest.config.digest).toBe(`sha256:${imageId}`);
    expect(await readdir(runnerTemp)).toEqual([]);
  });

  it('the short form: oci-push push podman://NAME REF', async () => {
    const repo = `sources/r${++n}`;
    const res = await runCli(['push', `podman://${image}`, `${registry.host}/${repo}:1`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const manifest = await pullBack(repo, (JSON.parse(res.stdout) as Pushed).digest);
    expect(manifest.config.digest).toBe(`sha256:${imageId}`);
  });

  it('a missing image is an error that names it', async () => {
    const res = await runCli([
      '--image',
      'localhost/no-such-image:404',
      '--engine',
      'podman',
      '--tags',
      `${registry.host}/sources/none:1`,
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/oci-push: image localhost\/no-such-image:404: not found in podman/);
  });
});

describe('images from docker', () => {
  it('the docker save of Docker 25+ (an OCI layout that also holds manifest.json) is read as OCI, not converted', async () => {
    const dir = join(work, 'docker25');
    await podman(['push', image, `oci:${dir}`]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(
      await readFile(join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'),
    );
    const legacy = [
      {
        Config: `blobs/sha256/${manifest.config.digest.slice(7)}`,
        RepoTags: [image],
        Layers: manifest.layers.map((l: { digest: string }) => `blobs/sha256/${l.digest.slice(7)}`),
      },
    ];
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(legacy));
    const archive = join(work, 'docker25.tar');
    expect((await run('tar', ['-cf', archive, '-C', dir, '.'])).code).toBe(0);
    const pushed = await push(['--layout', archive]);
    expect(pushed.digest).toBe(index.manifests[0].digest);
  });

  it('a docker-archive made by podman reads through the same code as docker save output', async () => {
    // There is no Docker engine on these machines; podman writes the same legacy docker-archive format.
    const archive = join(work, 'docker-archive.tar');
    const pushed = await push(['--layout', archive]);
    expect((await pullBack(pushed.repo, pushed.digest)).config.digest).toBe(`sha256:${imageId}`);
  });

  it('image with engine: auto picks docker when `docker info` answers and runs `docker save` (a stand-in docker on PATH, since no Docker engine runs here)', async () => {
    // The stand-in answers `docker info` and implements `docker save -o FILE IMAGE` with podman, so this
    // exercises the real exec path, arguments and archive handling of the docker engine support.
    const bin = join(work, 'fake-docker-bin');
    await mkdir(bin, { recursive: true });
    const calls = join(work, 'docker-calls.log');
    await writeFile(
      join(bin, 'docker'),
      `#!/bin/sh\necho "$@" >> ${calls}\ncase "$1" in\n  info) exit 0 ;;\n  save) shift; [ "$1" = "-o" ] || exit 64; exec podman save --format docker-archive -o "$2" "$3" ;;\n  *) exit 64 ;;\nesac\n`,
    );
    await chmod(join(bin, 'docker'), 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const pushed = await push(['--image', image, '--engine', 'auto'], env);
    expect((await readFile(calls, 'utf8')).split('\n')).toEqual(
      expect.arrayContaining([
        'info',
        expect.stringMatching(/^save -o \S+image\.tar localhost\/oci-push-sources:\d+$/),
      ]),
    );
    expect((await pullBack(pushed.repo, pushed.digest)).config.digest).toBe(`sha256:${imageId}`);
  });
});
