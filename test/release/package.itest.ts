import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { ROOT, run } from '../support/run.js';

// The CLI as people install it: `npm pack` of this repository, installed from the tarball into a
// prefix of its own, then run from there.
let registry: RunningRegistry;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-package-'));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('packs only what the CLI needs, installs from the tarball, and pushes', async () => {
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
    expect(packed.code, packed.stderr).toBe(0);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path).sort();
    expect(files).toContain('dist/cli.js');
    expect(files).toContain('package.json');
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    expect(files).not.toContain('dist/index.js');

    const prefix = join(work, 'prefix');
    const installed = await run(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--offline',
        '--no-audit',
        '--no-fund',
        join(work, info!.filename),
      ],
      { cwd: work },
    );
    expect(installed.code, installed.stderr).toBe(0);
    const bin = join(prefix, 'bin', 'oci-push');
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    const shown = await run(bin, ['--version'], { cwd: work });
    expect(shown.stdout).toBe(`oci-push ${version}\n`);

    const layout = join(work, 'layout');
    await makeLayout(layout, { seed: 'package', layers: 1, layerSize: 4096 });
    const pushed = await run(bin, ['push', layout, `${registry.host}/package/app:1`], {
      cwd: work,
    });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(await listTags(registry.url, 'package/app')).toEqual(['1']);
    // Nothing was left next to the tarball but what the test made.
    expect((await readdir(work)).sort()).toEqual([info!.filename, 'layout', 'prefix'].sort());
  });
});
