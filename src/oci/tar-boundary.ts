import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;

export type ArchiveFormat = 'gzip' | 'tar' | 'empty-tar' | 'unknown';

/** Whether a 512-byte block is a tar header: its checksum field matches its bytes. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  const field = block.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]{1,8}$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum === parseInt(field, 8);
}

const isZero = (block: Buffer): boolean => block.every((b) => b === 0);

/**
 * What a stream holds, from its first bytes: gzip's magic, a tar header with a right checksum, or
 * a tar that starts with its end-of-archive marker (as /dev/zero does). Anything else is refused
 * before it is read further.
 */
export function sniffArchive(first: Buffer): ArchiveFormat {
  if (first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b) return 'gzip';
  const block = first.subarray(0, BLOCK);
  if (block.length === BLOCK && isZero(block)) return 'empty-tar';
  return isTarHeader(block) ? 'tar' : 'unknown';
}

/** An entry's data size from its header: octal, or GNU's base-256 for large sizes. */
function entrySize(header: Buffer): number {
  const field = header.subarray(124, 136);
  if ((field[0] as number) & 0x80) {
    let size = 0;
    for (let i = 1; i < field.length; i++) size = size * 256 + (field[i] as number);
    return size;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text ? parseInt(text, 8) : 0;
}

/**
 * Passes a tar stream through up to its end-of-archive marker (two zero blocks where a header is
 * due) and ends there, so a stream that goes on after it (zeros from /dev/zero, trailing junk) is
 * never read to its end. `onEnd` tells the reader to stop the source.
 */
export class TarBoundary extends Transform {
  private pending = Buffer.alloc(0);
  /** Data bytes (padded to blocks) still to pass before the next header. */
  private data = 0;
  private zeros = 0;
  private ended = false;

  constructor(private readonly onEnd: () => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.ended) return done();
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let out = 0;
    for (;;) {
      if (this.data > 0) {
        const take = Math.min(this.data, buf.length - out);
        out += take;
        this.data -= take;
        if (this.data > 0) break;
      }
      if (buf.length - out < BLOCK) break;
      const header = buf.subarray(out, out + BLOCK);
      out += BLOCK;
      if (isZero(header)) {
        if (++this.zeros === 2) {
          this.ended = true;
          this.push(buf.subarray(0, out));
          this.push(null);
          this.onEnd();
          return done();
        }
        continue;
      }
      this.zeros = 0;
      const size = entrySize(header);
      this.data = Math.ceil(size / BLOCK) * BLOCK;
    }
    if (out) this.push(buf.subarray(0, out));
    buf = buf.subarray(out);
    this.pending = Buffer.from(buf);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (!this.ended && this.pending.length) this.push(this.pending);
    done();
  }
}
