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

/** The `size` record of a pax extended header's data (`NN size=VALUE\n` records), if any. */
export function paxSize(data: Buffer): number | undefined {
  let size: number | undefined;
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(data.subarray(at, space).toString('latin1'));
    if (!Number.isSafeInteger(length) || length <= space - at) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0 && record.slice(0, eq) === 'size' && /^\d+$/.test(record.slice(eq + 1)))
      size = Number(record.slice(eq + 1));
    at += length;
  }
  return size;
}

/** The most of a pax header's data read for its records: real ones hold a few names and times. */
const MAX_PAX_BYTES = 1 << 20;

/**
 * Passes a tar stream through up to its end-of-archive marker (two zero blocks where a header is
 * due) and ends there, so a stream that goes on after it (zeros from /dev/zero, trailing junk) is
 * never read to its end. `onEnd` tells the reader to stop the source. An entry's size is read as
 * the extractor reads it: a pax `size` record (from its own extended header, over a global one)
 * wins over the ustar field, which is 0 or wrong for entries of 8 GiB and more.
 */
export class TarBoundary extends Transform {
  private pending = Buffer.alloc(0);
  /** Data bytes (padded to blocks) still to pass before the next header. */
  private data = 0;
  private zeros = 0;
  private ended = false;
  /** A pax header's data being read: its kind, its unpadded bytes left, and what came. */
  private pax?: { global: boolean; left: number; chunks: Buffer[] };
  private globalSize?: number;
  /** The size the next entry's own pax header gave; undefined without one. */
  private nextSize?: number;
  private hasLocalPax = false;

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
        this.collect(buf.subarray(out, out + take));
        out += take;
        this.data -= take;
        if (this.data > 0) break;
        this.endPax();
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
      this.data = Math.ceil(this.sizeOf(header) / BLOCK) * BLOCK;
    }
    if (out) this.push(buf.subarray(0, out));
    buf = buf.subarray(out);
    this.pending = Buffer.from(buf);
    done();
  }

  /** The data size that follows `header`, starting to read a pax header's records where it is one. */
  private sizeOf(header: Buffer): number {
    const type = String.fromCharCode(header[156] as number);
    const size = entrySize(header);
    if (type === 'x' || type === 'g') {
      this.pax = { global: type === 'g', left: size, chunks: [] };
      if (!size) this.endPax();
      return size;
    }
    const pax = this.hasLocalPax ? (this.nextSize ?? this.globalSize) : undefined;
    this.hasLocalPax = false;
    this.nextSize = undefined;
    return pax ?? size;
  }

  private collect(bytes: Buffer): void {
    if (!this.pax) return;
    const kept = bytes.subarray(0, Math.min(bytes.length, this.pax.left));
    this.pax.left -= kept.length;
    if (this.pax.chunks.reduce((n, c) => n + c.length, 0) < MAX_PAX_BYTES)
      this.pax.chunks.push(Buffer.from(kept));
  }

  private endPax(): void {
    if (!this.pax) return;
    const size = paxSize(Buffer.concat(this.pax.chunks));
    if (this.pax.global) this.globalSize = size ?? this.globalSize;
    else {
      this.hasLocalPax = true;
      this.nextSize = size;
    }
    this.pax = undefined;
  }

  override _flush(done: TransformCallback): void {
    if (!this.ended && this.pending.length) this.push(this.pending);
    done();
  }
}
