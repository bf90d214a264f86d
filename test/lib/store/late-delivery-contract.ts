import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { SubjectInput } from '../../../lib/consent/types';
import { type BackendHarness, type HarnessFactory, rejectsWith, TEST_PURPOSES } from './harness';

/** A number's check for a contract purpose after it passed to someone else: no objection, blocked for the next holder. */
const MOVED_AWAY = { allowed: false, status: 'expired', reason: 'number-changed-hands' };
const ANNA = '+4915123456789';
const BEN = '+4917612345678';
const WORDING = TEST_PURPOSES[0].wording.en;
const SECOND = 1000;
const MINUTE = 60 * SECOND;

/**
 * Meta delivers webhooks late and in any order (a failed delivery is retried for days). A START or a "YES" the
 * person sent before her STOP, her refusal or her erasure, and Meta delivers after it, must not sign her up: her
 * later wish counts. Checked against each storage backend.
 */
export function registerLateDeliveryContract(name: string, factory: HarnessFactory): void {
  describe(`consent ledger: messages delivered late, ${name}`, function () {
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

    /** A START Meta says was sent at `sentAt`. */
    const start = (subject: SubjectInput, sentAt: number, purpose = 'marketing') =>
      ledger.giveConsent({ subject, purpose, wording: WORDING, method: 'keyword', inboundAt: sentAt, actor: 't' });

    const stop = (subject: SubjectInput, sentAt?: number, purposes?: string[]) =>
      ledger.withdrawUnlessErased({
        subject,
        purposes,
        channel: 'whatsapp-keyword',
        keyword: 'STOP',
        sentAt,
        actor: 't',
      });

    /** Her own request (she wrote to us): a form may not ask for her this month after an opt-out. */
    const request = (subject: SubjectInput, purpose = 'marketing') =>
      ledger.requestConsent({ subject, purpose, wording: WORDING, method: 'keyword', actor: 't' });

    const confirm = (subject: SubjectInput, sentAt: number) =>
      ledger.confirmConsent({ subject, confirmationText: 'JA', sentAt, actor: 't' });

    const check = async (subject: SubjectInput, purpose = 'marketing') =>
      (await ledger.checkConsent(subject, purpose)).status;

    describe('a START', () => {
      it('sent before a STOP and delivered after it signs up nobody and writes nothing', async () => {
        const startSent = now - 20 * SECOND;
        await stop(ANNA, now - 10 * SECOND);
        now += MINUTE;
        const before = await db.dump();
        await rejectsWith(start(ANNA, startSent), 'superseded');
        assert.equal(await db.dump(), before);
        assert.equal(await check(ANNA), 'none');
        assert.equal(await check(ANNA, 'orders'), 'withdrawn', 'her objection stands');
      });

      it('sent in the same second as the STOP counts as before it: Meta does not tell the order', async () => {
        await stop(ANNA, now);
        await rejectsWith(start(ANNA, now), 'superseded');
      });

      it('sent after the STOP signs her up again, also when Meta delivers it before the STOP is recorded', async () => {
        const stopSent = now - 30 * SECOND;
        await stop(ANNA, stopSent);
        // Meta's clock may be behind this machine's: only the times Meta gives are compared.
        await start(ANNA, stopSent + SECOND);
        assert.equal(await check(ANNA), 'given');
      });

      it('sent before a STOP whose time Meta did not give compares with when the STOP was recorded', async () => {
        await stop(ANNA);
        await rejectsWith(start(ANNA, now - SECOND), 'superseded');
        now += MINUTE;
        await start(ANNA, now - SECOND);
        assert.equal(await check(ANNA), 'given');
      });

      it('sent before a STOP that withdrew a consent is refused as well', async () => {
        await start(ANNA, now - MINUTE);
        const lateStart = now - 10 * SECOND;
        now += MINUTE;
        await stop(ANNA, now - 5 * SECOND);
        await rejectsWith(start(ANNA, lateStart), 'superseded');
        assert.equal(await check(ANNA), 'withdrawn');
      });

      it('is refused by a STOP among many blocked sends and notices of the same person', async () => {
        const startSent = now - 20 * SECOND;
        await ledger.refuseConsent({
          subject: ANNA,
          purpose: 'newsletter',
          wording: TEST_PURPOSES[1].wording.en,
          actor: 't',
        });
        await stop(ANNA, now - 10 * SECOND, ['marketing']);
        for (let i = 0; i < 25; i++) {
          now += MINUTE;
          await ledger.recordBlocked(ANNA, 'marketing', 'withdrawn', 'gate');
          await ledger.recordNoticeShown(ANNA, `v${i}`, { actor: 't' });
        }
        await rejectsWith(start(ANNA, startSent), 'superseded');
        await rejectsWith(
          ledger.giveConsent({
            subject: ANNA,
            purpose: 'newsletter',
            wording: TEST_PURPOSES[1].wording.en,
            method: 'keyword',
            inboundAt: startSent,
            actor: 't',
          }),
          'superseded',
        );
        await start(ANNA, now);
        assert.equal(await check(ANNA), 'given', 'a START sent after them all signs up');
      });

      it('of a purpose the STOP did not cover signs up as before', async () => {
        await stop(ANNA, now, ['newsletter']);
        await start(ANNA, now - SECOND);
        assert.equal(await check(ANNA), 'given');
      });

      it("sent before Meta's marketing opt-out is refused for marketing purposes only", async () => {
        await ledger.withdrawUnlessErased({
          subject: ANNA,
          purposes: ['marketing'],
          channel: 'meta-marketing-optout',
          sentAt: now,
          actor: 't',
        });
        await rejectsWith(start(ANNA, now - SECOND), 'superseded');
        await start(ANNA, now - SECOND, 'newsletter');
        assert.equal(await check(ANNA, 'newsletter'), 'given');
      });

      it('sent before a refusal of its purpose is refused; of another purpose it is not', async () => {
        await ledger.refuseConsent({ subject: ANNA, purpose: 'marketing', wording: WORDING, actor: 't' });
        await rejectsWith(start(ANNA, now - SECOND), 'superseded');
        await start(ANNA, now - SECOND, 'newsletter');
        assert.equal(await check(ANNA, 'newsletter'), 'given');
      });

      it('sent before an erasure brings no personal data back', async () => {
        await start(ANNA, now - MINUTE);
        const lateStart = now - 10 * SECOND;
        await ledger.eraseSubject(ANNA, 't');
        now += MINUTE;
        const before = await db.dump();
        await rejectsWith(start(ANNA, lateStart), 'superseded');
        assert.equal(await db.dump(), before);
        assert.equal(await check(ANNA), 'erased');
        await start(ANNA, now);
        assert.equal(await check(ANNA), 'given', 'a START sent after the erasure is a new sign-up');
      });

      it('by number and user id meets a STOP written with the number withheld', async () => {
        await stop({ userId: 'DE.2001' }, now);
        await rejectsWith(start({ phone: ANNA, userId: 'DE.2001' }, now - SECOND), 'superseded');
        assert.equal(await check({ userId: 'DE.2001' }), 'none');
        assert.equal(await check(ANNA), 'none');
      });

      it('sent after her erasure and before her STOP, delivered after the STOP, signs up nobody', async () => {
        await ledger.eraseSubject(ANNA, 't');
        now += MINUTE;
        const startSent = now - 20 * SECOND; // a new sign-up after the erasure, delivered late
        assert.equal(await stop(ANNA, now - 10 * SECOND), 'erased');
        await rejectsWith(start(ANNA, startSent), 'superseded');
        assert.equal(await check(ANNA), 'erased');
        // Her STOP stored nothing about her: only that an opt-out came, pseudonymously.
        const exported = await ledger.exportSubject(ANNA, 't');
        assert.equal(exported.subject, undefined);
        assert.deepEqual(exported.consents, []);
      });

      it('by user id alone meets a STOP under her new id that Meta linked to it since', async () => {
        await request({ userId: 'DE.3001' }, 'newsletter'); // something is kept under her first id
        const startSent = now - 30 * SECOND;
        await stop({ userId: 'DE.3002' }, now - 10 * SECOND); // before Meta's message about the new id
        assert.equal(await ledger.linkUserId({ previousUserId: 'DE.3001', userId: 'DE.3002', actor: 't' }), 'linked');
        await rejectsWith(start({ userId: 'DE.3001' }, startSent), 'superseded');
      });

      it('by number alone meets a STOP written earlier by her user id with the number withheld', async () => {
        const startSent = now - 30 * SECOND;
        await stop({ userId: 'DE.4001' }, now - 10 * SECOND);
        // A later request names both: the id is linked to the number and its opt-out comes along.
        await request({ phone: ANNA, userId: 'DE.4001' }, 'newsletter');
        await rejectsWith(start(ANNA, startSent), 'superseded');
      });

      it("sent after an erased person's STOP signs her up, however late both arrive", async () => {
        await ledger.eraseSubject(ANNA, 't');
        now += 3 * 60 * MINUTE;
        const stopSent = now - 2 * 60 * MINUTE;
        assert.equal(await stop({ phone: ANNA, userId: 'DE.6001' }, stopSent), 'erased');
        // Her id joined the erasure list as of her STOP, not of when it arrived.
        await start({ userId: 'DE.6001' }, stopSent + SECOND);
        assert.equal(await check({ userId: 'DE.6001' }), 'given');
      });

      it("sent after an erased person's STOP that blocked an ended request signs her up", async () => {
        await ledger.eraseSubject(ANNA, 't');
        await request(ANNA, 'orders');
        now += 3 * 24 * 60 * MINUTE;
        await ledger.sweepRetention(); // her request expired
        const stopSent = now - 2 * 60 * MINUTE;
        assert.equal(await stop(ANNA, stopSent), 'erased');
        await start(ANNA, stopSent + MINUTE, 'orders');
        assert.equal(await check(ANNA, 'orders'), 'given');
      });

      it("is not refused for another person's STOP", async () => {
        await stop(BEN, now);
        await start(ANNA, now - SECOND);
        assert.equal(await check(ANNA), 'given');
      });

      it('with a time that is not Unix milliseconds is refused as invalid input and writes nothing', async () => {
        const before = await db.dump();
        for (const bad of [-1, 1.5, Number.NaN, '1700000000000']) {
          await rejectsWith(
            ledger.giveConsent({
              subject: ANNA,
              purpose: 'marketing',
              wording: WORDING,
              method: 'keyword',
              inboundAt: bad as number,
              actor: 't',
            }),
            'invalid-input',
          );
          await rejectsWith(stop(ANNA, bad as number), 'invalid-input');
          await rejectsWith(confirm(ANNA, bad as number), 'invalid-input');
        }
        assert.equal(await db.dump(), before);
      });
    });

    describe('a confirmation', () => {
      it('sent before the request it would confirm is refused as stale and confirms nothing', async () => {
        const oldYes = now - 5 * MINUTE;
        await request(ANNA);
        const before = await db.dump();
        await rejectsWith(confirm(ANNA, oldYes), 'stale-reply');
        assert.equal(await db.dump(), before);
        assert.equal(await check(ANNA), 'pending');
        await confirm(ANNA, now + 10 * SECOND);
        assert.equal(await check(ANNA), 'given');
      });

      it('sent seconds before the request by Meta’s clock still confirms: the clocks differ', async () => {
        await request(ANNA);
        await confirm(ANNA, now - 20 * SECOND);
        assert.equal(await check(ANNA), 'given');
      });

      it('sent before a STOP confirms no request made after the STOP', async () => {
        await request(ANNA);
        const yesSent = now + 5 * SECOND;
        now += 10 * SECOND;
        await stop(ANNA, now);
        now += 5 * SECOND;
        await request(ANNA); // the business asks again at once
        await rejectsWith(confirm(ANNA, yesSent), 'stale-reply');
        assert.equal(await check(ANNA), 'pending');
      });

      it('without a purpose answers the request sent last before it, not one made after it went', async () => {
        await request(ANNA, 'newsletter');
        const yesSent = now + 10 * SECOND;
        // Delivered late (Meta retried it): meanwhile the business asked for another purpose.
        now += 70 * SECOND;
        await request(ANNA, 'marketing');
        now += 10 * SECOND;
        await confirm(ANNA, yesSent);
        assert.equal(await check(ANNA, 'newsletter'), 'given');
        assert.equal(await check(ANNA, 'marketing'), 'pending');
      });

      it('sent after the request confirms it, whatever the opt-outs before the request', async () => {
        await stop(ANNA, now);
        now += MINUTE;
        await request(ANNA);
        now += MINUTE;
        await confirm(ANNA, now);
        assert.equal(await check(ANNA), 'given');
      });
    });

    describe('a STOP sent before the number moved', () => {
      const THIRD = '+4916098765432';
      const HOUR = 60 * MINUTE;
      const contract = (subject: SubjectInput) =>
        ledger.giveConsent({ subject, purpose: 'orders', wording: 'O', method: 'web-form', actor: 't' });

      it("follows her to her new number, and the number's next holder keeps nothing of it", async () => {
        await contract(ANNA);
        const stopSent = now - HOUR; // Meta retried it for an hour
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        now += MINUTE;
        const before = await ledger.exportSubject(ANNA, 't');
        await stop(ANNA, stopSent);
        assert.equal(await check(BEN, 'orders'), 'withdrawn', 'her objection is at her new number');
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), MOVED_AWAY, 'the next holder objected to nothing');
        const after = await ledger.exportSubject(ANNA, 't');
        assert.deepEqual(after.consents, before.consents);
        assert.ok(!after.auditEvents.some((e) => e.action === 'consent.withdrawn' && e.at > after.numberChangedAt!));
        const atBen = await ledger.exportSubject(BEN, 't');
        assert.ok(atBen.consents.some((c) => c.purpose === 'orders' && c.status === 'withdrawn'));
      });

      it('sent minutes after the move is hers still: a provider does not hand a number on that soon', async () => {
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        await stop(ANNA, now + 2 * MINUTE); // Meta's clock a little ahead, or a message sent as she moved
        assert.equal(await check(BEN, 'orders'), 'withdrawn');
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), MOVED_AWAY);
      });

      it('is told apart from a message the next holder sends, so that nobody answers the number for her', async () => {
        const stopSent = now - HOUR;
        assert.equal(await ledger.sentBeforeNumberChange(ANNA, stopSent), false, 'the number did not move');
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        assert.equal(await ledger.sentBeforeNumberChange(ANNA, stopSent), true);
        assert.equal(await ledger.sentBeforeNumberChange(BEN, stopSent), false, 'her new number did not move');
        assert.equal(await ledger.sentBeforeNumberChange({ userId: 'DE.1234' }, stopSent), false);
        now += 30 * 24 * HOUR;
        assert.equal(await ledger.sentBeforeNumberChange(ANNA, now), false, "the next holder's message, a month on");
      });

      it('follows her over two moves to where she is now, and leaves the number she passed through', async () => {
        const stopSent = now - HOUR;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        now += MINUTE;
        await ledger.numberChanged({ phone: BEN, newPhone: THIRD, actor: 't' });
        now += MINUTE;
        await stop(ANNA, stopSent);
        assert.equal(await check(THIRD, 'orders'), 'withdrawn');
        assert.deepEqual(await ledger.checkConsent(BEN, 'orders'), MOVED_AWAY, "BEN's next holder objected to nothing");
      });

      it('stays at her old number when she has moved back to it', async () => {
        const stopSent = now - HOUR;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        now += MINUTE;
        await ledger.numberChanged({ phone: BEN, newPhone: ANNA, actor: 't' });
        now += MINUTE;
        await stop(ANNA, stopSent);
        assert.equal(await check(ANNA, 'orders'), 'withdrawn');
        assert.deepEqual(await ledger.checkConsent(BEN, 'orders'), MOVED_AWAY);
        assert.equal(await ledger.sentBeforeNumberChange(ANNA, stopSent), false, 'she holds it again: answer her');
      });

      it("does not follow the move of her new number's previous holder", async () => {
        const stopSent = now - HOUR;
        await ledger.numberChanged({ phone: BEN, newPhone: THIRD, actor: 't' }); // Carl leaves BEN
        now += MINUTE;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' }); // and Anna gets it
        now += MINUTE;
        await stop(ANNA, stopSent);
        assert.equal(await check(BEN, 'orders'), 'withdrawn');
        assert.equal((await ledger.checkConsent(THIRD, 'orders')).allowed, true, "Carl's new number is his");
      });

      it('ends what she gave at her new number as a STOP there would: when she gave it is not known', async () => {
        const stopSent = now - HOUR;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        await start(BEN, now);
        now += MINUTE;
        await stop(ANNA, stopSent);
        assert.equal(await check(BEN), 'withdrawn');
      });

      it("by user id alone is the id's own person's, whichever number the id leads to", async () => {
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        // The number's next holder signs up with his user id at once.
        await ledger.giveConsent({
          subject: { phone: ANNA, userId: 'DE.6101' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await stop({ userId: 'DE.6101' }, now);
        assert.equal(await check(ANNA), 'withdrawn', 'his STOP ends his consent');
        assert.equal(await check(BEN, 'orders'), 'none', 'and is not the mover’s');
      });

      it('with her user id, seen with the old number since she left it, also ends what it leads to there', async () => {
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        // A late START of hers from the old number, with her id, signed up there (found by the property test).
        await ledger.giveConsent({
          subject: { phone: ANNA, userId: 'DE.6201' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await stop({ phone: ANNA, userId: 'DE.6201' }, now);
        assert.equal(await check({ userId: 'DE.6201' }), 'withdrawn');
        assert.equal(await check(BEN, 'orders'), 'withdrawn');
      });

      it('keeps her new number on the erasure list without storing anything about her there', async () => {
        await ledger.eraseSubject(BEN, 't');
        const stopSent = now - HOUR;
        now += MINUTE;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        const before = await db.dump();
        assert.equal(await stop(ANNA, stopSent), 'erased', 'she is told nothing was kept');
        const withoutAudit = (dump: string) => dump.replace(/^audit(_anchor)?:.*$/gm, '');
        assert.equal(withoutAudit(await db.dump()), withoutAudit(before));
        assert.equal(await check(BEN, 'orders'), 'erased');
      });

      it('leaves the old number to its next holder when Meta named no new one, but still stops her late START', async () => {
        const startSent = now - 2 * HOUR;
        const stopSent = now - HOUR;
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += MINUTE;
        await stop({ phone: ANNA, userId: 'DE.6301' }, stopSent);
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), MOVED_AWAY, 'the next holder objected to nothing');
        assert.equal(await check({ userId: 'DE.6301' }, 'orders'), 'withdrawn', 'her own id keeps it');
        await rejectsWith(start({ phone: ANNA, userId: 'DE.6301' }, startSent), 'number-changed');
        // The entry that her opt-out came is hers: in the previous holder's part of an export, not the next holder's.
        const outcomes = async (beforeNumberChange: boolean) =>
          (await ledger.exportSubject(ANNA, 't', { beforeNumberChange })).auditEvents.map((e) => e.outcome);
        assert.ok(!(await outcomes(false)).includes('moved-away'), 'not in the present holder’s export');
        assert.ok((await outcomes(true)).includes('moved-away'), 'in the previous holder’s part');
      });

      it('from the old number reaches her new user id when Meta named no new number', async () => {
        const stopSent = now - HOUR;
        await ledger.numberChanged({ phone: ANNA, previousUserId: 'DE.6501', newUserId: 'DE.6502', actor: 't' });
        now += MINUTE;
        await stop({ phone: ANNA, userId: 'DE.6501' }, stopSent);
        assert.equal(await check({ userId: 'DE.6502' }, 'orders'), 'withdrawn');
        await stop(ANNA, stopSent); // the same STOP without her id: Meta's number message named where she went
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), MOVED_AWAY);
      });

      it('with her id seen at the old number since ends only what the id leads to, not the next holder', async () => {
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        // A late message of hers, with her id, links the id to the old number again.
        await ledger.recordNoticeShown({ phone: ANNA, userId: 'DE.6601' }, 'v1', { actor: 't' });
        await stop({ phone: ANNA, userId: 'DE.6601' }, now - HOUR);
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), MOVED_AWAY, 'no objection of hers at the number');
      });

      it('by her old user id finds the number her new id wrote from since', async () => {
        const stopSent = now - HOUR;
        await ledger.numberChanged({ phone: ANNA, previousUserId: 'DE.6401', newUserId: 'DE.6402', actor: 't' });
        now += MINUTE;
        await start({ phone: BEN, userId: 'DE.6402' }, now); // she writes from her new number with her new id
        now += MINUTE;
        await stop({ userId: 'DE.6401' }, stopSent);
        assert.equal(await check(BEN, 'orders'), 'withdrawn');
        assert.equal(await check({ userId: 'DE.6402' }, 'orders'), 'withdrawn');
      });

      it('stores nothing about a person erased before she moved, even where Meta named no new number', async () => {
        await contract(ANNA);
        await ledger.eraseSubject(ANNA, 't');
        const stopSent = now - HOUR;
        now += MINUTE;
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        const before = await db.dump();
        assert.equal(await stop(ANNA, stopSent), 'erased');
        const withoutAudit = (dump: string) => dump.replace(/^audit(_anchor)?:.*$/gm, '');
        assert.equal(withoutAudit(await db.dump()), withoutAudit(before));
      });

      it('with the id of whoever signed up at the number since, ends that sign-up, though its holder before was erased', async () => {
        // Found by the identity property test: the STOP was taken for the erased holder's, and the consent stood.
        await ledger.eraseSubject(ANNA, 't');
        now += SECOND;
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += SECOND;
        const signUp = { phone: ANNA, userId: 'DE.6701' };
        await ledger.giveConsent({
          subject: signUp,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        assert.equal(await check({ userId: 'DE.6701' }), 'given');
        now += SECOND;
        const changed = await stop(signUp, now);
        assert.ok(Array.isArray(changed) && changed.some((r) => r.purpose === 'marketing'), `STOP answered ${changed}`);
        assert.equal(await check({ userId: 'DE.6701' }), 'withdrawn');
        assert.equal(await check(signUp), 'withdrawn');
        // Her id is hers, not the erased holder's: it goes on no erasure list, and she may sign up again.
        await ledger.giveConsent({
          subject: signUp,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        assert.equal(await check({ userId: 'DE.6701' }), 'given');
      });

      it('from the number alone ends what was given there since the move, whoever of the two wrote it', async () => {
        await ledger.numberChanged({ phone: ANNA, actor: 't' });
        now += SECOND;
        // A sign-up at the number minutes after the move: a late START of hers, or its next holder's.
        await ledger.giveConsent({
          subject: ANNA,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        now += SECOND;
        const changed = await stop(ANNA, now); // by Meta's clock maybe before the move: whose is not known
        assert.ok(Array.isArray(changed) && changed.some((r) => r.purpose === 'marketing'), `STOP answered ${changed}`);
        assert.equal(await check(ANNA), 'withdrawn');
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), MOVED_AWAY, 'and the number gets no objection');
      });

      it('with her user id, linked to her new number since, reaches that number once', async () => {
        const stopSent = now - HOUR;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        now += MINUTE;
        await start({ phone: BEN, userId: 'DE.5001' }, now);
        now += MINUTE;
        const changed = await stop({ phone: ANNA, userId: 'DE.5001' }, stopSent);
        assert.ok(Array.isArray(changed));
        const atBen = changed.filter((r) => r.purpose === 'marketing');
        assert.equal(atBen.length, 1, 'one withdrawal of her consent, not one per route to it');
        assert.equal(await check({ userId: 'DE.5001' }), 'withdrawn');
        assert.deepEqual(await ledger.checkConsent(ANNA, 'orders'), MOVED_AWAY, 'the old number is not hers');
      });
    });

    it('keeps when the person sent her opt-out in its audit entry', async () => {
      const sentAt = now - 7 * SECOND;
      await stop(ANNA, sentAt);
      const rows = await db.all("SELECT detail FROM audit WHERE action = 'consent.withdrawn'");
      assert.ok(rows.length > 0);
      for (const row of rows) {
        const detail = JSON.parse(String(row.detail));
        assert.equal(detail.sentAt, sentAt);
        assert.deepEqual(detail.scope, ['marketing', 'newsletter', 'orders']);
      }
    });
  });
}
