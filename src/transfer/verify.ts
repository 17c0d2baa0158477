import type { BlobFile } from '../oci/image.js';
import type { RetryBudget } from '../registry/budget.js';
import type { RepositoryClient } from '../registry/client.js';
import { backoffDelay } from '../registry/retry.js';
import type { Clock } from '../util/clock.js';
import { type Limiter, unlimited } from '../util/concurrency.js';

export type VerifyResult =
  | { ok: true; lagRetries: number }
  | { ok: false; lagRetries: number; reason: string; status: number; missing: boolean };

/**
 * Confirms the registry serves the blob as we sent it: 200, and the same size and digest when it
 * reports them. A 404 is asked again with backoff (`lagRetries` times), because some registries
 * acknowledge before every replica has the blob.
 */
export async function verifyBlob(
  client: RepositoryClient,
  blob: BlobFile,
  clock: Clock,
  lagRetries: number,
  budget?: RetryBudget,
  /** Where each HEAD waits for a place; the waits between them hold none. */
  inPlace: Limiter = unlimited,
): Promise<VerifyResult> {
  let lagged = 0;
  for (;;) {
    const stat = await inPlace(() => client.statBlob(blob.digest, 'verify', budget));
    if (stat.exists) {
      // Registries report their canonical digest (distribution: sha256 even for a sha512 upload);
      // only a digest of the same algorithm can be compared.
      if (stat.digest && sameAlgorithm(stat.digest, blob.digest) && stat.digest !== blob.digest) {
        return {
          ok: false,
          lagRetries: lagged,
          status: stat.status,
          missing: false,
          reason: `the registry reports digest ${stat.digest}`,
        };
      }
      if (stat.size !== undefined && stat.size !== blob.size) {
        return {
          ok: false,
          lagRetries: lagged,
          status: stat.status,
          missing: false,
          reason: `the registry reports ${stat.size} bytes, expected ${blob.size}`,
        };
      }
      return { ok: true, lagRetries: lagged };
    }
    if (lagged >= lagRetries) {
      return {
        ok: false,
        lagRetries: lagged,
        status: stat.status,
        missing: true,
        reason: `HEAD answered ${stat.status} after the upload was acknowledged`,
      };
    }
    await clock.sleep(backoffDelay(lagged++, clock));
  }
}

function sameAlgorithm(a: string, b: string): boolean {
  return a.split(':')[0] === b.split(':')[0];
}
