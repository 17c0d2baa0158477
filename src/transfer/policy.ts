export type UploadMode = 'auto' | 'monolithic' | 'chunked';

/** The smallest chunk oci-push sends when a path refuses larger ones (no registry header says more). */
export const CHUNK_FLOOR = 64 << 10;
/**
 * Blobs this small spend their time on round trips, not bytes: sixteen of them share one upload place
 * (`concurrency: 1` still means strictly one blob at a time). On a distant registry a 40-layer image
 * then goes in one wave of round trips, as containerd's pusher sends it.
 */
export const SMALL_BLOB = 1 << 20;
/** An upload place, in the shares a small blob takes. */
export const SHARES_PER_PLACE = 16;

/** How many shares of an upload place a blob of `size` bytes takes. */
export function uploadShares(policy: Pick<TransferPolicy, 'concurrency'>, size: number): number {
  return size <= SMALL_BLOB && policy.concurrency > 1 ? 1 : SHARES_PER_PLACE;
}

/** How many of these blobs the upload places take at once, in order: the first wave's bodies. */
export function firstWave(
  policy: Pick<TransferPolicy, 'concurrency'>,
  blobs: readonly { size: number }[],
): number {
  let free = policy.concurrency * SHARES_PER_PLACE;
  let count = 0;
  for (const blob of blobs) {
    free -= uploadShares(policy, blob.size);
    if (free < 0) break;
    count++;
  }
  return count;
}

/** The smallest `chunk-size` a user may ask for. */
export const MIN_CHUNK_SIZE = 1 << 20;

/**
 * Every rule of a transfer in one object. `retries: N` means: each request is sent at most N+1
 * times, and each blob gets at most N tries again in all (new sessions, resumes and resent requests
 * draw on one budget, which is refilled when a chunk goes through). Nothing multiplies.
 */
export interface TransferPolicy {
  mode: UploadMode;
  /** The chunk size asked for; the registry's window and what the host refused adjust it. */
  chunkSize: number;
  retries: number;
  /** Upload places: a blob larger than SMALL_BLOB takes a whole one, a smaller one a share. */
  concurrency: number;
  /** HEADs that may answer 404 right after a commit while replicas catch up. */
  verifyLagRetries: number;
  /** Uploads again after the registry lost an acknowledged blob (each also spends the budget). */
  reuploads: number;
}

export function transferPolicy(
  settings: Pick<TransferPolicy, 'mode' | 'chunkSize' | 'retries' | 'concurrency'>,
): TransferPolicy {
  return { ...settings, verifyLagRetries: 3, reuploads: 2 };
}
