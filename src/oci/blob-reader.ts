import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { InputError } from '../util/errors.js';
import { blobName, type DigestAlgorithm, type FileDigest } from './digest.js';

/** Large reads keep syscalls and event-loop turns per megabyte low when streaming a blob. */
const READ_BUFFER = 512 << 10;

/** A local blob whose bytes do not hash to its digest: the layout is corrupt, not the registry. */
export class CorruptBlobError extends InputError {
  override name = 'CorruptBlobError';
}

/** Spare read buffers: enough for every upload place's pieces in flight, never more. */
const MAX_SPARE = 16;
const spare: Buffer[] = [];

/**
 * How many more pieces the consumer must ask for before a piece's buffer is read into again.
 * undici asks for the next piece of a body only once the socket has drained every piece before it
 * (or has died): one ask would do, the second is margin. test/oci/blob-reader-reuse.itest.ts sends
 * many bodies at once through slow sockets and resets mid-body, and shows a lag of 0 failing.
 */
export const REUSE_LAG = 2;

/**
 * Reads `length` bytes of a file from `start`, in pieces. A piece stays as it is until the
 * consumer has asked for REUSE_LAG more: a consumer that keeps pieces longer (collects them)
 * must copy them. A file that ends before `length` is refused, naming `what`. `lag` is REUSE_LAG
 * except in the test that shows what a smaller one breaks.
 */
export async function* readPieces(
  path: string,
  start: number,
  length: number,
  what = path,
  lag = REUSE_LAG,
): AsyncGenerator<Buffer> {
  const file = await open(path, 'r');
  // Full-size buffers lent out, oldest first: one per piece yielded, so the one `lag` places back
  // is the one the consumer has asked for `lag` more pieces since.
  const lent: Buffer[] = [];
  const keepLent = (keep: number): void => {
    while (lent.length > Math.max(keep, 0)) {
      const buffer = lent.shift()!;
      if (spare.length < MAX_SPARE) spare.push(buffer);
    }
  };
  try {
    for (let done = 0; done < length;) {
      keepLent(lag - 1);
      const want = Math.min(READ_BUFFER, length - done);
      const buffer =
        want === READ_BUFFER
          ? (spare.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER))
          : Buffer.allocUnsafeSlow(want);
      const { bytesRead } = await file.read(buffer, 0, want, start + done);
      if (bytesRead === 0)
        throw new CorruptBlobError(
          `${what}: the file ends at byte ${start + done}, before the ${start + length} bytes its descriptor says`,
        );
      done += bytesRead;
      if (buffer.length === READ_BUFFER) lent.push(buffer);
      // Only a lag of 0 (the test's broken reader) gives back the piece about to be yielded.
      keepLent(lag);
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    // Pieces still lent when the body ends or stops early may sit in a socket's queue: they are
    // left to the garbage collector, never reused.
    await file.close();
  }
}

function algorithmOf(digest: string): DigestAlgorithm {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

/** Hashes a whole file through one buffer: nothing else sees the bytes, so reusing it is safe. */
export async function digestFile(path: string, algorithm: DigestAlgorithm): Promise<FileDigest> {
  const hash = createHash(algorithm);
  const buffer = Buffer.allocUnsafeSlow(READ_BUFFER);
  const file = await open(path, 'r');
  let size = 0;
  try {
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      hash.update(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await file.close();
  }
  return { digest: `${algorithm}:${hash.digest('hex')}`, size };
}

/**
 * Refuses a blob's file if it is not what its digest says. Uploads do not hash as they send: the
 * registry checks every blob against its digest (DIGEST_INVALID), and this runs only then, to tell
 * a corrupt local file from bytes changed on the way.
 */
export async function checkFileDigest(blob: {
  path: string;
  size: number;
  digest: string;
}): Promise<void> {
  const { digest, size } = await digestFile(blob.path, algorithmOf(blob.digest));
  if (digest !== blob.digest || size !== blob.size)
    throw new CorruptBlobError(
      `${blobName(blob.digest)}: content does not match its digest (it hashes to ${digest}, ${size} bytes)`,
    );
}

/** The whole blob as a body: its file's bytes as they are (see checkFileDigest for the check). */
export function fileBody(blob: {
  path: string;
  size: number;
  digest: string;
}): () => AsyncIterable<Buffer> {
  return () => readPieces(blob.path, 0, blob.size, blobName(blob.digest));
}
