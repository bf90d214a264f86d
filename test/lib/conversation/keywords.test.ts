import assert from 'node:assert/strict';
import {
  DEFAULT_STOP_KEYWORDS,
  dataRequestAbout,
  dataRequestHint,
  KEYWORD_MAX_LENGTH,
  keywordLanguage,
  keywordMessageLanguage,
  keywordsFor,
  matchKeyword,
  normaliseKeywordText,
  optOutHint,
  overlongKeywords,
  parseKeywordList,
} from '../../../lib/conversation/keywords';
import { stopRulesFrom } from '../../../lib/conversation/stop';

describe('conversation/keywords', () => {
  it('matches opt-out words after trimming, case folding and punctuation removal', () => {
    assert.equal(matchKeyword('  stop! ', DEFAULT_STOP_KEYWORDS), 'STOP');
    assert.equal(matchKeyword('Stopp.', DEFAULT_STOP_KEYWORDS), 'STOPP');
    assert.equal(matchKeyword('kündigen', DEFAULT_STOP_KEYWORDS), 'KÜNDIGEN');
    assert.equal(matchKeyword('Abmelden 👋', DEFAULT_STOP_KEYWORDS), 'ABMELDEN');
  });

  it('matches every default opt-out keyword in English and German, in any case and with punctuation', () => {
    // Written out, not taken from DEFAULT_STOP_KEYWORDS: a keyword dropped from the defaults must fail here.
    const keywords = ['STOP', 'STOPP', 'STOP ALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPT OUT', 'REVOKE'].concat([
      'ABMELDEN',
      'ABBESTELLEN',
      'AUSTRAGEN',
      'KÜNDIGEN',
      'BEENDEN',
      'ENDE',
      'STOPPEN',
      'ABMELDUNG',
    ]);
    for (const keyword of keywords) {
      for (const written of [keyword, keyword.toLowerCase(), ` ${keyword[0]}${keyword.slice(1).toLowerCase()}! `]) {
        assert.equal(matchKeyword(written, DEFAULT_STOP_KEYWORDS), keyword, written);
      }
    }
  });

  it('matches a keyword written with spaces, in full-width letters, or with words of courtesy around it', () => {
    assert.equal(matchKeyword('optout', DEFAULT_STOP_KEYWORDS), 'OPT OUT');
    assert.equal(matchKeyword('Opt-out!', DEFAULT_STOP_KEYWORDS), 'OPT OUT');
    assert.equal(matchKeyword('STOPALL', DEFAULT_STOP_KEYWORDS), 'STOP ALL');
    assert.equal(matchKeyword('Datenlöschen', ['DATEN LÖSCHEN']), 'DATEN LÖSCHEN');
    assert.equal(matchKeyword('ＳＴＯＰ', DEFAULT_STOP_KEYWORDS), 'STOP');
    assert.equal(matchKeyword('Stop bitte!', DEFAULT_STOP_KEYWORDS), 'STOP');
    assert.equal(matchKeyword('Bitte abmelden', DEFAULT_STOP_KEYWORDS), 'ABMELDEN');
    assert.equal(matchKeyword('please unsubscribe, thanks', DEFAULT_STOP_KEYWORDS), 'UNSUBSCRIBE');
    assert.equal(matchKeyword('daten löschen bitte', ['DATEN LÖSCHEN']), 'DATEN LÖSCHEN');
    assert.equal(matchKeyword('Bitte', DEFAULT_STOP_KEYWORDS), undefined);
    assert.equal(matchKeyword('bitte', ['BITTE']), 'BITTE');
    assert.equal(matchKeyword('stop sending bitte', DEFAULT_STOP_KEYWORDS), undefined);
    // A German customer's "Widerruf" is as often a purchase's (§ 355 BGB): no objection to order updates from it.
    assert.equal(matchKeyword('Widerruf', DEFAULT_STOP_KEYWORDS), undefined);
    // Without words of courtesy when asked (erasure): only the keyword itself.
    assert.equal(matchKeyword('Bitte löschen', ['LÖSCHEN'], { courtesy: false }), undefined);
    assert.equal(matchKeyword('Löschen!', ['LÖSCHEN'], { courtesy: false }), 'LÖSCHEN');
  });

  it('reads a keyword with invisible characters in it, or with Cyrillic or Greek look-alike letters, as she sees it', () => {
    // Zero-width space, soft hyphen, zero-width joiner, word joiner, a left-to-right mark: pasted or put in by a keyboard.
    for (const text of ['ST\u200BOP', 'STO\u00ADP', 'st\u200Dop', '\u200EStop']) {
      assert.equal(matchKeyword(text, DEFAULT_STOP_KEYWORDS), 'STOP', JSON.stringify(text));
    }
    assert.equal(matchKeyword('Ab\u2060melden', DEFAULT_STOP_KEYWORDS), 'ABMELDEN');
    // A Cyrillic О and Р, a Greek Τ, a Cyrillic е, mixed into Latin words: a keyboard layout switched mid-word.
    assert.equal(matchKeyword('STОP', DEFAULT_STOP_KEYWORDS), 'STOP');
    assert.equal(matchKeyword('SΤОР', DEFAULT_STOP_KEYWORDS), 'STOP');
    assert.equal(matchKeyword('Abmеlden', DEFAULT_STOP_KEYWORDS), 'ABMELDEN');
    assert.equal(optOutHint('Bitte keine Wеrbung mehr'), 'KEINE WERBUNG');
    // A word wholly in Cyrillic or Greek is a word of that language: the Russian "у" (at) is no Y, "СТОП" no STOP.
    assert.equal(matchKeyword('у', ['Y']), undefined);
    assert.equal(matchKeyword('СТОП', DEFAULT_STOP_KEYWORDS), undefined);
    assert.equal(normaliseKeywordText('Привет, Stор'), 'ПРИВЕТ STOP');
  });

  it('reads punctuation without a space after it as a break between words, an apostrophe as none', () => {
    for (const text of [
      'Stop,danke',
      'Stop.Bitte',
      'STOP-Danke',
      'Danke,stop',
      'Bitte:STOP',
      'STOP!!!Danke!!!',
      'OK…',
    ]) {
      const expected = text === 'OK…' ? undefined : 'STOP';
      assert.equal(matchKeyword(text, DEFAULT_STOP_KEYWORDS), expected, text);
    }
    assert.equal(matchKeyword('bitte,abmelden', DEFAULT_STOP_KEYWORDS), 'ABMELDEN');
    assert.equal(matchKeyword('Ja,bitte', ['JA']), 'JA');
    assert.equal(normaliseKeywordText("Don't, please"), 'DONT PLEASE');
    assert.equal(normaliseKeywordText('Newsletter-Abmeldung'), 'NEWSLETTER ABMELDUNG');
    assert.equal(optOutHint('stop/unsubscribe'), 'STOP');
  });

  it("joins a keyword's words but does not split its words: EN DE is no ENDE, unless spelled out letter by letter", () => {
    for (const text of ['EN DE', 'en, de', 'EN/DE', 'en-de', 'St. Op', 'sto p']) {
      assert.equal(matchKeyword(text, DEFAULT_STOP_KEYWORDS), undefined, text);
    }
    assert.equal(matchKeyword('S T O P', DEFAULT_STOP_KEYWORDS), 'STOP');
    assert.equal(matchKeyword('S.T.O.P.', DEFAULT_STOP_KEYWORDS), 'STOP');
    assert.equal(matchKeyword('Kün-digen', DEFAULT_STOP_KEYWORDS), undefined);
    assert.equal(matchKeyword('DELETE MYDATA', ['DELETE MY DATA']), 'DELETE MY DATA');
    assert.equal(matchKeyword('DELE TE MY DATA', ['DELETE MY DATA']), undefined);
  });

  it('matches a German keyword typed without umlauts, written out or dropped, and a keyword without its accents', () => {
    assert.equal(matchKeyword('KUENDIGEN', DEFAULT_STOP_KEYWORDS), 'KÜNDIGEN');
    assert.equal(matchKeyword('kundigen', DEFAULT_STOP_KEYWORDS), 'KÜNDIGEN');
    assert.equal(matchKeyword('Daten loeschen', ['DATEN LÖSCHEN'], { courtesy: false }), 'DATEN LÖSCHEN');
    assert.equal(matchKeyword('bestaetigen', ['BESTÄTIGEN']), 'BESTÄTIGEN');
    assert.equal(matchKeyword('Désabonner', ['DESABONNER']), 'DESABONNER');
    assert.equal(matchKeyword('desabonner', ['DÉSABONNER']), 'DÉSABONNER');
    // A keyword the integrator wrote out (LOESCHEN) is matched by the umlaut too.
    assert.equal(matchKeyword('Löschen', ['LOESCHEN']), 'LOESCHEN');
    // Marks are dropped from Latin letters only: in Hindi or Thai they make another word ("is" is not "yes").
    assert.equal(matchKeyword('है', ['हाँ']), undefined);
    assert.equal(matchKeyword('ใช้', ['ใช่']), undefined);
    assert.equal(matchKeyword('हाँ', ['हाँ']), 'हाँ');
    // Accents and vowel points people leave out, in any script, and keys a phone adds to a sign.
    assert.equal(matchKeyword('διαγραφή', ['ΔΙΑΓΡΑΦΗ']), 'ΔΙΑΓΡΑΦΗ');
    assert.equal(matchKeyword('ΔΙΑΓΡΑΦΗ', ['διαγραφή']), 'διαγραφή');
    assert.equal(matchKeyword('τέλος', ['ΤΕΛΟΣ']), 'ΤΕΛΟΣ');
    assert.equal(matchKeyword('تَوَقَّفْ', ['توقف']), 'توقف');
    assert.equal(matchKeyword('הַפְסֵק', ['הפסק']), 'הפסק');
    assert.equal(matchKeyword('всё', ['ВСЕ']), 'ВСЕ');
    assert.equal(matchKeyword('1️⃣', ['1']), '1');
    assert.equal(matchKeyword('停止\u{E0100}', ['停止']), '停止');
    // Elsewhere a mark may make another word: Japanese ばい is not はい (yes), Dhivehi އެ (that) not އާ (yes).
    assert.equal(matchKeyword('ばい', ['はい']), undefined);
    assert.equal(matchKeyword('パイ', ['ハイ']), undefined);
    assert.equal(matchKeyword('ﾊﾞｲ', ['ハイ']), undefined);
    assert.equal(matchKeyword('އެ', ['އާ']), undefined);
    assert.equal(matchKeyword('はい', ['はい']), 'はい');
    // Letters with a stroke: a Polish opt-out typed without its diacritics.
    assert.equal(matchKeyword('wylacz', ['WYŁĄCZ']), 'WYŁĄCZ');
    assert.equal(matchKeyword('afmeld', ['AFMELD']), 'AFMELD');
  });

  it('reads a consent with its accents: only German umlauts may be written out', () => {
    const exactAccents = { exactAccents: true };
    assert.equal(matchKeyword('já', ['JA'], exactAccents), undefined);
    assert.equal(matchKeyword('co', ['CÓ'], exactAccents), undefined);
    assert.equal(matchKeyword('bestatigen', ['BESTÄTIGEN'], exactAccents), undefined);
    assert.equal(matchKeyword('bestaetigen', ['BESTÄTIGEN'], exactAccents), 'BESTÄTIGEN');
    assert.equal(matchKeyword('Bestätigen!', ['BESTÄTIGEN'], exactAccents), 'BESTÄTIGEN');
    assert.equal(matchKeyword('ja bitte', ['JA'], exactAccents), 'JA');
    // An opt-out is read without them: withdrawing must be as easy as consenting.
    assert.equal(matchKeyword('já', ['JA']), 'JA');
  });

  it('takes no longer word for a keyword written out', () => {
    assert.equal(matchKeyword('KUENDIGUNG', DEFAULT_STOP_KEYWORDS), undefined);
  });

  it('does not treat a sentence that contains a keyword as the keyword', () => {
    assert.equal(matchKeyword('please do not stop', DEFAULT_STOP_KEYWORDS), undefined);
    assert.equal(matchKeyword('', DEFAULT_STOP_KEYWORDS), undefined);
    assert.equal(matchKeyword(undefined, DEFAULT_STOP_KEYWORDS), undefined);
  });

  it('folds case for German letters independently of the locale', () => {
    assert.equal(normaliseKeywordText('daten löschen'), 'DATEN LÖSCHEN');
    assert.equal(normaliseKeywordText('Straße'), 'STRASSE');
  });

  it('parses keyword lists from the edit dialog and falls back to the defaults when empty', () => {
    assert.deepEqual(parseKeywordList('halt, Ende\nstop', DEFAULT_STOP_KEYWORDS), ['HALT', 'ENDE', 'STOP']);
    assert.deepEqual(parseKeywordList(' , ', ['STOP']), ['STOP']);
  });

  it('keeps no keyword longer than the consent ledger records with a withdrawal, and names what it left out', () => {
    const phrase = 'Bitte tragen Sie mich sofort aus allen Ihren WhatsApp Verteilern aus. Danke!';
    const atLimit = `${'ab '.repeat(66)}ab`;
    const tooLong = `${atLimit}c`;
    // U+FDFA is one character that NFKC turns into 18: short as typed, too long once normalised.
    const expanding = '\uFDFA'.repeat(12);
    assert.equal(normaliseKeywordText(atLimit).length, KEYWORD_MAX_LENGTH);
    assert.ok(normaliseKeywordText(expanding).length > KEYWORD_MAX_LENGTH);
    const list = [phrase, atLimit, tooLong, expanding, 'halt'].join('\n');
    assert.deepEqual(parseKeywordList(list, ['STOP']), [
      normaliseKeywordText(phrase),
      normaliseKeywordText(atLimit),
      'HALT',
    ]);
    assert.deepEqual(overlongKeywords(list), [tooLong, expanding]);
    assert.deepEqual(overlongKeywords('STOP, halt'), []);
    // A list with nothing but overlong keywords falls back to the defaults, as an empty one does.
    assert.deepEqual(parseKeywordList(tooLong, ['STOP']), ['STOP']);
  });

  it('every keyword a STOP can match fits in the ledger', () => {
    const rules = stopRulesFrom({ keywords: ['x'.repeat(500), `${'y'.repeat(199)}!!`, '\uFDFA'.repeat(11)].join(',') });
    for (const keyword of rules.stopKeywords) assert.ok(keyword.length <= KEYWORD_MAX_LENGTH, keyword);
    assert.equal(matchKeyword(`${'y'.repeat(199)}!`, rules.stopKeywords), 'Y'.repeat(199));
    assert.equal(matchKeyword('\uFDFA'.repeat(11), rules.stopKeywords), normaliseKeywordText('\uFDFA'.repeat(11)));
  });

  describe('dataRequestAbout', () => {
    it('tells a request to see her data from one to erase it: a word of erasure decides; neither is unclear', () => {
      const cases: [string, string][] = [
        ['Bitte löschen Sie meine Nummer', 'erasure'],
        ['Please forget me', 'erasure'],
        ['Welche Daten haben Sie über mich gespeichert?', 'access'],
        ['Ich möchte Auskunft', 'access'],
        ['What information do you have on me', 'access'],
        ['Was speichern Sie über mich? Dann bitte löschen.', 'erasure'],
        ['Bitte löschen Sie alle Daten, die Sie über mich gespeichert haben', 'erasure'],
        ['Please delete the data you hold about me', 'erasure'],
        ['Meine Daten', 'unclear'],
        ['DSGVO', 'unclear'],
        // Where her number came from, and who allowed the messages, are hers to know (Art. 15(1)(c), (g)).
        ['Woher habt ihr meine Nummer?', 'access'],
        ['Woher haben Sie meine Handynummer??', 'access'],
        ['Wer hat euch erlaubt, mir zu schreiben?', 'access'],
        ['Where did you get my number from?', 'access'],
        ['Who allowed you to text me', 'access'],
        ['Woher habt ihr die Jacke?', 'unclear'],
      ];
      for (const [text, about] of cases) assert.equal(dataRequestAbout(text), about, text);
      assert.equal(dataRequestHint('Woher habt ihr die Jacke?'), undefined, 'a question about a product');
    });
  });

  describe('dataRequestHint', () => {
    it('finds a request to erase or to see her data put in other words, in German and English', () => {
      const cases: [string, string | undefined][] = [
        ['Bitte löschen Sie meine Nummer', 'LOESCH'],
        ['Bitte loschen Sie meine Nummer', 'LOSCH'],
        ['Please delete my data', 'DELETE'],
        ['Forget me, please', 'FORGET ME'],
        ['Was habt ihr über mich gespeichert?', 'GESPEICHERT'],
        ['Ich möchte Auskunft nach DSGVO', 'AUSKUNFT'],
        ['What data do you hold about me?', 'WHAT DATA'],
        ['Hallo, wann kommt mein Paket?', undefined],
        ['Spielt ihr auch Datenbanken?', undefined],
      ];
      for (const [text, hint] of cases) assert.equal(dataRequestHint(text), hint, text);
    });

    it('finds the common phrasings that do not start with the word: gelöscht, Datenlöschung, what information', () => {
      const cases: [string, string][] = [
        ['Meine Nummer soll gelöscht werden', 'GELOESCHT'],
        ['Ich will geloscht werden', 'GELOSCHT'],
        ['Bitte um Datenlöschung', 'DATENLOESCH'],
        ['Ich bitte um Datenauskunft', 'DATENAUSKUNFT'],
        ['Welche Daten habt ihr von mir?', 'WELCHE DATEN'],
        ['Habt ihr Daten von mir?', 'DATEN VON MIR'],
        ['I want my personal information removed', 'MY PERSONAL INFORMATION'],
        ['What information do you have on me?', 'WHAT INFORMATION'],
        ['I invoke my right to be forgotten', 'BE FORGOTTEN'],
      ];
      for (const [text, hint] of cases) assert.equal(dataRequestHint(text), hint, text);
    });
  });

  describe('optOutHint', () => {
    it('finds an opt-out wish put in other words, English and German, with or without umlauts', () => {
      const cases: [string, string][] = [
        ['Unsubscribe me please', 'UNSUBSCRIB'],
        ['please stop texting me', 'STOP'],
        ["Don't message me again", 'DONT MESSAGE'],
        ['No more offers, thanks', 'NO MORE OFFERS'],
        ['I object to marketing', 'I OBJECT'],
        ['Ich möchte mich abmelden', 'ABMELD'],
        ['Bitte melden Sie mich ab', 'MELDEN SIE MICH AB'],
        ['Newsletter abbestellen', 'ABBESTELL'],
        ['Ich widerrufe meine Einwilligung', 'WIDERRUF'],
        ['Ich widerspreche der Werbung', 'WIDERSPR'],
        ['Kündigung bitte', 'KUENDIG'],
        ['Kuendigung', 'KUENDIG'],
        ['Keine WhatsApps mehr!', 'KEINE WHATSAPP'],
        ['Hört auf! Stoppt das!', 'STOPPT'],
        ['Cancel my subscription', 'CANCEL MY SUBSCRIPTION'],
        ['Opt me out', 'OPT ME OUT'],
        ["I don't want any more messages", 'DONT WANT ANY MORE'],
        ['Please remove my number', 'REMOVE MY NUMBER'],
        ['Bitte schreiben Sie mir nicht mehr', 'MIR NICHT MEHR'],
        ['Schreibt mir nicht mehr', 'MIR NICHT MEHR'],
        ['Ich will keine Nachricht mehr', 'KEINE NACHRICHT'],
        ['Keine Newsletter mehr', 'KEINE NEWSLETTER'],
        ['Hört auf, mir zu schreiben', 'HOERT AUF'],
        ['I revoke my consent', 'REVOKE'],
      ];
      for (const [text, hint] of cases) assert.equal(optOutHint(text), hint, text);
    });

    it('finds none in a message that only shares letters with one', () => {
      for (const text of [
        'stopover in Berlin?',
        'Wo ist mein Paket?',
        'Is the shop open?',
        '',
        'Stopfen',
        'Keine weiteren Fragen, danke!',
      ]) {
        assert.equal(optOutHint(text), undefined, text);
      }
      assert.equal(optOutHint(undefined), undefined);
      assert.equal(optOutHint(`${'a '.repeat(3000)}stop`), undefined, 'a letter over 4,096 characters is not searched');
    });
  });
  describe('the keyword to name to a reader', () => {
    it('tells the language of sign-up and erase keywords by their words, however written', () => {
      assert.equal(keywordLanguage('Daten löschen!'), 'de');
      assert.equal(keywordLanguage('DATEN LOESCHEN'), 'de');
      assert.equal(keywordLanguage('delete my data'), 'en');
      assert.equal(keywordLanguage('ANMELDEN'), 'de');
      assert.equal(keywordLanguage('START'), 'en');
      assert.equal(keywordLanguage('STOP'), undefined, 'a word of neither');
      assert.equal(keywordLanguage('MY DATEN'), undefined, 'words of both');
    });

    it('tells the language of a message made of keywords and words of courtesy, and of no other message', () => {
      for (const [text, language] of [
        ['UNSUBSCRIBE', 'en'],
        ['Stop please', 'en'],
        ['Help', 'en'],
        ['yes', 'en'],
        ['Kündigen!', 'de'],
        ['KUNDIGEN', 'de'],
        ['Stop bitte', 'de'],
        ['Hilfe', 'de'],
        ['ja gerne', 'de'],
        ['Löschen Sie meine Daten', 'de'],
        ['STOP', undefined],
        ['Start', undefined],
        ['OK', undefined],
        ['Y', undefined],
        ['Der Start war gut', undefined],
        ['Yes danke', undefined],
      ] as const) {
        assert.equal(keywordMessageLanguage(text), language, text);
      }
      assert.equal(keywordMessageLanguage(42), undefined);
      assert.equal(keywordMessageLanguage(`unsubscribe ${'please '.repeat(KEYWORD_MAX_LENGTH)}`), undefined);
    });

    it("names those of the reader's language, else the whole list as typed", () => {
      assert.deepEqual(keywordsFor('DATEN LÖSCHEN, DELETE MY DATA', 'en'), ['DELETE MY DATA']);
      assert.deepEqual(keywordsFor('DATEN LÖSCHEN,\n LÖSCHEN, DELETE MY DATA', 'de'), ['DATEN LÖSCHEN', 'LÖSCHEN']);
      assert.deepEqual(keywordsFor('Weg damit, FORT', 'en'), ['Weg damit', 'FORT']);
      assert.deepEqual(keywordsFor(' , ', 'de'), []);
      assert.deepEqual(keywordsFor(undefined, 'de'), []);
    });
  });
});
