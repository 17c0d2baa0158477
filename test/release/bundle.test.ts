import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, leaveOut, MAX_DIST_BYTES, ROOT } from '../../scripts/bundle-config.mjs';
import { LEFT_OUT_REACHED } from '../support/run.js';

const exec = promisify(execFile);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('the bundle', () => {
  let dir: string;
  let meta: Metafile;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-push-bundle-'));
    meta = await bundle(join(dir, 'dist'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('fits its budget', async () => {
    let bytes = 0;
    for (const file of await filesUnder(join(dir, 'dist'))) bytes += (await stat(file)).size;
    expect(bytes).toBeLessThanOrEqual(MAX_DIST_BYTES);
  });

  it('holds one copy of undici and none of @actions/http-client', () => {
    const inputs = Object.keys(meta.inputs);
    const undiciCopies = new Set(
      inputs.flatMap((i) => /^(.*node_modules\/undici)\//.exec(i)?.[1] ?? []),
    );
    expect([...undiciCopies]).toEqual(['node_modules/undici']);
    expect(inputs.filter((i) => i.includes('node_modules/@actions/http-client'))).toEqual([]);
    expect(inputs).toContain('left-out:@actions/http-client');
    // The agents oci-push dispatches through are there whole.
    for (const kept of ['agent.js', 'proxy-agent.js', 'client-h1.js', 'pool.js'])
      expect(inputs).toContain(`node_modules/undici/lib/dispatcher/${kept}`);
  });

  it('a left-out part throws a clear error if it is ever called, and is inert until then', async () => {
    const entry = join(dir, 'entry.mjs');
    await writeFile(
      entry,
      [
        "import { Agent, fetch } from 'undici';",
        "import { HttpClient } from '@actions/http-client';",
        'new Agent().close();',
        'for (const call of [() => fetch("http://127.0.0.1:9/"), () => new HttpClient("x").get("http://127.0.0.1:9/")]) {',
        '  try { await call(); console.log("no error"); } catch (e) { console.log(e.message); }',
        '}',
      ].join('\n'),
    );
    await build({
      entryPoints: [entry],
      outfile: join(dir, 'probe.mjs'),
      absWorkingDir: ROOT,
      nodePaths: [join(ROOT, 'node_modules')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
      plugins: [leaveOut()],
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
    const { stdout } = await exec(process.execPath, [join(dir, 'probe.mjs')]);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(LEFT_OUT_REACHED);
    expect(lines[0]).toContain("undici's lib/web/fetch/index.js");
    expect(lines[1]).toMatch(LEFT_OUT_REACHED);
    expect(lines[1]).toContain('@actions/http-client');
  });
});
