import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { HOSTILE_TEXTS, renderGfm } from '../support/gfm.js';
import { makeLayout } from '../support/layouts.js';
import { basic, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { run as run_, runCli } from '../support/run.js';

// Everything a registry sends is hostile until checked: no line of it may become a workflow command.
let registry: RunningRegistry;
let locked: RunningRegistry;
let work: string;
let layout: string;
const proxies: FaultProxy[] = [];
const FORGED = 'sha256:0000000000000000000000000000000000000000000000000000000000000000';
const INJECTED = `storage failed\n::warning title=X::injected warning\n::set-output name=digest::${FORGED}\n::error::injected error`;

beforeAll(async () => {
  registry = await startRegistry();
  locked = await startRegistry({ htpasswd: { u: 'host-password-1' } });
  work = await mkdtemp(join(tmpdir(), 'oci-push-registry-text-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'registry-text', layers: 1, layerSize: 4096 });
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await registry?.stop();
  await locked?.stop();
  await rm(work, { recursive: true, force: true });
});

async function proxy(config: Parameters<typeof startFaultProxy>[1]): Promise<FaultProxy> {
  const p = await startFaultProxy(registry, config);
  proxies.push(p);
  return p;
}

/** The commands a runner would obey: lines starting with `::`, other than the ones we write. */
function commands(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('::'));
}

describe('registry text in the log', () => {
  it('an error message with newlines and workflow commands stays one escaped line', async () => {
    const p = await proxy({
      failWhen: [{ method: 'POST', path: /\/blobs\/uploads\//, status: 400, message: INJECTED }],
    });
    const run = await runAction(work, {
      layout,
      tags: `${p.host}/text/a:1`,
      retries: '0',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    const lines = commands(run.stdout);
    expect(
      lines.filter((l) => /injected|set-output|title=X/.test(l) && !/%0A|\\n/.test(l)),
    ).toEqual([]);
    expect(lines.some((l) => l.startsWith('::set-output'))).toBe(false);
    expect(lines.some((l) => l.startsWith('::warning title=X'))).toBe(false);
    expect(run.outputs.digest).toBe('');
    // Shown, not obeyed: the text is there, escaped.
    expect(run.stdout).toMatch(/storage failed\\n::warning title=X::injected warning/);
    // In the summary, escaped markdown on one line.
    expect(run.summary).not.toMatch(/^::/m);
  });

  it('a %0A in a Location never starts a line, in the action and in the CLI', async () => {
    const p = await proxy({
      locationSuffix: `&x=%0A::set-output%20name=digest::${FORGED}%0A::warning::from-location`,
    });
    const run = await runAction(
      work,
      { layout, tags: `${p.host}/text/b:1` },
      { RUNNER_DEBUG: '1' },
    );
    expect(run.code, run.stdout).toBe(0);
    expect(
      commands(run.stdout).filter(
        (l) => /from-location|set-output/.test(l) && !l.startsWith('::debug::'),
      ),
    ).toEqual([]);
    expect(run.outputs.digest).not.toBe(FORGED);
    const cli = await runCli(['--layout', layout, '--tags', `${p.host}/text/c:1`, '--verbose']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr.split('\n').filter((l) => l.startsWith('::'))).toEqual([]);
    expect(cli.stderr).toContain('\\n::set-output');
  });
});

describe('registry text in the job summary', () => {
  it.each([
    ['an error message', { message: HOSTILE_TEXTS.join(' ') }],
    ['an error code', { code: HOSTILE_TEXTS.slice(0, 3).join(' ') }],
    ['a server header', { headers: { server: 'nginx\r# FAKE [x](https://evil.example)' } }],
  ])('%s with CRs, links, images, headings and HTML stays text', async (_name, rule) => {
    const p = await proxy({
      failWhen: [{ method: 'POST', path: /\/blobs\/uploads\//, status: 400, ...rule }],
    });
    const run = await runAction(work, {
      layout,
      tags: `${p.host}/text/hostile:1`,
      retries: '0',
    });
    expect(run.code).toBe(1);
    expect(run.summary).not.toMatch(/[\r\u2028\u2029\u0085]/);
    const page = renderGfm(run.summary);
    // The project writes no link or image; the registry can write none.
    expect(page.links).toEqual([]);
    expect(page.images).toEqual([]);
    expect(page.tags).toEqual([]);
    expect(page.headings.filter((h) => /FAKE|heading|by U\+|evil/.test(h))).toEqual([]);
    expect(page.headings[0]).toMatch(/oci-push: push failed/);
    // The annotations are one line each and bounded.
    for (const line of commands(run.stdout).filter((l) => l.startsWith('::error')))
      expect(line.length).toBeLessThan(2500);
  });
});

describe('digests a registry sends', () => {
  const HOSTILE_DIGEST = `sha256:${'1'.repeat(64)}$(touch\${IFS}marker)`;

  it('a tag read back with a digest that runs in the next step: named, never an output', async () => {
    const p = await proxy({ servedDigestHeader: HOSTILE_DIGEST });
    const run = await runAction(work, { layout, tags: `${p.host}/text/digest:1`, retries: '0' });
    expect(run.code).toBe(1);
    expect(run.outputs['tags-elsewhere']).toBe('[]');
    expect(run.outputs.digest).toBe('');
    expect(run.summary).toMatch(/sent an invalid digest/);
    for (const text of [run.stdout, run.summary, JSON.stringify(run.outputs)])
      expect(text).not.toContain('$(touch');
    // The step a user writes after it, as the runner would run it: no marker.
    const step = `echo "moved: ${run.outputs['tags-elsewhere']}"`;
    const shell = await run_('bash', ['-c', step], { cwd: work });
    expect(shell.code).toBe(0);
    expect(existsSync(join(work, 'marker'))).toBe(false);
  });

  it('the CLI refuses it the same way, and never prints it', async () => {
    const p = await proxy({ servedDigestHeader: HOSTILE_DIGEST });
    const res = await runCli(['push', layout, `${p.host}/text/digest-cli:1`, '--retries', '0']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/invalid digest/);
    expect(res.stdout + res.stderr).not.toContain('$(touch');
  });
});

describe('registry host names', () => {
  it('LOCALHOST:PORT with credentials: they are sent, and the push works', async () => {
    const port = locked.host.split(':')[1];
    const res = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `LOCALHOST:${port}/text/host:1`,
        '--username',
        'u',
        '--password-stdin',
      ],
      { input: 'host-password-1', env: { PATH: process.env.PATH, HOME: work } },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(await listTags(locked.url, 'text/host', basic('u', 'host-password-1'))).toEqual(['1']);
  });
});
