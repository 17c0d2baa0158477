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

/**
 * Reads `length` bytes of a file from `start`. Every piece is a buffer of its own that nothing
 * writes again, so a socket may hold on to it as long as it likes: no reuse to get wrong. A file
 * that ends before `length` is refused, naming `what`.
 */
export async function* readPieces(
  path: string,
  start: number,
  length: number,
  what = path,
): AsyncGenerator<Buffer> {
  const file = await open(path, 'r');
  try {
    for (let done = 0; done < length;) {
      const buffer = Buffer.allocUnsafeSlow(Math.min(READ_BUFFER, length - done));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, start + done);
      if (bytesRead === 0)
        throw new CorruptBlobError(
          `${what}: the file ends at byte ${start + done}, before the ${start + length} bytes its descriptor says`,
        );
      done += bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
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
