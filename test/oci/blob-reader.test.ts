import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  CorruptBlobError,
  checkFileDigest,
  digestFile,
  hashedFileBody,
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

/** Pieces are views of reused buffers, so a consumer that keeps them must copy them. */
async function collect(pieces: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
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

describe('hashedFileBody and checkFileDigest', () => {
  it('stream a file that matches its digest, through more pieces than the ring has buffers', async () => {
    const big = join(dir, 'ring');
    const content = Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 7) % 256));
    await writeFile(big, content);
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    expect(
      (await collect(hashedFileBody({ path: big, size: content.length, digest })())).equals(
        content,
      ),
    ).toBe(true);
    await expect(
      checkFileDigest({ path: big, size: content.length, digest }),
    ).resolves.toBeUndefined();
  });

  it('refuse a file that does not match, before its last piece', async () => {
    const digest = `sha256:${'0'.repeat(64)}`;
    const pieces: number[] = [];
    const consume = async (): Promise<void> => {
      for await (const c of hashedFileBody({ path: file, size: data.length, digest })())
        pieces.push(c.length);
    };
    await expect(consume()).rejects.toBeInstanceOf(CorruptBlobError);
    expect(pieces.reduce((a, b) => a + b, 0)).toBeLessThan(data.length);
    await expect(checkFileDigest({ path: file, size: data.length, digest })).rejects.toThrow(
      /content does not match its digest/,
    );
  });
});

describe('pooled buffers', () => {
  it('never lend a piece still held by its consumer to another reader', async () => {
    // hashedFileBody holds its last piece back until the hash is known, and yields it after the
    // file's reader has finished; other blobs read meanwhile must not get (and fill) its buffer.
    const a = join(dir, 'held-a');
    const b = join(dir, 'held-b');
    const aBytes = Buffer.alloc(600 << 10, 0xaa);
    const bBytes = Buffer.alloc(4 << 20, 0xbb);
    await writeFile(a, aBytes);
    await writeFile(b, bBytes);
    const digest = (x: Buffer): string => `sha256:${createHash('sha256').update(x).digest('hex')}`;
    const pieces = hashedFileBody({ path: a, size: aBytes.length, digest: digest(aBytes) })()[
      Symbol.asyncIterator
    ]();
    const first = await pieces.next();
    expect(first.done).toBe(false);
    const last = await pieces.next();
    expect(last.done).toBe(false);
    // The consumer has the last piece in hand (as a socket has bytes not yet written); another
    // blob's reader runs.
    await collect(fileRange(b, 0, bBytes.length)());
    expect((last.value as Buffer).every((x) => x === 0xaa)).toBe(true);
    expect((await pieces.next()).done).toBe(true);
  });
});

describe('digestFile', () => {
  it('is the same hasher: digest and size of the whole file', async () => {
    expect(await digestFile(file, 'sha256')).toEqual({
      digest: `sha256:${createHash('sha256').update(data).digest('hex')}`,
      size: data.length,
    });
  });
});
