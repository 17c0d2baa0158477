import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  CorruptBlobError,
  checkFileDigest,
  digestFile,
  fileBody,
  REUSE_LAG,
} from '../../src/oci/blob-reader.js';
import { fileRange } from '../../src/transfer/body.js';

let dir: string;
let file: string;
const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-push-body-'));
  file = join(dir, 'blob');
  await writeFile(file, data);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function collect(pieces: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // A piece may be read into again once REUSE_LAG more are asked for: keep copies.
  for await (const c of pieces) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

describe('fileRange', () => {
  it('reads exactly the range, from the file at its offset, afresh on every call', async () => {
    const body = fileRange(file, 1000, 1500);
    expect((await collect(body())).equals(data.subarray(1000, 2500))).toBe(true);
    expect((await collect(body())).equals(data.subarray(1000, 2500))).toBe(true);
  });

  it('reads in bounded pieces, never the whole range at once', async () => {
    const big = join(dir, 'big');
    await writeFile(big, Buffer.alloc(5 << 20, 7));
    const sizes: number[] = [];
    for await (const c of fileRange(big, 0, 5 << 20)()) sizes.push(c.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1 << 20);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(5 << 20);
  });
});

describe('fileBody and checkFileDigest', () => {
  it('send the file as it is; the check hashes it and refuses a mismatch naming the blob', async () => {
    const content = Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 7) % 256));
    const big = join(dir, 'whole');
    await writeFile(big, content);
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    expect(
      (await collect(fileBody({ path: big, size: content.length, digest })())).equals(content),
    ).toBe(true);
    await expect(
      checkFileDigest({ path: big, size: content.length, digest }),
    ).resolves.toBeUndefined();
    const wrong = `sha256:${'0'.repeat(64)}`;
    await expect(
      checkFileDigest({ path: big, size: content.length, digest: wrong }),
    ).rejects.toThrow(
      new RegExp(
        `blobs/sha256/${'0'.repeat(64)}: content does not match its digest \\(it hashes to ${digest}`,
      ),
    );
    await expect(
      checkFileDigest({ path: big, size: content.length, digest: wrong }),
    ).rejects.toBeInstanceOf(CorruptBlobError);
  });

  it('refuse a file shorter than its descriptor, naming the blob, instead of sending a short body', async () => {
    const digest = `sha256:${'1'.repeat(64)}`;
    await expect(
      collect(fileBody({ path: file, size: data.length + 10, digest })()),
    ).rejects.toThrow(
      `blobs/sha256/${'1'.repeat(64)}: the file ends at byte ${data.length}, before the ${data.length + 10} bytes`,
    );
  });
});

describe('read buffers lent out', () => {
  it(`many readers at once: a piece stays as read until its reader has asked for ${REUSE_LAG} more`, async () => {
    // Each reader holds its last REUSE_LAG pieces, as a socket's queue may, and checks them every
    // time before it asks for the next; the readers interleave and share one set of spare buffers.
    // (That undici asks for the next piece only once the socket has drained is proved against a
    // real registry in blob-reader-reuse.itest.ts.)
    const files = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const path = join(dir, `many-${i}`);
        const bytes = Buffer.alloc((i % 3) * (700 << 10) + 1_300_000, i + 1);
        await writeFile(path, bytes);
        return { path, bytes };
      }),
    );
    const buffers = new Set<ArrayBufferLike>();
    await Promise.all(
      files.map(async ({ path, bytes }) => {
        const held: { piece: Buffer; at: number }[] = [];
        let at = 0;
        for await (const piece of fileRange(path, 0, bytes.length)()) {
          buffers.add(piece.buffer);
          held.push({ piece, at });
          at += piece.length;
          if (held.length > REUSE_LAG) held.shift();
          await new Promise((r) => setImmediate(r));
          for (const h of held)
            expect(h.piece.equals(bytes.subarray(h.at, h.at + h.piece.length))).toBe(true);
        }
        expect(at).toBe(bytes.length);
      }),
    );
    // Spare buffers were lent again: fewer buffers than pieces.
    const pieces = files.reduce((n, f) => n + Math.ceil(f.bytes.length / (512 << 10)), 0);
    expect(buffers.size).toBeLessThan(pieces);
  });
});

describe('digestFile', () => {
  it('gives digest and size of the whole file', async () => {
    expect(await digestFile(file, 'sha256')).toEqual({
      digest: `sha256:${createHash('sha256').update(data).digest('hex')}`,
      size: data.length,
    });
  });
});
