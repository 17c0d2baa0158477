import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { OCI_MANIFEST, makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';

// Distribution 2.8 has no referrers API: artifacts about an image must be findable from it through
// the referrers tag schema (distribution spec 1.1).
let registry: RunningRegistry;
let work: string;
const proxies: FaultProxy[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-referrers-'));
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const sha = (data: Buffer | string): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** An OCI layout holding one artifact manifest about `subject`, as cosign or oras would write it. */
async function artifactLayout(
  name: string,
  artifactType: string,
  subject: { digest: string; size: number },
): Promise<{ dir: string; digest: string }> {
  const dir = join(work, name);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const write = async (data: Buffer | string): Promise<string> => {
    const digest = sha(data);
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
    return digest;
  };
  const empty = '{}';
  const payload = `{"artifact":"${name}"}`;
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: {
      mediaType: 'application/vnd.oci.empty.v1+json',
      digest: await write(empty),
      size: 2,
    },
    layers: [{ mediaType: 'application/json', digest: await write(payload), size: payload.length }],
    subject: { mediaType: OCI_MANIFEST, ...subject },
    annotations: { 'org.example.name': name },
  });
  const digest = await write(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: OCI_MANIFEST, digest, size: manifest.length }],
    }),
  );
  return { dir, digest };
}

async function fallbackIndex(repo: string, subject: string) {
  const tag = `sha256-${subject.slice(7)}`;
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.oci.image.index.v1+json' },
  });
  if (res.status === 404) return undefined;
  return (await res.json()) as {
    manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[];
  };
}

describe('referrers on a registry without the referrers API', () => {
  it('two artifacts for one image: the fallback tag lists both with their artifactType', async () => {
    const imageDir = join(work, 'image');
    const image = await makeLayout(imageDir, { seed: 'referrers', layers: 1, layerSize: 4096 });
    const repo = 'referrers/app';
    const pushed = await runAction(work, { layout: imageDir, tags: `${registry.host}/${repo}:1` });
    expect(pushed.code, pushed.stdout).toBe(0);
    const subject = {
      digest: image.digest,
      size: (
        await (
          await fetch(`${registry.url}/v2/${repo}/manifests/1`, {
            headers: { accept: OCI_MANIFEST },
          })
        ).arrayBuffer()
      ).byteLength,
    };
    const tag = `sha256-${image.digest.slice(7)}`;
    const sbom = await artifactLayout('sbom', 'application/vnd.example.sbom+json', subject);
    const first = await runAction(work, { layout: sbom.dir, tags: `${registry.host}/${repo}` });
    expect(first.code, first.stdout).toBe(0);
    expect(JSON.parse(first.outputs['referrers-tags']!)).toEqual([
      `${registry.host}/${repo}:${tag}`,
    ]);
    expect(first.summary).toContain('**Referrers:**');
    const signature = await artifactLayout(
      'signature',
      'application/vnd.example.signature',
      subject,
    );
    const second = await runAction(work, {
      layout: signature.dir,
      tags: `${registry.host}/${repo}`,
    });
    expect(second.code, second.stdout).toBe(0);
    const index = await fallbackIndex(repo, image.digest);
    expect(index?.manifests.map((m) => [m.digest, m.artifactType])).toEqual([
      [sbom.digest, 'application/vnd.example.sbom+json'],
      [signature.digest, 'application/vnd.example.signature'],
    ]);
    expect(index?.manifests[0]?.annotations).toEqual({ 'org.example.name': 'sbom' });
    // The same artifact again adds nothing.
    const again = await runAction(work, { layout: sbom.dir, tags: `${registry.host}/${repo}` });
    expect(again.code).toBe(0);
    expect((await fallbackIndex(repo, image.digest))?.manifests).toHaveLength(2);
  });

  it('a registry with the API (OCI-Subject in the answer): no fallback tag is written', async () => {
    const p = await startFaultProxy(registry, { manifestHeaders: { 'oci-subject': 'x' } });
    proxies.push(p);
    const repo = 'referrers/with-api';
    const subject = { digest: sha('subject'), size: 7 };
    const artifact = await artifactLayout('with-api', 'application/vnd.example.sbom+json', subject);
    const run = await runAction(work, { layout: artifact.dir, tags: `${p.host}/${repo}` });
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs['referrers-tags']!)).toEqual([]);
    expect(await listTags(registry.url, repo)).toEqual([]);
  });
});
