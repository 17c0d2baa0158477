import { rmSync } from 'node:fs';
import type { Clock } from './clock.js';

/** The run was cancelled (SIGINT or SIGTERM, as the runner sends when a job is cancelled). */
export class CancelledError extends Error {
  override name = 'CancelledError';
}

/** A clock whose sleeps end at once, with CancelledError, when `signal` aborts. */
export function cancellableClock(clock: Clock, signal: AbortSignal | undefined): Clock {
  if (!signal) return clock;
  return {
    now: () => clock.now(),
    random: () => clock.random(),
    sleep: (ms) => {
      if (signal.aborted) return Promise.reject(new CancelledError('cancelled'));
      return new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(new CancelledError('cancelled'));
        signal.addEventListener('abort', onAbort, { once: true });
        clock.sleep(ms).then(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, reject);
      });
    },
  };
}

/** The exit code of a process ended by this signal, as shells report it: 128 + the signal's number. */
export function signalExitCode(signal: string | undefined): number {
  return signal === 'SIGTERM' ? 143 : 130;
}

/** Temporary folders in use: a run ended by force still removes them. */
const liveTemps = new Set<string>();

export function trackTemp(dir: string): void {
  liveTemps.add(dir);
}

export function untrackTemp(dir: string): void {
  liveTemps.delete(dir);
}

/** Removes every tracked temporary folder now; for a process about to exit. */
export function removeTempsSync(): void {
  for (const dir of liveTemps) rmSync(dir, { recursive: true, force: true });
  liveTemps.clear();
}

/** How long a cancelled run may take to stop on its own before it is ended. */
export const CANCEL_GRACE_MS = 1500;

/**
 * After a signal, the run stops its work and reports; should something not stop (a read the kernel
 * holds, a loop without a check), this ends the process anyway within the grace period, with the
 * signal's exit code and the temporary folders removed.
 */
export function exitAfterGrace(signal: string, say: (line: string) => void): void {
  setTimeout(() => {
    say(
      `oci-push: ${signal} received and the run did not stop within ${CANCEL_GRACE_MS / 1000} s: ended now, temporary files removed`,
    );
    removeTempsSync();
    process.exit(signalExitCode(signal));
  }, CANCEL_GRACE_MS).unref();
}
