import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/util/logger.js';
import { lookupCredentials, normaliseAuthKey } from '../../src/registry/credentials.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-push-creds-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('normaliseAuthKey', () => {
  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['https://ghcr.io', 'ghcr.io'],
    ['http://127.0.0.1:5000/', '127.0.0.1:5000'],
    ['quay.io/org', 'quay.io/org'],
    ['LOCALHOST:5000', 'localhost:5000'],
    ['https://Registry.Example.com:443/v2/', 'registry.example.com'],
    ['Quay.io/Org', 'quay.io/Org'],
  ])('%s → %s', (key, expected) => {
    expect(normaliseAuthKey(key)).toBe(expected);
  });
});

describe('lookupCredentials', () => {
  it('finds Docker Hub credentials under the index.docker.io key and registers every secret', async () => {
    const config = join(dir, 'hub');
    await import('node:fs/promises').then((fs) => fs.mkdir(config));
    await writeFile(
      join(config, 'config.json'),
      JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('me:hub-secret') } } }),
    );
    const secret = vi.fn();
    const creds = await lookupCredentials('docker.io', 'me/app', {
      env: { DOCKER_CONFIG: config },
      home: dir,
      logger: { ...silentLogger, secret },
    });
    expect(creds).toMatchObject({ username: 'me', password: 'hub-secret' });
    expect(secret).toHaveBeenCalledWith('hub-secret');
    expect(secret).toHaveBeenCalledWith(b64('me:hub-secret'));
  });

  it('prefers the most specific podman entry and falls back to anonymous', async () => {
    const file = join(dir, 'auth.json');
    await writeFile(
      file,
      JSON.stringify({
        auths: { 'quay.io': { auth: b64('all:one') }, 'quay.io/team': { auth: b64('team:two') } },
      }),
    );
    const env = { REGISTRY_AUTH_FILE: file, DOCKER_CONFIG: join(dir, 'none') };
    expect(
      await lookupCredentials('quay.io', 'team/app', { env, home: dir, logger: silentLogger }),
    ).toMatchObject({ username: 'team' });
    expect(
      await lookupCredentials('quay.io', 'other/app', { env, home: dir, logger: silentLogger }),
    ).toMatchObject({ username: 'all' });
    expect(
      await lookupCredentials('ghcr.io', 'x/y', { env, home: dir, logger: silentLogger }),
    ).toBeUndefined();
  });

  it('names the file when a config is malformed', async () => {
    const config = join(dir, 'broken');
    await import('node:fs/promises').then((fs) => fs.mkdir(config));
    await writeFile(join(config, 'config.json'), '{ nope');
    await expect(
      lookupCredentials('ghcr.io', 'a', {
        env: { DOCKER_CONFIG: config },
        home: dir,
        logger: silentLogger,
      }),
    ).rejects.toThrow(/broken\/config\.json: malformed JSON/);
  });

  it('warns and carries on when a credsStore helper is not installed', async () => {
    const config = join(dir, 'store');
    await import('node:fs/promises').then((fs) => fs.mkdir(config));
    await writeFile(
      join(config, 'config.json'),
      JSON.stringify({ credsStore: 'absent-helper-xyz' }),
    );
    const warning = vi.fn();
    const creds = await lookupCredentials('ghcr.io', 'a', {
      env: { DOCKER_CONFIG: config, PATH: '/nonexistent' },
      home: dir,
      logger: { ...silentLogger, warning },
    });
    expect(creds).toBeUndefined();
    expect(warning.mock.calls[0]?.[0]).toMatch(/docker-credential-absent-helper-xyz could not run/);
  });
});
