import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { TarBoundary, isTarHeader, paxSize, sniffArchive } from '../../src/oci/tar-boundary.js';
import { paxTar } from '../support/pax.js';
import { isMediaType } from '../../src/oci/types.js';

/** A ustar header for a file of `size` bytes, with its checksum. */
function header(name: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write('0', 156, 'latin1');
  block.write('ustar\0', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function tar(entries: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, body] of entries) {
    parts.push(header(name, body.length));
    const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
    data.write(body, 'latin1');
    parts.push(data);
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

/** Fed in chunks of each size, the boundary passes exactly `length` bytes and says it ended. */
async function expectBoundaryAt(stream: Buffer, length: number, sizes: number[]): Promise<void> {
  for (const size of sizes) {
    let stopped = false;
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
    const out = Readable.from(chunks).pipe(new TarBoundary(() => (stopped = true)));
    const passed = Buffer.from(await text(out), 'latin1');
    expect(passed.length, `chunks of ${size}`).toBe(length);
    expect(stopped).toBe(true);
  }
}

describe('telling archives from their first bytes', () => {
  it('gzip, tar, an empty tar, and anything else', () => {
    expect(sniffArchive(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
    expect(sniffArchive(tar([['a', 'x']]))).toBe('tar');
    expect(sniffArchive(Buffer.alloc(4096))).toBe('empty-tar');
    expect(sniffArchive(Buffer.from('{"imageLayoutVersion": "1.0.0"}'.padEnd(600)))).toBe(
      'unknown',
    );
    const corrupt = header('a', 1);
    corrupt[0] = 0x62;
    expect(isTarHeader(corrupt)).toBe(false);
  });
});

describe('the end of a tar', () => {
  it('stops at the end-of-archive marker, whatever follows, byte-aligned at any chunking', async () => {
    const archive = tar([
      ['index.json', '{}'],
      ['blob', 'y'.repeat(1500)],
    ]);
    const withTail = Buffer.concat([archive, Buffer.alloc(1 << 20), Buffer.from('junk')]);
    await expectBoundaryAt(withTail, archive.length, [1, 7, 512, 4096]);
  });
});

describe('media types (RFC 6838)', () => {
  it('takes what registries use and refuses controls, spaces and shapes that are not type/subtype', () => {
    for (const ok of [
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
      'text/plain;charset=utf-8',
    ])
      expect(isMediaType(ok), ok).toBe(true);
    for (const bad of [
      'application/json\n::error::x',
      'application/ json',
      'json',
      'application/json/x',
      '/json',
      'application/\u202ejson',
      '',
    ])
      expect(isMediaType(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('pax sizes', () => {
  it('reads the size record of a pax header, over a global one', () => {
    expect(paxSize(Buffer.from('13 size=1500\n20 path=blobs/a/b\n'))).toBe(1500);
    expect(paxSize(Buffer.from('20 path=blobs/a/b\n'))).toBeUndefined();
    expect(paxSize(Buffer.from('garbage'))).toBeUndefined();
  });

  it('an entry whose size is only in its pax header is passed whole, at any chunking', async () => {
    const data = 'z'.repeat(1500);
    const archive = paxTar([
      { name: 'index.json', data: Buffer.from('{}') },
      { name: 'blobs/sha256/aa', data: Buffer.from(data) },
    ]);
    const withTail = Buffer.concat([archive, Buffer.alloc(8192), Buffer.from('junk')]);
    await expectBoundaryAt(withTail, archive.length, [1, 100, 512, 4096]);
  });
});
