import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

/** Large reads keep syscalls and event-loop turns per megabyte low when streaming a blob. */
const READ_BUFFER = 1 << 20;

/** A body factory over a byte range of a file; each call opens a fresh stream, so retries reread. */
export function fileRange(path: string, start: number, length: number): () => Readable {
  return () =>
    createReadStream(path, {
      start,
      end: start + length - 1,
      highWaterMark: Math.min(READ_BUFFER, Math.max(1, length)),
    });
}
