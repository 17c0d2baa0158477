import type { HostQuirks } from './known-hosts.js';

/**
 * What one registry host is known to do, as data: what a known host is documented to do (its row in
 * `known-hosts.ts`), and what this push taught (a refused body size, a chunk size that worked), in
 * one record read by the client, the transfer machine and the failure rules. Owned by the registry
 * connection, so every repository and blob on that host starts from what the others learned.
 */
/** Replicas without a shared secret lose sessions within milliseconds: that is not a lifetime. */
export const MIN_SESSION_LIFETIME_MS = 5_000;

export class HostProfile {
  /** A known host's chunk window, and whether it takes chunked uploads at all. */
  readonly maxChunk?: number;
  readonly minChunk?: number;
  readonly chunkedUploads: boolean;
  /** The smallest blob whose single-body upload the path refused. */
  bodyCapAt?: number;
  /** The largest chunk refused as too large, and the smallest refused as too small. */
  chunkTooLarge?: number;
  chunkTooSmall?: number;
  /** A chunk size that went through. */
  chunkWorked?: number;
  /**
   * That host could not be reached, so its Locations' paths go to the registry's own host (a proxy
   * that leaks the origin's address usually serves the same paths itself); set once, never undone.
   */
  locationsOnOwnHost?: boolean;
  /** Mount sources this registry (or its token service) refused: not asked again in this push. */
  readonly mountsRefusedFrom = new Set<string>();
  /** Upload sessions are gone this long after they open: known, or learned from one lost after progress. */
  sessionLifetimeMs?: number;

  constructor(quirks: HostQuirks = {}) {
    this.maxChunk = quirks.maxChunk;
    this.minChunk = quirks.minChunk;
    this.chunkedUploads = !quirks.noChunkedUploads;
    this.sessionLifetimeMs = quirks.sessionLifetimeMs;
  }

  /** A session that had taken chunks was lost at this age: a lifetime, unless implausibly short. */
  sessionLostAt(ageMs: number): void {
    // Kept a little shorter than seen: the next session's loss comes at about the same age.
    if (ageMs >= MIN_SESSION_LIFETIME_MS)
      this.sessionLifetimeMs = Math.min(this.sessionLifetimeMs ?? Infinity, ageMs * 0.9);
  }

  monolithicRefused(size: number): void {
    this.bodyCapAt = Math.min(this.bodyCapAt ?? Infinity, size);
  }

  /** Whether a blob of this size should go in chunks from the start. */
  prefersChunks(size: number): boolean {
    return this.chunkedUploads && this.bodyCapAt !== undefined && size >= this.bodyCapAt;
  }

  chunkRefusedAsTooLarge(size: number): void {
    this.chunkTooLarge = Math.min(this.chunkTooLarge ?? Infinity, size);
    if (this.chunkWorked !== undefined && this.chunkWorked >= size) this.chunkWorked = undefined;
  }

  chunkRefusedAsTooSmall(size: number): void {
    this.chunkTooSmall = Math.max(this.chunkTooSmall ?? 0, size);
    if (this.chunkWorked !== undefined && this.chunkWorked <= size) this.chunkWorked = undefined;
  }

  chunkWentThrough(size: number): void {
    if (this.chunkTooLarge === undefined || size < this.chunkTooLarge) this.chunkWorked = size;
  }

  /**
   * The chunk size to start with: a size that worked, else the request kept inside what failed and
   * inside the host's known window.
   */
  chunkSize(requested: number): number {
    if (this.chunkWorked !== undefined) return this.chunkWorked;
    let size = requested;
    if (this.maxChunk !== undefined) size = Math.min(size, this.maxChunk);
    if (this.minChunk !== undefined) size = Math.max(size, this.minChunk);
    if (this.chunkTooLarge !== undefined && size >= this.chunkTooLarge)
      size = Math.floor(this.chunkTooLarge / 2);
    if (this.chunkTooSmall !== undefined && size <= this.chunkTooSmall)
      size = this.chunkTooSmall * 2;
    return size;
  }
}
