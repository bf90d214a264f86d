import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { LedgerEvent } from '../../../lib/consent/types';
import { type BackendHarness, type HarnessFactory, rejectsWith, TEST_PURPOSES } from './harness';

const ANNA = '+4915123456789';
const OTHER = '+4917612345678';
const THIRD = '+4916098765432';
const FOURTH = '+4915212345678';
const WORDING = TEST_PURPOSES[0].wording.en;
const DAY = 86_400_000;

/**
 * Meta's identity changes (a person's move to another number, a new business-scoped user id) against each storage
 * backend: consent must follow the person, never pass to whoever gets the number next, and no opt-out may be lost.
 */
export function registerIdentityContract(name: string, factory: HarnessFactory): void {
  describe(`consent ledger identity changes: ${name}`, function () {
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

    function give(subject: Parameters<ConsentLedger['giveConsent']>[0]['subject'], purpose = 'marketing') {
      return ledger.giveConsent({ subject, purpose, wording: WORDING, method: 'keyword', actor: 't' });
    }

    const check = async (subject: Parameters<ConsentLedger['checkConsent']>[0], purpose = 'marketing') =>
      (await ledger.checkConsent(subject, purpose)).status;

    /**
     * A request for order updates, a purpose on a contract basis. Asked in the chat: a form may not ask for a number
     * this month after its opt-out or erasure (OPTED_OUT_REQUEST_PAUSE_MS), which these tests are not about.
     */
    const requestOrders = (subject: string) =>
      ledger.requestConsent({ subject, purpose: 'orders', wording: 'O', method: 'keyword', actor: 't' });

    describe('a request by user id', () => {
      it('is kept under the number her id is linked to: open, confirmed and checked there', async () => {
        await give({ phone: ANNA, userId: 'DE.7001' }, 'orders'); // links her id to her number
        const asked = await ledger.requestConsent({
          subject: { userId: 'DE.7001' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        const at = asked.requestedAt as number;
        assert.equal(await ledger.isRequestOpen({ userId: 'DE.7001' }, 'marketing', at), true);
        assert.equal(await ledger.isRequestOpen(ANNA, 'marketing', at), true);
        assert.equal((await ledger.getConsent({ userId: 'DE.7001' }, 'marketing'))?.status, 'pending');
        await ledger.confirmConsent({ subject: { userId: 'DE.7001' }, confirmationText: 'JA', actor: 't' });
        assert.equal(await check(ANNA), 'given');
        assert.equal(await check({ userId: 'DE.7001' }), 'given');
      });
    });

    describe('numberChanged', () => {
      it("sends the next holder of an erased person's number nothing on her account, as after any move", async () => {
        await give(ANNA, 'orders');
        await give(OTHER, 'orders');
        await ledger.eraseSubject(ANNA, 't');
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, newPhone: THIRD, actor: 't' });
        await ledger.numberChanged({ phone: OTHER, newPhone: FOURTH, actor: 't' });
        now += DAY;
        const orders = async (phone: string) => ledger.checkConsent(phone, 'orders');
        assert.deepEqual(await orders(ANNA), await orders(OTHER));
        assert.equal((await orders(ANNA)).reason, 'number-changed-hands');
        // A request for the number lifts it no more than it lifts the block of any moved number.
        await requestOrders(ANNA);
        assert.equal((await orders(ANNA)).allowed, false);
      });

      it('keeps her objection when it followed her to her new number and she was erased there', async () => {
        await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' });
        now += DAY;
        await ledger.eraseSubject(OTHER, 't');
        now += DAY;
        await ledger.recordInbound(OTHER, now);
        assert.equal(await check(OTHER, 'orders'), 'withdrawn');
      });

      it("keeps an erased person who gets a recycled number from the previous holder's ended records there", async () => {
        await give(OTHER, 'orders'); // Bob's contract at OTHER
        await ledger.numberChanged({ phone: OTHER, newPhone: THIRD, actor: 't' }); // Bob leaves: his record expires
        await ledger.eraseSubject(ANNA, 't');
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' }); // erased Anna is given OTHER
        assert.equal((await ledger.checkConsent(OTHER, 'orders')).allowed, false);
        assert.equal(
          await ledger.withdrawUnlessErased({ subject: OTHER, channel: 'whatsapp-keyword', actor: 't' }),
          'erased',
        );
        assert.equal((await ledger.checkConsent(OTHER, 'orders')).allowed, false);
      });

      it('a STOP of an erased person blocks a purpose whose request of hers expired', async () => {
        await ledger.eraseSubject(ANNA, 't');
        await requestOrders(ANNA);
        now += 3 * DAY;
        await ledger.sweepRetention();
        assert.equal(
          await ledger.withdrawUnlessErased({ subject: ANNA, channel: 'whatsapp-keyword', actor: 't' }),
          'erased',
        );
        assert.equal((await ledger.checkConsent(ANNA, 'orders')).allowed, false);
        const stored = await db.all('SELECT withdrawal_text_enc, withdrawal_message_id_enc FROM consents');
        assert.ok(stored.every((r) => r.withdrawal_text_enc === null && r.withdrawal_message_id_enc === null));
      });

      describe('with the user ids Meta names (a number change regenerates the id)', () => {
        const move = (extra: Record<string, unknown>) =>
          ledger.numberChanged({ phone: ANNA, previousUserId: 'DE.7001', newUserId: 'DE.7002', actor: 't', ...extra });

        it('takes what she opted out of under her previous id to her new number, where her new id finds it', async () => {
          // A STOP written with her number withheld is kept under her id alone.
          await ledger.withdrawConsent({ subject: { userId: 'DE.7001' }, channel: 'whatsapp-keyword', actor: 't' });
          await move({ newPhone: OTHER });
          assert.equal(await check(OTHER, 'orders'), 'withdrawn');
          assert.equal(await check({ userId: 'DE.7002' }, 'orders'), 'withdrawn');
          assert.equal(await check({ userId: 'DE.7002' }), 'none');
        });

        it('without a new number keeps her opt-outs under her new id', async () => {
          await ledger.withdrawConsent({
            subject: { phone: ANNA, userId: 'DE.7001' },
            channel: 'whatsapp-keyword',
            actor: 't',
          });
          await move({});
          assert.equal(await check({ userId: 'DE.7002' }, 'orders'), 'withdrawn');
        });

        it('does not link a new id with a consent of its own, which a link would hide', async () => {
          await give({ userId: 'DE.7002' }); // Meta's message came after her first message with the new id
          await ledger.withdrawConsent({ subject: { userId: 'DE.7001' }, channel: 'whatsapp-keyword', actor: 't' });
          await move({ newPhone: OTHER });
          assert.equal(await check({ userId: 'DE.7002' }), 'given');
          assert.equal(await check(OTHER, 'orders'), 'withdrawn');
          assert.equal(await check({ userId: 'DE.7002' }, 'orders'), 'withdrawn', 'her objection answers to the id');
        });

        it('carries an opt-out of one purpose as that purpose only', async () => {
          const both = { phone: ANNA, userId: 'DE.7001' };
          await ledger.withdrawUnlessErased({ subject: both, purposes: ['marketing'], channel: 'api', actor: 't' });
          await move({ newPhone: OTHER });
          assert.equal((await ledger.checkConsent(OTHER, 'orders')).allowed, true);
          assert.equal((await ledger.checkConsent({ userId: 'DE.7002' }, 'orders')).allowed, true);
        });

        it('takes a STOP by her previous id, sent before the move and delivered after it, to where she is', async () => {
          const stopSent = now - 60 * 60_000;
          await move({ newPhone: OTHER });
          now += 60_000;
          await ledger.withdrawUnlessErased({
            subject: { userId: 'DE.7001' },
            channel: 'whatsapp-keyword',
            sentAt: stopSent,
            actor: 't',
          });
          assert.equal(await check(OTHER, 'orders'), 'withdrawn');
          assert.equal(await check({ userId: 'DE.7002' }, 'orders'), 'withdrawn');
        });

        it('keeps opt-outs left under her new id for the number she writes from with it later', async () => {
          await ledger.withdrawUnlessErased({
            subject: { phone: ANNA, userId: 'DE.7001' },
            channel: 'whatsapp-keyword',
            actor: 't',
          });
          await move({}); // Meta named no new number
          await give({ phone: OTHER, userId: 'DE.7002' }, 'marketing');
          assert.equal(await check(OTHER, 'orders'), 'withdrawn');
          assert.equal(await check({ userId: 'DE.7002' }, 'orders'), 'withdrawn');
        });

        it('is harmless when Meta delivers the same message again after her next move', async () => {
          await move({ newPhone: OTHER });
          now += 60_000;
          await ledger.numberChanged({
            phone: OTHER,
            newPhone: THIRD,
            previousUserId: 'DE.7002',
            newUserId: 'DE.7003',
            actor: 't',
          });
          now += 60_000;
          await move({ newPhone: OTHER }); // the first message, again
          await give(OTHER); // the number's next holder
          assert.equal(await check({ userId: 'DE.7002' }), 'none', 'her old id does not lead to his records');
        });

        it('keeps a person erased under her previous id on the erasure list, and writes nothing else', async () => {
          await ledger.eraseSubject({ phone: ANNA, userId: 'DE.7001' }, 't');
          await move({ newPhone: OTHER });
          assert.equal(await check(OTHER, 'orders'), 'erased');
          assert.equal(await check({ userId: 'DE.7002' }, 'orders'), 'erased');
          assert.deepEqual(await db.all('SELECT alias FROM subject_aliases'), [], 'no link');
          assert.deepEqual(await db.all('SELECT purpose FROM consents'), [], 'no rows');
        });

        it('withdrawConsent answers a list, also for a late opt-out of a person erased before she moved', async () => {
          await ledger.eraseSubject(ANNA, 't');
          const sentAt = now - 60 * 60_000;
          await move({ newPhone: OTHER });
          const changed = await ledger.withdrawConsent({ subject: ANNA, channel: 'api', sentAt, actor: 't' });
          assert.deepEqual(changed, []);
        });

        it('moves all the same when the ids are not ids', async () => {
          await give(ANNA);
          await move({ newPhone: OTHER, previousUserId: 'not an id', newUserId: 42 });
          assert.equal(await check(ANNA), 'withdrawn');
          assert.equal(await check(OTHER), 'none');
        });
      });

      it('withdraws consents, lets given contract records expire, and forgets who the number belonged to', async () => {
        await give({ phone: ANNA, userId: 'DE.111', name: 'Anna' });
        await give(ANNA, 'orders');
        const ended = await ledger.numberChanged({ phone: ANNA, messageId: 'wamid.MOVED', actor: 't' });
        assert.deepEqual(ended === 'erased' ? ended : ended.map((r) => [r.purpose, r.status]).sort(), [
          ['marketing', 'withdrawn'],
          ['orders', 'expired'],
        ]);
        assert.equal((await ledger.getConsent(ANNA, 'marketing'))?.withdrawalChannel, 'whatsapp-number-change');
        // Whoever gets the number next is not held to Anna's contract, nor sent anything on it.
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), {
          allowed: false,
          status: 'expired',
          reason: 'number-changed-hands',
        });
        // The number's record no longer names Anna; the pseudonymous proof stays.
        assert.equal(await check({ userId: 'DE.111' }), 'none');
        const exported = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.equal(exported.subject, undefined);
        assert.equal(exported.numberChangedAt, now);
        assert.ok(exported.auditEvents.some((e) => e.action === 'subject.number-changed'));
        assert.ok(exported.history.some((r) => r.purpose === 'orders' && r.status === 'given'));
      });

      /**
       * Anna's records at the number (a notice, an objection, a consent), its move, then Bob's sign-up there (and his
       * notice, unless `bobSeesNotice` is false). Returns when the number moved.
       */
      async function annaThenBob({ bobSeesNotice = true } = {}): Promise<number> {
        await give({ phone: ANNA, name: 'Anna' });
        await ledger.recordNoticeShown(ANNA, 'v1', { messageId: 'wamid.NOTICE', actor: 't' });
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'admin', actor: 't' });
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        const movedAt = now;
        now += 40 * DAY;
        await give({ phone: ANNA, name: 'Bob' });
        if (bobSeesNotice) await ledger.recordNoticeShown(ANNA, 'v2', { messageId: 'wamid.NOTICE2', actor: 't' });
        now += DAY;
        return movedAt;
      }

      it('keeps the proof that the previous holder saw a notice when the next holder is shown the same version', async () => {
        await ledger.recordNoticeShown(ANNA, 'v1', { messageId: 'wamid.ANNA', actor: 't' });
        const annaSaw = now;
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += DAY;
        assert.equal(await ledger.hasSeenNotice(ANNA, 'v1'), false, 'Bob has not seen it');
        await ledger.recordNoticeShown(ANNA, 'v1', { messageId: 'wamid.BOB', actor: 't' });
        assert.equal(await ledger.hasSeenNotice(ANNA, 'v1'), true);
        const anna = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.deepEqual(
          anna.notices.map((n) => [n.noticeVersion, n.shownAt]),
          [['v1', annaSaw]],
        );
        const bob = await ledger.exportSubject(ANNA, 't');
        assert.deepEqual(
          bob.notices.map((n) => [n.noticeVersion, n.messageId]),
          [['v1', 'wamid.BOB']],
        );
        // Bob's notice failing takes only his showing away.
        await ledger.noticeNotDelivered(ANNA, 'v1', { actor: 't' });
        assert.equal(await ledger.hasSeenNotice(ANNA, 'v1'), false);
        assert.equal((await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true })).notices.length, 1);
      });

      it("shows the number's next holder his own records only; staff can still answer the previous holder", async () => {
        const movedAt = await annaThenBob({ bobSeesNotice: false });

        const bob = await ledger.exportSubject(ANNA, 't');
        assert.equal(bob.numberChangedAt, movedAt);
        assert.equal(bob.subject?.name, 'Bob');
        assert.deepEqual(
          bob.consents.map((c) => [c.purpose, c.status]),
          [['marketing', 'given']],
          'not Anna’s objection to orders',
        );
        assert.deepEqual(bob.history, [], 'Anna’s consent history stays hers');
        assert.deepEqual(bob.notices, []);
        assert.ok(bob.auditEvents.length > 0);
        assert.ok(bob.auditEvents.every((e) => e.at > movedAt));

        const anna = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.equal(anna.numberChangedAt, movedAt);
        assert.equal(anna.subject, undefined, 'her name went with the move');
        assert.deepEqual(
          anna.consents.map((c) => [c.purpose, c.status]),
          [['orders', 'withdrawn']],
        );
        assert.deepEqual(
          anna.history.map((r) => [r.purpose, r.status]),
          [['marketing', 'withdrawn']],
          'her withdrawn consent, archived when Bob signed up',
        );
        assert.deepEqual(
          anna.notices.map((n) => n.noticeVersion),
          ['v1'],
        );
        assert.ok(anna.auditEvents.some((e) => e.action === 'subject.number-changed'));
        assert.ok(
          anna.auditEvents.every((e) => e.at <= movedAt),
          'nothing of Bob’s, nor of this export',
        );
      });

      it('after two moves, staff get the last previous holder’s part only, and the present one sees none of it', async () => {
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'admin', actor: 't' });
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, actor: 't' }); // Anna leaves
        now += 40 * DAY;
        await give({ phone: ANNA, name: 'Bob' });
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, actor: 't' }); // Bob leaves
        const bobLeft = now;
        now += 40 * DAY;
        await give({ phone: ANNA, name: 'Carl' }, 'newsletter');

        const bob = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.equal(bob.numberChangedAt, bobLeft);
        assert.deepEqual(
          bob.consents.map((c) => [c.purpose, c.status]),
          [['marketing', 'withdrawn']],
          'Bob’s consent, ended by his move; not Anna’s objection',
        );
        assert.ok(!bob.history.some((r) => r.purpose === 'orders'));
        assert.ok(!bob.auditEvents.some((e) => e.purpose === 'orders'), 'nothing of Anna’s');

        const carl = await ledger.exportSubject(ANNA, 't');
        assert.equal(carl.subject?.name, 'Carl');
        assert.deepEqual(
          carl.consents.map((c) => [c.purpose, c.status]),
          [['newsletter', 'given']],
        );
        const accesses = carl.auditEvents.filter((e) => e.action === 'dsr.access_fulfilled');
        assert.equal(accesses.length, 1, 'his own export only, not staff answering Bob');
      });

      it("an erased person's later record goes with her move; the next holder's is his", async () => {
        await ledger.eraseSubject(ANNA, 't');
        now += 60_000;
        await ledger.recordInbound(ANNA); // she writes once more
        now += DAY;
        assert.equal(await ledger.numberChanged({ phone: ANNA, actor: 't' }), 'erased');
        now += 40 * DAY;
        await give({ phone: ANNA, name: 'Bob' });
        const bob = await ledger.exportSubject(ANNA, 't');
        assert.equal(bob.subject?.name, 'Bob');
        assert.equal(bob.subject?.lastInboundAt, undefined, 'not Anna’s last message');
        assert.equal((await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true })).subject, undefined);
      });

      it("keeps an erasure before the move out of the next holder's export", async () => {
        await give(ANNA);
        await ledger.eraseSubject(ANNA, 't');
        const erasedAt = now;
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += 40 * DAY;
        await give(ANNA);
        assert.equal((await ledger.exportSubject(ANNA, 't')).erased, undefined);
        const anna = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.equal(anna.erased?.at, erasedAt);
        assert.deepEqual(anna.consents, []);
      });

      it('without a move, the part before a number change is empty', async () => {
        await give(ANNA);
        const part = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.equal(part.found, false);
        assert.equal(part.numberChangedAt, undefined);
        assert.deepEqual([part.consents, part.history, part.auditEvents], [[], [], []]);
        assert.equal((await ledger.exportSubject(ANNA, 't')).consents.length, 1);
      });

      it('sends nothing on a contract to the number once it changed hands, record or not, until one is made for him', async () => {
        assert.equal((await ledger.checkConsent(ANNA, 'orders')).allowed, true, 'the basis allows: no record needed');
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        // Anna's order updates, from a shop system that still has her old number, must not reach the next holder.
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), {
          allowed: false,
          status: 'expired',
          reason: 'number-changed-hands',
        });
        assert.equal((await ledger.exportSubject(ANNA, 't')).consents.length, 0, 'nothing of the next holder yet');
        now += DAY;
        await give(ANNA, 'orders'); // the next holder's own contract
        assert.equal((await ledger.checkConsent(ANNA, 'orders')).allowed, true);
      });

      it('keeps an objection made before the move as it is', async () => {
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'admin', actor: 't' });
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        assert.equal(await check(ANNA, 'orders'), 'withdrawn');
      });

      it("erasing the number's present holder leaves the previous holder's records, which are hers", async () => {
        await annaThenBob();
        const report = await ledger.eraseSubject(ANNA, 't');
        assert.equal(report.found, true);
        assert.equal(report.beforeNumberChange, undefined);
        assert.deepEqual(
          [report.removed.subjects, report.removed.consents, report.removed.notices, report.removed.consentHistory],
          [1, 1, 1, 0],
          'Bob’s record, consent and notice; not Anna’s',
        );
        assert.equal(await check(ANNA), 'erased');
        const anna = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.deepEqual(
          anna.consents.map((c) => [c.purpose, c.status]),
          [['orders', 'withdrawn']],
        );
        assert.deepEqual(
          anna.history.map((r) => [r.purpose, r.status]),
          [['marketing', 'withdrawn']],
        );
        assert.deepEqual(
          anna.notices.map((n) => n.noticeVersion),
          ['v1'],
        );
        assert.equal((await ledger.verifyAudit()).ok, true);
      });

      it("erases only the previous holder's part when staff ask for it; the present holder keeps everything", async () => {
        const movedAt = await annaThenBob();
        const seen: LedgerEvent[] = [];
        ledger.on('event', (event: LedgerEvent) => seen.push(event));
        const report = await ledger.eraseSubject(ANNA, 't', { beforeNumberChange: true });
        assert.equal(report.found, true);
        assert.equal(report.beforeNumberChange, true);
        assert.deepEqual(
          [report.removed.subjects, report.removed.consents, report.removed.notices, report.removed.consentHistory],
          [0, 1, 1, 1],
          'Anna’s objection, her archived consent and her notice',
        );
        // No subject.erased naming the number (a CRM would erase Bob): the number's pseudonym, and Bob holds it.
        assert.deepEqual(seen, [
          { type: 'subject.previous-holder-erased', pseudonym: report.pseudonym, at: now, movedAt, heldAfter: true },
        ]);
        // Her objection kept order messages from the number; the number's block does now.
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), {
          allowed: false,
          status: 'expired',
          reason: 'number-changed-hands',
        });
        // Bob is neither erased nor suppressed.
        assert.equal(await check(ANNA), 'given');
        assert.equal(await ledger.isSuppressed(ANNA), false);
        assert.equal(await ledger.hasSeenNotice(ANNA, 'v2'), true);
        const bob = await ledger.exportSubject(ANNA, 't');
        assert.equal(bob.subject?.name, 'Bob');
        assert.equal(bob.erased, undefined);
        assert.ok(
          !bob.auditEvents.some((e) => e.action === 'dsr.erasure_executed'),
          'staff answering Anna is not Bob’s business',
        );
        const anna = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.deepEqual([anna.found, anna.consents, anna.history, anna.notices], [false, [], [], []]);
        assert.equal(anna.numberChangedAt, movedAt);
        assert.equal((await ledger.verifyAudit()).ok, true);
      });

      it('keeps the number blocked for contract messages when her part is erased, whatever she had on record', async () => {
        await give(ANNA, 'orders');
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += DAY;
        const report = await ledger.eraseSubject(ANNA, 't', { beforeNumberChange: true });
        assert.equal(report.removed.consentHistory, 1, 'her contract record, archived by the move');
        assert.equal(report.removed.consents, 0, "the number's block is nobody's and stays");
        assert.equal((await ledger.checkConsent(ANNA, 'orders')).reason, 'number-changed-hands');
        const part = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.deepEqual([part.consents, part.history], [[], []]);
      });

      it("leaves the number's block out of every person's export and lets the retention sweep keep it", async () => {
        await ledger.numberChanged({ phone: ANNA, actor: 't' }); // nothing on record for orders
        const part = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.deepEqual(part.consents, [], 'a record she never had');
        now += 6 * 365 * DAY;
        await ledger.sweepRetention();
        assert.equal((await ledger.checkConsent(ANNA, 'orders')).reason, 'number-changed-hands');
      });

      it("erases nothing of a number that never moved when asked for the previous holder's part", async () => {
        await give(ANNA);
        const report = await ledger.eraseSubject(ANNA, 't', { beforeNumberChange: true });
        assert.deepEqual([report.found, report.removed], [false, {}]);
        assert.equal(await check(ANNA), 'given');
        assert.equal(await ledger.isSuppressed(ANNA), false);
      });

      it('her own objection follows her to her new number, and nothing else does', async () => {
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'admin', actor: 't' });
        await give(ANNA, 'newsletter');
        const moved = await ledger.numberChanged({ phone: ANNA, newPhone: '4917612345678', actor: 't' });
        assert.notEqual(moved, 'erased');
        assert.equal(await check(OTHER, 'orders'), 'withdrawn', 'her objection to the contract purpose');
        const record = await ledger.getConsent(OTHER, 'orders');
        assert.equal(record?.withdrawalChannel, 'whatsapp-number-change');
        assert.equal(await check(OTHER, 'newsletter'), 'none', 'the move ended her consent; it is not a STOP of hers');
        assert.equal(await check(OTHER, 'marketing'), 'none');
        const audit = (await ledger.exportSubject(OTHER, 't')).auditEvents.map((e) => e.action);
        assert.ok(audit.includes('subject.opt-outs-carried'));
        assert.ok(!audit.includes('subject.number-changed'), 'her new number did not change hands');
        // A START from her new number is hers: no move of that number refuses it.
        await ledger.giveConsent({
          subject: OTHER,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          inboundAt: now,
          actor: 't',
        });
        assert.equal(await check(OTHER), 'given');
      });

      it('her refusal and her erasure go with her too, over an older erasure of the new number’s previous holder', async () => {
        await ledger.refuseConsent({ subject: ANNA, purpose: 'orders', wording: WORDING, actor: 't' });
        await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' });
        assert.equal(await check(OTHER, 'orders'), 'withdrawn');

        await ledger.eraseSubject(THIRD, 't'); // Zoe, then THIRD changes hands
        now += DAY;
        await ledger.numberChanged({ phone: THIRD, actor: 't' });
        now += 40 * DAY;
        await ledger.eraseSubject(OTHER, 't'); // Anna asks to be erased, then moves to THIRD
        now += DAY;
        await ledger.numberChanged({ phone: OTHER, newPhone: THIRD, actor: 't' });
        now += DAY;
        await ledger.numberChanged({ phone: THIRD, newPhone: FOURTH, actor: 't' }); // and on again
        assert.equal(await check(FOURTH, 'orders'), 'erased', 'her erasure went along both moves');
      });

      it('leaves what her new number has given or requested as it is', async () => {
        await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', actor: 't' });
        await give(OTHER, 'orders'); // Webhooks in any order: she may have agreed there already.
        await ledger.requestConsent({
          subject: OTHER,
          purpose: 'marketing',
          wording: WORDING,
          method: 'web-form',
          actor: 't',
        });
        const before = await db.dump();
        await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' });
        assert.equal(await check(OTHER, 'orders'), 'given');
        assert.equal(await check(OTHER), 'pending');
        assert.notEqual(await db.dump(), before, 'the old number ended');
      });

      it('an erased person who moves stays on the erasure list at her new number', async () => {
        await give(ANNA);
        await ledger.eraseSubject(ANNA, 't');
        assert.equal(await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' }), 'erased');
        assert.equal(await check(OTHER), 'erased');
        assert.equal(await check(OTHER, 'orders'), 'erased');
        await give(OTHER); // A consent outranks the erasure list.
        assert.equal(await check(OTHER), 'given');
      });

      it("carries no opt-out of the number's previous holder, and a bad new number stops no move", async () => {
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'admin', actor: 't' });
        await ledger.numberChanged({ phone: ANNA, newPhone: THIRD, actor: 't' });
        now += 40 * DAY;
        await give(ANNA, 'marketing'); // Bob got the number; he never objected to orders.
        await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' });
        assert.equal(await check(THIRD, 'orders'), 'withdrawn', 'Anna’s objection went with Anna');
        assert.equal(await check(OTHER, 'orders'), 'none', 'not with Bob');

        await ledger.withdrawConsent({ subject: OTHER, purposes: ['orders'], channel: 'admin', actor: 't' });
        await give(OTHER);
        const ended = await ledger.numberChanged({ phone: OTHER, newPhone: '12', actor: 't' });
        assert.deepEqual(ended === 'erased' ? ended : ended.map((r) => r.purpose), ['marketing']);
        assert.equal(await check(OTHER), 'withdrawn');
      });

      it("the next holder's own STOP follows him too, although the previous holder's objection is on record", async () => {
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'admin', actor: 't' });
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += DAY;
        await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', actor: 't' }); // Bob's STOP
        assert.equal((await ledger.getConsent(ANNA, 'orders'))?.withdrawalChannel, 'whatsapp-keyword');
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' });
        assert.equal(await check(OTHER, 'orders'), 'withdrawn');
        const bob = await ledger.exportSubject(ANNA, 't', { beforeNumberChange: true });
        assert.deepEqual(
          bob.consents.filter((r) => r.purpose === 'orders').map((r) => r.withdrawalChannel),
          ['whatsapp-keyword'],
        );
        assert.ok(!bob.history.some((r) => r.withdrawalChannel === 'admin'), 'Anna’s objection is not in Bob’s part');
      });

      it("the STOP of an erased person's number's next holder counts, and follows him", async () => {
        await ledger.eraseSubject(ANNA, 't');
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += DAY;
        const bobsStop = await ledger.withdrawUnlessErased({ subject: ANNA, channel: 'whatsapp-keyword', actor: 't' });
        assert.notEqual(bobsStop, 'erased', 'the erasure was Anna’s');
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' });
        assert.equal(await check(OTHER, 'orders'), 'withdrawn');
        assert.equal(await ledger.isSuppressed(OTHER), false, 'Bob was never erased');
      });

      it('an erasure carried to a number where she had signed up again goes on with her', async () => {
        await give(OTHER); // her new number; webhooks in any order
        await ledger.eraseSubject(ANNA, 't');
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, newPhone: OTHER, actor: 't' });
        assert.equal(await check(OTHER), 'given', 'her consent there outranks the erasure list');
        assert.equal(await check(OTHER, 'orders'), 'erased');
        now += DAY;
        await ledger.numberChanged({ phone: OTHER, newPhone: THIRD, actor: 't' });
        assert.equal(await check(THIRD, 'orders'), 'erased');
      });

      it("keeps an objection: nothing is sent to the number on the old holder's account", async () => {
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'admin', actor: 't' });
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        assert.equal(await check(ANNA, 'orders'), 'withdrawn');
      });

      it('refuses a consent by a message sent before the move that arrives after it, and writes nothing', async () => {
        await give(ANNA);
        const sentAt = now - 5_000;
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        const before = await db.dump();
        const late = { subject: { phone: ANNA, userId: 'DE.111' }, purpose: 'marketing', wording: WORDING };
        await rejectsWith(
          ledger.giveConsent({ ...late, method: 'keyword', inboundAt: sentAt, actor: 't' }),
          'number-changed',
        );
        assert.equal(await db.dump(), before, 'no consent, no name, no link');
        // Within minutes of the move the clocks of Meta and this machine do not tell; months later they do.
        await rejectsWith(
          ledger.giveConsent({ ...late, method: 'keyword', inboundAt: now + 60_000, actor: 't' }),
          'number-changed',
        );
        now += 30 * DAY;
        await ledger.giveConsent({ ...late, method: 'keyword', inboundAt: now, actor: 't' });
        assert.equal(await check(ANNA), 'given', 'written long after the move: the number’s new holder');
      });

      it('an erased number that moves still turns away a START sent before the move', async () => {
        await ledger.eraseSubject(ANNA, 't');
        const sentAt = now - 5_000;
        assert.equal(await ledger.numberChanged({ phone: ANNA, actor: 't' }), 'erased');
        await rejectsWith(
          ledger.giveConsent({
            subject: ANNA,
            purpose: 'marketing',
            wording: WORDING,
            method: 'keyword',
            inboundAt: sentAt,
            actor: 't',
          }),
          'number-changed',
        );
        assert.equal(await check(ANNA), 'erased');
      });

      it('ends the consent of a person who was erased and signed up again', async () => {
        await ledger.eraseSubject(ANNA, 't');
        await give(ANNA);
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        assert.equal(await check(ANNA), 'withdrawn');
      });

      it('writes nothing about an erased number, and refuses a number that is none', async () => {
        await give(ANNA);
        await ledger.eraseSubject(ANNA, 't');
        assert.equal(await ledger.numberChanged({ phone: ANNA, actor: 't' }), 'erased');
        const before = await db.dump();
        await rejectsWith(ledger.numberChanged({ phone: '12', actor: 't' }), 'invalid-phone');
        assert.equal(await db.dump(), before);
      });

      for (const order of ['number first', 'user id first']) {
        it(`a move and a new user id (${order}) never hand the number's next holder to the person`, async () => {
          await give({ phone: ANNA, userId: 'DE.111', name: 'Anna' });
          const move = () => ledger.numberChanged({ phone: ANNA, actor: 't' });
          const newId = () => ledger.linkUserId({ previousUserId: 'DE.111', userId: 'DE.222', actor: 't' });
          if (order === 'number first') {
            await move();
            assert.equal(await newId(), 'unknown');
          } else {
            assert.equal(await newId(), 'linked');
            await move();
          }
          now += DAY;
          await give({ phone: ANNA, name: 'Bob' }); // Bob got the number.
          assert.equal(await check({ userId: 'DE.222' }), 'none', 'Anna is not sent marketing on Bob’s consent');
          await ledger.withdrawConsent({ subject: { userId: 'DE.222' }, channel: 'whatsapp-keyword', actor: 't' });
          assert.equal(await check(ANNA), 'given', 'Anna’s STOP does not withdraw Bob’s consent');
          const bob = await ledger.exportSubject(ANNA, 't');
          assert.equal(bob.subject?.userId, undefined);
          assert.equal(bob.subject?.name, 'Bob');
        });
      }

      it("keeps the number's block for a contract purpose while a request there is unconfirmed, and after it expired", async () => {
        await ledger.numberChanged({ phone: ANNA, actor: 't' }); // nothing on record for orders: the number is blocked
        const request = () => requestOrders(ANNA);
        const blocked = { allowed: false, status: 'expired', reason: 'number-changed-hands' };
        await request();
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), blocked, 'Anna’s orders must not reach Bob');
        now += 3 * DAY; // expired, before and after the sweep marks it so
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), blocked);
        await ledger.sweepRetention();
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), blocked);
        await request(); // a second request archives the first: the block still lies behind both
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), blocked);
        await ledger.confirmConsent({ subject: ANNA, confirmationText: 'JA', actor: 't' });
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), {
          allowed: true,
          status: 'given',
          reason: 'consent-given',
        });
      });

      it("keeps the number blocked behind a request when the previous holder's objection there is erased", async () => {
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'whatsapp-keyword', actor: 't' });
        now += DAY;
        await ledger.numberChanged({ phone: ANNA, actor: 't' }); // her objection is the number's block now
        now += DAY;
        await requestOrders(ANNA);
        assert.equal((await ledger.checkConsent(ANNA, 'orders')).allowed, false);
        const report = await ledger.eraseSubject(ANNA, 't', { beforeNumberChange: true });
        assert.equal(report.removed.consentHistory, 1, 'her objection, archived by the request');
        const blocked = { allowed: false, status: 'expired', reason: 'number-changed-hands' };
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), blocked, 'Anna’s orders must not reach Bob');
        now += 3 * DAY;
        await ledger.sweepRetention();
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), blocked);
        // The request stays confirmable, and its confirmation lifts the block.
        await requestOrders(ANNA);
        await ledger.confirmConsent({ subject: ANNA, confirmationText: 'JA', actor: 't' });
        assert.equal((await ledger.checkConsent(ANNA, 'orders')).allowed, true);
      });

      it('lets an unconfirmed request lift no objection to a contract purpose, and allows one where nothing forbade', async () => {
        await requestOrders(OTHER);
        assert.equal((await ledger.checkConsent(OTHER, 'orders')).allowed, true, 'the contract allows it meanwhile');
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'whatsapp-keyword', actor: 't' });
        await requestOrders(ANNA);
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), {
          allowed: false,
          status: 'withdrawn',
          reason: 'consent-withdrawn',
        });
        now += 3 * DAY;
        assert.equal((await ledger.checkConsent(ANNA, 'orders')).allowed, false);
      });

      it('keeps what blocks a contract purpose past every retention period, also behind an unconfirmed request', async () => {
        await give(ANNA, 'orders'); // her contract record ends with the move: it is the number's block now
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        await ledger.withdrawConsent({ subject: OTHER, purposes: ['orders'], channel: 'whatsapp-keyword', actor: 't' });
        await requestOrders(OTHER);
        await ledger.numberChanged({ phone: THIRD, actor: 't' }); // the block, and a request over it
        await requestOrders(THIRD);
        // A refusal, then a withdrawal, each with a request in front: only the latest still forbids.
        const orders = { subject: FOURTH, purpose: 'orders', wording: 'O', actor: 't' };
        await ledger.refuseConsent(orders);
        await ledger.requestConsent({ ...orders, method: 'keyword' });
        now += 3 * DAY;
        await ledger.withdrawConsent({
          subject: FOURTH,
          purposes: ['orders'],
          channel: 'whatsapp-keyword',
          actor: 't',
        });
        await ledger.requestConsent({ ...orders, method: 'keyword' });
        now += 3 * DAY;
        await ledger.sweepRetention(); // the requests expire
        now += 11 * 365 * DAY;
        await ledger.sweepRetention();
        now += 11 * 365 * DAY;
        await ledger.sweepRetention();
        for (const number of [ANNA, OTHER, THIRD, FOURTH]) {
          assert.equal((await ledger.checkConsent(number, 'orders')).allowed, false, number);
        }
        const fourth = await ledger.exportSubject(FOURTH, 't');
        assert.deepEqual(
          fourth.history.map((h) => h.status),
          ['withdrawn'],
          'the superseded refusal and the requests went after their periods',
        );
      });

      it('a consent confirmed just before the move but handled after it still ends', async () => {
        await ledger.requestConsent({
          subject: ANNA,
          purpose: 'marketing',
          wording: WORDING,
          method: 'web-form',
          actor: 't',
        });
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += 60_000; // Her YES, sent before the move, arrives late: there is nothing pending to confirm.
        await assert.rejects(ledger.confirmConsent({ subject: ANNA, confirmationText: 'JA', actor: 't' }));
        assert.equal(await check(ANNA), 'withdrawn');
      });
    });

    describe("staff naming one person's number and another's user id", () => {
      it('erases and exports nothing, and still answers a request whose number and user id belong together', async () => {
        await give({ phone: ANNA, userId: 'DE.7001' });
        await give({ phone: OTHER, userId: 'DE.7002' });
        const staff = { requireHolderChoice: true };
        await rejectsWith(ledger.eraseSubject({ phone: OTHER, userId: 'DE.7001' }, 't', staff), 'subject-mismatch');
        await rejectsWith(ledger.exportSubject({ phone: OTHER, userId: 'DE.7001' }, 't', staff), 'subject-mismatch');
        assert.equal(await check(ANNA), 'given');
        assert.equal(await check({ userId: 'DE.7001' }), 'given');
        assert.equal(await check(OTHER), 'given');
        // A user id the ledger has not seen, or one linked to this very number, is hers to name.
        const exported = await ledger.exportSubject({ phone: OTHER, userId: 'DE.7002' }, 't', staff);
        assert.equal(exported.consents.length, 1);
        await ledger.eraseSubject({ phone: OTHER, userId: 'DE.7999' }, 't', staff);
        assert.equal(await check(OTHER), 'erased');
        assert.equal(await check(ANNA), 'given');
      });
    });

    describe('refusals and opt-outs by number and user id', () => {
      it('a refusal answers to the user id alone too, also once no link leads the id to the number', async () => {
        await ledger.refuseConsent({
          subject: { phone: ANNA, userId: 'DE.111' },
          purpose: 'orders',
          wording: WORDING,
          actor: 't',
        });
        assert.equal((await ledger.checkConsent({ userId: 'DE.111' }, 'orders')).allowed, false);
        now += 31 * DAY;
        await ledger.sweepRetention();
        assert.equal((await ledger.checkConsent({ userId: 'DE.111' }, 'orders')).allowed, false);
        assert.equal(await check(ANNA, 'orders'), 'refused');
      });

      it('a refusal reaches the records of the number the user id was last seen with', async () => {
        await give({ phone: OTHER, userId: 'DE.111' }, 'orders');
        await ledger.refuseConsent({
          subject: { phone: ANNA, userId: 'DE.111' },
          purpose: 'orders',
          wording: WORDING,
          actor: 't',
        });
        assert.equal((await ledger.checkConsent({ userId: 'DE.111' }, 'orders')).allowed, false);
      });

      it('a STOP or refusal under the user id alone still counts once the id is linked to her number', async () => {
        await ledger.withdrawConsent({ subject: { userId: 'DE.111' }, channel: 'whatsapp-keyword', actor: 't' });
        await ledger.refuseConsent({ subject: { userId: 'DE.222' }, purpose: 'orders', wording: WORDING, actor: 't' });
        // Later, a request names her number with each id: checks by the id now read the number's records.
        for (const [phone, userId] of [
          [ANNA, 'DE.111'],
          [OTHER, 'DE.222'],
        ]) {
          await ledger.requestConsent({
            subject: { phone, userId },
            purpose: 'marketing',
            wording: WORDING,
            method: 'web-form',
            actor: 't',
          });
        }
        assert.equal((await ledger.checkConsent({ userId: 'DE.111' }, 'orders')).allowed, false);
        assert.equal(await check(ANNA, 'orders'), 'withdrawn', 'her STOP now answers for her number too');
        assert.equal(await check(ANNA), 'pending', 'the request she made after it stands');
        assert.equal((await ledger.checkConsent({ userId: 'DE.222' }, 'orders')).allowed, false);
        assert.equal(await check(OTHER, 'orders'), 'withdrawn');
      });

      it("Meta's marketing opt-out with nothing on record still follows the person to her next user id", async () => {
        await give({ userId: 'DE.222' }); // a consent kept under her earlier id
        await ledger.withdrawUnlessErased({
          subject: { phone: ANNA, userId: 'DE.333' },
          purposes: ['marketing'],
          channel: 'meta-marketing-optout',
          actor: 't',
        });
        // Meta then reports DE.333 as the new id of DE.222 (webhooks in any order).
        await ledger.linkUserId({ previousUserId: 'DE.222', userId: 'DE.333', actor: 't' });
        assert.equal((await ledger.checkConsent({ userId: 'DE.333' }, 'marketing')).allowed, false);
      });
    });

    describe('linkUserId', () => {
      it('keeps an opt-out by user id alone under the id, though it led to a number that moved since', async () => {
        await give({ userId: 'DE.8201' });
        await give({ phone: ANNA, userId: 'DE.8203' });
        await ledger.withdrawUnlessErased({
          subject: { userId: 'DE.8203' },
          purposes: ['marketing'],
          channel: 'meta-marketing-optout',
          actor: 't',
        });
        await ledger.numberChanged({ phone: ANNA, actor: 't' }); // the link from DE.8203 to ANNA goes
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.8201', userId: 'DE.8203', actor: 't' }), 'linked');
        assert.equal(await check({ userId: 'DE.8203' }), 'withdrawn', 'found by the property test');
      });

      it('lists where the new id of an erased id leads, when she wrote from a number with it already', async () => {
        await ledger.eraseSubject({ userId: 'DE.8101' }, 't');
        await ledger.recordNoticeShown({ phone: OTHER, userId: 'DE.8102' }, 'v1', { actor: 't' });
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.8101', userId: 'DE.8102', actor: 't' }), 'unknown');
        assert.equal(await check({ userId: 'DE.8102' }, 'orders'), 'erased');
      });

      it('keeps the new id of an erased id on the erasure list, though nothing else is kept', async () => {
        await ledger.withdrawUnlessErased({ subject: { userId: 'DE.8001' }, channel: 'whatsapp-keyword', actor: 't' });
        await ledger.eraseSubject({ userId: 'DE.8001' }, 't');
        const erasedAt = now;
        now += DAY;
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.8001', userId: 'DE.8002', actor: 't' }), 'unknown');
        assert.equal(await check({ userId: 'DE.8002' }, 'orders'), 'erased');
        // As of the erasure: a START she sent under the new id after it, delivered late, is a new sign-up.
        await ledger.giveConsent({
          subject: { userId: 'DE.8002' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          inboundAt: erasedAt + 1000,
          actor: 't',
        });
        assert.equal(await check({ userId: 'DE.8002' }), 'given');
      });

      it('finds what was kept under the previous id, by number or by id alone, so a STOP under the new id counts', async () => {
        await give({ phone: ANNA, userId: 'DE.1001' });
        await give({ userId: 'DE.2001' }, 'newsletter');
        assert.equal(await check({ userId: 'DE.1002' }), 'none');
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.1001', userId: 'DE.1002', actor: 't' }), 'linked');
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.1001', userId: 'DE.1002', actor: 't' }), 'linked');
        assert.equal(await check({ userId: 'DE.1002' }), 'given');
        await ledger.withdrawConsent({ subject: { userId: 'DE.1002' }, channel: 'whatsapp-keyword', actor: 't' });
        assert.equal(await check(ANNA), 'withdrawn');
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.2001', userId: 'DE.2002', actor: 't' }), 'linked');
        assert.equal(await check({ userId: 'DE.2002' }, 'newsletter'), 'given');
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.3001', userId: 'DE.3002', actor: 't' }), 'unknown');
        const audit = (await ledger.exportSubject(ANNA, 't')).auditEvents;
        assert.equal(audit.filter((e) => e.action === 'subject.user-id-changed').length, 1);
        await rejectsWith(ledger.linkUserId({ previousUserId: 'DE.1', userId: 'DE.1', actor: 't' }), 'invalid-input');
        await rejectsWith(
          ledger.linkUserId({ previousUserId: 'has space', userId: 'DE.1', actor: 't' }),
          'invalid-subject',
        );
      });

      it('leaves a new id with a consent or a refusal of its own apart, and the previous records where they are', async () => {
        await give({ userId: 'DE.4001' });
        await give({ userId: 'DE.4002' }, 'newsletter');
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.4001', userId: 'DE.4002', actor: 't' }), 'separate');
        assert.equal(await check({ userId: 'DE.4002' }, 'newsletter'), 'given');
        assert.equal(await check({ userId: 'DE.4002' }), 'none');
        assert.equal(await check({ userId: 'DE.4001' }), 'given');
        // A NO under the new id, handled before Meta's message: the previous consent must not answer for it.
        await ledger.requestConsent({
          subject: { userId: 'DE.4003' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'web-form',
          actor: 't',
        });
        await ledger.refuseConsent({ subject: { userId: 'DE.4003' }, purpose: 'marketing', actor: 't' });
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.4001', userId: 'DE.4003', actor: 't' }), 'separate');
        assert.equal(await check({ userId: 'DE.4003' }), 'refused');
      });

      it("takes no opt-out from a number the new id was seen with: they may be the number's previous holder's", async () => {
        await give({ userId: 'DE.8001' });
        // The previous holder of OTHER said STOP, then moved away; Carla got the number and signed up with her new id.
        await give({ phone: OTHER, userId: 'DE.9999' });
        await ledger.withdrawConsent({ subject: OTHER, channel: 'whatsapp-keyword', actor: 't' });
        await ledger.numberChanged({ phone: OTHER, actor: 't' });
        await give({ phone: OTHER, userId: 'DE.8002' }, 'newsletter');
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.8001', userId: 'DE.8002', actor: 't' }), 'separate');
        assert.equal(await check({ userId: 'DE.8001' }), 'given');
      });

      for (const purposes of [['marketing', 'newsletter'], undefined]) {
        const what = purposes ? 'with consents only' : 'with a contract purpose too';
        it(`a STOP under the new id that came before the id change still withdraws (${what})`, async () => {
          await give({ phone: ANNA, userId: 'DE.5001' });
          // Purposes named: nothing is on record under the new id; all of them: an objection to orders is.
          await ledger.withdrawConsent({
            subject: { userId: 'DE.5002' },
            ...(purposes ? { purposes } : {}),
            channel: 'whatsapp-keyword',
            actor: 't',
          });
          assert.equal(await ledger.linkUserId({ previousUserId: 'DE.5001', userId: 'DE.5002', actor: 't' }), 'linked');
          assert.equal(await check({ userId: 'DE.5002' }), 'withdrawn');
          assert.equal(await check(ANNA), 'withdrawn');
          assert.equal((await ledger.getConsent(ANNA, 'marketing'))?.withdrawalChannel, 'whatsapp-keyword');
        });
      }

      it("Meta's marketing opt-out under the new id carries to the marketing purposes only", async () => {
        await give({ userId: 'DE.6001' });
        await give({ userId: 'DE.6001' }, 'newsletter');
        await ledger.withdrawConsent({
          subject: { userId: 'DE.6002' },
          purposes: ['marketing'],
          channel: 'meta-marketing-optout',
          actor: 't',
        });
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.6001', userId: 'DE.6002', actor: 't' }), 'linked');
        assert.equal(await check({ userId: 'DE.6002' }), 'withdrawn');
        assert.equal(await check({ userId: 'DE.6002' }, 'newsletter'), 'given');
      });

      it('a STOP reaches a consent kept under the user id before the number was known, after the link is gone too', async () => {
        await give({ userId: 'DE.5101' }, 'newsletter');
        await give({ phone: ANNA, userId: 'DE.5101' }); // now she writes with her number: the id is linked to it
        const withdrawn = await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', actor: 't' });
        assert.deepEqual([...new Set(withdrawn.map((r) => r.purpose))].sort(), ['marketing', 'newsletter', 'orders']);
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        assert.equal(await check({ userId: 'DE.5101' }, 'newsletter'), 'withdrawn');
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.5101', userId: 'DE.5102', actor: 't' }), 'linked');
        assert.equal(await check({ userId: 'DE.5102' }, 'newsletter'), 'withdrawn');
      });

      it('a STOP with number and user id reaches what is kept under the id, linked to the number or not', async () => {
        await give({ userId: 'DE.5301' });
        await ledger.withdrawUnlessErased({
          subject: { phone: ANNA, userId: 'DE.5301' },
          channel: 'whatsapp-keyword',
          actor: 't',
        });
        assert.equal(await check({ userId: 'DE.5301' }), 'withdrawn');
        // Erased by number, signed up again by id alone: her STOP by both still withdraws.
        await ledger.eraseSubject(OTHER, 't');
        await give({ userId: 'DE.5302' });
        const outcome = await ledger.withdrawUnlessErased({
          subject: { phone: OTHER, userId: 'DE.5302' },
          channel: 'whatsapp-keyword',
          actor: 't',
        });
        assert.notEqual(outcome, 'erased');
        assert.equal(await check({ userId: 'DE.5302' }), 'withdrawn');
      });

      it('a STOP with a user id last seen with another number withdraws there too', async () => {
        await give({ phone: OTHER, userId: 'DE.5401' });
        await ledger.withdrawUnlessErased({
          subject: { phone: ANNA, userId: 'DE.5401' },
          channel: 'whatsapp-keyword',
          actor: 't',
        });
        assert.equal(await check({ userId: 'DE.5401' }), 'withdrawn');
        assert.equal(await check(OTHER), 'withdrawn');
      });

      it("an erased person's STOP with a user id puts the id on the erasure list, writing nothing else", async () => {
        await ledger.eraseSubject(ANNA, 't');
        const subject = { phone: ANNA, userId: 'DE.5501' };
        assert.equal(await ledger.withdrawUnlessErased({ subject, channel: 'whatsapp-keyword', actor: 't' }), 'erased');
        assert.deepEqual(await ledger.checkConsent({ userId: 'DE.5501' }, 'orders'), {
          allowed: false,
          status: 'erased',
          reason: 'subject-erased',
        });
        assert.equal((await db.all('SELECT * FROM consents')).length, 0);
      });

      it('a STOP under an erased id that Meta later names as a new id of a signed-up person carries over', async () => {
        await ledger.eraseSubject({ phone: ANNA, userId: 'DE.5602' }, 't');
        await give({ phone: ANNA, userId: 'DE.5601' }); // she signed up again
        assert.equal(
          await ledger.withdrawUnlessErased({
            subject: { userId: 'DE.5602' },
            channel: 'whatsapp-keyword',
            actor: 't',
          }),
          'erased',
        );
        await ledger.linkUserId({ previousUserId: 'DE.5601', userId: 'DE.5602', actor: 't' });
        assert.equal(await check({ userId: 'DE.5602' }), 'withdrawn');
        assert.equal(await check(ANNA), 'withdrawn');
      });

      // The three below were found by the property test (test/lib/consent/identity-property.test.ts), shrunk.
      it('a STOP from an erased number with an id linked elsewhere keeps answering to the id after that link goes', async () => {
        await give({ phone: OTHER, userId: 'DE.5702' });
        await ledger.eraseSubject({ phone: ANNA, userId: 'DE.5701' }, 't');
        await ledger.withdrawUnlessErased({
          subject: { phone: ANNA, userId: 'DE.5702' },
          channel: 'whatsapp-keyword',
          actor: 't',
        });
        await ledger.numberChanged({ phone: OTHER, actor: 't' });
        assert.equal((await ledger.checkConsent({ userId: 'DE.5702' }, 'orders')).allowed, false);
      });

      it('a new id that was erased carries its opt-out to the previous records', async () => {
        await give({ userId: 'DE.5803' });
        await ledger.withdrawUnlessErased({
          subject: { phone: ANNA, userId: 'DE.5802' },
          channel: 'whatsapp-keyword',
          actor: 't',
        });
        await ledger.eraseSubject({ phone: ANNA, userId: 'DE.5802' }, 't');
        await ledger.linkUserId({ previousUserId: 'DE.5803', userId: 'DE.5802', actor: 't' });
        assert.equal(await check({ userId: 'DE.5802' }), 'withdrawn');
      });

      it('a move of an erased number unlinks its ids, so a later consent by id stays with the id', async () => {
        await ledger.eraseSubject({ phone: ANNA, userId: 'DE.5902' }, 't');
        await give({ phone: ANNA, userId: 'DE.5901' });
        await ledger.linkUserId({ previousUserId: 'DE.5901', userId: 'DE.5902', actor: 't' });
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        await give({ userId: 'DE.5901' });
        assert.equal(await check(ANNA), 'withdrawn', 'the number left behind gets nothing');
        assert.equal(await check({ userId: 'DE.5901' }), 'given');
      });

      it('an objection by number and user id still answers to the id after the retention sweep', async () => {
        await give({ phone: ANNA, userId: 'DE.5201' });
        await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', actor: 't' });
        now += 31 * DAY;
        assert.equal((await ledger.sweepRetention()).personalDataRemoved, 1);
        assert.equal((await ledger.checkConsent({ userId: 'DE.5201' }, 'orders')).allowed, false);
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.5201', userId: 'DE.5202', actor: 't' }), 'linked');
        assert.equal((await ledger.checkConsent({ userId: 'DE.5202' }, 'orders')).allowed, false);
      });

      it('an objection outlives the retention sweep of the record and still counts under the new id', async () => {
        await ledger.withdrawConsent({ subject: { userId: 'DE.7001' }, channel: 'whatsapp-keyword', actor: 't' });
        now += 31 * DAY;
        await ledger.sweepRetention();
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.7001', userId: 'DE.7002', actor: 't' }), 'linked');
        assert.equal((await ledger.checkConsent({ userId: 'DE.7002' }, 'orders')).allowed, false);
      });
    });
  });
}
