import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/util/logger.js';
import { credentialsFor } from '../../src/registry/resolve-credentials.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-push-resolve-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('credentialsFor', () => {
  const env = (): NodeJS.ProcessEnv => ({
    HOME: dir,
    DOCKER_CONFIG: join(dir, 'none'),
    GITHUB_ACTOR: 'octocat',
  });

  it('uses the workflow token for ghcr.io with the actor as user, and masks it', async () => {
    const secret = vi.fn();
    const creds = await credentialsFor('ghcr.io', 'org/app', {
      githubToken: 'ghs_token123',
      env: env(),
      logger: { ...silentLogger, secret },
    });
    expect(creds).toMatchObject({ username: 'octocat', password: 'ghs_token123' });
    expect(secret).toHaveBeenCalledWith('ghs_token123');
  });

  it('falls back to GITHUB_TOKEN from the environment', async () => {
    const creds = await credentialsFor('ghcr.io', 'org/app', {
      env: { ...env(), GITHUB_TOKEN: 'ghs_env' },
      logger: silentLogger,
    });
    expect(creds?.password).toBe('ghs_env');
  });

  it('never sends the workflow token to another registry', async () => {
    expect(
      await credentialsFor('docker.io', 'org/app', {
        githubToken: 'ghs_token123',
        env: env(),
        logger: silentLogger,
      }),
    ).toBeUndefined();
  });

  it('prefers explicit inputs (for their registry only) and stored credentials over the token', async () => {
    const explicit = { username: 'me', password: 'pat', source: 'inputs' };
    expect(
      await credentialsFor('ghcr.io', 'a', {
        explicit,
        explicitRegistry: 'ghcr.io',
        githubToken: 't',
        env: env(),
        logger: silentLogger,
      }),
    ).toBe(explicit);
    expect(
      await credentialsFor('quay.io', 'a', {
        explicit,
        explicitRegistry: 'ghcr.io',
        env: env(),
        logger: silentLogger,
      }),
    ).toBeUndefined();
    const config = join(dir, 'cfg');
    await import('node:fs/promises').then((fs) => fs.mkdir(config));
    await writeFile(
      join(config, 'config.json'),
      JSON.stringify({
        auths: { 'ghcr.io': { auth: Buffer.from('bot:pat2').toString('base64') } },
      }),
    );
    const stored = await credentialsFor('ghcr.io', 'a', {
      githubToken: 't',
      env: { ...env(), DOCKER_CONFIG: config },
      logger: silentLogger,
    });
    expect(stored).toMatchObject({ username: 'bot', password: 'pat2' });
  });
});
