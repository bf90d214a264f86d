import type { FeedEvent } from './event-feed';

/** What to do with one page of the feed, read from the consumer's cursor. */
export interface ReturnPlan {
  /** Every event up to this id is settled: the cursor may move past it. */
  settledUpTo?: number;
  /** Events to send now: never sent by this copy, or sent longer ago than the redelivery time. */
  send: FeedEvent[];
  /** How many of `send` go again because they did not come back in time. */
  resent: number;
}

/**
 * consent-events in "acknowledge when returned" mode: an event counts as delivered only when the flow wires it back
 * (after the CRM answered), so that at least once reaches the receiving system, not only the node's output. The feed's
 * cursor moves past an event only when it and every event before it came back; what does not come back in time goes
 * again. Events the node does not send (not selected) are settled at once.
 */
export class EventReturns {
  /** Sent and not yet back: id → when it was last sent. */
  private readonly out = new Map<number, number>();
  /** Came back while an earlier event is still out. */
  private readonly back = new Set<number>();

  constructor(private readonly redeliverMs: number) {}

  /** Plans a page read from the cursor, in id order, and notes what it sends as sent at `now`. */
  plan(page: readonly FeedEvent[], now: number, selected: (event: FeedEvent) => boolean): ReturnPlan {
    const plan: ReturnPlan = { send: [], resent: 0 };
    let settledSoFar = true;
    for (const event of page) {
      const settled = !selected(event) || this.back.has(event.id);
      if (settled) {
        if (settledSoFar) plan.settledUpTo = event.id;
        continue;
      }
      settledSoFar = false;
      const sentAt = this.out.get(event.id);
      if (sentAt !== undefined && now - sentAt < this.redeliverMs) continue;
      if (sentAt !== undefined) plan.resent += 1;
      this.out.set(event.id, now);
      plan.send.push(event);
    }
    if (plan.settledUpTo !== undefined) this.forgetUpTo(plan.settledUpTo);
    return plan;
  }

  /**
   * An event came back. False for an id this copy has not out (already settled, sent by an earlier copy of the node,
   * or not an event at all): nothing changes, and at worst an event goes once more.
   */
  returned(id: number): boolean {
    if (!this.out.has(id)) return false;
    this.out.delete(id);
    this.back.add(id);
    return true;
  }

  /** True when `id` is the oldest event still out or waiting to settle: its return lets the cursor move. */
  isOldest(id: number): boolean {
    for (const other of this.out.keys()) if (other < id) return false;
    return true;
  }

  /** When the oldest event still out is due to go again; undefined when none is out. */
  nextRedelivery(): number | undefined {
    let earliest: number | undefined;
    for (const sentAt of this.out.values()) if (earliest === undefined || sentAt < earliest) earliest = sentAt;
    return earliest === undefined ? undefined : earliest + this.redeliverMs;
  }

  get waiting(): number {
    return this.out.size;
  }

  /** Another copy delivers now (the lease went to it): it sends from the cursor again. */
  clear(): void {
    this.out.clear();
    this.back.clear();
  }

  private forgetUpTo(id: number): void {
    for (const other of this.out.keys()) if (other <= id) this.out.delete(other);
    for (const other of this.back) if (other <= id) this.back.delete(other);
  }
}
