import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareAction } from '../support/actions-runner.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { CLI, NODE, ROOT, run, skopeoPull } from '../support/run.js';

// Stdin and pipes are read as streams: told apart from their first bytes, extracted as they
// arrive, ended at the tar's end-of-archive marker, and stopped by a signal in every phase.
let registry: RunningRegistry;
let work: string;
let tarFile: string;
let gzFile: string;
let legacy: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-streamed-'));
  const layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'streamed', layers: 2, layerSize: 256 * 1024 });
  tarFile = join(work, 'image.tar');
  gzFile = join(work, 'image.tar.gz');
  expect((await run('tar', ['-cf', tarFile, '-C', layout, '.'])).code).toBe(0);
  expect((await run('sh', ['-c', `gzip -c ${tarFile} > ${gzFile}`])).code).toBe(0);
  // A legacy docker-archive with one large uncompressed layer: its conversion (gzip) takes seconds.
  legacy = join(work, 'legacy.tar');
  const dir = join(work, 'legacy');
  await mkdir(join(dir, 'layer0'), { recursive: true });
  const layerTar = join(dir, 'layer0', 'layer.tar');
  // An uncompressed tar of random bytes, so gzip has real work to do.
  const src = join(work, 'legacy-src');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'big'), randomBytes(160 << 20));
  expect((await run('tar', ['-cf', layerTar, '-C', src, 'big'])).code).toBe(0);
  await rm(src, { recursive: true });
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
  });
  await writeFile(join(dir, 'config.json'), config);
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: ['big:1'], Layers: ['layer0/layer.tar'] }]),
  );
  expect((await run('tar', ['-cf', legacy, '-C', dir, '.'])).code).toBe(0);
  await rm(dir, { recursive: true });
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The CLI with `shell` feeding its stdin, and its own temp folder. */
function cliThroughShell(feed: string, args: string[], temp: string): ChildProcess {
  return spawn(
    'sh',
    ['-c', `${feed} | "${NODE}" "${CLI}" ${args.map((a) => `'${a}'`).join(' ')}`],
    { env: { PATH: process.env.PATH, HOME: work, RUNNER_TEMP: temp, TMPDIR: temp }, cwd: ROOT },
  );
}

function ended(child: ChildProcess, started = Date.now()): Promise<Ended> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })),
  );
}

const errorLines = (stderr: string): string[] =>
  stderr.split('\n').filter((l) => l.startsWith('oci-push:'));

async function newTemp(): Promise<string> {
  return mkdtemp(join(work, 'tmp-'));
}

/** Waits until `ready()` holds (the phase to cancel has started), then signals, and times the end. */
async function cancelWhen(
  child: ChildProcess,
  ready: () => Promise<boolean> | boolean,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<Ended> {
  const result = ended(child);
  const deadline = Date.now() + 30_000;
  while (!(await ready()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const sent = Date.now();
  child.kill(signal);
  const done = await result;
  return { ...done, ms: Date.now() - sent };
}

describe('stdin that is not an image', () => {
  it('/dev/zero: refused within 2 s with one line, nothing left in the temp folder', async () => {
    const temp = await newTemp();
    const started = Date.now();
    const done = await ended(
      cliThroughShell('cat /dev/zero', ['push', '/dev/stdin', `${registry.host}/s/zero:1`], temp),
      started,
    );
    expect(done.code).toBe(1);
    expect(done.ms).toBeLessThan(2_000);
    expect(errorLines(done.stderr)).toEqual([
      'oci-push: /dev/stdin: an empty tar archive (it starts with the end-of-archive marker: zeros, not an image)',
    ]);
    expect(done.stderr).not.toMatch(/\n\s+at /);
    expect(await readdir(temp)).toEqual([]);
  });

  it('random bytes: refused within 2 s with one line, nothing left in the temp folder', async () => {
    const temp = await newTemp();
    const started = Date.now();
    const done = await ended(
      cliThroughShell(
        'head -c 300000000 /dev/urandom',
        ['push', '/dev/stdin', `${registry.host}/s/random:1`],
        temp,
      ),
      started,
    );
    expect(done.code).toBe(1);
    expect(done.ms).toBeLessThan(2_000);
    expect(errorLines(done.stderr)).toEqual([
      "oci-push: /dev/stdin: not a tar or gzip archive (its first bytes are neither a tar header nor gzip's magic)",
    ]);
    expect(await readdir(temp)).toEqual([]);
  });

  it('a stream larger than max-image-size stops with one line before writing past it', async () => {
    const temp = await newTemp();
    const done = await ended(
      cliThroughShell(
        `cat ${tarFile}`,
        ['push', '/dev/stdin', `${registry.host}/s/max:1`, '--max-image-size', '100KiB'],
        temp,
      ),
    );
    expect(done.code).toBe(1);
    expect(errorLines(done.stderr)[0]).toMatch(
      /\/dev\/stdin: expands to more than 100 KiB \(max-image-size\); refused before filling the disk/,
    );
    expect(await readdir(temp)).toEqual([]);
  });
});

describe('stdin that is an image', () => {
  it.each([
    ['a tar', () => `cat ${tarFile}`],
    ['a gzip tar', () => `cat ${gzFile}`],
    // The tar ends at its end-of-archive marker: what follows is never read to its end.
    ['a tar followed by endless zeros', () => `cat ${tarFile} /dev/zero`],
  ])('%s: pushed as it arrives, and skopeo pulls it back', async (name, feed) => {
    const temp = await newTemp();
    const repo = `s/${name.replace(/\W+/g, '-')}`;
    const done = await ended(
      cliThroughShell(feed(), ['push', '/dev/stdin', `${registry.host}/${repo}:1`], temp),
    );
    expect(done.code, done.stderr).toBe(0);
    const pulled = await skopeoPull(
      `${registry.host}/${repo}:1`,
      join(work, `pull-${repo.replace(/\//g, '-')}`),
    );
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await readdir(temp)).toEqual([]);
  });
});

describe('`-` is stdin, and stdin that ends at once is empty', () => {
  it('oci-push push - REF < image.tar pushes, and skopeo pulls it back', async () => {
    const temp = await newTemp();
    const child = spawn(
      'sh',
      ['-c', `"${NODE}" "${CLI}" push - '${registry.host}/s/dash:1' < '${tarFile}'`],
      { env: { PATH: process.env.PATH, HOME: work, RUNNER_TEMP: temp, TMPDIR: temp }, cwd: ROOT },
    );
    const done = await ended(child);
    expect(done.code, done.stderr).toBe(0);
    const pulled = await skopeoPull(`${registry.host}/s/dash:1`, join(work, 'pull-dash'));
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  it.each([['-'], ['/dev/stdin']])(
    'true | oci-push push %s REF fails in under 2 s, naming empty stdin',
    async (source) => {
      const temp = await newTemp();
      const done = await ended(
        cliThroughShell('true', ['push', source, `${registry.host}/s/empty:1`], temp),
      );
      expect(done.code).toBe(1);
      expect(done.ms).toBeLessThan(2_000);
      expect(errorLines(done.stderr)).toEqual([
        `oci-push: ${source === '-' ? 'stdin' : source}: empty; no archive was written to it`,
      ]);
      expect(await readdir(temp)).toEqual([]);
    },
  );

  it('the password and the image cannot both come from stdin', async () => {
    const temp = await newTemp();
    const done = await ended(
      cliThroughShell(
        `cat ${tarFile}`,
        ['push', '-', `${registry.host}/s/both:1`, '--username', 'u', '--password-stdin'],
        temp,
      ),
    );
    expect(done.code).toBe(2);
    expect(done.stderr).toMatch(/--password-stdin and an image on stdin/);
  });
});

describe('only what an image needs is written', () => {
  it('files that cannot be part of the image are read past, never written: they do not count against max-image-size', async () => {
    const dir = join(work, 'with-junk');
    await mkdir(join(dir, 'docs', 'deep'), { recursive: true });
    expect((await run('tar', ['-xf', tarFile, '-C', dir])).code).toBe(0);
    await writeFile(join(dir, 'docs', 'deep', 'notes.bin'), randomBytes(3 << 20));
    const junkTar = join(work, 'with-junk.tar');
    expect((await run('tar', ['-cf', junkTar, '-C', dir, '.'])).code).toBe(0);
    const temp = await newTemp();
    const done = await ended(
      cliThroughShell(
        `cat ${junkTar}`,
        ['push', '/dev/stdin', `${registry.host}/s/junk:1`, '--max-image-size', '2MiB'],
        temp,
      ),
    );
    expect(done.code, done.stderr).toBe(0);
    const pulled = await skopeoPull(`${registry.host}/s/junk:1`, join(work, 'pull-junk'));
    expect(pulled.code, pulled.stderr).toBe(0);
  });
});

describe('SIGTERM in every phase ends the run within 2 s, exit 143, temp removed', () => {
  it('reading stdin (a writer that is slow to send the rest)', async () => {
    const temp = await newTemp();
    const summary = join(work, 'stdin-summary.md');
    // The first 10 KiB arrive, then the writer stalls: the run is extracting from stdin.
    const child = spawn(
      NODE,
      [CLI, 'push', '/dev/stdin', `${registry.host}/s/slow:1`, '--summary-file', summary],
      {
        env: { PATH: process.env.PATH, HOME: work, RUNNER_TEMP: temp },
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    child.stdin!.write((await readFile(tarFile)).subarray(0, 10240));
    const done = await cancelWhen(child, async () => (await readdir(temp)).length > 0);
    child.stdin!.destroy();
    expect(done.code).toBe(143);
    expect(done.ms).toBeLessThan(2_000);
    expect(errorLines(done.stderr)).toHaveLength(1);
    expect(errorLines(done.stderr)[0]).toMatch(
      /^oci-push: cancelled while (reading|extracting) \/dev\/stdin$/,
    );
    expect(await readFile(summary, 'utf8')).toContain('The run was cancelled');
    expect(await readdir(temp)).toEqual([]);
  });

  it('converting a docker-archive', async () => {
    const temp = await newTemp();
    const child = spawn(NODE, [CLI, 'push', legacy, `${registry.host}/s/legacy:1`], {
      env: { PATH: process.env.PATH, HOME: work, RUNNER_TEMP: temp },
      cwd: ROOT,
    });
    // The staged layer appears once gzip has started on it.
    const staging = async (): Promise<boolean> => {
      for (const dir of await readdir(temp).catch(() => []))
        for (const f of await readdir(join(temp, dir)).catch(() => []))
          if (f.startsWith('.oci-push-layer-')) return true;
      return false;
    };
    const done = await cancelWhen(child, staging);
    expect(done.code).toBe(143);
    expect(done.ms).toBeLessThan(2_000);
    expect(errorLines(done.stderr)).toEqual([
      'oci-push: cancelled while converting the docker-archive',
    ]);
    expect(await readdir(temp)).toEqual([]);
  });

  it('extracting an archive, in the action as the runner runs it', async () => {
    const temp = await newTemp();
    // The legacy archive's 160 MiB layer is extracted first: long enough to cancel in the middle.
    const { main, env, summaryFile } = await prepareAction(
      work,
      { layout: legacy, tags: `${registry.host}/s/extract:1` },
      { RUNNER_TEMP: temp, HOME: work },
    );
    const child = spawn(NODE, [main], { env, cwd: ROOT });
    const extracting = async (): Promise<boolean> => {
      for (const dir of await readdir(temp).catch(() => []))
        if (existsSync(join(temp, dir, 'layer0'))) return true;
      return false;
    };
    const done = await cancelWhen(child, extracting);
    expect(done.code).toBe(143);
    expect(done.ms).toBeLessThan(2_000);
    expect(done.stdout).toMatch(/::error::cancelled while (extracting|converting)/);
    expect(await readFile(summaryFile, 'utf8')).toContain('The run was cancelled');
    expect(await readdir(temp)).toEqual([]);
  });
});

describe('media types', () => {
  it('a layout whose media type holds a control character is refused before any request', async () => {
    const layout = join(work, 'bad-media');
    const image = await makeLayout(layout, { seed: 'bad-media', layers: 1, layerSize: 1024 });
    const manifestPath = join(layout, 'blobs', 'sha256', image.digest.slice(7));
    void manifestPath;
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    index.manifests[0].mediaType = 'application/vnd.oci.image.manifest.v1+json\n::error::x';
    await writeFile(join(layout, 'index.json'), JSON.stringify(index));
    const { startFaultProxy } = await import('../support/fault-proxy.js');
    const p = await startFaultProxy(registry, {});
    try {
      const res = await run(NODE, [CLI, 'push', layout, `${p.host}/s/media:1`]);
      expect(res.code).toBe(1);
      expect(errorLines(res.stderr)).toHaveLength(1);
      expect(errorLines(res.stderr)[0]).toMatch(
        /index\.json: manifests\.0\.mediaType: not a media type/,
      );
      expect(res.stderr).not.toContain('::error::x');
      expect(p.log).toEqual([]);
    } finally {
      await p.stop();
    }
  });
});
