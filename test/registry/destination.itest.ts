import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { makeSelfSigned } from '../support/certs.js';
import { makeLayout } from '../support/layouts.js';
import { basic, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';

// A port the user wrote is the port dialled: `HOST:443` is https on 443, never http on 80, even for
// a loopback host where plain http is asked first when no port (or another one) is written.
const HOST = '127.0.0.3';
let work: string;
let layout: string;
let secure: RunningRegistry;
let open: RunningRegistry;
let caFile: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-destination-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'destination', layers: 2, layerSize: 8192 });
  const tls = makeSelfSigned(work, 'secure', [HOST]);
  caFile = tls.certFile;
  secure = await startRegistry({ address: HOST, port: 443, tls, htpasswd: { u: 'p-443' } });
  // The trap: an open registry on the same address, on the port a dropped ":443" would dial.
  open = await startRegistry({ address: HOST, port: 80 });
});
afterAll(async () => {
  await secure?.stop();
  await open?.stop();
  await rm(work, { recursive: true, force: true });
});

async function tagsAt443(repository: string): Promise<string[]> {
  const res = await fetch(`http://${HOST}:443/`).catch(() => undefined);
  expect(res?.status ?? 400).toBe(400); // still TLS only
  const { Agent } = await import('undici');
  const dispatcher = new Agent({ connect: { ca: await readFile(caFile, 'utf8') } });
  const r = await fetch(`https://${HOST}/v2/${repository}/tags/list`, {
    headers: { authorization: basic('u', 'p-443') },
    // @ts-expect-error undici's dispatcher option on Node's fetch
    dispatcher,
  });
  await dispatcher.close();
  if (r.status === 404) return [];
  return ((await r.json()) as { tags?: string[] }).tags ?? [];
}

describe('the port written is the port dialled', () => {
  it('the action pushes HOST:443 to 443, and refs keep the port', async () => {
    const run = await runAction(work, {
      layout,
      tags: `${HOST}:443/n/a:v1`,
      username: 'u',
      password: 'p-443',
      'ca-file': caFile,
    });
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs.refs ?? '[]')).toEqual([
      expect.stringMatching(new RegExp(`^${HOST}:443/n/a:v1@sha256:`)),
    ]);
    expect(await tagsAt443('n/a')).toEqual(['v1']);
    expect(await listTags(open.url, 'n/a')).toEqual([]);
    expect(run.summary).toContain(`${HOST}:443/n/a:v1`);
  });

  it('the CLI does the same, and skopeo pulls it back from 443', async () => {
    const res = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `${HOST}:443/n/b:v1`,
        '--username',
        'u',
        '--password-stdin',
        '--ca-file',
        caFile,
      ],
      { input: 'p-443', env: { PATH: process.env.PATH, HOME: work } },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`${HOST}:443/n/b:v1@sha256:`);
    expect(await tagsAt443('n/b')).toEqual(['v1']);
    expect(await listTags(open.url, 'n/b')).toEqual([]);
    const pulled = await skopeoPull(`${HOST}:443/n/b:v1`, join(work, 'pulled'), 'u:p-443');
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  it('a host with no port still asks plain http first on a loopback address', async () => {
    const res = await runCli(['--layout', layout, '--tags', `${HOST}/n/c:v1`], {
      env: { PATH: process.env.PATH, HOME: work },
    });
    expect(res.code, res.stderr).toBe(0);
    expect(await listTags(open.url, 'n/c')).toEqual(['v1']);
  });
});
