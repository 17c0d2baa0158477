import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushWithEngine } from './support/engine.js';
import { type FaultConfig, startFaultProxy } from './support/fault-proxy.js';
import { type BuiltImage, makeLayout } from './support/layouts.js';
import { layoutContents } from './support/oci.js';
import { type RunningRegistry, startRegistry } from './support/registry.js';
import { ROOT, skopeoPull } from './support/run.js';

// Seeded random fault schedules through the fault proxy in front of the real registry. Reproduce:
//   SOAK_RUNS=56 npm run soak        (writes docs/reliability.md)
// A seed fixes which request numbers are faulted and how; with concurrency 1 the order of requests,
// and so the whole schedule, repeats exactly.
const RUNS = Number(process.env.SOAK_RUNS ?? 56);
const REPORT = process.env.SOAK_REPORT === '1';
const MiB = 1 << 20;
const TRANSIENT = [500, 502, 503, 504, 520, 522, 524, 429];

interface Scenario {
  name: string;
  retries?: string;
  config: (seed: number, image: BuiltImage) => FaultConfig;
  /** The scenario cannot succeed: the push must fail naming these blobs. */
  mustFailWith?: (image: BuiltImage) => string[];
}

const SCENARIOS: Scenario[] = [
  {
    name: 'transient 5xx, 52x and 429 on 20% of requests',
    config: (seed) => ({ random: { seed, fraction: 0.2, statuses: TRANSIENT, resets: false } }),
  },
  {
    name: 'transient errors and mid-body resets on 25% of requests',
    config: (seed) => ({ random: { seed, fraction: 0.25, statuses: TRANSIENT, resets: true } }),
  },
  {
    name: 'Cloudflare 2 MB body cap plus 10% transient errors',
    config: (seed) => ({
      bodyCap: { bytes: 2 * MiB, style: 'cloudflare' },
      random: { seed, fraction: 0.1, statuses: TRANSIENT, resets: true },
    }),
  },
  {
    name: 'replica lag (HEAD 404 twice after commit) plus 10% errors',
    config: (seed) => ({
      headLag: 2,
      random: { seed, fraction: 0.1, statuses: TRANSIENT, resets: true },
    }),
  },
  {
    name: 'blob lost before the manifest PUT plus 10% errors',
    config: (seed, image) => ({
      deleteBeforeManifest: [image.blobs[2]!],
      random: { seed, fraction: 0.1, statuses: TRANSIENT, resets: false },
    }),
  },
  {
    name: 'harsh: 50% errors and resets with retries: 1',
    retries: '1',
    config: (seed) => ({ random: { seed, fraction: 0.5, statuses: TRANSIENT, resets: true } }),
  },
  {
    name: 'a blob that never stays plus 10% errors',
    config: (seed, image) => ({
      neverStays: [image.blobs[1]!],
      random: { seed, fraction: 0.1, statuses: TRANSIENT, resets: true },
    }),
    mustFailWith: (image) => [image.blobs[1]!],
  },
];

interface Outcome {
  seed: number;
  scenario: string;
  ok: boolean;
  phase?: string;
  error?: string;
  failed: string[];
  faults: number;
  requests: number;
  incompleteTags: number;
}

let registry: RunningRegistry;
let work: string;
let image: BuiltImage;
let layout: string;
const outcomes: Outcome[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-soak-'));
  layout = join(work, 'layout');
  image = await makeLayout(layout, { seed: 'soak', layers: 3, layerSize: 1536 * 1024 });
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
  if (REPORT && outcomes.length) await writeReport(outcomes);
});

/** Every tag in the repository resolves to a manifest whose blobs all exist: the invariant of the product. */
async function incompleteTags(repository: string): Promise<number> {
  const base = `${registry.url}/v2/${repository}`;
  const list = await fetch(`${base}/tags/list`);
  if (list.status === 404) return 0;
  const tags = ((await list.json()) as { tags?: string[] | null }).tags ?? [];
  let bad = 0;
  for (const tag of tags) {
    const res = await fetch(`${base}/manifests/${tag}`, {
      headers: {
        accept:
          'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json',
      },
    });
    if (res.status !== 200) {
      bad++;
      continue;
    }
    const manifest = (await res.json()) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      if ((await fetch(`${base}/blobs/${d}`, { method: 'HEAD' })).status !== 200) bad++;
    }
  }
  return bad;
}

describe('soak: seeded random fault schedules', () => {
  it(`${RUNS} runs: each succeeds intact or fails naming its blobs, and no tag ever points at an incomplete image`, async () => {
    for (let seed = 1; seed <= RUNS; seed++) {
      const scenario = SCENARIOS[(seed - 1) % SCENARIOS.length]!;
      const proxy = await startFaultProxy(registry, scenario.config(seed, image));
      const repository = `soak/s${seed}`;
      try {
        const { result } = await pushWithEngine({
          layout,
          tags: `${proxy.host}/${repository}:1`,
          'chunk-size': '1MiB',
          concurrency: '1',
          retries: scenario.retries ?? '5',
        });
        const label = `seed ${seed} (${scenario.name})`;
        if (scenario.mustFailWith) {
          expect(result.ok, label).toBe(false);
          expect(result.failedBlobs, label).toEqual(scenario.mustFailWith(image));
        }
        if (result.ok) {
          const dest = join(work, `pull-${seed}`);
          const pulled = await skopeoPull(`${registry.host}/${repository}:1`, dest);
          expect(pulled.code, `${label}: ${pulled.stderr}`).toBe(0);
          const contents = await layoutContents(dest);
          expect(contents.top, label).toBe(image.digest);
          for (const d of image.blobs) expect(contents.blobs, label).toContain(d);
        } else if (result.phase === 'blobs') {
          expect(result.failedBlobs.length, `${label}: ${result.error?.message}`).toBeGreaterThan(
            0,
          );
          // The message names the first few (short past three); failedBlobs has every one.
          const named = result.failedBlobs.length > 3 ? 3 : result.failedBlobs.length;
          for (const d of result.failedBlobs.slice(0, named))
            expect(result.error?.message, label).toContain(
              result.failedBlobs.length > 3 ? d.slice(0, 19) : d,
            );
        } else {
          // Every blob verified, then a manifest or tag PUT ran out of retries: it names the manifest.
          expect(result.phase, `${label}: ${result.error?.message}`).toMatch(
            /^(manifests|tags|auth)$/,
          );
          expect(result.error?.message, label).toMatch(/manifest|\/v2\//);
        }
        const incomplete = await incompleteTags(repository);
        expect(incomplete, label).toBe(0);
        outcomes.push({
          seed,
          scenario: scenario.name,
          ok: result.ok,
          phase: result.phase,
          error: result.error?.message,
          failed: result.failedBlobs,
          faults: proxy.log.filter((e) => e.fault).length,
          requests: proxy.log.length,
          incompleteTags: incomplete,
        });
      } finally {
        await proxy.stop();
      }
    }
    expect(outcomes).toHaveLength(RUNS);
  }, 600_000);
});

async function writeReport(all: Outcome[]): Promise<void> {
  const lines = [
    '# Reliability: seeded fault schedules',
    '',
    'Written by `test/soak.itest.ts`. Each run pushes a 4-blob image (three 1.5 MiB layers) through the',
    "project's fault-injecting proxy in front of a real CNCF distribution registry (Debian's",
    '`docker-registry`), with `chunk-size: 1MiB`, `retries: 5` (unless the scenario says otherwise) and',
    '`concurrency: 1`. A run passes when the push succeeds and skopeo pulls the image back with identical',
    "digests, or fails naming the failed blobs (or, when the failure is not a blob's, such as the registry",
    'being unreachable or a manifest PUT running out of retries, naming what failed); after every run, every tag in the repository is checked to point at a',
    'manifest whose blobs all exist.',
    '',
    'Reproduce: `SOAK_RUNS=' +
      all.length +
      ' npm run soak` (the same seeds give the same schedules).',
    '',
    '| scenario | runs | pushed intact | failed naming blobs | failed elsewhere (registry unreachable, manifest PUT), nothing tagged | tags pointing at incomplete images |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const scenario of SCENARIOS) {
    const runs = all.filter((o) => o.scenario === scenario.name);
    if (!runs.length) continue;
    const ok = runs.filter((o) => o.ok).length;
    const blobs = runs.filter((o) => !o.ok && o.failed.length).length;
    const manifests = runs.length - ok - blobs;
    lines.push(
      `| ${scenario.name} | ${runs.length} | ${ok} | ${blobs} | ${manifests} | ${runs.reduce((n, o) => n + o.incompleteTags, 0)} |`,
    );
  }
  lines.push(
    '',
    '## Every run',
    '',
    '| seed | scenario | outcome | faults injected / requests |',
    '| --- | --- | --- | --- |',
  );
  for (const o of all) {
    const outcome = o.ok
      ? 'pushed, pulled back intact'
      : o.failed.length
        ? `failed naming ${o.failed.map((d) => `\`${d.slice(0, 19)}…\``).join(', ')}`
        : `failed at ${o.phase}, nothing tagged: ${(o.error ?? '').replace(/\|/g, '\\|').slice(0, 120)}`;
    lines.push(`| ${o.seed} | ${o.scenario} | ${outcome} | ${o.faults} / ${o.requests} |`);
  }
  await mkdir(join(ROOT, 'docs'), { recursive: true });
  await writeFile(join(ROOT, 'docs', 'reliability.md'), lines.join('\n') + '\n');
}
