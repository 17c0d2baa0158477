import type { Logger } from '../logger.js';
import type { Clock } from '../util/clock.js';

export type UploadMode = 'auto' | 'monolithic' | 'chunked';

export const MIN_CHUNK = 1 << 20;

export interface UploadSettings {
  mode: UploadMode;
  chunkSize: number;
  /** Retries for a request, and for a whole upload session; never both at once. */
  retries: number;
  clock: Clock;
  logger: Logger;
  /** Per registry host: the smallest blob size at which a monolithic upload failed in this run. */
  monolithicLimit: Map<string, number>;
  /** Per registry host: a chunk size a 413 forced down to, so later blobs start there. */
  chunkLimit: Map<string, number>;
}
