import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSigned } from '../support/certs.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';

// With a CA file, a host is checked against that CA alone first (a context of one certificate);
// a certificate it does not vouch for is checked again with Node's roots, on a new connection.
let work: string;
let layout: string;
const registries: RunningRegistry[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-host-trust-'));
  layout = join(work, 'image');
  await makeLayout(layout, { seed: 'host-trust', layers: 2 });
});
afterAll(async () => {
  await Promise.all(registries.map((r) => r.stop()));
  await rm(work, { recursive: true, force: true });
});

async function tlsRegistry(name: string): Promise<{ registry: RunningRegistry; cert: string }> {
  const tls = makeSelfSigned(work, name, ['127.0.0.1']);
  const registry = await startRegistry({ tls });
  registries.push(registry);
  return { registry, cert: tls.certFile };
}

describe('a CA file, and the roots beside it', () => {
  it('a registry of the CA file and one trusted by the roots alone both take the push; one trusted by neither is refused', async () => {
    const given = await tlsRegistry('given');
    const rooted = await tlsRegistry('rooted');
    const neither = await tlsRegistry('neither');
    // NODE_EXTRA_CA_CERTS is read at Node's start into its roots: a stand-in for a public CA.
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: rooted.cert };
    const tags = [given, rooted].map((r) => `${r.registry.host}/trust/app:1`);
    const res = await runCli(
      ['--layout', layout, '--tags', tags.join(','), '--ca-file', given.cert],
      {
        env,
      },
    );
    expect(res.code, res.stderr).toBe(0);
    for (const tag of tags) {
      const pulled = await skopeoPull(tag, join(work, `pulled-${tags.indexOf(tag)}`));
      expect(pulled.code, pulled.stderr).toBe(0);
    }
    const refused = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `${neither.registry.host}/trust/app:1`,
        '--ca-file',
        given.cert,
        '--retries',
        '0',
      ],
      { env },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/certificate of 127\.0\.0\.1:\d+ is not trusted/);
  });
});
