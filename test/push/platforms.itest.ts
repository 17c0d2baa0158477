import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { run, runCli, skopeoPull } from '../support/run.js';

// `platforms` / `--platform`: a subset of an index, pushed as a new index of only those manifests.
let registry: RunningRegistry;
let work: string;
let dir: string;
let image: BuiltImage;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-platforms-'));
  dir = join(work, 'multi');
  image = await makeLayout(dir, {
    seed: 'platforms',
    layers: 1,
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ],
  });
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function served(ref: string): Promise<{ digest: string; platforms: string[] }> {
  const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
  const index = JSON.parse(raw.stdout) as {
    manifests: { platform: { os: string; architecture: string; variant?: string } }[];
  };
  const digest = await run('skopeo', [
    'inspect',
    '--format',
    '{{.Digest}}',
    '--tls-verify=false',
    `docker://${ref}`,
  ]);
  return {
    digest: digest.stdout.trim(),
    platforms: index.manifests.map((m) =>
      [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/'),
    ),
  };
}

describe('platforms', () => {
  it('the CLI pushes only --platform linux/arm64, as a new index, and says its digest', async () => {
    const ref = `${registry.host}/platforms/cli:1`;
    const res = await runCli(['push', dir, ref, '--platform', 'linux/arm64']);
    expect(res.code, res.stderr).toBe(0);
    const digest = res.stdout.split('\n')[0];
    expect(digest).not.toBe(image.digest);
    expect(res.stderr).toMatch(/platforms linux\/arm64: a new index of 1 manifests/);
    const got = await served(ref);
    expect(got.platforms).toEqual(['linux/arm64']);
    const pulled = await skopeoPull(ref, join(work, 'pulled-cli'));
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  it('the action pushes two of three, and its digest output is the new index', async () => {
    const ref = `${registry.host}/platforms/action:1`;
    const action = await runAction(work, {
      layout: dir,
      tags: ref,
      platforms: 'linux/amd64, linux/arm/v7',
    });
    expect(action.code, action.stderr).toBe(0);
    const got = await served(ref);
    expect(got.platforms).toEqual(['linux/amd64', 'linux/arm/v7']);
    expect(action.outputs.digest).not.toBe(image.digest);
    expect(JSON.parse(action.outputs.refs ?? '[]')).toEqual([`${ref}@${action.outputs.digest}`]);
  });

  it('a platform the image does not have: one line naming those it has, nothing pushed', async () => {
    const res = await runCli([
      'push',
      dir,
      `${registry.host}/platforms/none:1`,
      '--platform',
      'windows/amd64',
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /no windows\/amd64 in the image; it has linux\/amd64, linux\/arm64, linux\/arm\/v7/,
    );
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(await listTags(registry.url, 'platforms/none')).toEqual([]);
  });

  it('a bad platform is a usage error, exit 2', async () => {
    const res = await runCli([
      'push',
      dir,
      `${registry.host}/platforms/bad:1`,
      '--platform',
      'amd64',
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/platforms: expected os\/arch/);
  });
});
