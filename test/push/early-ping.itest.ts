import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';

// `GET /v2/` goes out while the image is read, so its round trip overlaps the reading.
const USER = 'early';
const PASSWORD = 'pw-early-ping-1';
let registry: RunningRegistry;
let work: string;

beforeAll(async () => {
  registry = await startRegistry({ htpasswd: { [USER]: PASSWORD } });
  work = await mkdtemp(join(tmpdir(), 'oci-push-early-'));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('the early GET /v2/', () => {
  it('is anonymous, is asked once, and the push uses its answer', async () => {
    const dir = join(work, 'image');
    await makeLayout(dir, { seed: 'early', layers: 2 });
    const p: FaultProxy = await startFaultProxy(registry);
    try {
      const res = await runCli(
        [
          '--layout',
          dir,
          '--tags',
          `${p.host}/early/app:1`,
          '--username',
          USER,
          '--password-stdin',
        ],
        { input: PASSWORD },
      );
      expect(res.code, res.stderr).toBe(0);
      // One anonymous ping, first; no credentials before the scheme and the challenge are known.
      // After it, every request carries them (a Basic registry's own GET /v2/ checks the password).
      const anonymous = p.log.filter((e) => !e.authorization);
      expect(anonymous.map((e) => [e.n, e.method, e.path])).toEqual([[1, 'GET', '/v2/']]);
      expect(p.log.filter((e) => e.path === '/v2/')).toHaveLength(2);
    } finally {
      await p.stop();
    }
  });

  it('is never sent for a bad image: the input error comes at once and no connection is made', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const dir = join(work, 'broken');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(dir, 'index.json'), '{ not json');
    try {
      const res = await runCli(['--layout', dir, '--tags', `127.0.0.1:${port}/early/app:1`]);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/index\.json: malformed JSON/);
      // Refused input sends no request at all, not even the anonymous GET /v2/.
      expect(sockets.size).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  }, 20_000);
});
