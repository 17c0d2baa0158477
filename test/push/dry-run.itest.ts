import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';

// `dry-run`: validate, connect, authenticate, ask what exists, say what a push would send; write
// nothing: no POST, PUT, PATCH or DELETE reaches the registry.
let registry: RunningRegistry;
let work: string;
let dir: string;
const USER = 'dry';
const PASSWORD = 'pw-dry-run-7';

beforeAll(async () => {
  registry = await startRegistry({ htpasswd: { [USER]: PASSWORD } });
  work = await mkdtemp(join(tmpdir(), 'oci-push-dry-run-'));
  dir = join(work, 'image');
  await makeLayout(dir, { seed: 'dry-run', layers: 3, layerSize: 8192 });
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const writes = (p: FaultProxy): string[] =>
  p.log
    .filter((e) => e.method !== 'GET' && e.method !== 'HEAD')
    .map((e) => `${e.method} ${e.path}`);

describe('dry-run', () => {
  it('the CLI checks each blob and says what it would send and tag; nothing is written', async () => {
    const p = await startFaultProxy(registry);
    try {
      const ref = `${p.host}/dry/app:1`;
      const auth = ['--username', USER, '--password-stdin'];
      const res = await runCli(['push', dir, ref, '--dry-run', '--json', ...auth], {
        input: PASSWORD,
      });
      expect(res.code, res.stderr).toBe(0);
      const json = JSON.parse(res.stdout) as {
        ok: boolean;
        refs: string[];
        'dry-run': Record<string, unknown>;
      };
      expect(json['dry-run']).toMatchObject({ wouldUpload: 4, present: 0, wouldTag: [ref] });
      expect(json.refs).toEqual([]);
      expect(res.stderr).toMatch(/would upload 4 of 4 blobs/);
      expect(writes(p)).toEqual([]);
      expect(p.log.filter((e) => e.method === 'HEAD')).toHaveLength(4);
      expect(await listTags(registry.url, 'dry/app', `${USER}:${PASSWORD}`)).toEqual([]);
      // After a real push, a dry run finds everything there.
      const pushed = await runCli(['push', dir, ref, ...auth], { input: PASSWORD });
      expect(pushed.code, pushed.stderr).toBe(0);
      const again = await runCli(['push', dir, ref, '--dry-run', '--json', ...auth], {
        input: PASSWORD,
      });
      expect(JSON.parse(again.stdout)['dry-run']).toMatchObject({ wouldUpload: 0, present: 4 });
    } finally {
      await p.stop();
    }
  });

  it('the action writes nothing either; its summary says it was a dry run', async () => {
    const p = await startFaultProxy(registry);
    try {
      const action = await runAction(work, {
        layout: dir,
        tags: `${p.host}/dry/action:1`,
        username: USER,
        password: PASSWORD,
        'dry-run': 'true',
      });
      expect(action.code, action.stderr).toBe(0);
      expect(action.summary).toMatch(/dry run .*nothing written/);
      expect(action.summary).toMatch(/Would upload:\*\* 4 blobs/);
      expect(writes(p)).toEqual([]);
      expect(action.outputs.refs).toBe('[]');
    } finally {
      await p.stop();
    }
  });

  it('bad credentials fail a dry run as they would fail the push', async () => {
    const res = await runCli(
      [
        'push',
        dir,
        `${registry.host}/dry/app:1`,
        '--dry-run',
        '--username',
        USER,
        '--password-stdin',
        '--diagnose',
        'never',
      ],
      { input: 'wrong' },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/credentials|401|unauthorized/i);
  });
});
