import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { InputError } from '../errors.js';
import type { Readable } from 'node:stream';

/** Large reads keep syscalls and event-loop turns per megabyte low when streaming a blob. */
const READ_BUFFER = 512 << 10;
const RING = 4;
/** Read buffers shared by every upload of the process, so a push of many blobs makes no garbage. */
const pool: Buffer[] = [];
const POOL_MAX = 16;

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER);
}

function giveBack(buffers: Buffer[]): void {
  for (const buffer of buffers) if (pool.length < POOL_MAX) pool.push(buffer);
}

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
    // A ring of reused buffers instead of a new one per read: V8 frees off-heap memory late, so a
    // stream of fresh 1 MiB buffers grows the process by tens of MB for a large blob. A buffer is
    // refilled RING reads after it was handed out (buffers come from a shared pool, and only as many as
    // the blob needs); undici waits for the socket to drain after each
    // write this size, and should that ever change, the registry's digest check refuses the blob.
    const ring: Buffer[] = [];
    const file = await open(blob.path, 'r');
    try {
      let held: Buffer | undefined;
      let size = 0;
      for (let i = 0; ; i++) {
        const buffer = (ring[i % RING] ??= takeBuffer());
        const { bytesRead } = await file.read(buffer, 0, buffer.length, size);
        if (bytesRead === 0) break;
        const piece = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
        hash.update(piece);
        size += bytesRead;
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
    } finally {
      await file.close();
      // The request has consumed the last piece (or died with its socket): the ring is free again.
      giveBack(ring);
    }
  };
}
