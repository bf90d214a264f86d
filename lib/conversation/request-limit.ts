/**
 * At most `perMinute` requests in any minute (the times of those sent in the last one are kept); 0: no limit. A public
 * form can be sent any number, and each request is a message the business pays for (opt-in-flow).
 */
export class RequestLimit {
  private readonly taken: { at: number }[] = [];
  private readonly perMinute: number;

  constructor(perMinute: number) {
    this.perMinute = Number.isSafeInteger(perMinute) && perMinute > 0 ? perMinute : 0;
  }

  /**
   * Reserves a slot at once, or answers undefined when the minute is full. The slot counts from now on: a request
   * checks the store before it is sent, and form posts that arrive together would all pass a check made first and
   * counted only after those awaits. Call the returned function when the request ends without a send; it frees
   * the slot (once, however often it is called).
   */
  take(now: number): (() => void) | undefined {
    if (this.perMinute === 0) return () => {};
    while (this.taken.length > 0 && this.taken[0].at <= now - 60_000) this.taken.shift();
    if (this.taken.length >= this.perMinute) return undefined;
    const slot = { at: now };
    this.taken.push(slot);
    return () => {
      const index = this.taken.indexOf(slot);
      if (index >= 0) this.taken.splice(index, 1);
    };
  }

  /**
   * Whole seconds, at least 1, until take() finds a slot again when the minute is full (the oldest slot is a
   * minute old then; one given back earlier only shortens the wait); 0 when a slot is free now. For HTTP's
   * Retry-After.
   */
  secondsUntilFree(now: number): number {
    if (this.perMinute === 0) return 0;
    const live = this.taken.filter((slot) => slot.at > now - 60_000);
    if (live.length < this.perMinute) return 0;
    return Math.max(1, Math.ceil((live[0].at + 60_000 - now) / 1000));
  }
}
