/**
 * A replica-wide budget of request bytes buffered at once: a body is read only after its bytes
 * were taken from the budget (the declared Content-Length up front, or chunk by chunk), and given
 * back when its call has answered. Beyond it the call is answered 429 before it is read, so many
 * concurrent large bodies cannot exhaust the gateway's memory.
 */
export class ByteBudget {
  private inUse = 0;

  constructor(readonly capacity: number) {}

  /** Takes `n` bytes; false (and nothing taken) when they do not fit. */
  tryTake(n: number): boolean {
    if (n < 0 || this.inUse + n > this.capacity) return false;
    this.inUse += n;
    return true;
  }

  give(n: number): void {
    this.inUse = Math.max(0, this.inUse - n);
  }

  get used(): number {
    return this.inUse;
  }
}
