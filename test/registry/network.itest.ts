import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSigned } from '../support/certs.js';
import { type ForwardProxy, startForwardProxy } from '../support/connect-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';

let work: string;
let layout: string;
let n = 0;
/** No proxy or CA settings leak in from the machine running the tests. */
const baseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: work });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-network-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'network', layers: 1 });
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('proxies from the environment', () => {
  let registry: RunningRegistry;
  let proxy: ForwardProxy;
  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startForwardProxy();
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it.each([
    ['HTTP_PROXY', 'HTTPS_PROXY'],
    ['http_proxy', 'https_proxy'],
  ])(
    'a loopback registry is reached directly even with %s / %s set (as Go decides)',
    async (httpVar, httpsVar) => {
      // A service container on localhost is local: sending it to a corporate proxy would fail there.
      // Proxied registries are tested by name through squid (corporate-proxy.itest.ts).
      const before = proxy.seen.length;
      const res = await runCli(
        ['--layout', layout, '--tags', `${registry.host}/proxied/r${++n}:1`],
        {
          env: { ...baseEnv(), [httpVar]: proxy.url, [httpsVar]: proxy.url },
        },
      );
      expect(res.code, res.stderr).toBe(0);
      expect(proxy.seen.slice(before)).toEqual([]);
    },
  );

  it.each(['NO_PROXY', 'no_proxy'])('bypasses the proxy for hosts in %s', async (noProxyVar) => {
    const before = proxy.seen.length;
    const res = await runCli(['--layout', layout, '--tags', `${registry.host}/direct/r${++n}:1`], {
      env: {
        ...baseEnv(),
        HTTP_PROXY: proxy.url,
        HTTPS_PROXY: proxy.url,
        [noProxyVar]: '127.0.0.1',
      },
    });
    expect(res.code, res.stderr).toBe(0);
    expect(proxy.seen.slice(before)).toEqual([]);
  });
});

describe('certificates', () => {
  let registry: RunningRegistry;
  let certFile: string;
  beforeAll(async () => {
    const cert = makeSelfSigned(work, 'registry-tls', ['127.0.0.1', 'localhost']);
    certFile = cert.certFile;
    registry = await startRegistry({ tls: cert });
  });
  afterAll(() => registry?.stop());

  it('says plainly when the certificate is not trusted', async () => {
    const repo = `tls/r${++n}`;
    const res = await runCli(['--layout', layout, '--tags', `${registry.host}/${repo}:1`], {
      env: baseEnv(),
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(`the certificate of ${registry.host} is not trusted \\(self-signed\\)`),
    );
    expect(res.stderr).toContain("probable cause: The registry's TLS certificate is self-signed.");
    // Said once: the library's own "(self-signed certificate)" does not repeat the context.
    expect(res.stderr).not.toContain('(self-signed certificate)');
  });

  it('trusts the registry CA given with ca-file, for this step only', async () => {
    const repo = `tls/r${++n}`;
    const res = await runCli(
      ['--layout', layout, '--tags', `${registry.host}/${repo}:1`, '--ca-file', certFile],
      { env: baseEnv() },
    );
    expect(res.code, res.stderr).toBe(0);
  });

  it('trusts NODE_EXTRA_CA_CERTS', async () => {
    const repo = `tls/r${++n}`;
    const res = await runCli(['--layout', layout, '--tags', `${registry.host}/${repo}:1`], {
      env: { ...baseEnv(), NODE_EXTRA_CA_CERTS: certFile },
    });
    expect(res.code, res.stderr).toBe(0);
  });

  it('accepts an unverifiable certificate with insecure', async () => {
    const repo = `tls/r${++n}`;
    const res = await runCli(
      ['--layout', layout, '--tags', `${registry.host}/${repo}:1`, '--insecure'],
      { env: baseEnv() },
    );
    expect(res.code, res.stderr).toBe(0);
  });

  it('names an unreadable ca-file', async () => {
    const res = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `${registry.host}/tls/x:1`,
        '--ca-file',
        join(work, 'missing.pem'),
      ],
      { env: baseEnv() },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/ca-file .*missing\.pem: cannot read \(ENOENT\)/);
  });
});
