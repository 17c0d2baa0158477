import { createReadStream } from 'node:fs';
import { open, realpath, stat, statfs } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { type Ceiling, extractFrom } from './extract.js';
import { sniffArchive } from './tar-boundary.js';
import { CancelledError } from '../util/cancel.js';
import { InputError } from '../util/errors.js';
import { formatSize } from '../util/format.js';

export async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * A gzip stream of image layers (already compressed themselves) expands little; far more is a
 * decompression bomb. Legacy docker-archives hold uncompressed layers, which compress better: the
 * ratio leaves room for those.
 */
export const MAX_GZIP_RATIO = 50;
/** Free space left in the temp folder's file system whatever the archive needs. */
export const FREE_SPACE_MARGIN = 256 << 20;

export interface ExtractOptions {
  /** A cancelled run stops reading at once. */
  signal?: AbortSignal;
  /** The most the archive may write, when a person set one (`max-image-size`). */
  maxBytes?: number;
}

/** The free space of the temp folder's file system, less a margin for everything else. */
async function freeSpace(dest: string): Promise<number> {
  const fs = await statfs(dest).catch(() => undefined);
  return fs ? Math.max(0, fs.bavail * fs.bsize - FREE_SPACE_MARGIN) : Infinity;
}

/** The smallest of the limits that apply: the one a person set, a ratio of the size, the free space. */
async function extractionCeiling(
  dest: string,
  options: ExtractOptions,
  archive?: { size: number; gzipped: boolean },
): Promise<Ceiling> {
  const limits: Ceiling[] = [
    {
      bytes: await freeSpace(dest),
      why: `the free space of the temp folder, less ${formatSize(FREE_SPACE_MARGIN)}`,
    },
  ];
  if (options.maxBytes !== undefined)
    limits.push({ bytes: options.maxBytes, why: 'max-image-size' });
  if (archive) {
    // A plain tar holds its entries' bytes itself; links are the only way it grows.
    const ratio = archive.gzipped ? MAX_GZIP_RATIO : 4;
    limits.push({
      bytes: Math.max(64 << 20, archive.size * ratio),
      why: `${ratio} times its own size`,
    });
  }
  return limits.reduce((a, b) => (b.bytes < a.bytes ? b : a));
}

/**
 * Extracts a tar (optionally gzipped) into `dest`, streaming: no entry is held in memory. No link
 * is ever created on disk: a symlink or hardlink becomes a copy of the regular file it names inside
 * the archive, resolved through the archive's own links once every entry is out. An entry that would
 * leave `dest` (absolute paths, `..`, links that point out, even through a chain, writes through a
 * link) is refused, and nothing is created outside `dest`.
 */
export async function extractArchive(
  archive: string,
  dest: string,
  options: ExtractOptions = {},
): Promise<void> {
  const root = await realpath(dest);
  const gzipped = await isGzip(archive);
  const ceiling = await extractionCeiling(root, options, {
    size: (await stat(archive)).size,
    gzipped,
  });
  const source: Readable = createReadStream(archive, { highWaterMark: 1 << 20 });
  await extractFrom(source, archive, root, gzipped, ceiling, options.signal);
}

/** The first bytes a format is told from: a tar header's block. */
const SNIFF_BYTES = 512;

/**
 * Extracts an archive read as a stream (stdin, a named pipe) as it arrives: nothing is spooled
 * first, so each entry is written once. The format is told from the first bytes and anything that
 * is neither gzip nor tar is refused at once; a tar ends at its end-of-archive marker, whatever
 * follows; the bytes written are bounded by the free space of the temp folder (and
 * `max-image-size`).
 */
export async function extractStream(
  input: AsyncIterable<Buffer>,
  shownAs: string,
  dest: string,
  options: ExtractOptions = {},
): Promise<void> {
  const root = await realpath(dest);
  const iterator = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < SNIFF_BYTES) {
    if (options.signal?.aborted) throw new CancelledError(`cancelled while reading ${shownAs}`);
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    head.push(next.value);
    have += next.value.length;
  }
  const first = Buffer.concat(head);
  const format = sniffArchive(first);
  const stop = (): void => void iterator.return?.();
  if (!first.length) throw new InputError(`${shownAs}: empty; no archive was written to it`);
  if (format === 'empty-tar') {
    stop();
    throw new InputError(
      `${shownAs}: an empty tar archive (it starts with the end-of-archive marker: zeros, not an image)`,
    );
  }
  if (format === 'unknown') {
    stop();
    throw new InputError(
      `${shownAs}: not a tar or gzip archive (its first bytes are neither a tar header nor gzip's magic)`,
    );
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield first;
      if (done) return;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Stopped early (the end-of-archive marker, an error, a cancel): the input is let go too.
      if (!done) stop();
    }
  }
  const source = Readable.from(rest(), { objectMode: false });
  const ceiling = await extractionCeiling(root, options);
  await extractFrom(source, shownAs, root, format === 'gzip', ceiling, options.signal);
}
