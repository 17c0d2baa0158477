import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { causeOf } from '../../src/report/causes.js';
import { runAction } from '../support/actions-runner.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { OCI_INDEX, makeLayout, sha256 } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { CLI, NODE, run, runCli } from '../support/run.js';

// What the outputs and the summary say must be what happened, whatever order things failed in.
let registry: RunningRegistry;
let work: string;
const proxies: FaultProxy[] = [];
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-results-'));
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: work });

async function layout(seed: string, layers = 1): Promise<{ dir: string; digest: string }> {
  const dir = join(work, `${seed}-${++n}`);
  const image = await makeLayout(dir, { seed, layers, layerSize: 4096 });
  return { dir, digest: image.digest };
}

interface Json {
  schemaVersion: number;
  mediaType?: string;
  manifests?: { mediaType: string; digest: string; size: number }[];
  config?: { mediaType: string; digest: string; size: number };
  layers?: { mediaType: string; digest: string; size: number; urls?: string[] }[];
}

const blob = (dir: string, digest: string): string =>
  join(dir, 'blobs', ...(digest.split(':') as [string, string]));

async function readJson(dir: string, digest: string): Promise<Json> {
  return JSON.parse(await readFile(blob(dir, digest), 'utf8')) as Json;
}

async function writeDoc(dir: string, doc: unknown, algorithm = 'sha256'): Promise<string> {
  const raw = Buffer.from(JSON.stringify(doc));
  const digest = `${algorithm}:${createHash(algorithm).update(raw).digest('hex')}`;
  await mkdir(join(dir, 'blobs', algorithm), { recursive: true });
  await writeFile(blob(dir, digest), raw);
  return digest;
}

/** Writes `doc` as a new document and points index.json at it alone. */
async function setTop(
  dir: string,
  mediaType: string,
  doc: unknown,
  algorithm = 'sha256',
): Promise<string> {
  const digest = await writeDoc(dir, doc, algorithm);
  const size = Buffer.byteLength(JSON.stringify(doc));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType, digest, size }] }),
  );
  return digest;
}

async function topOf(dir: string): Promise<{ mediaType: string; digest: string; size: number }> {
  return (JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Json).manifests![0]!;
}

describe('outputs say what happened', () => {
  it('the first target tagged, the second refusing its manifest: refs, digest and the summary show each', async () => {
    const { dir, digest } = await layout('two-targets');
    const p = await startFaultProxy(registry, {
      failWhen: [{ method: 'PUT', path: /\/second\/manifests\//, status: 412 }],
    });
    proxies.push(p);
    const run = await runAction(work, {
      layout: dir,
      tags: `${p.host}/results/first:1\n${p.host}/results/second:1`,
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.outputs.refs!)).toEqual([`${p.host}/results/first:1@${digest}`]);
    expect(run.outputs.digest).toBe(digest);
    expect(run.summary).toContain(`✅ \`${p.host}/results/first:1\``);
    expect(run.summary).toContain(`⬜ \`${p.host}/results/second:1\` (not tagged)`);
    expect(await listTags(registry.url, 'results/first')).toEqual(['1']);
  });

  it('a layout whose manifest and blobs are all sha512 is pushed and reported by the digest the registry serves', async () => {
    const { dir } = await layout('sha512-all');
    const top = await topOf(dir);
    const manifest = await readJson(dir, top.digest);
    const to512 = async (d: { digest: string }): Promise<void> => {
      const bytes = await readFile(blob(dir, d.digest));
      const digest = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
      await mkdir(join(dir, 'blobs', 'sha512'), { recursive: true });
      await writeFile(blob(dir, digest), bytes);
      d.digest = digest;
    };
    await to512(manifest.config!);
    for (const l of manifest.layers!) await to512(l);
    const digest = await setTop(dir, top.mediaType, manifest, 'sha512');
    const res = await runCli(
      ['--layout', dir, '--tags', `${registry.host}/results/sha512:1`, '--json'],
      { env: env() },
    );
    expect(res.code, res.stderr).toBe(0);
    const json = JSON.parse(res.stdout) as { digest: string; refs: string[] };
    // distribution names every manifest by sha256, whatever the layout used: so do the outputs.
    const raw = await readFile(blob(dir, digest));
    const served = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    expect(digest).toMatch(/^sha512:/);
    expect(json.digest).toBe(served);
    expect(json.refs).toEqual([`${registry.host}/results/sha512:1@${served}`]);
  });

  it('--summary-file in a folder that does not exist: exit 2 before anything is pushed', async () => {
    const { dir } = await layout('summary-file');
    const res = await runCli(
      [
        '--layout',
        dir,
        '--tags',
        `${registry.host}/results/summary-file:1`,
        '--summary-file',
        join(work, 'no-such-folder', 'summary.md'),
      ],
      { env: env() },
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--summary-file .*no-such-folder.*does not exist/);
    expect(await listTags(registry.url, 'results/summary-file')).toEqual([]);
  });
});

describe('digest-file', () => {
  it('the CLI writes the pushed digest, as skopeo --digestfile does', async () => {
    const { dir, digest } = await layout('digest-file-cli');
    const file = join(work, 'cli.digest');
    const res = await runCli(
      ['push', dir, `${registry.host}/results/digest-file:1`, '--digest-file', file],
      { env: env() },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toBe(digest);
    expect(res.stdout.split('\n')[0]).toBe(digest);
  });

  it('the action writes it too, and it equals the digest output', async () => {
    const { dir, digest } = await layout('digest-file-action');
    const file = join(work, 'action.digest');
    const action = await runAction(work, {
      layout: dir,
      tags: `${registry.host}/results/digest-file:2`,
      'digest-file': file,
    });
    expect(action.code, action.stderr).toBe(0);
    expect(action.outputs.digest).toBe(digest);
    expect(await readFile(file, 'utf8')).toBe(digest);
  });

  it('a failed push writes none; a folder that does not exist is refused before anything is pushed', async () => {
    const { dir } = await layout('digest-file-failed');
    const file = join(work, 'failed.digest');
    const failed = await runCli(
      ['push', dir, '127.0.0.1:1/results/digest-file:3', '--digest-file', file, '--retries', '0'],
      { env: env() },
    );
    expect(failed.code).toBe(1);
    expect(await readFile(file, 'utf8').catch(() => 'none')).toBe('none');
    const missing = await runCli(
      [
        'push',
        dir,
        `${registry.host}/results/digest-file-missing:1`,
        '--digest-file',
        join(work, 'no-such-folder', 'x.digest'),
      ],
      { env: env() },
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/digest-file .*no-such-folder.*does not exist/);
    expect(await listTags(registry.url, 'results/digest-file-missing')).toEqual([]);
  });
});

describe('validation does not depend on order', () => {
  it.each([
    ['the wrong size second', false],
    ['the wrong size first', true],
  ])('an index listing one manifest twice, %s, is refused', async (_what, wrongFirst) => {
    const { dir } = await layout('twice');
    const top = await topOf(dir);
    const wrong = { ...top, size: top.size + 1 };
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: wrongFirst ? [wrong, top] : [top, wrong],
    };
    await setTop(dir, OCI_INDEX, index);
    const res = await runCli(['--layout', dir, '--tags', `${registry.host}/results/twice:1`], {
      env: env(),
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`${top.digest}`));
    expect(await listTags(registry.url, 'results/twice')).toEqual([]);
  });
});

describe('layers with urls', () => {
  async function withUrls(mediaType: string): Promise<{ dir: string; layer: string }> {
    const { dir } = await layout('urls', 2);
    const top = await topOf(dir);
    const manifest = await readJson(dir, top.digest);
    const layer = manifest.layers![1]!;
    layer.mediaType = mediaType;
    layer.urls = ['https://example.invalid/layer'];
    await rm(blob(dir, layer.digest));
    await setTop(dir, top.mediaType, manifest);
    return { dir, layer: layer.digest };
  }

  it('a missing regular layer is an error even when it has urls', async () => {
    const { dir, layer } = await withUrls('application/vnd.oci.image.layer.v1.tar+gzip');
    const res = await runCli(['--layout', dir, '--tags', `${registry.host}/results/urls:1`], {
      env: env(),
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`blob ${layer} is missing`);
  });

  it('a missing non-distributable layer is skipped, and the summary says so', async () => {
    const { dir, layer } = await withUrls(
      'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    );
    const allowing = await startRegistry({ allowForeignUrls: true });
    try {
      const run = await runAction(work, {
        layout: dir,
        tags: `${allowing.host}/results/foreign:1`,
      });
      expect(run.code, run.stdout).toBe(0);
      expect(run.summary).toContain('**Not pushed:** 1 non-distributable layer');
      expect(run.summary).toContain(layer.slice(0, 19));
    } finally {
      await allowing.stop();
    }
    // distribution refuses foreign URLs by default: that is the manifest refused, not a lost blob.
    const refused = await runAction(work, {
      layout: dir,
      tags: `${registry.host}/results/foreign:1`,
      diagnose: 'never',
    });
    expect(refused.code).toBe(1);
    expect(refused.summary).toContain(causeOf('manifest-refused').title);
    expect(refused.summary).not.toContain(causeOf('vanished-after-ack').title);
  });
});

describe('bad tags and index-from input', () => {
  it('a port out of range is a usage error naming the tag', async () => {
    const { dir } = await layout('port');
    const res = await runCli(['--layout', dir, '--tags', '127.0.0.1:99999/app:v1'], { env: env() });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      'tag "127.0.0.1:99999/app:v1": port 99999 is not between 1 and 65535',
    );
  });

  it('index-from a manifest whose config is not JSON names the blob', async () => {
    const { dir } = await layout('artifact');
    const top = await topOf(dir);
    const manifest = await readJson(dir, top.digest);
    const config = Buffer.from('not json at all');
    const configDigest = sha256(config);
    await writeFile(blob(dir, configDigest), config);
    manifest.config = {
      mediaType: 'application/vnd.example.config',
      digest: configDigest,
      size: config.length,
    };
    const digest = await setTop(dir, top.mediaType, manifest);
    const repo = `${registry.host}/results/artifact`;
    const pushed = await runCli(['--layout', dir, '--tags', repo, '--push-by-digest'], {
      env: env(),
    });
    expect(pushed.code, pushed.stderr).toBe(0);
    const res = await runCli(['--index-from', digest, '--tags', `${repo}:index`], { env: env() });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`config blob ${configDigest} is not JSON`);
    expect(
      res.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('oci-push:')),
    ).toHaveLength(1);
  });
});

describe('files that are not regular files', () => {
  it('an index.json that is a FIFO is refused at once, not read forever', async () => {
    const { dir } = await layout('fifo');
    await rm(join(dir, 'index.json'));
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(dir, 'index.json')]);
    const started = Date.now();
    const res = await runCli(['--layout', dir, '--tags', `${registry.host}/results/fifo:1`], {
      env: env(),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('index.json: not a regular file');
  });

  it('an oci-layout linked to /dev/zero is refused without reading it', async () => {
    const { dir } = await layout('zero');
    await rm(join(dir, 'oci-layout'));
    const { symlink } = await import('node:fs/promises');
    await symlink('/dev/zero', join(dir, 'oci-layout'));
    const res = await runCli(['--layout', dir, '--tags', `${registry.host}/results/zero:1`], {
      env: env(),
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('oci-layout: not a regular file');
    expect(res.stderr).not.toMatch(/RangeError|\n\s+at /);
  });

  it('a piped archive (--layout /dev/stdin) is spooled and pushed', async () => {
    const { dir, digest } = await layout('piped');
    const tarFile = join(work, 'piped.tar');
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-cf', tarFile, '-C', dir, '.']);
    const temp = await mkdtemp(join(work, 'tmp-'));
    // As a person types it: a shell pipe.
    const res = await run(
      'bash',
      [
        '-c',
        `cat "$0" | "$1" "$2" --layout /dev/stdin --tags "$3" --json`,
        tarFile,
        NODE,
        CLI,
        `${registry.host}/results/piped:1`,
      ],
      { env: { ...env(), RUNNER_TEMP: temp } },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout).digest).toBe(digest);
    expect(await readdir(temp)).toEqual([]);
  });
});
