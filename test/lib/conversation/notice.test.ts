import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsentLedger } from '../../../lib/consent/ledger';
import {
  DEFAULT_NOTICE_TEXTS,
  type NoticeDecision,
  NoticeTracker,
  noticeLinksPolicy,
  noticesWithoutLink,
  noticeVersion,
  renderNoticeTexts,
  resolvePolicyUrl,
} from '../../../lib/conversation/notice';

const PHONE = '+4915123456789';
const URL = 'https://shop.example/privacy';

describe('conversation/notice', () => {
  it('fills {policyUrl} into the default English and German notices', () => {
    const texts = renderNoticeTexts({}, URL);
    assert.equal(
      texts.en,
      'Welcome! We use your phone number to send you the WhatsApp messages you asked for. Privacy policy: https://shop.example/privacy. Reply STOP to unsubscribe.',
    );
    assert.ok(texts.de.startsWith('Willkommen! Wir nutzen Ihre Telefonnummer'));
    assert.ok(texts.de.includes(`Datenschutzerklärung: ${URL}.`));
    assert.ok(texts.de.endsWith('Antworten Sie mit STOP, um sich abzumelden.'));
  });

  it('uses configured texts and falls back to the default for an empty one', () => {
    const texts = renderNoticeTexts({ en: 'Hi! Policy: {policyUrl} ({policyUrl})', de: '   ' }, URL);
    assert.equal(texts.en, `Hi! Policy: ${URL} (${URL})`);
    assert.equal(texts.de, DEFAULT_NOTICE_TEXTS.de.replace('{policyUrl}', URL));
  });

  it('fills the placeholder in any case, and an address with $ in it as written', () => {
    const texts = renderNoticeTexts({ de: 'Hinweis zum Datenschutz: {policyURL}', en: 'See {PolicyUrl}' }, URL);
    assert.deepEqual([texts.de, texts.en], [`Hinweis zum Datenschutz: ${URL}`, `See ${URL}`]);
    assert.equal(renderNoticeTexts({ en: 'See {policyUrl}' }, 'https://x.example/$&').en, 'See https://x.example/$&');
    assert.equal(noticeLinksPolicy({ en: 'See {POLICYURL}', de: 'Siehe {policyurl}' }), true);
  });

  it('names the languages whose own notice links no policy, neither by placeholder nor by address', () => {
    assert.deepEqual(noticesWithoutLink({}), [], 'the defaults link it');
    assert.deepEqual(noticesWithoutLink({ en: 'Policy: {policyUrl}', de: 'Hinweis zum Datenschutz.' }), ['de']);
    assert.deepEqual(noticesWithoutLink({ en: 'Policy: https://x.example', de: 'Siehe www.x.example' }), []);
    assert.deepEqual(noticesWithoutLink({ en: 'Hello', de: '  ' }), ['en']);
  });

  it('knows whether the texts need the policy URL', () => {
    assert.equal(noticeLinksPolicy({}), true);
    assert.equal(noticeLinksPolicy({ en: 'Policy: https://x.example', de: 'Datenschutz: https://x.example' }), false);
    assert.equal(noticeLinksPolicy({ en: 'Policy: https://x.example' }), true, 'the German default still links it');
  });

  it("completes a policy path with Node-RED's own address, as it prints it at start, and keeps an address", () => {
    // red.js's defaults: uiHost 0.0.0.0, httpNodeRoot '/'; --port 1881.
    const imported = { uiHost: '0.0.0.0', uiPort: 1881, httpNodeRoot: '/' };
    assert.equal(resolvePolicyUrl('/privacy-ex03', imported), 'http://127.0.0.1:1881/privacy-ex03');
    assert.equal(resolvePolicyUrl('/privacy?lang=de', imported), 'http://127.0.0.1:1881/privacy?lang=de');
    assert.equal(resolvePolicyUrl('/privacy', {}), 'http://127.0.0.1:1880/privacy');
    assert.equal(
      resolvePolicyUrl('/privacy', { uiHost: '::', uiPort: 8443, https: {}, httpNodeRoot: '/api/' }),
      'https://localhost:8443/api/privacy',
    );
    assert.equal(resolvePolicyUrl('/privacy', { uiHost: '::1', uiPort: 1880 }), 'http://[::1]:1880/privacy');
    assert.equal(
      resolvePolicyUrl('/p', { uiHost: 'bot.local', uiPort: 1880, serverPort: 80 }),
      'http://bot.local:80/p',
    );
    assert.equal(resolvePolicyUrl('/p', { uiPort: 1880, httpNodeRoot: false }), 'http://127.0.0.1:1880/p');
    // A full address, or anything that is no plain path of this server, is left as it is.
    for (const given of [URL, '//evil.example/privacy', 'privacy', '', '/privacy page']) {
      assert.equal(resolvePolicyUrl(given, imported), given);
    }
  });

  it('derives a short, stable version from the texts: any edit or another URL makes a new one', () => {
    const base = renderNoticeTexts({}, URL);
    const version = noticeVersion(base);
    assert.match(version, /^v-[0-9a-f]{12}$/);
    assert.equal(noticeVersion({ de: base.de, en: base.en }), version, 'key order must not matter');
    assert.notEqual(noticeVersion(renderNoticeTexts({ en: `${DEFAULT_NOTICE_TEXTS.en} Thanks!` }, URL)), version);
    assert.notEqual(noticeVersion(renderNoticeTexts({}, 'https://shop.example/datenschutz')), version);
  });

  describe('NoticeTracker with a real SQLite ledger', () => {
    let dir: string;
    let ledger: ConsentLedger;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'h7-notice-'));
      ledger = await ConsentLedger.open({
        backend: 'sqlite',
        sqlitePath: join(dir, 'consent.db'),
        encryptionKeys: [{ id: 'k1', key: randomBytes(32) }],
        pseudonymKey: randomBytes(32),
        purposes: [{ id: 'orders', label: 'Orders', wording: { en: 'Order updates' }, lawfulBasis: 'consent' }],
      });
    });

    afterEach(async () => {
      await ledger.close();
      rmSync(dir, { recursive: true, force: true });
    });

    async function deliver(tracker: NoticeTracker, isTemplate = false): Promise<NoticeDecision> {
      return tracker.withDecision({ phone: PHONE }, isTemplate, async (decision) => {
        if (decision.action === 'show') await tracker.recordShown({ phone: PHONE }, 'wamid.notice');
        return decision;
      });
    }

    it('shows the notice once per version and records it in the ledger', async () => {
      const tracker = new NoticeTracker(ledger, 'v-1', 'test:notice');
      assert.equal((await deliver(tracker)).action, 'show');
      assert.equal(await ledger.hasSeenNotice(PHONE, 'v-1'), true);
      assert.equal((await deliver(tracker)).action, 'seen');
      const exported = await ledger.exportSubject(PHONE, 'test');
      assert.deepEqual(
        exported.notices.map((n) => [n.noticeVersion, n.actor]),
        [['v-1', 'test:notice']],
      );
      // A new text is a new version: shown again.
      assert.equal((await deliver(new NoticeTracker(ledger, 'v-2', 'test:notice'))).action, 'show');
    });

    it('produces one notice for messages to the same person that arrive together', async () => {
      const tracker = new NoticeTracker(ledger, 'v-1', 'test:notice');
      const decisions = await Promise.all([deliver(tracker), deliver(tracker), deliver(tracker)]);
      assert.deepEqual(
        decisions.map((d) => d.action),
        ['show', 'seen', 'seen'],
      );
      assert.equal((await ledger.exportSubject(PHONE, 'test')).notices.length, 1);
    });

    it('keeps people apart: one subject waiting does not hold up another', async () => {
      const tracker = new NoticeTracker(ledger, 'v-1', 'test:notice');
      const other = '+436641234567';
      const a = tracker.withDecision({ phone: PHONE }, false, async (d) => d.action);
      const b = tracker.withDecision({ phone: other }, false, async (d) => d.action);
      assert.deepEqual(await Promise.all([a, b]), ['show', 'show']);
    });

    it('defers the notice before a template and records nothing', async () => {
      const tracker = new NoticeTracker(ledger, 'v-1', 'test:notice');
      assert.deepEqual(await deliver(tracker, true), { action: 'defer', version: 'v-1', reason: 'template' });
      assert.equal(await ledger.hasSeenNotice(PHONE, 'v-1'), false);
    });

    it('stores nothing again about an erased subject', async () => {
      await ledger.eraseSubject(PHONE, 'test');
      const tracker = new NoticeTracker(ledger, 'v-1', 'test:notice');
      assert.deepEqual(await deliver(tracker), { action: 'defer', version: 'v-1', reason: 'suppressed' });
      const exported = await ledger.exportSubject(PHONE, 'test');
      assert.equal(exported.notices.length, 0);
      assert.equal(exported.subject, undefined);
    });

    it('shows the notice to a person who signed up again after her erasure', async () => {
      await ledger.eraseSubject(PHONE, 'test');
      await ledger.giveConsent({
        subject: PHONE,
        purpose: 'orders',
        wording: 'Order updates',
        method: 'keyword',
        actor: 't',
      });
      const tracker = new NoticeTracker(ledger, 'v-1', 'test:notice');
      assert.equal((await deliver(tracker)).action, 'show');
      assert.equal((await deliver(tracker)).action, 'seen');
    });

    it("shows the notice again to the number's next holder: the one shown before the move was the previous one's", async () => {
      const tracker = new NoticeTracker(ledger, 'v-1', 'test:notice');
      assert.equal((await deliver(tracker)).action, 'show');
      await new Promise((resolve) => setTimeout(resolve, 5)); // the move comes later, by this machine's clock
      await ledger.numberChanged({ phone: PHONE, newPhone: '+4917612345678', actor: 'test' });
      assert.equal(await ledger.hasSeenNotice(PHONE, 'v-1'), false);
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal((await deliver(tracker)).action, 'show', 'the new holder is told');
      assert.equal((await deliver(tracker)).action, 'seen');
    });

    it('lets the next message through after a failed delivery', async () => {
      const tracker = new NoticeTracker(ledger, 'v-1', 'test:notice');
      await assert.rejects(
        tracker.withDecision({ phone: PHONE }, false, () => {
          throw new Error('send failed');
        }),
        /send failed/,
      );
      assert.equal((await deliver(tracker)).action, 'show');
    });
  });
});
