import { describe, expect, it } from 'vitest';
import { digestOf, isDigest, parseDigest, shortDigest } from '../../src/oci/digest.js';

describe('digests', () => {
  it('accepts sha256 and sha512 of the right length only', () => {
    expect(isDigest(`sha256:${'a'.repeat(64)}`)).toBe(true);
    expect(isDigest(`sha512:${'b'.repeat(128)}`)).toBe(true);
    for (const bad of [
      `sha256:${'a'.repeat(63)}`,
      `sha256:${'A'.repeat(64)}`,
      'sha256:../../x',
      `sha384:${'a'.repeat(96)}`,
      `sha256:${'a'.repeat(64)}/..`,
    ]) {
      expect(isDigest(bad), bad).toBe(false);
    }
  });

  it('hashes and shortens', () => {
    const d = digestOf('hello');
    expect(d).toBe('sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(shortDigest(d)).toBe('sha256:2cf24dba5fb0');
    expect(parseDigest(digestOf('x', 'sha512'))?.algorithm).toBe('sha512');
  });
});
