import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { SubjectInput } from '../../../lib/consent/types';
import { GdprWhatsAppError } from '../../../lib/errors';
import { type BackendHarness, type HarnessFactory, TEST_PURPOSES } from './harness';

const FIRST = '+4915123456789';
const SECOND = '+4917612345678';
const THIRD = '+4916098765432';
const FOURTH = '+4915212345678';
const WORDING = TEST_PURPOSES[0].wording.en;
const DAY = 86_400_000;
const HOUR = 3_600_000;
/** A notice version per number, naming it without its digits. */
const NOTICE: Record<string, string> = {
  [FIRST]: 'v-first',
  [SECOND]: 'v-second',
  [THIRD]: 'v-third',
  [FOURTH]: 'v-fourth',
};
const NUMBER_BLOCKED = { allowed: false, status: 'expired', reason: 'number-changed-hands' };

/**
 * A person who moved from number to number (numberChanged) and asks from the one she holds now: her erasure and her
 * export reach back to her part of each number she held before, never to what its later holders did there.
 */
export function registerFollowBackContract(name: string, factory: HarnessFactory): void {
  describe(`consent ledger: rights followed back to earlier numbers, ${name}`, function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let ledger: ConsentLedger;
    let now: number;

    beforeEach(async () => {
      now = Date.UTC(2026, 0, 15, 9, 0, 0);
      db = await factory();
      ledger = await ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));
    });

    afterEach(async () => {
      await ledger?.close();
      await db?.dispose();
    });

    function give(subject: SubjectInput, purpose = 'marketing') {
      return ledger.giveConsent({ subject, purpose, wording: WORDING, method: 'keyword', actor: 't' });
    }

    const check = async (subject: SubjectInput, purpose = 'marketing') =>
      (await ledger.checkConsent(subject, purpose)).status;

    /**
     * A person's time at `number` (a consent, an objection to orders, a notice) ending with her move to `to`; then,
     * 40 days on, the number's next holder signs up there and sees a notice. Returns when she moved.
     */
    async function holdThenMove(number: string, to: string, next: string): Promise<number> {
      await give(number);
      await ledger.recordNoticeShown(number, NOTICE[number], { messageId: 'wamid.NOTICE', actor: 't' });
      await ledger.withdrawConsent({ subject: number, purposes: ['orders'], channel: 'admin', actor: 't' });
      now += DAY;
      await ledger.numberChanged({ phone: number, newPhone: to, actor: 't' });
      const movedAt = now;
      now += 40 * DAY;
      await give({ phone: number, name: next });
      await ledger.recordNoticeShown(number, `v-${next}`, { actor: 't' });
      now += DAY;
      return movedAt;
    }

    /** The number's next holder is untouched: his consent, his notice, no erasure of his, nothing of hers shown. */
    async function assertNextHolderUntouched(number: string, next: string): Promise<void> {
      assert.equal(await check(number), 'given');
      assert.equal(await ledger.isSuppressed(number), false);
      assert.equal(await ledger.hasSeenNotice(number, `v-${next}`), true);
      const his = await ledger.exportSubject(number, 't');
      assert.equal(his.subject?.name, next);
      assert.equal(his.erased, undefined);
      assert.ok(!his.auditEvents.some((e) => e.action === 'dsr.erasure_executed'), 'staff answering her is not his');
    }

    describe('erasure', () => {
      it('takes her part of the number she moved from, and nothing of its next holder', async () => {
        const movedAt = await holdThenMove(FIRST, SECOND, 'Bob');
        await give(SECOND, 'newsletter');

        const report = await ledger.eraseSubject(SECOND, 't');
        assert.equal(report.found, true);
        assert.deepEqual(report.earlierNumbers, {
          count: 1,
          removed: { subjects: 0, consents: 1, consentHistory: 1, notices: 1, aliases: 0, wordings: 1 },
        });
        assert.equal(report.removed.consents, 2, 'her newsletter consent and the orders objection that followed her');
        assert.equal(await check(SECOND, 'newsletter'), 'erased');

        const hers = await ledger.exportSubject(FIRST, 't', { beforeNumberChange: true });
        assert.deepEqual([hers.found, hers.consents, hers.history, hers.notices], [false, [], [], []]);
        assert.equal(hers.numberChangedAt, movedAt);
        // Her objection kept order messages from the number; the number's block does now.
        assert.deepEqual(await ledger.checkConsent(FIRST, 'orders'), NUMBER_BLOCKED);
        await assertNextHolderUntouched(FIRST, 'Bob');
        assert.equal((await ledger.verifyAudit()).ok, true);
      });

      it('follows her back over several moves, to her part only of a number that moved again after her', async () => {
        await holdThenMove(FIRST, SECOND, 'Bob');
        await holdThenMove(SECOND, THIRD, 'Carl');
        await ledger.numberChanged({ phone: SECOND, newPhone: FOURTH, actor: 't' }); // Carl moves on too
        now += DAY;

        const report = await ledger.eraseSubject(THIRD, 't');
        assert.deepEqual(report.earlierNumbers, {
          count: 2,
          removed: { subjects: 0, consents: 2, consentHistory: 2, notices: 2, aliases: 0 },
        });
        assert.equal((await ledger.exportSubject(FIRST, 't', { beforeNumberChange: true })).found, false);
        await assertNextHolderUntouched(FIRST, 'Bob');
        // Carl's part of the second number, now its previous holder's, stays his.
        const carl = await ledger.exportSubject(SECOND, 't', { beforeNumberChange: true });
        assert.deepEqual(
          carl.consents.map((c) => [c.purpose, c.status]),
          [['marketing', 'withdrawn']],
        );
        assert.deepEqual(
          carl.notices.map((n) => n.noticeVersion),
          ['v-Carl'],
        );
        assert.equal(await ledger.isSuppressed(SECOND), false);
        assert.equal(await ledger.isSuppressed(FOURTH), false, 'Carl was never erased');
        assert.equal((await ledger.verifyAudit()).ok, true);
      });

      it('follows a move that named only her new user id, once she writes from her new number with it', async () => {
        await give({ phone: FIRST, userId: 'DE.7001' });
        now += DAY;
        await ledger.numberChanged({ phone: FIRST, previousUserId: 'DE.7001', newUserId: 'DE.7002', actor: 't' });
        now += DAY;
        await give({ phone: SECOND, userId: 'DE.7002' });
        const report = await ledger.eraseSubject(SECOND, 't');
        assert.equal(report.earlierNumbers?.count, 1);
        assert.equal(report.earlierNumbers?.removed.consents, 1, 'her marketing consent, ended by the move');
        assert.equal((await ledger.exportSubject(FIRST, 't', { beforeNumberChange: true })).found, false);
      });

      it("does not follow a move that reached her number before her time there: that was a previous holder's", async () => {
        await holdThenMove(FOURTH, SECOND, 'Dan'); // Zoe moves from FOURTH to SECOND
        await ledger.numberChanged({ phone: SECOND, actor: 't' }); // Zoe leaves SECOND; Anna gets it
        now += 40 * DAY;
        await give({ phone: SECOND, name: 'Anna' });

        const report = await ledger.eraseSubject(SECOND, 't');
        assert.deepEqual(report.earlierNumbers, { count: 0, removed: {} });
        const zoe = await ledger.exportSubject(FOURTH, 't', { beforeNumberChange: true });
        assert.deepEqual(
          zoe.notices.map((n) => n.noticeVersion),
          [NOTICE[FOURTH]],
          'Zoe’s part of her earlier number stays',
        );
        assert.ok(zoe.consents.some((c) => c.purpose === 'orders' && c.status === 'withdrawn'));
      });

      it("counts Meta's second delivery of a move once, and leaves the span after it to the number", async () => {
        await holdThenMove(FIRST, SECOND, 'Bob');
        // The same move again (a crash before the webhook's mark), after Bob arrived at the first number.
        await ledger.numberChanged({ phone: FIRST, newPhone: SECOND, actor: 't' });
        now += DAY;
        const report = await ledger.eraseSubject(SECOND, 't');
        assert.equal(report.earlierNumbers?.count, 1);
        assert.equal((await ledger.exportSubject(FIRST, 't')).subject?.name, undefined, 'the copy ended his data');
        assert.equal((await ledger.verifyAudit()).ok, true);
      });

      it('follows her back from her own request sent before her last move, and from staff answering her', async () => {
        await holdThenMove(FIRST, SECOND, 'Bob');
        await give(SECOND, 'newsletter');
        const sentAt = now;
        now += HOUR;
        await ledger.numberChanged({ phone: SECOND, newPhone: THIRD, actor: 't' });
        now += HOUR;
        // Her erase request, sent at the second number before she moved on, delivered now.
        const late = await ledger.eraseSubject(SECOND, 't', { sentAt });
        assert.equal(late.beforeNumberChange, true);
        assert.equal(late.earlierNumbers?.count, 1);
        const atFirst = await ledger.exportSubject(FIRST, 't', { beforeNumberChange: true });
        assert.deepEqual([atFirst.consents, atFirst.history, atFirst.notices], [[], [], []]);
        await assertNextHolderUntouched(FIRST, 'Bob');
      });

      it('tells nothing of the earlier numbers in the audit event of the one she asked from but how many', async () => {
        await holdThenMove(FIRST, SECOND, 'Bob');
        await ledger.eraseSubject(SECOND, 't');
        const events = await db.all(
          `SELECT pseudonym, detail FROM audit WHERE action = 'dsr.erasure_executed' ORDER BY seq`,
        );
        assert.equal(events.length, 2, 'one at her earlier number, one at this one');
        const [there, here] = events.map((e) => JSON.parse(String(e.detail)));
        assert.equal(there.part, 'before-number-change', 'hidden from the earlier number’s present holder');
        assert.equal(here.earlierNumbers, 1);
        assert.ok(!String(events[1].detail).includes(String(events[0].pseudonym)));
      });
    });

    describe('export', () => {
      it('holds her part of the number she moved from, pseudonymous, and nothing of its next holder', async () => {
        const movedAt = await holdThenMove(FIRST, SECOND, 'Bob');
        await give(SECOND, 'newsletter');
        const oldPseudonym = (await ledger.exportSubject(FIRST, 't', { beforeNumberChange: true })).pseudonym;

        const doc = await ledger.exportSubject(SECOND, 't');
        assert.equal(doc.found, true);
        assert.equal(doc.earlierNumbers?.length, 1);
        const [part] = doc.earlierNumbers ?? [];
        assert.equal(part.movedAwayAt, movedAt);
        assert.deepEqual(
          part.consents.map((c) => [c.purpose, c.status]),
          [['orders', 'withdrawn']],
        );
        assert.deepEqual(
          part.history.map((r) => [r.purpose, r.status]),
          [['marketing', 'withdrawn']],
        );
        assert.deepEqual(
          part.notices.map((n) => n.noticeVersion),
          [NOTICE[FIRST]],
        );
        assert.ok(part.auditEvents.some((e) => e.action === 'subject.number-changed'));
        assert.ok(
          part.auditEvents.every((e) => e.at <= movedAt),
          'nothing of Bob’s, nor of this export',
        );
        const text = JSON.stringify(doc);
        assert.ok(!text.includes(oldPseudonym), 'no pseudonym of the earlier number');
        assert.ok(!text.includes(FIRST.slice(1)) && !text.includes('Bob'));

        // Bob, the number's present holder, sees no access to it on her account.
        const bob = await ledger.exportSubject(FIRST, 't');
        assert.equal(bob.earlierNumbers?.length, 0);
        assert.deepEqual(
          bob.auditEvents.filter((e) => e.action === 'dsr.access_fulfilled').map((e) => e.at),
          [now],
          'his own export only',
        );
        assert.equal((await ledger.verifyAudit()).ok, true);
      });

      it("follows her back over several moves, never into a later holder's part of a number", async () => {
        await holdThenMove(FIRST, SECOND, 'Bob');
        await holdThenMove(SECOND, THIRD, 'Carl');
        await ledger.numberChanged({ phone: SECOND, newPhone: FOURTH, actor: 't' }); // Carl moves on too
        now += DAY;
        const doc = await ledger.exportSubject(THIRD, 't');
        assert.deepEqual(
          doc.earlierNumbers?.map((part) => part.notices.map((n) => n.noticeVersion)),
          [[NOTICE[SECOND]], [NOTICE[FIRST]]],
        );
        const [second] = doc.earlierNumbers ?? [];
        assert.deepEqual(
          second.history.map((r) => [r.purpose, r.status]),
          [['marketing', 'withdrawn']],
          'hers, not Carl’s consent ended by his move',
        );
        assert.ok(!second.consents.some((c) => c.status === 'given'));
        // The first number's move named the second, which is Carl's now: neither pseudonym is in her export.
        const text = JSON.stringify(doc.earlierNumbers);
        for (const number of [FIRST, SECOND]) {
          const { pseudonym } = await ledger.exportSubject(number, 't', { beforeNumberChange: true });
          assert.ok(!text.includes(pseudonym), 'no pseudonym of an earlier number');
        }
      });

      it('leaves out what staff did for the holder before her while she held the earlier number', async () => {
        await ledger.numberChanged({ phone: SECOND, actor: 't' }); // Zoe leaves SECOND
        now += 40 * DAY;
        await ledger.numberChanged({ phone: FIRST, newPhone: SECOND, actor: 't' }); // Anna gets it
        now += DAY;
        await ledger.exportSubject(SECOND, 't', { beforeNumberChange: true }); // staff answer Zoe
        now += DAY;
        await give(SECOND);
        await ledger.numberChanged({ phone: SECOND, newPhone: THIRD, actor: 't' });
        now += DAY;
        const [second] = (await ledger.exportSubject(THIRD, 't')).earlierNumbers ?? [];
        assert.ok(second.consents.some((c) => c.purpose === 'marketing'));
        assert.deepEqual(
          second.auditEvents.filter((e) => e.action === 'dsr.access_fulfilled'),
          [],
        );
      });

      it('follows the previous holder back too when staff answer her, and holds no earlier part without one', async () => {
        await holdThenMove(FIRST, SECOND, 'Bob');
        await ledger.numberChanged({ phone: SECOND, actor: 't' });
        const hers = await ledger.exportSubject(SECOND, 't', { beforeNumberChange: true });
        assert.deepEqual(
          hers.earlierNumbers?.map((part) => part.notices.map((n) => n.noticeVersion)),
          [[NOTICE[FIRST]]],
        );
        assert.equal((await ledger.exportSubject(FIRST, 't', { beforeNumberChange: true })).earlierNumbers, undefined);
      });
    });

    it("refuses a user id with the previous holder's part, and changes nothing: whose id it is cannot be told", async () => {
      await give({ phone: FIRST, userId: 'DE.7001' });
      await ledger.numberChanged({ phone: FIRST, actor: 't' });
      now += DAY;
      await give({ phone: FIRST, userId: 'DE.8001' }); // the number's next holder, with his id
      const before = await db.dump();
      const refused = (err: unknown) =>
        err instanceof GdprWhatsAppError && err.code === 'user-id-with-before-number-change';
      for (const userId of ['DE.7001', 'DE.8001']) {
        const subject = { phone: FIRST, userId };
        await assert.rejects(ledger.eraseSubject(subject, 't', { beforeNumberChange: true }), refused);
        await assert.rejects(ledger.exportSubject(subject, 't', { beforeNumberChange: true }), refused);
      }
      assert.equal(await db.dump(), before);
      assert.equal(await check({ userId: 'DE.8001' }), 'given');
    });
  });
}
