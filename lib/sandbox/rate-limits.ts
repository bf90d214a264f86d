/**
 * The two send limits the Cloud API enforces and the sandbox plays with an injectable clock, so tests never sleep.
 */

/** Messages per second per business number (130429). Counts accepted messages in the last second. */
export class ThroughputWindow {
  private readonly acceptedAt: number[] = [];

  constructor(private readonly perSecond: number) {}

  /** True when one more message fits into the second before `now`; records it when it does. */
  take(now: number): boolean {
    while (this.acceptedAt.length > 0 && this.acceptedAt[0] <= now - 1000) this.acceptedAt.shift();
    if (this.acceptedAt.length >= this.perSecond) return false;
    this.acceptedAt.push(now);
    return true;
  }
}

/** Meta lets a business send a burst of 45 messages to one customer, then 1 every 6 seconds (131056). */
export const PAIR_BURST = 45;
export const PAIR_REFILL_MS = 6000;

/** A token bucket per (business number, customer) pair. */
export class PairRateBucket {
  private tokens = PAIR_BURST;
  private updatedAt: number | undefined;

  take(now: number): boolean {
    if (this.updatedAt !== undefined && now > this.updatedAt) {
      const refilled = Math.floor((now - this.updatedAt) / PAIR_REFILL_MS);
      if (refilled > 0) {
        this.tokens = Math.min(PAIR_BURST, this.tokens + refilled);
        this.updatedAt += refilled * PAIR_REFILL_MS;
      }
    }
    if (this.updatedAt === undefined || this.tokens === PAIR_BURST) this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
