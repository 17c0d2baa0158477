import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { basic, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';
import { type StorageHost, startStorageHost } from '../support/storage-host.js';

// distribution with the `redirect` storage middleware, as with S3, GCS or Azure storage: blob HEAD
// and GET answer 307 to a storage host on another address, which refuses any request carrying
// Authorization (as S3 and Azure do) and records every request.
const USER = 'redirect-user';
const PASSWORD = 'redirect-password-1';
let work: string;
let storage: StorageHost;
let registry: RunningRegistry;
const images: { dir: string; image: BuiltImage }[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-redirects-'));
  const storageDir = join(work, 'storage');
  await mkdir(storageDir);
  storage = await startStorageHost(storageDir);
  registry = await startRegistry({
    storage: storageDir,
    redirectTo: storage.url,
    htpasswd: { [USER]: PASSWORD },
  });
  for (const architecture of ['amd64', 'arm64']) {
    const dir = join(work, architecture);
    images.push({
      dir,
      image: await makeLayout(dir, {
        seed: `redirect-${architecture}`,
        layers: 2,
        platform: { os: 'linux', architecture },
      }),
    });
  }
});
afterAll(async () => {
  await registry?.stop();
  await storage?.stop();
  await rm(work, { recursive: true, force: true });
});

const creds = { username: USER, password: PASSWORD };

describe('a registry that redirects blob reads to its storage', () => {
  it('pushes, re-pushes uploading nothing, and assembles an index reading configs through the redirect', async () => {
    const repo = `${registry.host}/redirects/app`;
    const digests: string[] = [];
    for (const { dir, image } of images) {
      const job = await runAction(work, {
        layout: dir,
        tags: `${repo}:x`,
        'push-by-digest': 'true',
        ...creds,
      });
      expect(job.code, job.stdout).toBe(0);
      expect(job.outputs.digest).toBe(image.digest);
      const again = await runAction(work, {
        layout: dir,
        tags: `${repo}:x`,
        'push-by-digest': 'true',
        ...creds,
      });
      expect(again.code, again.stdout).toBe(0);
      expect(again.outputs['blobs-uploaded']).toBe('0');
      digests.push(image.digest);
    }
    const merge = await runAction(work, {
      'index-from': digests.join('\n'),
      tags: `${repo}:1`,
      ...creds,
    });
    expect(merge.code, merge.stdout).toBe(0);
    expect(await listTags(registry.url, 'redirects/app', basic(USER, PASSWORD))).toEqual(['1']);
    // The configs were read from the storage host, without credentials.
    expect(storage.requests.some((r) => r.method === 'GET' && r.status === 200)).toBe(true);
  });

  it('diagnose passes every blob probe', async () => {
    const res = await runCli(
      [
        'diagnose',
        `${registry.host}/redirects/probe`,
        '--username',
        USER,
        '--password-stdin',
        '--json',
      ],
      { input: PASSWORD, env: { PATH: process.env.PATH, HOME: work } },
    );
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as { findings: { check: string; ok: boolean | null }[] };
    expect(report.findings.filter((f) => f.ok === false)).toEqual([]);
  });

  it('a storage host that refuses HEAD does not make a blob missing: the push verifies and tags', async () => {
    storage.refuseHeads = true;
    try {
      const job = await runAction(work, {
        layout: images[0]!.dir,
        tags: `${registry.host}/redirects/refused-head:1`,
        ...creds,
      });
      expect(job.code, job.stdout).toBe(0);
      expect(storage.requests.some((r) => r.method === 'HEAD' && r.status === 403)).toBe(true);
    } finally {
      storage.refuseHeads = false;
    }
  });

  it('never sent credentials to the storage host', () => {
    expect(storage.requests.length).toBeGreaterThan(0);
    expect(storage.requests.filter((r) => r.authorization)).toEqual([]);
  });
});
