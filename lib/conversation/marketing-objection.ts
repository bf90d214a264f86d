import { dataRequestAbout, normaliseKeywordText } from './keywords';

/**
 * An objection to advertising put in other words ("Bitte keine Werbung mehr", "Ich möchte den Newsletter abbestellen",
 * "Unsubscribe me"): an objection to direct marketing, to be honoured however it is put (Art. 21(2), (3) GDPR), which
 * stop-handler may act on. Acting on a misreading ends a subscription she wanted, so a part of the message (between
 * punctuation) must be one of a few sentences as a whole, give or take words of courtesy: "Ich möchte meine
 * Bestellung abbestellen", "Keine Angebote gefunden", "Ich bekomme keine Werbung mehr", "Keine Werbung im Paket bitte"
 * and "Bitte nicht abmelden" are none. Everything else that may mean an opt-out stays a hint for a person (optOutHint).
 */

/** What advertising is called. Umlauts are written out (normalised text, see `folded`). */
const ADS_DE = '(WERBUNG|WERBENACHRICHTEN|WERBEMAILS?|WERBENEWSLETTER|REKLAME|ANGEBOTE|NEWSLETTER|NEWSLETTERS|SPAM)';
const ADS_EN =
  '(ADS|ADVERTS?|ADVERTISING|ADVERTISEMENTS?|PROMOTIONS?|PROMOS?|OFFERS|DEALS|MARKETING|NEWSLETTERS?|SPAM)';
const FROM_DE = '((VOM|VON DEM|VON IHREM|VON EUREM|AUS DEM|DEN|DIE|IHREN|EUREN|IHRE|EURE) )?';
const LIST_EN =
  '( FROM (THE|YOUR|THIS|ALL|ALL YOUR) (NEWSLETTERS?|MAILING LIST|LIST|MARKETING|ADS|OFFERS|PROMOTIONS))?';
const WANT_DE = '(ICH (WILL|MOE?CHTE) )';
const VIA = '( (PER|UEBER|AUF|BEI) WHATSAPP| HIER)?';

/** Whole sentences that object to advertising (`asked`: a request put as a question, "Können Sie mich abmelden?"). */
const SENTENCES: readonly { pattern: RegExp; asked?: true }[] = [
  // Keine Werbung mehr / Ich möchte keine Angebote mehr erhalten / Schickt mir keinen Newsletter mehr
  { pattern: new RegExp(`^${WANT_DE}?(KEINE|KEINEN|KEIN) ${ADS_DE}( MEHR)?${VIA}( (ERHALTEN|BEKOMMEN))?$`) },
  { pattern: new RegExp(`^(SCHICKEN SIE|SCHICKT|SENDEN SIE|SENDET) MIR (KEINE|KEINEN|KEIN) ${ADS_DE}( MEHR)?${VIA}$`) },
  // Newsletter abbestellen / Ich möchte mich vom Newsletter abmelden / Ich will den Newsletter kündigen
  {
    pattern: new RegExp(
      `^${WANT_DE}?(MICH )?${FROM_DE}${ADS_DE} (ABMELDEN|ABBESTELLEN|KUE?NDIGEN|AUSTRAGEN|BEENDEN|STOPPEN)$`,
    ),
  },
  { pattern: new RegExp(`^${WANT_DE}MICH (ABMELDEN|AUSTRAGEN)$`) },
  // Bitte melden Sie mich ab / Meldet mich vom Newsletter ab / Tragen Sie mich aus
  { pattern: new RegExp(`^(MELDEN SIE|MELDET|MELDE) MICH( HIER| ${FROM_DE}${ADS_DE}| VON DER LISTE)? AB$`) },
  { pattern: new RegExp(`^(TRAGEN SIE|TRAGT) MICH( ${FROM_DE}${ADS_DE}| AUS DER LISTE)? AUS$`) },
  {
    pattern: new RegExp(`^(KOE?NNEN|KOE?NNTEN) SIE MICH ${FROM_DE}(${ADS_DE} )?(ABMELDEN|AUSTRAGEN)$`),
    asked: true,
  },
  { pattern: new RegExp(`^(KANNST DU|KOE?NNT IHR) MICH ${FROM_DE}(${ADS_DE} )?(ABMELDEN|AUSTRAGEN)$`), asked: true },
  // Ich widerspreche der Werbung / der Nutzung meiner Daten für Werbung (Art. 21(2))
  {
    pattern:
      /^ICH WIDERSPRECHE (DER )?((NUTZUNG|VERARBEITUNG|VERWENDUNG) MEINER DATEN (FUE?R|ZU) )?(WERBUNG|WERBEZWECKEN?|DIREKTWERBUNG)$/,
  },
  // No more offers / No marketing / I don't want any more ads / Stop sending me promotions
  { pattern: new RegExp(`^(I WANT |ID LIKE )?NO (MORE )?${ADS_EN}( ANYMORE| ANY MORE)?${VIA}$`) },
  { pattern: new RegExp(`^I (DONT|DO NOT) WANT (ANY )?(MORE )?${ADS_EN}( ANYMORE| ANY MORE)?${VIA}$`) },
  { pattern: new RegExp(`^STOP SENDING (ME )?${ADS_EN}$`) },
  // Unsubscribe me / I want to unsubscribe from the newsletter / Remove me from your list / Can you unsubscribe me
  { pattern: new RegExp(`^UNSUBSCRIBE ME${LIST_EN}$`) },
  { pattern: new RegExp(`^I (WANT|WOULD LIKE|D LIKE|WISH) TO UNSUBSCRIBE${LIST_EN}$`) },
  { pattern: /^(REMOVE|TAKE) ME (FROM|OFF) (THE|YOUR) (MAILING |MARKETING )?LIST$/ },
  { pattern: new RegExp(`^OPT ME OUT( OF ${ADS_EN})?$`) },
  { pattern: new RegExp(`^(CAN|COULD) YOU UNSUBSCRIBE ME${LIST_EN}$`), asked: true },
  { pattern: /^I OBJECT TO (DIRECT )?MARKETING$/ },
  // An opt-out keyword as one part of a longer message: "Funktioniert nicht. Bitte abmelden."
  { pattern: /^(ABMELDEN|ABBESTELLEN|AUSTRAGEN|UNSUBSCRIBE|OPT OUT|OPTOUT)$/ },
];

/** Words of courtesy, wherever they stand: "Können Sie mich bitte vom Newsletter abmelden?" */
const COURTESY: ReadonlySet<string> = new Set(['BITTE', 'PLEASE', 'PLS']);

/** Words around a sentence that change nothing: "Hallo, keine Werbung mehr, danke", "Ok, unsubscribe me thanks". */
const FILLERS: ReadonlySet<string> = new Set([
  'DANKE',
  'HALLO',
  'ABER',
  'UND',
  'ALSO',
  'JETZT',
  'EINFACH',
  'ENDLICH',
  'OK',
  'OKAY',
  'THANKS',
  'THX',
  'HI',
  'HELLO',
  'HEY',
  'BUT',
  'AND',
  'SO',
  'NOW',
  'JUST',
]);

/** A yes in the same message ("Ja gerne, aber keine Werbung per SMS") makes it contradictory: a person reads it. */
const YES_WORDS: ReadonlySet<string> = new Set(['JA', 'J', 'YES', 'Y', 'GERNE', 'SURE', 'YEP', 'JAWOHL']);

/** A message that takes something back or asks for it again is no objection, whatever else it says. */
const TAKEN_BACK =
  /( RUE?CKGAE?NGIG| VERSEHEN| MISTAKE| ACCIDENT| RESUBSCRIB| WIEDER (ANMELD|SCHICK|SEND|HABEN)| ADD ME BACK| VERPASS)/;

/** A longer message is a letter, for a person to read. */
const OBJECTION_TEXT_MAX_LENGTH = 500;

/** The normalised text with umlauts written out (Ä is AE), as the sentences are written. */
function folded(text: string): string {
  return normaliseKeywordText(text).replace(/Ä/g, 'AE').replace(/Ö/g, 'OE').replace(/Ü/g, 'UE');
}

function withoutFillers(words: string[]): string[] {
  let start = 0;
  let end = words.length;
  while (start < end && FILLERS.has(words[start])) start += 1;
  while (end > start && FILLERS.has(words[end - 1])) end -= 1;
  return words.slice(start, end);
}

/**
 * The part of a message that objects to advertising, normalised ("KEINE WERBUNG MEHR" for "Bitte keine Werbung mehr!
 * 🙏"), or undefined. None either for a message that also asks for its data to be erased or seen (a person reads it,
 * erase-subject flags it), says yes, takes something back, or is longer than 500 characters.
 */
export function marketingObjection(text: string | undefined): string | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > OBJECTION_TEXT_MAX_LENGTH) return undefined;
  if (dataRequestAbout(text) !== 'unclear' || TAKEN_BACK.test(` ${folded(text)}`)) return undefined;
  const parts = text.split(/(?<=[.!?;,:\n\u00BF\u00A1])/u).map((part) => ({
    words: folded(part)
      .split(' ')
      .filter((word) => word.length > 0 && !COURTESY.has(word)),
    asked: /\?/.test(part),
  }));
  if (parts.some(({ words }) => YES_WORDS.has(words[0]))) return undefined;
  for (const { words, asked } of parts) {
    const sentence = withoutFillers(words).join(' ');
    if (sentence.length === 0) continue;
    const match = SENTENCES.find(({ pattern, asked: mayAsk }) => (!asked || mayAsk) && pattern.test(sentence));
    if (match) return sentence;
  }
  return undefined;
}
