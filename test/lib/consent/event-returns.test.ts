import assert from 'node:assert/strict';
import type { FeedEvent } from '../../../lib/consent/event-feed';
import { EventReturns } from '../../../lib/consent/event-returns';

function event(id: number, type = 'consent.withdrawn'): FeedEvent {
  return { id, type, pseudonym: `p${id}`, at: id } as FeedEvent;
}

const all = () => true;
const ids = (events: readonly FeedEvent[]) => events.map((e) => e.id);

describe('EventReturns (consent-events acknowledging on return)', () => {
  it('sends a page once, settles nothing until the first event is back, then as far as every event is back', () => {
    const returns = new EventReturns(60_000);
    const page = [event(1), event(2), event(3)];
    const first = returns.plan(page, false, 0, all);
    assert.deepEqual(ids(first.send), [1, 2, 3]);
    assert.equal(first.settledUpTo, undefined);
    assert.equal(returns.waiting, 3);
    // Read again before anything came back: nothing goes twice.
    assert.deepEqual(ids(returns.plan(page, false, 1000, all).send), []);
    // 2 comes back first: the cursor may not pass 1, so there is nothing to read for.
    assert.equal(returns.returned(2), false);
    assert.equal(returns.plan(page, false, 2000, all).settledUpTo, undefined);
    assert.equal(returns.returned(1), true);
    const settled = returns.plan(page, false, 3000, all);
    assert.equal(settled.settledUpTo, 2);
    assert.deepEqual(ids(settled.send), []);
    assert.equal(returns.waiting, 1);
  });

  it('sends again what did not come back within the redelivery time, and only that', () => {
    const returns = new EventReturns(60_000);
    const page = [event(5), event(6)];
    returns.plan(page, false, 0, all);
    returns.returned(6);
    assert.equal(returns.nextRedelivery(), 60_000);
    assert.deepEqual(ids(returns.plan(page, false, 59_999, all).send), []);
    const again = returns.plan(page, false, 60_000, all);
    assert.deepEqual(ids(again.send), [5]);
    assert.equal(again.resent, 1);
    // Sent again at 60 s: due again a full period later.
    assert.equal(returns.nextRedelivery(), 120_000);
  });

  it('settles events the node does not send (not selected) at once, also between events still out', () => {
    const returns = new EventReturns(60_000);
    const onlyWithdrawals = (e: FeedEvent) => e.type === 'consent.withdrawn';
    const page = [event(1, 'notice.shown'), event(2), event(3, 'notice.shown'), event(4)];
    const plan = returns.plan(page, false, 0, onlyWithdrawals);
    assert.deepEqual(ids(plan.send), [2, 4]);
    assert.equal(plan.settledUpTo, 1);
    returns.returned(2);
    // 2 back, 3 not selected: settled up to 3, 4 still out.
    assert.equal(returns.plan(page.slice(1), false, 10, onlyWithdrawals).settledUpTo, 3);
    returns.returned(4);
    assert.equal(returns.plan([event(4)], false, 20, onlyWithdrawals).settledUpTo, 4);
    assert.equal(returns.waiting, 0);
    assert.equal(returns.nextRedelivery(), undefined);
  });

  it('ignores an id it does not have out: already back, never sent, or sent by an earlier copy', () => {
    const returns = new EventReturns(60_000);
    returns.plan([event(1)], false, 0, all);
    assert.equal(returns.returned(9), false);
    assert.equal(returns.returned(1), true);
    assert.equal(returns.returned(1), false);
    assert.equal(returns.waiting, 0);
    // The stray 9 settles nothing when it turns up.
    const later = returns.plan([event(1), event(9)], false, 10, all);
    assert.equal(later.settledUpTo, 1);
    assert.deepEqual(ids(later.send), [9]);
  });

  it("sends one person's events one at a time, in order: a withdrawal never overtakes the consent before it", () => {
    const returns = new EventReturns(60_000);
    const erika = (id: number, type: string) => ({ ...event(id, type), pseudonym: 'erika' }) as FeedEvent;
    const page = [event(9), erika(10, 'consent.given'), erika(11, 'consent.withdrawn')];
    assert.deepEqual(ids(returns.plan(page, false, 0, all).send), [9, 10]);
    // Neither came back in time: both go again, and the withdrawal still waits behind the consent.
    assert.deepEqual(ids(returns.plan(page, false, 60_000, all).send), [9, 10]);
    // The consent's return is worth a read although 9 (someone else's, earlier) is still out: her next event may go.
    assert.equal(returns.returned(10), true);
    assert.deepEqual(ids(returns.plan(page, false, 60_001, all).send), [11]);
    // Someone else's later event coming back while an earlier one is out moves nothing.
    assert.equal(returns.returned(11), false);
  });

  it('does not count an event held behind an earlier one of the same person as out', () => {
    const returns = new EventReturns(60_000);
    const erika = (id: number) => ({ ...event(id), pseudonym: 'erika' }) as FeedEvent;
    returns.plan([erika(2)], false, 0, all);
    // An earlier one of hers turns up unsettled (a page read anew after the lease moved): it goes first, 2 after it.
    assert.deepEqual(ids(returns.plan([erika(1), erika(2)], false, 10, all).send), [1]);
    assert.equal(returns.waiting, 1);
    assert.equal(returns.nextRedelivery(), 60_010, 'no redelivery due for the 2 held back');
  });

  it('forgets what it had out once the page starts after it (acknowledged elsewhere, or swept): no stale redelivery', () => {
    const returns = new EventReturns(60_000);
    returns.plan([event(1), event(2)], false, 0, all);
    // Another copy acknowledged 1 (or the sweep deleted it): the next page starts at 2.
    returns.plan([event(2)], false, 30_000, all);
    assert.equal(returns.waiting, 1);
    assert.equal(returns.nextRedelivery(), 60_000);
    // One deleted from the middle of the page (the sweep goes by time, not id) is forgotten too.
    returns.plan([event(2), event(3), event(4)], false, 30_000, all);
    returns.plan([event(2), event(4)], false, 30_000, all);
    assert.equal(returns.waiting, 2);
    // One deleted from the end: forgotten when the page ends the feed, kept while more may follow it.
    returns.plan([event(2), event(4), event(5)], false, 30_000, all);
    returns.plan([event(2), event(4)], true, 30_000, all);
    assert.equal(returns.waiting, 3);
    returns.plan([event(2), event(4)], false, 30_000, all);
    assert.equal(returns.waiting, 2);
    // Nothing after the cursor any more: nothing is out.
    returns.plan([], false, 30_001, all);
    assert.equal(returns.waiting, 0);
    assert.equal(returns.nextRedelivery(), undefined);
  });

  it('keeps what came back until the acknowledgement is written', () => {
    const returns = new EventReturns(60_000);
    const page = [event(1), event(2)];
    returns.plan(page, false, 0, all);
    returns.returned(1);
    returns.returned(2);
    // The acknowledgement failed: the same page read again still counts both as back.
    assert.equal(returns.plan(page, false, 10, all).settledUpTo, 2);
    assert.deepEqual(ids(returns.plan(page, false, 20, all).send), []);
    returns.settled(2);
    // Once written, the next page starts after 2 and nothing of it is kept.
    assert.deepEqual(ids(returns.plan([event(3)], false, 30, all).send), [3]);
    assert.equal(returns.waiting, 1);
  });

  it('forgets everything when another copy takes over, so that it all goes again from the cursor', () => {
    const returns = new EventReturns(60_000);
    const page = [event(1), event(2)];
    returns.plan(page, false, 0, all);
    returns.returned(2);
    returns.clear();
    assert.equal(returns.waiting, 0);
    assert.deepEqual(ids(returns.plan(page, false, 10, all).send), [1, 2]);
  });
});
