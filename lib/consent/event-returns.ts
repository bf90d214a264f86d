import type { FeedEvent } from './event-feed';

/** What to do with one page of the feed, read from the consumer's cursor. */
export interface ReturnPlan {
  /** Every event up to this id is settled: the cursor may move past it (then call `settled`). */
  settledUpTo?: number;
  /** Events to send now: never sent by this copy, or sent longer ago than the redelivery time. */
  send: FeedEvent[];
  /** How many of `send` go again because they did not come back in time. */
  resent: number;
  /** Given up (settled without coming back): sent `attempts` times, and missed as often as allowed. */
  givenUp: { event: FeedEvent; attempts: number }[];
}

/**
 * Whose events an event is in line with: its pseudonym's, and for a move (subject.number-changed) also those of where
 * the person went, so that a CRM re-keys her record after what came before at either and before what comes after.
 */
export function personsOf(event: FeedEvent): string[] {
  return event.to !== undefined && event.to !== event.pseudonym ? [event.pseudonym, event.to] : [event.pseudonym];
}

/** How often an event may miss by default before it is given up; 0 would never give up. */
export const MAX_ATTEMPTS_DEFAULT = 5;

/**
 * consent-events in "acknowledge when returned" mode: an event counts as delivered only when the flow wires it back
 * (after the CRM answered), so that at least once reaches the receiving system, not only the node's output. The feed's
 * cursor moves past an event only when it and every event before it came back; what does not come back in time goes
 * again. Events the node does not send (not selected) are settled at once. One person's events go one at a time, in
 * order: a withdrawal never overtakes the consent before it, also when that one has to go again. A move
 * (subject.number-changed) is in line with both numbers' events (personsOf).
 *
 * An event the flow never returns (a CRM that refuses it every time) would go again for ever and hold up every event
 * after it: after `maxAttempts` misses (0: no limit) it is given up, settled as if it came back, and the plan names it
 * so that the node reports it. A send misses when it is due again and an event sent after it came back: the receiving
 * system works, only not for this one. While nothing comes back (a CRM that is down) nothing misses, so an outage,
 * however long, gives up no event; nor does a CRM that takes only the first events of a burst (a rate limit), as those
 * were sent before the rest. Events left behind miss too: when nothing came back since their last send and every
 * event still out was passed by one sent after its first send that came back. With the rest of its page back nothing later is sent (one page out at a time), so
 * without this poison events at the head of a full page would hold up the feed for good. (A CRM that goes down just
 * after taking all the rest so costs the events then out, reported.) Misses are counted by this copy only: the count starts afresh with the copy that
 * takes over the events (a restart, a redeploy, another instance).
 */
export class EventReturns {
  /** Sent and not yet back: id → when it was last sent, whose it is, and the send's place in this copy's order. */
  private readonly out = new Map<number, { sentAt: number; persons: string[]; order: number; returnsBefore: number }>();
  /** Came back while an earlier event is still out. */
  private readonly back = new Set<number>();
  /** Persons with an event the last plan held back behind one of theirs still out. */
  private waitingBehind = new Set<string>();
  /** How often each event went from this copy: kept while it is held back behind an earlier one of the person too. */
  private readonly attempts = new Map<number, number>();
  /** How many of those sends missed (see the class comment). */
  private readonly misses = new Map<number, number>();
  /** Each event's first send from this copy, by its place in the order. */
  private readonly firstSends = new Map<number, number>();
  /** Sends of this copy so far: each send's place in their order. */
  private sends = 0;
  /** The latest place among the sends that came back. */
  private latestReturned = 0;
  /** How many sends came back so far. */
  private returns = 0;
  /** The feed's cursor at the last read: every event up to it was acknowledged (by this copy or another). */
  private cursor: number | undefined;
  /**
   * Every event this copy sent that the cursor has not passed yet, kept also when another copy takes over (`clear`),
   * so that a late answer to one of them is no stranger.
   */
  private readonly sentByThisCopy = new Set<number>();

  constructor(
    private readonly redeliverMs: number,
    private readonly maxAttempts = MAX_ATTEMPTS_DEFAULT,
  ) {}

  /**
   * Plans a page read from the cursor, in id order (`more`: further events wait after it), and notes what it sends as
   * sent at `now` (a clock that never goes back).
   */
  plan(
    page: readonly FeedEvent[],
    more: boolean,
    now: number,
    selected: (event: FeedEvent) => boolean,
    after?: number,
  ): ReturnPlan {
    if (after !== undefined) this.cursorAt(after);
    // The page starts after the cursor: what this copy has out before it, between its events, or after it when it
    // ends the feed, but not in it, was acknowledged (by another copy, too) or deleted by the retention sweep (which
    // goes by time, not id), and will never be in a page again.
    const inPage = new Set(page.map((event) => event.id));
    const last = page.length > 0 ? page[page.length - 1].id : 0;
    this.forget((id) => (id <= last ? !inPage.has(id) : !more));
    const plan: ReturnPlan = { send: [], resent: 0, givenUp: [] };
    let settledSoFar = true;
    const personsOut = new Set<string>();
    this.waitingBehind = new Set();
    for (const event of page) {
      const persons = personsOf(event);
      const behind = persons.some((person) => personsOut.has(person));
      let settled = !selected(event) || this.back.has(event.id);
      if (!settled && !behind && this.due(event.id, now)) {
        const misses = this.countMiss(event.id);
        if (this.maxAttempts > 0 && misses >= this.maxAttempts) {
          // Given up: as if it came back, so that the events after it (the person's next one too) go on.
          this.out.delete(event.id);
          this.back.add(event.id);
          plan.givenUp.push({ event, attempts: this.attempts.get(event.id) ?? 0 });
          settled = true;
        }
      }
      if (settled) {
        if (settledSoFar) plan.settledUpTo = event.id;
        continue;
      }
      settledSoFar = false;
      // A move held back holds back what comes after it at her new number too.
      for (const person of persons) personsOut.add(person);
      if (behind) {
        // Not out any more (an earlier one of hers goes again first): it follows once that one is back.
        this.out.delete(event.id);
        for (const person of persons) this.waitingBehind.add(person);
        continue;
      }
      if (!this.due(event.id, now)) continue;
      if (this.out.has(event.id)) plan.resent += 1;
      this.sends += 1;
      this.out.set(event.id, {
        sentAt: now,
        persons,
        order: this.sends,
        returnsBefore: this.returns,
      });
      if (!this.firstSends.has(event.id)) this.firstSends.set(event.id, this.sends);
      this.sentByThisCopy.add(event.id);
      this.attempts.set(event.id, (this.attempts.get(event.id) ?? 0) + 1);
      plan.send.push(event);
    }
    return plan;
  }

  /** The cursor moved past `id` (the acknowledgement of a plan's `settledUpTo` was written). */
  settled(id: number): void {
    this.cursorAt(Math.max(this.cursor ?? 0, id));
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
    this.latestReturned = Math.max(this.latestReturned, sent.order);
    this.returns += 1;
    if (sent.persons.some((person) => this.waitingBehind.has(person))) return true;
    for (const other of this.out.keys()) if (other < id) return false;
    return true;
  }

  /**
   * Whether an id that came back is one this copy can account for: an event it sent (out, back, or held back behind
   * an earlier one of the person), or one the cursor passed already (a late copy of an event let go). Otherwise it is
   * no event of this consumer's still to come (a typo, another node's event, or an event this copy never sent): the
   * node warns, as nothing is acknowledged by it. True also before the first read, when there is nothing to tell by.
   */
  accountsFor(id: number): boolean {
    if (this.cursor === undefined || id <= this.cursor) return true;
    return this.out.has(id) || this.back.has(id) || this.sentByThisCopy.has(id);
  }

  /** The feed's cursor as read: what it passed is settled, and no return of it is a stranger. */
  private cursorAt(after: number): void {
    this.cursor = after;
    for (const id of this.sentByThisCopy) if (id <= after) this.sentByThisCopy.delete(id);
  }

  /** When the oldest event still out is due to go again; undefined when none is out. */
  nextRedelivery(): number | undefined {
    let earliest: number | undefined;
    for (const { sentAt } of this.out.values()) if (earliest === undefined || sentAt < earliest) earliest = sentAt;
    return earliest === undefined ? undefined : earliest + this.redeliverMs;
  }

  /**
   * The misses of an event that is due: one more when it is out and an event sent after it came back, or when nothing
   * came back since its send and every event still out was passed by one sent after it that came back (those left
   * behind at the head of a page).
   */
  private countMiss(id: number): number {
    const sent = this.out.get(id);
    const overtaken = sent !== undefined && this.latestReturned > sent.order;
    const passed = (outId: number) => this.latestReturned > (this.firstSends.get(outId) ?? Number.MAX_VALUE);
    // Nothing came back since this send: the CRM is not working through a backlog (a rate limit) either.
    const stalled = sent !== undefined && this.returns === sent.returnsBefore;
    const leftBehind = stalled && [...this.out.keys()].every(passed);
    const misses = (this.misses.get(id) ?? 0) + (overtaken || leftBehind ? 1 : 0);
    this.misses.set(id, misses);
    return misses;
  }

  /** Not out, or out longer than the redelivery time: it goes (again) now. */
  private due(id: number, now: number): boolean {
    const sentAt = this.out.get(id)?.sentAt;
    return sentAt === undefined || now - sentAt >= this.redeliverMs;
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
    for (const id of this.attempts.keys()) if (which(id)) this.attempts.delete(id);
    for (const id of this.misses.keys()) if (which(id)) this.misses.delete(id);
    for (const id of this.firstSends.keys()) if (which(id)) this.firstSends.delete(id);
  }
}
