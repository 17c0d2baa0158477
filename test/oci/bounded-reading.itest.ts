import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OCI_INDEX, makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { CLI, NODE, run, runCli } from '../support/run.js';

// Hostile inputs meet a bound: a graph walked once per distinct document, a pipe that cannot hold
// a thread, an archive that cannot fill the disk.
let registry: RunningRegistry;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-bounded-'));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('index graphs', () => {
  it('8 levels of indexes, each listing its child 20 times, push in seconds', async () => {
    const dir = join(work, 'wide');
    const built = await makeLayout(dir, { seed: 'wide', layers: 1, layerSize: 1024 });
    let child = { mediaType: built.mediaType, digest: built.digest, size: 0 };
    const { stat } = await import('node:fs/promises');
    child.size = (await stat(join(dir, 'blobs', 'sha256', built.digest.slice(7)))).size;
    for (let level = 0; level < 8; level++) {
      const raw = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: Array.from({ length: 20 }, () => child),
        }),
      );
      const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
      await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), raw);
      child = { mediaType: OCI_INDEX, digest, size: raw.length };
    }
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [child] }),
    );
    const started = Date.now();
    const res = await runCli(['--layout', dir, '--tags', `${registry.host}/bounded/wide:1`], {
      env: { PATH: process.env.PATH, HOME: work },
    });
    expect(res.code, res.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(res.stdout).toContain(child.digest);
  });
});

describe('a named pipe with no writer', () => {
  it('SIGTERM ends the run within 2 s, exit 143, nothing left in the temp folder', async () => {
    const temp = join(work, 'fifo-temp');
    await mkdir(temp);
    const fifo = join(work, 'image.fifo');
    expect((await run('mkfifo', [fifo])).code).toBe(0);
    const child = spawn(
      NODE,
      [CLI, '--layout', fifo, '--tags', `${registry.host}/bounded/fifo:1`],
      {
        env: { PATH: process.env.PATH, HOME: work, RUNNER_TEMP: temp },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 800));
    const sent = Date.now();
    child.kill('SIGTERM');
    const code = await exited;
    expect(Date.now() - sent).toBeLessThan(2000);
    expect(code, stderr).toBe(143);
    expect(stderr).toMatch(/cancel/);
    expect(await readdir(temp)).toEqual([]);
  });
});

describe('archives that expand', () => {
  it('a gzip bomb is refused before it fills the disk, naming the archive', async () => {
    const bomb = join(work, 'bomb.tar.gz');
    const archive = pack();
    const zeros = Buffer.alloc(1 << 20);
    // tar-stream's entries are streamx streams; its typings call write and end with no callback.
    const entry = archive.entry({ name: 'manifest.json', size: 300 << 20 }) as unknown as {
      write(b: Buffer): boolean;
      end(): void;
      once(event: string, fn: () => void): void;
    };
    void (async () => {
      for (let i = 0; i < 300; i++)
        if (!entry.write(zeros)) await new Promise<void>((r) => entry.once('drain', () => r()));
      entry.end();
      archive.finalize();
    })();
    await pipeline(archive, createGzip(), createWriteStream(bomb));
    const temp = join(work, 'bomb-temp');
    await mkdir(temp);
    const started = Date.now();
    const res = await runCli(['--layout', bomb, '--tags', `${registry.host}/bounded/bomb:1`], {
      env: { PATH: process.env.PATH, HOME: work, RUNNER_TEMP: temp },
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /bomb\.tar\.gz: expands to more than 64(\.0)? MiB \(50 times its own size\)/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await readdir(temp)).toEqual([]);
  });
});
