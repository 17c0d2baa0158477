import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { CLI, NODE, run, runCli } from '../support/run.js';

// What a person reads from the CLI, run as they run it: dist/cli.js, in a pipe and on a terminal.
let registry: RunningRegistry;
let slow: FaultProxy;
let work: string;
let layout: string;
let big: string;

beforeAll(async () => {
  registry = await startRegistry();
  slow = await startFaultProxy(registry, { slowBodies: 16 << 20 });
  work = await mkdtemp(join(tmpdir(), 'oci-push-reading-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'reading', layers: 1, layerSize: 4096 });
  big = join(work, 'big');
  await makeLayout(big, { seed: 'reading-big', layers: 1, layerSize: 24 << 20 });
});
afterAll(async () => {
  await slow?.stop();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const env = { PATH: process.env.PATH, HOME: '/nonexistent' };

describe('the CLI', () => {
  it('--version prints the package version', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    const res = await runCli(['--version']);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`oci-push ${version}\n`);
  });

  it('--json prints JSON for a usage error too, with exit 2', async () => {
    const res = await runCli(['--json', '--tags', 'x::1', '--layout', layout]);
    expect(res.code).toBe(2);
    const json = JSON.parse(res.stdout) as { ok: boolean; usage: boolean; error: string };
    expect(json).toMatchObject({ ok: false, usage: true });
    expect(json.error).toContain('tag "x::1": has \'::\'');
  });

  it.each([
    ['a:1 b:2', 'contains a space'],
    ['x::1', "has '::'"],
    ['Reg.io/Team/App:1', 'repository names are lowercase'],
  ])('tag %j: exit 2 naming the tag and what is wrong', async (tag, why) => {
    const res = await runCli(['--layout', layout, '--tags', tag]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`tag ${JSON.stringify(tag)}: ${why}`);
  });

  it('--quiet prints only the result', async () => {
    const res = await runCli([
      '--layout',
      layout,
      '--tags',
      `${registry.host}/reading/quiet:1`,
      '--quiet',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.stdout).toMatch(/^sha256:[0-9a-f]{64}\n/);
  });

  it('the short form pushes: oci-push push SOURCE REF REF', async () => {
    const res = await runCli([
      'push',
      layout,
      `${registry.host}/reading/short:1`,
      `${registry.host}/reading/short:2`,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('index-from refuses the same source twice, and names a bare digest missing from the repository', async () => {
    const twice = await runCli([
      '--index-from',
      `sha256:${'a'.repeat(64)}`,
      '--index-from',
      `sha256:${'a'.repeat(64)}`,
      '--tags',
      `${registry.host}/reading/index:1`,
    ]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('list each source once');
    const missing = await runCli([
      '--index-from',
      `sha256:${'b'.repeat(64)}`,
      '--tags',
      `${registry.host}/reading/index:1`,
      '--diagnose',
      'never',
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`not in ${registry.host}/reading/index`);
  });

  it('a failed push runs the diagnosis, as the action does', async () => {
    const res = await runCli([
      '--layout',
      big,
      '--tags',
      `${refusing.host}/reading/diag:1`,
      '--upload-mode',
      'monolithic',
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('== Diagnose the registry');
    expect(res.stderr).toMatch(/FAIL 1 MiB \+ 1 byte, monolithic/);
    expect(res.stderr).toMatch(
      /probable cause \(1 blob\): nginx refused a request body of [\d.]+ MiB/,
    );
  });

  it('in a pipe, progress is periodic lines; on a terminal, one line that redraws, with rate and time left', async () => {
    const piped = await runCli(['--layout', big, '--tags', `${slow.host}/reading/pipe:1`], { env });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).not.toContain('\x1b[');
    expect(piped.stderr).toMatch(/24\.0 MiB of 24\.0 MiB \(100%\) at [\d.]+ MiB\/s/);
    const tty = await run(
      'script',
      [
        '-qec',
        `"${NODE}" "${CLI}" --layout "${big}" --tags ${slow.host}/reading/tty:1 2>&1`,
        '/dev/null',
      ],
      { env: { ...env, TERM: 'xterm' } },
    );
    expect(tty.code, tty.stdout).toBe(0);
    // A live line: cleared (ESC [2K) and redrawn, with the rate and the time left.
    expect(tty.stdout).toMatch(
      new RegExp(
        `${String.fromCharCode(27)}\\[2Ksha256:[0-9a-f]{12}: [\\d.]+ MiB of 24\\.0 MiB \\(\\d+%\\) at [\\d.]+ MiB/s, \\d+ s left`,
      ),
    );
  });
});

let refusing: FaultProxy;
beforeAll(async () => {
  refusing = await startFaultProxy(registry, { bodyCap: { bytes: 512 << 10, style: 'nginx' } });
});
afterAll(() => refusing?.stop());
