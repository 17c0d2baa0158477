import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../support/actions-runner.js';
import { type FaultProxy, type ProxyLogEntry, startFaultProxy } from '../support/fault-proxy.js';
import {
  type BuiltImage,
  LayoutWriter,
  OCI_INDEX,
  OCI_MANIFEST,
  makeDerivedLayout,
  makeLayout,
} from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';
import { storeIndexTree } from '../support/seed-storage.js';

// An image built FROM a base that is already in the registry sends only its own layers: the base's
// are mounted from the repository the base came from.
let registry: RunningRegistry;
let proxy: FaultProxy;
let work: string;
let baseDir: string;
let base: BuiltImage;
let baseLayers: { mediaType: string; digest: string; size: number }[];
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry, {});
  work = await mkdtemp(join(tmpdir(), 'oci-push-mount-base-'));
  baseDir = join(work, 'base');
  base = await makeLayout(baseDir, { seed: 'mount-base', layers: 3, layerSize: 512 * 1024 });
  const manifest = JSON.parse(
    await readFile(join(baseDir, 'blobs', 'sha256', base.digest.slice(7)), 'utf8'),
  );
  baseLayers = manifest.layers;
  const pushed = await runCli(['push', baseDir, `${registry.host}/library/base:1`]);
  expect(pushed.code, pushed.stderr).toBe(0);
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

interface Derived {
  dir: string;
  digest: string;
  ownLayer: string;
  config: string;
}

/** An image on the base: its three layers, one of its own, and what it says about its base. */
async function derived(
  name: string,
  how: { annotations?: Record<string, string>; provenance?: string[] } = {},
): Promise<Derived> {
  const dir = join(work, name);
  const image = await makeDerivedLayout(dir, baseDir, base, name, 300 * 1024, how.annotations);
  const written = { digest: image.digest, size: image.size };
  const w = await new LayoutWriter(dir).init();
  let top = { mediaType: OCI_MANIFEST, ...written };
  if (how.provenance) {
    // As buildx writes `type=oci` with provenance: an index holding the image and its attestation.
    const statement = await w.blob(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v0.1',
        predicateType: 'https://slsa.dev/provenance/v0.2',
        subject: [{ name: 'image', digest: { sha256: written.digest.slice(7) } }],
        predicate: {
          materials: how.provenance.map((uri) => ({
            uri,
            digest: { sha256: base.digest.slice(7) },
          })),
        },
      }),
    );
    const empty = await w.blob('{}');
    const attestation = await w.blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
        layers: [
          {
            mediaType: 'application/vnd.in-toto+json',
            ...statement,
            annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' },
          },
        ],
      }),
    );
    const index = await w.blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            ...written,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: OCI_MANIFEST,
            ...attestation,
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: {
              'vnd.docker.reference.type': 'attestation-manifest',
              'vnd.docker.reference.digest': written.digest,
            },
          },
        ],
      }),
    );
    top = { mediaType: OCI_INDEX, ...index };
  }
  w.entries.push(top);
  await w.writeIndex();
  return { dir, digest: top.digest, ownLayer: image.ownLayer, config: image.blobs[0]! };
}

/** Blob bodies sent through the proxy since `from`: PUTs with a digest and PATCHes. */
function bodies(log: ProxyLogEntry[]): number {
  return log.filter(
    (e) => /\/blobs\/uploads\//.test(e.path) && (e.method === 'PATCH' || e.method === 'PUT'),
  ).length;
}

async function pulledBack(ref: string): Promise<void> {
  const pulled = await skopeoPull(ref, join(work, `pull-${++n}`));
  expect(pulled.code, pulled.stderr).toBe(0);
}

describe('mounting from the base image', () => {
  it("the manifest's base annotations: only its own layer and config are sent", async () => {
    const image = await derived('annotated', {
      annotations: {
        'org.opencontainers.image.base.name': `${proxy.host}/library/base:1`,
        'org.opencontainers.image.base.digest': base.digest,
      },
    });
    const from = proxy.log.length;
    const run = await runAction(work, {
      layout: image.dir,
      tags: `${proxy.host}/team/annotated:1`,
      diagnose: 'never',
    });
    expect(run.code, run.stdout).toBe(0);
    expect(bodies(proxy.log.slice(from))).toBe(2);
    expect(run.summary).toContain('mounted from `library/base`');
    const layerBytes = baseLayers.reduce((s, l) => s + l.size, 0);
    expect(Number(run.outputs['bytes-mounted'])).toBe(layerBytes);
    expect(run.summary).toMatch(/3 mounted: [\d.]+ (KiB|MiB) not sent/);
    await pulledBack(`${registry.host}/team/annotated:1`);
  });

  it('mount-from with no annotation: the same, in the CLI, which says where each came from', async () => {
    const image = await derived('named');
    const from = proxy.log.length;
    const res = await runCli([
      'push',
      image.dir,
      `${proxy.host}/team/named:1`,
      '--mount-from',
      'library/base:1',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(bodies(proxy.log.slice(from))).toBe(2);
    expect(res.stderr).toMatch(/mounted from library\/base/);
    await pulledBack(`${registry.host}/team/named:1`);
  });

  it("BuildKit's provenance in the layout names the base: its layers are mounted", async () => {
    const image = await derived('built', {
      provenance: [`pkg:docker/${proxy.host}/library/base@1?platform=linux%2Famd64`],
    });
    const from = proxy.log.length;
    const res = await runCli(['push', image.dir, `${proxy.host}/team/built:1`]);
    expect(res.code, res.stderr).toBe(0);
    // Its own layer and config, and the attestation's statement and empty config.
    expect(bodies(proxy.log.slice(from))).toBe(4);
    await pulledBack(`${registry.host}/team/built:1`);
  });

  it('a mount-from repository that lacks the blobs adds no request, and the push succeeds', async () => {
    const plain = await derived('plain-a');
    const before = proxy.log.length;
    const without = await runCli(['push', plain.dir, `${proxy.host}/team/plain-a:1`]);
    expect(without.code, without.stderr).toBe(0);
    const requestsWithout = proxy.log.length - before;
    const other = await derived('plain-b');
    const mid = proxy.log.length;
    const withEmpty = await runCli([
      'push',
      other.dir,
      `${proxy.host}/team/plain-b:1`,
      '--mount-from',
      'nothing/here',
    ]);
    expect(withEmpty.code, withEmpty.stderr).toBe(0);
    expect(proxy.log.length - mid).toBe(requestsWithout);
    await pulledBack(`${registry.host}/team/plain-b:1`);
  });

  it('a base on another registry is skipped: mounts never cross registries', async () => {
    const image = await derived('elsewhere', {
      annotations: { 'org.opencontainers.image.base.name': 'docker.io/library/node:20' },
    });
    const res = await runCli(['push', image.dir, `${proxy.host}/team/elsewhere:1`]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toMatch(/mounted from/);
  });
});

/** Manifest reads through the proxy since `from`, outside the target's own repository. */
function manifestReads(log: ProxyLogEntry[], target: string): number {
  return log.filter(
    (e) =>
      e.method === 'GET' && /\/manifests\//.test(e.path) && !e.path.startsWith(`/v2/${target}/`),
  ).length;
}

function warnings(text: string): string[] {
  return text.split('\n').filter((l) => /^::warning|^warning:/i.test(l));
}

// A layout controls its annotations and provenance: whatever it names, planning mounts costs at
// most 50 sources and 200 manifest reads, each distinct manifest once, and one warning at most for
// the limit and one for the sources that could not be read.
describe('the work a layout can demand while planning mounts', () => {
  it('a base that is an index nested 4 levels deep, 8 wide: read to a fixed depth only', async () => {
    const tree = await storeIndexTree(registry.storage, 'deep/base', '1', 8, 4);
    expect(tree.documents).toBe(4681);
    const image = await derived('deep', {
      annotations: { 'org.opencontainers.image.base.name': `${proxy.host}/deep/base:1` },
    });
    const from = proxy.log.length;
    const run = await runAction(work, {
      layout: image.dir,
      tags: `${proxy.host}/team/deep:1`,
      diagnose: 'never',
    });
    expect(run.code, run.stdout).toBe(0);
    // The root, its 8 children and their 64: the depth ends there.
    expect(manifestReads(proxy.log.slice(from), 'team/deep')).toBe(73);
  });

  it('mount sources that would take more than 200 reads: 200 at most, one warning', async () => {
    const names = ['w', 'x', 'y', 'z'];
    for (const name of names) await storeIndexTree(registry.storage, `wide/${name}`, '1', 8, 3);
    const image = await derived('wide');
    const from = proxy.log.length;
    const res = await runCli([
      'push',
      image.dir,
      `${proxy.host}/team/wide:1`,
      ...names.flatMap((n) => ['--mount-from', `wide/${n}:1`]),
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(manifestReads(proxy.log.slice(from), 'team/wide')).toBe(200);
    const said = warnings(res.stderr);
    expect(said.filter((l) => /more mount sources than are read/.test(l))).toHaveLength(1);
    await pulledBack(`${registry.host}/team/wide:1`);
  });

  it('provenance naming 2,000 images: at most 50 sources read, their failures in one warning', async () => {
    const materials = Array.from(
      { length: 2000 },
      (_, i) => `pkg:docker/${proxy.host}/gone${i % 80}/img@v${i}?platform=linux%2Famd64`,
    );
    const image = await derived('provenance-storm', { provenance: materials });
    const from = proxy.log.length;
    const run = await runAction(work, {
      layout: image.dir,
      tags: `${proxy.host}/team/storm:1`,
      diagnose: 'never',
    });
    expect(run.code, run.stdout).toBe(0);
    expect(manifestReads(proxy.log.slice(from), 'team/storm')).toBeLessThanOrEqual(50);
    const said = warnings(run.stdout);
    expect(said.length).toBeLessThanOrEqual(2);
    expect(said.some((l) => /50 mount sources could not be read/.test(l))).toBe(true);
    expect(run.stdout.length).toBeLessThan(64 * 1024);
  });
});
