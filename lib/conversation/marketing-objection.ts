import { dataRequestAbout, normaliseKeywordText, optOutHint } from './keywords';

/**
 * An objection to advertising put in other words ("Bitte keine Werbung mehr", "Ich möchte den Newsletter abbestellen",
 * "Unsubscribe me"): an objection to direct marketing, to be honoured however it is put (Art. 21(2), (3) GDPR), which
 * stop-handler may act on. A wish for no messages at all ("Hören Sie auf, mir zu schreiben") says at least as much,
 * so it counts too: advertising ends at once, and the answer tells her that STOP ends the rest. A withdrawal of her
 * consent ("Ich widerrufe meine Einwilligung") that names no advertising ends every consent she gave (objectionReach).
 * Acting on a misreading ends a subscription she wanted, so the message must be one of a few sentences as a whole,
 * give or take greetings and words of courtesy: "Ich möchte meine Bestellung abbestellen", "Keine
 * Angebote gefunden", "Ich bekomme keine Werbung mehr", "Bitte nicht abmelden", "Kein Spam, ich habe eine Frage",
 * "Mein Vater sagt: keine Werbung mehr" and "Endlich keine Werbung mehr" are none. Everything else that may mean an
 * opt-out stays a hint for a person (optOutHint), who is told to reply STOP.
 */

/** What advertising is called. Umlauts are written out (`folded`), and each pattern allows them dropped (MOE?CHTE). */
const ADS_DE = '(WERBUNG|WERBENACHRICHTEN|WERBEMAILS?|WERBENEWSLETTER|REKLAME|ANGEBOTE|NEWSLETTER|NEWSLETTERS|SPAM)';
const ADS_EN =
  '(ADS|ADVERTS?|ADVERTISING|ADVERTISEMENTS?|PROMOTIONS?|PROMOS?|OFFERS|DEALS|MARKETING|NEWSLETTERS?|SPAM)';
const FROM_DE = '((VOM|VON DEM|VON IHREM|VON EUREM|AUS DEM|AUS IHREM|AUS EUREM|DEN|DIE|IHREN|EUREN|IHRE|EURE) )?';
const LIST_EN = '( FROM (THE|YOUR|THIS|ALL|ALL YOUR) (NEWSLETTERS?|MAILING LIST|MARKETING|ADS|OFFERS|PROMOTIONS))?';
// "Ich will doch keinen Newsletter": after all.
const WANT_DE = '((ICH )?(WILL|MOE?CHTE|HAE?TTE GERNE?) (DOCH )?)';
const VIA = '( (PER|UE?BER|AUF|BEI) WHATSAPP| HIER)?';
const SOON = '(AB SOFORT |KUE?NFTIG )?';
const FROM_YOU = '( VON (EUCH|IHNEN))?';
const SEND_DE = '( (ERHALTEN|BEKOMMEN|SCHICKEN|SENDEN|ZUSCHICKEN))?';

/** Messages of any kind: a wish for none is an objection to advertising at least (a STOP ends the rest). */
const MESSAGES_DE = '(NACHRICHTEN|WHATSAPPS|WHATSAPP NACHRICHTEN|WHATSAPPNACHRICHTEN)';
const MESSAGES_EN = '(MESSAGES|TEXTS|WHATSAPPS|WHATSAPP MESSAGES)';
/** Her consent, as people name it. */
const CONSENT_DE = '(EINWILLIGUNG|ZUSTIMMUNG)';
/** What a consent was given to: "meine Einwilligung zum Newsletter", "zum Erhalt von Werbung", "für Nachrichten". */
const CONSENT_TO_DE = `( (ZUM|ZUR|ZU|FUE?R DEN|FUE?R DIE|FUE?R|IN DEN|IN DIE) (${ADS_DE}|${MESSAGES_DE})| ZUM (ERHALT|EMPFANG) (DES NEWSLETTERS|VON ${ADS_DE}|VON ${MESSAGES_DE}))?${VIA}`;
const CONSENT_TO_EN = `( (TO|FOR) (THE |YOUR )?(${ADS_EN}|${MESSAGES_EN}))?`;
/**
 * What she has no interest in any more, named: "Kein Interesse mehr an Ihren Angeboten". "Kein Interesse (mehr)" alone
 * may answer any question ("noch Interesse am Sofa?"), and "an den Angeboten" may mean a craftsman's quotes.
 */
const INTEREST_IN_DE =
  '(AN (IHRER |EURER |DER )?WERBUNG|AN (IHREM |EUREM |DEM )?NEWSLETTER|AN (IHREN|EUREN) (ANGEBOTEN|NACHRICHTEN|NEWSLETTERN))';
const INTEREST_IN_EN = `IN (YOUR |THE )?(ADS|ADVERTISING|PROMOTIONS|MARKETING|NEWSLETTERS?|${MESSAGES_EN}|OFFERS)`;

/** Whole sentences that object to advertising (`asked`: a request put as a question, "Können Sie mich abmelden?"). */
const SENTENCES: readonly { pattern: RegExp; asked?: true }[] = [
  // Keine Werbung / Keine Angebote mehr / Ab sofort keine Werbung mehr schicken / Ich möchte keinen Newsletter erhalten.
  // Without "mehr" or a wish only advertising by name: "Keinen Newsletter erhalten" and "Keine Angebote bekommen" say
  // what did not arrive.
  { pattern: new RegExp(`^${SOON}(KEINE|KEIN) (WERBUNG|REKLAME|WERBENACHRICHTEN|WERBEMAILS?)${VIA}$`) },
  { pattern: new RegExp(`^${SOON}(KEINE|KEINEN|KEIN) ${ADS_DE} MEHR${FROM_YOU}${VIA}${SEND_DE}$`) },
  { pattern: new RegExp(`^${WANT_DE}${SOON}(KEINE|KEINEN|KEIN) ${ADS_DE}( MEHR)?${FROM_YOU}${VIA}${SEND_DE}$`) },
  { pattern: new RegExp(`^(SCHICKEN SIE|SCHICKT|SENDEN SIE|SENDET) MIR (KEINE|KEINEN|KEIN) ${ADS_DE}( MEHR)?${VIA}$`) },
  // Ich möchte den Newsletter nicht mehr (erhalten) / Stopp Werbung / Abmeldung vom Newsletter
  { pattern: new RegExp(`^${WANT_DE}?(DEN|DIE|EUREN|IHREN) ${ADS_DE} NICHT MEHR( (ERHALTEN|BEKOMMEN))?$`) },
  { pattern: new RegExp(`^STOPP? ${ADS_DE}$`) },
  { pattern: new RegExp(`^(ABMELDEN|ABMELDUNG) (VOM|AUS DEM) ${ADS_DE}$`) },
  // Newsletter abbestellen / Ich möchte mich vom Newsletter abmelden / Ich will den Newsletter kündigen
  {
    pattern: new RegExp(
      `^${WANT_DE}?(MICH )?${FROM_DE}${ADS_DE} (ABMELDEN|ABBESTELLEN|KUE?NDIGEN|AUSTRAGEN|BEENDEN|STOPPEN)$`,
    ),
  },
  { pattern: new RegExp(`^${WANT_DE}MICH (ABMELDEN|AUSTRAGEN)$`) },
  { pattern: new RegExp(`^ICH WUE?RDE MICH GERNE? ${FROM_DE}(${ADS_DE} )?ABMELDEN$`) },
  // Bitte melden Sie mich ab / Meldet mich vom Newsletter ab / Tragen Sie mich aus / Nehmt mich aus dem Verteiler
  { pattern: new RegExp(`^(MELDEN SIE|MELDET|MELDE|MELD) MICH( HIER| ${FROM_DE}${ADS_DE})? AB$`) },
  { pattern: new RegExp(`^(TRAGEN SIE|TRAGT) MICH( ${FROM_DE}(${ADS_DE}|VERTEILER))? AUS$`) },
  { pattern: /^(NEHMEN SIE|NEHMT) MICH AUS (DEM|EUREM|IHREM) VERTEILER( RAUS)?$/ },
  { pattern: /^AUS DEM VERTEILER (NEHMEN|STREICHEN|AUSTRAGEN)$/ },
  // Hört auf mit der Werbung
  { pattern: new RegExp(`^HOE?RT (ENDLICH )?AUF MIT (DER|DEM|DEN|EURER|EUREM|EUREN) ${ADS_DE}$`) },
  {
    pattern: new RegExp(`^(KOE?NNEN|KOE?NNTEN|WUE?RDEN) SIE MICH ${FROM_DE}(${ADS_DE} )?(ABMELDEN|AUSTRAGEN)$`),
    asked: true,
  },
  { pattern: new RegExp(`^(KANNST DU|KOE?NNT IHR) MICH ${FROM_DE}(${ADS_DE} )?(ABMELDEN|AUSTRAGEN)$`), asked: true },
  // Ich widerspreche der Werbung / der Nutzung meiner Daten für Werbung (Art. 21(2))
  {
    pattern:
      /^(HIERMIT )?(ICH WIDERSPRECHE|WIDERSPRECHE ICH) (DER |JEGLICHER )?((NUTZUNG|VERARBEITUNG|VERWENDUNG) MEINER DATEN (FUE?R|ZU) )?(WERBUNG|WERBEZWECKEN?|DIREKTWERBUNG)$/,
  },
  { pattern: /^WIDERSPRUCH GEGEN (DIE )?(DIREKT)?WERBUNG$/ },
  // No more offers / No marketing / I don't want any more ads / Stop sending me promotions
  { pattern: /^NO (ADS|ADVERTS?|ADVERTISING|MARKETING|SPAM)( MESSAGES)?$/ },
  { pattern: new RegExp(`^(I WANT |ID LIKE )?NO MORE ${ADS_EN}( MESSAGES)?${VIA}$`) },
  { pattern: new RegExp(`^(I WANT |ID LIKE )NO ${ADS_EN}( MESSAGES)?( ANYMORE| ANY MORE)?${VIA}$`) },
  {
    pattern: new RegExp(
      `^I (DONT|DO NOT) WANT (TO RECEIVE )?(ANY )?(MORE )?${ADS_EN}( MESSAGES)?( ANYMORE| ANY MORE)?${VIA}$`,
    ),
  },
  { pattern: new RegExp(`^(DONT|DO NOT) SEND ME (ANY )?(MORE )?${ADS_EN}( MESSAGES)?( ANYMORE| ANY MORE)?$`) },
  { pattern: new RegExp(`^STOP SENDING (ME )?${ADS_EN}( MESSAGES)?$`) },
  // Unsubscribe me / I'd like to unsubscribe from the newsletter / Remove me from your mailing list
  { pattern: new RegExp(`^UNSUBSCRIBE ME${LIST_EN}$`) },
  // "I'd" is ID once apostrophes are dropped.
  { pattern: new RegExp(`^(I (WANT|WOULD LIKE|WISH)|ID LIKE) TO UNSUBSCRIBE${LIST_EN}$`) },
  { pattern: /^(REMOVE|TAKE) ME (FROM|OFF) (THE|YOUR) (MAILING|MARKETING|NEWSLETTER) LIST$/ },
  { pattern: new RegExp(`^OPT ME OUT( OF ${ADS_EN})?$`) },
  { pattern: new RegExp(`^(CAN|COULD) YOU UNSUBSCRIBE ME${LIST_EN}$`), asked: true },
  { pattern: /^I OBJECT TO (DIRECT )?MARKETING$/ },
  // A withdrawal of her consent, to advertising by name (advertising ends) or to none (every consent ends, Art. 7(3)).
  // Ich widerrufe meine Einwilligung (zum Newsletter) / Widerruf meiner Einwilligung / I withdraw my consent
  {
    pattern: new RegExp(
      `^(HIERMIT )?(ICH WIDERRUFE|WIDERRUFE ICH)( HIERMIT)? ((MEINE )?${CONSENT_DE}|MEIN EINVERSTAE?NDNIS)${CONSENT_TO_DE}$`,
    ),
  },
  { pattern: new RegExp(`^${WANT_DE}?(MEINE )?${CONSENT_DE}${CONSENT_TO_DE} WIDERRUFEN$`) },
  { pattern: new RegExp(`^WIDERRUF (MEINER|DER) ${CONSENT_DE}${CONSENT_TO_DE}$`) },
  { pattern: new RegExp(`^(HIERMIT )?ICH (ZIEHE|NEHME) MEINE ${CONSENT_DE}${CONSENT_TO_DE} ZURUE?CK$`) },
  { pattern: new RegExp(`^I (HEREBY )?(WITHDRAW|REVOKE) (MY )?CONSENT${CONSENT_TO_EN}$`) },
  { pattern: new RegExp(`^(I (WANT|WOULD LIKE|WISH)|ID LIKE) TO (WITHDRAW|REVOKE) MY CONSENT${CONSENT_TO_EN}$`) },
  // No messages at all: advertising ends at once, and the answer says that STOP ends the rest.
  // Keine Nachrichten mehr (schicken) / Ich will keine Nachrichten mehr / Hören Sie auf, mir zu schreiben
  {
    pattern: new RegExp(
      `^${SOON}KEINE (WEITEREN )?${MESSAGES_DE} MEHR${FROM_YOU}${VIA}( (SCHICKEN|SENDEN|ZUSCHICKEN))?$`,
    ),
  },
  // Without "mehr" or "weiteren" it may answer a question ("Sollen wir Sie benachrichtigen?" "Ich will keine Nachrichten").
  {
    pattern: new RegExp(
      `^${WANT_DE}${SOON}KEINE (WEITEREN ${MESSAGES_DE}( MEHR)?|${MESSAGES_DE} MEHR)${FROM_YOU}${VIA}${SEND_DE}$`,
    ),
  },
  {
    pattern: new RegExp(
      `^(SCHICKEN SIE|SCHICKT|SENDEN SIE|SENDET) MIR KEINE (WEITEREN )?${MESSAGES_DE}( MEHR)?${VIA}$`,
    ),
  },
  { pattern: new RegExp(`^(SCHREIBEN SIE|SCHREIBT|SCHREIB) MIR NICHT MEHR${VIA}$`) },
  { pattern: new RegExp(`^(KONTAKTIEREN SIE|KONTAKTIERT) MICH NICHT MEHR${VIA}$`) },
  { pattern: new RegExp(`^${WANT_DE}NICHT MEHR (KONTAKTIERT|ANGESCHRIEBEN) WERDEN${VIA}$`) },
  { pattern: new RegExp(`^NICHT MEHR (SCHREIBEN|ANSCHREIBEN)${VIA}$`) },
  {
    pattern:
      /^(HOE?REN SIE|HOE?RT|HOE?R) (ENDLICH )?AUF (MIR ZU SCHREIBEN|MICH ANZUSCHREIBEN|MICH ZU KONTAKTIEREN|MIR NACHRICHTEN ZU (SCHICKEN|SENDEN))$/,
  },
  { pattern: new RegExp(`^(I WANT |ID LIKE )?NO MORE ${MESSAGES_EN}( FROM YOU)?$`) },
  {
    pattern: new RegExp(
      `^I (DONT|DO NOT) WANT (TO RECEIVE )?(ANY )?(MORE )?${MESSAGES_EN}( FROM YOU)?( ANYMORE| ANY MORE)?$`,
    ),
  },
  { pattern: /^(PLEASE )?STOP (MESSAGING|TEXTING|CONTACTING|WRITING TO) ME( ON WHATSAPP| HERE)?$/ },
  { pattern: new RegExp(`^STOP SENDING (ME )?(ANY MORE |MORE )?${MESSAGES_EN}( ON WHATSAPP| HERE)?$`) },
  { pattern: /^(DONT|DO NOT) (MESSAGE|TEXT|CONTACT|WRITE TO) ME (AGAIN|ANYMORE|ANY MORE)( ON WHATSAPP| HERE)?$/ },
  // Lasst mich in Ruhe (mit eurer Werbung) / Leave me alone
  { pattern: /^(LASST|LASSEN SIE|LASS) MICH (ENDLICH )?IN RUHE( MIT (EURER|IHRER|DER) WERBUNG)?$/ },
  { pattern: /^(JUST )?LEAVE ME ALONE$/ },
  // Kein Interesse mehr (an Ihren Angeboten) / Not interested in your offers / No longer interested
  { pattern: new RegExp(`^KEIN INTERESSE (MEHR )?${INTEREST_IN_DE}$`) },
  { pattern: new RegExp(`^((I AM|IM) )?(NOT|NO LONGER) INTERESTED ${INTEREST_IN_EN}( ANYMORE| ANY MORE)?$`) },
];

/** Words of courtesy, wherever they stand: "Können Sie mich bitte vom Newsletter abmelden?" */
const COURTESY: ReadonlySet<string> = new Set(['BITTE', 'PLEASE', 'PLS']);

/** Words that open a greeting or thanks, or close a letter. */
const GREETING_WORDS = [
  'HALLO',
  'GUTEN',
  'MOIN',
  'SERVUS',
  'DANKE',
  'VIELEN',
  'GRUSS',
  'GRUESSE',
  'MFG',
  'LG',
  'VG',
  'HI',
  'HELLO',
  'HEY',
  'THANKS',
  'THANK',
  'REGARDS',
  'CHEERS',
];

/**
 * Greetings and thanks: a part of the message made of them only, or the ones at a sentence's ends, change nothing
 * ("Hallo, keine Werbung mehr, danke", "Danke, aber keine Werbung mehr"). Not "endlich" or "ok": "Endlich keine
 * Werbung mehr" is relief, not a request.
 */
const PLEASANTRIES: ReadonlySet<string> = new Set([
  ...GREETING_WORDS,
  'ABER',
  'BUT',
  'TAG',
  'MORGEN',
  'ABEND',
  'DANK',
  'DANKESCHOEN',
  'YOU',
  'THX',
]);

/**
 * A greeting or a signature as a part of its own, with a name ("Hallo Beispiel Shop", "LG Anna", "Danke und schönen
 * Tag"): at most four words, the first a greeting or thanks, none that says yes, no or but.
 */
const GREETING_STARTS: ReadonlySet<string> = new Set([
  ...GREETING_WORDS,
  'LIEBE',
  'LIEBES',
  'SEHR',
  'VIELE',
  'BESTE',
  'BEST',
  'KIND',
]);
const NOT_IN_GREETINGS = /\b(NICHT|NIE|KEIN\w*|NOT|NEVER|DONT|NO|JA|YES|ABER|BUT|WERBUNG|NEWSLETTER)\b/;

function isGreeting(words: readonly string[]): boolean {
  return words.length <= 4 && GREETING_STARTS.has(words[0]) && !NOT_IN_GREETINGS.test(words.join(' '));
}

/**
 * A part that keeps the other messages, beside an objection: "nur noch Bestellinfos", "die Bestell-Updates gerne",
 * "Bestell-Updates sind ok", "only order updates". It must name orders or deliveries, say she wants them, and hold
 * no negation: "Bestellung stornieren" is a request of its own, for a person.
 */
const NAMES_ORDERS = /\b(BESTELL|LIEFER|VERSAND|SENDUNGS|ORDER|DELIVERY|SHIPPING)\S*/;
const WANTS_THEM = /\b(NUR|BLOSS|LEDIGLICH|GERNE|OK|OKAY|WEITER|WEITERHIN|ONLY|JUST|FINE|STILL)\b/;
const NEGATION = /\b(NICHT|NIE|KEIN\w*|AUCH|NOT|NEVER|DONT|NO|STOP\w*|ABMELD\w*|STORN\w*|CANCEL\w*)\b/;

function keepsOthers(words: readonly string[], asked: boolean): boolean {
  const sentence = words.join(' ');
  return (
    !asked && words.length <= 6 && NAMES_ORDERS.test(sentence) && WANTS_THEM.test(sentence) && !NEGATION.test(sentence)
  );
}

/**
 * A "no" or a "halt" as a part of its own ("Nein danke, keine Werbung", "Halt! Keine Nachrichten mehr") only: "No more
 * ads" starts with one.
 */
const NO_WORDS: ReadonlySet<string> = new Set(['NEIN', 'NO', 'NOPE', 'HALT']);

/** A message that takes something back or asks for it again is no objection, whatever else it says. */
const TAKEN_BACK =
  /( RUE?CKGAE?NGIG| (AUS)?VERSEHEN| MISTAKE| ACCIDENT| RESUBSCRIB| WIEDER (ANMELD|SCHICK|SEND|HABEN)| ADD ME BACK| VERPASS)/;

/** A question mark as people type it on a phone: ? ？ ❓ ❔ ⁉ ‽ ¿ */
const QUESTION_MARK = /[?\uFF1F\u2753\u2754\u2049\u203D\u00BF]/u;

/** Where a message's parts end: punctuation, a line break, a question mark of any kind. */
const PART_END = /(?<=[.!?;,:\n\u00A1\uFF1F\u2753\u2754\u2049\u203D\u00BF])/u;

/** The comma of "Hören Sie auf, mir zu schreiben" joins a sentence, it does not end one. */
const COMMA_BEFORE_INFINITIVE = /\b(auf)\s*,(?=\s*(mir|mich)\s)/giu;

/** A longer message is a letter, for a person to read. */
const OBJECTION_TEXT_MAX_LENGTH = 500;

/** The normalised text with umlauts written out (Ä is AE), as the sentences are written. */
function folded(text: string): string {
  return normaliseKeywordText(text).replace(/Ä/g, 'AE').replace(/Ö/g, 'OE').replace(/Ü/g, 'UE');
}

function withoutPleasantries(words: string[]): string[] {
  let start = 0;
  let end = words.length;
  while (start < end && PLEASANTRIES.has(words[start])) start += 1;
  // YOU closes "thank you", not "from you".
  while (end > start && PLEASANTRIES.has(words[end - 1]) && !(words[end - 1] === 'YOU' && words[end - 2] === 'FROM')) {
    end -= 1;
  }
  return words.slice(start, end);
}

/**
 * The sentence by which a message objects to advertising, normalised ("KEINE WERBUNG MEHR" for "Hallo, bitte keine
 * Werbung mehr! 🙏 LG Anna"), or undefined. The message must be that sentence, greetings, and at most a part after it
 * that keeps the other messages ("Keine Werbung mehr, nur noch Bestellinfos"): a second part of any other kind (a
 * question, a complaint, a yes, someone else's words, an "until") leaves it to a person. None either for a message
 * that asks for its data to be erased or seen (erase-subject flags it), takes something back, or is longer than 500
 * characters.
 */
export function marketingObjection(text: string | undefined): string | undefined {
  return readObjection(text)?.sentence;
}

/** An objection read from a message: the sentence (marketingObjection), and what it ends (objectionReach). */
export interface ReadObjection {
  sentence: string;
  reach: 'advertising' | 'every-consent';
}

/**
 * The objection in a message and its reach. A part after the sentence that keeps the other messages ("…, aber die
 * Bestell-Updates gerne") limits even a withdrawal of her consent to advertising: she said what she wants to keep.
 */
export function readObjection(text: string | undefined): ReadObjection | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > OBJECTION_TEXT_MAX_LENGTH) return undefined;
  if (dataRequestAbout(text) !== 'unclear' || TAKEN_BACK.test(` ${folded(text)}`)) return undefined;
  const parts = text
    .replace(COMMA_BEFORE_INFINITIVE, '$1')
    .split(PART_END)
    .map((part) => ({
      words: folded(part)
        .split(' ')
        .filter((word) => word.length > 0 && !COURTESY.has(word)),
      asked: QUESTION_MARK.test(part),
    }))
    .filter(({ words }) => !isGreeting(words))
    .map(({ words, asked }) => ({ words: withoutPleasantries(words), asked }))
    .filter(({ words }) => !words.every((word) => NO_WORDS.has(word)));
  // Besides the sentence only a part that keeps the other messages ("nur noch Bestellinfos"), after it.
  const keeps = parts.length === 2 && keepsOthers(parts[1].words, parts[1].asked);
  if (keeps) parts.pop();
  if (parts.length !== 1) return undefined;
  const [{ words, asked }] = parts;
  const sentence = words.join(' ');
  const match = SENTENCES.find(({ pattern, asked: mayAsk }) => (!asked || mayAsk) && pattern.test(sentence));
  if (!match) return undefined;
  return { sentence, reach: keeps ? 'advertising' : objectionReach(sentence) };
}

/** Where a message joins two requests: "Keine Werbung mehr und löschen Sie meine Daten", "Stop and delete my data". */
const JOINED = /\s+(?:und|and|sowie|&|\+)\s+/giu;

/** A data request that names her data, her number or herself: "delete my order" is about an order. */
const NAMES_HER_DATA =
  /\b(DATEN|DATA|DETAILS|INFORMATIONEN|INFORMATION|NUMMER|NUMBER|MICH|ME|KONTO|ACCOUNT|PROFIL|PROFILE|ALLES|EVERYTHING)\b/;

/** What a message asks for beside an opt-out: to erase or to see her data. */
export type AlsoAsks = 'erasure' | 'access';

/**
 * A message that asks to erase or to see her data beside an opt-out ("Keine Werbung mehr und löschen Sie meine
 * Daten", "STOP and delete my data"): the message with each part that asks for her data taken out (`rest`, for
 * readObjection or a STOP keyword to read), and what those parts ask for. The opt-out takes effect at once (an
 * objection to direct marketing must, Art. 21(3) GDPR); the data request goes on to erase-subject and a person.
 * Undefined for a message with no such part, or nothing besides it that may opt out (optOutHint). A part must name
 * her data, her number or herself: "Stop, delete my order" is about an order, and a STOP there would end the order
 * updates.
 */
export function besideDataRequest(text: string | undefined): { rest: string; about: AlsoAsks } | undefined {
  if (typeof text !== 'string' || text.length > OBJECTION_TEXT_MAX_LENGTH) return undefined;
  const about = dataRequestAbout(text);
  if (about === 'unclear' || TAKEN_BACK.test(` ${folded(text)}`)) return undefined;
  const parts = text.replace(JOINED, ', ').split(PART_END);
  const asksForData = (part: string) => dataRequestAbout(part) !== 'unclear' && NAMES_HER_DATA.test(folded(part));
  const rest = parts.filter((part) => !asksForData(part));
  if (rest.length === parts.length || rest.some((part) => dataRequestAbout(part) !== 'unclear')) return undefined;
  const restText = rest
    .join(' ')
    .replace(/[\s,;:.]+$/u, '')
    .trim();
  return optOutHint(restText) === undefined ? undefined : { rest: restText, about };
}

/** Her consent, named in a withdrawal of it. */
const NAMES_CONSENT = /\b(EINWILLIGUNG|ZUSTIMMUNG|EINVERSTAE?NDNIS|CONSENT)\b/;
const NAMES_ADVERTISING = new RegExp(`\\b(${ADS_DE}|${ADS_EN})\\b`);

/**
 * What an objection read by marketingObjection ends. A withdrawal of her consent that names no advertising („Ich
 * widerrufe meine Einwilligung“, "I withdraw my consent to messages") withdraws every consent she gave (Art. 7(3)
 * GDPR), not only those to advertising: 'every-consent'. Everything else objects to advertising: 'advertising'.
 * Purposes that rest on a contract or a legitimate interest need no consent, so neither reach ends them: a STOP does.
 */
export function objectionReach(sentence: string): 'advertising' | 'every-consent' {
  return NAMES_CONSENT.test(sentence) && !NAMES_ADVERTISING.test(sentence) ? 'every-consent' : 'advertising';
}
