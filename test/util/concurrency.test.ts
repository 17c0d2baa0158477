import { describe, expect, it } from 'vitest';
import { limiter } from '../../src/util/concurrency.js';

/** A task that records how many run beside it, and ends when told. */
function harness() {
  let running = 0;
  let peak = 0;
  const order: string[] = [];
  const gates = new Map<string, () => void>();
  const task =
    (name: string, weight = 1) =>
    async (): Promise<string> => {
      running += weight;
      peak = Math.max(peak, running);
      order.push(name);
      await new Promise<void>((r) => gates.set(name, r));
      running -= weight;
      return name;
    };
  const release = async (name: string): Promise<void> => {
    for (let i = 0; i < 20 && !gates.has(name); i++) await new Promise((r) => setImmediate(r));
    gates.get(name)!();
    await new Promise((r) => setImmediate(r));
  };
  return { task, release, order, peak: () => peak };
}

describe('limiter', () => {
  it('runs at most its capacity at once, in the order asked', async () => {
    const run = limiter(2);
    const h = harness();
    const all = ['a', 'b', 'c', 'd'].map((n) => run(h.task(n)));
    await new Promise((r) => setImmediate(r));
    expect(h.order).toEqual(['a', 'b']);
    await h.release('a');
    expect(h.order).toEqual(['a', 'b', 'c']);
    await h.release('b');
    await h.release('c');
    await h.release('d');
    expect(await Promise.all(all)).toEqual(['a', 'b', 'c', 'd']);
    expect(h.peak()).toBe(2);
  });

  it('counts weights: four shares fit where one whole place does', async () => {
    const run = limiter(4);
    const h = harness();
    const small = ['s1', 's2', 's3'].map((n) => run(h.task(n), { weight: 1 }));
    const big = run(h.task('big', 4), { weight: 4 });
    const after = run(h.task('s4'), { weight: 1 });
    await new Promise((r) => setImmediate(r));
    // The big one waits for the three small ones; the small one behind it does not jump the queue.
    expect(h.order).toEqual(['s1', 's2', 's3']);
    await h.release('s1');
    await h.release('s2');
    expect(h.order).toEqual(['s1', 's2', 's3']);
    await h.release('s3');
    expect(h.order).toEqual(['s1', 's2', 's3', 'big']);
    await h.release('big');
    await h.release('s4');
    await Promise.all([...small, big, after]);
    expect(h.peak()).toBe(4);
  });

  it('lets `first` go ahead of everything waiting', async () => {
    const run = limiter(1);
    const h = harness();
    const a = run(h.task('a'));
    const b = run(h.task('b'));
    const urgent = run(h.task('urgent'), { first: true });
    await h.release('a');
    expect(h.order).toEqual(['a', 'urgent']);
    await h.release('urgent');
    await h.release('b');
    await Promise.all([a, b, urgent]);
  });

  it('gives the place back when a task throws, and takes at most the whole capacity', async () => {
    const run = limiter(2);
    await expect(run(async () => Promise.reject(new Error('no')), { weight: 5 })).rejects.toThrow(
      'no',
    );
    expect(await run(async () => 'after')).toBe('after');
  });
});
