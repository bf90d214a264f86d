import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { verifyAuditLines } from '../../../lib/consent/audit-verify';
import { KEYWORD_MAX_LENGTH } from '../../../lib/consent/inputs';
import { Pseudonymiser } from '../../../lib/consent/keys';
import { ConsentLedger, OPTED_OUT_REQUEST_PAUSE_MS, REQUEST_RESEND_MS } from '../../../lib/consent/ledger';
import type { LedgerEvent, LedgerOptions } from '../../../lib/consent/types';
import { parseKeywordList } from '../../../lib/conversation/keywords';
import { GdprWhatsAppError } from '../../../lib/errors';
import { migrations } from '../../../lib/store/schema';
import type { DedupeStore } from '../../../lib/webhook/dedupe';
import { type BackendHarness, type HarnessFactory, rejectsWith, TEST_KEYS, TEST_PURPOSES } from './harness';

const PHONE = '+4915123456789';
const PHONE_2 = '+4917612345678';
const WORDING = TEST_PURPOSES[0].wording.en;
const NEWS_WORDING = TEST_PURPOSES[1].wording.en;
const PHONE_3 = '+4915734567890';
const DAY = 86_400_000;

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

/**
 * The contract every storage backend passes (DESIGN.md: one interface, one suite). Registers a mocha
 * suite that runs the whole ConsentLedger API against databases made by `factory`.
 */
export function registerLedgerContract(name: string, factory: HarnessFactory): void {
  describe(`consent ledger contract: ${name}`, function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let ledger: ConsentLedger;
    let now: number;
    let events: LedgerEvent[];
    const clock = () => now;

    async function open(overrides: Partial<LedgerOptions> = {}): Promise<ConsentLedger> {
      const opened = await ConsentLedger.open(db.options({ clock, usageFlushMs: 3_600_000, ...overrides }));
      opened.on('event', (event: LedgerEvent) => events.push(event));
      return opened;
    }

    /** Runs `attempt`, expects `code`, and proves that not a single row changed. */
    async function rejectsUnchanged(attempt: () => Promise<unknown>, code: string): Promise<void> {
      const before = await db.dump();
      const eventCount = events.length;
      await rejectsWith(Promise.resolve().then(attempt), code);
      assert.equal(await db.dump(), before, 'a rejected call must not write');
      assert.equal(events.length, eventCount, 'a rejected call must not emit');
    }

    /** The audit export read with exportAuditPage, `size` events a page, joined. */
    async function exportInPages(size: number): Promise<string[]> {
      const lines: string[] = [];
      let page = await ledger.exportAuditPage(undefined, size);
      for (let pages = 1; ; pages += 1) {
        lines.push(...page.lines);
        if (page.next === undefined) return lines;
        assert.ok(pages < 1000, 'the export ends');
        page = await ledger.exportAuditPage(page.next, size);
      }
    }

    /** A confirmation that must be refused with `code` and change nothing. */
    function confirmRefused(code: string, input: Partial<Parameters<ConsentLedger['confirmConsent']>[0]> = {}) {
      return rejectsUnchanged(
        () => ledger.confirmConsent({ subject: PHONE, confirmationText: 'YES', actor: 't', ...input }),
        code,
      );
    }

    /** The operator edits the wording of the offers purpose: a new purpose version. */
    async function reopenWithNewOffersWording(): Promise<void> {
      await ledger.close();
      const changed = [{ ...TEST_PURPOSES[0], wording: { en: 'New offers wording.' } }, ...TEST_PURPOSES.slice(1)];
      ledger = await open({ purposes: changed });
    }

    /** A one-step consent by keyword, as opt-in-flow's single step stores it. */
    function giveByKeyword(subject: Parameters<ConsentLedger['giveConsent']>[0]['subject'], purpose = 'marketing') {
      return ledger.giveConsent({ subject, purpose, wording: WORDING, method: 'keyword', actor: 't' });
    }

    async function request(phone = PHONE, purpose = 'marketing') {
      return ledger.requestConsent({
        subject: phone,
        purpose,
        wording: WORDING,
        language: 'en',
        method: 'web-form',
        source: 'https://shop.example/whatsapp',
        requestMessageId: 'wamid.REQUEST1',
        actor: 'node-opt-in',
      });
    }

    beforeEach(async () => {
      now = Date.UTC(2026, 0, 15, 9, 0, 0);
      events = [];
      db = await factory();
      ledger = await open();
    });

    afterEach(async () => {
      await ledger?.close();
      await db?.dispose();
    });

    describe('open', () => {
      it('refuses to open without keys (missing-keys), creating no table', async () => {
        const fresh = await factory();
        try {
          for (const bad of [{ encryptionKeys: [] }, { pseudonymKey: undefined as unknown as Buffer }]) {
            await rejectsWith(ConsentLedger.open(fresh.options(bad)), 'missing-keys');
          }
          await rejectsWith(
            ConsentLedger.open(fresh.options({ encryptionKeys: [{ id: 'short', key: randomBytes(16) }] })),
            'invalid-key',
          );
          await assert.rejects(fresh.all('SELECT * FROM consents'));
        } finally {
          await fresh.dispose();
        }
      });

      it('refuses a database filled under another pseudonym key, and changes nothing in it', async () => {
        await ledger.withdrawConsent({ subject: PHONE, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
        await ledger.close();
        const before = await db.dump();
        await rejectsWith(open({ pseudonymKey: randomBytes(32) }), 'store-keys-mismatch');
        assert.equal(await db.dump(), before);
        ledger = await open();
        assert.equal((await ledger.checkConsent(PHONE, 'orders')).status, 'withdrawn', 'the right key finds her');
      });

      it('rejects an invalid purpose configuration', async () => {
        const bad = [{ ...TEST_PURPOSES[0], id: 'Has Spaces' }];
        await rejectsWith(ConsentLedger.open(db.options({ purposes: bad })), 'invalid-purpose');
        const noWording = [{ ...TEST_PURPOSES[0], wording: {} }];
        await rejectsWith(ConsentLedger.open(db.options({ purposes: noWording })), 'invalid-purpose');
      });

      it('migrates once and records the schema version; reopening keeps the data', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await ledger.close();
        ledger = await open();
        const versions = await db.all('SELECT version FROM schema_version');
        assert.deepEqual(
          versions.map((r) => Number(r.version)),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        );
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'given');
      });

      it('migrates a version-7 database: each notice stays a showing, found by the message that carried it', async () => {
        await ledger.close();
        await db.dispose();
        db = await factory();
        const upToSeven = migrations(db.backend).filter((m) => m.version <= 7);
        const keys = new Pseudonymiser(TEST_KEYS.pseudonymKey);
        await db.exec(`${upToSeven.flatMap((m) => m.statements).join(';\n')};
          CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);
          INSERT INTO schema_version (version, applied_at) VALUES ${upToSeven.map((m) => `(${m.version}, 0)`).join(', ')};
          INSERT INTO notices (pseudonym, notice_version, shown_at, message_id_enc, message_ref, actor)
            VALUES ('${keys.forPhone(PHONE)}', 'n1', ${now - DAY}, NULL,
              '${keys.forDedupeKey('notice-message:wamid.OLD')}', 'privacy-notice')`);
        ledger = await open();
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), true);
        const indexes = await db.all(
          db.backend === 'sqlite'
            ? "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notices' AND sql IS NOT NULL"
            : "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'notices' AND schemaname = current_schema() AND indexname <> 'notices_pkey'",
        );
        assert.deepEqual(indexes.map((r) => String(r.name)).sort(), [
          'notices_by_message',
          'notices_by_subject',
          'notices_by_time',
        ]);
        await ledger.recordNoticeShown(PHONE_2, 'n1', { actor: 't' });
        assert.equal(await ledger.messagesFailed(['wamid.OLD'], { actor: 'hook' }), 1);
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), false);
        assert.equal(await ledger.hasSeenNotice(PHONE_2, 'n1'), true);
      });

      it('derives a purpose version from the wording; old consents keep their wording', async () => {
        const old = await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await reopenWithNewOffersWording();
        const rows = await db.all("SELECT version, wording FROM purpose_versions WHERE purpose = 'marketing'");
        assert.equal(rows.length, 2);
        assert.notEqual(ledger.purpose('marketing')?.version, old.purposeVersion);
        const kept = await ledger.getConsent(PHONE, 'marketing');
        assert.equal(kept?.wording, WORDING);
        assert.equal(kept?.purposeVersion, old.purposeVersion);
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).allowed, true);
      });
    });

    describe('double opt-in', () => {
      it('request stores a pending consent with expiry and every proof field', async () => {
        const record = await request();
        assert.equal(record.status, 'pending');
        assert.equal(record.wording, WORDING);
        assert.equal(record.expiresAt, now + 48 * 3_600_000);
        assert.equal(record.requestMessageId, 'wamid.REQUEST1');
        assert.equal(record.source, 'https://shop.example/whatsapp');
        assert.match(record.wordingSha256, /^[0-9a-f]{64}$/);
        assert.deepEqual(await ledger.checkConsent(PHONE, 'marketing'), {
          allowed: false,
          status: 'pending',
          reason: 'awaiting-confirmation',
        });
        assert.deepEqual(
          events.map((e) => [e.type, e.purpose, e.phone]),
          [['consent.requested', 'marketing', PHONE]],
        );
      });

      it('rejects bad requests with a clear code and writes nothing', async () => {
        const base = {
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'web-form' as const,
          actor: 'node-1',
        };
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, wording: '' }), 'missing-wording');
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, wording: '   ' }), 'missing-wording');
        await rejectsUnchanged(
          () => ledger.requestConsent({ ...base, wording: undefined as unknown as string }),
          'missing-wording',
        );
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, purpose: 'unknown' }), 'unknown-purpose');
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, subject: '+49 123' }), 'invalid-phone');
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, subject: 'not a number' }), 'invalid-phone');
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, subject: {} }), 'invalid-subject');
        await rejectsUnchanged(
          () => ledger.requestConsent({ ...base, method: 'carrier-pigeon' as never }),
          'invalid-input',
        );
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, actor: '' }), 'missing-actor');
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, expiresInMs: -5 }), 'invalid-input');
        await rejectsUnchanged(() => ledger.requestConsent({ ...base, language: 'english!' }), 'invalid-input');
      });

      it('confirm turns the pending request into a given consent with the exact reply', async () => {
        await request();
        now += 60_000;
        const record = await ledger.confirmConsent({
          subject: '0049 151 23456789',
          confirmationText: 'YES',
          confirmationMessageId: 'wamid.CONFIRM1',
          actor: 'node-opt-in',
        });
        assert.equal(record.status, 'given');
        assert.equal(record.confirmationText, 'YES');
        assert.equal(record.confirmationMessageId, 'wamid.CONFIRM1');
        assert.equal(record.decidedAt, now);
        assert.equal(record.requestMessageId, 'wamid.REQUEST1');
        assert.deepEqual(await ledger.checkConsent(PHONE, 'marketing'), {
          allowed: true,
          status: 'given',
          reason: 'consent-given',
        });
        assert.deepEqual(
          events.map((e) => e.type),
          ['consent.requested', 'consent.confirmed'],
        );
      });

      it('confirm without a pending request: no-pending-request, nothing written', async () => {
        await confirmRefused('no-pending-request');
        await giveByKeyword(PHONE);
        await confirmRefused('no-pending-request', { purpose: 'marketing' });
        await confirmRefused('missing-confirmation', { confirmationText: '' });
        await confirmRefused('unknown-purpose', { purpose: 'nope' });
      });

      it('confirm after expiry: request-expired, and the record becomes expired', async () => {
        await request();
        now += 48 * 3_600_000 + 1;
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'expired');
        await rejectsWith(
          ledger.confirmConsent({ subject: PHONE, confirmationText: 'JA', actor: 't' }),
          'request-expired',
        );
        const record = await ledger.getConsent(PHONE, 'marketing');
        assert.equal(record?.status, 'expired');
        assert.ok(events.some((e) => e.type === 'consent.expired'));
        // Another late reply gets the same answer, and writes nothing.
        await confirmRefused('request-expired', { confirmationText: 'JA' });
      });

      it('a reply after the sweep expired the request is answered as expired too, for as long as a request lives', async () => {
        await request();
        now += 48 * 3_600_000 + 1;
        assert.equal((await ledger.sweepRetention()).expiredRequests, 1);
        await confirmRefused('request-expired');
        await confirmRefused('request-expired', { purpose: 'marketing' });
        // Long after, a "yes" is no longer read as an answer to that request.
        now += 48 * 3_600_000;
        await confirmRefused('no-pending-request');
      });

      it('a bare confirmation answers the most recent request only', async () => {
        await request(PHONE, 'newsletter');
        now += 1000;
        await request(PHONE, 'marketing');
        const record = await ledger.confirmConsent({ subject: PHONE, confirmationText: 'YES', actor: 't' });
        assert.equal(record.purpose, 'marketing');
        assert.equal((await ledger.checkConsent(PHONE, 'newsletter')).status, 'pending');
      });

      it('a request minutes after the last sends nothing again, and a number is asked three times a day at most', async () => {
        const MINUTE = 60_000;
        const first = await request();
        now += 9 * MINUTE;
        await rejectsUnchanged(() => request(), 'request-pending');
        now += 2 * MINUTE;
        const second = await request();
        assert.equal(second.status, 'pending');
        assert.equal(second.requestedAt, now);
        assert.notEqual(second.requestedAt, first.requestedAt);
        now += 11 * MINUTE;
        await request();
        now += 11 * MINUTE;
        await rejectsUnchanged(() => request(), 'too-many-requests');
        // Another purpose and another number are asked as before.
        assert.equal((await request(PHONE, 'newsletter')).status, 'pending');
        assert.equal((await request(PHONE_2)).status, 'pending');
        now += DAY - 30 * MINUTE;
        // A day on, the three typed-in requests, all unanswered, still hold the number back (the next test); her own
        // request by keyword goes.
        await rejectsUnchanged(() => request(), 'unanswered-requests');
        const own = await ledger.requestConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        assert.equal(own.status, 'pending', 'a day after the first request, the next may go');
      });

      it('a STOP or a no to a request typed in leaves the number alone for ten minutes; her own request goes', async () => {
        const MINUTE = 60_000;
        await request();
        now += MINUTE;
        await ledger.withdrawConsent({ subject: PHONE, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
        now += 8 * MINUTE;
        await rejectsUnchanged(() => request(), 'recently-requested');
        now += MINUTE + 1;
        assert.equal((await request()).status, 'pending', 'ten minutes after the first, the next may go');
        await request(PHONE_2);
        await ledger.refuseConsent({ subject: PHONE_2, purpose: 'marketing', text: 'NEIN', actor: 't' });
        now += MINUTE;
        await rejectsUnchanged(() => request(PHONE_2), 'recently-requested');
        // Not a limit on her: she may ask herself, by keyword, at once.
        const own = {
          subject: PHONE_2,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        } as const;
        assert.equal((await ledger.requestConsent(own)).status, 'pending');
        // The limit is per purpose, as the others are.
        assert.equal((await request(PHONE_2, 'newsletter')).status, 'pending');
      });

      it('requests typed in for a number go unanswered three times a month at most, per purpose', async () => {
        const start = now;
        for (let i = 0; i < 3; i++) {
          await request();
          now += 5 * DAY;
        }
        // One whatsapp-send could not send does not count.
        now = start + 11 * DAY;
        await request(PHONE_2);
        await ledger.requestNotDelivered(PHONE_2, 'marketing', { actor: 'whatsapp-send' });
        for (let i = 0; i < 3; i++) {
          assert.equal((await request(PHONE_2)).status, 'pending');
          now += DAY;
        }
        await rejectsUnchanged(() => request(PHONE_2), 'unanswered-requests');
        await rejectsUnchanged(() => request(), 'unanswered-requests');
        // The last one stays open for her to confirm; another purpose is asked as before.
        assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.status, 'pending');
        assert.equal((await request(PHONE, 'newsletter')).status, 'pending');
        // Thirty days after the first, one may go again.
        now = start + 30 * DAY + 1;
        assert.equal((await request()).status, 'pending');
        now += 11 * 60_000;
        await rejectsUnchanged(() => request(), 'unanswered-requests');
        // Once she confirms, the number is hers: nothing more is asked, and nothing refused.
        await ledger.confirmConsent({ subject: PHONE, confirmationText: 'YES', actor: 't' });
        assert.equal((await request()).status, 'given');
      });

      it("a number's previous holder's unanswered requests do not hold back its next holder's", async () => {
        for (let i = 0; i < 3; i++) {
          await request();
          now += DAY;
        }
        await rejectsUnchanged(() => request(), 'unanswered-requests');
        await ledger.numberChanged({ phone: PHONE, actor: 't' });
        now += DAY;
        assert.equal((await request()).status, 'pending');
      });

      it('a request that could not be sent ends, may be asked again at once and counts against no limit', async () => {
        for (let i = 0; i < 4; i++) {
          await request();
          await ledger.requestNotDelivered(PHONE, 'marketing', { actor: 'whatsapp-send' });
          assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.status, 'expired');
        }
        assert.equal((await request()).status, 'pending', 'four failed sends blocked nothing');
        // Only a live request ends: one confirmed meanwhile stays given.
        await ledger.confirmConsent({ subject: PHONE, confirmationText: 'YES', actor: 't' });
        await ledger.requestNotDelivered(PHONE, 'marketing', { actor: 'whatsapp-send' });
        assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.status, 'given');
      });

      it('a request is open until she answers, stops, is erased or is asked again; only its own send failure ends it', async () => {
        const first = await request();
        const at = first.requestedAt as number;
        assert.equal(await ledger.isRequestOpen(PHONE, 'marketing', at), true);
        assert.equal(await ledger.isRequestOpen(PHONE, 'marketing', at - 1), false, 'another request');
        assert.equal(await ledger.isRequestOpen(PHONE_2, 'marketing', at), false, 'another person');
        assert.equal(await ledger.isRequestOpen(PHONE, 'newsletter', at), false, 'another purpose');
        // Asked again: the first is replaced, and a late failure of the first message leaves the second open.
        now += REQUEST_RESEND_MS + 1;
        const second = await request();
        const secondAt = second.requestedAt as number;
        assert.notEqual(secondAt, at);
        assert.equal(await ledger.isRequestOpen(PHONE, 'marketing', at), false, 'replaced');
        await ledger.requestNotDelivered(PHONE, 'marketing', { actor: 'whatsapp-send', requestedAt: at });
        assert.equal(await ledger.isRequestOpen(PHONE, 'marketing', secondAt), true, 'the newer one stays');
        await ledger.requestNotDelivered(PHONE, 'marketing', { actor: 'whatsapp-send', requestedAt: secondAt });
        assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.status, 'expired');
        assert.equal(await ledger.isRequestOpen(PHONE, 'marketing', secondAt), false, 'its own failure ends it');
        // A STOP ends an open request; so does an erasure; so does the time it is given.
        const third = await request();
        await ledger.withdrawConsent({ subject: PHONE, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
        assert.equal(await ledger.isRequestOpen(PHONE, 'marketing', third.requestedAt as number), false, 'STOP');
        const fourth = await request(PHONE_2);
        assert.equal(await ledger.isRequestOpen(PHONE_2, 'marketing', fourth.requestedAt as number), true);
        await ledger.eraseSubject(PHONE_2, 't');
        assert.equal(await ledger.isRequestOpen(PHONE_2, 'marketing', fourth.requestedAt as number), false, 'erased');
        await rejectsWith(ledger.isRequestOpen(PHONE, 'marketing', Number.NaN), 'invalid-input');
      });

      it('a request never ends a given consent, also not one given under an earlier wording', async () => {
        await giveByKeyword(PHONE);
        await reopenWithNewOffersWording();
        const before = await db.dump();
        const again = await ledger.requestConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: 'New offers wording.',
          method: 'web-form',
          actor: 'a stranger at the form',
        });
        assert.equal(again.status, 'given');
        assert.equal(again.wording, WORDING);
        assert.equal(await db.dump(), before, 'nothing written');
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).allowed, true);
      });

      it('refuse closes a pending request; without one it needs the wording', async () => {
        await request();
        const refused = await ledger.refuseConsent({ subject: PHONE, purpose: 'marketing', text: 'NO', actor: 't' });
        assert.equal(refused.status, 'refused');
        assert.equal(refused.confirmationText, 'NO');
        assert.deepEqual(await ledger.checkConsent(PHONE, 'marketing'), {
          allowed: false,
          status: 'refused',
          reason: 'consent-refused',
        });
        await rejectsUnchanged(
          () => ledger.refuseConsent({ subject: PHONE_2, purpose: 'marketing', actor: 't' }),
          'missing-wording',
        );
      });
    });

    describe('single-step consent and withdrawal', () => {
      it('a STOP while a purpose is out of the settings ends its consent too: putting it back messages nobody', async () => {
        await giveByKeyword(PHONE, 'newsletter');
        await giveByKeyword(PHONE_2, 'newsletter');
        await ledger.close();
        // One purpose left: an opt-out naming it covers every configured purpose, but it is no opt-out of everything.
        ledger = await open({ purposes: TEST_PURPOSES.filter((p) => p.id === 'marketing') });
        const stop = { channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' } as const;
        const changed = await ledger.withdrawUnlessErased({ ...stop, subject: PHONE });
        assert.deepEqual(Array.isArray(changed) && changed.map((c) => c.purpose), ['newsletter']);
        await ledger.withdrawUnlessErased({ ...stop, subject: PHONE_2, purposes: ['marketing'] });
        await ledger.close();
        ledger = await open({ purposes: TEST_PURPOSES });
        assert.equal((await ledger.checkConsent(PHONE, 'newsletter')).status, 'withdrawn');
        assert.equal((await ledger.checkConsent(PHONE_2, 'newsletter')).status, 'given');
        // The STOP's own record names the purpose it ended, so that it counts as her opt-out of it.
        const audit = (await ledger.exportSubject(PHONE, 't')).auditEvents.find(
          (e) => e.action === 'consent.withdrawn' && e.purpose === 'newsletter',
        );
        assert.deepEqual(audit?.detail?.scope, ['marketing', 'newsletter']);
      });

      it('a STOP of everything by user id ends removed purposes at the number the id is later seen with', async () => {
        await giveByKeyword(PHONE, 'newsletter');
        await ledger.close();
        ledger = await open({ purposes: TEST_PURPOSES.filter((p) => p.id !== 'newsletter') });
        // She hides her number behind a username and writes STOP; later she writes from her number with that id.
        await ledger.withdrawUnlessErased({ subject: { userId: 'DE.991' }, channel: 'whatsapp-keyword', actor: 't' });
        await ledger.recordNoticeShown({ phone: PHONE, userId: 'DE.991' }, 'n1', { actor: 't' });
        await ledger.close();
        ledger = await open({ purposes: TEST_PURPOSES });
        assert.equal((await ledger.checkConsent(PHONE, 'newsletter')).status, 'withdrawn');
      });

      it("a number's move while a purpose is out of the settings ends its consent: the next holder gets nothing", async () => {
        await giveByKeyword(PHONE, 'newsletter');
        await ledger.close();
        ledger = await open({ purposes: TEST_PURPOSES.filter((p) => p.id !== 'newsletter') });
        await ledger.numberChanged({ phone: PHONE, actor: 't' });
        await ledger.close();
        ledger = await open({ purposes: TEST_PURPOSES });
        assert.equal((await ledger.checkConsent(PHONE, 'newsletter')).allowed, false);
      });

      it('give stores a given consent; a repeated give with the same wording changes nothing', async () => {
        const given = await ledger.giveConsent({
          subject: PHONE,
          purpose: 'newsletter',
          wording: TEST_PURPOSES[1].wording.en,
          method: 'keyword',
          text: 'START',
          messageId: 'wamid.START',
          actor: 'node-2',
        });
        assert.equal(given.status, 'given');
        assert.equal(given.confirmationText, 'START');
        const before = await db.dump();
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'newsletter',
          wording: TEST_PURPOSES[1].wording.en,
          method: 'keyword',
          actor: 'node-2',
        });
        assert.equal(await db.dump(), before);
        await rejectsUnchanged(
          () =>
            ledger.giveConsent({ subject: PHONE, purpose: 'newsletter', wording: '', method: 'keyword', actor: 'x' }),
          'missing-wording',
        );
      });

      it('withdraw all purposes by default; the next check is blocked; history keeps the old record', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'newsletter',
          wording: 'Newsletter text',
          method: 'keyword',
          actor: 't',
        });
        now += 1000;
        const changed = await ledger.withdrawConsent({
          subject: PHONE,
          channel: 'whatsapp-keyword',
          keyword: 'STOP',
          text: 'Stop!',
          messageId: 'wamid.STOP',
          actor: 'stop-handler',
        });
        // marketing + newsletter withdrawn, orders (contract) recorded as an objection.
        assert.deepEqual(changed.map((r) => r.purpose).sort(), ['marketing', 'newsletter', 'orders']);
        for (const purpose of ['marketing', 'newsletter', 'orders']) {
          assert.deepEqual(await ledger.checkConsent(PHONE, purpose), {
            allowed: false,
            status: 'withdrawn',
            reason: 'consent-withdrawn',
          });
        }
        const record = await ledger.getConsent(PHONE, 'marketing');
        assert.equal(record?.withdrawalKeyword, 'STOP');
        assert.equal(record?.withdrawalText, 'Stop!');
        assert.equal(record?.withdrawalMessageId, 'wamid.STOP');
        assert.equal(record?.withdrawalChannel, 'whatsapp-keyword');
        assert.equal(record?.wording, WORDING);
        const again = await ledger.withdrawConsent({ subject: PHONE, channel: 'api', actor: 't' });
        assert.deepEqual(again, []);
        // Consent again later: a new record; the withdrawn one goes to history.
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'button',
          actor: 't',
        });
        const exported = await ledger.exportSubject(PHONE, 'admin');
        assert.equal(exported.history.filter((h) => h.purpose === 'marketing' && h.status === 'withdrawn').length, 1);
      });

      it('withdraw selected purposes only; unknown purposes are rejected before any write', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'newsletter',
          wording: 'N',
          method: 'keyword',
          actor: 't',
        });
        await rejectsUnchanged(
          () => ledger.withdrawConsent({ subject: PHONE, purposes: ['marketing', 'nope'], channel: 'api', actor: 't' }),
          'unknown-purpose',
        );
        await rejectsUnchanged(
          () => ledger.withdrawConsent({ subject: PHONE, channel: 'fax' as never, actor: 't' }),
          'invalid-input',
        );
        await ledger.withdrawConsent({
          subject: PHONE,
          purposes: ['marketing'],
          channel: 'meta-marketing-optout',
          actor: 'webhook',
        });
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'withdrawn');
        assert.equal((await ledger.checkConsent(PHONE, 'newsletter')).status, 'given');
        assert.equal((await ledger.checkConsent(PHONE, 'orders')).allowed, true);
      });

      it('records every opt-out keyword a STOP can match, however long; a longer one is refused before any write', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        const phrase = 'BITTE TRAGEN SIE MICH SOFORT AUS ALLEN IHREN WHATSAPP VERTEILERN AUS DANKE';
        // The longest keyword a stop-handler keeps from its settings, as matching returns it.
        const longest = parseKeywordList(
          `${phrase} ${'X'.repeat(KEYWORD_MAX_LENGTH)}`.slice(0, KEYWORD_MAX_LENGTH),
          [],
        )[0];
        assert.equal(longest.length, KEYWORD_MAX_LENGTH);
        await rejectsUnchanged(
          () =>
            ledger.withdrawConsent({
              subject: PHONE,
              channel: 'whatsapp-keyword',
              keyword: `${longest}X`,
              actor: 't',
            }),
          'invalid-input',
        );
        for (const keyword of [phrase, longest]) {
          await ledger.giveConsent({
            subject: PHONE,
            purpose: 'marketing',
            wording: WORDING,
            method: 'keyword',
            actor: 't',
          });
          await ledger.withdrawConsent({
            subject: PHONE,
            purposes: ['marketing'],
            channel: 'whatsapp-keyword',
            keyword,
            actor: 't',
          });
          assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.withdrawalKeyword, keyword);
        }
      });

      it('a STOP from an erased person stores nothing about her, also when someone else asked for her consent since', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await ledger.eraseSubject(PHONE, 't');
        now += OPTED_OUT_REQUEST_PAUSE_MS + 1000; // before, a form may not ask for her at all
        await ledger.requestConsent({
          subject: PHONE,
          purpose: 'newsletter',
          wording: 'N',
          method: 'web-form',
          actor: 'form',
        });
        now += 3 * DAY; // the request expired unanswered
        await ledger.sweepRetention();
        const before = await db.dump();
        assert.equal(
          await ledger.withdrawUnlessErased({
            subject: PHONE,
            channel: 'whatsapp-keyword',
            keyword: 'STOP',
            sentAt: now - 1000,
            actor: 't',
          }),
          'erased',
        );
        // One pseudonymous audit entry that an opt-out came, and when: a START she sent before it and Meta delivers
        // later must not sign her up. Every other table is as it was.
        const withoutAudit = (dump: string) => dump.replace(/^audit(_anchor)?:.*$/gm, '');
        assert.equal(withoutAudit(await db.dump()), withoutAudit(before));
        const entries = await db.all(
          "SELECT pseudonym, outcome, detail FROM audit WHERE action = 'consent.withdrawn' ORDER BY seq",
        );
        const latest = entries.at(-1) as { pseudonym: string; outcome: string; detail: string };
        assert.equal(latest.outcome, 'erased');
        assert.deepEqual(JSON.parse(latest.detail), {
          channel: 'whatsapp-keyword',
          keyword: 'STOP',
          scope: ['marketing', 'newsletter', 'orders'],
          sentAt: now - 1000,
        });
        assert.ok(!latest.detail.includes(PHONE.slice(1)), 'no number in it');
      });

      it('a STOP with her number and a user id erased on its own refuses a START she sent by the id before it', async () => {
        await ledger.eraseSubject({ userId: 'DE.1002' }, 't');
        now += 31 * DAY;
        await ledger.sweepRetention();
        await ledger.withdrawUnlessErased({
          subject: { phone: PHONE, userId: 'DE.1002' },
          channel: 'whatsapp-keyword',
          keyword: 'STOP',
          actor: 't',
        });
        now += 1000;
        // Her START by the id alone, sent before the STOP and delivered after it (the property test found this).
        await rejectsWith(
          ledger.giveConsent({
            subject: { userId: 'DE.1002' },
            purpose: 'marketing',
            wording: WORDING,
            method: 'keyword',
            inboundAt: now - 2 * 3_600_000,
            actor: 't',
          }),
          'superseded',
        );
        assert.equal((await ledger.checkConsent({ userId: 'DE.1002' }, 'marketing')).allowed, false);
      });

      it('a STOP from a person who was erased and signed up again withdraws', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await ledger.eraseSubject(PHONE, 't');
        assert.equal(
          await ledger.withdrawUnlessErased({ subject: PHONE, channel: 'whatsapp-keyword', actor: 't' }),
          'erased',
        );
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'web-form',
          actor: 't',
        });
        const changed = await ledger.withdrawUnlessErased({ subject: PHONE, channel: 'whatsapp-keyword', actor: 't' });
        assert.notEqual(changed, 'erased');
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'withdrawn');
      });

      it('an opt-out with nothing on record is still audited', async () => {
        const changed = await ledger.withdrawConsent({
          subject: PHONE,
          purposes: ['marketing'],
          channel: 'whatsapp-keyword',
          actor: 't',
        });
        assert.deepEqual(changed, []);
        const rows = await db.all("SELECT outcome FROM audit WHERE action = 'consent.withdrawn'");
        assert.deepEqual(
          rows.map((r) => r.outcome),
          ['nothing-to-withdraw'],
        );
      });

      it("one person's sign-up leaves another's STOP as it was", async () => {
        const stop = (subject: string) => ledger.withdrawConsent({ subject, channel: 'whatsapp-keyword', actor: 't' });
        for (const subject of [PHONE, PHONE_2]) {
          await giveByKeyword(subject);
          await stop(subject);
        }
        await giveByKeyword(PHONE);
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'given');
        for (const purpose of ['marketing', 'newsletter', 'orders']) {
          assert.equal((await ledger.checkConsent(PHONE_2, purpose)).allowed, false, purpose);
        }
        assert.equal((await ledger.checkConsent(PHONE_2, 'marketing')).status, 'withdrawn');
      });

      it('concurrent give and withdraw leave the state of the later action', async () => {
        for (let round = 0; round < 10; round += 1) {
          const subject = `+49151000000${10 + round}`;
          await Promise.all([
            ledger.giveConsent({ subject, purpose: 'marketing', wording: WORDING, method: 'keyword', actor: 'give' }),
            ledger.withdrawConsent({ subject, purposes: ['marketing'], channel: 'api', actor: 'withdraw' }),
          ]);
          const p = (await ledger.exportSubject(subject, 'a')).pseudonym;
          // Changes are serial, so the audit order is the commit order: a withdrawal that ran first and found
          // nothing is audited before the give.
          const last = await db.all(
            "SELECT actor, outcome FROM audit WHERE pseudonym = ? AND action IN ('consent.given', 'consent.withdrawn') ORDER BY seq DESC LIMIT 1",
            [p],
          );
          const expected = last[0].actor === 'give' ? 'given' : 'withdrawn';
          if (last[0].actor === 'withdraw') assert.notEqual(last[0].outcome, 'nothing-to-withdraw');
          assert.equal((await ledger.checkConsent(subject, 'marketing')).status, expected);
        }
      });
    });

    describe('checks', () => {
      it('answers every status with its reason', async () => {
        assert.deepEqual(await ledger.checkConsent(PHONE, 'unknown'), {
          allowed: false,
          status: 'unknown-purpose',
          reason: 'unknown-purpose',
        });
        assert.deepEqual(await ledger.checkConsent(PHONE, 'marketing'), {
          allowed: false,
          status: 'none',
          reason: 'no-consent',
        });
        assert.deepEqual(await ledger.checkConsent(PHONE, 'orders'), {
          allowed: true,
          status: 'none',
          reason: 'lawful-basis-contract',
        });
        await rejectsWith(ledger.checkConsent('12', 'marketing'), 'invalid-phone');
      });

      it('finds one subject under every common way of writing the number', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        for (const variant of ['+49 151 23456789', '004915123456789', '4915123456789', '+49 (151) 234-56789']) {
          assert.equal((await ledger.checkConsent(variant, 'marketing')).allowed, true, variant);
        }
        assert.equal((await ledger.checkConsent({ waId: '4915123456789' }, 'marketing')).allowed, true);
        assert.equal((await ledger.checkConsent(PHONE_2, 'marketing')).allowed, false);
      });

      it("a business-scoped user id seen with the number finds the number's consent", async () => {
        await ledger.giveConsent({
          subject: { phone: PHONE, userId: 'DE.1234567890123' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        assert.equal((await ledger.checkConsent({ userId: 'DE.1234567890123' }, 'marketing')).allowed, true);
        await ledger.withdrawConsent({ subject: { userId: 'DE.1234567890123' }, channel: 'api', actor: 't' });
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'withdrawn');
        // A user id alone is a subject of its own.
        await ledger.giveConsent({
          subject: { userId: 'DE.999' },
          purpose: 'newsletter',
          wording: 'N',
          method: 'keyword',
          actor: 't',
        });
        assert.equal((await ledger.checkConsent({ userId: 'DE.999' }, 'newsletter')).allowed, true);
        await rejectsWith(ledger.checkConsent({ userId: 'has space' }, 'newsletter'), 'invalid-subject');
      });

      it('marks usage in batches: nothing written until the flush, one flush for many marks', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        const before = await db.dump();
        for (let i = 0; i < 50; i += 1) ledger.markUsed(PHONE, 'marketing');
        const usedAt = now;
        assert.equal(await db.dump(), before);
        now += 5000;
        assert.equal(await ledger.flushUsage(), 1);
        assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.lastUsedAt, usedAt, 'when used, not when flushed');
        assert.throws(() => ledger.markUsed(PHONE, 'nope'), GdprWhatsAppError);
      });

      it('stamps no use on a consent withdrawn, or given anew, between the use and the flush', async () => {
        const give = () =>
          ledger.giveConsent({ subject: PHONE, purpose: 'marketing', wording: WORDING, method: 'keyword', actor: 't' });
        await give();
        ledger.markUsed(PHONE, 'marketing');
        now += 1000;
        await ledger.withdrawConsent({ subject: PHONE, purposes: ['marketing'], channel: 'api', actor: 't' });
        now += 1000;
        await ledger.flushUsage();
        const withdrawn = await ledger.getConsent(PHONE, 'marketing');
        assert.equal(withdrawn?.status, 'withdrawn');
        assert.equal(withdrawn?.lastUsedAt, undefined, 'the proof must not show a use after the withdrawal');
        ledger.markUsed(PHONE, 'marketing'); // a check that was already under way
        now += 1000;
        await give();
        await ledger.flushUsage();
        assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.lastUsedAt, undefined, 'not the new consent');
      });

      it('close flushes pending usage marks', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        ledger.markUsed(PHONE, 'marketing');
        await ledger.close();
        const rows = await db.all('SELECT last_used_at FROM consents');
        assert.equal(Number(rows[0].last_used_at), now);
      });
    });

    describe('notices, service window, blocks', () => {
      it('records which notice version a subject has seen', async () => {
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), false);
        await ledger.recordNoticeShown(PHONE, 'n1', { messageId: 'wamid.N', actor: 'privacy-notice' });
        assert.equal(await ledger.hasSeenNotice('+49 151 23456789', 'n1'), true);
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n2'), false);
        assert.deepEqual(events.at(-1)?.type, 'notice.shown');
        await rejectsUnchanged(() => ledger.recordNoticeShown(PHONE, '', { actor: 't' }), 'invalid-input');
      });

      it('records no notice for a person erased meanwhile: her number is not written back, no event names her', async () => {
        // The notice was decided on before her erasure committed (one webhook with "delete my data" and "hello").
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 't' });
        await ledger.eraseSubject(PHONE, 'admin');
        const eventsBefore = events.length;
        const auditBefore = (await db.all('SELECT COUNT(*) AS n FROM audit'))[0].n;
        assert.equal(await ledger.recordNoticeShown(PHONE, 'n2', { messageId: 'wamid.late', actor: 't' }), false);
        assert.deepEqual(await db.all('SELECT pseudonym FROM subjects'), []);
        assert.deepEqual(await db.all('SELECT pseudonym FROM notices'), []);
        assert.equal((await db.all('SELECT COUNT(*) AS n FROM audit'))[0].n, auditBefore);
        assert.equal(events.length, eventsBefore);
        // Signed up again since: her notices are recorded again.
        await giveByKeyword(PHONE);
        assert.equal(await ledger.recordNoticeShown(PHONE, 'n2', { actor: 't' }), true);
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n2'), true);
      });

      it('forgets a notice whose message Meta reported failed, and only that notice', async () => {
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'notice' });
        await ledger.noticeSent(PHONE, 'n1', 'wamid.NOTICE', { actor: 'send' });
        await ledger.recordNoticeShown(PHONE_2, 'n1', { actor: 'notice' });
        await ledger.noticeSent(PHONE_2, 'n1', 'wamid.PHONE_2', { actor: 'send' });
        // The message id is kept only encrypted and as a keyed hash.
        const [row] = await db.all('SELECT message_id_enc, message_ref FROM notices WHERE message_ref IS NOT NULL');
        assert.doesNotMatch(JSON.stringify(row), /wamid/);
        assert.equal((await ledger.exportSubject(PHONE, 't')).notices[0].messageId, 'wamid.NOTICE');
        assert.equal(await ledger.messagesFailed(['wamid.SOMETHING-ELSE'], { actor: 'hook' }), 0);
        assert.equal(await ledger.messagesFailed(['wamid.NOTICE', 'wamid.NOTICE'], { actor: 'hook' }), 1);
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), false);
        assert.equal(await ledger.hasSeenNotice(PHONE_2, 'n1'), true);
        const undelivered = await db.all("SELECT actor, detail FROM audit WHERE action = 'notice.undelivered'");
        assert.equal(undelivered.length, 1);
        assert.equal(undelivered[0].actor, 'hook');
        // Shown again: the new showing is not found by the old message's id.
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'notice' });
        assert.equal(await ledger.messagesFailed(['wamid.NOTICE'], { actor: 'hook' }), 0);
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), true);
        await rejectsUnchanged(() => ledger.noticeSent(PHONE, 'n1', '', { actor: 'send' }), 'invalid-input');
      });

      it('checks who on staff handled a request before anything is written', async () => {
        await giveByKeyword(PHONE);
        for (const requestedBy of [
          'two\nlines',
          '\u202eJana',
          '+49 170 1234567',
          '0170 1234567',
          '4917012345678',
          // An e-mail address, hers or staff's, would stay in the audit log after her erasure.
          'Anfrage von erika.mustermann@example.de',
          'jana.k@shop.example',
          ' ',
          'x'.repeat(129),
        ]) {
          await rejectsUnchanged(() => ledger.eraseSubject(PHONE, 'admin', { requestedBy }), 'invalid-requested-by');
          await rejectsUnchanged(() => ledger.exportSubject(PHONE, 'admin', { requestedBy }), 'invalid-requested-by');
        }
        // Names, ticket numbers, dates and times are fine, and a team's handle.
        for (const requestedBy of ['Ticket 2026-11-30/4711', 'Jana, 10:00 REQ-0012345678', 'Jana K. @datenschutz']) {
          await ledger.exportSubject(PHONE, 'admin', { requestedBy });
        }
        await ledger.eraseSubject(PHONE, 'admin', { requestedBy: '  Jana K., ticket 4711  ' });
        const [erased] = await db.all("SELECT detail FROM audit WHERE action = 'dsr.erasure_executed'");
        assert.equal(JSON.parse(String(erased.detail)).requestedBy, 'Jana K., ticket 4711');
      });

      it('keeps a showing whose message was named when the same notice is shown again (two instances)', async () => {
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'instance-1' });
        await ledger.noticeSent(PHONE, 'n1', 'wamid.ONE', { actor: 'send' });
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'instance-2' });
        await ledger.noticeSent(PHONE, 'n1', 'wamid.TWO', { actor: 'send' });
        assert.equal((await ledger.exportSubject(PHONE, 't')).notices.length, 2);
        // One of them failing leaves the other, which reached her.
        assert.equal(await ledger.messagesFailed(['wamid.ONE'], { actor: 'hook' }), 1);
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), true);
        assert.equal(await ledger.messagesFailed(['wamid.TWO'], { actor: 'hook' }), 1);
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), false);
      });

      it("undoes only the second instance's showing when its send fails, so the delivered one keeps its proof", async () => {
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'instance-1' });
        await ledger.noticeSent(PHONE, 'n1', 'wamid.ONE', { actor: 'send' });
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'instance-2' });
        await ledger.noticeNotDelivered(PHONE, 'n1', { actor: 'send' });
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), true);
        assert.deepEqual(
          (await ledger.exportSubject(PHONE, 't')).notices.map((n) => n.messageId),
          ['wamid.ONE'],
        );
      });

      it('keeps two showings decided at once apart: she has seen it while one of them is neither failed nor undone', async () => {
        // Both instances record before either send's answer; the answers and failures come in any order.
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'instance-1' });
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'instance-2' });
        await ledger.noticeSent(PHONE, 'n1', 'wamid.ONE', { actor: 'send' });
        await ledger.noticeNotDelivered(PHONE, 'n1', { actor: 'send' }); // the other send failed at once
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), true, 'ONE reached her');
        assert.deepEqual(
          (await ledger.exportSubject(PHONE, 't')).notices.map((n) => n.messageId),
          ['wamid.ONE'],
        );
        await ledger.recordNoticeShown(PHONE_2, 'n1', { actor: 'instance-1' });
        await ledger.recordNoticeShown(PHONE_2, 'n1', { actor: 'instance-2' });
        await ledger.noticeSent(PHONE_2, 'n1', 'wamid.A', { actor: 'send' });
        await ledger.noticeSent(PHONE_2, 'n1', 'wamid.B', { actor: 'send' });
        assert.equal(await ledger.messagesFailed(['wamid.B'], { actor: 'hook' }), 1);
        assert.equal(await ledger.hasSeenNotice(PHONE_2, 'n1'), true, 'A reached her');
        assert.equal(await ledger.messagesFailed(['wamid.A'], { actor: 'hook' }), 1);
        assert.equal(await ledger.hasSeenNotice(PHONE_2, 'n1'), false);
      });

      it('forgets a notice whose failure was reported before its message id was recorded', async () => {
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 'notice' });
        // The status webhook overtook the send's answer: its claim is all the ledger has of it.
        await ledger.claimAll(['status:wamid.FAST:delivered'], 60_000);
        await ledger.noticeSent(PHONE, 'n1', 'wamid.FAST', { actor: 'send' });
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), true);
        await ledger.recordNoticeShown(PHONE, 'n2', { actor: 'notice' });
        await ledger.claimAll(['status:wamid.FASTER:failed'], 60_000);
        await ledger.noticeSent(PHONE, 'n2', 'wamid.FASTER', { actor: 'send' });
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n2'), false);
        assert.equal(await ledger.hasSeenNotice(PHONE, 'n1'), true, 'another version stays');
        // Nothing is recorded for a notice no longer on record (an erasure in between).
        await ledger.eraseSubject(PHONE, 'admin');
        const before = await db.dump();
        await ledger.noticeSent(PHONE, 'n1', 'wamid.GONE', { actor: 'send' });
        assert.equal(await db.dump(), before);
      });

      it('remembers the last inbound time without storing the number', async () => {
        assert.equal(await ledger.lastInboundAt(PHONE), undefined);
        await ledger.recordInbound(PHONE, now - 5000);
        await ledger.recordInbound(PHONE, now - 9000);
        assert.equal(await ledger.lastInboundAt(PHONE), now - 5000);
        const rows = await db.all('SELECT phone_enc FROM subjects');
        assert.equal(rows[0].phone_enc, null);
        await rejectsUnchanged(() => ledger.recordInbound(PHONE, -1), 'invalid-input');
      });

      it('audits a blocked send pseudonymously', async () => {
        await ledger.recordBlocked(PHONE, 'marketing', 'no-consent', 'gate-1');
        const rows = await db.all("SELECT * FROM audit WHERE action = 'send.blocked'");
        assert.equal(rows.length, 1);
        assert.equal(rows[0].purpose, 'marketing');
        assert.doesNotMatch(JSON.stringify(rows), /15123456789/);
      });
    });

    describe('data subject rights', () => {
      it('erase removes every personal datum, keeps suppression and audit, and blocks later checks', async () => {
        const subject = { phone: PHONE, userId: 'DE.55', name: 'Erika Mustermann' };
        await request();
        await ledger.confirmConsent({ subject, confirmationText: 'YES', actor: 't' });
        await ledger.recordNoticeShown(PHONE, 'n1', { actor: 't' });
        await ledger.giveConsent({
          subject: PHONE_2,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        const auditBefore = (await db.all('SELECT COUNT(*) AS n FROM audit'))[0].n;
        const report = await ledger.eraseSubject('+49 151 23456789', 'admin:alice');
        assert.equal(report.found, true);
        assert.equal(report.removed.subjects, 1);
        assert.equal(report.removed.consents, 1);
        assert.equal(report.removed.notices, 1);
        assert.equal(report.removed.aliases, 1);
        assert.equal(report.at, now);
        for (const table of ['subjects', 'consents', 'consent_history', 'notices', 'subject_aliases']) {
          const rows = await db.all(`SELECT * FROM ${table} WHERE pseudonym = ?`, [report.pseudonym]);
          assert.equal(rows.length, 0, table);
        }
        assert.equal(Number((await db.all('SELECT COUNT(*) AS n FROM audit'))[0].n), Number(auditBefore) + 1);
        assert.deepEqual(await ledger.checkConsent(PHONE, 'marketing'), {
          allowed: false,
          status: 'erased',
          reason: 'subject-erased',
        });
        assert.equal((await ledger.checkConsent(PHONE, 'orders')).allowed, false);
        // The user id linked to the number is erased with it: a message by user id alone finds the erasure.
        assert.equal((await ledger.checkConsent({ userId: 'DE.55' }, 'marketing')).status, 'erased');
        assert.equal((await ledger.checkConsent({ userId: 'DE.55' }, 'orders')).allowed, false);
        assert.equal(await ledger.isSuppressed(PHONE), true);
        assert.equal(await ledger.isSuppressed(PHONE_2), false);
        assert.equal((await ledger.checkConsent(PHONE_2, 'marketing')).allowed, true);
        const after = await ledger.exportSubject(PHONE, 'admin');
        assert.equal(after.found, false);
        assert.equal(after.erased?.at, now);
        assert.equal(events.at(-1)?.type, 'subject.erased');
        assert.equal((await ledger.verifyAudit()).ok, true);
      });

      it("erase removes a wording written for her alone, and keeps one that others' records use", async () => {
        const own = 'I, Zacharias Quellenhof of Musterweg 5, agree to the newsletter.';
        await ledger.requestConsent({
          subject: PHONE,
          purpose: 'newsletter',
          wording: own,
          language: 'en',
          method: 'web-form',
          actor: 't',
        });
        await ledger.confirmConsent({ subject: PHONE, confirmationText: 'YES', actor: 't' });
        await giveByKeyword(PHONE);
        await giveByKeyword(PHONE_2);
        const texts = async () =>
          (await db.all('SELECT text FROM wordings ORDER BY text')).map((row) => String(row.text));
        assert.equal((await texts()).includes(own), true);
        const report = await ledger.eraseSubject(PHONE, 'admin');
        assert.equal(report.removed.wordings, 1);
        assert.deepEqual(await texts(), [WORDING]);
        assert.equal((await ledger.checkConsent(PHONE_2, 'marketing')).allowed, true);
        assert.equal((await ledger.verifyAudit()).ok, true);
      });

      it('an erased person who writes again gets what needs no consent again; consent and her objection still count', async () => {
        await giveByKeyword(PHONE);
        await giveByKeyword(PHONE_2);
        await ledger.withdrawUnlessErased({ subject: PHONE_2, purposes: ['orders'], channel: 'admin', actor: 't' });
        await ledger.eraseSubject(PHONE, 'admin');
        await ledger.eraseSubject(PHONE_2, 'admin');
        const orders = async (phone: string) => (await ledger.checkConsent(phone, 'orders')).allowed;
        assert.equal(await orders(PHONE), false, 'erased: no order updates');
        // A message she sent before the erasure, delivered after it, and a request anyone could type in: not her.
        await ledger.recordInbound(PHONE, now - 1000);
        await ledger.requestConsent({
          subject: PHONE,
          purpose: 'orders',
          wording: WORDING,
          language: 'en',
          method: 'web-form',
          actor: 't',
        });
        assert.equal(await orders(PHONE), false, 'neither brings her back');
        // She writes: her order updates go again, a purpose that needs consent still needs a new one.
        await ledger.recordInbound(PHONE, now + 1000);
        assert.deepEqual(await ledger.checkConsent(PHONE, 'orders'), {
          allowed: true,
          status: 'pending',
          reason: 'lawful-basis-contract',
        });
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).allowed, false);
        // Her objection outlives her erasure and her return.
        await ledger.recordInbound(PHONE_2, now + 1000);
        assert.equal(await orders(PHONE_2), false, 'the objection still forbids');
        assert.equal((await ledger.checkConsent(PHONE_2, 'orders')).status, 'withdrawn');
        // Her access answer says so (Art. 15): the objection's record went with the erasure, its effect did not.
        const exported = await ledger.exportSubject(PHONE_2, 'admin');
        assert.deepEqual(exported.consents, []);
        assert.deepEqual(exported.keptObjections, [{ purpose: 'orders', lawfulBasis: 'contract' }]);
        assert.equal((await ledger.exportSubject(PHONE, 'admin')).keptObjections, undefined, 'she objected to nothing');
      });

      it("lists no earlier holder's objection as hers, and one still in effect behind a request pending since", async () => {
        const objectToOrders = (phone: string) =>
          ledger.withdrawUnlessErased({ subject: phone, purposes: ['orders'], channel: 'admin', actor: 't' });
        // The number's earlier holder objected and moved away; the new holder is erased and writes again.
        await giveByKeyword(PHONE_3);
        await objectToOrders(PHONE_3);
        now += 60_000;
        await ledger.numberChanged({ phone: PHONE_3, actor: 't' });
        now += 60_000;
        await ledger.recordInbound(PHONE_3, now);
        now += 60_000;
        await ledger.eraseSubject(PHONE_3, 'admin', { beforeNumberChange: false });
        now += 60_000;
        await ledger.recordInbound(PHONE_3, now);
        const newHolder = await ledger.exportSubject(PHONE_3, 'admin', { beforeNumberChange: false });
        assert.equal(newHolder.keptObjections, undefined, "the objection was the earlier holder's");
        // Her own objection, erased, then a request typed into a form for the purpose: the objection still forbids.
        await giveByKeyword(PHONE_2);
        await objectToOrders(PHONE_2);
        await ledger.eraseSubject(PHONE_2, 'admin');
        now += 60_000;
        await ledger.recordInbound(PHONE_2, now);
        await request(PHONE_2, 'orders');
        assert.equal((await ledger.checkConsent(PHONE_2, 'orders')).allowed, false);
        const behindRequest = await ledger.exportSubject(PHONE_2, 'admin');
        assert.deepEqual(
          behindRequest.consents.map((c) => [c.purpose, c.status]),
          [['orders', 'pending']],
        );
        assert.deepEqual(behindRequest.keptObjections, [{ purpose: 'orders', lawfulBasis: 'contract' }]);
      });

      it('an erased person who came back keeps her STOP, one sent since and one carried to her number', async () => {
        const stop = (subject: Parameters<ConsentLedger['withdrawUnlessErased']>[0]['subject']) =>
          ledger.withdrawUnlessErased({ subject, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
        let key = 0;
        // As the webhook records it: the time when the delivery is claimed, before stop-handler reads the text.
        const writes = (phone: string) => {
          const k = `wamid.w${key++}`;
          return ledger.claimAll([k], 60_000, [{ key: k, subject: { phone }, at: now }]);
        };
        const orders = async (phone: string) => (await ledger.checkConsent(phone, 'orders')).status;
        // Her STOP while erased is kept only in the audit log; it brings her back, and forbids her order updates.
        await giveByKeyword(PHONE);
        await ledger.eraseSubject(PHONE, 'admin');
        now += DAY;
        await writes(PHONE);
        assert.equal(await stop(PHONE), 'erased');
        assert.equal(await orders(PHONE), 'withdrawn', 'her STOP since the erasure');
        // Her STOP by user id alone reached her number's records carried over: it outlives her erasure too.
        await stop({ userId: 'DE.1234567' });
        await giveByKeyword({ phone: PHONE_2, userId: 'DE.1234567' });
        await ledger.eraseSubject(PHONE_2, 'admin');
        now += DAY;
        await writes(PHONE_2);
        assert.equal(await orders(PHONE_2), 'withdrawn', 'her STOP carried from her user id');
      });

      it('after an erasure a reaction does not bring her back, also not to a request typed in for her number', async () => {
        await giveByKeyword(PHONE);
        await ledger.eraseSubject(PHONE, 'admin');
        now += DAY;
        await request(PHONE);
        // Her 👍 on the request's message.
        await ledger.claimAll(['wamid.r'], 60_000, [
          { key: 'wamid.r', subject: { phone: PHONE }, at: now, reaction: true },
        ]);
        assert.equal(await ledger.lastInboundAt(PHONE), undefined);
        assert.equal((await ledger.checkConsent(PHONE, 'orders')).status, 'erased');
      });

      it('lists a name among the categories of her data only when one is held', async () => {
        await giveByKeyword(PHONE);
        const without = await ledger.exportSubject(PHONE, 'admin');
        assert.equal(without.subject?.name, undefined);
        assert.deepEqual(without.information.categories, [
          'phone-number',
          'whatsapp-ids',
          'consent-records',
          'notices-shown',
          'audit-events',
        ]);
        // An integrator may pass one with a subject: then it is held, and said.
        await giveByKeyword({ phone: PHONE_2, name: 'Erika Mustermann' });
        const named = await ledger.exportSubject(PHONE_2, 'admin');
        assert.equal(named.subject?.name, 'Erika Mustermann');
        assert.ok(named.information.categories.includes('profile-name'));
      });

      it('states with the data what Art. 15 asks besides it: purposes, recipients, retention, sources, rights', async () => {
        await giveByKeyword(PHONE);
        const { information } = await ledger.exportSubject(PHONE, 'admin');
        assert.deepEqual(
          information.purposes.map((p) => [p.id, p.lawfulBasis, p.marketing]),
          [
            ['marketing', 'consent', true],
            ['newsletter', 'consent', false],
            ['orders', 'contract', false],
          ],
        );
        assert.equal(information.recipients[0].name, 'Meta Platforms Ireland Limited');
        assert.equal(information.recipients[0].role, 'processor');
        assert.ok(information.recipients[0].thirdCountryTransfers.some((t) => t.startsWith('US: ')));
        assert.deepEqual(
          [
            information.retention.pendingRequestHours,
            information.retention.personalDataAfterEndDays,
            information.retention.consentAfterPurposeRemovedDays,
            information.retention.proofYears,
          ],
          [48, 30, 30, 5],
        );
        assert.deepEqual(
          information.rights.map((r) => r.article),
          ['Art. 15 GDPR', 'Art. 16 GDPR', 'Art. 17 GDPR', 'Art. 18 GDPR', 'Art. 20 GDPR', 'Art. 21 GDPR'].concat([
            'Art. 7(3) GDPR',
            'Art. 77 GDPR',
          ]),
        );
        assert.equal(information.automatedDecisions, 'none');
        // Also for a person the store knows nothing about: the answer to her request states the same.
        assert.deepEqual((await ledger.exportSubject(PHONE_2, 'admin')).information, information);
        // The controller adds its own recipients to one document; the next one starts afresh.
        information.recipients.push({ name: 'CRM GmbH', role: 'processor', service: 'CRM', thirdCountryTransfers: [] });
        assert.equal((await ledger.exportSubject(PHONE, 'admin')).information.recipients.length, 1);
      });

      it('export and erase include what was kept under the user id before the number was known', async () => {
        const byUserId = { userId: 'DE.77', name: 'Erika Mustermann' };
        await ledger.giveConsent({
          subject: byUserId,
          purpose: 'newsletter',
          wording: WORDING,
          method: 'keyword',
          text: 'START',
          actor: 't',
        });
        await ledger.recordNoticeShown(byUserId, 'n1', { actor: 't' });
        // The number arrives later, with the same user id: the two are linked from now on.
        await ledger.recordNoticeShown({ phone: PHONE, userId: 'DE.77' }, 'n2', { actor: 't' });
        await giveByKeyword(PHONE);

        const doc = await ledger.exportSubject(PHONE, 'admin');
        assert.deepEqual(doc.consents.map((c) => c.purpose).sort(), ['marketing', 'newsletter']);
        assert.equal(doc.consents.find((c) => c.purpose === 'newsletter')?.confirmationText, 'START');
        assert.deepEqual(doc.notices.map((n) => n.noticeVersion).sort(), ['n1', 'n2']);
        assert.equal(doc.subject?.phone, PHONE);
        assert.equal(doc.subject?.name, 'Erika Mustermann', 'known only from the record under the user id');
        assert.ok(doc.auditEvents.some((e) => e.purpose === 'newsletter'));

        const report = await ledger.eraseSubject(PHONE, 'admin');
        assert.equal(report.removed.consents, 2);
        assert.equal(report.removed.subjects, 2);
        for (const table of ['subjects', 'consents', 'consent_history', 'notices', 'subject_aliases']) {
          assert.deepEqual(await db.all(`SELECT * FROM ${table}`), [], table);
        }
        for (const subject of [PHONE, { userId: 'DE.77' }]) {
          assert.equal((await ledger.checkConsent(subject, 'newsletter')).status, 'erased');
          assert.equal((await ledger.checkConsent(subject, 'orders')).allowed, false);
          assert.equal((await ledger.exportSubject(subject, 'admin')).found, false);
        }
        assert.equal(
          await ledger.withdrawUnlessErased({ subject: { userId: 'DE.77' }, channel: 'whatsapp-keyword', actor: 't' }),
          'erased',
          'a later STOP by user id writes nothing about the person',
        );
      });

      it('erasing by user id alone reaches the number it was linked to, and the number is named once', async () => {
        await giveByKeyword({ userId: 'DE.78' }, 'newsletter');
        await ledger.recordNoticeShown({ phone: PHONE, userId: 'DE.78' }, 'n1', { actor: 't' });
        events.length = 0;
        const report = await ledger.eraseSubject({ userId: 'DE.78' }, 'admin');
        assert.equal(report.found, true);
        assert.deepEqual(await db.all('SELECT * FROM consents'), []);
        // Before, the consent under the user id showed again once the link was gone.
        assert.equal((await ledger.checkConsent({ userId: 'DE.78' }, 'newsletter')).status, 'erased');
        assert.equal((await ledger.checkConsent(PHONE, 'newsletter')).status, 'erased');
        const erased = events.find((e) => e.type === 'subject.erased');
        assert.equal(erased?.phone, PHONE, 'so a CRM can delete the person by number too');
      });

      it('erasing an unknown subject reports that nothing was found', async () => {
        const report = await ledger.eraseSubject(PHONE, 'admin');
        assert.equal(report.found, false);
        assert.ok(Object.values(report.removed).every((n) => n === 0));
        await rejectsUnchanged(() => ledger.eraseSubject('nonsense', 'admin'), 'invalid-phone');
      });

      it('export returns everything about one subject, decrypted, and audits the access', async () => {
        const subject = { phone: PHONE, waId: '4915123456789', name: 'Erika' };
        await ledger.requestConsent({
          subject,
          purpose: 'marketing',
          wording: WORDING,
          method: 'web-form',
          noticeVersion: 'n1',
          actor: 't',
        });
        await ledger.confirmConsent({ subject: PHONE, confirmationText: 'YES', actor: 't' });
        await ledger.recordNoticeShown(PHONE, 'n1', { messageId: 'wamid.N1', actor: 't' });
        await ledger.recordInbound(PHONE, now);
        const doc = await ledger.exportSubject(PHONE, 'admin:bob');
        assert.equal(doc.found, true);
        assert.deepEqual(doc.subject, {
          phone: PHONE,
          waId: '4915123456789',
          userId: undefined,
          name: 'Erika',
          firstSeenAt: now,
          lastInboundAt: now,
          previousInboundAt: undefined,
        });
        assert.equal(doc.consents[0].confirmationText, 'YES');
        assert.equal(doc.consents[0].noticeVersion, 'n1');
        assert.equal(doc.notices[0].messageId, 'wamid.N1');
        assert.deepEqual(
          doc.auditEvents.map((e) => e.action),
          ['consent.requested', 'consent.confirmed', 'notice.shown', 'dsr.access_fulfilled'],
        );
        // Art. 15: what each event recorded besides is hers too (which notice, when and how she opted out).
        assert.deepEqual(doc.auditEvents.find((e) => e.action === 'notice.shown')?.detail, { noticeVersion: 'n1' });
        await ledger.withdrawUnlessErased({
          subject: PHONE,
          channel: 'whatsapp-keyword',
          keyword: 'STOP',
          sentAt: now - 1000,
          actor: 't',
        });
        const withdrawn = (await ledger.exportSubject(PHONE, 'admin:bob')).auditEvents.find(
          (e) => e.action === 'consent.withdrawn',
        );
        assert.equal(withdrawn?.detail?.keyword, 'STOP');
        assert.equal(withdrawn?.detail?.channel, 'whatsapp-keyword');
        JSON.parse(JSON.stringify(doc));
      });
    });

    describe('storage at rest', () => {
      it('stores numbers, ids, names and replies only encrypted, under the current key id', async () => {
        await ledger.giveConsent({
          subject: { phone: PHONE, name: 'Erika Mustermann', waId: '4915123456789' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          text: 'START please',
          messageId: 'wamid.SECRET',
          source: 'form of Erika at shop.example',
          actor: 't',
        });
        assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.source, 'form of Erika at shop.example');
        const everything = await db.dump();
        for (const secret of ['15123456789', 'Erika', 'START please', 'wamid.SECRET', 'shop.example']) {
          assert.ok(!everything.includes(secret), `${secret} stored in plain text`);
        }
        const [row] = await db.all('SELECT phone_enc FROM subjects');
        assert.match(String(row.phone_enc), /^v1\.k1\./);
      });

      it('reads a plain source written before schema version 3', async () => {
        await giveByKeyword(PHONE);
        await db.exec("UPDATE consents SET source = 'legacy form', source_enc = NULL");
        assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.source, 'legacy form');
      });

      it('reads old values after key rotation and writes new ones with the new key', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          text: 'JA',
          actor: 't',
        });
        await ledger.close();
        const k2 = { id: 'k2', key: randomBytes(32) };
        ledger = await open({ encryptionKeys: [k2, ...TEST_KEYS.encryptionKeys] });
        assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.confirmationText, 'JA');
        await ledger.giveConsent({
          subject: PHONE_2,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        const keys = (await db.all('SELECT phone_enc FROM subjects'))
          .map((r) => String(r.phone_enc).split('.')[1])
          .sort();
        assert.deepEqual(keys, ['k1', 'k2']);
        await ledger.close();
        ledger = await open({ encryptionKeys: [k2] });
        await rejectsWith(ledger.getConsent(PHONE, 'marketing'), 'unknown-key');
      });
    });

    describe('retention', () => {
      it("clears an ended record's message ids and texts after 30 days, also while another consent stands", async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          text: 'START',
          messageId: 'wamid.START',
          actor: 't',
        });
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'newsletter',
          wording: TEST_PURPOSES[1].wording.en,
          method: 'keyword',
          text: 'NEWS',
          messageId: 'wamid.NEWS',
          actor: 't',
        });
        await ledger.withdrawConsent({
          subject: PHONE,
          purposes: ['newsletter'],
          channel: 'whatsapp-keyword',
          keyword: 'STOP NEWS',
          text: 'stop news please',
          messageId: 'wamid.STOP',
          actor: 't',
        });
        now += 29 * DAY;
        await ledger.sweepRetention();
        assert.equal((await ledger.getConsent(PHONE, 'newsletter'))?.withdrawalText, 'stop news please', 'not yet');
        now += 2 * DAY;
        const report = await ledger.sweepRetention();
        assert.ok(report.personalDataRemoved >= 1);
        const ended = await ledger.getConsent(PHONE, 'newsletter');
        assert.equal(ended?.status, 'withdrawn', 'the pseudonymous proof stays');
        assert.deepEqual(
          [ended?.confirmationText, ended?.confirmationMessageId, ended?.withdrawalText, ended?.withdrawalMessageId],
          [undefined, undefined, undefined, undefined],
        );
        const standing = await ledger.getConsent(PHONE, 'marketing');
        assert.equal(standing?.confirmationText, 'START', 'a consent that stands keeps its proof');
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'given');
        assert.equal((await db.all('SELECT * FROM subjects')).length, 1, 'her number stays while she is signed up');
      });

      it('deletes a wording no record uses any more, and keeps those that records and history still use', async () => {
        // A form's own text, as opt-in-flow stores it where it accepts any wording: it may say anything.
        const formText = 'Ja, Anna Beispiel (Musterweg 1) möchte Angebote.';
        const wordings = async () => (await db.all('SELECT text FROM wordings')).map((r) => String(r.text));
        await ledger.requestConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: formText,
          method: 'web-form',
          actor: 't',
        });
        await giveByKeyword(PHONE_2);
        // Asked again under the configured wording: the form's request goes to the history, and its text stays.
        await ledger.requestConsent({
          subject: PHONE_2,
          purpose: 'newsletter',
          wording: formText,
          method: 'web-form',
          actor: 't',
        });
        now += 11 * 60_000;
        await ledger.requestConsent({
          subject: PHONE_2,
          purpose: 'newsletter',
          wording: NEWS_WORDING,
          method: 'web-form',
          actor: 't',
        });
        await ledger.eraseSubject(PHONE, 't');
        assert.equal((await ledger.sweepRetention()).wordingsRemoved, 0, 'the history still uses it');
        assert.ok((await wordings()).includes(formText));
        // Her erasure takes the texts only her records used; the sweep, one an erasure of an older version left.
        const erased = await ledger.eraseSubject(PHONE_2, 't');
        // The marketing wording too: no record used it any more (the next consent stores it again).
        assert.equal(erased.removed.wordings, 3, 'the form text, the newsletter and the marketing wording');
        await giveByKeyword(PHONE_3);
        await db.exec(`INSERT INTO wordings (sha256, text) VALUES ('${'0'.repeat(64)}', 'Left by an older erasure.')`);
        const report = await ledger.sweepRetention();
        assert.equal(report.wordingsRemoved, 1, 'the text left behind');
        assert.deepEqual(await wordings(), [WORDING]);
        assert.equal((await ledger.getConsent(PHONE_3, 'marketing'))?.wording, WORDING);
        // The text comes back with the next record that uses it.
        await ledger.requestConsent({
          subject: PHONE_3,
          purpose: 'newsletter',
          wording: formText,
          method: 'web-form',
          actor: 't',
        });
        assert.equal((await ledger.getConsent(PHONE_3, 'newsletter'))?.wording, formText);
        assert.equal((await ledger.sweepRetention()).wordingsRemoved, 0);
      });

      it('expires pending requests, removes personal data after 30 days, proof after 5 years', async () => {
        await request(PHONE);
        await ledger.giveConsent({
          subject: { phone: PHONE_2, name: 'Max' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          text: 'START',
          source: 'campaign mail to Max',
          actor: 't',
        });
        await ledger.markSeen('msg:wamid.1', 1000);
        now += 49 * 3_600_000;
        const first = await ledger.sweepRetention();
        assert.equal(first.expiredRequests, 1);
        assert.equal(first.dedupeMarksRemoved, 1);
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'expired');
        await ledger.withdrawConsent({ subject: PHONE_2, channel: 'whatsapp-keyword', actor: 't' });
        now += 31 * DAY;
        const second = await ledger.sweepRetention();
        assert.equal(second.personalDataRemoved, 2);
        assert.equal((await db.all('SELECT * FROM subjects')).length, 0);
        const proof = await ledger.getConsent(PHONE_2, 'marketing');
        assert.equal(proof?.status, 'withdrawn');
        assert.equal(proof?.wording, WORDING);
        assert.equal(proof?.confirmationText, undefined);
        assert.equal(proof?.source, undefined, 'where it was collected is personal data too');
        assert.equal((await ledger.checkConsent(PHONE_2, 'marketing')).status, 'withdrawn');
        now += 5 * 365.25 * DAY;
        const third = await ledger.sweepRetention();
        assert.equal(third.proofRemoved, 2, JSON.stringify(third));
        assert.ok(third.auditEventsRemoved > 0);
        // Only Max's objection to the contract purpose is left: it is what keeps order messages from him.
        const left = await db.all('SELECT purpose, status, withdrawal_text_enc, source_enc FROM consents');
        assert.deepEqual(
          left.map((r) => [r.purpose, r.status, r.withdrawal_text_enc, r.source_enc]),
          [['orders', 'withdrawn', null, null]],
        );
        assert.deepEqual(await ledger.checkConsent(PHONE_2, 'orders'), {
          allowed: false,
          status: 'withdrawn',
          reason: 'consent-withdrawn',
        });
        assert.equal((await ledger.checkConsent(PHONE, 'orders')).allowed, true, 'nobody else objected');
        const verification = await ledger.verifyAudit();
        assert.equal(verification.ok, true, JSON.stringify(verification));
        const lines = await collect(ledger.exportAudit());
        assert.match(lines[0], /"type":"anchor"/);
        assert.equal(verifyAuditLines(lines).ok, true);
        // Paged, the anchor comes first on the first page and the pages join to the same export.
        assert.deepEqual(await exportInPages(2), lines);
      });

      it('a sweep in the middle of a paged audit export fails the export clearly; a verification reads on', async () => {
        for (const subject of [PHONE, PHONE_2]) {
          await ledger.giveConsent({ subject, purpose: 'marketing', wording: WORDING, method: 'keyword', actor: 't' });
        }
        now += 5 * 365.25 * DAY + DAY;
        const first = await ledger.exportAuditPage(undefined, 1);
        assert.equal(typeof first.next, 'number');
        await ledger.sweepRetention();
        await rejectsWith(ledger.exportAuditPage(first.next, 1), 'audit-export-purged');

        // The sweep runs while a verification reads the chain it moves the start of.
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'newsletter',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        now += 5 * 365.25 * DAY + DAY;
        const read = (ledger as unknown as { store: { read: { auditPage: (...a: unknown[]) => Promise<unknown> } } })
          .store.read;
        const auditPage = read.auditPage;
        let swept = false;
        read.auditPage = async (...args: unknown[]) => {
          if (!swept) {
            swept = true;
            await ledger.sweepRetention();
          }
          return auditPage.apply(read, args);
        };
        try {
          const verification = await ledger.verifyAudit();
          assert.equal(swept, true);
          assert.equal(verification.ok, true, JSON.stringify(verification));
        } finally {
          read.auditPage = auditPage;
        }
      });

      it('expires a batch of requests at once: each one expired and audited in order, the chain intact', async () => {
        const phones = Array.from({ length: 25 }, (_, i) => `+49151234567${String(i).padStart(2, '0')}`);
        for (const phone of phones) await request(phone);
        const before = (await db.all('SELECT seq FROM audit')).length;
        now += 49 * 3_600_000;
        const report = await ledger.sweepRetention();
        assert.equal(report.expiredRequests, phones.length);
        for (const phone of phones) assert.equal((await ledger.checkConsent(phone, 'marketing')).status, 'expired');
        const expired = await db.all("SELECT seq, pseudonym FROM audit WHERE action = 'consent.expired' ORDER BY seq");
        assert.equal(expired.length, phones.length);
        assert.equal(new Set(expired.map((r) => r.pseudonym)).size, phones.length, 'one event per subject');
        const seqs = (await db.all('SELECT seq FROM audit ORDER BY seq')).map((r) => Number(r.seq));
        assert.deepEqual(
          seqs,
          seqs.map((_, i) => seqs[0] + i),
          'no gap in the sequence',
        );
        assert.ok(seqs.length > before + phones.length, 'the sweep run is audited too');
        const verification = await ledger.verifyAudit();
        assert.equal(verification.ok, true, JSON.stringify(verification));
      });

      it('keeps a given consent however old it is', async () => {
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        now += 6 * 365 * DAY;
        await ledger.sweepRetention();
        assert.equal((await ledger.checkConsent(PHONE, 'marketing')).allowed, true);
      });
    });

    describe('de-duplication marks', () => {
      it('is true the first time, false within the ttl, true after it; keys are not stored readable', async () => {
        const store: DedupeStore = ledger;
        assert.equal(typeof store.claimAll, 'function');
        assert.equal(await ledger.markSeen('msg:wamid.HBgNNDkxNTEyMzQ1Njc4OQ', 10_000), true);
        assert.equal(await ledger.markSeen('msg:wamid.HBgNNDkxNTEyMzQ1Njc4OQ', 10_000), false);
        now += 10_001;
        assert.equal(await ledger.markSeen('msg:wamid.HBgNNDkxNTEyMzQ1Njc4OQ', 10_000), true);
        assert.ok(!(await db.dump()).includes('HBgNNDkx'));
        await rejectsUnchanged(() => ledger.markSeen('', 1000), 'invalid-input');
      });

      it('survives a reopen (a restart does not emit a message twice)', async () => {
        assert.equal(await ledger.markSeen('k', 60_000), true);
        await ledger.close();
        ledger = await open();
        assert.equal(await ledger.markSeen('k', 60_000), false);
      });
    });

    describe('audit chain', () => {
      async function someHistory() {
        await request();
        await ledger.confirmConsent({ subject: PHONE, confirmationText: 'YES', actor: 't' });
        await ledger.withdrawConsent({ subject: PHONE, channel: 'whatsapp-keyword', actor: 't' });
        await ledger.recordBlocked(PHONE, 'marketing', 'consent-withdrawn', 'gate');
      }

      it('verifies, exports JSON lines that verify on their own, and never holds the number', async () => {
        await someHistory();
        const result = await ledger.verifyAudit();
        assert.equal(result.ok, true);
        // requested, confirmed, withdrawn (marketing), objection (orders), blocked
        assert.equal(result.count, 5);
        const lines = await collect(ledger.exportAudit());
        assert.equal(lines.length, 5);
        assert.deepEqual(verifyAuditLines(lines), result);
        assert.ok(!lines.join('\n').includes('15123456789'));
        const first = JSON.parse(lines[0]);
        assert.deepEqual(Object.keys(first).sort(), [
          'action',
          'actor',
          'at',
          'detail',
          'hash',
          'outcome',
          'prevHash',
          'pseudonym',
          'purpose',
          'seq',
        ]);
      });

      it('exports page by page: the pages join to the whole export, the last one says so', async () => {
        await someHistory();
        const whole = await collect(ledger.exportAudit());
        for (const size of [1, 2, 5, 6]) assert.deepEqual(await exportInPages(size), whole, `pages of ${size}`);
        const first = await ledger.exportAuditPage(undefined, 2);
        assert.deepEqual(first, { lines: whole.slice(0, 2), next: JSON.parse(whole[1]).seq });
        const last = await ledger.exportAuditPage(JSON.parse(whole[3]).seq, 2);
        assert.deepEqual(last, { lines: whole.slice(4) }, 'a short page is the last');
        assert.deepEqual(await ledger.exportAuditPage(JSON.parse(whole[4]).seq), { lines: [] });
        await rejectsUnchanged(() => ledger.exportAuditPage(-1), 'invalid-input');
        await rejectsUnchanged(() => ledger.exportAuditPage(1.5), 'invalid-input');
      });

      it('refuses updates, and finds a tampered row', async () => {
        await someHistory();
        await assert.rejects(db.exec("UPDATE audit SET outcome = 'given' WHERE seq = 3"));
        await db.exec(
          db.backend === 'sqlite'
            ? 'DROP TRIGGER audit_append_only'
            : 'ALTER TABLE audit DISABLE TRIGGER audit_append_only',
        );
        await db.exec("UPDATE audit SET outcome = 'given' WHERE seq = 3");
        assert.deepEqual(await ledger.verifyAudit(), {
          ok: false,
          count: 2,
          firstBrokenSeq: 3,
          reason: 'hash does not match the event',
        });
      });

      it('finds a removed row', async () => {
        await someHistory();
        await db.exec('DELETE FROM audit WHERE seq = 2');
        assert.deepEqual(await ledger.verifyAudit(), {
          ok: false,
          count: 1,
          firstBrokenSeq: 3,
          reason: 'expected seq 2',
        });
      });
    });

    describe('events', () => {
      it('emits after the change is durable and readable', async () => {
        const checks: Promise<string>[] = [];
        ledger.on('event', (event: LedgerEvent) => {
          if (event.type === 'consent.given') {
            checks.push(ledger.checkConsent(PHONE, 'marketing').then((r) => r.status));
          }
        });
        await ledger.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        // The check started from the listener, whenever it answers (a query to PostgreSQL may take a while).
        assert.deepEqual(await Promise.all(checks), ['given']);
        assert.equal(events[0].pseudonym.length, 43);
      });
    });
  });
}
