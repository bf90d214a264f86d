import assert from 'node:assert/strict';
import { accessInformation } from '../../../lib/consent/access-information';
import {
  choosePolicyLanguage,
  escapeHtml,
  type PolicyPageInput,
  renderPolicyPage,
} from '../../../lib/conversation/policy-page';

const purposes = [
  {
    id: 'orders',
    label: 'Order updates',
    wording: { en: 'I want order updates on WhatsApp.', de: 'Ich möchte Bestellupdates per WhatsApp.' },
    lawfulBasis: 'contract',
  },
  {
    id: 'offers',
    label: 'Offers',
    wording: { en: 'Send me offers.', de: 'Schickt mir Angebote.' },
    lawfulBasis: 'consent',
    marketing: true,
  },
];

function input(overrides: Partial<PolicyPageInput> = {}): PolicyPageInput {
  return {
    settings: {
      controllerName: 'Example Shop GmbH',
      controllerAddress: 'Hauptstraße 1\n10115 Berlin',
      controllerEmail: 'privacy@shop.example',
      dpoName: 'Dr. Daten Schutz',
      dpoEmail: 'dpo@shop.example',
      providerName: 'Integrator AG',
      storageLocation: 'Germany (Frankfurt am Main), own servers',
      authorityName: 'Berliner Beauftragte für Datenschutz und Informationsfreiheit',
      authorityUrl: 'https://www.datenschutz-berlin.de',
      eraseKeyword: 'DATEN LÖSCHEN',
    },
    purposes,
    retention: { pendingExpiryHours: 48, withdrawnPersonalDataDays: 30, auditRetentionYears: 5 },
    language: 'en',
    noticeVersion: 'v-0123456789ab',
    ...overrides,
  };
}

/** The visible text of the page: tags removed, entities decoded, whitespace collapsed. */
function textOf(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/g, '')
    .replace(/<br>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

describe('conversation/policy-page', () => {
  it("names each purpose in the page's language where it has a label for it", () => {
    const labelled = [{ ...purposes[0], labels: { en: 'Updates on your orders', de: 'Bestell-Updates' } }, purposes[1]];
    const de = textOf(renderPolicyPage(input({ purposes: labelled, language: 'de' })));
    // The wording quoted, under "Wortlaut": often in her words, not the business describing the purpose.
    assert.match(de, /Zweck Wortlaut Rechtsgrundlage Bestell-Updates „Ich möchte Bestellupdates per WhatsApp\.“/);
    assert.match(de, /Offers/, 'the general label where there is no German one');
    const en = textOf(renderPolicyPage(input({ purposes: labelled, language: 'en' })));
    assert.match(en, /Purpose Wording Lawful basis Updates on your orders “I want order updates on WhatsApp\.”/);
    assert.doesNotMatch(en, /Bestell-Updates/);
  });

  it('states everything Art. 13 asks for, in English', () => {
    const html = renderPolicyPage(input());
    const text = textOf(html);
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    for (const expected of [
      // What an erasure and an objection leave behind, and for how long (Art. 13(2)(a)). Erasure asked of staff takes
      // its time: no promise of 'immediately'.
      'we delete your data without undue delay (Art. 17 GDPR)',
      'We keep a pseudonymous block entry without your number, with no time limit',
      'An objection to a purpose that needs no consent is likewise kept pseudonymously with no time limit',
      'Example Shop GmbH',
      'Hauptstraße 1 10115 Berlin',
      'privacy@shop.example',
      'Dr. Daten Schutz',
      'dpo@shop.example',
      'phone number',
      'message metadata',
      'Order updates',
      'I want order updates on WhatsApp.',
      'performance of a contract, Art. 6(1)(b) GDPR',
      'Send me offers.',
      'your consent, Art. 6(1)(a) GDPR',
      'Meta Platforms Ireland Ltd.',
      // Art. 13(1)(f): the third country, the adequacy decision or safeguard, and how to get a copy.
      'in particular in the USA',
      'EU-U.S. Data Privacy Framework',
      'standard contractual clauses',
      'Art. 46(2)(c) GDPR',
      'ask us for a copy of these safeguards',
      'Integrator AG operates this WhatsApp integration for us as our processor',
      'Germany (Frankfurt am Main), own servers',
      'expires after 48 hours',
      'you have not written to us for 30 days, your number and the user ID WhatsApp gave us are deleted',
      'a number someone entered in our form without confirming it',
      'except the replies by which you signed up, confirmed or withdrew a consent',
      'The replies and message IDs kept as proof of a consent are deleted 30 days after it ended',
      'When we stop a purpose (send no more messages of that kind), a consent to it ends 30 days later',
      'kept for 5 years',
      'reply STOP in the chat',
      'reply DATEN LÖSCHEN in the chat',
      'Access and a copy of your data (Art. 15 and 20 GDPR)',
      'supervisory authority (Art. 77 GDPR)',
      'Berliner Beauftragte für Datenschutz und Informationsfreiheit',
      'v-0123456789ab',
      // What a DPO's review found missing: automated decisions (Art. 13(2)(f)), answering her messages, WhatsApp's own
      // role, and why proof and blocks outlast an erasure.
      'In this WhatsApp service we make no decisions based solely on automated processing, including profiling',
      'Answering your messages: when you write to us, we use your number and your message to answer you',
      'WhatsApp Ireland Ltd. processes your data as a controller in its own right',
      'Lawful basis: our legitimate interest in being able to demonstrate consent and our compliance and in defending legal claims',
      'We keep the block entry despite the erasure in our legitimate interest in not contacting you against your wishes',
      'the times of your last two messages to us (so that a "yes" you type confirms a sign-up request only when it answers that request; they also tell whether we may still answer you',
    ]) {
      assert.ok(text.includes(expected), `page lacks: ${expected}`);
    }
    assert.match(html, /<a href="mailto:privacy@shop\.example">/);
    assert.match(html, /<a href="https:\/\/www\.datenschutz-berlin\.de">/);
    assert.match(html, /<a href="\?lang=de" hreflang="de" lang="de">Deutsch<\/a>/);
  });

  it('renders the same facts in German with the German wording of each purpose', () => {
    const text = textOf(renderPolicyPage(input({ language: 'de' })));
    for (const expected of [
      'löschen wir Ihre Daten unverzüglich (Art. 17 DSGVO)',
      'Wir behalten einen pseudonymen Sperreintrag ohne Ihre Nummer, ohne zeitliche Begrenzung',
      'Ein Widerspruch gegen einen Zweck, der keine Einwilligung braucht, bleibt ebenso pseudonym',
      'Datenschutzerklärung für unseren WhatsApp-Dienst',
      'Verantwortlicher',
      'Datenschutzbeauftragte/r',
      'Telefonnummer',
      'Ihren Profilnamen speichern wir nicht',
      'Ich möchte Bestellupdates per WhatsApp.',
      'Vertragserfüllung, Art. 6 Abs. 1 lit. b DSGVO',
      'Schickt mir Angebote.',
      'Auftragsverarbeiter',
      'insbesondere in den USA',
      'Angemessenheitsbeschluss',
      'EU-Standardvertragsklauseln',
      'Art. 46 Abs. 2 lit. c DSGVO',
      'Eine Kopie dieser Garantien',
      'verfällt nach 48 Stunden',
      'Sie uns 30 Tage nicht geschrieben, werden Ihre Nummer und die Nutzer-ID, die WhatsApp uns nannte, gelöscht',
      'außer den Antworten, mit denen Sie sich angemeldet oder eine Einwilligung bestätigt oder widerrufen haben',
      'Nachrichten-IDs werden 30 Tage nach dem Ende der Einwilligung gelöscht',
      'Stellen wir einen Zweck ein (senden also keine solchen Nachrichten mehr), endet eine Einwilligung dafür 30 Tage danach',
      '5 Jahre',
      'Antworten Sie im Chat mit STOP',
      'Art. 77 DSGVO',
      'In diesem WhatsApp-Dienst treffen wir keine ausschließlich auf einer automatisierten Verarbeitung beruhenden Entscheidungen',
      'Beantwortung Ihrer Nachrichten: Wenn Sie uns schreiben, nutzen wir Ihre Nummer und Ihre Nachricht',
      'verarbeitet WhatsApp Ireland Ltd. Ihre Daten als eigenständig Verantwortlicher',
      'Rechtsgrundlage: unser berechtigtes Interesse, Einwilligungen und die Einhaltung des Datenschutzes nachweisen',
      'Trotz der Löschung behalten wir den Sperreintrag aus unserem berechtigten Interesse',
      'die Zeitpunkte Ihrer letzten beiden Nachrichten an uns (damit ein getipptes „Ja“ eine Anmeldeanfrage nur bestätigt',
    ]) {
      assert.ok(text.includes(expected), `Seite enthält nicht: ${expected}`);
    }
    // Order updates rest on the contract: the table must not present every row as something consented to.
    assert.doesNotMatch(text, /Wozu Sie einwilligen/);
    // Art. 13(2)(c): the withdrawal works for the future and leaves earlier processing lawful.
    assert.ok(text.includes('die Rechtmäßigkeit der bis dahin erfolgten Verarbeitung bleibt unberührt'));
  });

  it("names an erase keyword of the page's language when the list has one per language, else what is configured", () => {
    const page = (eraseKeyword: string, language: 'en' | 'de') =>
      textOf(renderPolicyPage(input({ settings: { ...input().settings, eraseKeyword }, language })));
    const en = page('DATEN LÖSCHEN, DELETE MY DATA', 'en');
    assert.ok(en.includes('Erasure (Art. 17 GDPR): reply DELETE MY DATA in the chat'), en);
    assert.ok(!en.includes('DATEN LÖSCHEN'), 'the English page tells no one to type German');
    const de = page('DATEN LÖSCHEN, DELETE MY DATA', 'de');
    assert.ok(de.includes('Löschung (Art. 17 DSGVO): Antworten Sie im Chat mit DATEN LÖSCHEN oder kontaktieren'), de);
    assert.ok(!de.includes('DELETE MY DATA'));
    assert.ok(
      page('Delete my data\nDaten löschen, Löschen', 'de').includes('im Chat mit Daten löschen oder kontaktieren'),
    );
    // One keyword, or words the page cannot place: named as configured, since that is what erase-subject listens for.
    assert.ok(page('DATEN LÖSCHEN', 'en').includes('reply DATEN LÖSCHEN in the chat'));
    assert.ok(page('WEG DAMIT, FORGET', 'en').includes('reply WEG DAMIT, FORGET in the chat'));
  });

  it("names the access keyword her flow answers, in the page's language, and only the address without one", () => {
    const page = (accessKeyword: string | undefined, language: 'en' | 'de') =>
      textOf(renderPolicyPage(input({ settings: { ...input().settings, accessKeyword }, language })));
    const en = page('MEINE DATEN, MY DATA', 'en');
    assert.ok(en.includes('Access and a copy of your data (Art. 15 and 20 GDPR): reply MY DATA in the chat or'), en);
    const de = page('MEINE DATEN, MY DATA', 'de');
    assert.ok(de.includes('(Art. 15 und 20 DSGVO): Antworten Sie im Chat mit MEINE DATEN oder kontaktieren'), de);
    assert.ok(!de.includes('MY DATA'));
    assert.ok(page('AUSKUNFT, MY DATA', 'de').includes('im Chat mit AUSKUNFT oder'));
    for (const none of [undefined, '', '  ']) {
      assert.ok(
        page(none, 'de').includes('Auskunft und Kopie Ihrer Daten (Art. 15 und 20 DSGVO): Kontaktieren Sie uns unter'),
      );
    }
  });

  it('escapes every setting and purpose text, so no markup or script gets in', () => {
    const hostile = '<script>alert(1)</script>"\'&';
    const html = renderPolicyPage(
      input({
        settings: {
          controllerName: hostile,
          controllerAddress: hostile,
          controllerEmail: '"><img src=x onerror=alert(1)>@x',
          dpoName: hostile,
          providerName: hostile,
          storageLocation: hostile,
          authorityName: hostile,
          authorityUrl: 'javascript:alert(1)',
          eraseKeyword: hostile,
          accessKeyword: hostile,
        },
        purposes: [{ id: 'x', label: hostile, wording: { en: hostile }, lawfulBasis: 'consent' }],
      }),
    );
    assert.equal(html.includes('<script'), false);
    assert.equal(html.includes('<img'), false);
    assert.equal(html.includes('javascript:'), false, 'an unsafe URL must not become a link');
    assert.ok(html.includes(escapeHtml(hostile)));
    assert.ok(textOf(html).includes(hostile));
  });

  it('states the legitimate interest pursued of a legitimate-interest purpose (Art. 13(1)(d)), in the page language', () => {
    const shipping = {
      id: 'shipping',
      label: 'Shipping notices',
      wording: { en: 'Notices about your delivery.', de: 'Hinweise zu Ihrer Lieferung.' },
      lawfulBasis: 'legitimate-interest',
      interest: {
        en: 'We tell customers when their order arrives.',
        de: 'Wir sagen Kunden, wann die Bestellung kommt.',
      },
    };
    const english = textOf(renderPolicyPage(input({ purposes: [...purposes, shipping] })));
    assert.match(
      english,
      /our legitimate interest, Art\. 6\(1\)\(f\) GDPR Legitimate interest pursued: We tell customers when their order arrives\./,
    );
    assert.equal(english.match(/Legitimate interest pursued/g)?.length, 1, 'only the legitimate-interest purpose');
    const german = textOf(renderPolicyPage(input({ purposes: [shipping], language: 'de' })));
    assert.match(german, /Verfolgtes berechtigtes Interesse: Wir sagen Kunden, wann die Bestellung kommt\./);
    const onlyEnglish = textOf(
      renderPolicyPage(input({ purposes: [{ ...shipping, interest: { en: 'English only.' } }], language: 'de' })),
    );
    assert.match(onlyEnglish, /Verfolgtes berechtigtes Interesse: English only\./, 'another language rather than none');
    const hostile = textOf(renderPolicyPage(input({ purposes: [{ ...shipping, interest: { en: '<b>x</b>' } }] })));
    assert.match(hostile, /pursued: <b>x<\/b>/, 'escaped, shown as text');
  });

  it('shows the right to object in a section of its own (Art. 21(4)), and what not giving the number means', () => {
    const shipping = {
      id: 'shipping',
      label: 'Shipping notices',
      wording: { en: 'Notices about your delivery.' },
      lawfulBasis: 'legitimate-interest',
      interest: { en: 'We tell customers when their order arrives.' },
    };
    const sectionOf = (html: string, title: string) =>
      html.split('<section>').find((part) => part.startsWith(`<h2>${title}</h2>`)) ?? '';

    const english = renderPolicyPage(input({ purposes: [...purposes, shipping] }));
    const objection = textOf(sectionOf(english, 'Your right to object (Art. 21 GDPR)'));
    assert.match(objection, /on grounds relating to your particular situation/);
    assert.match(objection, /Art\. 21\(1\) GDPR/);
    assert.match(objection, /for direct marketing, you have the right to object at any time/);
    assert.match(objection, /reply STOP in the chat/);
    assert.doesNotMatch(textOf(sectionOf(english, 'Your rights and how to use them')), /objection/i, 'not mixed in');
    assert.match(textOf(english), /You are not obliged by law or contract to give us your phone number/);

    // Without a legitimate-interest purpose only the objection to direct marketing applies.
    const withoutInterest = textOf(sectionOf(renderPolicyPage(input()), 'Your right to object (Art. 21 GDPR)'));
    assert.doesNotMatch(withoutInterest, /particular situation/);
    assert.match(withoutInterest, /direct marketing/);

    const german = renderPolicyPage(input({ purposes: [...purposes, shipping], language: 'de' }));
    const widerspruch = textOf(sectionOf(german, 'Ihr Widerspruchsrecht (Art. 21 DSGVO)'));
    assert.match(widerspruch, /aus Gründen, die sich aus Ihrer besonderen Situation ergeben/);
    assert.match(widerspruch, /zur Direktwerbung/);
    assert.match(textOf(german), /weder gesetzlich noch vertraglich verpflichtet/);
  });

  it('says what else STOP ends when the stop-handler nodes end purposes that need no consent too', () => {
    const en = textOf(renderPolicyPage(input({ stopEnds: ['orders', 'offers'] })));
    assert.match(
      en,
      /reply STOP in the chat\.[^<]* STOP also ends the messages we send you without needing your consent \(Order updates\)\./,
    );
    const de = textOf(renderPolicyPage(input({ stopEnds: ['orders', 'offers'], language: 'de' })));
    assert.match(de, /STOP beendet auch die Nachrichten, die wir Ihnen ohne Einwilligung senden \(Order updates\)\./);
    // A STOP that ends consents only, or a page without the nodes' scope, says nothing more.
    for (const stopEnds of [['offers'], undefined]) {
      assert.doesNotMatch(textOf(renderPolicyPage(input({ stopEnds }))), /also ends the messages/);
    }
  });

  it('names consent as the basis of a marketing purpose saved on another basis, as the checks treat it', () => {
    const promo = { id: 'promo', label: 'Offers', wording: { en: 'Offers' }, lawfulBasis: 'contract', marketing: true };
    const text = textOf(renderPolicyPage(input({ purposes: [promo] })));
    assert.match(text, /your consent, Art\. 6\(1\)\(a\) GDPR/);
    assert.doesNotMatch(text, /performance of a contract/);
  });

  it('loads nothing from elsewhere: no script, no external stylesheet, image or font', () => {
    const html = renderPolicyPage(input());
    assert.equal(/<script|<link|<img|<iframe|@import|url\(/i.test(html), false);
  });

  it('states the end of consents to a stopped purpose as the access export does, at least 30 days', () => {
    const DAY_MS = 86_400_000;
    for (const days of [7, 30, 45]) {
      const exported = accessInformation(new Map(), {
        pendingExpiryMs: 48 * 3_600_000,
        personalDataMs: days * DAY_MS,
        proofRetentionMs: 5 * 365 * DAY_MS,
        dedupeTtlMs: 8 * DAY_MS,
        sweepBatchSize: 500,
      }).retention.consentAfterPurposeRemovedDays;
      assert.equal(exported, Math.max(days, 30), `the sweep's figure for ${days} days`);
      const retention = { withdrawnPersonalDataDays: days };
      const english = textOf(renderPolicyPage(input({ retention })));
      const german = textOf(renderPolicyPage(input({ retention, language: 'de' })));
      assert.ok(
        english.includes(`a consent to it ends ${exported} days later`),
        english.match(/When we stop[^.]*/)?.[0],
      );
      assert.ok(english.includes(`you have not written to us for ${days} days`), 'the personal-data period itself');
      assert.ok(
        german.includes(`endet eine Einwilligung dafür ${exported} Tage danach`),
        german.match(/Stellen wir[^.]*/)?.[0],
      );
      assert.ok(german.includes(`haben Sie uns ${days} Tage nicht geschrieben`), 'the personal-data period itself');
    }
  });

  it('says so when optional facts are missing instead of leaving holes', () => {
    const text = textOf(
      renderPolicyPage(
        input({ settings: { controllerName: 'Shop' }, purposes: [], retention: {}, noticeVersion: undefined }),
      ),
    );
    assert.ok(text.includes('please contact the controller'));
    assert.ok(text.includes('No purposes are configured yet.'));
    assert.ok(text.includes('The storage location has not been stated yet.'));
    assert.ok(text.includes('reply STOP in the chat'));
    assert.ok(text.includes('Erasure (Art. 17 GDPR): contact us'));
    assert.equal(text.includes('Integrator'), false);
  });

  describe('choosePolicyLanguage', () => {
    it('prefers ?lang=, then Accept-Language by weight, then the fallback', () => {
      assert.equal(choosePolicyLanguage('de', 'en-US,en;q=0.9', 'en'), 'de');
      assert.equal(choosePolicyLanguage('EN', 'de-DE', 'de'), 'en');
      assert.equal(choosePolicyLanguage(undefined, 'de-DE,de;q=0.9,en;q=0.8', 'en'), 'de');
      assert.equal(choosePolicyLanguage(undefined, 'fr-FR,en;q=0.5,de;q=0.7', 'en'), 'de');
      assert.equal(choosePolicyLanguage(undefined, 'fr-FR,it;q=0.5', 'de'), 'de');
      assert.equal(choosePolicyLanguage('fr', undefined, 'en'), 'en');
      assert.equal(choosePolicyLanguage(['de', 'en'], 'en', 'en'), 'en');
      assert.equal(choosePolicyLanguage(undefined, 'de;q=0, en', 'de'), 'en');
    });
  });
});
