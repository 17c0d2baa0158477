/**
 * How many more tries a request or a blob may have. One object is shared by every level that can
 * try again (the request, the upload session, the resume), so their limits add up instead of
 * multiplying.
 */
export class RetryBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get left(): number {
    return Math.max(0, this.limit - this.used);
  }

  /** Takes one try; false when none is left. */
  spend(): boolean {
    if (this.used >= this.limit) return false;
    this.used++;
    return true;
  }

  /** The upload moved forward: failures before it say nothing about the next ones. */
  refill(): void {
    this.used = 0;
  }
}
