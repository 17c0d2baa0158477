import { checkFileDigest } from '../oci/blob-reader.js';
import type { BlobFile } from '../oci/image.js';
import { type Limiter, limiter } from '../util/concurrency.js';

/**
 * Whether the layout really holds a blob's bytes, asked before the blob is mounted. A mount links
 * bytes the registry already has, so without this a layout that only names a digest (a base
 * annotation or provenance it controls) could publish any blob the push's credentials can read.
 * Each file is hashed at most once per run, a few at a time; an upload the registry accepted proves
 * the file too (the registry checked our bytes against the digest).
 */
export interface LocalProof {
  /** Starts hashing once the target is known to lack the blob; the mount awaits `proven`. */
  begin(blob: BlobFile): void;
  /** Resolves once the file matches its digest; rejects with CorruptBlobError when it does not. */
  proven(blob: BlobFile): Promise<void>;
  /** The registry took this blob from our bytes: the file needs no hashing for a later mount. */
  accepted(digest: string): void;
}

/** Hashes at once: disk-bound, and two cores. */
const HASHING_CONCURRENCY = 2;

export function localProof(hashing: Limiter = limiter(HASHING_CONCURRENCY)): LocalProof {
  const checks = new Map<string, Promise<void>>();
  const proven = (blob: BlobFile): Promise<void> => {
    let check = checks.get(blob.digest);
    if (!check) {
      check = hashing(() => checkFileDigest(blob));
      // A failure is read by the mount that awaits it; an early start must not go unhandled.
      check.catch(() => undefined);
      checks.set(blob.digest, check);
    }
    return check;
  };
  return {
    begin: (blob) => void proven(blob),
    proven,
    accepted: (digest) => {
      if (!checks.has(digest)) checks.set(digest, Promise.resolve());
    },
  };
}
