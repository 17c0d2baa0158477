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
