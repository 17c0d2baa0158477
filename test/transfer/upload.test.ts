import { describe, expect, it } from 'vitest';
import { HostProfile } from '../../src/registry/host-profile.js';
import { CHUNK_FLOOR } from '../../src/transfer/policy.js';
import { effectiveChunkSize } from '../../src/transfer/steps.js';

const MiB = 1 << 20;

describe('effectiveChunkSize', () => {
  it('raises to OCI-Chunk-Min-Length and lowers to OCI-Chunk-Max-Length', () => {
    expect(effectiveChunkSize(MiB, 5 * MiB)).toBe(5 * MiB);
    expect(effectiveChunkSize(50 * MiB, undefined, 10 * MiB)).toBe(10 * MiB);
    expect(effectiveChunkSize(50 * MiB)).toBe(50 * MiB);
  });

  it('never goes below the floor', () => {
    expect(effectiveChunkSize(1000)).toBe(CHUNK_FLOOR);
  });
});

describe('HostProfile', () => {
  it('remembers the smallest blob whose single body was refused', () => {
    const limits = new HostProfile();
    expect(limits.prefersChunks(10 * MiB)).toBe(false);
    limits.monolithicRefused(8 * MiB);
    limits.monolithicRefused(20 * MiB);
    expect(limits.prefersChunks(8 * MiB)).toBe(true);
    expect(limits.prefersChunks(7 * MiB)).toBe(false);
  });

  it('starts later blobs inside what was refused, and at a size that worked', () => {
    const limits = new HostProfile();
    expect(limits.chunkSize(50 * MiB)).toBe(50 * MiB);
    limits.chunkRefusedAsTooLarge(4 * MiB);
    expect(limits.chunkSize(50 * MiB)).toBe(2 * MiB);
    limits.chunkWentThrough(3 * MiB);
    expect(limits.chunkSize(50 * MiB)).toBe(3 * MiB);
    limits.chunkRefusedAsTooLarge(3 * MiB);
    expect(limits.chunkSize(50 * MiB)).toBe(1.5 * MiB);
  });

  it('grows past a size refused as too small', () => {
    const limits = new HostProfile();
    limits.chunkRefusedAsTooSmall(MiB);
    expect(limits.chunkSize(MiB)).toBe(2 * MiB);
  });
});
