/**
 * Runs each task no sooner than `minimumMs` after the moment it was started, so that work taking different paths
 * ends at the same time, on timers: nothing else waits meanwhile. close() drops the tasks still waiting and those
 * that come later.
 */
export class MinimumDelay {
  private readonly waiting = new Set<{ timer: NodeJS.Timeout; dropped: () => void }>();
  private closed = false;

  constructor(
    private readonly minimumMs: number,
    /** Monotonic, so that a wall clock set back does not stretch the wait. */
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** The moment to count from, on this delay's clock. */
  start(): number {
    return this.clock();
  }

  /**
   * Runs `task` once `minimumMs` have passed since `startedAt`: at once when they have, otherwise on a timer. When
   * the delay is closed before, `dropped` runs instead.
   */
  after(startedAt: number, task: () => void, dropped: () => void = () => {}): void {
    if (this.closed) {
      dropped();
      return;
    }
    const remaining = startedAt + this.minimumMs - this.clock();
    if (remaining <= 0) {
      task();
      return;
    }
    // A timer may fire a little early by this clock (Node counts from the event loop's cached time): it is checked
    // again then, so the minimum holds.
    const entry = {
      timer: setTimeout(() => {
        this.waiting.delete(entry);
        this.after(startedAt, task, dropped);
      }, Math.ceil(remaining)),
      dropped,
    };
    this.waiting.add(entry);
  }

  /** How many tasks wait. */
  get size(): number {
    return this.waiting.size;
  }

  /** Drops every task still waiting and every one added later: each one's `dropped` runs instead. */
  close(): void {
    this.closed = true;
    const entries = [...this.waiting];
    this.waiting.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.dropped();
    }
  }
}
