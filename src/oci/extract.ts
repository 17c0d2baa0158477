import { copyFile, lstat, mkdir } from 'node:fs/promises';
import { dirname, join, posix, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { TarBoundary } from './tar-boundary.js';
import { CancelledError } from '../util/cancel.js';
import { InputError } from '../util/errors.js';
import { formatSize } from '../util/format.js';
import { createWriteStream } from 'node:fs';

/** The most the extraction may write, and why that much. */
export interface Ceiling {
  bytes: number;
  why: string;
}

/** The most entries an archive may have: an image's hold a few per layer and blob. */
const MAX_ARCHIVE_ENTRIES = 100_000;
/** What each entry counts against the ceiling besides its bytes: its header, as in the archive. */
const ENTRY_BYTES = 512;
/** Links resolved within an archive before any gives up: as the kernel's 40. */
const MAX_LINK_HOPS = 40;

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

/**
 * Resolves an archive path through the archive's own symlinks, component by component, as the
 * kernel would after extraction, but on the archive's names instead of the disk: undefined when
 * it leaves the archive at any step (`..` above the top, an absolute link, a loop).
 */
function resolveInArchive(
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

type TarEntry = AsyncIterable<unknown> & {
  header: { name: string; type: string | null; linkname?: string | null };
  resume(): void;
  destroy(error?: Error): void;
};

/** The tar stream: gunzipped when it is gzip, ended at its end-of-archive marker, cancellable. */
function tarEntries(
  source: Readable,
  archive: string,
  gzipped: boolean,
  signal: AbortSignal | undefined,
): {
  extractor: ReturnType<typeof tarExtract>;
  failure: () => Error | undefined;
  stop: () => void;
} {
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
  let failure: Error | undefined;
  extractor.once('error', (error: Error) => (failure = error));
  return {
    extractor,
    failure: () => failure,
    stop: () => signal?.removeEventListener('abort', onAbort),
  };
}

/**
 * One archive written out under `root`: every entry counted against the ceiling, only image parts
 * written, links kept as names until every entry is out and then made copies of what they name.
 */
class ArchiveWriter {
  private written = 0;
  private entries = 0;
  /** Archive path (`a/b/c`) → link target text, for symlinks. */
  private readonly symlinks = new Map<string, string>();
  private readonly hardlinks: { name: string; path: string; target: string }[] = [];

  constructor(
    private readonly archive: string,
    private readonly root: string,
    private readonly ceiling: Ceiling,
  ) {}

  readonly spend = (bytes: number): void => {
    this.written += bytes;
    if (this.written > this.ceiling.bytes)
      throw new InputError(
        `${this.archive}: expands to more than ${formatSize(this.ceiling.bytes)} (${this.ceiling.why}); refused before filling the disk`,
      );
  };

  private refuse(name: string, why: string): never {
    throw new InputError(`${this.archive}: entry ${JSON.stringify(name)} ${why}`);
  }

  /** An entry's own path may not pass through a link: nothing is written through one. */
  private checkParents(name: string, parts: string[]): void {
    for (let i = 1; i < parts.length; i++)
      if (this.symlinks.has(parts.slice(0, i).join('/')))
        this.refuse(name, 'would write through a link');
  }

  /** Only folders the archive names are made, and only under `root`: no link exists on disk. */
  private async prepare(name: string, parts: string[]): Promise<string> {
    this.checkParents(name, parts);
    const target = join(this.root, ...parts);
    await mkdir(dirname(target), { recursive: true });
    return target;
  }

  async entry(entry: TarEntry): Promise<void> {
    const { header } = entry;
    if (++this.entries > MAX_ARCHIVE_ENTRIES)
      throw new InputError(
        `${this.archive}: more than ${MAX_ARCHIVE_ENTRIES} entries; an image archive holds a few per layer`,
      );
    // Every entry counts, whatever its size or kind: folders and empty files fill a disk too.
    this.spend(ENTRY_BYTES);
    const rel = safeEntryPath(this.archive, header.name);
    const parts = rel ? rel.split(sep) : [];
    // Checked first, so a hostile name is refused even where it would have been skipped.
    this.checkParents(header.name, parts);
    switch (header.type) {
      case 'file':
      case 'contiguous-file':
        if (!isImagePart(parts)) break;
        if (this.symlinks.has(parts.join('/'))) this.refuse(header.name, 'would overwrite a link');
        return writeEntry(entry, await this.prepare(header.name, parts), this.spend);
      case 'symlink':
        this.symlink(header.name, parts, header.linkname ?? '');
        break;
      case 'link':
        this.hardlinks.push({
          name: header.name,
          path: parts.join('/'),
          target: safeEntryPath(this.archive, header.linkname ?? '')
            .split(sep)
            .join('/'),
        });
        break;
      // Folders are never made here (a file's own are); devices, fifos and PAX globals have no
      // place in an image archive. Their data is skipped.
    }
    entry.resume();
  }

  private symlink(name: string, parts: string[], link: string): void {
    if (
      posix.isAbsolute(link) ||
      !resolveInArchive([...parts.slice(0, -1), ...link.split('/')], this.symlinks)
    )
      throw new InputError(
        `${this.archive}: symlink ${JSON.stringify(name)} points outside the archive (${link})`,
      );
    this.symlinks.set(parts.join('/'), link);
  }

  /**
   * Every entry is out: links become copies of what they name, resolved through the archive's
   * links (a chain included), never through anything on disk.
   */
  async links(): Promise<void> {
    for (const h of this.hardlinks)
      await this.copyOf(
        h.name,
        h.path,
        resolveInArchive(h.target.split('/'), this.symlinks),
        'hardlink',
      );
    for (const [path, link] of this.symlinks) {
      const parts = path.split('/');
      const resolved = resolveInArchive([...parts.slice(0, -1), ...link.split('/')], this.symlinks);
      await this.copyOf(path, path, resolved, 'symlink');
    }
  }

  private async copyOf(
    name: string,
    path: string,
    resolved: string[] | undefined,
    kind: string,
  ): Promise<void> {
    if (!resolved)
      throw new InputError(
        `${this.archive}: ${kind} ${JSON.stringify(name)} points outside the archive`,
      );
    const from = join(this.root, ...resolved);
    const info = await lstat(from).catch(() => undefined);
    if (!info?.isFile()) {
      if (kind === 'hardlink')
        throw new InputError(
          `${this.archive}: hardlink ${JSON.stringify(name)} names a missing entry`,
        );
      return; // A dangling or folder symlink has nothing an image needs.
    }
    const to = join(this.root, ...path.split('/'));
    // A thousand links to one large file are a thousand copies: they count like any other bytes.
    this.spend(info.size);
    await mkdir(dirname(to), { recursive: true });
    await copyFile(from, to);
  }
}

/**
 * Extracts a tar stream into `root`: no entry held in memory, no link made on disk, nothing written
 * outside `root`. A truncated archive fails the entry half written too (its stream would wait for
 * data forever otherwise).
 */
export async function extractFrom(
  source: Readable,
  archive: string,
  root: string,
  gzipped: boolean,
  ceiling: Ceiling,
  signal: AbortSignal | undefined,
): Promise<void> {
  const tar = tarEntries(source, archive, gzipped, signal);
  const writer = new ArchiveWriter(archive, root, ceiling);
  let current: TarEntry | undefined;
  const failCurrent = (error?: Error): void =>
    current?.destroy(error ?? new Error('unexpected end of data'));
  tar.extractor.once('error', (error: Error) => failCurrent(error));
  tar.extractor.once('close', () => failCurrent());
  try {
    for await (const entry of tar.extractor as AsyncIterable<TarEntry>) {
      current = entry;
      await writer.entry(entry);
    }
  } catch (error) {
    source.destroy();
    if (signal?.aborted) throw new CancelledError(`cancelled while extracting ${archive}`);
    if (error instanceof InputError) throw error;
    const message = (tar.failure() ?? (error as Error)).message || String(error);
    throw new InputError(`${archive}: not a readable tar archive (${message})`);
  } finally {
    tar.stop();
  }
  await writer.links();
}
