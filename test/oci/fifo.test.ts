import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFifo } from '../../src/oci/fifo.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-push-fifo-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('readFifo', () => {
  it('waits for a writer that comes later, then reads to the end', async () => {
    const fifo = join(dir, 'late');
    execFileSync('mkfifo', [fifo]);
    const reading = collect(readFifo(fifo, 'late'));
    await new Promise((r) => setTimeout(r, 200));
    const out = createWriteStream(fifo);
    out.write(Buffer.alloc(3 << 20, 7));
    out.end('end');
    const data = await reading;
    expect(data.length).toBe((3 << 20) + 3);
  });

  it('with no writer: a clear error after its timeout, and a cancel at once', async () => {
    const fifo = join(dir, 'none');
    execFileSync('mkfifo', [fifo]);
    await expect(collect(readFifo(fifo, 'my.fifo', undefined, 300))).rejects.toThrow(
      /my\.fifo: a named pipe with no writer after 0 s/,
    );
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 100);
    await expect(collect(readFifo(fifo, 'my.fifo', cancel.signal))).rejects.toThrow(/cancelled/);
  });
});
