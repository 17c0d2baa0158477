import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { InputError } from '../util/errors.js';
import type { DigestAlgorithm, FileDigest } from './digest.js';

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
  let last: Buffer | undefined;
  const file = await open(path, 'r');
  try {
    for (let i = 0, done = 0; done < length; i++) {
      const buffer = (ring[i % RING] ??= takeBuffer());
      const want = Math.min(buffer.length, length - done);
      const { bytesRead } = await file.read(buffer, 0, want, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
      last = buffer;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
    // The consumer has asked past the last piece, so it is done with every piece but that one: a
    // hasher holds the last back until its digest is known, and a socket may not have written it
    // yet. That buffer is left to the garbage collector; the rest of the ring is free again.
    giveBack(ring.filter((buffer) => buffer !== last));
  }
}

/** A local blob whose bytes do not hash to its digest: the layout is corrupt, not the registry. */
export class CorruptBlobError extends InputError {
  override name = 'CorruptBlobError';
}

function algorithmOf(digest: string): DigestAlgorithm {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

function corrupt(digest: string, actual: string, size: number): CorruptBlobError {
  return new CorruptBlobError(
    `blobs/${digest.replace(':', '/')}: content does not match its digest (it hashes to ${actual}, ${size} bytes)`,
  );
}

/**
 * The one streaming hasher: yields a file's pieces while hashing them and, when `expect` is given,
 * holds the last piece back until the hash is known, so a consumer that sends the pieces never
 * completes a request with bytes that do not match. Returns the digest and size it saw.
 */
export async function* hashedPieces(
  path: string,
  algorithm: DigestAlgorithm,
  expect?: { digest: string; size: number },
): AsyncGenerator<Buffer, FileDigest> {
  const hash = createHash(algorithm);
  let held: Buffer | undefined;
  let size = 0;
  // Read one byte past the expected size, so a file that grew is noticed too.
  const length = expect ? expect.size + 1 : Number.MAX_SAFE_INTEGER;
  for await (const piece of readPieces(path, 0, length)) {
    hash.update(piece);
    size += piece.length;
    if (held) yield held;
    held = piece;
  }
  const digest = `${algorithm}:${hash.digest('hex')}`;
  if (expect && (digest !== expect.digest || size !== expect.size))
    throw corrupt(expect.digest, digest, size);
  if (held) yield held;
  return { digest, size };
}

/** Hashes a file with the pooled reader; a blob of any size costs a fixed amount of memory. */
export async function digestFile(path: string, algorithm: DigestAlgorithm): Promise<FileDigest> {
  const pieces = hashedPieces(path, algorithm);
  for (;;) {
    const next = await pieces.next();
    if (next.done) return next.value;
  }
}

/** Refuses a blob's file if it is not what its digest says. */
export async function checkFileDigest(blob: {
  path: string;
  size: number;
  digest: string;
}): Promise<void> {
  for await (const _ of hashedPieces(blob.path, algorithmOf(blob.digest), blob)) {
    // Only the check matters.
  }
}

/** The whole file as a body that checks its digest while it streams (see hashedPieces). */
export function hashedFileBody(blob: {
  path: string;
  size: number;
  digest: string;
}): () => AsyncIterable<Buffer> {
  return () => hashedPieces(blob.path, algorithmOf(blob.digest), blob);
}
