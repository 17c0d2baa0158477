import { describe, expect, it } from 'vitest';
import { SMALL_BLOB, firstWave } from '../../src/transfer/policy.js';

describe('the first wave of uploads', () => {
  const small = { size: SMALL_BLOB };
  const large = { size: SMALL_BLOB + 1 };

  it('sixteen small blobs share a place: 64 at once with four places', () => {
    expect(firstWave({ concurrency: 4 }, Array(40).fill(small))).toBe(40);
    expect(firstWave({ concurrency: 4 }, Array(70).fill(small))).toBe(64);
  });

  it('a larger blob takes a place of its own, in the order given', () => {
    expect(firstWave({ concurrency: 4 }, [small, large, large, large, large])).toBe(4);
    expect(firstWave({ concurrency: 4 }, [large, large, large, large, small])).toBe(4);
  });

  it('one place means one blob at a time', () => {
    expect(firstWave({ concurrency: 1 }, [small, small])).toBe(1);
  });
});
