import type { FeedEvent } from './event-feed';

/** What to do with one page of the feed, read from the consumer's cursor. */
export interface ReturnPlan {
  /** Every event up to this id is settled: the cursor may move past it (then call `settled`). */
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
 * again. Events the node does not send (not selected) are settled at once. One person's events go one at a time, in
 * order: a withdrawal never overtakes the consent before it, also when that one has to go again.
 */
export class EventReturns {
  /** Sent and not yet back: id → when it was last sent, and whose it is. */
  private readonly out = new Map<number, { sentAt: number; pseudonym: string }>();
  /** Came back while an earlier event is still out. */
  private readonly back = new Set<number>();
  /** Persons with an event the last plan held back behind one of theirs still out. */
  private waitingBehind = new Set<string>();

  constructor(private readonly redeliverMs: number) {}

  /**
   * Plans a page read from the cursor, in id order (`more`: further events wait after it), and notes what it sends as
   * sent at `now` (a clock that never goes back).
   */
  plan(page: readonly FeedEvent[], more: boolean, now: number, selected: (event: FeedEvent) => boolean): ReturnPlan {
    // The page starts after the cursor: what this copy has out before it, between its events, or after it when it
    // ends the feed, but not in it, was acknowledged (by another copy, too) or deleted by the retention sweep (which
    // goes by time, not id), and will never be in a page again.
    const inPage = new Set(page.map((event) => event.id));
    const last = page.length > 0 ? page[page.length - 1].id : 0;
    this.forget((id) => (id <= last ? !inPage.has(id) : !more));
    const plan: ReturnPlan = { send: [], resent: 0 };
    let settledSoFar = true;
    const personsOut = new Set<string>();
    this.waitingBehind = new Set();
    for (const event of page) {
      const settled = !selected(event) || this.back.has(event.id);
      if (settled) {
        if (settledSoFar) plan.settledUpTo = event.id;
        continue;
      }
      settledSoFar = false;
      if (personsOut.has(event.pseudonym)) {
        // Not out any more (an earlier one of hers goes again first): it follows once that one is back.
        this.out.delete(event.id);
        this.waitingBehind.add(event.pseudonym);
        continue;
      }
      personsOut.add(event.pseudonym);
      const sentAt = this.out.get(event.id)?.sentAt;
      if (sentAt !== undefined && now - sentAt < this.redeliverMs) continue;
      if (sentAt !== undefined) plan.resent += 1;
      this.out.set(event.id, { sentAt: now, pseudonym: event.pseudonym });
      plan.send.push(event);
    }
    return plan;
  }

  /** The cursor moved past `id` (the acknowledgement of a plan's `settledUpTo` was written). */
  settled(id: number): void {
    this.forget((other) => other <= id);
  }

  /**
   * An event came back. True when the feed should be read again: the cursor may move (no earlier event is still
   * out), or the person's next event may go. False also for an id this copy has not out (already settled, sent by an
   * earlier copy of the node, or not an event at all): nothing changes, and at worst an event goes once more.
   */
  returned(id: number): boolean {
    const sent = this.out.get(id);
    if (sent === undefined) return false;
    this.out.delete(id);
    this.back.add(id);
    if (this.waitingBehind.has(sent.pseudonym)) return true;
    for (const other of this.out.keys()) if (other < id) return false;
    return true;
  }

  /** When the oldest event still out is due to go again; undefined when none is out. */
  nextRedelivery(): number | undefined {
    let earliest: number | undefined;
    for (const { sentAt } of this.out.values()) if (earliest === undefined || sentAt < earliest) earliest = sentAt;
    return earliest === undefined ? undefined : earliest + this.redeliverMs;
  }

  get waiting(): number {
    return this.out.size;
  }

  /** Another copy delivers now (the lease went to it): it sends from the cursor again. */
  clear(): void {
    this.forget(() => true);
  }

  private forget(which: (id: number) => boolean): void {
    for (const id of this.out.keys()) if (which(id)) this.out.delete(id);
    for (const id of this.back) if (which(id)) this.back.delete(id);
  }
}
