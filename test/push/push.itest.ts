import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { layoutContents, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { run, runCli, skopeoPull } from '../support/run.js';

let registry: RunningRegistry;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-itest-'));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function pushJson(args: string[]): Promise<Record<string, unknown>> {
  const res = await runCli([...args, '--json']);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as Record<string, unknown>;
}

async function expectPullsBack(ref: string, image: BuiltImage): Promise<void> {
  const dest = await mkdtemp(join(work, 'pull-'));
  const pulled = await skopeoPull(ref, dest);
  expect(pulled.code, pulled.stderr).toBe(0);
  const contents = await layoutContents(dest);
  expect(contents.top).toBe(image.digest);
  for (const digest of [...image.blobs, ...image.manifests])
    expect(contents.blobs).toContain(digest);
}

describe('push to a real registry', () => {
  it('pushes a single-platform image that skopeo pulls back identical, and a re-push uploads nothing', async () => {
    const dir = join(work, 'single');
    const image = await makeLayout(dir, { seed: 'single', layers: 3 });
    const ref = `${registry.host}/team/single:1.0`;
    const out = await pushJson(['--layout', dir, '--tags', ref]);
    expect(out.digest).toBe(image.digest);
    expect(out.refs).toEqual([`${ref}@${image.digest}`]);
    expect(out['blobs-uploaded']).toBe(4);
    expect(out['failed-blobs']).toEqual([]);
    await expectPullsBack(ref, image);

    const again = await pushJson(['--layout', dir, '--tags', ref]);
    expect(again['blobs-uploaded']).toBe(0);
    expect(again['blobs-skipped']).toBe(4);
    expect(again['bytes-uploaded']).toBe(0);
  });

  it('pushes a multi-platform index with its child manifests', async () => {
    const dir = join(work, 'multi');
    const image = await makeLayout(dir, {
      seed: 'multi',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    const ref = `${registry.host}/team/multi:2`;
    const out = await pushJson(['--layout', dir, '--tags', ref]);
    expect(out.digest).toBe(image.digest);
    expect(out['blobs-uploaded']).toBe(6);
    await expectPullsBack(ref, image);
  });

  it('mounts blobs into a second repository instead of uploading them again', async () => {
    const dir = join(work, 'mount');
    const image = await makeLayout(dir, { seed: 'mount', layers: 2 });
    const first = `${registry.host}/one/app:a`;
    const second = `${registry.host}/two/app:b`;
    const out = await pushJson(['--layout', dir, '--tags', `${first},${second}`]);
    expect(out['blobs-uploaded']).toBe(3);
    expect(out['blobs-skipped']).toBe(3);
    const verbose = await runCli([
      '--layout',
      dir,
      '--tags',
      `${registry.host}/three/app:c`,
      '--tags',
      `${registry.host}/four/app:d`,
      '--verbose',
    ]);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stderr).toMatch(
      /POST \S+\/v2\/four\/app\/blobs\/uploads\/\?mount=sha256:[a-f0-9]+&from=three\/app → 201/,
    );
    expect(verbose.stderr).not.toMatch(/PUT \S+\/v2\/four\/app\/blobs\/uploads/);
    await expectPullsBack(second, image);
  });

  it('pushes by digest only when a reference has no tag', async () => {
    const dir = join(work, 'bydigest');
    const image = await makeLayout(dir, { seed: 'bydigest' });
    const out = await pushJson(['--layout', dir, '--tags', `${registry.host}/team/bydigest`]);
    expect(out.refs).toEqual([`${registry.host}/team/bydigest@${image.digest}`]);
    expect(await listTags(registry.url, 'team/bydigest')).toEqual([]);
    await expectPullsBack(`${registry.host}/team/bydigest@${image.digest}`, image);
  });

  it('picks an image by ref with DIR:REF, and pushes from a tar of a layout', async () => {
    const dir = join(work, 'refs');
    const { LayoutWriter } = await import('../support/layouts.js');
    const writer = await new LayoutWriter(dir).init();
    await writer.image({ seed: 'ref-a', refName: 'a' });
    const b = await writer.image({ seed: 'ref-b', refName: 'b' });
    const out = await pushJson(['--layout', `${dir}:b`, '--tags', `${registry.host}/team/refs:b`]);
    expect(out.digest).toBe(b.digest);

    const tarFile = join(work, 'refs.tar');
    expect((await run('tar', ['-cf', tarFile, '-C', dir, '.'])).code).toBe(0);
    const fromTar = await pushJson([
      '--layout',
      `${tarFile}:b`,
      '--tags',
      `${registry.host}/team/tarred:b`,
    ]);
    expect(fromTar.digest).toBe(b.digest);
    await expectPullsBack(`${registry.host}/team/tarred:b`, b);
  });
});
