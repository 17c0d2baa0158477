import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type BuiltImage, makeDerivedLayout, makeLayout } from '../support/layouts.js';
import { runCli } from '../support/run.js';
import { type TokenRegistry, startTokenRegistry } from '../support/token-registry.js';

// A layout controls its base annotation. Were a mount trusted on the digest alone, a layout that
// names a private base and holds random bytes in place of its layers would publish the private
// layers in the target, with credentials that may read them. The file is hashed first.
let work: string;
let reg: TokenRegistry;
let base: BuiltImage;
let baseLayers: string[];
const USER = 'deputy';
const PASSWORD = 'pw-borrowed-1';
/** An account the token service gives nothing in private/ (Harbor: not a member of that project). */
const OUTSIDER = 'outsider';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-borrowed-'));
  reg = await startTokenRegistry(
    work,
    { [USER]: PASSWORD, [OUTSIDER]: PASSWORD },
    { grants: (user, repository) => user !== OUTSIDER || !repository.startsWith('private/') },
  );
  base = await makeLayout(join(work, 'base'), {
    seed: 'private-base',
    layers: 2,
    layerSize: 64 * 1024,
  });
  const manifest = JSON.parse(
    await readFile(join(work, 'base', 'blobs', 'sha256', base.digest.slice(7)), 'utf8'),
  ) as { layers: { digest: string }[] };
  baseLayers = manifest.layers.map((l) => l.digest);
  const pushed = await runCli(
    [
      'push',
      join(work, 'base'),
      `${reg.registry.host}/private/base:1`,
      '--username',
      USER,
      '--password-stdin',
    ],
    { input: PASSWORD },
  );
  expect(pushed.code, pushed.stderr).toBe(0);
});
afterAll(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

/** A layout on the private base, its base layers' files replaced by random bytes of their size. */
async function impostor(name: string): Promise<string> {
  const dir = join(work, name);
  await makeDerivedLayout(dir, join(work, 'base'), base, name, 32 * 1024, {
    'org.opencontainers.image.base.name': `${reg.registry.host}/private/base:1`,
  });
  for (const digest of baseLayers) {
    const file = join(dir, 'blobs', 'sha256', digest.slice(7));
    const size = (await readFile(file)).length;
    await writeFile(file, randomBytes(size));
  }
  return dir;
}

/** Whether `repository` serves the blob: HEAD with a pull token for it, as any puller would. */
async function served(repository: string, digest: string): Promise<boolean> {
  const basic = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const tokenUrl = `${reg.tokens.realm}?service=svc&scope=repository:${repository}:pull`;
  const { token } = (await (
    await fetch(tokenUrl, { headers: { authorization: `Basic ${basic}` } })
  ).json()) as { token: string };
  const res = await fetch(`${reg.registry.url}/v2/${repository}/blobs/${digest}`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${token}` },
  });
  return res.status === 200;
}

describe('a layout that names a base it does not hold', () => {
  it('the action refuses it naming the blob, mounts nothing and tags nothing', async () => {
    const dir = await impostor('impostor-action');
    const before = reg.tokens.requests.length;
    const run = await runAction(work, {
      layout: dir,
      tags: `${reg.registry.host}/public/leak:v1`,
      username: USER,
      password: PASSWORD,
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    const layer = baseLayers[0]!;
    expect(run.stdout).toContain(`${layer.slice(7)}: content does not match its digest`);
    expect(run.outputs.digest ?? '').toBe('');
    expect(await served('public/leak', layer)).toBe(false);
    // Pull on exactly the base's repository, and nothing more there.
    const scopes = reg.tokens.requests.slice(before).flatMap((r) => r.scopes);
    const onBase = scopes.filter((s) => s.includes('private/base'));
    expect(onBase.length).toBeGreaterThan(0);
    expect(new Set(onBase)).toEqual(new Set(['repository:private/base:pull']));
  });

  it('the CLI refuses it the same way, exit 1 and one line naming the blob', async () => {
    const dir = await impostor('impostor-cli');
    const res = await runCli(
      ['push', dir, `${reg.registry.host}/public/leak2:v1`, '--username', USER, '--password-stdin'],
      { input: PASSWORD },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/content does not match its digest/);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(await served('public/leak2', baseLayers[0]!)).toBe(false);
  });

  it('a layout that does hold the base mounts it, and the summary says which repository was read', async () => {
    const dir = join(work, 'genuine');
    await makeDerivedLayout(dir, join(work, 'base'), base, 'genuine', 32 * 1024, {
      'org.opencontainers.image.base.name': `${reg.registry.host}/private/base:1`,
    });
    const run = await runAction(work, {
      layout: dir,
      tags: `${reg.registry.host}/public/genuine:v1`,
      username: USER,
      password: PASSWORD,
      diagnose: 'never',
    });
    expect(run.code, run.stdout).toBe(0);
    expect(Number(run.outputs['bytes-mounted'])).toBeGreaterThan(0);
    expect(run.summary).toContain(`**Read from:** \`${reg.registry.host}/private/base\``);
    expect(await served('public/genuine', baseLayers[0]!)).toBe(true);
  });

  it('a mount the registry refuses with 401 (as Harbor does) is named as such, never as a token that expired', async () => {
    const dir = join(work, 'outsider');
    await makeDerivedLayout(dir, join(work, 'base'), base, 'outsider', 32 * 1024);
    const run = await runAction(work, {
      layout: dir,
      tags: `${reg.registry.host}/public/outsider:v1`,
      'mount-from': 'private/base',
      username: OUTSIDER,
      password: PASSWORD,
      diagnose: 'never',
    });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs['bytes-mounted']).toBe('0');
    expect(run.summary).toMatch(/refused to mount blobs from private\/base/);
    expect(run.summary).toMatch(/refused to mount a blob from another repository/);
    expect(run.summary).not.toMatch(/token|lifetime/i);
    const cli = await runCli(
      [
        'push',
        dir,
        `${reg.registry.host}/public/outsider2:v1`,
        '--mount-from',
        'private/base',
        '--username',
        OUTSIDER,
        '--password-stdin',
      ],
      { input: PASSWORD },
    );
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/mounting from private\/base was refused/);
    expect(cli.stderr).not.toMatch(/token|lifetime/i);
  });
});
