// `npm run compare`: what skopeo and oci-push each do, measured here, in the cases the README's
// comparison table lists: a 413 at a proxy, a blob the registry loses once after acknowledging it,
// a flaky proxy, and a re-run after a failed push. Each tool gets its own proxy with the same
// faults, in front of one real registry; a tag counts only if the registry serves it afterwards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FaultConfig, type FaultProxy, startFaultProxy } from '../test/support/fault-proxy.js';
import { makeLayout } from '../test/support/layouts.js';
import { ensurePrerequisites } from '../test/support/prerequisites.js';
import { startRegistry } from '../test/support/registry.js';
import { type RunResult, run, runCli } from '../test/support/run.js';

ensurePrerequisites();
const work = await mkdtemp(join(tmpdir(), 'oci-push-compare-'));
const registry = await startRegistry();
const layout = join(work, 'layout');
const image = await makeLayout(layout, { seed: 'compare', layers: 3, layerSize: 2 << 20 });
let n = 0;

type Tool = 'skopeo' | 'oci-push';
const push = (tool: Tool, host: string, repo: string): Promise<RunResult> =>
  tool === 'skopeo'
    ? run('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}`,
        `docker://${host}/${repo}:1`,
      ])
    : runCli(['push', layout, `${host}/${repo}:1`, '--diagnose', 'never']);
const tagged = async (repo: string): Promise<boolean> =>
  (await run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/${repo}:1`]))
    .code === 0;
/** Blob bodies a proxy saw: monolithic PUTs with a digest, and PATCHes. */
const bodies = (p: FaultProxy, from = 0): number =>
  p.log
    .slice(from)
    .filter(
      (e) => /\/blobs\/uploads\//.test(e.path) && (e.method === 'PATCH' || e.method === 'PUT'),
    ).length;
const said = (r: RunResult): string =>
  (
    r.stderr
      .trim()
      .split('\n')
      .filter((l) => /fatal|oci-push:|recovered:|error/i.test(l))[0] ?? ''
  )
    .replace(/\?_state=[^"\s]*/g, '?…')
    .slice(0, 160);

const rows: string[] = [];
async function measure(name: string, config: FaultConfig): Promise<void> {
  const cells: string[] = [];
  for (const tool of ['skopeo', 'oci-push'] as Tool[]) {
    const p = await startFaultProxy(registry, config);
    const repo = `compare/${tool}-${++n}`;
    const started = Date.now();
    const r = await push(tool, p.host, repo);
    const ms = Date.now() - started;
    const ok = await tagged(repo);
    cells.push(
      `${ok ? 'pushed' : `failed (exit ${r.code})`} in ${ms} ms${said(r) ? `: ${said(r)}` : ''}`,
    );
    await p.stop();
  }
  rows.push(`| ${name} | ${cells.join(' | ')} |`);
}

await measure('413 at a proxy (1 MiB cap, 2 MiB layers)', {
  bodyCap: { bytes: 1 << 20, style: 'nginx' },
});
await measure('a blob lost once after its 201', { lostOnce: [image.blobs[2]!] });
await measure('a flaky proxy (seeded: 10% of requests 502 or reset)', {
  random: { seed: 7, fraction: 0.1, statuses: [502], resets: true },
});
// A re-run after a failure: the first push fails on a registry that keeps losing the last layer,
// the second goes through; what the second sends again is what a re-run costs.
const rerun: string[] = [];
for (const tool of ['skopeo', 'oci-push'] as Tool[]) {
  const repo = `compare/rerun-${tool}`;
  const capped = await startFaultProxy(registry, { neverStays: [image.blobs[3]!] });
  await push(tool, capped.host, repo);
  await capped.stop();
  const plain = await startFaultProxy(registry, {});
  const second = await push(tool, plain.host, repo);
  rerun.push(
    `${(await tagged(repo)) ? 'pushed' : `failed (exit ${second.code})`}, ${bodies(plain)} of 4 blob bodies sent again`,
  );
  await plain.stop();
}
rows.push(`| a re-run after a failed push | ${rerun.join(' | ')} |`);

console.log('| case | skopeo copy | oci-push |\n| --- | --- | --- |');
for (const r of rows) console.log(r);
await registry.stop();
await rm(work, { recursive: true, force: true });
