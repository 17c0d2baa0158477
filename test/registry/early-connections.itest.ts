import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type ForwardProxy, startForwardProxy } from '../support/connect-proxy.js';
import { FAR_HOST, ensureHostName, farCertificates } from '../support/far-host.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';
import { type TcpCounter, startTcpCounter } from '../support/tcp-counter.js';

// A registry known by a name (not loopback), over TLS: the shells open its TCP connection as soon
// as they have read the settings, and the first TLS handshake goes over it. Each connection the
// registry sees then carries TLS: one left idle would be a connection opened for nothing.
let work: string;
let registry: RunningRegistry;
let caFile: string;
let counter: TcpCounter;
let image: string;
let certs: string;

beforeAll(async () => {
  await ensureHostName();
  work = await mkdtemp(join(tmpdir(), 'oci-push-early-'));
  const { cert, dir } = await farCertificates();
  certs = dir;
  caFile = cert.certFile;
  registry = await startRegistry({ tls: cert });
  counter = await startTcpCounter(registry.port);
  image = join(work, 'image');
  await makeLayout(image, { seed: 'early', layers: 3, layerSize: 32 << 10 });
});
afterAll(async () => {
  await counter?.stop();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
  await rm(certs, { recursive: true, force: true });
});

describe('the connection opened before the HTTP stack loads', () => {
  it('carries the CLI’s first TLS handshake, on a fresh push and a re-push', async () => {
    const ref = `${FAR_HOST}:${counter.port}/early/cli:1`;
    for (const round of ['fresh', 're-push']) {
      const before = counter.connections();
      const res = await runCli(['--layout', image, '--tags', ref, '--ca-file', caFile]);
      expect(res.code, `${round}: ${res.stderr}`).toBe(0);
      expect(counter.connections()).toBeGreaterThan(before);
      expect(counter.tlsConnections(), round).toBe(counter.connections());
    }
    expect((await skopeoPull(ref, join(work, 'pulled-cli'))).code).toBe(0);
  });

  it('carries the action’s, run as the runner runs it', async () => {
    const ref = `${FAR_HOST}:${counter.port}/early/action:1`;
    const before = counter.connections();
    const res = await runAction(work, { layout: image, tags: ref, 'ca-file': caFile });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.outputs.refs).toContain(ref);
    expect(counter.connections()).toBeGreaterThan(before);
    expect(counter.tlsConnections()).toBe(counter.connections());
    expect((await skopeoPull(ref, join(work, 'pulled-action'))).code).toBe(0);
  });

  describe('through a proxy', () => {
    let proxy: ForwardProxy;
    beforeAll(async () => (proxy = await startForwardProxy()));
    afterAll(async () => proxy?.stop());

    it('the registry is never dialled directly: every connection comes through the tunnel', async () => {
      const ref = `${FAR_HOST}:${counter.port}/early/proxied:1`;
      const before = counter.connections();
      const res = await runCli(['--layout', image, '--tags', ref, '--ca-file', caFile], {
        env: { ...process.env, HTTPS_PROXY: proxy.url, NO_PROXY: '' },
      });
      expect(res.code, res.stderr).toBe(0);
      const tunnels = proxy.seen.filter((s) => s === `CONNECT ${FAR_HOST}:${counter.port}`);
      expect(tunnels.length).toBeGreaterThan(0);
      expect(counter.connections() - before).toBe(tunnels.length);
    });
  });

  it('a registry that refuses connections is reported as before, naming it', async () => {
    const closed = await startTcpCounter(1);
    const port = closed.port;
    await closed.stop();
    const res = await runCli([
      '--layout',
      image,
      '--tags',
      `${FAR_HOST}:${port}/early/refused:1`,
      '--ca-file',
      caFile,
      '--retries',
      '0',
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${FAR_HOST}:${port}`);
    expect(res.stderr).toMatch(/refused/i);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });
});
