import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { renderGfm } from '../support/gfm.js';
import { makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';

// A summary and a log scale with what failed, not with the number of targets.
let work: string;
let layout: string;
let registry: RunningRegistry;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-many-targets-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'many-targets', layers: 2, layerSize: 2048 });
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const tags = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${registry.host}/${prefix}${i}/app:v1`);

describe('a push to 200 repositories', () => {
  it('the action: every tag set, a summary under 20 KB, a log that does not list every blob', async () => {
    const refs = tags('a', 200);
    const run = await runAction(work, { layout, tags: refs.join('\n') });
    expect(run.code, run.stdout.slice(-2000)).toBe(0);
    expect(JSON.parse(run.outputs.refs ?? '[]')).toHaveLength(200);
    expect(await listTags(registry.url, 'a199/app')).toEqual(['v1']);
    expect(Buffer.byteLength(run.summary)).toBeLessThan(20_000);
    const page = renderGfm(run.summary);
    expect(page.html).toContain('200 tagged');
    expect(page.html).toContain('197 more repositories');
    // What a person sees without step debug logging.
    const visible = run.stdout.split('\n').filter((l) => !l.startsWith('::debug::'));
    expect(visible.join('\n').length).toBeLessThan(5_000);
    expect(visible).toContain('tagged 200 references in all');
  });

  it('the CLI: the summary file is as small, and stdout still lists every ref', async () => {
    const refs = tags('c', 200);
    const summaryFile = join(work, 'cli-summary.md');
    const res = await runCli(
      ['--layout', layout, ...refs.flatMap((r) => ['--tags', r]), '--summary-file', summaryFile],
      { env: { PATH: process.env.PATH, HOME: work } },
    );
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    expect(res.stdout.trim().split('\n')).toHaveLength(201);
    expect((await readFile(summaryFile)).length).toBeLessThan(20_000);
    expect(res.stderr.length).toBeLessThan(5_000);
  });
});
