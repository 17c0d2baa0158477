import { readFile, rm, mkdtemp, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayoutWriter, makeLayout, sha256 } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';

let registry: RunningRegistry;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-cli-'));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function indexTop(dir: string): Promise<{ digest: string }> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  return index.manifests[0] as { digest: string };
}

async function manifestOf(dir: string): Promise<{ layers: { digest: string }[] }> {
  const top = await indexTop(dir);
  return JSON.parse(await readFile(join(dir, 'blobs', 'sha256', top.digest.slice(7)), 'utf8')) as {
    layers: { digest: string }[];
  };
}

/** Runs the CLI on a broken layout: exit 1, one line naming what is wrong, no stack, nothing tagged. */
async function expectRejected(
  dir: string,
  repo: string,
  pattern: RegExp,
  layoutArg = dir,
): Promise<void> {
  const res = await runCli(['--layout', layoutArg, '--tags', `${registry.host}/${repo}:1`]);
  expect(res.code, res.stderr).toBe(1);
  const errorLines = res.stderr.split('\n').filter((l) => l.startsWith('oci-push: '));
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(pattern);
  expect(res.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(await listTags(registry.url, repo)).toEqual([]);
}

describe('bad layouts', () => {
  it('a missing blob: exit 1 naming the blob', async () => {
    const dir = join(work, 'missing');
    await makeLayout(dir, { seed: 'missing' });
    const layer = (await manifestOf(dir)).layers[1]!.digest;
    await unlink(join(dir, 'blobs', 'sha256', layer.slice(7)));
    await expectRejected(
      dir,
      'bad/missing',
      new RegExp(`blob ${layer} is missing \\(expected blobs/sha256/${layer.slice(7)}\\)`),
    );
  });

  it('a blob whose bytes do not match its digest', async () => {
    const dir = join(work, 'corrupt');
    await makeLayout(dir, { seed: 'corrupt' });
    const layer = (await manifestOf(dir)).layers[0]!.digest;
    const path = join(dir, 'blobs', 'sha256', layer.slice(7));
    const bytes = await readFile(path);
    bytes[100] = bytes[100]! ^ 0xff;
    await writeFile(path, bytes);
    await expectRejected(
      dir,
      'bad/corrupt',
      new RegExp(`blobs/sha256/${layer.slice(7)}: content does not match its digest`),
    );
  });

  it('malformed JSON in a manifest', async () => {
    const dir = join(work, 'malformed');
    const writer = await new LayoutWriter(dir).init();
    const bad = await writer.blob('{"schemaVersion": 2, "config": ');
    writer.entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...bad });
    await writer.writeIndex();
    await expectRejected(
      dir,
      'bad/malformed',
      new RegExp(`blobs/sha256/${bad.digest.slice(7)} \\(manifest\\): malformed JSON`),
    );
  });

  it('a digest that tries a path', async () => {
    const dir = join(work, 'traversal');
    const writer = await new LayoutWriter(dir).init();
    writer.entries.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: 'sha256:../../x',
      size: 10,
    });
    await writer.writeIndex();
    await expectRejected(
      dir,
      'bad/traversal',
      /index\.json: manifests\.0\.digest: not a valid sha256 or sha512 digest/,
    );
  });

  it('several images and no REF: lists the refs found', async () => {
    const dir = join(work, 'several');
    const writer = await new LayoutWriter(dir).init();
    await writer.image({ seed: 'one', refName: 'v1' });
    await writer.image({ seed: 'two', refName: 'v2' });
    await expectRejected(
      dir,
      'bad/several',
      /holds 2 images; pick one with DIR:REF\. Refs found: v1, v2/,
    );
    await expectRejected(
      dir,
      'bad/several',
      /no image with ref "v3"; refs found: v1, v2/,
      `${dir}:v3`,
    );
  });

  it('an unknown manifest media type names the file', async () => {
    const dir = join(work, 'mediatype');
    const writer = await new LayoutWriter(dir).init();
    const doc = await writer.blob('{}');
    writer.entries.push({ mediaType: 'application/vnd.example.unknown+json', ...doc });
    await writer.writeIndex();
    await expectRejected(
      dir,
      'bad/mediatype',
      new RegExp(`blobs/sha256/${doc.digest.slice(7)}: unsupported manifest media type`),
    );
  });

  it('a path that does not exist, and a file that is not an archive', async () => {
    await expectRejected(
      join(work, 'nope'),
      'bad/nope',
      /layout .*nope: no such file or directory/,
    );
    const junk = join(work, 'junk.tar');
    await writeFile(
      junk,
      Buffer.from('this is not a tar archive at all, just some words '.repeat(40)),
    );
    await expectRejected(
      junk,
      'bad/junk',
      /junk\.tar: not a readable tar archive|junk\.tar.*oci-layout/,
    );
  });

  it('a sha512 layout is validated and pushed', async () => {
    // Digest algorithms other than sha256 must work end to end, not only parse.
    const dir = join(work, 'sha512');
    await makeLayout(dir, { seed: 'sha512' });
    const { createHash } = await import('node:crypto');
    const { mkdir, rename } = await import('node:fs/promises');
    const manifest = await manifestOf(dir);
    const layer = manifest.layers[0]!.digest;
    const bytes = await readFile(join(dir, 'blobs', 'sha256', layer.slice(7)));
    const d512 = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
    await mkdir(join(dir, 'blobs', 'sha512'), { recursive: true });
    await rename(
      join(dir, 'blobs', 'sha256', layer.slice(7)),
      join(dir, 'blobs', 'sha512', d512.slice(7)),
    );
    const doc = JSON.parse(
      await readFile(join(dir, 'blobs', 'sha256', (await indexTop(dir)).digest.slice(7)), 'utf8'),
    );
    doc.layers[0].digest = d512;
    const raw = JSON.stringify(doc);
    const digest = sha256(raw);
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), raw);
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: doc.mediaType, digest, size: raw.length }],
      }),
    );
    const res = await runCli(['--layout', dir, '--tags', `${registry.host}/ok/sha512:1`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout).digest).toBe(digest);
  });
});

describe('progress', () => {
  it('logs progress with bytes, percent and rate for a blob over 8 MiB, ending at 100%', async () => {
    const dir = join(work, 'large');
    const image = await makeLayout(dir, { seed: 'large', layers: 1, layerSize: 9 << 20 });
    const res = await runCli(['--layout', dir, '--tags', `${registry.host}/ok/large:1`]);
    expect(res.code, res.stderr).toBe(0);
    const short = image.blobs[1]!.slice(0, 19);
    expect(res.stderr).toMatch(
      new RegExp(`${short}: 9\\.\\d MiB of 9\\.\\d MiB \\(100%\\) at [\\d.]+ \\S+/s`),
    );
    // The 300-byte config is too small to report.
    expect(res.stderr).not.toContain(`${image.blobs[0]!.slice(0, 19)}:`);
  });
});

describe('usage', () => {
  it('exits 2 for an unknown flag, a missing input, or a bad value', async () => {
    for (const args of [
      ['--nope'],
      ['--layout', work],
      ['--layout', work, '--tags', 'x/y:1', '--retries', 'many'],
      ['--layout', work, '--tags', 'Bad/Name'],
    ]) {
      const res = await runCli(args);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toMatch(/^oci-push: /);
    }
  });

  it('prints help with exit 0', async () => {
    const res = await runCli(['--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('--upload-mode');
  });

  it('help and version are commands too; nothing at all prints the usage with exit 2', async () => {
    const help = await runCli(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--upload-mode');
    const version = await runCli(['version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^oci-push \S+\n$/);
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: oci-push push SOURCE REF');
  });

  it('a mistyped command gets a suggestion and exit 2, never a layout path', async () => {
    for (const [typed, meant] of [
      ['diagnos', 'diagnose'],
      ['pusj', 'push'],
      ['verison', 'version'],
    ]) {
      const res = await runCli([typed!, 'registry.example.com/team/app:1']);
      expect(res.code, typed).toBe(2);
      expect(res.stderr).toContain(`unknown command "${typed}" (did you mean ${meant}?)`);
    }
  });

  it('names flags as flags in usage errors, and warns about a password on the command line', async () => {
    const bad = await runCli(['push', work, 'x/y:1', '--retries', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('oci-push: --retries: expected a whole number, got "many"');
    expect(bad.stderr).not.toMatch(/input retries/);
    const open = await runCli([
      'push',
      work,
      '127.0.0.1:1/x/y:1',
      '-u',
      'me',
      '-p',
      'pw-on-the-line',
      '--retries',
      '0',
    ]);
    expect(open.stderr).toMatch(/a password on the command line can be read by other users/);
    expect(open.stderr).not.toContain('pw-on-the-line');
  });

  it('a registry given as an image, or a stray word as a target: exit 2 with what to write', async () => {
    const registry = await runCli(['diagnose', '127.0.0.1:5101']);
    expect(registry.code).toBe(2);
    expect(registry.stderr).toContain('such as 127.0.0.1:5101/team/app');
    const stray = await runCli(['push', work, '127.0.0.1:5101/team/app:1', 'v']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain("it would be Docker Hub's docker.io/library/v");
  });
});
