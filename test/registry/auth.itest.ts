import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSigned } from '../support/certs.js';
import { makeLayout } from '../support/layouts.js';
import { basic, layoutContents, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';
import { type TokenServer, startTokenServer } from '../support/token-server.js';

const USER = 'pusher';
const PASSWORD = 'S3cret-pa55word-for-tests';

let work: string;
let layout: string;
let digest: string;
/** An environment with no stored credentials anywhere, so each test says where its own come from. */
let cleanEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-auth-'));
  layout = join(work, 'layout');
  digest = (await makeLayout(layout, { seed: 'auth', layers: 2 })).digest;
  const home = join(work, 'home');
  await mkdir(home);
  cleanEnv = { PATH: process.env.PATH, HOME: home };
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('htpasswd Basic auth', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { [USER]: PASSWORD } });
  });
  afterAll(() => registry?.stop());

  it('pushes with the username and password inputs', async () => {
    const ref = `${registry.host}/basic/app:1`;
    const res = await runCli(
      ['--layout', layout, '--tags', ref, '--username', USER, '--password-stdin', '--verbose'],
      {
        env: cleanEnv,
        input: PASSWORD,
      },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
    expect(await listTags(registry.url, 'basic/app', basic(USER, PASSWORD))).toEqual(['1']);
  });

  it('fails at the start with exit 1 when the password is wrong, naming where the credentials came from', async () => {
    const res = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `${registry.host}/basic/wrong:1`,
        '--username',
        USER,
        '--password',
        'not-it',
      ],
      {
        env: cleanEnv,
      },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/refused the credentials from the username and password flags/);
    expect(res.stderr).toContain(
      'probable cause: The registry refused the credentials at the start',
    );
    expect(res.stderr).toContain('401');
    expect(res.stderr).not.toContain('not-it');
    expect(await listTags(registry.url, 'basic/wrong', basic(USER, PASSWORD))).toEqual([]);
  });

  it('reads credentials from a Docker config.json written by docker login', async () => {
    const dockerConfig = join(work, 'docker-config');
    await mkdir(dockerConfig, { recursive: true });
    const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    await writeFile(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [`http://${registry.host}`]: { auth } } }),
    );
    const res = await runCli(
      ['--layout', layout, '--tags', `${registry.host}/basic/fromconfig:1`, '--verbose'],
      {
        env: { ...cleanEnv, DOCKER_CONFIG: dockerConfig },
      },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`credentials from ${join(dockerConfig, 'config.json')}`);
    expect(res.stderr).not.toContain(auth);
    expect(await listTags(registry.url, 'basic/fromconfig', basic(USER, PASSWORD))).toEqual(['1']);
  });

  it('asks a docker-credential helper named by credHelpers', async () => {
    const dockerConfig = join(work, 'helper-config');
    const bin = join(work, 'bin');
    await mkdir(dockerConfig, { recursive: true });
    await mkdir(bin, { recursive: true });
    await writeFile(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ credHelpers: { [registry.host]: 'testhelper' } }),
    );
    // The helper protocol: `get` reads the server URL on stdin and prints JSON.
    const helper = join(bin, 'docker-credential-testhelper');
    await writeFile(
      helper,
      `#!/bin/sh\nread server\n[ "$1" = get ] || exit 1\nprintf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\n`,
    );
    await chmod(helper, 0o755);
    const res = await runCli(
      ['--layout', layout, '--tags', `${registry.host}/basic/fromhelper:1`],
      {
        env: { ...cleanEnv, DOCKER_CONFIG: dockerConfig, PATH: `${bin}:${process.env.PATH}` },
      },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('credential helper docker-credential-testhelper');
    expect(await listTags(registry.url, 'basic/fromhelper', basic(USER, PASSWORD))).toEqual(['1']);
  });

  it('asks the credsStore helper for every registry, as docker/login-action leaves it', async () => {
    const dockerConfig = join(work, 'store-config');
    const bin = join(work, 'store-bin');
    await mkdir(dockerConfig, { recursive: true });
    await mkdir(bin, { recursive: true });
    await writeFile(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [registry.host]: {} }, credsStore: 'teststore' }),
    );
    const helper = join(bin, 'docker-credential-teststore');
    await writeFile(
      helper,
      `#!/bin/sh\nread server\n[ "$server" = "${registry.host}" ] || { echo "credentials not found in native keychain"; exit 1; }\nprintf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\n`,
    );
    await chmod(helper, 0o755);
    const res = await runCli(['--layout', layout, '--tags', `${registry.host}/basic/fromstore:1`], {
      env: { ...cleanEnv, DOCKER_CONFIG: dockerConfig, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('credential helper docker-credential-teststore');
    expect(await listTags(registry.url, 'basic/fromstore', basic(USER, PASSWORD))).toEqual(['1']);
  });

  it('reads podman auth.json from REGISTRY_AUTH_FILE', async () => {
    const file = join(work, 'auth.json');
    await writeFile(
      file,
      JSON.stringify({
        auths: {
          [`${registry.host}/basic`]: {
            auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
          },
        },
      }),
    );
    const res = await runCli(
      ['--layout', layout, '--tags', `${registry.host}/basic/frompodman:1`],
      {
        env: { ...cleanEnv, REGISTRY_AUTH_FILE: file },
      },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(await listTags(registry.url, 'basic/frompodman', basic(USER, PASSWORD))).toEqual(['1']);
  });

  it('fails clearly when no credentials are found', async () => {
    const res = await runCli(['--layout', layout, '--tags', `${registry.host}/basic/anon:1`], {
      env: cleanEnv,
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/refused anonymous access \(no credentials found\)/);
    expect(res.stderr).toContain(
      'probable cause: The registry asks for credentials (401), and none were found for it.',
    );
  });
});

describe('Bearer token auth', () => {
  let registry: RunningRegistry;
  let tokens: TokenServer;
  beforeAll(async () => {
    const cert = makeSelfSigned(work, 'token-issuer');
    const service = 'oci-push-test-registry';
    const issuer = 'oci-push-test-issuer';
    tokens = await startTokenServer({ users: { [USER]: PASSWORD }, service, issuer, ...cert });
    registry = await startRegistry({
      token: { realm: tokens.realm, service, issuer, certFile: cert.certFile },
    });
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  it('gets a push token from the realm and pushes; skopeo pulls the image back with the same credentials', async () => {
    const ref = `${registry.host}/token/app:1`;
    const res = await runCli(
      ['--layout', layout, '--tags', ref, '--username', USER, '--password', PASSWORD, '--verbose'],
      { env: cleanEnv },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(
      tokens.requests.some(
        (r) => r.authorized && r.scopes.includes('repository:token/app:pull,push'),
      ),
    ).toBe(true);
    for (const token of tokens.issued) expect(res.stderr + res.stdout).not.toContain(token);
    expect(res.stderr).not.toContain(PASSWORD);
    const dest = join(work, 'token-pull');
    const pulled = await skopeoPull(ref, dest, `${USER}:${PASSWORD}`);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await layoutContents(dest)).top).toBe(digest);
  });

  it('asks for pull on the source repository so a second repository can mount', async () => {
    const res = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `${registry.host}/token/src:1`,
        '--tags',
        `${registry.host}/token/dst:1`,
        '--username',
        USER,
        '--password',
        PASSWORD,
        '--verbose',
      ],
      { env: cleanEnv },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(tokens.requests.some((r) => r.scopes.includes('repository:token/src:pull'))).toBe(true);
    expect(res.stderr).toMatch(/mount=sha256:[a-f0-9]+&from=token\/src → 201/);
  });

  it('reports the token service refusing wrong credentials, with exit 1', async () => {
    const res = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `${registry.host}/token/bad:1`,
        '--username',
        USER,
        '--password',
        'wrong-password',
      ],
      {
        env: cleanEnv,
      },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /the token service refused the credentials from the username and password flags/,
    );
    expect(res.stderr).not.toContain('wrong-password');
  });
});
