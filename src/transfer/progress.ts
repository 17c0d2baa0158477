import type { Logger } from '../util/logger.js';
import { shortDigest } from '../oci/digest.js';
import type { Clock } from '../util/clock.js';
import { formatSize } from '../util/format.js';

export const PROGRESS_MIN_BYTES = 8 << 20;
export const PROGRESS_INTERVAL_MS = 5_000;
/** On a terminal the line redraws in place, so it may change often; not more than this. */
const LIVE_INTERVAL_MS = 200;

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
  const text = (bytes: number): string => {
    const seconds = Math.max(0.001, (clock.now() - started) / 1000);
    const percent = size ? Math.min(100, (bytes / size) * 100) : 100;
    const rate = bytes / seconds;
    const left = bytes < size && rate > 0 ? `, ${formatEta((size - bytes) / rate)} left` : '';
    return `${shortDigest(digest)}: ${formatSize(bytes)} of ${formatSize(size)} (${percent.toFixed(0)}%) at ${formatSize(rate)}/s${left}`;
  };
  const interval = logger.live ? LIVE_INTERVAL_MS : PROGRESS_INTERVAL_MS;
  return {
    update(bytes) {
      latest = Math.max(latest, bytes);
      const now = clock.now();
      if (now - lastLine >= interval) {
        lastLine = now;
        if (logger.live) logger.live(digest, text(latest));
        else logger.info(text(latest));
      }
    },
    done() {
      logger.live?.(digest, undefined);
      logger.info(text(size));
    },
  };
}

function formatEta(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}
