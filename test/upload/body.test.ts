import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileRange } from '../../src/upload/body.js';

let dir: string;
let file: string;
const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-push-body-'));
  file = join(dir, 'blob');
  await writeFile(file, data);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
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
    for await (const c of fileRange(big, 0, 5 << 20)()) sizes.push((c as Buffer).length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1 << 20);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(5 << 20);
  });
});
