import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, open, realpath, stat, statfs } from 'node:fs/promises';
import { dirname, join, posix, sep } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { TarBoundary, sniffArchive } from './tar-boundary.js';
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

/** Maps an entry name to a safe relative path, or throws naming the entry. */
function safeEntryPath(archive: string, name: string): string {
  if (name.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(name)) {
    throw new InputError(`${archive}: entry ${JSON.stringify(name)} has an absolute path`);
  }
  const parts = name.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw new InputError(`${archive}: entry ${JSON.stringify(name)} escapes the archive with '..'`);
  }
  return parts.join(sep);
}

/**
 * A gzip stream of image layers (already compressed themselves) expands little; far more is a
 * decompression bomb. Legacy docker-archives hold uncompressed layers, which compress better: the
 * ratio leaves room for those.
 */
export const MAX_GZIP_RATIO = 50;
/** The most entries an archive may have: an image's hold a few per layer and blob. */
export const MAX_ARCHIVE_ENTRIES = 100_000;
/** What each entry counts against the ceiling besides its bytes: its header, as in the archive. */
export const ENTRY_BYTES = 512;
/** Free space left in the temp folder's file system whatever the archive needs. */
export const FREE_SPACE_MARGIN = 256 << 20;

export interface ExtractOptions {
  /** A cancelled run stops reading at once. */
  signal?: AbortSignal;
  /** The most the archive may write, when a person set one (`max-image-size`). */
  maxBytes?: number;
}

interface Ceiling {
  bytes: number;
  why: string;
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
 * Copies one entry to a file. Async iteration, not stream.pipeline: tar-stream's entries are streamx
 * streams, and pipeline does not notice when one is destroyed (a truncated archive), so it would wait
 * forever; iteration rejects.
 */
async function writeEntry(
  entry: AsyncIterable<unknown>,
  target: string,
  spend: (bytes: number) => void,
): Promise<void> {
  const out = createWriteStream(target, { mode: 0o644 });
  let failed: Error | undefined;
  out.on('error', (error) => (failed = error));
  try {
    for await (const chunk of entry) {
      if (failed) throw failed;
      spend((chunk as Buffer).length);
      if (!out.write(chunk as Buffer)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  } finally {
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  if (failed) throw failed;
}

/**
 * Whether a file of an archive can be part of an image, so it is worth writing: what sits at the
 * top (oci-layout, index.json, manifest.json, repositories, a legacy config or podman's layer
 * tars), the blobs of a layout, and a legacy docker-archive's `ID/layer.tar`, `ID/json` and
 * `ID/VERSION`. Anything else is read past, never written.
 */
function isImagePart(parts: string[]): boolean {
  if (parts.length === 1) return true;
  if (parts[0] === 'blobs') return parts.length === 3;
  return parts.length === 2 && ['layer.tar', 'json', 'VERSION'].includes(parts[1] as string);
}

/** Links resolved within an archive before any gives up: as the kernel's 40. */
const MAX_LINK_HOPS = 40;

/**
 * Resolves an archive path through the archive's own symlinks, component by component, as the
 * kernel would after extraction, but on the archive's names instead of the disk: undefined when
 * it leaves the archive at any step (`..` above the top, an absolute link, a loop).
 */
export function resolveInArchive(
  path: string[],
  links: ReadonlyMap<string, string>,
): string[] | undefined {
  const pending = [...path];
  const done: string[] = [];
  for (let hops = 0; pending.length;) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (!done.length) return undefined;
      done.pop();
      continue;
    }
    const candidate = [...done, part].join('/');
    const link = links.get(candidate);
    if (link === undefined) {
      done.push(part);
      continue;
    }
    if (++hops > MAX_LINK_HOPS || posix.isAbsolute(link) || /^[a-zA-Z]:[\\/]/.test(link))
      return undefined;
    pending.unshift(...link.split(/[\\/]+/));
  }
  return done;
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

async function extractFrom(
  source: Readable,
  archive: string,
  root: string,
  gzipped: boolean,
  ceiling: Ceiling,
  signal: AbortSignal | undefined,
): Promise<void> {
  let written = 0;
  const spend = (bytes: number): void => {
    written += bytes;
    if (written > ceiling.bytes)
      throw new InputError(
        `${archive}: expands to more than ${formatSize(ceiling.bytes)} (${ceiling.why}); refused before filling the disk`,
      );
  };
  const extractor = tarExtract();
  const unzipped = gzipped ? source.pipe(createGunzip()) : source;
  // The tar ends at its end-of-archive marker: the source is not read past it.
  const bounded = unzipped.pipe(new TarBoundary(() => source.destroy()));
  for (const stream of new Set([source, unzipped, bounded]))
    stream.on('error', (error) => extractor.destroy(error));
  bounded.pipe(extractor);
  const onAbort = (): void => {
    source.destroy();
    extractor.destroy(new CancelledError(`cancelled while extracting ${archive}`));
  };
  // A signal that came before the listener: nothing would ever call it.
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  // A truncated archive fails the extractor while an entry is half written; that entry's stream
  // would wait for data forever unless it is failed too.
  let current: { destroy(error?: Error): void } | undefined;
  let extractorError: Error | undefined;
  const failCurrent = (error?: Error): void =>
    current?.destroy(error ?? new Error('unexpected end of data'));
  extractor.once('error', (error: Error) => {
    extractorError = error;
    failCurrent(error);
  });
  extractor.once('close', () => failCurrent());

  /** Archive path (`a/b/c`) → link target text, for symlinks; → archive path, for hardlinks. */
  const symlinks = new Map<string, string>();
  const hardlinks: { name: string; path: string; target: string }[] = [];
  const refuse = (name: string, why: string): never => {
    throw new InputError(`${archive}: entry ${JSON.stringify(name)} ${why}`);
  };
  /** An entry's own path may not pass through a link: nothing is written through one. */
  const checkParents = (name: string, parts: string[]): void => {
    for (let i = 1; i < parts.length; i++)
      if (symlinks.has(parts.slice(0, i).join('/'))) refuse(name, 'would write through a link');
  };
  const prepare = async (name: string, parts: string[]): Promise<string> => {
    checkParents(name, parts);
    const target = join(root, ...parts);
    // Only folders the archive names are made, and only under `root`: no link exists on disk.
    await mkdir(dirname(target), { recursive: true });
    return target;
  };

  let entries = 0;
  try {
    for await (const entry of extractor) {
      current = entry;
      const { header } = entry;
      if (++entries > MAX_ARCHIVE_ENTRIES)
        throw new InputError(
          `${archive}: more than ${MAX_ARCHIVE_ENTRIES} entries; an image archive holds a few per layer`,
        );
      // Every entry counts, whatever its size or kind: folders and empty files fill a disk too.
      spend(ENTRY_BYTES);
      const rel = safeEntryPath(archive, header.name);
      const parts = rel ? rel.split(sep) : [];
      switch (header.type) {
        case 'directory':
          // Never made here: a file's own folders are, so empty ones cost nothing.
          checkParents(header.name, parts);
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file': {
          // Checked first, so a hostile name is refused even where it would have been skipped.
          checkParents(header.name, parts);
          if (!isImagePart(parts)) {
            entry.resume();
            break;
          }
          const target = await prepare(header.name, parts);
          if (symlinks.has(parts.join('/'))) refuse(header.name, 'would overwrite a link');
          await writeEntry(entry, target, spend);
          break;
        }
        case 'symlink': {
          checkParents(header.name, parts);
          const link = header.linkname ?? '';
          if (
            posix.isAbsolute(link) ||
            !resolveInArchive([...parts.slice(0, -1), ...link.split('/')], symlinks)
          )
            throw new InputError(
              `${archive}: symlink ${JSON.stringify(header.name)} points outside the archive (${link})`,
            );
          symlinks.set(parts.join('/'), link);
          entry.resume();
          break;
        }
        case 'link': {
          checkParents(header.name, parts);
          hardlinks.push({
            name: header.name,
            path: parts.join('/'),
            target: safeEntryPath(archive, header.linkname ?? '')
              .split(sep)
              .join('/'),
          });
          entry.resume();
          break;
        }
        default:
          // Devices, fifos and PAX globals have no place in an image archive; skip their data.
          entry.resume();
      }
    }
  } catch (error) {
    source.destroy();
    if (signal?.aborted) throw new CancelledError(`cancelled while extracting ${archive}`);
    if (error instanceof InputError) throw error;
    const message = (extractorError ?? (error as Error)).message || String(error);
    throw new InputError(`${archive}: not a readable tar archive (${message})`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  // Every entry is out: materialise links as copies of what they name, resolved through the
  // archive's links (a chain included), never through anything on disk.
  const copyOf = async (
    name: string,
    path: string,
    resolved: string[] | undefined,
    kind: string,
  ): Promise<void> => {
    if (!resolved)
      throw new InputError(
        `${archive}: ${kind} ${JSON.stringify(name)} points outside the archive`,
      );
    const from = join(root, ...resolved);
    const info = await lstat(from).catch(() => undefined);
    if (!info?.isFile()) {
      if (kind === 'hardlink')
        throw new InputError(`${archive}: hardlink ${JSON.stringify(name)} names a missing entry`);
      return; // A dangling or folder symlink has nothing an image needs.
    }
    const to = join(root, ...path.split('/'));
    // A thousand links to one large file are a thousand copies: they count like any other bytes.
    spend(info.size);
    await mkdir(dirname(to), { recursive: true });
    await copyFile(from, to);
  };
  for (const h of hardlinks)
    await copyOf(h.name, h.path, resolveInArchive(h.target.split('/'), symlinks), 'hardlink');
  for (const [path, link] of symlinks) {
    const parts = path.split('/');
    await copyOf(
      path,
      path,
      resolveInArchive([...parts.slice(0, -1), ...link.split('/')], symlinks),
      'symlink',
    );
  }
}
