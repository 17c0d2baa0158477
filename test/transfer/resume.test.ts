import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pushWithEngine } from '../support/engine.js';
import { type FakeRegistry, startFakeRegistry } from '../support/fake-registry.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';

// Distribution 2.8 never answers 416 and keeps sessions too well to lose one on cue, so these
// protocol corners run against an in-process fake.
const MiB = 1 << 20;
let fake: FakeRegistry;
let work: string;
let image: BuiltImage;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-resume-'));
  layout = join(work, 'layout');
  image = await makeLayout(layout, { seed: 'resume', layers: 1, layerSize: 5 * MiB });
});
afterEach(() => fake?.stop());
afterAll(() => rm(work, { recursive: true, force: true }));

async function pushChunked() {
  fake = await startFakeRegistry();
  return fake;
}

const layer = (): string => image.blobs[1]!;
const patchesOf = (f: FakeRegistry) => f.requests.filter((r) => r.method === 'PATCH');

describe('resume a chunked upload', () => {
  it.each(['416', '500'] as const)(
    'after a %s on a PATCH, asks GET where the session stands and continues from the end of its Range',
    async (fate) => {
      const f = await pushChunked();
      f.patchFate = (n) => (n === 3 ? fate : 'accept');
      const { result } = await pushWithEngine({
        layout,
        tags: `${f.host}/r/app:1`,
        'upload-mode': 'chunked',
        'chunk-size': '1MiB',
        concurrency: '1',
      });
      expect(result.ok, result.error?.message).toBe(true);
      const layerPatches = patchesOf(f);
      const failedAt = layerPatches.findIndex((p) => p.status === Number(fate));
      expect(failedAt).toBeGreaterThan(-1);
      expect(f.requests.some((r) => r.method === 'GET' && /uploads\//.test(r.path))).toBe(true);
      // The PATCH after the failure starts where the session said it ended: no byte is sent twice.
      expect(layerPatches[failedAt + 1]?.contentRange).toBe(layerPatches[failedAt]?.contentRange);
      expect(f.blobs.has(layer())).toBe(true);
    },
  );

  it('after a connection reset mid-PATCH, continues from the bytes the registry kept', async () => {
    const f = await pushChunked();
    f.patchFate = (n) => (n === 2 ? 'partial-reset' : 'accept');
    const { result } = await pushWithEngine({
      layout,
      tags: `${f.host}/r/app:1`,
      'upload-mode': 'chunked',
      'chunk-size': '2MiB',
      concurrency: '1',
    });
    expect(result.ok, result.error?.message).toBe(true);
    const layerPatches = patchesOf(f);
    const cut = layerPatches.findIndex((p) => p.status === -1);
    const [cutStart] = layerPatches[cut]!.contentRange!.split('-').map(Number) as [number];
    const [nextStart] = layerPatches[cut + 1]!.contentRange!.split('-').map(Number) as [number];
    // The registry kept half of the 2 MiB chunk; the next PATCH starts right after it.
    expect(nextStart).toBe(cutStart + MiB);
    expect(f.blobs.has(layer())).toBe(true);
  });

  it('when the session is gone (404 BLOB_UPLOAD_UNKNOWN), starts a new one from zero', async () => {
    const f = await pushChunked();
    f.patchFate = (n) => (n === 3 ? 'gone' : 'accept');
    const { result } = await pushWithEngine({
      layout,
      tags: `${f.host}/r/app:1`,
      'upload-mode': 'chunked',
      'chunk-size': '1MiB',
      concurrency: '1',
    });
    expect(result.ok, result.error?.message).toBe(true);
    const gone = f.requests.findIndex((r) => r.method === 'PATCH' && r.status === 404);
    const after = f.requests.slice(gone + 1);
    expect(after[0]?.method).toBe('DELETE');
    expect(after.find((r) => r.method === 'POST')).toBeDefined();
    expect(after.find((r) => r.method === 'PATCH')?.contentRange).toBe(`0-${MiB - 1}`);
    expect(result.targets[0]!.blobs.get(layer())!.attempts).toBe(2);
    expect(f.blobs.has(layer())).toBe(true);
  });

  it('accepts 201 to a PATCH, as ECR answers', async () => {
    const f = await pushChunked();
    f.patchFate = () => 'accept-201';
    const { result } = await pushWithEngine({
      layout,
      tags: `${f.host}/r/app:1`,
      'upload-mode': 'chunked',
      'chunk-size': '1MiB',
    });
    expect(result.ok, result.error?.message).toBe(true);
    expect(patchesOf(f).every((p) => p.status === 201)).toBe(true);
    expect(f.blobs.has(layer())).toBe(true);
  });
});
