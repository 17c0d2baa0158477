import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { faultProxies } from '../support/fault-proxy.js';
import { OCI_INDEX, makeLayout } from '../support/layouts.js';
import { layoutContents, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';

// `refs` names only tags that read back from the registry with the digest pushed, and a digest in
// the outputs is one the registry answers to.
let registry: RunningRegistry;
let work: string;
let n = 0;
const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: work });

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-read-back-'));
});
afterAll(async () => {
  await pool.stopAll();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const pool = faultProxies(() => registry);
const proxy = pool.start;

async function image(seed: string): Promise<{ dir: string; digest: string }> {
  const dir = join(work, `${seed}-${++n}`);
  const built = await makeLayout(dir, { seed, layers: 1, layerSize: 2048 });
  return { dir, digest: built.digest };
}

describe('tags read back after their PUT', () => {
  it('a registry that acknowledges the manifest and never stores it: the push fails with its own cause', async () => {
    const p = await proxy({ dropTagPuts: true });
    const { dir } = await image('dropped');
    const run = await runAction(work, { layout: dir, tags: `${p.host}/rb/dropped:1` });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.outputs.refs ?? '')).toEqual([]);
    expect(run.outputs.digest).toBe('');
    expect(run.stdout).toContain('title=oci-push%3A manifest-dropped');
    expect(run.summary).toMatch(/acknowledged the manifest \(201\) but does not serve it/);
    expect(await listTags(registry.url, 'rb/dropped')).toEqual([]);
    const cli = await runCli(['--layout', dir, '--tags', `${p.host}/rb/dropped:2`, '--json'], {
      env: env(),
    });
    expect(cli.code).toBe(1);
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: false, refs: [] });
    expect(cli.stderr).toMatch(/acknowledged tag 2 and then answered 404/);
  });

  it('a tag that reads back with another digest is not in refs; tags-elsewhere says where it points', async () => {
    const first = await image('elsewhere-a');
    const before = await runCli(
      ['--layout', first.dir, '--tags', `${registry.host}/rb/elsewhere:1`],
      { env: env() },
    );
    expect(before.code, before.stderr).toBe(0);
    const p = await proxy({ dropTagPuts: true });
    const second = await image('elsewhere-b');
    const run = await runAction(work, { layout: second.dir, tags: `${p.host}/rb/elsewhere:1` });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.outputs.refs ?? '')).toEqual([]);
    expect(JSON.parse(run.outputs['tags-elsewhere'] ?? '')).toEqual([
      `${p.host}/rb/elsewhere:1@${first.digest}`,
    ]);
    expect(run.stdout).toContain('title=oci-push%3A manifest-digest-mismatch');
    expect(run.summary).toContain(`serves it as \`${first.digest}\``);
  });

  it('a re-push whose tag already points at the image writes no manifest; a new tag and a moved one are written', async () => {
    const { dir, digest } = await image('standing');
    const first = await runCli(['--layout', dir, '--tags', `${registry.host}/rb/standing:1`], {
      env: env(),
    });
    expect(first.code, first.stderr).toBe(0);
    const other = await image('standing-other');
    const moved = await runCli(
      ['--layout', other.dir, '--tags', `${registry.host}/rb/standing:moved`],
      { env: env() },
    );
    expect(moved.code, moved.stderr).toBe(0);
    const p = await proxy({});
    const tags = ['1', 'moved', 'new'].map((t) => `${p.host}/rb/standing:${t}`).join(',');
    const run = await runAction(work, { layout: dir, tags });
    expect(run.code, run.stdout).toBe(0);
    const puts = p.log.filter((e) => e.method === 'PUT').map((e) => e.path);
    expect(puts).toEqual(['/v2/rb/standing/manifests/moved', '/v2/rb/standing/manifests/new']);
    expect(run.stdout).toContain(
      `tagged ${p.host}/rb/standing:1 (it already pointed at this image)`,
    );
    expect(JSON.parse(run.outputs.refs ?? '')).toEqual(
      ['1', 'moved', 'new'].map((t) => `${p.host}/rb/standing:${t}@${digest}`),
    );
    for (const tag of ['1', 'moved']) {
      const pulled = await skopeoPull(
        `${p.host}/rb/standing:${tag}`,
        join(work, `standing-${tag}`),
      );
      expect(pulled.code, pulled.stderr).toBe(0);
      expect((await layoutContents(join(work, `standing-${tag}`))).top).toBe(digest);
    }
  });

  it('a PUT answered with a wrong digest, whose tag reads back right: pushed, and refs are true', async () => {
    const p = await proxy({ manifestDigestHeader: `sha256:${'e'.repeat(64)}` });
    const { dir, digest } = await image('lying-header');
    const run = await runAction(work, { layout: dir, tags: `${p.host}/rb/lying:1` });
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs.refs ?? '')).toEqual([`${p.host}/rb/lying:1@${digest}`]);
  });
});

/** A layout whose single image manifest is named by sha512 (its blobs stay sha256). */
async function sha512Layout(
  seed: string,
  asIndexChild: boolean,
): Promise<{ dir: string; sha256: string }> {
  const { dir, digest } = await image(seed);
  const raw = await readFile(join(dir, 'blobs', 'sha256', digest.slice(7)));
  const d512 = `sha512:${createHash('sha512').update(raw).digest('hex')}`;
  await mkdir(join(dir, 'blobs', 'sha512'), { recursive: true });
  await writeFile(join(dir, 'blobs', 'sha512', d512.slice(7)), raw);
  const manifest = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: d512,
    size: raw.length,
  };
  let top: object = manifest;
  if (asIndexChild) {
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [manifest] }),
    );
    const di = `sha256:${createHash('sha256').update(index).digest('hex')}`;
    await writeFile(join(dir, 'blobs', 'sha256', di.slice(7)), index);
    top = { mediaType: OCI_INDEX, digest: di, size: index.length };
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [top] }));
  return { dir, sha256: digest };
}

describe('sha512 layouts', () => {
  it('a sha512 manifest pushed by tag: the outputs name the sha256 the registry serves, and skopeo pulls by it', async () => {
    const { dir, sha256 } = await sha512Layout('sha512-root', false);
    const run = await runAction(work, { layout: dir, tags: `${registry.host}/rb/sha512:1` });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs.digest).toBe(sha256);
    expect(JSON.parse(run.outputs.refs ?? '')).toEqual([`${registry.host}/rb/sha512:1@${sha256}`]);
    expect(run.stdout).toContain(`the registry serves the manifest as ${sha256}`);
    const dest = join(work, 'sha512-pulled');
    const pulled = await skopeoPull(`${registry.host}/rb/sha512@${sha256}`, dest);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await layoutContents(dest)).top).toBe(sha256);
  });

  it('an index listing a sha512 manifest is refused in under a second, before any request', async () => {
    const { dir } = await sha512Layout('sha512-child', true);
    const p = await proxy({});
    const started = Date.now();
    const res = await runCli(['--layout', dir, '--tags', `${p.host}/rb/sha512-index:1`], {
      env: env(),
    });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/manifest sha512:[0-9a-f]+: it is listed by digest in an index/);
    expect(p.log.filter((e) => e.method !== 'GET' || e.path !== '/v2/')).toEqual([]);
  });
});
