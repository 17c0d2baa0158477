/**
 * Runs each `fn` given to it once enough of `capacity` is free: each call takes `weight` units (1
 * unless said). Calls start in the order asked, so a heavy one is never starved by light ones;
 * `first` goes ahead of everything waiting (work that finishes something already begun).
 */
export interface PlaceOptions {
  weight?: number;
  first?: boolean;
}

export interface Limiter {
  <T>(fn: () => Promise<T>, options?: PlaceOptions): Promise<T>;
  /** Takes a place and keeps it until the returned function is called (once). */
  acquire(options?: PlaceOptions): Promise<() => void>;
}

/** No limit: each call runs at once (a caller with nothing to share places with). */
export const unlimited: Limiter = Object.assign(<T>(fn: () => Promise<T>) => fn(), {
  acquire: () => Promise.resolve(() => undefined),
});

export function limiter(capacity: number): Limiter {
  let used = 0;
  const waiting: { weight: number; start: () => void }[] = [];
  const admit = (): void => {
    while (waiting.length && used + waiting[0]!.weight <= capacity) {
      const next = waiting.shift()!;
      used += next.weight;
      next.start();
    }
  };
  const acquire = async (options: PlaceOptions = {}): Promise<() => void> => {
    // More than the whole capacity could never start: it takes all of it instead.
    const weight = Math.min(Math.max(options.weight ?? 1, 1), capacity);
    await new Promise<void>((start) => {
      const entry = { weight, start };
      if (options.first) waiting.unshift(entry);
      else waiting.push(entry);
      admit();
    });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      used -= weight;
      admit();
    };
  };
  const run = async <T>(fn: () => Promise<T>, options: PlaceOptions = {}): Promise<T> => {
    const release = await acquire(options);
    try {
      return await fn();
    } finally {
      release();
    }
  };
  return Object.assign(run, { acquire });
}
