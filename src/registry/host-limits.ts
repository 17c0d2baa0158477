/**
 * What one registry host taught during this push about the bodies it takes. Owned by the registry
 * connection, so every repository and blob on that host starts from what the others learned.
 */
export class HostLimits {
  /** The smallest blob whose single-body upload the path refused. */
  private monolithicFailedAt?: number;
  /** The largest chunk refused as too large, and the smallest refused as too small. */
  private tooLarge?: number;
  private tooSmall?: number;
  /** A chunk size that went through. */
  private working?: number;

  monolithicRefused(size: number): void {
    this.monolithicFailedAt = Math.min(this.monolithicFailedAt ?? Infinity, size);
  }

  /** Whether a blob of this size should go in chunks from the start. */
  prefersChunks(size: number): boolean {
    return this.monolithicFailedAt !== undefined && size >= this.monolithicFailedAt;
  }

  chunkRefusedAsTooLarge(size: number): void {
    this.tooLarge = Math.min(this.tooLarge ?? Infinity, size);
    if (this.working !== undefined && this.working >= size) this.working = undefined;
  }

  chunkRefusedAsTooSmall(size: number): void {
    this.tooSmall = Math.max(this.tooSmall ?? 0, size);
    if (this.working !== undefined && this.working <= size) this.working = undefined;
  }

  chunkWorked(size: number): void {
    if (this.tooLarge === undefined || size < this.tooLarge) this.working = size;
  }

  /** The chunk size to start with: a size that worked, else the request kept inside what failed. */
  chunkSize(requested: number): number {
    if (this.working !== undefined) return this.working;
    let size = requested;
    if (this.tooLarge !== undefined && size >= this.tooLarge) size = Math.floor(this.tooLarge / 2);
    if (this.tooSmall !== undefined && size <= this.tooSmall) size = this.tooSmall * 2;
    return size;
  }
}
