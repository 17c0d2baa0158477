import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { makeSelfSigned } from '../support/certs.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { freePort } from '../support/ports.js';
import { runCli } from '../support/run.js';
import { type TokenServer, startTokenServer } from '../support/token-server.js';

// Answers oci-push refuses to act on get causes of their own, never a neighbour's ("vanished after
// it was acknowledged", "no answer").
let work: string;
let layout: string;
const cleanEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: work });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-edge-causes-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'edge-causes', layers: 1, layerSize: 4096 });
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('blob reads redirected where they cannot be followed', () => {
  let registry: RunningRegistry;
  const proxies: FaultProxy[] = [];
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await registry?.stop();
  });

  it.each([
    // Relative, so it comes back to the same rule: a loop.
    [
      'in a loop',
      `/v2/loop/blobs/sha256:${'0'.repeat(64)}`,
      'redirect-loop',
      /redirects blob reads in a loop/,
    ],
    ['to file:', 'file:///etc/passwd', 'redirect-scheme', /not http or https \(such as `file:`\)/],
  ])('a blob HEAD redirected %s names that cause', async (_name, location, id, title) => {
    const q = await startFaultProxy(registry, {
      failWhen: [{ method: 'HEAD', path: /\/blobs\/sha256:/, status: 307, headers: { location } }],
    });
    proxies.push(q);
    const run = await runAction(work, {
      layout,
      tags: `${q.host}/edge/redirect:1`,
      retries: '1',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(run.summary).toMatch(title);
    expect(run.summary).not.toMatch(/vanished|acknowledged the upload/);
    expect(run.stdout).toContain(`title=oci-push%3A ${id}`);
    expect(await listTags(registry.url, 'edge/redirect')).toEqual([]);
  });
});

describe('upload Locations on a host the runner cannot reach', () => {
  let registry: RunningRegistry;
  let q: FaultProxy | undefined;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await q?.stop();
    await registry?.stop();
  });

  it('names that host and the proxy fix, not the host in tags, when its path is no session on the registry either', async () => {
    const port = await freePort();
    q = await startFaultProxy(registry, { uploadsVia: `http://127.0.0.2:${port}/internal` });
    const run = await runAction(work, {
      layout,
      tags: `${q.host}/edge/location:1`,
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('title=oci-push%3A location-unreachable');
    expect(run.summary).toMatch(/upload Locations name another host/);
    expect(run.summary).toContain(`127.0.0.2:${port}`);
    expect(run.summary).not.toMatch(/Check the host and port in `tags`/);
  });
});

describe('token realms oci-push will not send credentials to', () => {
  let tokens: TokenServer;
  let secure: RunningRegistry;
  let ftp: RunningRegistry;
  let caFile: string;
  const USER = 'realm-user';
  const PASSWORD = 'realm-password-1';
  beforeAll(async () => {
    const issuer = makeSelfSigned(work, 'realm-issuer');
    // The realm is on another loopback address, over plain http.
    tokens = await startTokenServer({
      users: { [USER]: PASSWORD },
      service: 'svc',
      issuer: 'iss',
      address: '127.0.0.2',
      ...issuer,
    });
    const tls = makeSelfSigned(work, 'realm-registry', ['127.0.0.1']);
    caFile = tls.certFile;
    const token = { realm: tokens.realm, service: 'svc', issuer: 'iss', certFile: issuer.certFile };
    secure = await startRegistry({ tls, token });
    ftp = await startRegistry({ token: { ...token, realm: 'ftp://127.0.0.2/token' } });
  });
  afterAll(async () => {
    await secure?.stop();
    await ftp?.stop();
    await tokens?.stop();
  });

  const push = (host: string, repo: string, extra: string[] = []): ReturnType<typeof runCli> =>
    runCli(
      [
        '--layout',
        layout,
        '--tags',
        `${host}/${repo}:1`,
        '--username',
        USER,
        '--password-stdin',
        ...extra,
      ],
      { input: PASSWORD, env: cleanEnv() },
    );

  it('an https registry with a plain-http realm on loopback: refused, said why, no credentials sent', async () => {
    const before = tokens.requests.length;
    const started = Date.now();
    const res = await push(secure.host, 'edge/realm', ['--ca-file', caFile, '--diagnose', 'never']);
    expect(res.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(res.stderr).toMatch(
      /token service .* is on plain http while the registry is reached over https/,
    );
    expect(res.stderr).not.toMatch(/no answer|network error/i);
    expect(tokens.requests.length).toBe(before);
    expect(res.stderr).not.toContain(PASSWORD);
  });

  it('the action names the same cause in its summary and annotation', async () => {
    const run = await runAction(work, {
      layout,
      tags: `${secure.host}/edge/realm-action:1`,
      username: USER,
      password: PASSWORD,
      'ca-file': caFile,
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('title=oci-push%3A realm-insecure');
    expect(run.summary).toMatch(/is on plain http while the registry is reached over https/);
  });

  it('with insecure: true the same realm is used, and the push works', async () => {
    const res = await push(secure.host, 'edge/realm-insecure', ['--insecure']);
    expect(res.code, res.stderr).toBe(0);
  });

  it('a realm that is not http(s) is named as such', async () => {
    const res = await push(ftp.host, 'edge/realm-ftp', ['--diagnose', 'never']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/not an http or https URL/);
    expect(res.stderr).not.toMatch(/no answer|network error/i);
  });
});
