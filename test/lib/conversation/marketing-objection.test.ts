import assert from 'node:assert/strict';
import { optOutHint } from '../../../lib/conversation/keywords';
import {
  besideDataRequest,
  marketingObjection,
  objectionReach,
  readObjection,
} from '../../../lib/conversation/marketing-objection';

/** Objections to advertising, and the sentence each is read as. */
const OBJECTIONS: [string, string][] = [
  ['Bitte keine Werbung mehr!', 'KEINE WERBUNG MEHR'],
  ['Hallo, keine Angebote mehr bitte 🙏', 'KEINE ANGEBOTE MEHR'],
  ['Keinen Newsletter mehr bitte', 'KEINEN NEWSLETTER MEHR'],
  ['Ich möchte keine Werbung mehr per WhatsApp erhalten', 'ICH MOECHTE KEINE WERBUNG MEHR PER WHATSAPP ERHALTEN'],
  ['Keine Werbenachrichten mehr', 'KEINE WERBENACHRICHTEN MEHR'],
  ['Kein Spam mehr!', 'KEIN SPAM MEHR'],
  ['Schickt mir keine Angebote mehr', 'SCHICKT MIR KEINE ANGEBOTE MEHR'],
  ['Newsletter abbestellen', 'NEWSLETTER ABBESTELLEN'],
  ['Ich möchte den Newsletter abbestellen.', 'ICH MOECHTE DEN NEWSLETTER ABBESTELLEN'],
  ['Ich möchte mich vom Newsletter abmelden', 'ICH MOECHTE MICH VOM NEWSLETTER ABMELDEN'],
  ['Ich möchte mich abmelden', 'ICH MOECHTE MICH ABMELDEN'],
  ['Bitte meldet mich ab', 'MELDET MICH AB'],
  ['Melden Sie mich bitte vom Newsletter ab', 'MELDEN SIE MICH VOM NEWSLETTER AB'],
  ['Tragen Sie mich aus dem Newsletter aus', 'TRAGEN SIE MICH AUS DEM NEWSLETTER AUS'],
  ['Können Sie mich bitte vom Newsletter abmelden?', 'KOENNEN SIE MICH VOM NEWSLETTER ABMELDEN'],
  ['Ich widerspreche der Nutzung meiner Daten für Werbung', 'ICH WIDERSPRECHE DER NUTZUNG MEINER DATEN FUER WERBUNG'],
  ['Unsubscribe me please', 'UNSUBSCRIBE ME'],
  ['Can you unsubscribe me please?', 'CAN YOU UNSUBSCRIBE ME'],
  ['No more promotions', 'NO MORE PROMOTIONS'],
  // Everyday ways of saying it (chat review, session 41).
  ['nein danke, ich will doch keinen Newsletter', 'ICH WILL DOCH KEINEN NEWSLETTER'],
  ['Lasst mich in Ruhe', 'LASST MICH IN RUHE'],
  ['Lassen Sie mich endlich in Ruhe!', 'LASSEN SIE MICH ENDLICH IN RUHE'],
  ['Lass mich in Ruhe mit eurer Werbung', 'LASS MICH IN RUHE MIT EURER WERBUNG'],
  ['Halt! Keine Nachrichten mehr', 'KEINE NACHRICHTEN MEHR'],
  ['Leave me alone', 'LEAVE ME ALONE'],
  ['no more ads pls', 'NO MORE ADS'],
  ['No marketing please', 'NO MARKETING'],
  ["I don't want any more offers", 'I DONT WANT ANY MORE OFFERS'],
  ['Stop sending me ads', 'STOP SENDING ME ADS'],
  ['Hello, please stop sending me messages', 'STOP SENDING ME MESSAGES'],
  ['Remove me from your mailing list', 'REMOVE ME FROM YOUR MAILING LIST'],
  ['I object to marketing', 'I OBJECT TO MARKETING'],
  ['Guten Morgen! Bitte keine Angebote mehr schicken. Danke, Grüße', 'KEINE ANGEBOTE MEHR SCHICKEN'],
  ['Möchte keine Werbung mehr', 'MOECHTE KEINE WERBUNG MEHR'],
  ['Ich mochte den Newsletter nicht mehr erhalten', 'ICH MOCHTE DEN NEWSLETTER NICHT MEHR ERHALTEN'],
  ['STOP WERBUNG', 'STOP WERBUNG'],
  ['Abmeldung vom Newsletter', 'ABMELDUNG VOM NEWSLETTER'],
  ['Ich würde mich gerne vom Newsletter abmelden', 'ICH WUERDE MICH GERNE VOM NEWSLETTER ABMELDEN'],
  ['Nehmt mich aus eurem Verteiler', 'NEHMT MICH AUS EUREM VERTEILER'],
  ['Hiermit widerspreche ich jeglicher Werbung', 'HIERMIT WIDERSPRECHE ICH JEGLICHER WERBUNG'],
  ["I'd like to unsubscribe", 'ID LIKE TO UNSUBSCRIBE'],
  ["Don't send me any more promo messages", 'DONT SEND ME ANY MORE PROMO MESSAGES'],
  ['Keine Werbung mehr uber WhatsApp', 'KEINE WERBUNG MEHR UBER WHATSAPP'],
  ['Nein danke, keine Werbung', 'KEINE WERBUNG'],
  ['Danke, aber keine Werbung mehr', 'KEINE WERBUNG MEHR'],
  ['No, no ads please', 'NO ADS'],
  ['Ich will keine Werbung von euch', 'ICH WILL KEINE WERBUNG VON EUCH'],
  ['Ich hätte gerne keine Werbung mehr', 'ICH HAETTE GERNE KEINE WERBUNG MEHR'],
  ['hört auf mit der werbung', 'HOERT AUF MIT DER WERBUNG'],
  ['Bitte aus dem Verteiler nehmen', 'AUS DEM VERTEILER NEHMEN'],
  // Greetings and signatures with a name, and a part that keeps the other messages (a third exploratory run).
  ['Bitte keine Werbung mehr. LG Anna', 'KEINE WERBUNG MEHR'],
  ['Hallo Beispiel Shop, bitte keine Werbung mehr', 'KEINE WERBUNG MEHR'],
  ['Bitte keine Newsletter mehr, danke und schönen Tag', 'KEINE NEWSLETTER MEHR'],
  ['Keine Werbung mehr, ich möchte nur Bestell-Updates', 'KEINE WERBUNG MEHR'],
  ['Keine Werbung mehr, nur noch Bestellinfos', 'KEINE WERBUNG MEHR'],
  ['Bitte keine Werbung mehr, aber die Bestell-Updates gerne', 'KEINE WERBUNG MEHR'],
  ['No more ads, only order updates please', 'NO MORE ADS'],
  // A withdrawal of consent, to advertising by name or to none, and a wish for no messages at all: advertising ends
  // at least (a DPO's review; the answer says that STOP ends the rest).
  ['Ich widerrufe meine Einwilligung zum Newsletter', 'ICH WIDERRUFE MEINE EINWILLIGUNG ZUM NEWSLETTER'],
  ['Hiermit widerrufe ich meine Einwilligung.', 'HIERMIT WIDERRUFE ICH MEINE EINWILLIGUNG'],
  [
    'Ich möchte meine Einwilligung zum Erhalt des Newsletters widerrufen',
    'ICH MOECHTE MEINE EINWILLIGUNG ZUM ERHALT DES NEWSLETTERS WIDERRUFEN',
  ],
  ['Widerruf meiner Einwilligung', 'WIDERRUF MEINER EINWILLIGUNG'],
  ['Ich ziehe meine Einwilligung zurück.', 'ICH ZIEHE MEINE EINWILLIGUNG ZURUECK'],
  ['Ich nehme meine Zustimmung zum Newsletter zurück', 'ICH NEHME MEINE ZUSTIMMUNG ZUM NEWSLETTER ZURUECK'],
  ['Ich widerrufe mein Einverständnis', 'ICH WIDERRUFE MEIN EINVERSTAENDNIS'],
  ['I withdraw consent', 'I WITHDRAW CONSENT'],
  ['Ich möchte nicht mehr angeschrieben werden', 'ICH MOECHTE NICHT MEHR ANGESCHRIEBEN WERDEN'],
  ['Bitte nicht mehr schreiben!', 'NICHT MEHR SCHREIBEN'],
  ['I withdraw my consent', 'I WITHDRAW MY CONSENT'],
  ["I'd like to withdraw my consent to marketing", 'ID LIKE TO WITHDRAW MY CONSENT TO MARKETING'],
  ['Ich will keine Nachrichten mehr', 'ICH WILL KEINE NACHRICHTEN MEHR'],
  ['Bitte keine Nachrichten mehr', 'KEINE NACHRICHTEN MEHR'],
  ['Bitte keine weiteren Nachrichten mehr schicken', 'KEINE WEITEREN NACHRICHTEN MEHR SCHICKEN'],
  ['Ich möchte keine weiteren Nachrichten erhalten', 'ICH MOECHTE KEINE WEITEREN NACHRICHTEN ERHALTEN'],
  ['Hören Sie auf, mir zu schreiben', 'HOEREN SIE AUF MIR ZU SCHREIBEN'],
  ['Schreibt mir bitte nicht mehr!', 'SCHREIBT MIR NICHT MEHR'],
  ['Kontaktieren Sie mich nicht mehr', 'KONTAKTIEREN SIE MICH NICHT MEHR'],
  ['Schickt mir keine WhatsApps mehr', 'SCHICKT MIR KEINE WHATSAPPS MEHR'],
  ['Stop messaging me', 'STOP MESSAGING ME'],
  ["Don't text me anymore", 'DONT TEXT ME ANYMORE'],
  ['No more messages please', 'NO MORE MESSAGES'],
  ["I don't want any more messages from you", 'I DONT WANT ANY MORE MESSAGES FROM YOU'],
  ['Kein Interesse mehr an Ihren Angeboten', 'KEIN INTERESSE MEHR AN IHREN ANGEBOTEN'],
  ['Kein Interesse an Ihrer Werbung', 'KEIN INTERESSE AN IHRER WERBUNG'],
  ['Not interested in your offers', 'NOT INTERESTED IN YOUR OFFERS'],
  ["I'm no longer interested in your newsletter", 'IM NO LONGER INTERESTED IN YOUR NEWSLETTER'],
];

/**
 * Messages that are no objection to advertising, or too unclear to act on: orders and contracts, descriptions, the
 * opposite of an objection, negations, other channels, someone else's number, a yes, a question, a data request.
 */
const NOT_OBJECTIONS = [
  'Ich möchte meine Bestellung abbestellen',
  'Bitte die zweite Lieferung abbestellen.',
  'Kaffee-Abo abbestellen',
  'Sparabo abmelden',
  'Abmeldung vom Kurs',
  'Abmeldung vom Lastschriftverfahren',
  'I want to unsubscribe from the yoga class',
  'Im Shop sind keine Angebote zu sehen',
  'Keine Angebote gefunden, die Suche geht nicht',
  'Ich habe keine Angebote bekommen, obwohl ich angemeldet bin',
  'Kein Newsletter? Schade',
  'Ich will keine Angebote verpassen',
  'Damit ich keine Angebote verpasse, ja bitte',
  'Ich bekomme keine Werbung mehr, bitte wieder schicken',
  'Ich möchte meine Abmeldung rückgängig machen',
  'Abmeldung war ein Versehen',
  'I unsubscribed by mistake, please add me back',
  "I didn't unsubscribe",
  'No need to unsubscribe me',
  "Don't you dare unsubscribe me",
  'Auf keinen Fall abmelden',
  'Kein Abmelden bitte',
  'Bitte nicht abmelden',
  'Ich will mich nicht vom Newsletter abmelden',
  'Abmelden möchte ich mich nicht',
  'Keine Werbung im Paket bitte, ist ein Geschenk',
  'Ja gerne, aber bitte keine Werbung per SMS',
  'Ich möchte Newsletter weiter, aber keine Werbung per SMS',
  "Can you unsubscribe my wife's number too",
  'Ja, aber keine Werbung mehr',
  'Wie kann ich mich abmelden?',
  'Warum bekomme ich keine Angebote mehr?',
  'Keine Werbung mehr? Wieso?',
  'Bitte keine Werbung mehr und löschen Sie meine Daten',
  'Unsubscribe me and delete my data',
  'Keine Werbung mehr. Welche Daten haben Sie über mich gespeichert',
  'Ich kündige',
  'Stop the delivery',
  'Ich widerspreche der Rechnung',
  'Wo ist mein Paket',
  '',
  // A second part of any kind: a person reads it (a second review's findings).
  'Funktioniert nicht. Bitte abmelden.',
  'Kein Spam, ich habe wirklich ein Problem mit meiner Bestellung',
  'Kein Spam! Ich brauche Hilfe',
  'No spam, I really need help',
  'Keine Werbung! Ich habe nur eine Frage zur Rechnung',
  'Kein Newsletter, sondern eine Frage: wo bleibt die Lieferung?',
  'Keine Werbung, ich will mein Geld zurück!',
  'Ich will keine Werbung, ich will eine Antwort',
  'Keine Werbung. Geschenk!',
  'Kein Newsletter, nur Angebote',
  'Keine Angebote mehr. Wann kommen neue?',
  'Keine Angebote mehr. Schade!',
  'Keine Werbung mehr, oder?',
  'Keine Angebote mehr❓',
  'Kein Newsletter mehr⁉️',
  'Keine Werbung mehr？',
  'Mein Vater sagt: keine Werbung mehr',
  'Meine Oma hat gesagt, keine Werbung mehr',
  'Meine Schwester hat gesagt: Bitte abmelden',
  'Endlich keine Werbung mehr 🎉',
  'Danke, endlich keine Werbung mehr!',
  'Ok keine Werbung mehr',
  'Keine Werbung per WhatsApp, lieber per E-Mail',
  'Keine Werbung mehr, bis Weihnachten',
  'Take me off the list, I already bought it',
  'Take me off the list',
  'Ich möchte mich abmelden, wie geht das im Kundenkonto',
  'Ich möchte mich abmelden. Ich kann am Samstag nicht zum Workshop kommen',
  'Hallo ja gerne, aber keine Werbung mehr',
  'Ok ja, aber keine Werbung mehr',
  'Jo gerne aber keine werbung mehr',
  'Keine Werbung mehr, das war ausversehen',
  // What did not arrive, not what she wants (a third exploratory run).
  'Keinen Newsletter erhalten',
  'Hallo, keine Angebote bekommen',
  'Kein Newsletter',
  'No offers',
  'Keine Werbung mehr, auch keine Bestell-Updates',
  'Keine Werbung mehr. Wann kommt mein Paket?',
  'Hallo ich will nicht, keine Werbung mehr',
  'Keine Werbung mehr, Bestellung stornieren',
  // What did not arrive, a withdrawal of something else, another channel, an answer to a question, a time.
  'Ich bekomme keine Nachrichten mehr',
  'Keine Nachrichten mehr bekommen',
  'Keine Nachrichten mehr?',
  'Warum schreibt ihr mir nicht mehr?',
  'Kein Interesse',
  'Not interested',
  // Answers to a question about something else (a second review): no interest in what was asked, not in advertising.
  'Kein Interesse mehr, danke',
  'Kein Interesse mehr',
  'Not interested anymore',
  'No longer interested',
  'Kein Interesse an den Angeboten',
  'Ich will keine Nachrichten',
  'Ich nehme meine Bestellung zurück',
  'Ich möchte nicht mehr angerufen werden',
  'Nicht mehr schreiben? Warum?',
  'Kein Interesse an einer Gutschrift, ich will mein Geld zurück',
  'Ich widerrufe meine Bestellung',
  'Ich widerrufe den Kaufvertrag',
  'Ich widerrufe meine Einwilligung nicht',
  'Schreiben Sie mir nicht mehr per E-Mail, lieber hier',
  'Keine Nachrichten mehr per SMS',
  'Hört auf, mir Rechnungen zu schicken',
  "Don't message me before 9",
  'Stop messaging me at night',
  'Meine Frau sagt: keine Nachrichten mehr',
  'Keine Nachrichten mehr, bis ich zurück bin',
  'Lasst mich in Ruhe, ich rufe morgen an',
  'Lass mich in Ruhe überlegen',
  'Ich will doch keinen Newsletter?',
];

describe('conversation/marketing-objection', () => {
  it('reads an objection to advertising put in other words, German and English, as the sentence that says it', () => {
    for (const [text, sentence] of OBJECTIONS) assert.equal(marketingObjection(text), sentence, text);
  });

  it('reads none in orders, descriptions, takings back, negations, a yes, a data request or a second part', () => {
    for (const text of NOT_OBJECTIONS) assert.equal(marketingObjection(text), undefined, text);
    assert.equal(marketingObjection(undefined), undefined);
    assert.equal(marketingObjection(`${'Guten Tag. '.repeat(50)}Keine Werbung mehr`), undefined, 'over 500 characters');
  });

  it('reads a withdrawal of her consent that names no advertising as ending every consent, the rest as advertising', () => {
    const reaches: [string, 'advertising' | 'every-consent'][] = [
      ['Ich widerrufe meine Einwilligung', 'every-consent'],
      ['Hiermit widerrufe ich meine Einwilligung.', 'every-consent'],
      ['Widerruf meiner Einwilligung', 'every-consent'],
      ['Ich ziehe meine Einwilligung zurück.', 'every-consent'],
      ['Ich widerrufe mein Einverständnis', 'every-consent'],
      ['Ich widerrufe meine Zustimmung für Nachrichten', 'every-consent'],
      ['I withdraw my consent', 'every-consent'],
      ['I withdraw my consent to messages', 'every-consent'],
      ['Ich widerrufe meine Einwilligung zum Newsletter', 'advertising'],
      ['Ich möchte meine Einwilligung zum Erhalt des Newsletters widerrufen', 'advertising'],
      ["I'd like to withdraw my consent to marketing", 'advertising'],
      ['Bitte keine Werbung mehr!', 'advertising'],
      ['Hören Sie auf, mir zu schreiben', 'advertising'],
      ['Stop messaging me', 'advertising'],
    ];
    for (const [text, reach] of reaches) {
      const sentence = marketingObjection(text);
      assert.ok(sentence, text);
      assert.equal(objectionReach(sentence), reach, text);
    }
  });

  it('limits a withdrawal of her consent to advertising when a part after it keeps the other messages', () => {
    assert.deepEqual(readObjection('Ich widerrufe meine Einwilligung, aber die Bestell-Updates gerne'), {
      sentence: 'ICH WIDERRUFE MEINE EINWILLIGUNG',
      reach: 'advertising',
    });
    assert.deepEqual(readObjection('I withdraw my consent, only order updates'), {
      sentence: 'I WITHDRAW MY CONSENT',
      reach: 'advertising',
    });
    assert.equal(readObjection('Ich widerrufe meine Einwilligung.')?.reach, 'every-consent');
  });

  it('reads only what optOutHint also flags, so that a node without the setting hands each to a person', () => {
    for (const [text] of OBJECTIONS) assert.notEqual(optOutHint(text), undefined, text);
  });

  it('takes a request for her data out of a message that also opts out, and says what it asks for', () => {
    const cases: [string, { rest: string; about: 'erasure' | 'access' }][] = [
      ['Bitte keine Werbung mehr und löschen Sie meine Daten', { rest: 'Bitte keine Werbung mehr', about: 'erasure' }],
      ['Keine Werbung mehr! Und bitte alles löschen.', { rest: 'Keine Werbung mehr!', about: 'erasure' }],
      ['Unsubscribe me and delete my data', { rest: 'Unsubscribe me', about: 'erasure' }],
      ['STOP und löschen Sie meine Nummer', { rest: 'STOP', about: 'erasure' }],
      ['Stop, and delete my data please', { rest: 'Stop', about: 'erasure' }],
      [
        'Löschen Sie meine Daten und schicken Sie mir keine Werbung mehr',
        { rest: 'schicken Sie mir keine Werbung mehr', about: 'erasure' },
      ],
      [
        'Keine Werbung mehr. Welche Daten haben Sie über mich gespeichert',
        { rest: 'Keine Werbung mehr', about: 'access' },
      ],
    ];
    for (const [text, beside] of cases) {
      assert.deepEqual(besideDataRequest(text), beside, text);
      assert.ok(readObjection(beside.rest) ?? beside.rest.toUpperCase() === 'STOP', text);
    }
  });

  it('takes out no request that names an order, nothing from a message without one, and nothing taken back', () => {
    for (const text of [
      'Stop, delete my order',
      'Stopp und Bestellung löschen',
      'Keine Werbung mehr',
      'Löschen Sie meine Daten',
      'Bitte löschen Sie meine Daten und meine Nummer',
      'Keine Werbung mehr, löschen Sie meine Daten, und stornieren Sie die Bestellung, löschen Sie sie',
      'Abmeldung war ein Versehen, bitte nicht meine Daten löschen',
      undefined,
    ]) {
      assert.equal(besideDataRequest(text), undefined, String(text));
    }
  });
});
