import { setTimeout as delay } from 'node:timers/promises';

/** Time as the engine sees it. Tests pass a fake one, so backoff is checked without sleeping. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => delay(ms).then(() => undefined),
  random: () => Math.random(),
};
