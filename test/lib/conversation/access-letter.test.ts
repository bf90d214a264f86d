import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { SubjectExport } from '../../../lib/consent/types';
import { accessLetter, letterFileName } from '../../../lib/conversation/access-letter';
import { type BackendHarness, sqliteHarness, TEST_PURPOSES } from '../store/harness';

const ERIKA = '+4915123456789';
const BEN = '+4917612345678';
const BENS_NEW_NUMBER = '+4916098765432';
const MINUTE = 60_000;
const OFFERS = String(TEST_PURPOSES.find((p) => p.id === 'marketing')?.wording.de);
const ORDERS = String(TEST_PURPOSES.find((p) => p.id === 'orders')?.wording.de);

/** Codes the ledger writes today: none may reach the person as a code. */
const KNOWN_CODES = [
  'consent.requested',
  'consent.confirmed',
  'consent.given',
  'consent.withdrawn',
  'consent.refused',
  'notice.shown',
  'dsr.access_fulfilled',
  'dsr.erasure_executed',
  'subject.number-changed',
  'subject.opt-outs-carried',
  'whatsapp-keyword',
  'whatsapp-number-change',
  'web-form',
  'legitimate-interest',
  'phone-number',
  'data-subject-whatsapp-messages',
  'operates this WhatsApp integration',
];

describe('conversation/access-letter: an access export in plain words', function () {
  this.timeout(60_000);
  let db: BackendHarness;
  let ledger: ConsentLedger;
  let now: number;
  const later = () => {
    now += MINUTE;
  };

  beforeEach(async () => {
    db = await sqliteHarness()();
    now = Date.UTC(2026, 11, 4, 9, 30);
    ledger = await ConsentLedger.open(db.options({ clock: () => now }));
  });

  afterEach(async () => {
    await ledger.close();
    await db.dispose();
  });

  /** Erika: a notice, a double opt-in to the offers by a tap on YES, order updates from the web form. */
  async function erikaSignsUp(): Promise<void> {
    await ledger.recordNoticeShown(ERIKA, 'v1', { actor: 't' });
    await ledger.requestConsent({
      subject: ERIKA,
      purpose: 'marketing',
      wording: OFFERS,
      language: 'de',
      method: 'keyword',
      actor: 't',
    });
    later();
    await ledger.confirmConsent({
      subject: ERIKA,
      purpose: 'marketing',
      confirmationText: 'JA',
      via: 'button',
      match: 'gdpr-confirm:marketing',
      actor: 't',
    });
    later();
    await ledger.giveConsent({
      subject: ERIKA,
      purpose: 'orders',
      wording: ORDERS,
      method: 'web-form',
      source: 'checkout',
      actor: 't',
    });
    later();
  }

  async function erikaStops(): Promise<SubjectExport> {
    await erikaSignsUp();
    await ledger.withdrawConsent({ subject: ERIKA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    later();
    return ledger.exportSubject(ERIKA, 't', { language: 'de' });
  }

  it('tells Erika in German what is stored, how she consented and withdrew, and what Art. 15 asks besides', async () => {
    const letter = accessLetter(await erikaStops(), 'de', { stopKeyword: 'STOPP' });
    assert.match(
      letter,
      /^Ihre Daten bei uns: Auskunft nach Art\. 15 DSGVO\nStand: 04\.12\.2026, 10:34\. Alle Zeiten in deutscher Zeit/,
    );
    assert.match(letter, /\n- Telefonnummer: \+4915123456789\n/);
    assert.ok(letter.includes('\n- Offers: Einwilligung widerrufen (04.12.2026, 10:33)\n'), letter);
    assert.ok(letter.includes(`  Wortlaut: „${OFFERS}“\n  Wie: mit einem Stichwort in WhatsApp\n`), letter);
    // Never sent (no message id on record): created, not sent.
    assert.match(letter, /\n {2}Anfrage erstellt: 04\.12\.2026, 10:30\n/);
    assert.match(
      letter,
      /\n {2}Bestätigt: 04\.12\.2026, 10:31 durch Tippen auf die Schaltfläche\n {2}Ihre Nachricht: „JA“\n/,
    );
    assert.match(
      letter,
      /\n {2}Widerrufen: 04\.12\.2026, 10:33 mit einem Stichwort in WhatsApp\n {2}Ihre Nachricht: „STOP“\n/,
    );
    // The order updates rest on a contract: she signed up for them and objected, she gave and withdrew no consent.
    assert.match(letter, /\n- Order updates: Widerspruch eingelegt \(04\.12\.2026, 10:33\)\n {2}Wortlaut: /);
    assert.match(letter, /\n {2}Wo: checkout\n/);
    assert.match(letter, /\n {2}Widersprochen: 04\.12\.2026, 10:33 mit /);
    assert.match(letter, /: angemeldet \(Order updates\)\n/);
    assert.match(letter, /: Widerspruch erfasst \(Order updates\)\n/);
    assert.match(letter, /: Einwilligung widerrufen \(Offers\)\n/);
    assert.doesNotMatch(letter, /Einwilligung (erteilt|bestätigt|widerrufen) \(Order updates\)/);
    assert.match(letter, /\n- Version v1, gezeigt am 04\.12\.2026, 10:30\n/);
    assert.match(
      letter,
      /Meta Platforms Ireland Limited \(Auftragsverarbeiter\): betreibt die WhatsApp Business Platform/,
    );
    assert.match(letter, /USA: Angemessenheitsbeschluss zum EU-U\.S\. Data Privacy Framework \(Art\. 45 DSGVO\)/);
    assert.match(letter, /\n- Order updates: Erfüllung eines Vertrags mit Ihnen \(Art\. 6 Abs\. 1 lit\. b DSGVO\)\n/);
    assert.match(letter, /\n- Sperreintrag nach einer Löschung: unser berechtigtes Interesse/);
    assert.match(
      letter,
      /mit Wirkung für die Zukunft, z\. B\. mit der Antwort STOPP im Chat \(Art\. 7 Abs\. 3 DSGVO\)\n/,
    );
    assert.match(letter, /\n- Beschwerde bei einer Datenschutz-Aufsichtsbehörde \(Art\. 77 DSGVO\)\n/);
    assert.match(letter, /einschließlich Profiling im Sinne von Art\. 22 DSGVO findet nicht statt/);
    assert.doesNotMatch(letter, /GDPR|undefined|NaN/);
    for (const code of KNOWN_CODES) assert.ok(!letter.includes(code), `${code} in\n${letter}`);
  });

  it('says the same in English, with English quotation marks and the same times', async () => {
    const letter = accessLetter(await erikaStops(), 'en');
    assert.match(
      letter,
      /^Your data with us: access under Art\. 15 GDPR\nAs of: 4 Dec 2026, 10:34\. All times are German time/,
    );
    assert.match(letter, /\n {2}Wording: “Ja, schickt mir/);
    assert.match(letter, /\n {2}Confirmed: 4 Dec 2026, 10:31 by tapping the button\n {2}Your message: “JA”\n/);
    assert.match(letter, /\n {2}Withdrawn: 4 Dec 2026, 10:33 by a keyword in WhatsApp\n/);
    assert.match(letter, /\n- Order updates: objected to \(4 Dec 2026, 10:33\)\n/);
    assert.match(letter, /USA: adequacy decision on the EU-U\.S\. Data Privacy Framework/);
    assert.doesNotMatch(letter, /DSGVO|„|undefined|NaN/);
    for (const code of KNOWN_CODES) assert.ok(!letter.includes(code), `${code} in\n${letter}`);
  });

  it('names the controller, its data protection officer and its authority when the privacy notice has them', async () => {
    const letter = accessLetter(await erikaStops(), 'de', {
      controller: { name: 'Beispiel Shop GmbH', address: 'Musterstraße 1, 10115 Berlin', email: 'ds@shop.example' },
      dpo: { name: 'Dr. Erika Beispiel', email: 'dsb@shop.example' },
      authority: { name: 'Berliner Beauftragte für Datenschutz', url: 'https://www.datenschutz-berlin.de' },
    });
    assert.match(letter, /\nVon: Beispiel Shop GmbH, Musterstraße 1, 10115 Berlin, ds@shop\.example\n/);
    assert.match(letter, /\n {2}Die für uns zuständige Behörde: Berliner Beauftragte für Datenschutz, https:/);
    assert.match(letter, /\n- Datenschutzbeauftragte\/r: Dr\. Erika Beispiel, dsb@shop\.example\n/);
    // Without a STOP keyword named, none is guessed.
    assert.match(letter, /jederzeit mit Wirkung für die Zukunft \(Art\. 7 Abs\. 3 DSGVO\)\n/);
  });

  it('tells someone unknown that only a note of the request is stored, and what the service does with data', async () => {
    const letter = accessLetter(await ledger.exportSubject('+4917600000000', 't'), 'de');
    assert.match(
      letter,
      /Außer einem pseudonymisierten Vermerk über diese Anfrage speichern wir .* keine Daten über Sie\./,
    );
    assert.doesNotMatch(letter, /Was wir über Sie speichern\n/);
    assert.match(letter, /\nZwecke und Rechtsgrundlagen\n/);
    assert.match(letter, /\nIhre Rechte\n/);
  });

  it('tells an erased person when, and lists the objection her erasure kept', async () => {
    await erikaStops();
    await ledger.eraseSubject(ERIKA, 't');
    later();
    const document = await ledger.exportSubject(ERIKA, 't');
    assert.deepEqual(
      document.keptObjections?.map((o) => o.purpose),
      ['orders'],
      'the export holds it',
    );
    const letter = accessLetter(document, 'de');
    assert.match(letter, /\nIhre Daten wurden am 04\.12\.2026, 10:34 gelöscht\. Behalten haben wir nur /);
    assert.match(
      letter,
      /\nNach der Löschung behaltene Widersprüche\n-+\n- Order updates: Widerspruch eingelegt \(behalten/,
    );
    assert.doesNotMatch(letter, /\+4915123456789|Seitdem/);
    assert.doesNotMatch(letter, /Außer einem pseudonymisierten Vermerk/);
  });

  it('tells a person who wrote again after her erasure what is stored since', async () => {
    await erikaStops();
    await ledger.eraseSubject(ERIKA, 't');
    now += 10 * MINUTE;
    await ledger.recordInbound(ERIKA);
    later();
    const letter = accessLetter(await ledger.exportSubject(ERIKA, 't'), 'en');
    assert.match(
      letter,
      /deleted on 4 Dec 2026, 10:34\. .* You have written to us again since; what we have stored since is below\./,
    );
    assert.match(letter, /\nWhat we store about you\n-+\n/);
    assert.match(letter, /\n- Time of your last message \(for WhatsApp’s 24-hour window\): 4 Dec 2026, 10:44\n/);
  });

  it("shows a refusal as refused, a move as the end of the old number's records, and her objection taken along", async () => {
    await ledger.requestConsent({
      subject: BEN,
      purpose: 'marketing',
      wording: OFFERS,
      method: 'web-form',
      actor: 't',
    });
    later();
    await ledger.refuseConsent({ subject: BEN, purpose: 'marketing', text: 'NEIN', actor: 't' });
    later();
    await ledger.giveConsent({ subject: BEN, purpose: 'newsletter', wording: 'News', method: 'keyword', actor: 't' });
    await ledger.withdrawConsent({
      subject: BEN,
      purposes: ['orders'],
      channel: 'whatsapp-keyword',
      keyword: 'STOP',
      actor: 't',
    });
    later();
    await ledger.numberChanged({ phone: BEN, newPhone: BENS_NEW_NUMBER, actor: 't' });
    later();
    const document = await ledger.exportSubject(BENS_NEW_NUMBER, 't', { language: 'de' });
    assert.equal(document.earlierNumbers?.length, 1, 'the export holds his earlier number');
    const letter = accessLetter(document, 'de');
    // On the new number: the objection came along with him; the move is no reason he gave for it.
    assert.match(
      letter,
      /\n- Order updates: Widerspruch eingelegt \(.*\)\n {2}Widersprochen: von Ihrer früheren Nummer übernommen/,
    );
    const earlier = letter.slice(letter.indexOf('– Ihre frühere Nummer, bis 04.12.2026, 10:33'));
    assert.ok(earlier.length > 0, letter);
    assert.match(
      earlier,
      /\n- Offers: abgelehnt \(04\.12\.2026, 10:31\)\n {2}Wortlaut: .*\n {2}Wie: über unser Webformular\n/,
    );
    assert.match(earlier, /\n- Newsletter: beendet \(Nummernwechsel\) \(04\.12\.2026, 10:33\)\n/);
    assert.match(earlier, /\n {2}Beendet: 04\.12\.2026, 10:33 weil Sie zu einer anderen Nummer gewechselt sind\n/);
    assert.doesNotMatch(letter, /Newsletter: Einwilligung widerrufen/);
    assert.match(
      letter,
      /Protokoll der Vorgänge \(pseudonymisiert\) – Ihre frühere Nummer, bis .*\n-+\n(- .*\n)*- .*: abgelehnt \(Offers\)\n/,
    );
    // Nothing of the number's later holders, and no date on which the number passed to anyone.
    assert.doesNotMatch(letter, /andere Person/);
  });

  it('never states when a number passed to another person: that is about someone else', async () => {
    const document = await erikaStops();
    const withMove = accessLetter({ ...document, numberChangedAt: now - 5 * MINUTE }, 'de');
    assert.equal(withMove, accessLetter(document, 'de'));
  });

  it('writes a dash for a time a record lacks, in either language, instead of failing', async () => {
    const document = await erikaStops();
    const broken = { ...document, consents: document.consents.map((c) => ({ ...c, updatedAt: Number.NaN })) };
    for (const language of ['de', 'en'] as const) {
      const letter = accessLetter(broken, language);
      assert.match(letter, /: (Einwilligung widerrufen|consent withdrawn) \(–\)\n/);
      assert.doesNotMatch(letter, /Invalid Date/);
    }
  });

  it('shows a code it does not know as it is, rather than leaving it out', async () => {
    const document = await erikaStops();
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
