import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, type ProxyLogEntry, startFaultProxy } from '../support/fault-proxy.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';
import { layoutContents } from '../support/oci.js';

// How many blobs upload at once, seen from a proxy that slows every body down so uploads overlap.
const KiB = 1 << 10;
const MiB = 1 << 20;
let registry: RunningRegistry;
let work: string;
let many: { dir: string; image: BuiltImage };
let large: { dir: string; image: BuiltImage };
const proxies: FaultProxy[] = [];
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-concurrency-'));
  many = {
    dir: join(work, 'many'),
    image: await makeLayout(join(work, 'many'), { seed: 'many', layers: 40, layerSize: 64 * KiB }),
  };
  large = {
    dir: join(work, 'large'),
    image: await makeLayout(join(work, 'large'), {
      seed: 'large',
      layers: 5,
      layerSize: 1536 * KiB,
    }),
  };
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function push(
  image: { dir: string },
  bytesPerSecond: number,
  extra: string[] = [],
): Promise<{ p: FaultProxy; repo: string; out: Record<string, unknown>; stderr: string }> {
  const p = await startFaultProxy(registry, { slowBodies: bytesPerSecond });
  proxies.push(p);
  const repo = `concurrency/r${++n}`;
  const res = await runCli([
    '--layout',
    image.dir,
    '--tags',
    `${p.host}/${repo}:1`,
    '--json',
    ...extra,
  ]);
  expect(res.code, res.stderr).toBe(0);
  return { p, repo, out: JSON.parse(res.stdout) as Record<string, unknown>, stderr: res.stderr };
}

const blobPuts = (log: ProxyLogEntry[]) =>
  log.filter((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/'));

/** Every blob's last answer to HEAD before the manifest PUT was 200: verified before it was named. */
function verifiedBeforeManifest(log: ProxyLogEntry[], image: BuiltImage): void {
  const manifest = log.find((e) => e.method === 'PUT' && e.path.includes('/manifests/'))!;
  expect(manifest).toBeDefined();
  for (const digest of image.blobs) {
    const heads = log.filter(
      (e) => e.method === 'HEAD' && e.path.endsWith(`/blobs/${digest}`) && e.n < manifest.n,
    );
    expect(heads.at(-1)?.status, digest).toBe(200);
  }
}

async function expectPullsBack(repo: string, image: BuiltImage): Promise<void> {
  const dest = await mkdtemp(join(work, 'pull-'));
  const pulled = await skopeoPull(`${registry.host}/${repo}:1`, dest);
  expect(pulled.code, pulled.stderr).toBe(0);
  expect((await layoutContents(dest)).top).toBe(image.digest);
}

describe('blobs at once', () => {
  it('stops starting blobs once one failed in a way no other can get past, and says which were never tried', async () => {
    const readOnly = await startRegistry({ readOnly: true });
    try {
      const summary = join(work, 'read-only.md');
      const res = await runCli([
        '--layout',
        many.dir,
        '--tags',
        `${readOnly.host}/concurrency/ro:1`,
        '--summary-file',
        summary,
        '--json',
        // Two places: 32 small blobs at once, so some of the 41 are still waiting.
        '--concurrency',
        '2',
      ]);
      expect(res.code).toBe(1);
      const out = JSON.parse(res.stdout) as { 'failed-blobs': string[] };
      // Only the blobs already in flight when the first 405 came back were tried.
      expect(out['failed-blobs'].length).toBeGreaterThan(0);
      expect(out['failed-blobs'].length).toBeLessThanOrEqual(32);
      const text = await readFile(summary, 'utf8');
      const notTried = 41 - out['failed-blobs'].length;
      expect(text).toContain(
        `uploads only the ${out['failed-blobs'].length} failed blob${out['failed-blobs'].length === 1 ? '' : 's'} and the ${notTried} not tried after the push stopped`,
      );
      expect(text).toContain('The registry is read-only');
    } finally {
      await readOnly.stop();
    }
  });

  it('sends up to 64 blobs of at most 1 MiB at once by default, checks them beside the uploads, and verifies each before the manifest', async () => {
    const { p, repo, out, stderr } = await push(many, 256 * KiB);
    expect(out['blobs-uploaded']).toBe(41);
    // Four upload places, sixteen small blobs to a place.
    expect(p.peak.PUT).toBeGreaterThan(4);
    expect(p.peak.PUT).toBeLessThanOrEqual(64);
    expect(p.peak.POST).toBeLessThanOrEqual(64);
    // Existence checks and verifications run beside the uploads, at most 16 at once on HTTP/1.1.
    expect(p.peak.HEAD).toBeGreaterThan(1);
    expect(p.peak.HEAD).toBeLessThanOrEqual(16);
    expect(blobPuts(p.log)).toHaveLength(41);
    verifiedBeforeManifest(p.log, many.image);
    // Dozens of requests listen on the run's cancel signal at once: that is not a leak to warn about.
    expect(stderr).not.toMatch(/MaxListenersExceeded/);
    await expectPullsBack(repo, many.image);
  });

  it('gives a blob larger than 1 MiB a whole place: `concurrency: 2` uploads two at once', async () => {
    const { p, repo } = await push(large, 4 * MiB, ['--concurrency', '2']);
    expect(p.peak.PUT).toBe(2);
    verifiedBeforeManifest(p.log, large.image);
    await expectPullsBack(repo, large.image);
  });

  it('`concurrency: 1` uploads strictly one blob at a time, small ones too', async () => {
    const { p, repo } = await push(many, 4 * MiB, ['--concurrency', '1']);
    expect(p.peak.PUT).toBe(1);
    expect(p.peak.POST).toBe(1);
    verifiedBeforeManifest(p.log, many.image);
    await expectPullsBack(repo, many.image);
  });
});
