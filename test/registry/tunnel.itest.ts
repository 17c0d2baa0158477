import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type HostileMode, startHostileServer } from '../support/hostile-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { runCli } from '../support/run.js';

// The tunnel is a request like any other: a proxy that closes, stalls or answers garbage ends the
// push within request-timeout × (retries + 1) plus back-off, with the proxy named, and retries: 0
// means one CONNECT. A host that takes connections and then closes or never answers is bounded too.
let work: string;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-tunnel-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'tunnel', layers: 1, layerSize: 4096 });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const TIMEOUT = '2s';

/** The CLI pushing to registry.test (a name only the proxy could reach), with `env` added. */
function pushThrough(retries: string, env: NodeJS.ProcessEnv): ReturnType<typeof runCli> {
  return runCli(
    [
      'push',
      layout,
      'registry.test/app:1',
      '--retries',
      retries,
      '--request-timeout',
      TIMEOUT,
      '--diagnose',
      'never',
    ],
    { env: { ...process.env, ...env } },
  );
}

describe('a proxy that does not open the tunnel', () => {
  it.each<[HostileMode]>([
    ['close'],
    ['reset'],
    ['close-after-connect'],
    ['stall'],
    ['garbage'],
    ['stall-after-connect'],
  ])('%s: the CLI with retries 0 sends one CONNECT and names the proxy', async (mode) => {
    const proxy = await startHostileServer(mode);
    const started = Date.now();
    const res = await pushThrough('0', { HTTPS_PROXY: proxy.url, NO_PROXY: '' });
    const seconds = (Date.now() - started) / 1000;
    await proxy.stop();
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/did not open a tunnel to registry\.test/);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(proxy.connections).toBeLessThanOrEqual(1);
    expect(seconds).toBeLessThan(10);
  });

  it('retries 2: three CONNECTs, no more', async () => {
    const proxy = await startHostileServer('close-after-connect');
    const res = await pushThrough('2', { HTTPS_PROXY: proxy.url });
    await proxy.stop();
    expect(res.code).toBe(1);
    expect(proxy.connects).toBe(3);
  });

  it('the action, as the runner runs it: bounded, the proxy named in the summary', async () => {
    const proxy = await startHostileServer('stall');
    const run = await runAction(
      work,
      { layout, tags: 'registry.test/app:1', retries: '0', 'request-timeout': TIMEOUT },
      { HTTPS_PROXY: proxy.url },
    );
    await proxy.stop();
    expect(run.code).toBe(1);
    expect(proxy.connections).toBeLessThanOrEqual(2);
    expect(run.summary).toMatch(/did not open a tunnel to the registry/);
  });
});

describe('a host that takes connections and then closes or never answers', () => {
  it.each<[HostileMode]>([['close'], ['reset'], ['stall']])(
    '%s: retries 0 ends within its bound',
    async (mode) => {
      const host = await startHostileServer(mode, '127.0.0.2');
      const started = Date.now();
      const res = await runCli([
        'push',
        layout,
        `${host.host}/app:1`,
        '--retries',
        '0',
        '--request-timeout',
        TIMEOUT,
        '--diagnose',
        'never',
      ]);
      const seconds = (Date.now() - started) / 1000;
      await host.stop();
      expect(res.code).toBe(1);
      expect(host.connections).toBeLessThanOrEqual(2);
      expect(seconds).toBeLessThan(5);
    },
  );
});

// NO_PROXY as Go reads it, in both shells: a trailing dot is kept (so `registry.test.` does not
// match `registry.test`), and only commas separate entries.
describe('NO_PROXY as Go reads it', () => {
  it.each([
    ['registry.test.', 1],
    ['other.test registry.test', 1],
    ['other.test, registry.test', 0],
  ])('NO_PROXY=%s: the CLI sends %i CONNECT', async (noProxy, connects) => {
    const proxy = await startHostileServer('close');
    const res = await pushThrough('0', { HTTPS_PROXY: proxy.url, NO_PROXY: noProxy });
    await proxy.stop();
    expect(res.code).toBe(1);
    expect(proxy.connections).toBe(connects);
  });

  it('the action reads it the same way', async () => {
    const proxy = await startHostileServer('close');
    const run = await runAction(
      work,
      { layout, tags: 'registry.test/app:1', retries: '0', 'request-timeout': TIMEOUT },
      { HTTPS_PROXY: proxy.url, NO_PROXY: 'registry.test.' },
    );
    await proxy.stop();
    expect(run.code).toBe(1);
    expect(proxy.connections).toBe(1);
  });
});
