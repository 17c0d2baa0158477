import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPAT_CASES, type CompatWorld, runCase, startWorld } from '../support/compat.js';

// The registries people run, as real distribution configurations and as profiles of hosted
// registries in front of it: each pushes an image that skopeo pulls back intact, or fails naming why.
let world: CompatWorld;

beforeAll(async () => {
  world = await startWorld();
}, 120_000);
afterAll(() => world?.stop());

describe('registry compatibility', () => {
  it.each(COMPAT_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await runCase(world, c);
    expect(result.problem).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.seconds).toBeLessThanOrEqual(c.fails ? 10 : 30);
  });

  it('no request carrying credentials ever reached the storage host', () => {
    expect(world.storage.requests.length).toBeGreaterThan(0);
    expect(world.storage.requests.filter((r) => r.authorization)).toEqual([]);
  });
});
