import { mkdtemp, readdir, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runAction } from '../support/actions-runner.js';
import { filesOf, paxTar, ustarHeader } from '../support/pax.js';
import { run, runCli } from '../support/run.js';

type Entry = {
  name: string;
  type?: 'file' | 'symlink' | 'link' | 'directory';
  linkname?: string;
  content?: string | Buffer;
};

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const archive = pack();
  for (const e of entries) {
    if (e.type === 'symlink' || e.type === 'link')
      archive.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else if (e.type === 'directory') archive.entry({ name: e.name, type: 'directory' });
    else archive.entry({ name: e.name }, e.content ?? 'x');
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const c of archive) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let registry: RunningRegistry;
let work: string;
let temp: string;
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-hostile-'));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Pushes an archive with the temp folder pointed at a fresh directory, so leftovers are visible. */
async function pushArchive(bytes: Buffer, name = `a${++n}.tar`) {
  const file = join(work, name);
  await writeFile(file, bytes);
  temp = await mkdtemp(join(work, 'tmp-'));
  const repo = `hostile/r${n}`;
  const res = await runCli(['--layout', file, '--tags', `${registry.host}/${repo}:1`], {
    env: { ...process.env, TMPDIR: temp, RUNNER_TEMP: temp },
  });
  return { res, repo };
}

async function expectRefused(bytes: Buffer, message: RegExp, outside?: string): Promise<void> {
  const { res, repo } = await pushArchive(bytes);
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(message);
  expect(res.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  // Nothing left in the temporary folder, nothing written outside it, nothing tagged.
  expect(await readdir(temp)).toEqual([]);
  if (outside) expect(await stat(outside).catch(() => undefined)).toBeUndefined();
  expect(await listTags(registry.url, repo)).toEqual([]);
}

describe('hostile and broken archives', () => {
  it('refuses an entry with ..', async () => {
    await expectRefused(
      await tarOf([{ name: 'oci-layout' }, { name: '../../escaped-dotdot.txt' }]),
      /entry "..\/..\/escaped-dotdot.txt" escapes the archive with '..'/,
      join(work, 'escaped-dotdot.txt'),
    );
  });

  it('refuses an absolute path', async () => {
    await expectRefused(
      await tarOf([{ name: `${work}/escaped-absolute.txt` }]),
      /has an absolute path/,
      join(work, 'escaped-absolute.txt'),
    );
  });

  it('refuses a symlink that points outside, and a write through it', async () => {
    await expectRefused(
      await tarOf([{ name: 'blobs', type: 'symlink', linkname: work }]),
      /symlink "blobs" points outside the archive/,
    );
    await expectRefused(
      await tarOf([
        { name: 'up', type: 'symlink', linkname: '../..' },
        { name: 'up/escaped-link.txt' },
      ]),
      /symlink "up" points outside the archive/,
      join(work, 'escaped-link.txt'),
    );
  });

  it('refuses a hardlink that points outside', async () => {
    await expectRefused(
      await tarOf([{ name: 'h', type: 'link', linkname: '../../../etc/passwd' }]),
      /escapes the archive with '..'/,
    );
  });

  it('reports a truncated archive, a truncated gzip and junk with exit 1', async () => {
    const layout = join(work, 'valid');
    await makeLayout(layout, { seed: 'hostile', layers: 2, layerSize: 64 * 1024 });
    const tarFile = join(work, 'valid.tar');
    expect((await run('tar', ['-cf', tarFile, '-C', layout, '.'])).code).toBe(0);
    const whole = await readFile(tarFile);
    await expectRefused(whole.subarray(0, Math.floor(whole.length / 2) + 100), /valid|a\d+\.tar/);
    await expectRefused(
      gzipSync(whole).subarray(0, 2000),
      /not a readable tar archive|unexpected end/i,
    );
    await expectRefused(
      Buffer.from('definitely not a tar archive\n'.repeat(100)),
      /a\d+\.tar: (not a readable tar archive|neither an OCI image layout)/,
    );
  });

  it('refuses a chain of links that climbs out (y -> ., x -> y/..), creating nothing outside', async () => {
    const { res } = await pushArchive(
      await tarOf([
        { name: 'y', type: 'symlink', linkname: '.' },
        { name: 'x', type: 'symlink', linkname: 'y/..' },
        { name: 'x/ESCAPED/deep/file', content: 'written outside' },
      ]),
    );
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/symlink "x" points outside the archive/);
    // The extraction folder is inside `temp`: its parent must hold nothing new.
    expect(await stat(join(temp, 'ESCAPED')).catch(() => undefined)).toBeUndefined();
    expect(await readdir(temp)).toEqual([]);
  });

  it('refuses a write through a link that stays inside, and never creates the folders first', async () => {
    await expectRefused(
      await tarOf([
        { name: 'inner', type: 'directory' },
        { name: 'l', type: 'symlink', linkname: 'inner' },
        { name: 'l/ESCAPED/deep/file', content: 'through a link' },
      ]),
      /entry "l\/ESCAPED\/deep\/file" would write through a link/,
    );
  });

  it('never reads a file outside through a chain: index.json linked at /etc/passwd', async () => {
    const depth = work.split('/').length + 2;
    const { res } = await pushArchive(
      await tarOf([
        { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
        { name: 'a', type: 'directory' },
        { name: 'a/b', type: 'symlink', linkname: '..' },
        { name: 'index.json', type: 'symlink', linkname: `a/b/${'../'.repeat(depth)}etc/passwd` },
      ]),
    );
    expect(res.code).toBe(1);
    expect(res.stderr).not.toMatch(/root:/);
    expect(res.stderr).toMatch(/points outside the archive/);
  });

  it('refuses a layer blob linked to a file outside with the matching digest: nothing is pushed', async () => {
    const layout = join(work, 'outside-layer');
    const image = await makeLayout(layout, { seed: 'outside-layer', layers: 1, layerSize: 4096 });
    const layer = image.blobs[1]!.replace(':', '/');
    const outsideCopy = join(work, 'outside-blob');
    await writeFile(outsideCopy, await readFile(join(layout, 'blobs', layer)));
    const entries: Entry[] = [];
    for (const file of ['oci-layout', 'index.json'])
      entries.push({ name: file, content: await readFile(join(layout, file), 'utf8') });
    for (const digest of [...image.manifests, image.blobs[0]!]) {
      const path = `blobs/${digest.replace(':', '/')}`;
      entries.push({
        name: path,
        content: await readFile(join(layout, path)),
      });
    }
    const depth = work.split('/').length + 4;
    entries.push({
      name: `blobs/${layer}`,
      type: 'symlink',
      linkname: `${'../'.repeat(depth)}${outsideCopy.slice(1)}`,
    });
    const { res, repo } = await pushArchive(await tarOf(entries));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/points outside the archive/);
    expect(await listTags(registry.url, repo)).toEqual([]);
  });

  it('keeps links inside the archive working, as docker save writes them', async () => {
    const layout = join(work, 'linked-inside');
    const image = await makeLayout(layout, { seed: 'linked-inside', layers: 1, layerSize: 4096 });
    const layer = image.blobs[1]!.replace(':', '/');
    const entries: Entry[] = [];
    for (const file of ['oci-layout', 'index.json'])
      entries.push({ name: file, content: await readFile(join(layout, file), 'utf8') });
    for (const digest of [...image.manifests, image.blobs[0]!])
      entries.push({
        name: `blobs/${digest.replace(':', '/')}`,
        content: (await readFile(join(layout, 'blobs', digest.replace(':', '/')))).toString(
          'latin1',
        ),
      });
    // The layer's bytes live elsewhere in the archive; the blob path is a chain of links to them.
    entries.push({
      name: 'legacy/layer.tar',
      content: await readFile(join(layout, 'blobs', layer)),
    });
    entries.push({ name: 'shortcut', type: 'symlink', linkname: 'legacy' });
    entries.push({ name: `blobs/${layer}`, type: 'symlink', linkname: '../../shortcut/layer.tar' });
    const { res, repo } = await pushArchive(await tarOf(entries));
    expect(res.code, res.stderr).toBe(0);
    expect(await listTags(registry.url, repo)).toEqual(['1']);
  });
});

describe('what an archive costs', () => {
  it('a pax archive with sizes only in pax records pushes, in the CLI and the action', async () => {
    const layout = join(work, 'pax-layout');
    await makeLayout(layout, { seed: 'pax', layers: 2, layerSize: 40 * 1024 });
    const bytes = paxTar(await filesOf(layout));
    const file = join(work, 'pax.tar');
    await writeFile(file, bytes);
    // GNU tar reads it so: every file at its pax size.
    const listed = await run('tar', ['-tvf', file]);
    expect(listed.code, listed.stderr).toBe(0);
    const largest = (await filesOf(layout)).sort((a, b) => b.data.length - a.data.length)[0]!;
    expect(listed.stdout).toMatch(new RegExp(` ${largest.data.length} .* ${largest.name}\n`));
    const { res, repo } = await pushArchive(bytes);
    expect(res.code, res.stderr).toBe(0);
    expect(await listTags(registry.url, repo)).toEqual(['1']);
    const action = await runAction(work, {
      layout: file,
      tags: `${registry.host}/hostile/pax-action:1`,
      diagnose: 'never',
    });
    expect(action.code, action.stdout).toBe(0);
    expect(await listTags(registry.url, 'hostile/pax-action')).toEqual(['1']);
  });

  it('folders, empty files and hard links count against max-image-size', async () => {
    const entries: Buffer[] = [];
    for (let i = 0; i < 1000; i++) entries.push(ustarHeader(`d${i}/`, 0, '5'));
    for (let i = 0; i < 600; i++) entries.push(ustarHeader(`e${i}`, 0, '0'));
    for (let i = 0; i < 600; i++) entries.push(ustarHeader(`h${i}`, 0, '1', 'e0'));
    const file = join(work, 'many-empty.tar');
    await writeFile(file, Buffer.concat([...entries, Buffer.alloc(1024)]));
    temp = await mkdtemp(join(work, 'tmp-'));
    const res = await runCli(
      ['push', file, `${registry.host}/hostile/empty:1`, '--max-image-size', '1MiB'],
      { env: { ...process.env, TMPDIR: temp, RUNNER_TEMP: temp } },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /many-empty\.tar: expands to more than 1(\.0)? MiB \(max-image-size\)/,
    );
    expect(await readdir(temp)).toEqual([]);
  });

  it('an archive of more than 100,000 entries is refused, naming the limit, in the CLI and the action', async () => {
    const header = ustarHeader('d/', 0, '5');
    const bytes = Buffer.concat([...Array<Buffer>(100_001).fill(header), Buffer.alloc(1024)]);
    await expectRefused(bytes, /a\d+\.tar: more than 100000 entries/);
    const file = join(work, 'many-entries.tar');
    await writeFile(file, bytes);
    const action = await runAction(work, {
      layout: file,
      tags: `${registry.host}/hostile/many-entries:1`,
      diagnose: 'never',
    });
    expect(action.code).toBe(1);
    expect(action.stdout).toMatch(/many-entries\.tar: more than 100000 entries/);
    expect(await listTags(registry.url, 'hostile/many-entries')).toEqual([]);
  });
});
