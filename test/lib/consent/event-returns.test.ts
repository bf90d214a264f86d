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

  it('accounts for the ids it sent or the cursor passed, and for no other once it read the feed', () => {
    const returns = new EventReturns(60_000);
    assert.equal(returns.accountsFor(42), true, 'before the first read there is nothing to tell by');
    const onlyWithdrawals = (e: FeedEvent) => e.type === 'consent.withdrawn';
    const page = [event(3), event(4, 'notice.shown'), event(5)];
    returns.plan(page, false, 0, onlyWithdrawals, 2);
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 1000].map((id) => returns.accountsFor(id)),
      [true, true, true, false, true, false, false],
      'passed by the cursor, or sent; not an event it never sent (4, filtered out) or one to come',
    );
    returns.returned(3);
    assert.equal(returns.accountsFor(3), true, 'back: a second copy is late, not wrong');
    // Another copy took over: what this one sent may still come back late.
    returns.clear();
    assert.equal(returns.accountsFor(5), true);
    assert.equal(returns.accountsFor(6), false);
    // The cursor passed them all.
    returns.plan([event(7)], false, 10, all, 6);
    assert.deepEqual(
      [4, 5, 6, 7, 8].map((id) => returns.accountsFor(id)),
      [true, true, true, true, false],
    );
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

  it('keeps a number change in line with both numbers: after what came before at either, before what follows', () => {
    const returns = new EventReturns(60_000);
    const at = (id: number, pseudonym: string, type = 'consent.withdrawn') =>
      ({ ...event(id, type), pseudonym }) as FeedEvent;
    const moved = { ...at(3, 'old', 'subject.number-changed'), to: 'new' } as FeedEvent;
    // 1 at her new number (given there before Meta's move webhook came), 2 at the old, the move, then 4 at the new.
    const page = [at(1, 'new', 'consent.given'), at(2, 'old'), moved, at(4, 'new'), at(5, 'else')];
    assert.deepEqual(ids(returns.plan(page, false, 0, all).send), [1, 2, 5]);
    // The old number's withdrawal back: the move still waits for the new number's consent before it.
    returns.returned(2);
    assert.deepEqual(ids(returns.plan(page, false, 10, all).send), []);
    // Worth a read: the move waited behind it.
    assert.equal(returns.returned(1), true);
    assert.deepEqual(
      ids(returns.plan(page, false, 20, all).send),
      [3],
      'the new number’s next event waits for the move',
    );
    assert.equal(returns.returned(3), true);
    assert.deepEqual(ids(returns.plan(page, false, 30, all).send), [4]);
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

  describe('giving up an event that never comes back', () => {
    /**
     * A feed with a poison event (1) among events the receiving system takes: in each round the others are sent and
     * come back, 1 is sent and does not. Returns the plans of the rounds, `redeliverMs` apart from `from`.
     */
    function rounds(returns: EventReturns, count: number, from = 0): ReturnType<EventReturns['plan']>[] {
      const plans = [];
      for (let round = 0; round < count; round++) {
        const page = [event(1), event(100 + round)];
        const plan = returns.plan(page, false, from + round * 60_000, all);
        plans.push(plan);
        for (const sent of plan.send) if (sent.id !== 1) returns.returned(sent.id);
      }
      return plans;
    }

    it('gives it up after maxAttempts misses, once its last send is overdue, and settles as if it came back', () => {
      const returns = new EventReturns(60_000, 2);
      const plans = rounds(returns, 3);
      assert.deepEqual(
        plans.map((plan) => [ids(plan.send), plan.givenUp.map((g) => [g.event.id, g.attempts])]),
        [
          [[1, 100], []],
          // The first send missed (100 came back, 1 did not): it goes again and is given its full time.
          [[1, 101], []],
          [[102], [[1, 2]]],
        ],
      );
      assert.equal(plans[2].settledUpTo, 1);
      assert.equal(plans[2].resent, 0);
      // Reported once: read again before the acknowledgement is written, it stays settled, and a late return is ignored.
      const again = returns.plan([event(1)], false, 180_000, all);
      assert.deepEqual([again.givenUp, again.send, again.settledUpTo], [[], [], 1]);
      assert.equal(returns.returned(1), false);
    });

    it('gives up nothing while nothing comes back: a receiving system that is down, however long', () => {
      const returns = new EventReturns(60_000, 2);
      const page = [event(1), event(2)];
      for (let round = 0; round < 50; round++) {
        const plan = returns.plan(page, false, round * 60_000, all);
        assert.deepEqual([ids(plan.send), plan.givenUp], [[1, 2], []], `round ${round}`);
      }
      // Back up: 2 comes back, 1 keeps failing. Its last send in the outage missed (2 came back after it), and the
      // next one does too: given up in the second round after the outage, not in it.
      returns.returned(2);
      const plans = rounds(returns, 3, 50 * 60_000).map((plan) => plan.givenUp.map((g) => g.event.id));
      assert.deepEqual(plans, [[], [1], []]);
    });

    it('gives up nothing to a CRM that takes only the first events of each burst (a rate limit)', () => {
      const returns = new EventReturns(60_000, 2);
      const page = Array.from({ length: 20 }, (_, i) => event(i + 1));
      const taken = new Set<number>();
      for (let round = 0; round < 4; round++) {
        const plan = returns.plan(page, false, round * 60_000, all);
        assert.deepEqual(plan.givenUp, [], `round ${round}`);
        // Five a minute: the first five sent this round come back, the rest get 429 and are not wired back.
        for (const sent of plan.send.slice(0, 5)) {
          returns.returned(sent.id);
          taken.add(sent.id);
        }
      }
      assert.equal(taken.size, 20, 'every event reached the CRM in the end');
      assert.equal(returns.plan(page, false, 240_000, all).settledUpTo, 20);
    });

    it('gives up a poison event at the head of a full page, once the rest of the page came back', () => {
      const returns = new EventReturns(60_000, 3);
      const page = Array.from({ length: 100 }, (_, i) => event(i + 1));
      const first = returns.plan(page, true, 0, all);
      for (const sent of first.send.slice(1)) returns.returned(sent.id);
      // Nothing later can be sent while the page is out: only event 1 goes, alone, until it is given up.
      const rounds = [1, 2, 3].map((round) => returns.plan(page, true, round * 60_000, all));
      assert.deepEqual(
        rounds.map((plan) => [ids(plan.send), plan.givenUp.map((g) => g.event.id), plan.settledUpTo]),
        [
          [[1], [], undefined],
          [[1], [], undefined],
          [[], [1], 100],
        ],
      );
    });

    it('gives up two poison events of a full page once the rest of it came back, not only one', () => {
      const returns = new EventReturns(60_000, 3);
      const page = Array.from({ length: 100 }, (_, i) => event(i + 1));
      const first = returns.plan(page, true, 0, all);
      for (const sent of first.send) if (sent.id !== 1 && sent.id !== 50) returns.returned(sent.id);
      const rounds = [1, 2, 3].map((round) => returns.plan(page, true, round * 60_000, all));
      assert.deepEqual(
        rounds.map((plan) => [ids(plan.send), plan.givenUp.map((g) => g.event.id), plan.settledUpTo]),
        [
          [[1, 50], [], undefined],
          [[1, 50], [], undefined],
          [[], [1, 50], 100],
        ],
      );
    });

    it('does not give up an event that comes back before the limit', () => {
      const returns = new EventReturns(60_000, 2);
      rounds(returns, 2);
      assert.equal(returns.returned(1), true);
      const plan = returns.plan([event(1), event(200)], false, 120_000, all);
      assert.deepEqual([plan.givenUp, plan.settledUpTo, ids(plan.send)], [[], 1, [200]]);
    });

    it('never gives up with 0, and gives up after 5 misses by default', () => {
      const givenUpIn = (returns: EventReturns) => rounds(returns, 12).findIndex((plan) => plan.givenUp.length > 0);
      assert.equal(givenUpIn(new EventReturns(60_000, 0)), -1);
      assert.equal(givenUpIn(new EventReturns(60_000)), 5);
    });

    it("lets the person's next event go once her event is given up", () => {
      const returns = new EventReturns(60_000, 1);
      const erika = (id: number, type: string) => ({ ...event(id, type), pseudonym: 'erika' }) as FeedEvent;
      const page = [erika(1, 'consent.given'), erika(2, 'consent.withdrawn'), event(3)];
      assert.deepEqual(ids(returns.plan(page, false, 0, all).send), [1, 3]);
      returns.returned(3);
      const plan = returns.plan(page, false, 60_000, all);
      assert.deepEqual(
        plan.givenUp.map((g) => g.event.id),
        [1],
      );
      assert.deepEqual(ids(plan.send), [2]);
      assert.equal(plan.settledUpTo, 1);
    });

    it('keeps the misses of an event held back behind an earlier one of the same person', () => {
      const returns = new EventReturns(60_000, 2);
      const erika = (id: number) => ({ ...event(id), pseudonym: 'erika' }) as FeedEvent;
      returns.plan([erika(2), event(10)], false, 0, all);
      returns.returned(10);
      returns.plan([erika(2), event(11)], false, 60_000, all);
      returns.returned(11);
      // An earlier one of hers turns up (a page read anew): 2 waits behind it, and keeps the miss it had.
      returns.plan([erika(1), erika(2)], false, 120_000, all);
      returns.returned(1);
      const sentAgain = returns.plan([erika(1), erika(2), event(12)], false, 120_010, all);
      assert.deepEqual([ids(sentAgain.send), sentAgain.givenUp], [[2, 12], []]);
      returns.returned(12);
      const plan = returns.plan([erika(1), erika(2)], false, 180_010, all);
      assert.deepEqual(
        plan.givenUp.map((g) => [g.event.id, g.attempts]),
        [[2, 3]],
      );
    });

    it('starts counting afresh when another copy took over', () => {
      const returns = new EventReturns(60_000, 1);
      rounds(returns, 1);
      returns.clear();
      const afresh = returns.plan([event(1), event(300)], false, 60_000, all);
      assert.deepEqual([ids(afresh.send), afresh.givenUp], [[1, 300], []]);
    });
  });
});
