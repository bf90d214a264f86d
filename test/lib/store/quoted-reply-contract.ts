import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import {
  type BackendHarness,
  backToVersion13,
  backToVersion14,
  type HarnessFactory,
  rejectsWith,
  TEST_PURPOSES,
} from './harness';

const ANNA = '+4915123456789';
const WORDING: Record<string, string> = {
  marketing: TEST_PURPOSES[0].wording.en,
  newsletter: TEST_PURPOSES[1].wording.en,
};
/** What Meta answers for the request messages, and for a question of the business she may answer YES to. */
const NEWSLETTER_REQUEST = 'wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYEk5FV1NMRVRURVJSRVFVRVNUAA==';
const MARKETING_REQUEST = 'wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYEk1BUktFVElOR1JFUVVFU1QA';
const CALL_BACK_QUESTION = 'wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYEkNBTExCQUNLUVVFU1RJT04A';

/**
 * A YES written as a quoted reply answers the message it quotes (Art. 4(11) GDPR: consent is unambiguous):
 * whatsapp-send records which message carried each request, and confirmConsent goes by it. Checked against each
 * storage backend.
 */
export function registerQuotedReplyContract(name: string, factory: HarnessFactory): void {
  describe(`consent ledger: quoted replies to requests, ${name}`, function () {
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

    /** A request as opt-in-flow stores it: before it is sent, so without a message id. */
    const request = async (purpose: string) => {
      const record = await ledger.requestConsent({
        subject: ANNA,
        purpose,
        wording: WORDING[purpose],
        method: 'web-form',
        actor: 'opt-in-flow',
      });
      return record.requestedAt as number;
    };

    /** A request that whatsapp-send sent as message `messageId`. */
    const requestSentAs = async (purpose: string, messageId: string) => {
      const requestedAt = await request(purpose);
      assert.equal(await ledger.requestSent(ANNA, purpose, messageId, { requestedAt, actor: 'whatsapp-send' }), true);
    };

    const confirm = (inReplyTo?: string, purpose?: string) =>
      ledger.confirmConsent({ subject: ANNA, purpose, confirmationText: 'JA', inReplyTo, actor: 'opt-in-flow' });

    const status = async (purpose: string) => (await ledger.getConsent(ANNA, purpose))?.status;

    describe('the message that carried a request', () => {
      it('is kept with the request, encrypted, never readable in the database', async () => {
        await requestSentAs('marketing', MARKETING_REQUEST);
        assert.equal((await ledger.getConsent(ANNA, 'marketing'))?.requestMessageId, MARKETING_REQUEST);
        const everything = await db.dump();
        // A message id encodes the sender's number (here, hers).
        for (const secret of [MARKETING_REQUEST, 'HBgNNDkxNTEyMzQ1Njc4', '4915123456789']) {
          assert.ok(!everything.includes(secret), `${secret} stored in plain text`);
        }
        const [row] = await db.all('SELECT request_message_id_enc FROM consents');
        assert.match(String(row.request_message_id_enc), /^v1\.k1\./);
      });

      it('names only the request it carried: not one made since, not one named already, not one that ended', async () => {
        const sent = (messageId: string, requestedAt: number) =>
          ledger.requestSent(ANNA, 'marketing', messageId, { requestedAt, actor: 'whatsapp-send' });
        const first = await request('marketing');
        await ledger.requestNotDelivered(ANNA, 'marketing', { actor: 'whatsapp-send' });
        now += 1000;
        const second = await request('marketing');
        const before = await db.dump();
        // The first request's message, reported after she had asked again: it did not carry the second.
        assert.equal(await sent(NEWSLETTER_REQUEST, first), false);
        assert.equal(await db.dump(), before, 'nothing written');
        assert.equal(await sent(MARKETING_REQUEST, second), true);
        assert.equal(await sent(CALL_BACK_QUESTION, second), false, 'named already');
        await confirm(MARKETING_REQUEST);
        assert.equal(await sent(CALL_BACK_QUESTION, second), false, 'confirmed');
        assert.equal(
          (await ledger.getConsent(ANNA, 'marketing'))?.requestMessageId,
          MARKETING_REQUEST,
          'kept as proof',
        );
        await rejectsWith(sent('', second), 'invalid-input');
        await rejectsWith(sent(MARKETING_REQUEST, undefined as never), 'invalid-input');
      });
    });

    describe('a confirmation written as a quoted reply', () => {
      it('quoting another message confirms nothing and changes nothing', async () => {
        await requestSentAs('marketing', MARKETING_REQUEST);
        const before = await db.dump();
        await rejectsWith(confirm(CALL_BACK_QUESTION), 'quotes-other-message');
        await rejectsWith(confirm(CALL_BACK_QUESTION, 'marketing'), 'quotes-other-message');
        assert.equal(await db.dump(), before);
        assert.equal(await status('marketing'), 'pending');
        const record = await confirm(MARKETING_REQUEST);
        assert.equal(record.status, 'given');
        assert.equal(record.requestMessageId, MARKETING_REQUEST);
      });

      it('confirms the request whose message it quotes, not the one sent last', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        now += 60_000;
        await requestSentAs('marketing', MARKETING_REQUEST);
        const record = await confirm(NEWSLETTER_REQUEST);
        assert.equal(record.purpose, 'newsletter');
        assert.equal(await status('marketing'), 'pending');
        // Named for the purpose of another request, it confirms nothing.
        await rejectsWith(confirm(NEWSLETTER_REQUEST, 'marketing'), 'quotes-other-message');
        assert.equal(await status('marketing'), 'pending');
      });

      it('quoting an expired request is answered as expired, even with another request pending', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        now += 48 * 3_600_000 + 1;
        await requestSentAs('marketing', MARKETING_REQUEST);
        await rejectsWith(confirm(NEWSLETTER_REQUEST), 'request-expired');
        assert.equal(await status('marketing'), 'pending');
      });

      it('answers a request whose message is not on record as before, the one sent last', async () => {
        // Sent before this version recorded message ids, or its delivery is unknown.
        await request('newsletter');
        now += 60_000;
        await requestSentAs('marketing', MARKETING_REQUEST);
        // The request sent last was marketing's, and the reply quotes another message than it.
        await rejectsWith(confirm(CALL_BACK_QUESTION), 'quotes-other-message');
        // Quoting marketing's request, it is no answer to the newsletter's, whatever message that was.
        await rejectsWith(confirm(MARKETING_REQUEST, 'newsletter'), 'quotes-other-message');
        assert.equal(await status('newsletter'), 'pending');
        assert.equal((await confirm(MARKETING_REQUEST)).purpose, 'marketing');
        // Now the newsletter's is the one sent last, and its message cannot be told from the one quoted.
        assert.equal((await confirm(CALL_BACK_QUESTION)).purpose, 'newsletter');
      });

      it('without a quote answers the request sent last, recorded or not', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        now += 60_000;
        await requestSentAs('marketing', MARKETING_REQUEST);
        assert.equal((await confirm()).purpose, 'marketing');
        assert.equal((await confirm()).purpose, 'newsletter');
      });
    });

    it('takes a YES quoting her earlier request as the answer to the same request asked again, not to other words', async () => {
      const askAs = async (wording: string, messageId: string) => {
        const record = await ledger.requestConsent({
          subject: ANNA,
          purpose: 'marketing',
          wording,
          method: 'web-form',
          actor: 'opt-in-flow',
        });
        await ledger.requestSent(ANNA, 'marketing', messageId, {
          requestedAt: record.requestedAt as number,
          actor: 'whatsapp-send',
        });
      };
      const [english, german] = [TEST_PURPOSES[0].wording.en, TEST_PURPOSES[0].wording.de as string];
      const FIRST = 'wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYEkZJUlNUUkVRVUVTVA==';
      const SECOND = 'wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYElNFQ09ORFJFUVVFU1QA';
      const THIRD = 'wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYElRISVJEUkVRVUVTVAA=';
      await askAs(english, FIRST);
      // She asks again in German after the ten minutes: other words.
      now += 11 * 60_000;
      await askAs(german, SECOND);
      await rejectsWith(confirm(FIRST), 'quotes-other-message');
      assert.equal(await status('marketing'), 'pending');
      // And once more in German: a YES on the second message agrees to the words now asked.
      now += 11 * 60_000;
      await askAs(german, THIRD);
      const record = await confirm(SECOND);
      assert.equal(record.status, 'given');
      assert.equal(record.requestMessageId, THIRD, 'the request confirmed is the one pending');
      await rejectsWith(confirm(CALL_BACK_QUESTION), 'no-pending-request');
    });

    describe('a typed YES after she wrote something else since the request', () => {
      /** Her YES, typed `secondsAfter` the request went, quoting nothing unless told. */
      const typedYes = (
        secondsAfter: number,
        more: { inReplyTo?: string; via?: 'button' | 'keyword'; match?: string } = {},
      ) => {
        const sentAt = now + secondsAfter * 1000;
        return ledger.confirmConsent({
          subject: ANNA,
          confirmationText: 'Ja',
          sentAt,
          via: more.via ?? 'keyword',
          match: more.match ?? 'JA',
          ...(more.inReplyTo ? { inReplyTo: more.inReplyTo } : {}),
          actor: 'opt-in-flow',
        });
      };
      /** A message of hers the webhook received (its claim records the time), `secondsAfter` the request went. */
      const sheWrites = (secondsAfter: number) => ledger.recordInbound(ANNA, now + secondsAfter * 1000);
      /** The request her start keyword, sent `keywordSecond` in Meta's clock (when given), asked the flow for. */
      const keywordRequest = async (keywordSecond?: number) => {
        const asked = await ledger.requestConsent({
          subject: ANNA,
          purpose: 'newsletter',
          wording: WORDING.newsletter,
          method: 'keyword',
          ...(keywordSecond === undefined ? {} : { inboundAt: now + keywordSecond * 1000 }),
          actor: 'flow',
        });
        return asked.requestedAt as number;
      };
      /** Her typed no, `secondsAfter` the request went. */
      const typedNo = (secondsAfter: number, inReplyTo?: string) =>
        ledger.refuseConsent({
          subject: ANNA,
          purpose: 'newsletter',
          text: 'Nein',
          sentAt: now + secondsAfter * 1000,
          via: 'keyword',
          match: 'NEIN',
          ...(inReplyTo ? { inReplyTo } : {}),
          actor: 'opt-in-flow',
        });

      it('confirms nothing: she may answer a question of the business about that message, and is asked to tap', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        // "Löschen", and the business asks "Möchten Sie Ihre Daten löschen?"; her "Ja" arrives with its own claim.
        await sheWrites(120);
        await sheWrites(180);
        const before = await db.dump();
        await assert.rejects(typedYes(180), (err: unknown) => {
          assert.equal((err as { code?: string }).code, 'unclear-reply');
          assert.deepEqual((err as { params?: unknown }).params, { purpose: 'newsletter' });
          return true;
        });
        assert.equal(await db.dump(), before, 'nothing written');
        assert.equal(await status('newsletter'), 'pending');
        // Quoting the request, or tapping its button, is unmistakable.
        assert.equal((await typedYes(240, { inReplyTo: NEWSLETTER_REQUEST })).status, 'given');
      });

      it('refuses nothing with a typed no either; quoting the request, it refuses', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        await sheWrites(120);
        await sheWrites(180);
        const before = await db.dump();
        await rejectsWith(typedNo(180), 'unclear-reply');
        assert.equal(await db.dump(), before, 'nothing written');
        assert.equal((await typedNo(180, NEWSLETTER_REQUEST)).status, 'refused');
      });

      it("refuses nothing with a no quoting another message, when the request's own message is not on record", async () => {
        await request('newsletter');
        await sheWrites(120);
        await sheWrites(180);
        await rejectsWith(typedNo(180, CALL_BACK_QUESTION), 'unclear-reply');
        assert.equal(await status('newsletter'), 'pending');
      });

      it('confirms with a tap on the request\'s own button after other messages, not on another template\'s "Ja"', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        await sheWrites(120);
        await sheWrites(180);
        // A quick reply of another template whose payload is its text: a button, but not the request's.
        await rejectsWith(typedYes(180, { via: 'button', match: 'Ja' }), 'unclear-reply');
        assert.equal((await typedYes(180, { via: 'button', match: 'gdpr-confirm:newsletter' })).status, 'given');
      });

      it('confirms nothing when a later message was recorded before the YES was handled: what came between is unknown', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        await sheWrites(120);
        // "Ja" and "bitte" in one delivery: both recorded before opt-in-flow handles the "Ja"; "Löschen" is out of
        // the last two.
        await sheWrites(180);
        await sheWrites(182);
        await rejectsWith(typedYes(180), 'unclear-reply');
        // Meta delivers the "Ja" again after two later messages: the same.
        await sheWrites(200);
        await sheWrites(210);
        await rejectsWith(typedYes(180), 'unclear-reply');
        assert.equal(await status('newsletter'), 'pending');
      });

      it("names the request's language, so that she is told in the words she was asked in", async () => {
        await ledger.requestConsent({
          subject: ANNA,
          purpose: 'newsletter',
          wording: WORDING.newsletter,
          method: 'web-form',
          language: 'en',
          actor: 'opt-in-flow',
        });
        await sheWrites(120);
        await sheWrites(180);
        await assert.rejects(typedYes(180), (err: unknown) => {
          assert.deepEqual((err as { params?: unknown }).params, { purpose: 'newsletter', language: 'en' });
          return true;
        });
      });

      it('confirms when nothing came between: her keyword that asked for the request, a message before it', async () => {
        await sheWrites(-600);
        // ANMELDEN, and the integrator's flow asks for her consent by keyword: Meta's clock is not ours, the time of
        // her keyword may lie a little after the request it made went.
        await sheWrites(20);
        const requestedAt = await keywordRequest();
        await ledger.requestSent(ANNA, 'newsletter', NEWSLETTER_REQUEST, { requestedAt, actor: 'whatsapp-send' });
        await sheWrites(300);
        assert.equal((await typedYes(300)).status, 'given');
      });

      it("confirms nothing after a question seconds after her keyword: its time is compared with her keyword's", async () => {
        // ANMELDEN at 20 s in Meta's clock (ours says 0), the request goes; "Haben Sie die Jacke in M?" six seconds
        // later, the business answers; her "ja" three seconds after that may answer the shop's question.
        await sheWrites(20);
        const requestedAt = await keywordRequest(20);
        await ledger.requestSent(ANNA, 'newsletter', NEWSLETTER_REQUEST, { requestedAt, actor: 'whatsapp-send' });
        await sheWrites(26);
        await sheWrites(29);
        await rejectsWith(typedYes(29), 'unclear-reply');
        assert.equal(await status('newsletter'), 'pending');
        // Quoting the request is unmistakable.
        assert.equal((await typedYes(35, { inReplyTo: NEWSLETTER_REQUEST })).status, 'given');
      });

      it("confirms a YES right after her keyword when nothing came between, in Meta's clock", async () => {
        await sheWrites(20);
        await keywordRequest(20);
        await sheWrites(29);
        assert.equal((await typedYes(29)).status, 'given');
      });

      it('confirms nothing after a message seconds after a form request: no keyword of hers made that request', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        // "Löschen" five seconds after the form's request went; the business asks; she answers "Ja".
        await sheWrites(5);
        await sheWrites(8);
        await rejectsWith(typedYes(8), 'unclear-reply');
      });

      it('counts a message written before whatsapp-send recorded the request sent: she may have read it already', async () => {
        const requestedAt = await request('newsletter');
        await sheWrites(2);
        now += 5_000;
        assert.equal(
          await ledger.requestSent(ANNA, 'newsletter', NEWSLETTER_REQUEST, { requestedAt, actor: 's' }),
          true,
        );
        await sheWrites(3);
        await rejectsWith(typedYes(3), 'unclear-reply');
      });

      it("counts a message stamped with the second the request went in: Meta's times are whole seconds", async () => {
        now += 700;
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        await ledger.recordInbound(ANNA, now - 700);
        await sheWrites(3);
        await rejectsWith(typedYes(3), 'unclear-reply');
      });

      it('confirms a YES whose delivery Meta retried: the same message claimed again is no second message', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        await sheWrites(180);
        // The first delivery failed before the consent was written; the webhook released it, and Meta sent it again.
        await sheWrites(180);
        assert.equal((await typedYes(180)).status, 'given');
      });

      it('confirms with a YES written without a time (an API call): nothing to compare', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        await sheWrites(120);
        await sheWrites(180);
        assert.equal((await confirm()).status, 'given');
      });

      it('migrates a version-14 database: a keyword request from before keeps the half-minute margin', async () => {
        await sheWrites(20);
        await keywordRequest(20);
        await ledger.close();
        await backToVersion14(db);
        ledger = await ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));
        const versions = await db.all('SELECT version FROM schema_version');
        assert.equal(Math.max(...versions.map((r) => Number(r.version))), 15);
        const [row] = await db.all('SELECT request_inbound_at FROM consents');
        assert.equal(row.request_inbound_at, null);
        // Her time is not known for it: a message within the margin does not count, as before.
        await sheWrites(26);
        await sheWrites(29);
        assert.equal((await typedYes(29)).status, 'given');
      });

      it('migrates a version-13 database: her last time kept, none before it known, her YES confirms as before', async () => {
        await requestSentAs('newsletter', NEWSLETTER_REQUEST);
        await sheWrites(120);
        await ledger.close();
        await backToVersion13(db);
        ledger = await ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));
        const versions = await db.all('SELECT version FROM schema_version');
        assert.equal(Math.max(...versions.map((r) => Number(r.version))), 15);
        const [row] = await db.all('SELECT last_inbound_at, previous_inbound_at FROM subjects');
        assert.deepEqual([Number(row.last_inbound_at), row.previous_inbound_at], [now + 120_000, null]);
        assert.equal((await typedYes(120)).status, 'given');
      });

      it('keeps her message before the last one: moved on by a later time only, kept by consent writes', async () => {
        await sheWrites(100);
        const times = async () => {
          const [row] = await db.all('SELECT last_inbound_at, previous_inbound_at FROM subjects');
          return [row.last_inbound_at, row.previous_inbound_at].map((t) => (t === null ? null : Number(t) - now));
        };
        assert.deepEqual(await times(), [100_000, null], 'a new subject row: nothing before');
        await sheWrites(200);
        assert.deepEqual(await times(), [200_000, 100_000]);
        await sheWrites(150);
        assert.deepEqual(await times(), [200_000, 100_000], 'an older time moves nothing');
        // A consent write saves the subject row again (putSubject): both times stay.
        await request('newsletter');
        assert.deepEqual(await times(), [200_000, 100_000]);
        await sheWrites(300);
        assert.deepEqual(await times(), [300_000, 200_000]);
        // The same time again (a delivery claimed again) moves nothing.
        await sheWrites(300);
        assert.deepEqual(await times(), [300_000, 200_000]);
        const exported = await ledger.exportSubject(ANNA, 'admin');
        assert.deepEqual(
          [exported.subject?.lastInboundAt, exported.subject?.previousInboundAt],
          [now + 300_000, now + 200_000],
          'both are hers (Art. 15)',
        );
      });
    });

    it('ends a request Meta reported failed after accepting it, and only the one its message carried', async () => {
      await requestSentAs('newsletter', NEWSLETTER_REQUEST);
      await requestSentAs('marketing', MARKETING_REQUEST);
      // The proof names who asked, not who carried the message.
      assert.equal((await ledger.getConsent(ANNA, 'newsletter'))?.actor, 'opt-in-flow');
      const failed = (messageId: string, recipient?: string) =>
        ledger.requestsFailed([{ messageId, recipient }], { actor: 'whatsapp-webhook' });
      assert.equal(await failed(CALL_BACK_QUESTION, ANNA), 0);
      assert.equal(await failed(NEWSLETTER_REQUEST), 0, 'no recipient: nobody to look up');
      assert.equal(await failed(NEWSLETTER_REQUEST, '+4917612345678'), 0, 'another person');
      assert.equal(await failed(NEWSLETTER_REQUEST, ANNA), 1);
      assert.equal((await ledger.getConsent(ANNA, 'newsletter'))?.status, 'expired');
      assert.equal((await ledger.getConsent(ANNA, 'marketing'))?.status, 'pending');
      assert.equal(await failed(NEWSLETTER_REQUEST, ANNA), 0, 'reported twice: nothing more');
      // She may ask again at once: the failed request does not count as sent.
      now += 60_000;
      assert.equal((await ledger.getConsent(ANNA, 'newsletter'))?.status, 'expired');
      await request('newsletter');
      assert.equal((await ledger.getConsent(ANNA, 'newsletter'))?.status, 'pending');
      assert.equal((await ledger.verifyAudit()).ok, true);
    });
  });
}
