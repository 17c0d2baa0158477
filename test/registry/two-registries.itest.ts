import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { makeLayout } from '../support/layouts.js';
import { basic, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';

// Credentials per registry: username and password are for one registry (`registry`, by default
// the first tag's); another gets its own from --creds or from docker's or podman's stored ones.
const A = { user: 'alice', password: 'pw-registry-a-41' };
const B = { user: 'bob', password: 'pw-registry-b-42' };
let work: string;
let layout: string;
let a: RunningRegistry;
let b: RunningRegistry;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-two-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'two-registries', layers: 1 });
  a = await startRegistry({ htpasswd: { [A.user]: A.password } });
  b = await startRegistry({ htpasswd: { [B.user]: B.password } });
  const home = join(work, 'home');
  await mkdir(home);
  env = { PATH: process.env.PATH, HOME: home };
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('two registries', () => {
  it('without credentials for the second, the refusal names it and the fix for it', async () => {
    const res = await runCli(
      [
        'push',
        layout,
        `${a.host}/two/app:1`,
        `${b.host}/two/app:1`,
        '-u',
        A.user,
        '--password-stdin',
        '--diagnose',
        'never',
      ],
      { env, input: A.password },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `\`${b.host}\` asks for credentials (401), and none were found for it: \`--username\` and \`--password\` are for \`${a.host}\` only.`,
    );
    expect(res.stderr).toContain(`--creds ${b.host}=USER:ENV`);
    expect(res.stderr).not.toContain(A.password);
  });

  it('with --creds for the second (its secret in a variable), both are pushed', async () => {
    const res = await runCli(
      [
        'push',
        layout,
        `${a.host}/two/app:1`,
        `${b.host}/two/app:1`,
        '-u',
        A.user,
        '--password-stdin',
        '--creds',
        `${b.host}=${B.user}:REGISTRY_B_SECRET`,
      ],
      { env: { ...env, REGISTRY_B_SECRET: B.password }, input: A.password },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout + res.stderr).not.toContain(B.password);
    expect(await listTags(a.url, 'two/app', basic(A.user, A.password))).toEqual(['1']);
    expect(await listTags(b.url, 'two/app', basic(B.user, B.password))).toEqual(['1']);
  });

  it('--registry names the registry --username is for; --creds HOST=USER takes its secret from stdin', async () => {
    const res = await runCli(
      [
        'push',
        layout,
        `${a.host}/two/reg:1`,
        `${b.host}/two/reg:1`,
        '--registry',
        b.host,
        '--username',
        B.user,
        '--password',
        B.password,
        '--creds',
        `${a.host}=${A.user}`,
      ],
      { env, input: A.password },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(await listTags(a.url, 'two/reg', basic(A.user, A.password))).toEqual(['1']);
    expect(await listTags(b.url, 'two/reg', basic(B.user, B.password))).toEqual(['1']);
  });

  it('one stdin: --creds without a variable and --password-stdin together are a usage error', async () => {
    const res = await runCli(
      [
        'push',
        layout,
        `${a.host}/two/x:1`,
        '-u',
        A.user,
        '--password-stdin',
        '--creds',
        `${b.host}=${B.user}`,
      ],
      { env, input: A.password },
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(
      /--creds .*stdin, which already carries the --password-stdin password/,
    );
  });

  it('the action: registry names the one username and password are for; the other uses stored credentials', async () => {
    const dockerConfig = join(work, 'docker-config');
    await mkdir(dockerConfig, { recursive: true });
    const auth = Buffer.from(`${A.user}:${A.password}`).toString('base64');
    await writeFile(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [a.host]: { auth } } }),
    );
    const action = await runAction(
      work,
      {
        layout,
        tags: `${a.host}/two/action:1\n${b.host}/two/action:1`,
        registry: b.host,
        username: B.user,
        password: B.password,
      },
      { DOCKER_CONFIG: dockerConfig },
    );
    expect(action.code, action.stderr).toBe(0);
    expect(await listTags(a.url, 'two/action', basic(A.user, A.password))).toEqual(['1']);
    expect(await listTags(b.url, 'two/action', basic(B.user, B.password))).toEqual(['1']);
  });

  it('the action without them for the second: the summary names it and the fix in its words', async () => {
    const action = await runAction(work, {
      layout,
      tags: `${a.host}/two/missing:1\n${b.host}/two/missing:1`,
      username: A.user,
      password: A.password,
      diagnose: 'never',
    });
    expect(action.code).toBe(1);
    expect(action.summary).toContain(`\`${b.host}\` asks for credentials (401)`);
    expect(action.summary).toContain(`docker/login-action with \`registry: ${b.host}\``);
  });
});
