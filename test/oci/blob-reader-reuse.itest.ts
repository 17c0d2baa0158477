// Read buffers are reused once undici has asked for REUSE_LAG more pieces of the same body. This
// proves the rule where it could break: many bodies at once from one pool, sockets the far end
// reads slowly (so writes sit queued, holding their buffers), and connections reset mid-body. The
// real registry checks every body against its digest; a buffer refilled while still queued makes it
// answer DIGEST_INVALID, as the lag of 0 below shows.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REUSE_LAG, readPieces } from '../../src/oci/blob-reader.js';
import { createBaseTransport } from '../../src/registry/http.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';

const BLOBS = 8;
const SIZE = 12 << 20;

let dir: string;
let registry: RunningRegistry;
const blobs: { path: string; digest: string }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-push-reuse-'));
  for (let i = 0; i < BLOBS; i++) {
    const key = createHash('sha256').update(`reuse ${i}`).digest().subarray(0, 16);
    const bytes = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(SIZE));
    const path = join(dir, `blob-${i}`);
    await writeFile(path, bytes);
    blobs.push({ path, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });
  }
  registry = await startRegistry();
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Uploads every blob at once, each until the registry answers; counts what it answered. */
async function uploadAll(
  proxy: FaultProxy,
  repo: string,
  lag: number,
): Promise<{ stored: number; digestInvalid: number; resets: number }> {
  const transport = createBaseTransport();
  const counts = { stored: 0, digestInvalid: 0, resets: 0 };
  try {
    await Promise.all(
      blobs.map(async ({ path, digest }) => {
        for (let attempt = 0; attempt < 6; attempt++) {
          const started = await transport.send({
            method: 'POST',
            url: new URL(`/v2/${repo}/blobs/uploads/`, proxy.url),
          });
          const location = new URL(started.headers.location!, proxy.url);
          location.searchParams.set('digest', digest);
          try {
            const put = await transport.send({
              method: 'PUT',
              url: location,
              headers: { 'content-type': 'application/octet-stream', 'content-length': `${SIZE}` },
              body: () => readPieces(path, 0, SIZE, path, lag),
            });
            if (put.status === 201) return void counts.stored++;
            if (put.body.toString().includes('DIGEST_INVALID')) counts.digestInvalid++;
            else
              throw new Error(`PUT answered ${put.status}: ${put.body.toString().slice(0, 200)}`);
          } catch (error) {
            if (!/reset|closed|socket|ECONN|UND_ERR/i.test(String((error as Error).message)))
              throw error;
            counts.resets++;
          }
        }
      }),
    );
  } finally {
    await transport.destroy();
  }
  return counts;
}

describe('read buffers reused under load', () => {
  it(`with a lag of ${REUSE_LAG}, every body arrives as its file holds it, through slow sockets and resets`, async () => {
    const proxy = await startFaultProxy(registry, {
      slowBodies: 24 << 20,
      resetBody: { afterBytes: 5 << 20, times: 4, methods: ['PUT'] },
    });
    try {
      const counts = await uploadAll(proxy, 'reuse/safe', REUSE_LAG);
      expect(counts).toEqual({ stored: BLOBS, digestInvalid: 0, resets: 4 });
      for (const { digest } of blobs) {
        const head = await fetch(`${registry.url}/v2/reuse/safe/blobs/${digest}`, {
          method: 'HEAD',
        });
        expect(head.status).toBe(200);
      }
    } finally {
      await proxy.stop();
    }
  }, 120_000);

  it('with a lag of 0 (a buffer lent out again as soon as it is handed over), the registry sees other bytes', async () => {
    const proxy = await startFaultProxy(registry, { slowBodies: 24 << 20 });
    try {
      const counts = await uploadAll(proxy, 'reuse/racy', 0);
      expect(counts.digestInvalid).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
    }
  }, 120_000);
});
