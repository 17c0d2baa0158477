import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError } from '../util/cancel.js';
import { InputError } from '../util/errors.js';

/** How long a named pipe may wait for a writer before the run says so. */
export const FIFO_WRITER_TIMEOUT_MS = 60_000;
const POLL_MS = 20;
const CHUNK = 1 << 20;

/**
 * Reads a named pipe without ever blocking a thread on it. A blocking open() waits in the kernel
 * for a writer, and nothing (not a signal, not a second one) gets it back. Opened non-blocking, an
 * empty read means "no writer yet" until the first byte, and the end after it.
 */
export async function* readFifo(
  path: string,
  shownAs: string,
  signal?: AbortSignal,
  timeoutMs = FIFO_WRITER_TIMEOUT_MS,
): AsyncGenerator<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const started = Date.now();
  let writer = false;
  try {
    for (;;) {
      if (signal?.aborted) throw new CancelledError(`cancelled while reading ${shownAs}`);
      const buffer = Buffer.allocUnsafe(CHUNK);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, CHUNK, null));
      } catch (error) {
        // EAGAIN: a writer holds the pipe open but has sent nothing yet.
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        writer = true;
        await sleep(POLL_MS);
        continue;
      }
      if (bytesRead > 0) {
        writer = true;
        yield buffer.subarray(0, bytesRead);
        continue;
      }
      if (writer) return;
      if (Date.now() - started > timeoutMs)
        throw new InputError(
          `${shownAs}: a named pipe with no writer after ${Math.round(timeoutMs / 1000)} s; start the program that writes the image into it`,
        );
      await sleep(POLL_MS);
    }
  } finally {
    await handle.close();
  }
}
