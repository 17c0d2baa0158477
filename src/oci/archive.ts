import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, open, realpath, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { InputError } from '../util/errors.js';

export async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

function inside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
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
 * Copies one entry to a file. Async iteration, not stream.pipeline: tar-stream's entries are streamx
 * streams, and pipeline does not notice when one is destroyed (a truncated archive), so it would wait
 * forever; iteration rejects.
 */
async function writeEntry(entry: AsyncIterable<unknown>, target: string): Promise<void> {
  const out = createWriteStream(target, { mode: 0o644 });
  let failed: Error | undefined;
  out.on('error', (error) => (failed = error));
  try {
    for await (const chunk of entry) {
      if (failed) throw failed;
      if (!out.write(chunk as Buffer)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  } finally {
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  if (failed) throw failed;
}

/**
 * Extracts a tar (optionally gzipped) into `dest`, streaming: no entry is held in memory. Entries that
 * would write outside `dest` (absolute paths, `..`, links pointing out, writes through links) are refused.
 */
export async function extractArchive(archive: string, dest: string): Promise<void> {
  const root = await realpath(dest);
  const source: Readable = createReadStream(archive, { highWaterMark: 1 << 20 });
  const extractor = tarExtract();
  const input = (await isGzip(archive)) ? source.pipe(createGunzip()) : source;
  input.on('error', (error) => extractor.destroy(error));
  input.pipe(extractor);
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

  // Checks the real parent folder, so an earlier symlink entry cannot redirect a later write.
  const safeParent = async (target: string, name: string): Promise<void> => {
    await mkdir(dirname(target), { recursive: true });
    if (!inside(root, await realpath(dirname(target)))) {
      throw new InputError(
        `${archive}: entry ${JSON.stringify(name)} would write through a link outside the archive`,
      );
    }
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isSymbolicLink()) {
      throw new InputError(`${archive}: entry ${JSON.stringify(name)} would overwrite a link`);
    }
  };

  try {
    for await (const entry of extractor) {
      current = entry;
      const { header } = entry;
      const rel = safeEntryPath(archive, header.name);
      const target = join(root, rel);
      switch (header.type) {
        case 'directory':
          if (rel) {
            await safeParent(target, header.name);
            await mkdir(target, { recursive: true });
          }
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file':
          await safeParent(target, header.name);
          await writeEntry(entry, target);
          break;
        case 'symlink': {
          const link = header.linkname ?? '';
          const resolved = resolve(dirname(target), link.split('/').join(sep));
          if (posix.isAbsolute(link) || !inside(root, resolved)) {
            throw new InputError(
              `${archive}: symlink ${JSON.stringify(header.name)} points outside the archive (${link})`,
            );
          }
          await safeParent(target, header.name);
          await symlink(link, target);
          entry.resume();
          break;
        }
        case 'link': {
          const linkRel = safeEntryPath(archive, header.linkname ?? '');
          const from = join(root, linkRel);
          if (!inside(root, await realpath(from).catch(() => from))) {
            throw new InputError(
              `${archive}: hardlink ${JSON.stringify(header.name)} points outside the archive`,
            );
          }
          await safeParent(target, header.name);
          await copyFile(from, target).catch(() => {
            throw new InputError(
              `${archive}: hardlink ${JSON.stringify(header.name)} names a missing entry ${header.linkname}`,
            );
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
    if (error instanceof InputError) throw error;
    const message = (extractorError ?? (error as Error)).message || String(error);
    throw new InputError(`${archive}: not a readable tar archive (${message})`);
  }
}
