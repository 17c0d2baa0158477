// `npm run compare`: what skopeo, containerd's pusher (BuildKit's) and oci-push each do, measured
// here, in the cases the README's comparison table lists: a 413 at a proxy, a blob the registry loses
// once after acknowledging it, a flaky proxy, and a re-run after a failed push. Each tool gets its
// own proxy with the same faults, in front of one real registry; a tag counts only if the registry
// serves it afterwards. A tool that has not finished after 60 s is stopped and said to hang.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FaultConfig, type FaultProxy, startFaultProxy } from '../test/support/fault-proxy.js';
import { makeLayout } from '../test/support/layouts.js';
import { ensurePrerequisites } from '../test/support/prerequisites.js';
import { startRegistry } from '../test/support/registry.js';
import { type RunResult, run } from '../test/support/run.js';
import { REQUIRED } from '../test/support/prerequisites.js';
import { startContainerd } from '../bench/containerd.js';

ensurePrerequisites({ ...REQUIRED, '/usr/bin/ctr': 'containerd' });
const work = await mkdtemp(join(tmpdir(), 'oci-push-compare-'));
const registry = await startRegistry();
const layout = join(work, 'layout');
const image = await makeLayout(layout, { seed: 'compare', layers: 3, layerSize: 2 << 20 });
let n = 0;
const containerd = await startContainerd();
await containerd.importLayout(layout, 'compare.local/image:1');
const HANG_MS = 60_000;

/** `command`, stopped after HANG_MS: a push that hangs is a result too. */
async function bounded(command: string, args: string[]): Promise<RunResult> {
  const timeout = ['-s', 'KILL', String(HANG_MS / 1000), command, ...args];
  const r = await run('timeout', timeout);
  return r.code === 137 ? { ...r, stderr: `hung: stopped after ${HANG_MS / 1000} s` } : r;
}

const TOOLS = ['skopeo', 'containerd', 'oci-push'] as const;
type Tool = (typeof TOOLS)[number];
async function push(tool: Tool, host: string, repo: string): Promise<RunResult> {
  if (tool === 'skopeo')
    return bounded('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}`,
      `docker://${host}/${repo}:1`,
    ]);
  if (tool === 'containerd') {
    const ref = `${host}/${repo}:1`;
    await run('ctr', containerd.ctr('images', 'tag', '--force', 'compare.local/image:1', ref));
    return bounded('ctr', containerd.ctr('images', 'push', '--plain-http', ref));
  }
  return bounded(process.execPath, [
    'dist/cli.js',
    'push',
    layout,
    `${host}/${repo}:1`,
    '--diagnose',
    'never',
  ]);
}
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
      .filter((l) => /fatal|oci-push:|recovered:|error|hung|^ctr:/i.test(l))[0] ?? ''
  )
    .replace(/\?_state=[^"\s]*/g, '?…')
    .slice(0, 160);

const rows: string[] = [];
async function measure(name: string, config: FaultConfig): Promise<void> {
  const cells: string[] = [];
  for (const tool of TOOLS) {
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
for (const tool of TOOLS) {
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

console.log(
  "| case | skopeo copy | containerd's pusher (ctr images push) | oci-push |\n| --- | --- | --- | --- |",
);
for (const r of rows) console.log(r);
await containerd.stop();
await registry.stop();
await rm(work, { recursive: true, force: true });
