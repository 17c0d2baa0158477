import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { layoutContents, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { run, runCli, skopeoPull } from '../support/run.js';

let registry: RunningRegistry;
let work: string;
const platforms = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
];
const images: { dir: string; image: BuiltImage }[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-matrix-'));
  for (const platform of platforms) {
    const dir = join(work, `${platform.os}-${platform.architecture}`);
    // One single-platform image per matrix job, as each runner would build.
    images.push({
      dir,
      image: await makeLayout(dir, {
        seed: `matrix-${platform.architecture}`,
        layers: 2,
        platform,
      }),
    });
  }
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('a multi-platform build spread over matrix jobs', () => {
  it('push-by-digest in each job, then index-from the digests, tagged; skopeo pulls every platform back', async () => {
    const repo = `${registry.host}/matrix/app`;
    const digests: string[] = [];
    for (const { dir, image } of images) {
      const job = await runAction(work, {
        layout: dir,
        tags: `${repo}:ignored-tag`,
        'push-by-digest': 'true',
      });
      expect(job.code, job.stdout).toBe(0);
      expect(job.outputs.digest).toBe(image.digest);
      expect(job.outputs.refs).toBe(JSON.stringify([`${repo}@${image.digest}`]));
      // The summary says what was made: the repo@digest, its platform, and how to pull it.
      expect(job.summary).toContain(`**Pushed by digest:** \`${repo}@${image.digest}\``);
      expect(job.summary).toMatch(/\*\*Platform:\*\* `linux\/(amd64|arm64\/v8)`/);
      expect(job.summary).toContain(`**Pull it with:** \`docker pull ${repo}@${image.digest}\``);
      digests.push(job.outputs.digest!);
    }
    expect(await listTags(registry.url, 'matrix/app')).toEqual([]);

    const merge = await runAction(work, {
      'index-from': digests.join('\n'),
      tags: `${repo}:1.0\n${repo}:latest`,
    });
    expect(merge.code, merge.stdout).toBe(0);
    expect(merge.summary).toContain('**Index of 2 platforms:** `linux/amd64`, `linux/arm64/v8`');
    const indexDigest = merge.outputs.digest!;
    expect(JSON.parse(merge.outputs.refs!)).toEqual([
      `${repo}:1.0@${indexDigest}`,
      `${repo}:latest@${indexDigest}`,
    ]);
    expect((await listTags(registry.url, 'matrix/app')).sort()).toEqual(['1.0', 'latest']);

    const raw = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${repo}:1.0`,
    ]);
    const index = JSON.parse(raw.stdout);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual(digests);
    // The platform comes from each image's config: what runtimes pick by.
    expect(index.manifests.map((m: { platform: object }) => m.platform)).toEqual(platforms);
    const dest = join(work, 'pulled');
    const pulled = await skopeoPull(`${repo}:1.0`, dest);
    expect(pulled.code, pulled.stderr).toBe(0);
    const contents = await layoutContents(dest);
    expect(contents.top).toBe(indexDigest);
    for (const { image } of images)
      for (const d of [...image.blobs, image.digest]) expect(contents.blobs).toContain(d);
  });

  it('assembles an index in another repository from full references, mounting what it needs', async () => {
    const sources: string[] = [];
    for (const { dir, image } of images) {
      const res = await runCli([
        '--layout',
        dir,
        '--tags',
        `${registry.host}/matrix/src`,
        '--push-by-digest',
        '--json',
      ]);
      expect(res.code, res.stderr).toBe(0);
      sources.push(`${registry.host}/matrix/src@${image.digest}`);
    }
    const res = await runCli([
      '--index-from',
      sources.join(','),
      '--tags',
      `${registry.host}/matrix/dst:2`,
      '--json',
      '--verbose',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/mount=sha256:[a-f0-9]+&from=matrix\/src → 201/);
    const dest = join(work, 'pulled-dst');
    const pulled = await skopeoPull(`${registry.host}/matrix/dst:2`, dest);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await layoutContents(dest)).top).toBe(JSON.parse(res.stdout).digest);
  });

  it('names a manifest that is not in the registry', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    const res = await runCli(['--index-from', missing, '--tags', `${registry.host}/matrix/none:1`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `index-from ${missing}: not in ${registry.host}/matrix/none; a bare digest names a manifest in the first tag's repository`,
    );
    // Bad input, not a registry problem: no diagnosis.
    expect(res.stderr).not.toContain('Diagnose the registry');
    expect(await listTags(registry.url, 'matrix/none')).toEqual([]);
  });

  it('refuses two manifests for one platform unless told duplicate-platforms: allow', async () => {
    const repo = `${registry.host}/matrix/twice`;
    const other = join(work, 'amd64-again');
    const again = await makeLayout(other, {
      seed: 'matrix-amd64-again',
      layers: 1,
      platform: platforms[0],
    });
    const digests: string[] = [];
    for (const dir of [images[0]!.dir, other]) {
      const pushed = await runCli(['push', dir, `${repo}:x`, '--push-by-digest']);
      expect(pushed.code, pushed.stderr).toBe(0);
      digests.push(pushed.stdout.split('\n')[0]!);
    }
    expect(digests[1]).toBe(again.digest);
    const res = await runCli(['--index-from', digests.join(','), '--tags', `${repo}:1`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `index-from: two manifests for linux/amd64, ${digests[0]} and ${digests[1]}: a runtime would pick either; name each platform once, or set duplicate-platforms: allow`,
    );
    const allowed = await runCli([
      '--index-from',
      digests.join(','),
      '--tags',
      `${repo}:allowed`,
      '--duplicate-platforms',
      'allow',
    ]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await listTags(registry.url, 'matrix/twice')).sort()).toEqual(['allowed']);
  });

  it("annotates the index it creates, from docker/metadata-action's annotations output as it is", async () => {
    const repo = `${registry.host}/matrix/annotated`;
    const digests: string[] = [];
    for (const { dir } of images) {
      const job = await runAction(work, { layout: dir, tags: repo, 'push-by-digest': 'true' });
      expect(job.code, job.stdout).toBe(0);
      digests.push(job.outputs.digest!);
    }
    // metadata-action with DOCKER_METADATA_ANNOTATIONS_LEVELS=index writes exactly this.
    const annotations = [
      'index:org.opencontainers.image.created=2026-11-30T01:02:03.456Z',
      'index:org.opencontainers.image.description=An app: with colons, commas = and equals',
      'index:org.opencontainers.image.licenses=MIT',
    ].join('\n');
    const merge = await runAction(work, {
      'index-from': digests.join('\n'),
      tags: `${repo}:1`,
      annotations,
    });
    expect(merge.code, merge.stdout).toBe(0);
    const res = await fetch(`${registry.url}/v2/matrix/annotated/manifests/1`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    const index = (await res.json()) as { annotations?: Record<string, string> };
    expect(index.annotations).toEqual({
      'org.opencontainers.image.created': '2026-11-30T01:02:03.456Z',
      'org.opencontainers.image.description': 'An app: with colons, commas = and equals',
      'org.opencontainers.image.licenses': 'MIT',
    });
    // The CLI takes --annotation, repeated, as buildx does.
    const cli = await runCli([
      '--index-from',
      digests.join(','),
      '--tags',
      `${repo}:2`,
      '--annotation',
      'org.example.a=1',
      '--annotation',
      'index:org.example.b=2',
      '--json',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
  });

  it.each([
    [
      'manifest: on an index',
      'index',
      'manifest:org.opencontainers.image.title=x',
      'is for manifest, but oci-push only creates an index',
    ],
    [
      'any on a layout push',
      'layout',
      'org.opencontainers.image.title=x',
      "a layout's own manifests are pushed unchanged",
    ],
    ['a key that is not one', 'index', 'not a key=x', '"not a key" is not an annotation key'],
  ] as const)(
    'refuses annotations that cannot apply: %s',
    async (_what, source, annotation, why) => {
      const from =
        source === 'index'
          ? ['--index-from', `sha256:${'c'.repeat(64)}`]
          : ['--layout', images[0]!.dir];
      const res = await runCli([
        ...from,
        '--tags',
        `${registry.host}/matrix/refused:1`,
        '--annotation',
        annotation,
      ]);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(why);
    },
  );
});
