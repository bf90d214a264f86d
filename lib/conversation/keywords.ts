import { KEYWORD_MAX_LENGTH } from '../consent/inputs';
import type { Language } from './language';

/**
 * The one place for the keywords people type to steer their consent. Nodes take these as defaults
 * and let the integrator replace them; matching always goes through `matchKeyword`, so that
 * "Stop!", " stopp " and "KÜNDIGEN." are treated the same everywhere.
 */

/** Opt-out (Art. 7(3) GDPR: withdrawing must be as easy as giving consent). */
export const DEFAULT_STOP_KEYWORDS = [
  'STOP',
  'STOPP',
  'STOP ALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'OPT OUT',
  'REVOKE',
  'ABMELDEN',
  'ABBESTELLEN',
  'AUSTRAGEN',
  'KÜNDIGEN',
  'BEENDEN',
  'ENDE',
  'STOPPEN',
  'ABMELDUNG',
] as const;

export const DEFAULT_HELP_KEYWORDS = ['HELP', 'HILFE'] as const;

/**
 * Confirmation of a pending double opt-in request. Not OK: "Ok danke" acknowledges an order update as often, and a
 * consent must be unambiguous (Art. 4(11) GDPR).
 */
export const DEFAULT_CONFIRM_KEYWORDS = ['YES', 'Y', 'JA', 'J', 'CONFIRM', 'BESTÄTIGEN'] as const;

/**
 * A no to a pending double opt-in request: recorded as refused, so that whoever keeps typing the number into a form
 * gets no more requests through for a while (ledger: the pause after an opt-out).
 */
export const DEFAULT_REFUSE_KEYWORDS = ['NO', 'N', 'NEIN'] as const;

/** Single-step opt-in when the person writes first (WhatsApp has verified the number). */
export const DEFAULT_START_KEYWORDS = ['START', 'SUBSCRIBE', 'ANMELDEN', 'STARTEN'] as const;

/** Erasure request by message (Art. 17); on for new erase-subject nodes, off for saved ones without the setting. */
// German says whose data as English does: "Bitte löschen Sie meine Daten" is as clear as "Please delete my data".
export const DEFAULT_ERASE_KEYWORDS = [
  'DELETE MY DATA',
  'DATEN LÖSCHEN',
  'MEINE DATEN LÖSCHEN',
  'LÖSCHEN SIE MEINE DATEN',
  'LÖSCHEN',
] as const;

/**
 * Trims, folds case (German ß and umlauts included, locale-independent) and turns punctuation and emoji into spaces
 * ("Stop,danke" is two words), drops apostrophes ("don't" is DONT), repeated spaces and the accents or vowel points
 * of scripts where they are optional (withoutMarks), so only letters, digits and single spaces remain. NFKC: a keyword
 * typed in full-width or compatibility letters (ＳＴＯＰ) is the keyword. Invisible characters (zero-width space,
 * soft hyphen, direction marks) go, and a word mixing Latin with look-alike Cyrillic or Greek letters is read in
 * Latin (asLatinWord): "ST\u200BOP" and "STОP" with a Cyrillic О are STOP, as she sees them.
 */
export function normaliseKeywordText(text: string): string {
  const visible = text
    .normalize('NFKC')
    .toUpperCase()
    .replace(/\p{Cf}/gu, '')
    .replace(/[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/gu, '');
  return withoutMarks(
    withLatinWords(visible)
      .replace(/['`\u00B4\u2018\u2019\u02BC]/gu, '')
      // An emoji or a sign goes with any mark on it (a keycap's).
      .replace(/[^\p{L}\p{M}\p{N}\s]\p{M}*/gu, ' '),
  )
    .replace(/\s+/g, ' ')
    .trim();
}

/** Upper-case Cyrillic and Greek letters that look like a Latin one, and that Latin letter (the same place in both). */
const LOOK_ALIKES = 'АВЕКМНОРСТХУҮІЈЅԚԜΑΒΕΖΗΙΚΜΝΟΡΤΥΧ';
const THEIR_LATIN = 'ABEKMHOPCTXYYIJSQWABEZHIKMNOPTYX';

/**
 * A word with Latin letters and Cyrillic or Greek look-alikes in it, in Latin: someone switching keyboard layouts, or
 * pasting, typed STOP. A word wholly in Cyrillic or Greek stays as it is: "У" is a Russian word, not Y.
 */
function asLatinWord(word: string): string {
  if (!/\p{Script=Latin}/u.test(word) || !CYRILLIC_OR_GREEK.test(word)) return word;
  return [...word].map((letter) => THEIR_LATIN[LOOK_ALIKES.indexOf(letter)] ?? letter).join('');
}

const CYRILLIC_OR_GREEK = /[\p{Script=Cyrillic}\p{Script=Greek}]/u;

/** asLatinWord on every word of a text, looked for only in a text with a Cyrillic or Greek letter (most have none). */
function withLatinWords(text: string): string {
  return CYRILLIC_OR_GREEK.test(text) ? text.replace(/[\p{L}\p{M}]+/gu, asLatinWord) : text;
}

/**
 * Scripts whose marks are accents or vowel points people may leave out: Latin, Greek, Cyrillic, Arabic, Hebrew,
 * Syriac. In every other script a mark may make another word (Hindi है "is", हाँ "yes"; Japanese ばい, はい "yes"), so
 * it stays.
 */
const OPTIONAL_MARK_SCRIPTS =
  /[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}]/u;

/** Drops the combining marks on letters of those scripts, and any mark on something that is no letter. */
function withoutMarks(text: string): string {
  return text.replace(/(\P{M})?(\p{M}+)/gu, (all, base: string | undefined) =>
    base === undefined || OPTIONAL_MARK_SCRIPTS.test(base) || !/\p{L}/u.test(base) ? (base ?? '') : all,
  );
}

/** Words of courtesy around a keyword: "Stop bitte", "Ja gerne" and "Please unsubscribe" say the keyword. */
const COURTESY_WORDS = new Set(['BITTE', 'GERNE', 'PLEASE', 'PLS', 'DANKE', 'THANKS']);

/** The forms of a normalised text a keyword may match: the text, and the same without words of courtesy at its ends. */
function keywordForms(normalised: string): string[] {
  const words = normalised.split(' ');
  let start = 0;
  let end = words.length;
  while (start < end && COURTESY_WORDS.has(words[start])) start += 1;
  while (end > start && COURTESY_WORDS.has(words[end - 1])) end -= 1;
  const core = words.slice(start, end).join(' ');
  return core.length > 0 && core !== normalised ? [normalised, core] : [normalised];
}

/**
 * Whether a text (a form of it, spelled) says a keyword (spelled): the same letters, the text may run the keyword's
 * words together ("optout" says OPT OUT) but not split its words ("EN DE" is no ENDE, "St. Op" no STOP), unless it
 * spells the keyword out letter by letter ("S T O P").
 */
function saysKeyword(text: string, keyword: string): boolean {
  if (text === keyword) return true;
  if (text.replace(/ /g, '') !== keyword.replace(/ /g, '')) return false;
  const words = text.split(' ');
  if (words.every((word) => [...word].length === 1)) return true;
  const keywordBreaks = new Set(breaksOf(keyword));
  return breaksOf(text).every((at) => keywordBreaks.has(at));
}

/** Where the spaces of a text fall in it written without them. */
function breaksOf(text: string): number[] {
  const breaks: number[] = [];
  let at = 0;
  for (const word of text.split(' ').slice(0, -1)) {
    at += word.length;
    breaks.push(at);
  }
  return breaks;
}

export { KEYWORD_MAX_LENGTH };

function listItems(list: string | readonly string[] | undefined): string[] {
  return (typeof list === 'string' ? list.split(/[,\n]/) : (list ?? [])).map((k) => String(k));
}

/**
 * Parses a comma- or newline-separated keyword list from an edit dialog. A keyword longer than KEYWORD_MAX_LENGTH
 * (normalised) is left out (overlongKeywords names them, for the node to warn): no message is that long, and the
 * ledger would refuse to record a withdrawal by it.
 */
export function parseKeywordList(list: string | readonly string[] | undefined, fallback: readonly string[]): string[] {
  const normalised = listItems(list)
    .map(normaliseKeywordText)
    .filter((k) => k.length > 0 && k.length <= KEYWORD_MAX_LENGTH);
  return normalised.length > 0 ? [...new Set(normalised)] : fallback.map(normaliseKeywordText);
}

/**
 * Words of the keywords people are told to type (sign-up, erasure), by language: enough to tell which keyword of a list
 * such as "DATEN LÖSCHEN, DELETE MY DATA" to name to a German and which to an English reader. START counts as English
 * although Germans write it too: ANMELDEN is the German word.
 */
const KEYWORD_WORDS: Readonly<Record<Language, ReadonlySet<string>>> = {
  en: new Set(['START', 'SUBSCRIBE', 'SIGN', 'UP', 'JOIN', 'OPT', 'IN', 'DELETE', 'ERASE', 'REMOVE', 'MY', 'DATA']),
  de: new Set([
    'ANMELDEN',
    'STARTEN',
    'ABONNIEREN',
    'DATEN',
    'MEINE',
    'LÖSCHEN',
    'LOESCHEN',
    'LOSCHEN',
    'ENTFERNEN',
    'AUSKUNFT',
  ]),
};

/** The language a keyword is written in, when its words say so; undefined for a word of neither or of both. */
export function keywordLanguage(keyword: string): Language | undefined {
  const words = normaliseKeywordText(keyword).split(' ').filter(Boolean);
  const found = (Object.keys(KEYWORD_WORDS) as Language[]).filter((language) =>
    words.some((word) => KEYWORD_WORDS[language].has(word)),
  );
  return found.length === 1 ? found[0] : undefined;
}

/**
 * The keywords of a list to name to a reader of `language`, as typed: those written in her language, else the whole
 * list (a keyword in another language still works; naming none would hide the way).
 */
export function keywordsFor(list: string | readonly string[] | undefined, language: Language): string[] {
  const typed = listItems(list)
    .map((k) => k.trim())
    .filter((k) => normaliseKeywordText(k).length > 0 && normaliseKeywordText(k).length <= KEYWORD_MAX_LENGTH);
  const own = typed.filter((k) => keywordLanguage(k) === language);
  return own.length > 0 ? own : typed;
}

/**
 * Words that say which language a keyword message is written in, for the answer to it: "Unsubscribe" from a German
 * number is answered in English, "Abmelden" from a British one in German. STOP, START and OK are both languages'.
 */
const MESSAGE_WORDS: Readonly<Record<Language, ReadonlySet<string>>> = {
  en: spelledWords(
    'UNSUBSCRIBE CANCEL END QUIT OPT OUT REVOKE ALL HELP YES CONFIRM NO SUBSCRIBE SIGN UP JOIN IN DELETE ERASE REMOVE MY DATA PLEASE PLS THANKS',
  ),
  de: spelledWords(
    'STOPP STOPPEN ABMELDEN ABBESTELLEN AUSTRAGEN KÜNDIGEN BEENDEN ENDE ABMELDUNG HILFE JA BESTÄTIGEN NEIN ANMELDEN STARTEN ABONNIEREN DATEN MEINE LÖSCHEN SIE ENTFERNEN AUSKUNFT BITTE GERNE DANKE',
  ),
};
const WORDS_OF_BOTH: ReadonlySet<string> = new Set(['STOP', 'START', 'OK']);

function spelledWords(words: string): ReadonlySet<string> {
  return new Set(words.split(' ').flatMap(spellings));
}

/**
 * The language a message made of keywords and words of courtesy is written in ("Please unsubscribe", "Daten löschen"),
 * or undefined: for a message with any other word (she wrote a sentence, the number says more), of both languages'
 * words only (STOP), or of both languages.
 */
export function keywordMessageLanguage(text: unknown): Language | undefined {
  if (typeof text !== 'string' || text.length > KEYWORD_MAX_LENGTH) return undefined;
  const found = new Set<Language>();
  for (const word of normaliseKeywordText(text).split(' ').filter(Boolean)) {
    const forms = spellings(word);
    const languages = (Object.keys(MESSAGE_WORDS) as Language[]).filter((language) =>
      forms.some((form) => MESSAGE_WORDS[language].has(form)),
    );
    if (languages.length === 0 && !WORDS_OF_BOTH.has(word)) return undefined;
    for (const language of languages) found.add(language);
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/** The keywords of a list that parseKeywordList leaves out for their length, as typed. */
export function overlongKeywords(list: string | readonly string[] | undefined): string[] {
  return listItems(list)
    .map((k) => k.trim())
    .filter((k) => normaliseKeywordText(k).length > KEYWORD_MAX_LENGTH);
}

/**
 * The keyword that `text` is (after normalisation, spaces aside, with or without words of courtesy around it unless
 * `courtesy` is false), or undefined. "Stop sending" is not STOP.
 */
export function matchKeyword(
  text: string | undefined,
  keywords: readonly string[],
  options: { courtesy?: boolean; exactAccents?: boolean } = {},
): string | undefined {
  if (typeof text !== 'string' || text.length > KEYWORD_MAX_LENGTH) return undefined;
  const forms = keywordForms(normaliseKeywordText(text));
  // A consent must be unambiguous: a confirmation is read with its accents ("já" is Portuguese "already", not JA),
  // only German umlauts may be written out. An opt-out or erasure is read without them.
  const spell = (word: string) => (options.exactAccents ? spellings(word).slice(0, 1) : spellings(word));
  // An erasure cannot be undone: only the keyword itself asks for it ("Bitte löschen" may mean an order).
  const candidates = (options.courtesy === false ? forms.slice(0, 1) : forms).flatMap(spell);
  return keywords.find((k) => {
    const own = spellingsOfKeyword(k);
    return (options.exactAccents ? own.slice(0, 1) : own).some((spelling) =>
      candidates.some((candidate) => saysKeyword(candidate, spelling)),
    );
  });
}

/**
 * The ways a word is typed without its accents: German umlauts written out (KUENDIGEN) or dropped (KUNDIGEN), as on
 * a keyboard or phone without them, and any other accent dropped (DESABONNER, ΔΙΑΓΡΑΦΗ, ВСЕ, WYLACZ), but no vowel
 * sign. The first is the word with its accents, only the umlauts written out.
 */
function spellings(word: string): string[] {
  const writtenOut = word.replace(/Ä/g, 'AE').replace(/Ö/g, 'OE').replace(/Ü/g, 'UE');
  // Letters with a stroke have no mark to drop: Polish Ł, Danish Ø, Croatian Đ, and the ligatures.
  const dropped = withoutMarks(word.normalize('NFD'))
    .normalize('NFC')
    .replace(/Ł/g, 'L')
    .replace(/Ø/g, 'O')
    .replace(/Đ/g, 'D')
    .replace(/Æ/g, 'AE')
    .replace(/Œ/g, 'OE');
  return writtenOut === dropped ? [writtenOut] : [writtenOut, dropped];
}

/** Keywords come from node settings and the defaults, a handful each: their spellings are found once, not per message. */
const keywordSpellings = new Map<string, string[]>();

function spellingsOfKeyword(keyword: string): string[] {
  let found = keywordSpellings.get(keyword);
  if (found === undefined) {
    found = spellings(normaliseKeywordText(keyword));
    // A caller passing ever new lists must not grow this without end.
    if (keywordSpellings.size >= 1000) keywordSpellings.clear();
    keywordSpellings.set(keyword, found);
  }
  return found;
}

/** Whether a text ends as a question, whatever follows the mark ("Ja?!", "Ja? 🙂") and in whichever width ("Ja？"). */
export function isQuestion(text: string): boolean {
  // Also the Greek question mark (; and U+037E), the Arabic ؟, the Armenian and Ethiopic ones, and ‽ and its kin.
  return /[?;\u037E\u061F\u055E\u1367\u203D\u2047-\u2049\u2E2E][^\p{L}\p{N}]*$/u.test(text.normalize('NFKC'));
}

/**
 * Whether a text is struck through: WhatsApp's ~text~, or letters overlaid with a stroke (U+0334 to U+0338). A struck
 * out "yes" takes it back.
 */
export function isStruckThrough(text: string): boolean {
  return /~[^~]+~/u.test(text) || /[\u0334-\u0338]/u.test(text.normalize('NFD'));
}

/**
 * Signs that say no: cross marks (❌ ❎ ✖ ✗ ✘), thumbs down (👎, any skin tone), prohibited and no entry (🚫 ⛔), the stop
 * sign (🛑) and a person gesturing no (🙅). The keywords are read without emoji, so "Ja ❌" would read as JA; with one of
 * these beside it, a yes is no unambiguous indication (Art. 4(11) GDPR).
 */
const NO_SIGNS = /[\u274C\u274E\u2716\u2717\u2718\u26D4\u{1F44E}\u{1F6AB}\u{1F6D1}\u{1F645}]/u;

export function carriesNoSign(text: string): boolean {
  return NO_SIGNS.test(text);
}

/**
 * Words and phrases that say "stop writing to me" inside a longer message ("Unsubscribe me", "Bitte keine Werbung
 * mehr", "Ich widerspreche"). Such a message is no opt-out keyword: "Stop the delivery" is not one. But a wish to
 * withdraw or object (Art. 7(3), 21(2) GDPR) must be honoured however it is put, so a person must read it. An entry
 * ending in * is the start of a word and covers its endings (ABMELD*: abmelden, Abmeldung); the others are whole
 * words.
 */
const OPT_OUT_HINTS = [
  'STOP',
  'STOPP',
  'STOPPT',
  'STOPPEN',
  'STOPPED',
  'STOPPING',
  'UNSUBSCRIB*',
  'OPTOUT',
  'OPT OUT',
  'OPT ME OUT',
  'REVOKE*',
  'CANCEL MY SUBSCRIPTION',
  'REMOVE ME',
  'REMOVE MY NUMBER',
  'TAKE ME OFF',
  'DONT WANT ANY MORE',
  'DO NOT WANT ANY MORE',
  'NO MORE NEWSLETTER*',
  'NO MORE MESSAGES',
  'NO MORE OFFERS',
  'NO MORE PROMOTIONS',
  'NO MORE MARKETING',
  'NO MORE ADVERTIS*',
  'NO MORE ADS',
  'NO MORE PROMOS',
  'NO MARKETING',
  'NO ADS',
  'DONT MESSAGE',
  'DO NOT MESSAGE',
  'DONT CONTACT',
  'DO NOT CONTACT',
  'DONT TEXT',
  'DO NOT TEXT',
  'DONT SEND',
  'DO NOT SEND',
  'I OBJECT',
  'WITHDRAW*',
  'ABMELD*',
  'MELDEN SIE MICH AB',
  'MELDET MICH AB',
  'MELDE MICH AB',
  'NEWSLETTER AB',
  'ABBESTELL*',
  'AUSTRAG*',
  'TRAGEN SIE MICH AUS',
  'VERTEILER',
  'KUENDIG*',
  'KUNDIG*',
  'WIDERRUF*',
  'WIDERSPR*',
  'KEINE WERBUNG',
  'KEINE NACHRICHT*',
  'KEINE ANGEBOTE',
  'KEINE REKLAME',
  'KEINE WHATSAPP*',
  'KEINE NEWSLETTER',
  'KEINEN NEWSLETTER',
  'KEIN NEWSLETTER',
  'KEINE WERBE*',
  'KEIN SPAM',
  'MIR NICHT MEHR',
  'MIR BITTE NICHT MEHR',
  'MICH BITTE NICHT MEHR',
  'NICHT MEHR ERHALTEN',
  'NICHT MEHR BEKOMMEN',
  'MICH NICHT MEHR',
  'NICHT MEHR SCHREIBEN',
  'NICHT MEHR KONTAKTIEREN',
  'NICHT MEHR ANSCHREIBEN',
  'HOERT AUF',
  'HOEREN SIE AUF',
  'HOER AUF',
  'AUFHOEREN',
  'KEINE WEITEREN NACHRICHT*',
  'KEINE WEITEREN WHATSAPP*',
  'KEINE WEITERE WERBUNG',
  'NO MORE TEXTS',
  'NO MORE WHATSAPP*',
  'NEHME MEINE EINWILLIGUNG',
  'NEHME MEINE ZUSTIMMUNG',
  'ZIEHE MEINE EINWILLIGUNG',
  'ZIEHE MEINE ZUSTIMMUNG',
  'NICHT MEHR KONTAKTIERT',
  'NICHT MEHR ANGESCHRIEBEN',
  'LASST MICH IN RUHE',
  'LASSEN SIE MICH IN RUHE',
  'LASS MICH IN RUHE',
  'MICH ENDLICH IN RUHE',
  'LEAVE ME ALONE',
  'KEIN INTERESSE',
  'NOT INTERESTED',
  'NO LONGER INTERESTED',
] as const;

/** Words of a request to erase one's data, and of a request to see it (DATA_REQUEST_HINTS holds both, and more). */
export const ERASURE_REQUEST_HINTS = [
  'DELETE*',
  'ERASE*',
  'ERASURE',
  'FORGET ME',
  'REMOVE MY DATA',
  'REMOVE MY DETAILS',
  'LOESCH*',
  'LOSCH*',
  'GELOESCHT*',
  'GELOSCHT*',
  'DATENLOESCH*',
  'DATENLOSCH*',
  'ENTFERN*',
  'VERGISS MICH',
  'VERGESST MICH',
  'VERGESSEN SIE MICH',
  'BE FORGOTTEN',
] as const;

export const ACCESS_REQUEST_HINTS = [
  'WHAT DATA',
  'DATA YOU HOLD',
  'DATA DO YOU',
  'STORED ABOUT ME',
  'KNOW ABOUT ME',
  'SUBJECT ACCESS',
  'WHAT INFORMATION',
  'INFORMATION DO YOU',
  'AUSKUNFT*',
  'DATENAUSKUNFT',
  'WELCHE DATEN',
  'GESPEICHERT',
  'SPEICHERT IHR',
  'SPEICHERN SIE',
  'UEBER MICH',
  'UBER MICH',
  // Where her number came from, and who allowed the messages: the source and the basis are hers to know (Art. 15(1)).
  'WOHER HABT IHR MEINE',
  'WOHER HABEN SIE MEINE',
  'WOHER HAST DU MEINE',
  'WOHER KENNT IHR MEINE',
  'WOHER KENNEN SIE MEINE',
  'WER HAT EUCH ERLAUBT',
  'WER HAT IHNEN ERLAUBT',
  'WER HAT DIR ERLAUBT',
  'WHERE DID YOU GET MY',
  'HOW DID YOU GET MY',
  'WHO GAVE YOU MY',
  'WHO ALLOWED YOU',
  'WHO GAVE YOU PERMISSION',
] as const;

/**
 * Words and phrases of a request to erase or to see one's data put in other words ("Bitte löschen Sie meine Nummer",
 * "Was habt ihr über mich gespeichert?"): no keyword, but a request counts however it is put (Art. 12(2), 15, 17
 * GDPR), so a person should read it. The same notation as OPT_OUT_HINTS.
 */
export const DATA_REQUEST_HINTS = [
  ...ERASURE_REQUEST_HINTS,
  // Neither to see nor to erase, by themselves.
  'MY DATA',
  'MY PERSONAL DATA',
  'MY DETAILS',
  'MY INFORMATION',
  'MY PERSONAL INFORMATION',
  'MEINE DATEN',
  'MEINER DATEN',
  'MEINEN DATEN',
  'DATEN VON MIR',
  ...ACCESS_REQUEST_HINTS,
  'GDPR',
  'DSGVO',
  'DATENSCHUTZ*',
] as const;

/** Words are single-spaced after normaliseKeywordText: a space on each side marks a word's edges. */
function hintPatterns(hints: readonly string[]): { hint: string; needle: string }[] {
  return hints.map((hint) => ({
    hint: hint.replace('*', ''),
    needle: hint.endsWith('*') ? ` ${hint.slice(0, -1)}` : ` ${hint} `,
  }));
}

const HINT_PATTERNS = hintPatterns(OPT_OUT_HINTS);
const DATA_REQUEST_PATTERNS = hintPatterns(DATA_REQUEST_HINTS);

/**
 * The opt-out hint a message holds ("ABMELD" for "Wie kann ich mich abmelden?"), or undefined. Read without accents,
 * umlauts written out or not: Kündigung is KUENDIG.
 */
export function optOutHint(text: string | undefined): string | undefined {
  return hintIn(text, HINT_PATTERNS);
}

/** The erasure or access hint a message holds ("LOESCH" for "Bitte löschen Sie meine Nummer"), or undefined. */
export function dataRequestHint(text: string | undefined): string | undefined {
  return hintIn(text, DATA_REQUEST_PATTERNS);
}

const ERASURE_REQUEST_PATTERNS = hintPatterns(ERASURE_REQUEST_HINTS);
const ACCESS_REQUEST_PATTERNS = hintPatterns(ACCESS_REQUEST_HINTS);

/**
 * What a request put in other words asks for, so that the answer offers that first: "Bitte löschen Sie meine Nummer"
 * to erase it, also "Bitte löschen Sie alles, was Sie über mich gespeichert haben" (a word of erasure says what she
 * wants done; the others may only name the data); "Welche Daten haben Sie über mich gespeichert?" to see her data;
 * 'unclear' for neither ("Meine Daten", "DSGVO").
 */
export function dataRequestAbout(text: string | undefined): 'access' | 'erasure' | 'unclear' {
  if (hintIn(text, ERASURE_REQUEST_PATTERNS) !== undefined) return 'erasure';
  return hintIn(text, ACCESS_REQUEST_PATTERNS) !== undefined ? 'access' : 'unclear';
}

function hintIn(text: string | undefined, patterns: readonly { hint: string; needle: string }[]): string | undefined {
  if (typeof text !== 'string' || text.length > HINT_TEXT_MAX_LENGTH) return undefined;
  const texts = spellings(normaliseKeywordText(text)).map((t) => ` ${t} `);
  return patterns.find(({ needle }) => texts.some((t) => t.includes(needle)))?.hint;
}

/** A message longer than this is a letter for a person to read anyway; the search stays cheap. */
const HINT_TEXT_MAX_LENGTH = 4096;
