import type { Logger } from '../util/logger.js';
import { shortDigest } from '../oci/digest.js';
import type { Clock } from '../util/clock.js';
import { formatSize } from '../util/format.js';

export const PROGRESS_MIN_BYTES = 8 << 20;
export const PROGRESS_INTERVAL_MS = 5_000;

export interface BlobProgress {
  update(bytesSent: number): void;
  done(): void;
}

/**
 * Progress lines for one large blob: bytes, percent and rate, at most every 5 s and once at the end.
 * Small blobs get none: their whole upload takes less than a line's worth of time.
 */
export function blobProgress(
  digest: string,
  size: number,
  logger: Logger,
  clock: Clock,
): BlobProgress | undefined {
  if (size <= PROGRESS_MIN_BYTES) return undefined;
  const started = clock.now();
  let lastLine = started;
  let latest = 0;
  const line = (bytes: number): void => {
    const seconds = Math.max(0.001, (clock.now() - started) / 1000);
    const percent = size ? Math.min(100, (bytes / size) * 100) : 100;
    logger.info(
      `${shortDigest(digest)}: ${formatSize(bytes)} of ${formatSize(size)} (${percent.toFixed(0)}%) at ${formatSize(bytes / seconds)}/s`,
    );
  };
  return {
    update(bytes) {
      latest = Math.max(latest, bytes);
      const now = clock.now();
      if (now - lastLine >= PROGRESS_INTERVAL_MS) {
        lastLine = now;
        line(latest);
      }
    },
    done() {
      line(size);
    },
  };
}
