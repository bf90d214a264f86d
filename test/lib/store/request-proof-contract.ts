import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { ConsentRecord } from '../../../lib/consent/types';
import {
  type BackendHarness,
  backToVersion10,
  backToVersion11,
  type HarnessFactory,
  LEDGER_TABLES,
  PREVIOUS_INBOUND_COLUMN,
  REPLACED_BY_COLUMN,
  REQUEST_INBOUND_COLUMN,
  REQUEST_PROOF_COLUMNS,
  rejectsWith,
  TEST_PURPOSES,
} from './harness';

const ANNA = '+4915123456789';
const WORDING: Record<string, string> = {
  marketing: TEST_PURPOSES[0].wording.en,
  newsletter: TEST_PURPOSES[1].wording.en,
};
/** Meta's phone number ids of two business numbers on one store: the shop's offers number and its service number. */
const OFFERS_NUMBER = '106540352242922';
const SERVICE_NUMBER = '113377246618521';
const REQUEST_MESSAGE = 'wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYEk1BUktFVElOR1JFUVVFU1QA';
const MINUTE = 60_000;

/**
 * The double opt-in's proof (Art. 7(1) GDPR; German courts ask it to show which request, sent when, to which number
 * and from which business number, was answered how): kept with the record, named in the audit event, and an answer
 * at another business number than the request went from answers nothing. Checked against each storage backend.
 */
export function registerRequestProofContract(name: string, factory: HarnessFactory): void {
  describe(`consent ledger: proof of the answered request, ${name}`, function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let ledger: ConsentLedger;
    let now: number;

    const open = () => ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));

    beforeEach(async () => {
      now = Date.UTC(2026, 0, 15, 9, 0, 0);
      db = await factory();
      ledger = await open();
    });

    afterEach(async () => {
      await ledger?.close();
      await db?.dispose();
    });

    /** A request as opt-in-flow stores it, then sent by whatsapp-send from `from` a minute later. */
    async function requestSentFrom(from: string | undefined, purpose = 'marketing', messageId = REQUEST_MESSAGE) {
      const record = await ledger.requestConsent({
        subject: ANNA,
        purpose,
        wording: WORDING[purpose],
        language: 'de',
        method: 'web-form',
        actor: 'opt-in-flow',
      });
      now += MINUTE;
      const requestedAt = record.requestedAt as number;
      const options = { requestedAt, actor: 'whatsapp-send', ...(from ? { phoneNumberId: from } : {}) };
      assert.equal(await ledger.requestSent(ANNA, purpose, messageId, options), true);
      now += MINUTE;
      return { ...record, sentAt: requestedAt + MINUTE };
    }

    const audit = async (action: string) =>
      (await db.all('SELECT detail FROM audit WHERE action = ? ORDER BY seq', [action])).map((r) =>
        JSON.parse(String(r.detail)),
      );

    const status = async (purpose = 'marketing') => (await ledger.getConsent(ANNA, purpose))?.status;

    /** Runs `attempt`, expects `code`, and proves that not a single row changed. */
    async function rejectsUnchanged(attempt: () => Promise<unknown>, code: string): Promise<void> {
      const before = await db.dump();
      await rejectsWith(attempt(), code);
      assert.equal(await db.dump(), before, 'a rejected answer must not write');
    }

    it('keeps which request was answered how, and names it in the consent.confirmed audit event', async () => {
      const asked = await requestSentFrom(OFFERS_NUMBER);
      assert.match(String(asked.requestId), /^[0-9a-f-]{36}$/);
      const answeredAt = now - 5_000;
      const confirmed = await ledger.confirmConsent({
        subject: ANNA,
        confirmationText: 'Ja, gerne',
        confirmationMessageId: 'wamid.ANSWER',
        sentAt: answeredAt,
        via: 'button',
        match: 'gdpr-confirm:marketing',
        phoneNumberId: OFFERS_NUMBER,
        actor: 'opt-in-flow',
      });
      const proof = (record: ConsentRecord | undefined) => ({
        requestId: record?.requestId,
        requestSentAt: record?.requestSentAt,
        requestPhoneNumberId: record?.requestPhoneNumberId,
        confirmationVia: record?.confirmationVia,
        confirmationMatch: record?.confirmationMatch,
      });
      const expected = {
        requestId: asked.requestId,
        requestSentAt: asked.sentAt,
        requestPhoneNumberId: OFFERS_NUMBER,
        confirmationVia: 'button',
        confirmationMatch: 'gdpr-confirm:marketing',
      };
      assert.deepEqual(proof(confirmed), expected);
      assert.deepEqual(proof(await ledger.getConsent(ANNA, 'marketing')), expected);
      const [row] = await db.all(`SELECT ${REQUEST_PROOF_COLUMNS.join(', ')} FROM consents`);
      assert.deepEqual(
        REQUEST_PROOF_COLUMNS.map((c) => (row[c] === null ? null : String(row[c]))),
        [asked.requestId, String(asked.sentAt), OFFERS_NUMBER, 'button', 'gdpr-confirm:marketing'],
      );

      assert.deepEqual(await audit('consent.requested'), [
        {
          purposeVersion: asked.purposeVersion,
          wordingSha256: asked.wordingSha256,
          method: 'web-form',
          expiresAt: asked.expiresAt,
          requestId: asked.requestId,
        },
      ]);
      assert.deepEqual(await audit('consent.confirmed'), [
        {
          purposeVersion: asked.purposeVersion,
          wordingSha256: asked.wordingSha256,
          requestId: asked.requestId,
          requestedAt: asked.requestedAt,
          requestSentAt: asked.sentAt,
          requestPhoneNumberId: OFFERS_NUMBER,
          answerPhoneNumberId: OFFERS_NUMBER,
          via: 'button',
          match: 'gdpr-confirm:marketing',
          answeredAt,
        },
      ]);
      // The sending is in the chain too, when Meta accepted it: proof of a request also if it is never answered.
      assert.deepEqual(await audit('consent.request_sent'), [
        { requestId: asked.requestId, phoneNumberId: OFFERS_NUMBER },
      ]);
      const [sent] = await db.all('SELECT at, actor, purpose FROM audit WHERE action = ?', ['consent.request_sent']);
      assert.deepEqual([Number(sent.at), sent.actor, sent.purpose], [asked.sentAt, 'whatsapp-send', 'marketing']);
      // The audit log carries codes and business numbers, never her number, what she wrote or a message id.
      const events = JSON.stringify(await db.all('SELECT * FROM audit'));
      for (const secret of ['4915123456789', 'Ja, gerne', 'wamid.ANSWER', REQUEST_MESSAGE]) {
        assert.ok(!events.includes(secret), secret);
      }
      assert.deepEqual((await ledger.verifyAudit()).ok, true);
    });

    it('a send report that names no live request, or one sent already, writes nothing', async () => {
      const asked = await requestSentFrom(undefined);
      assert.deepEqual(await audit('consent.request_sent'), [{ requestId: asked.requestId }]);
      const before = await db.dump();
      const report = (requestedAt: number) =>
        ledger.requestSent(ANNA, 'marketing', 'wamid.OTHER', { requestedAt, actor: 'whatsapp-send' });
      assert.equal(await report(asked.requestedAt as number), false, 'sent already');
      assert.equal(await report((asked.requestedAt as number) - MINUTE), false, 'an earlier request');
      assert.equal(await db.dump(), before);
    });

    it('a YES that came to another business number than the request went from confirms nothing', async () => {
      await requestSentFrom(OFFERS_NUMBER);
      const yes = (phoneNumberId: string) =>
        ledger.confirmConsent({
          subject: ANNA,
          confirmationText: 'JA',
          via: 'keyword',
          match: 'JA',
          phoneNumberId,
          actor: 'opt-in-flow',
        });
      await rejectsUnchanged(() => yes(SERVICE_NUMBER), 'other-business-number');
      // Not even when it quotes the request, or names its purpose.
      await rejectsUnchanged(
        () =>
          ledger.confirmConsent({
            subject: ANNA,
            purpose: 'marketing',
            confirmationText: 'JA',
            inReplyTo: REQUEST_MESSAGE,
            phoneNumberId: SERVICE_NUMBER,
            actor: 'opt-in-flow',
          }),
        'other-business-number',
      );
      assert.equal(await status(), 'pending');
      assert.deepEqual(await audit('consent.confirmed'), []);
      // Her YES where she was asked confirms it.
      assert.equal((await yes(OFFERS_NUMBER)).status, 'given');
      assert.equal((await audit('consent.confirmed'))[0].answerPhoneNumberId, OFFERS_NUMBER);
    });

    it('a NO that came to another business number than the request went from refuses nothing', async () => {
      const asked = await requestSentFrom(OFFERS_NUMBER);
      const no = (phoneNumberId: string, wording?: string) =>
        ledger.refuseConsent({
          subject: ANNA,
          purpose: 'marketing',
          text: 'Nein',
          via: 'keyword',
          match: 'NEIN',
          phoneNumberId,
          ...(wording ? { wording } : {}),
          actor: 'opt-in-flow',
        });
      await rejectsUnchanged(() => no(SERVICE_NUMBER), 'other-business-number');
      // Nor does it end the request as a refusal of its own, with the wording given.
      await rejectsUnchanged(() => no(SERVICE_NUMBER, WORDING.marketing), 'other-business-number');
      assert.equal(await status(), 'pending');
      assert.deepEqual(await audit('consent.refused'), []);

      const refused = await no(OFFERS_NUMBER);
      assert.equal(refused.status, 'refused');
      assert.equal(refused.requestId, asked.requestId);
      assert.equal(refused.confirmationVia, 'keyword');
      assert.equal(refused.confirmationMatch, 'NEIN');
      const [detail] = await audit('consent.refused');
      assert.equal(detail.requestId, asked.requestId);
      assert.equal(detail.requestPhoneNumberId, OFFERS_NUMBER);
      assert.equal(detail.answerPhoneNumberId, OFFERS_NUMBER);
      assert.equal(detail.via, 'keyword');
      assert.equal(detail.match, 'NEIN');
    });

    it('with requests from two business numbers, a YES answers the one sent from the number it came to', async () => {
      await requestSentFrom(SERVICE_NUMBER, 'newsletter', 'wamid.NEWSLETTER');
      // The offers request is the later one: a bare YES would answer it, were it not for the numbers.
      await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.OFFERS');
      const confirmed = await ledger.confirmConsent({
        subject: ANNA,
        confirmationText: 'JA',
        phoneNumberId: SERVICE_NUMBER,
        actor: 'opt-in-flow',
      });
      assert.equal(confirmed.purpose, 'newsletter');
      assert.equal(await status('marketing'), 'pending');
      assert.equal(await status('newsletter'), 'given');
    });

    it('answers as before where a side is unknown: no business number recorded, or none given with the answer', async () => {
      // whatsapp-send did not record the number (another sender): any number's YES answers it.
      await requestSentFrom(undefined, 'marketing');
      const confirmed = await ledger.confirmConsent({
        subject: ANNA,
        confirmationText: 'JA',
        phoneNumberId: SERVICE_NUMBER,
        actor: 'opt-in-flow',
      });
      assert.equal(confirmed.status, 'given');
      assert.equal(confirmed.requestPhoneNumberId, undefined);
      // An answer recorded through the API names no number: it is taken as before.
      await requestSentFrom(OFFERS_NUMBER, 'newsletter', 'wamid.NEWSLETTER');
      const viaApi = await ledger.confirmConsent({ subject: ANNA, confirmationText: 'JA', actor: 'crm' });
      assert.equal(viaApi.purpose, 'newsletter');
      const details = await audit('consent.confirmed');
      assert.deepEqual(
        details.map((d) => [d.requestPhoneNumberId, d.answerPhoneNumberId, d.via, d.match, d.answeredAt]),
        [
          [null, SERVICE_NUMBER, null, null, null],
          [OFFERS_NUMBER, null, null, null, null],
        ],
      );
    });

    it('keeps how a single-step sign-up came (keyword, which one, when, where) and names it in consent.given', async () => {
      const sentAt = now - 3_000;
      const given = await ledger.giveConsent({
        subject: ANNA,
        purpose: 'marketing',
        wording: WORDING.marketing,
        language: 'de',
        method: 'keyword',
        source: 'whatsapp',
        messageId: 'wamid.START',
        text: 'Anmelden bitte',
        inboundAt: sentAt,
        via: 'keyword',
        match: 'ANMELDEN',
        phoneNumberId: OFFERS_NUMBER,
        actor: 'opt-in-flow',
      });
      const proof = (record: ConsentRecord | undefined) => [
        record?.status,
        record?.confirmationVia,
        record?.confirmationMatch,
        record?.requestPhoneNumberId,
        record?.decidedAt,
      ];
      const expected = ['given', 'keyword', 'ANMELDEN', OFFERS_NUMBER, now];
      assert.deepEqual(proof(given), expected);
      assert.deepEqual(proof(await ledger.getConsent(ANNA, 'marketing')), expected);
      const [detail] = await audit('consent.given');
      assert.deepEqual(detail, {
        purposeVersion: given.purposeVersion,
        wordingSha256: given.wordingSha256,
        method: 'keyword',
        answerPhoneNumberId: OFFERS_NUMBER,
        via: 'keyword',
        match: 'ANMELDEN',
        answeredAt: sentAt,
      });
      // The access export shows it, in the record and in the audit event.
      const exported = await ledger.exportSubject(ANNA, 'staff');
      assert.deepEqual(proof(exported.consents[0]), expected);
      const event = exported.auditEvents.find((e) => e.action === 'consent.given');
      assert.equal(event?.detail?.via, 'keyword');
      assert.equal(event?.detail?.match, 'ANMELDEN');
      assert.equal(event?.detail?.answerPhoneNumberId, OFFERS_NUMBER);
      assert.equal(event?.detail?.answeredAt, sentAt);
      const events = JSON.stringify(await db.all('SELECT * FROM audit'));
      for (const secret of ['4915123456789', 'Anmelden bitte', 'wamid.START'])
        assert.ok(!events.includes(secret), secret);
      // A consent given through the API, no keyword named, keeps NULLs and an audit event as before.
      const byAgent = await ledger.giveConsent({
        subject: ANNA,
        purpose: 'newsletter',
        wording: WORDING.newsletter,
        method: 'agent',
        actor: 'crm',
      });
      assert.deepEqual(proof(byAgent), ['given', undefined, undefined, undefined, now]);
      assert.deepEqual(Object.keys((await audit('consent.given'))[1]).sort(), [
        'method',
        'purposeVersion',
        'wordingSha256',
      ]);
      await rejectsUnchanged(
        () =>
          ledger.giveConsent({
            subject: ANNA,
            purpose: 'orders',
            wording: TEST_PURPOSES[2].wording.en,
            method: 'keyword',
            via: 'smoke-signal' as never,
            actor: 'opt-in-flow',
          }),
        'invalid-input',
      );
    });

    it('archives a request asked again as replaced: the access export shows one open request, and the YES answers', async () => {
      const first = await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.FIRST');
      now += 11 * MINUTE;
      const replacedAt = now;
      const second = await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.SECOND');
      const exported = await ledger.exportSubject(ANNA, 'staff');
      const open = [...exported.consents, ...exported.history].filter((r) => r.status === 'pending');
      assert.deepEqual(
        open.map((r) => r.requestId),
        [second.requestId],
      );
      assert.deepEqual(
        exported.history.map((r) => [r.requestId, r.status, r.expiresAt, r.replacedByRequestId]),
        [[first.requestId, 'expired', replacedAt, second.requestId]],
      );
      const [row] = await db.all(`SELECT status, ${REPLACED_BY_COLUMN} FROM consent_history`);
      assert.deepEqual([row.status, row[REPLACED_BY_COLUMN]], ['expired', second.requestId]);
      assert.equal(exported.consents[0].replacedByRequestId, undefined);
      // The audit chain names the replacement too.
      const requested = await audit('consent.requested');
      assert.deepEqual(
        requested.map((d) => [d.requestId, d.replacesRequestId]),
        [
          [first.requestId, undefined],
          [second.requestId, first.requestId],
        ],
      );
      // A YES quoting the replaced request's message answers the request asked again, as before.
      const confirmed = await ledger.confirmConsent({
        subject: ANNA,
        confirmationText: 'JA',
        inReplyTo: 'wamid.FIRST',
        phoneNumberId: OFFERS_NUMBER,
        actor: 'opt-in-flow',
      });
      assert.equal(confirmed.requestId, second.requestId);
      assert.equal((await ledger.verifyAudit()).ok, true);
    });

    it('a YES quoting a replaced request at another business number than it went from confirms nothing', async () => {
      // Asked from the offers number, asked again from the service number (or by a sender that names none).
      await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.FIRST');
      now += 11 * MINUTE;
      await requestSentFrom(SERVICE_NUMBER, 'marketing', 'wamid.SECOND');
      const yesQuotingFirst = (phoneNumberId: string) =>
        ledger.confirmConsent({
          subject: ANNA,
          confirmationText: 'JA',
          inReplyTo: 'wamid.FIRST',
          via: 'button',
          match: 'gdpr-confirm:marketing',
          phoneNumberId,
          actor: 'opt-in-flow',
        });
      await rejectsUnchanged(() => yesQuotingFirst(SERVICE_NUMBER), 'other-business-number');
      assert.equal(await status(), 'pending');
      assert.deepEqual(await audit('consent.confirmed'), []);
      // At the number the quoted request went from it is her answer, as for the current request.
      now += 11 * MINUTE;
      await requestSentFrom(undefined, 'marketing', 'wamid.THIRD');
      const confirmed = await yesQuotingFirst(OFFERS_NUMBER);
      assert.equal(confirmed.status, 'given');
      assert.equal(confirmed.requestMessageId, 'wamid.THIRD');
    });

    it("a YES quoting a request from another business number confirms no other purpose's request either", async () => {
      await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.OFFERS');
      // The newsletter's request is asked at the service number, and its sending is not on record yet.
      await ledger.requestConsent({
        subject: ANNA,
        purpose: 'newsletter',
        wording: WORDING.newsletter,
        method: 'web-form',
        actor: 'opt-in-flow',
      });
      await rejectsUnchanged(
        () =>
          ledger.confirmConsent({
            subject: ANNA,
            confirmationText: 'JA',
            inReplyTo: 'wamid.OFFERS',
            phoneNumberId: SERVICE_NUMBER,
            actor: 'opt-in-flow',
          }),
        'other-business-number',
      );
      assert.deepEqual([await status('marketing'), await status('newsletter')], ['pending', 'pending']);
      // A YES there that quotes nothing answers the newsletter's request, as before.
      const confirmed = await ledger.confirmConsent({
        subject: ANNA,
        confirmationText: 'JA',
        phoneNumberId: SERVICE_NUMBER,
        actor: 'opt-in-flow',
      });
      assert.equal(confirmed.purpose, 'newsletter');
    });

    it('archives a request that lapsed unanswered as expired at its own expiry, replaced by nothing', async () => {
      const lapsed = await requestSentFrom(OFFERS_NUMBER);
      now = (lapsed.expiresAt as number) + MINUTE;
      await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.AGAIN');
      const [archived] = (await ledger.exportSubject(ANNA, 'staff')).history;
      assert.deepEqual(
        [archived.status, archived.expiresAt, archived.replacedByRequestId],
        ['expired', lapsed.expiresAt, undefined],
      );
    });

    it('a sign-up by keyword while a request waits archives the request as ended then: no open request is left', async () => {
      const waiting = await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.WAITING');
      const signedUpAt = now;
      const given = await ledger.giveConsent({
        subject: ANNA,
        purpose: 'marketing',
        wording: WORDING.marketing,
        method: 'keyword',
        via: 'keyword',
        match: 'ANMELDEN',
        phoneNumberId: OFFERS_NUMBER,
        actor: 'opt-in-flow',
      });
      assert.equal(given.status, 'given');
      const exported = await ledger.exportSubject(ANNA, 'staff');
      assert.deepEqual(
        [...exported.consents, ...exported.history].filter((r) => r.status === 'pending'),
        [],
      );
      assert.deepEqual(
        exported.history.map((r) => [r.requestId, r.status, r.expiresAt, r.replacedByRequestId]),
        [[waiting.requestId, 'expired', signedUpAt, undefined]],
      );
      // The sign-up's audit event names the request it ended; one with no request waiting names none.
      assert.equal((await audit('consent.given'))[0].replacesRequestId, waiting.requestId);
      await ledger.giveConsent({
        subject: ANNA,
        purpose: 'newsletter',
        wording: WORDING.newsletter,
        method: 'keyword',
        actor: 'opt-in-flow',
      });
      assert.equal((await audit('consent.given'))[1].replacesRequestId, undefined);
      assert.equal((await ledger.verifyAudit()).ok, true);
    });

    it('a refusal after a request lapsed unanswered archives the request as expired at its own expiry', async () => {
      const lapsed = await requestSentFrom(OFFERS_NUMBER);
      now = (lapsed.expiresAt as number) + MINUTE;
      const refused = await ledger.refuseConsent({
        subject: ANNA,
        purpose: 'marketing',
        wording: WORDING.marketing,
        method: 'agent',
        actor: 'crm',
      });
      assert.equal(refused.status, 'refused');
      const [archived] = (await ledger.exportSubject(ANNA, 'staff')).history;
      assert.deepEqual(
        [archived.requestId, archived.status, archived.expiresAt, archived.replacedByRequestId],
        [lapsed.requestId, 'expired', lapsed.expiresAt, undefined],
      );
    });

    it('migrates a version-11 database: a request archived as pending there stays readable as it was', async () => {
      const first = await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.FIRST');
      now += 11 * MINUTE;
      await requestSentFrom(OFFERS_NUMBER, 'marketing', 'wamid.SECOND');
      await ledger.close();
      // As version 11 archived it: still pending, with its own expiry.
      await backToVersion11(db);
      await db.exec(`UPDATE consent_history SET status = 'pending', expires_at = ${first.expiresAt}`);
      ledger = await open();
      const versions = await db.all('SELECT version FROM schema_version ORDER BY version');
      assert.equal(Math.max(...versions.map((r) => Number(r.version))), 15);
      const [archived] = (await ledger.exportSubject(ANNA, 'staff')).history;
      assert.deepEqual(
        [archived.requestId, archived.status, archived.expiresAt, archived.replacedByRequestId],
        [first.requestId, 'pending', first.expiresAt, undefined],
      );
      const [row] = await db.all(`SELECT ${REPLACED_BY_COLUMN} FROM consent_history`);
      assert.equal(row[REPLACED_BY_COLUMN], null);
      // Her YES to the first message still confirms the request asked again.
      const confirmed = await ledger.confirmConsent({
        subject: ANNA,
        confirmationText: 'JA',
        inReplyTo: 'wamid.FIRST',
        actor: 'opt-in-flow',
      });
      assert.equal(confirmed.status, 'given');
    });

    it('rejects an unknown way of answering and writes nothing', async () => {
      await requestSentFrom(OFFERS_NUMBER);
      await rejectsUnchanged(
        () =>
          ledger.confirmConsent({
            subject: ANNA,
            confirmationText: 'JA',
            via: 'carrier-pigeon' as never,
            actor: 'opt-in-flow',
          }),
        'invalid-input',
      );
    });

    it('migrates a version-10 database: its records read as before, and old requests are answered as before', async () => {
      // Under version 10: a consent given, one confirmed request with its earlier refusal in the history, and a
      // request still pending.
      await ledger.giveConsent({
        subject: ANNA,
        purpose: 'orders',
        wording: TEST_PURPOSES[2].wording.en,
        method: 'keyword',
        actor: 't',
      });
      await ledger.requestConsent({
        subject: ANNA,
        purpose: 'newsletter',
        wording: WORDING.newsletter,
        method: 'web-form',
        actor: 't',
      });
      await ledger.refuseConsent({ subject: ANNA, purpose: 'newsletter', text: 'Nein', actor: 't' });
      now += 15 * MINUTE;
      await ledger.requestConsent({
        subject: ANNA,
        purpose: 'newsletter',
        wording: WORDING.newsletter,
        method: 'web-form',
        actor: 't',
      });
      await ledger.confirmConsent({ subject: ANNA, purpose: 'newsletter', confirmationText: 'JA', actor: 't' });
      now += MINUTE;
      await ledger.requestConsent({
        subject: ANNA,
        purpose: 'marketing',
        wording: WORDING.marketing,
        method: 'web-form',
        actor: 't',
      });
      const records = async () =>
        JSON.parse(
          JSON.stringify(
            await Promise.all(['orders', 'newsletter', 'marketing'].map((p) => ledger.getConsent(ANNA, p))),
          ),
        ) as Record<string, unknown>[];
      const proofFields = [
        'requestId',
        'requestSentAt',
        'requestPhoneNumberId',
        'confirmationVia',
        'confirmationMatch',
      ];
      const earlier = (await records()).map((r) =>
        Object.fromEntries(Object.entries(r).filter(([field]) => !proofFields.includes(field))),
      );
      await ledger.close();
      await backToVersion10(db);
      /** Every ledger table but those each open writes, each row without the later versions' columns. */
      const snapshot = async () => {
        const tables: Record<string, string[]> = {};
        for (const table of LEDGER_TABLES.filter((t) => t !== 'schema_version' && t !== 'purpose_presence')) {
          tables[table] = (await db.all(`SELECT * FROM ${table}`))
            .map((row) =>
              JSON.stringify(
                Object.entries(row)
                  .filter(
                    ([column]) =>
                      !REQUEST_PROOF_COLUMNS.includes(column) &&
                      column !== REPLACED_BY_COLUMN &&
                      column !== PREVIOUS_INBOUND_COLUMN &&
                      column !== REQUEST_INBOUND_COLUMN,
                  )
                  .map(([column, value]) => [column, String(value)]),
              ),
            )
            .sort();
        }
        return tables;
      };
      const v10 = await snapshot();
      assert.ok(!(await db.dump()).includes('request_id'), 'version 10 has no proof columns');

      now += MINUTE;
      ledger = await open();
      const versions = await db.all('SELECT version FROM schema_version ORDER BY version');
      assert.deepEqual(
        versions.map((r) => Number(r.version)),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
      );
      // Every row kept every value; the new columns are NULL, and the records read as before.
      assert.deepEqual(await snapshot(), v10, 'no old value changed');
      for (const table of ['consents', 'consent_history']) {
        const rows = await db.all(`SELECT * FROM ${table}`);
        assert.ok(rows.length > 0, table);
        for (const row of rows) {
          for (const column of REQUEST_PROOF_COLUMNS) assert.equal(row[column], null, `${table}.${column}`);
        }
      }
      assert.deepEqual(await records(), earlier);
      assert.deepEqual(
        earlier.map((r) => r.status),
        ['given', 'given', 'pending'],
      );

      // The request made under version 10 names no business number: a YES to any number answers it, as before.
      const confirmed = await ledger.confirmConsent({
        subject: ANNA,
        purpose: 'marketing',
        confirmationText: 'JA',
        via: 'keyword',
        match: 'JA',
        phoneNumberId: SERVICE_NUMBER,
        actor: 't',
      });
      assert.equal(confirmed.status, 'given');
      const [, detail] = await audit('consent.confirmed');
      assert.deepEqual(
        [detail.requestId, detail.requestSentAt, detail.requestPhoneNumberId, detail.answerPhoneNumberId, detail.via],
        [null, null, null, SERVICE_NUMBER, 'keyword'],
      );
      assert.equal((await ledger.verifyAudit()).ok, true);
    });
  });
}
