import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { makeSelfSigned } from '../support/certs.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';

// A registry whose CA is in podman's or docker's certs.d folder for its host:port is trusted as
// podman and docker trust it, with no ca-file. With a CA file (or certs.d CAs), a host is checked
// against those CAs alone first; a certificate they do not vouch for is checked again with Node's
// roots, on a new connection (src/registry/host-trust.ts).
let work: string;
let layout: string;
const registries: RunningRegistry[] = [];
const folders: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-certs-d-'));
  layout = join(work, 'image');
  await makeLayout(layout, { seed: 'certs-d', layers: 1 });
});
afterAll(async () => {
  await Promise.all(registries.map((r) => r.stop()));
  await Promise.all(folders.map((f) => rm(f, { recursive: true, force: true })));
  await rm(work, { recursive: true, force: true });
});

async function tlsRegistry(name: string): Promise<{ registry: RunningRegistry; cert: string }> {
  const tls = makeSelfSigned(work, name, ['127.0.0.1']);
  const registry = await startRegistry({ tls });
  registries.push(registry);
  return { registry, cert: tls.certFile };
}

async function trustIn(root: string, host: string, cert: string): Promise<void> {
  const folder = join(root, host);
  await mkdir(folder, { recursive: true });
  folders.push(folder);
  await copyFile(cert, join(folder, 'ca.crt'));
}

describe('certs.d', () => {
  it('a CA in /etc/containers/certs.d/HOST:PORT is trusted, by the CLI and the action', async () => {
    const { registry, cert } = await tlsRegistry('containers');
    const untrusted = await runCli([
      'push',
      layout,
      `${registry.host}/certs/app:1`,
      '--retries',
      '0',
    ]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/certificate/i);
    await trustIn('/etc/containers/certs.d', registry.host, cert);
    const cli = await runCli(['push', layout, `${registry.host}/certs/app:1`]);
    expect(cli.code, cli.stderr).toBe(0);
    const action = await runAction(work, {
      layout,
      tags: `${registry.host}/certs/app:2`,
    });
    expect(action.code, action.stderr).toBe(0);
  });

  it('a CA in /etc/docker/certs.d/HOST:PORT is trusted too, and only for that host', async () => {
    const { registry, cert } = await tlsRegistry('docker');
    const other = await tlsRegistry('other');
    expect(other.cert).not.toBe(cert);
    await trustIn('/etc/docker/certs.d', registry.host, cert);
    const res = await runCli(['push', layout, `${registry.host}/certs/app:1`]);
    expect(res.code, res.stderr).toBe(0);
    // Another registry on the same address, another port: no folder of its own, no trust.
    const elsewhere = await runCli([
      'push',
      layout,
      `${other.registry.host}/certs/app:1`,
      '--retries',
      '0',
    ]);
    expect(elsewhere.code).toBe(1);
  });
});

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
