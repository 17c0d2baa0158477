import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { InputError } from '../errors.js';
import type { Readable } from 'node:stream';

/** Large reads keep syscalls and event-loop turns per megabyte low when streaming a blob. */
const READ_BUFFER = 1 << 20;

/** A body factory over a byte range of a file; each call opens a fresh stream, so retries reread. */
export function fileRange(path: string, start: number, length: number): () => Readable {
  return () =>
    createReadStream(path, {
      start,
      end: start + length - 1,
      highWaterMark: Math.min(READ_BUFFER, Math.max(1, length)),
    });
}

/** A local blob whose bytes do not hash to its digest: the layout is corrupt, not the registry. */
export class CorruptBlobError extends InputError {
  override name = 'CorruptBlobError';
}

/**
 * The whole file as a body that checks its digest while it streams. The last piece is held back
 * until the hash is known, so a corrupt file never completes a request: no registry can commit it,
 * whether or not it checks digests itself. This is what lets a push read each blob only once.
 */
export function hashedFileBody(blob: {
  path: string;
  size: number;
  digest: string;
}): () => AsyncIterable<Buffer> {
  return async function* () {
    const algorithm = blob.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    const hash = createHash(algorithm);
    let held: Buffer | undefined;
    let size = 0;
    for await (const chunk of createReadStream(blob.path, { highWaterMark: READ_BUFFER })) {
      const piece = chunk as Buffer;
      hash.update(piece);
      size += piece.length;
      if (held) yield held;
      held = piece;
    }
    const actual = `${algorithm}:${hash.digest('hex')}`;
    if (actual !== blob.digest || size !== blob.size) {
      const where = `blobs/${blob.digest.replace(':', '/')}`;
      throw new CorruptBlobError(
        `${where}: content does not match its digest (it hashes to ${actual}, ${size} bytes)`,
      );
    }
    if (held) yield held;
  };
}
