import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { layoutContents, listTags } from '../support/oci.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { run, runCli, skopeoPull } from '../support/run.js';

let registry: RunningRegistry;
let nginx: RunningNginx;
let work: string;
let image: BuiltImage;
let layout: string;

beforeAll(async () => {
  registry = await startRegistry();
  nginx = await startNginx(registry, '1m');
  work = await mkdtemp(join(tmpdir(), 'oci-push-nginx-test-'));
  layout = join(work, 'layout');
  image = await makeLayout(layout, { seed: 'nginx', layers: 2, layerSize: 3 << 20 });
});
afterAll(async () => {
  await nginx?.stop();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('through real nginx with client_max_body_size 1m', () => {
  it('skopeo copy fails with 413', async () => {
    const res = await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}`,
      `docker://${nginx.host}/capped/skopeo:1`,
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/413|Request Entity Too Large/i);
    expect(await listTags(registry.url, 'capped/skopeo')).toEqual([]);
  });

  it('oci-push falls back to chunks and succeeds; the image pulls back intact', async () => {
    const ref = `${nginx.host}/capped/ocipush:1`;
    const res = await runCli(['--layout', layout, '--tags', ref, '--json', '--verbose']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/→ 413/);
    expect(res.stderr).toMatch(/switching to chunks/);
    expect(JSON.parse(res.stdout).digest).toBe(image.digest);
    const dest = join(work, 'pulled');
    const pulled = await skopeoPull(`${registry.host}/capped/ocipush:1`, dest);
    expect(pulled.code, pulled.stderr).toBe(0);
    const contents = await layoutContents(dest);
    expect(contents.top).toBe(image.digest);
    for (const d of image.blobs) expect(contents.blobs).toContain(d);
  });

  it('the action as the runner runs it falls back the same way, says what it recovered, and pulls back', async () => {
    const ref = `${nginx.host}/capped/action:1`;
    const run = await runAction(work, { layout, tags: ref, diagnose: 'never' });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs.digest).toBe(image.digest);
    expect(JSON.parse(run.outputs.recoveries!).chunked).toBeGreaterThan(0);
    const pulled = await skopeoPull(
      `${registry.host}/capped/action:1`,
      join(work, 'pulled-action'),
    );
    expect(pulled.code, pulled.stderr).toBe(0);
  });
});
