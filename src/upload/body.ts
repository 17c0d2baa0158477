import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { InputError } from '../errors.js';

/** Large reads keep syscalls and event-loop turns per megabyte low when streaming a blob. */
const READ_BUFFER = 512 << 10;
/**
 * How many buffers one reader cycles through. A buffer is refilled RING reads after it was handed
 * out; undici waits for the socket to drain after each write this size, and should that ever
 * change, the registry's digest check refuses the blob rather than commit bad bytes.
 */
const RING = 4;
const POOL_MAX = 16;
/**
 * Read buffers shared by every reader in the process. V8 frees off-heap memory late, so a stream of
 * fresh buffers (as fs streams allocate) grows a push of a large blob by tens of MB; reused ones do not.
 */
const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER);
}

function giveBack(buffers: Buffer[]): void {
  for (const buffer of buffers) if (pool.length < POOL_MAX) pool.push(buffer);
}

/** Reads `length` bytes of a file from `start`, in pieces that are views of pooled buffers. */
export async function* readPieces(
  path: string,
  start: number,
  length: number,
): AsyncGenerator<Buffer> {
  const ring: Buffer[] = [];
  const file = await open(path, 'r');
  try {
    for (let i = 0, done = 0; done < length; i++) {
      const buffer = (ring[i % RING] ??= takeBuffer());
      const want = Math.min(buffer.length, length - done);
      const { bytesRead } = await file.read(buffer, 0, want, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
    // The consumer has taken the last piece (or died with its socket): the ring is free again.
    giveBack(ring);
  }
}

/** A body factory over a byte range of a file; each call reads afresh, so a retry rereads it. */
export function fileRange(
  path: string,
  start: number,
  length: number,
): () => AsyncIterable<Buffer> {
  return () => readPieces(path, start, length);
}

/** A local blob whose bytes do not hash to its digest: the layout is corrupt, not the registry. */
export class CorruptBlobError extends InputError {
  override name = 'CorruptBlobError';
}

function algorithmOf(digest: string): 'sha256' | 'sha512' {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

function corrupt(digest: string, actual: string, size: number): CorruptBlobError {
  return new CorruptBlobError(
    `blobs/${digest.replace(':', '/')}: content does not match its digest (it hashes to ${actual}, ${size} bytes)`,
  );
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
    const algorithm = algorithmOf(blob.digest);
    const hash = createHash(algorithm);
    let held: Buffer | undefined;
    let size = 0;
    // Read one byte past the size, so a file that grew is noticed too.
    for await (const piece of readPieces(blob.path, 0, blob.size + 1)) {
      hash.update(piece);
      size += piece.length;
      if (held) yield held;
      held = piece;
    }
    const actual = `${algorithm}:${hash.digest('hex')}`;
    if (actual !== blob.digest || size !== blob.size) throw corrupt(blob.digest, actual, size);
    if (held) yield held;
  };
}

/** Hashes a blob's file (with the pooled reader) and refuses it if it is not what its digest says. */
export async function checkFileDigest(blob: {
  path: string;
  size: number;
  digest: string;
}): Promise<void> {
  const algorithm = algorithmOf(blob.digest);
  const hash = createHash(algorithm);
  let size = 0;
  for await (const piece of readPieces(blob.path, 0, blob.size + 1)) {
    hash.update(piece);
    size += piece.length;
  }
  const actual = `${algorithm}:${hash.digest('hex')}`;
  if (actual !== blob.digest || size !== blob.size) throw corrupt(blob.digest, actual, size);
}
