import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { SubjectExport } from '../../../lib/consent/types';
import { accessLetter, letterFileName } from '../../../lib/conversation/access-letter';
import { type BackendHarness, sqliteHarness, TEST_PURPOSES } from '../store/harness';

const PHONE = '+4915123456789';
const MINUTE = 60_000;
const OFFERS = TEST_PURPOSES.find((p) => p.id === 'marketing');

/** Every event code the ledger writes today: none may reach the person as a code. */
const KNOWN_CODES = [
  'consent.requested',
  'consent.request_sent',
  'consent.confirmed',
  'consent.given',
  'consent.withdrawn',
  'notice.shown',
  'dsr.access_fulfilled',
  'whatsapp-keyword',
  'legitimate-interest',
  'phone-number',
  'data-subject-whatsapp-messages',
];

describe('conversation/access-letter: an access export in plain words', function () {
  this.timeout(60_000);
  let db: BackendHarness;
  let ledger: ConsentLedger;
  let now: number;

  beforeEach(async () => {
    db = await sqliteHarness()();
    now = Date.UTC(2026, 11, 4, 9, 30);
    ledger = await ConsentLedger.open(db.options({ clock: () => now }));
  });

  afterEach(async () => {
    await ledger.close();
    await db.dispose();
  });

  /** Erika: a notice, a double opt-in to the offers by a tap on YES, then STOP to everything. */
  async function erikasExport(): Promise<SubjectExport> {
    await ledger.recordNoticeShown(PHONE, 'v1', { actor: 't' });
    await ledger.requestConsent({
      subject: PHONE,
      purpose: 'marketing',
      wording: String(OFFERS?.wording.de),
      language: 'de',
      method: 'keyword',
      actor: 't',
    });
    now += MINUTE;
    await ledger.confirmConsent({
      subject: PHONE,
      purpose: 'marketing',
      confirmationText: 'JA',
      via: 'button',
      match: 'gdpr-confirm:marketing',
      actor: 't',
    });
    now += 3 * MINUTE;
    await ledger.withdrawConsent({ subject: PHONE, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    now += MINUTE;
    return ledger.exportSubject(PHONE, 't', { language: 'de' });
  }

  it('tells Erika in German what is stored, how she consented and withdrew, and what Art. 15 asks besides', async () => {
    const letter = accessLetter(await erikasExport(), 'de');
    assert.match(letter, /^Ihre Daten bei uns: Auskunft nach Art\. 15 DSGVO\nStand: 04\.12\.2026, 10:35 Uhr\n/);
    assert.match(letter, /\n- Telefonnummer: \+4915123456789\n/);
    // The offers by their label, withdrawn; the wording she agreed to, the request, her tap and her STOP.
    assert.ok(letter.includes('\n- Offers: widerrufen (04.12.2026, 10:34 Uhr)\n'), letter);
    assert.ok(letter.includes(`  Text: „${OFFERS?.wording.de}“\n`), letter);
    assert.match(letter, /\n {2}Anfrage gesendet: 04\.12\.2026, 10:30 Uhr\n/);
    assert.match(letter, /\n {2}Ihre Nachricht: „JA“\n/);
    assert.match(
      letter,
      /\n {2}Widerrufen: 04\.12\.2026, 10:34 Uhr mit einem Stichwort in WhatsApp\n {2}Ihre Nachricht: „STOP“\n/,
    );
    // STOP to the order updates (a contract) is an objection, not a withdrawn consent.
    assert.match(
      letter,
      /\n- Order updates: Widerspruch eingelegt \(04\.12\.2026, 10:34 Uhr\)\n {2}Widersprochen: 04\.12\.2026, 10:34 Uhr mit /,
    );
    assert.match(letter, /: Widerspruch erfasst \(Order updates\)\n/);
    assert.match(letter, /: Einwilligung widerrufen \(Offers\)\n/);
    assert.match(letter, /\n- Version v1, gezeigt am 04\.12\.2026, 10:30 Uhr\n/);
    assert.match(letter, /\n- 04\.12\.2026, 10:31 Uhr: Einwilligung bestätigt \(/);
    assert.match(letter, /Meta Platforms Ireland Limited \(Auftragsverarbeiter\)/);
    assert.match(letter, /USA: EU-US Data Privacy Framework \(Art\. 45 DSGVO\)/);
    assert.match(letter, /Ihre Einwilligung \(Art\. 6 Abs\. 1 lit\. a DSGVO\)/);
    assert.match(letter, /Erfüllung eines Vertrags mit Ihnen \(Art\. 6 Abs\. 1 lit\. b DSGVO\)/);
    assert.match(letter, /\n- Beschwerde bei einer Datenschutz-Aufsichtsbehörde \(Art\. 77 DSGVO\)\n/);
    assert.match(
      letter,
      /\n- Widerruf einer Einwilligung jederzeit, z\. B\. mit der Antwort STOP \(Art\. 7 Abs\. 3 DSGVO\)\n/,
    );
    assert.doesNotMatch(letter, /GDPR/);
    assert.match(letter, /Wir treffen keine automatisierten Entscheidungen über Sie/);
    for (const code of KNOWN_CODES) assert.ok(!letter.includes(code), `${code} in\n${letter}`);
  });

  it('says the same in English, with times in UTC', async () => {
    const letter = accessLetter(await erikasExport(), 'en');
    assert.match(letter, /^Your data with us: access under Art\. 15 GDPR\nAs of: 2026-12-04 09:35 UTC\n/);
    assert.match(letter, /\n {2}Withdrawn: 2026-12-04 09:34 UTC by a keyword in WhatsApp\n/);
    assert.match(letter, /\n {2}Confirmed: 2026-12-04 09:31 UTC by tapping the button\n/);
    assert.match(letter, /: objected to \(2026-12-04 09:34 UTC\)\n/);
    assert.match(letter, /US: EU-U\.S\. Data Privacy Framework/);
    for (const code of KNOWN_CODES) assert.ok(!letter.includes(code), `${code} in\n${letter}`);
  });

  it('tells someone unknown that nothing is stored, and still what the service does with data', async () => {
    const letter = accessLetter(await ledger.exportSubject('+4917600000000', 't'), 'de');
    assert.match(letter, /Zu dieser Nummer oder diesem WhatsApp-Konto speichern wir keine Daten über Sie\./);
    assert.doesNotMatch(letter, /Was wir über Sie speichern\n/);
    assert.match(letter, /\nZwecke und Rechtsgrundlagen\n/);
    assert.match(letter, /\nIhre Rechte\n/);
  });

  it('tells an erased person when, and what was kept', async () => {
    await erikasExport();
    now += MINUTE;
    await ledger.eraseSubject(PHONE, 't');
    now += MINUTE;
    const letter = accessLetter(await ledger.exportSubject(PHONE, 't'), 'en');
    assert.match(letter, /Your data was deleted on 2026-12-04 09:36 UTC at your request\./);
    assert.doesNotMatch(letter, /\+4915123456789/);
  });

  it('shows a code it does not know as it is, rather than leaving it out', async () => {
    const document = await erikasExport();
    document.auditEvents.push({
      seq: 99,
      at: now,
      actor: 't',
      action: 'consent.renewed',
      purpose: null,
      outcome: 'ok',
    });
    assert.match(accessLetter(document, 'de'), /: consent\.renewed\n/);
  });

  it('names its file as the JSON export does, ending in .txt', () => {
    assert.equal(letterFileName('whatsapp-data-abc123-2026-12-04.json'), 'whatsapp-data-abc123-2026-12-04.txt');
  });
});
