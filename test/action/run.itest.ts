import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPRESSION_DEFAULTS, INPUT_DEFAULTS, Input } from '../../src/config/inputs.js';
import { Output } from '../../src/report/outputs.js';
import { readActionYaml, runAction } from '../support/actions-runner.js';
import { makeLayout } from '../support/layouts.js';
import { basic, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';

const USER = 'ci';
const PASSWORD = 'action-password-9f8e7d';
let registry: RunningRegistry;
let work: string;

beforeAll(async () => {
  registry = await startRegistry({ htpasswd: { [USER]: PASSWORD } });
  work = await mkdtemp(join(tmpdir(), 'oci-push-action-'));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function blobBytes(dir: string, digests: string[]): Promise<number> {
  let total = 0;
  for (const d of digests) total += (await stat(join(dir, 'blobs', 'sha256', d.slice(7)))).size;
  return total;
}

describe('action.yml', () => {
  it('runs dist/index.js on node24 and declares every input and output the code uses, with the same defaults', async () => {
    const action = await readActionYaml();
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
    expect(Object.keys(action.inputs).sort()).toEqual(Object.values(Input).sort());
    expect(Object.keys(action.outputs).sort()).toEqual(Object.values(Output).sort());
    for (const [name, spec] of Object.entries(action.inputs)) {
      const key = name as keyof typeof INPUT_DEFAULTS;
      expect(spec.default, `default of ${name}`).toBe(
        INPUT_DEFAULTS[key] ?? EXPRESSION_DEFAULTS[key],
      );
    }
  });
});

describe('the action as the runner runs it', () => {
  it('pushes and sets every output, and writes the summary', async () => {
    const dir = join(work, 'ok');
    const image = await makeLayout(dir, { seed: 'action', layers: 2 });
    const tags = `${registry.host}/action/app:1\n${registry.host}/action/app:latest`;
    const res = await runAction(work, { layout: dir, tags, username: USER, password: PASSWORD });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.outputs).toEqual({
      digest: image.digest,
      refs: JSON.stringify([
        `${registry.host}/action/app:1@${image.digest}`,
        `${registry.host}/action/app:latest@${image.digest}`,
      ]),
      'blobs-uploaded': '3',
      'blobs-skipped': '0',
      'bytes-uploaded': String(await blobBytes(dir, image.blobs)),
      'bytes-mounted': '0',
      'failed-blobs': '[]',
      'referrers-tags': '[]',
      'tags-elsewhere': '[]',
      recoveries: JSON.stringify({
        reuploaded: 0,
        'replica-lag': 0,
        chunked: 0,
        'sessions-lost': 0,
        retries: 0,
      }),
    });
    expect(res.stdout).toContain(`::add-mask::${PASSWORD}`);
    // The runner hides registered values; everything but the registration itself must lack them.
    expect(res.stdout.replace(/^::add-mask::.*$/gm, '')).not.toContain(PASSWORD);
    expect(res.summary).toContain(image.digest);
    for (const phase of [
      'Validate the image',
      'Authenticate',
      'Upload blobs',
      'Push manifests',
      'Tag',
    ]) {
      expect(res.stdout).toContain(`::group::${phase}`);
    }
    expect(res.summary).toContain(`${registry.host}/action/app:1`);
    // The log ends with the digest and each ref pushed.
    const last = res.stdout.trimEnd().split('\n').slice(-3);
    expect(last).toEqual([
      `digest: ${image.digest}`,
      `pushed: ${registry.host}/action/app:1@${image.digest}`,
      `pushed: ${registry.host}/action/app:latest@${image.digest}`,
    ]);
    expect((await listTags(registry.url, 'action/app', basic(USER, PASSWORD))).sort()).toEqual([
      '1',
      'latest',
    ]);
  });

  it('sets the outputs and fails the step when the layout is bad, tagging nothing', async () => {
    const dir = join(work, 'bad');
    await makeLayout(dir, { seed: 'action-bad' });
    await writeFile(join(dir, 'index.json'), '{ not json');
    const res = await runAction(work, {
      layout: dir,
      tags: `${registry.host}/action/bad:1`,
      username: USER,
      password: PASSWORD,
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/::error::.*index\.json: malformed JSON/);
    expect(res.outputs['failed-blobs']).toBe('[]');
    expect(res.outputs.digest).toBe('');
    expect(await listTags(registry.url, 'action/bad', basic(USER, PASSWORD))).toEqual([]);
  });

  it('fails with a clear message for an invalid input value', async () => {
    const dir = join(work, 'ok');
    const res = await runAction(work, {
      layout: dir,
      tags: `${registry.host}/action/app:1`,
      'chunk-size': '10 parsecs',
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/::error::input chunk-size: expected a size/);
    expect(res.outputs['failed-blobs']).toBe('[]');
  });

  it('writes a summary for an input error too (tags: empty)', async () => {
    const res = await runAction(work, { layout: join(work, 'ok'), tags: '' });
    expect(res.code).toBe(1);
    // Nothing was attempted: no blob statistics, no digests.
    expect(res.summary).not.toContain('**Blobs:**');
    expect(res.summary).not.toContain('Full digests');
    expect(res.summary).toContain('❌ oci-push: push failed');
    expect(res.summary).toContain('input tags is required');
    expect(res.summary).toContain('no blob, manifest or tag was sent to the registry');
  });
});
