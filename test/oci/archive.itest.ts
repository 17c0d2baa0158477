import { mkdtemp, readdir, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { run, runCli } from '../support/run.js';

type Entry = {
  name: string;
  type?: 'file' | 'symlink' | 'link' | 'directory';
  linkname?: string;
  content?: string;
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
});
