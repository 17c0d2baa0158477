import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';

let registry: RunningRegistry;
let capped: FaultProxy;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  capped = await startFaultProxy(registry, { bodyCap: { bytes: 1 << 20, style: 'cloudflare' } });
  work = await mkdtemp(join(tmpdir(), 'oci-push-diagnose-'));
});
afterAll(async () => {
  await capped?.stop();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function blobFiles(): Promise<string[]> {
  const dir = join(registry.storage, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const out: string[] = [];
  for (const prefix of await readdir(dir).catch(() => []))
    out.push(...(await readdir(join(dir, prefix))));
  return out.sort();
}

describe('oci-push diagnose', () => {
  it('passes every check against a healthy registry, and repeated probes leave nothing new behind', async () => {
    const first = await runCli(['diagnose', `${registry.host}/diag/app`, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const findings = JSON.parse(first.stdout).findings as { check: string; ok: boolean }[];
    expect(findings.map((f) => f.check)).toEqual([
      'registry reachable',
      'push access',
      'small blob, monolithic',
      '1 MiB + 1 byte, monolithic (body size limit)',
      '1 MiB + 1 byte, chunked',
      'bodies over 100 MB',
    ]);
    const after1 = await blobFiles();
    const second = await runCli(['diagnose', `${registry.host}/diag/app`]);
    expect(second.code, second.stderr).toBe(0);
    expect(await blobFiles()).toEqual(after1);
    // What was not probed says so, in the text too, and is not a pass.
    expect(second.stderr).toMatch(/^skip bodies over 100 MB: not probed/m);
    expect(second.stderr).not.toMatch(/^ok {3}bodies over 100 MB/m);
    expect(findings.find((f) => f.check === 'bodies over 100 MB')?.ok).toBeUndefined();
  });

  it('with --max-probe also uploads 100 MB + 1 byte, and finds a cap between 1 MiB and 100 MB', async () => {
    const healthy = await runCli([
      'diagnose',
      `${registry.host}/diag/max`,
      '--max-probe',
      '--json',
    ]);
    expect(healthy.code, healthy.stderr).toBe(0);
    const found = JSON.parse(healthy.stdout).findings as {
      check: string;
      ok: boolean;
      detail: string;
    }[];
    expect(found.find((f) => f.check.startsWith('100 MB + 1 byte'))).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^100000001 bytes uploaded/),
    });
    const midCap = await startFaultProxy(registry, {
      bodyCap: { bytes: 50_000_000, style: 'cloudflare' },
    });
    try {
      const res = await runCli(['diagnose', `${midCap.host}/diag/midcap`, '--max-probe']);
      // Chunks went through, so a push with the defaults gets past the cap: said, and exit 0.
      expect(res.code).toBe(0);
      expect(res.stderr).toContain('a push with the defaults would succeed');
      expect(res.stderr).toMatch(/ok {3}1 MiB \+ 1 byte, monolithic/);
      expect(res.stderr).toMatch(
        /FAIL 100 MB \+ 1 byte, monolithic \(Cloudflare Free\/Pro limit\): .*413/,
      );
    } finally {
      await midCap.stop();
    }
  });

  it('finds a body-size cap, says what it is, and exits 0 because a push with the defaults gets past it', async () => {
    const res = await runCli(['diagnose', `${capped.host}/diag/capped`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/FAIL 1 MiB \+ 1 byte, monolithic \(body size limit\): .*413/);
    expect(res.stderr).toMatch(/ok {3}1 MiB \+ 1 byte, chunked/);
    expect(res.stderr).toContain('a push with the defaults would succeed, working around this:');
    expect(res.stderr).toContain('Cloudflare refused the request body as too large (413)');
    expect(res.stderr).toContain('`--upload-mode chunked`');
    const json = JSON.parse(res.stdout) as { ok: boolean; findings: { workaround?: string }[] };
    expect(json.ok).toBe(true);
    expect(json.findings.some((f) => f.workaround)).toBe(true);
  });

  it('exits 1 when a push with the defaults would fail too', async () => {
    const floor = await startFaultProxy(registry, { bodyCap: { bytes: 1024, style: 'nginx' } });
    try {
      const res = await runCli(['diagnose', `${floor.host}/diag/floor`]);
      expect(res.code).toBe(1);
      expect(res.stderr).not.toContain('would succeed');
    } finally {
      await floor.stop();
    }
  });

  it('reports an unreachable registry in well under its 30 s bound', async () => {
    const started = Date.now();
    const res = await runCli(['diagnose', '127.0.0.1:1/diag/none']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/FAIL registry reachable/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('the action with diagnose: on-failure', () => {
  it('probes the registry after a failed push and adds the findings to the summary', async () => {
    const layout = join(work, 'layout');
    await makeLayout(layout, { seed: 'diag', layers: 1, layerSize: 1536 * 1024 });
    const run = await runAction(work, {
      layout,
      tags: `${capped.host}/diag/action:1`,
      'upload-mode': 'monolithic',
      retries: '0',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('::group::Diagnose the registry');
    expect(run.summary).toContain('### Diagnosis');
    expect(run.summary).toMatch(
      /\| 1 MiB \+ 1 byte, monolithic \(body size limit\) \| ⚠️ worked around \|/,
    );
    expect(run.summary).toContain('**Worked around:** a push with the default `upload-mode: auto`');
    expect(run.summary).toMatch(/\| 1 MiB \+ 1 byte, chunked \| ✅ \|/);
  });

  it('after a push that failed at a second registry, probes that registry, not the first', async () => {
    const locked = await startRegistry({ htpasswd: { someone: 'pw-diag-second' } });
    try {
      const layout = join(work, 'two-registries');
      await makeLayout(layout, { seed: 'diag-two', layers: 1, layerSize: 1024 });
      const res = await runCli([
        'push',
        layout,
        `${registry.host}/diag/first:1`,
        `${locked.host}/diag/second:1`,
        '--retries',
        '0',
      ]);
      expect(res.code).toBe(1);
      const probed = res.stderr.split('Diagnose the registry')[1] ?? '';
      expect(probed).toContain(`${locked.host}/v2/ answers`);
      expect(probed).not.toContain(`${registry.host}/v2/ answers`);
    } finally {
      await locked.stop();
    }
  });

  it('a push to two registries names the registry in each blob line', async () => {
    const second = await startRegistry();
    try {
      const layout = join(work, 'two-open');
      await makeLayout(layout, { seed: 'diag-two-open', layers: 1, layerSize: 1024 });
      const res = await runCli([
        'push',
        layout,
        `${registry.host}/two/a:1`,
        `${second.host}/two/b:1`,
      ]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toMatch(new RegExp(`^${registry.host}/two/a: sha256:`, 'm'));
      expect(res.stderr).toMatch(new RegExp(`^${second.host}/two/b: sha256:`, 'm'));
    } finally {
      await second.stop();
    }
  });
});
