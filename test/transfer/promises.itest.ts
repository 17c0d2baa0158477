import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { faultProxies } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { freePort } from '../support/ports.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { CLI, NODE, runCli } from '../support/run.js';

// Every promise the docs make, at its edge: retries 0, a registry that stops answering, a cancel.
let registry: RunningRegistry;
let work: string;
let layout: string;
const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: work });

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-promises-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'promises', layers: 1, layerSize: 4096 });
});
afterAll(async () => {
  await pool.stopAll();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const pool = faultProxies(() => registry);
const proxy = pool.start;

describe('retries: 0 means no retry of any kind', () => {
  it('a refused port fails within 2 s, in the action and the CLI', async () => {
    const port = await freePort();
    let started = Date.now();
    const run = await runAction(work, {
      layout,
      tags: `127.0.0.1:${port}/p/refused:1`,
      retries: '0',
      diagnose: 'never',
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(run.code).toBe(1);
    expect(run.summary).toMatch(/Nothing accepted the connection/);
    started = Date.now();
    const cli = await runCli(
      ['--layout', layout, '--tags', `127.0.0.1:${port}/p/refused:2`, '--retries', '0'],
      { env: env() },
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(cli.code).toBe(1);
  });

  it('a commit that always answers 500 is sent once', async () => {
    const p = await proxy({
      failWhen: [{ method: 'PUT', path: /\/blobs\/uploads\//, status: 500 }],
    });
    const run = await runAction(work, {
      layout,
      tags: `${p.host}/p/commit500:1`,
      retries: '0',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    const puts = p.log.filter((e) => e.method === 'PUT' && /\/blobs\/uploads\//.test(e.path));
    const perBlob = new Map<string, number>();
    for (const e of puts) {
      const digest = /digest=(sha256:[0-9a-f]+)/.exec(e.path)?.[1] ?? '';
      perBlob.set(digest, (perBlob.get(digest) ?? 0) + 1);
    }
    expect(
      [...perBlob.values()].every((n) => n === 1),
      JSON.stringify([...perBlob]),
    ).toBe(true);
    expect(p.log.filter((e) => e.method === 'POST').length).toBe(perBlob.size);
  });
});

describe('a registry that stops answering', () => {
  it('one blob commit never answered (retries: 2): the push ends in bounded time and says why', async () => {
    const p = await proxy({
      neverAnswer: { methods: ['PUT'], path: /\/blobs\/uploads\/.*digest=/ },
    });
    const started = Date.now();
    const run = await runAction(work, {
      layout,
      tags: `${p.host}/p/stalled:1`,
      retries: '2',
      'request-timeout': '3s',
      diagnose: 'never',
    });
    const took = Date.now() - started;
    expect(run.code).toBe(1);
    // Three tries of 3 s each, and the backoff between them (1 + 2 s at most).
    expect(took).toBeLessThan(20_000);
    expect(run.summary).toMatch(/stopped answering/);
    expect(run.summary).toMatch(/no answer after the body was sent within 3\.0 s/);
    expect(run.stdout).toContain('title=oci-push%3A registry-stalled');
    expect(await listTags(registry.url, 'p/stalled')).toEqual([]);
  }, 60_000);
});

describe('diagnose against a registry that answers /v2/ and then nothing', () => {
  const silent = {
    neverAnswer: { methods: ['HEAD', 'GET', 'POST', 'PUT', 'PATCH'], path: /^\/v2\/.+/ },
  };

  it('ends within 30 s by itself', async () => {
    const p = await proxy(silent);
    const started = Date.now();
    const res = await runCli(['diagnose', `${p.host}/p/diag:1`], { env: env() });
    expect(Date.now() - started).toBeLessThan(32_000);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/stopped answering|stopped after 30 s/);
  }, 60_000);

  it('and within 2 s of a SIGTERM, exit 143', async () => {
    const p = await proxy(silent);
    const child = spawn(NODE, [CLI, 'diagnose', `${p.host}/p/diag:2`], {
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const deadline = Date.now() + 10_000;
    while (!p.log.some((e) => e.path.startsWith('/v2/p/')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    child.kill('SIGTERM');
    const code = await exited;
    expect(Date.now() - sent).toBeLessThan(2000);
    expect(code, stderr).toBe(143);
  }, 30_000);
});

describe('upload sessions that expire', () => {
  it('a registry that drops sessions after a few seconds is named as such, not as replicas', async () => {
    const p = await proxy({ sessionLifetimeMs: 5000, slowBodies: 512 << 10 });
    const big = join(work, 'big');
    await makeLayout(big, { seed: 'expiring', layers: 1, layerSize: 4 << 20 });
    const run = await runAction(work, {
      layout: big,
      tags: `${p.host}/p/expiring:1`,
      'upload-mode': 'chunked',
      'chunk-size': '1MiB',
      retries: '2',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('title=oci-push%3A session-expired');
    expect(run.stdout).not.toContain('no-shared-secret');
    expect(run.summary).toMatch(/Upload sessions expired before the blob was sent/);
  }, 90_000);
});
