import { messageTypeOf } from '../cloud-api/message-types';
import type { CheckResult, CheckStatus } from '../consent/types';
import type { Language } from './language';

/**
 * The opt-out instruction every message carries (issue 4, "Easy opt-out in every message"):
 * Art. 7(3) GDPR wants withdrawing to be as easy as giving consent, and Art. 21(2)-(3) lets people
 * object to direct marketing at any time.
 */
export const OPT_OUT_FOOTER_TEXTS: Readonly<Record<Language, string>> = {
  en: 'Reply STOP to unsubscribe.',
  de: 'Antworten Sie mit STOP, um sich abzumelden.',
};

/** Cloud API limits: text body 4096 characters, interactive footer 60, interactive body and media caption 1024. */
export const TEXT_BODY_MAX = 4096;
export const INTERACTIVE_FOOTER_MAX = 60;
export const INTERACTIVE_BODY_MAX = 1024;
export const CAPTION_MAX = 1024;

/** Media types that carry a caption (audio and stickers have none). */
const CAPTIONED_MEDIA = new Set(['image', 'video', 'document']);

/**
 * Interactive types that accept a footer (Meta's interactive object reference; the catalog message guide's optional
 * footer). Carousels take none (Meta: "Main message headers, footers ... are not supported").
 */
const FOOTER_CAPABLE_INTERACTIVE = new Set([
  'button',
  'list',
  'cta_url',
  'flow',
  'product',
  'product_list',
  'catalog_message',
]);

/**
 * Interactive types with a body but no footer (a location request, a media carousel, a call permission request): the
 * line goes at the end of the body.
 */
const BODY_ONLY_INTERACTIVE = new Set(['location_request_message', 'carousel', 'call_permission_request']);

const SEPARATOR = '\n\n';

type Body = Record<string, unknown>;

/**
 * Adds the opt-out instruction in `language` to an outgoing message: appended to the text of a
 * text message and to the caption of an image, video or document (or made its caption), set as `footer.text` of an
 * interactive message that has none, or appended to its body when its footer is taken (unless the body already
 * says how to stop). Templates, audio, stickers and anything else are returned unchanged (a template's wording is
 * approved by Meta and cannot change).
 * Nothing changes when the text already says how to stop or the result would break a length limit, nor for an empty or
 * blank text or interactive body (no message, which the schema refuses, rather than a message of the line alone).
 * Never mutates its input. `texts` replaces the default lines per language.
 */
export function appendOptOutFooter<T extends string | Body>(
  body: T,
  language: Language,
  texts: Partial<Record<Language, string>> = {},
): T {
  const line = texts[language] || OPT_OUT_FOOTER_TEXTS[language];
  if (typeof body === 'string') return withLine(body, line) as T;
  if (!body || typeof body !== 'object') return body;
  const type = messageTypeOf(body);
  if (type === 'text') return withTextFooter(body, line) as T;
  if (type === 'interactive') return withInteractiveFooter(body, line) as T;
  if (type !== undefined && CAPTIONED_MEDIA.has(type)) return withCaption(body, type, line) as T;
  return body;
}

/**
 * True when `text` already tells the reader how to stop: it contains an opt-out line of any language, or it says
 * what to reply in so many words: a reply word then the keyword ("Reply STOP ...", "Antworten Sie mit STOPP",
 * "Schick uns STOP"), the keyword then a German verb ("Zum Abmelden STOP senden"), or "Opt out: STOP". The keyword
 * must be in capitals and the reply word must not be: "NON-STOP DEALS", "STOP paying too much", "Bus STOP",
 * "SHOP WITH US AND STOP PAYING" say nothing. When in doubt the line is added: twice is better than never.
 */
export function mentionsOptOut(text: string, texts: Partial<Record<Language, string>> = {}): boolean {
  const lines = [...Object.values(OPT_OUT_FOOTER_TEXTS), ...Object.values(texts)].filter(
    (l): l is string => typeof l === 'string' && l.length > 0,
  );
  if (lines.some((l) => text.includes(l))) return true;
  return OPT_OUT_INSTRUCTIONS.some((pattern) => pattern.test(text));
}

/**
 * The keywords that, in capitals, say how to stop messages. Not every opt-out keyword: "Reply CANCEL to cancel your
 * order" or "ENDE der Aktion" does not tell the reader how to unsubscribe. stop-handler always honours these
 * (stopRulesFrom), whatever its list: a message that names one gets no footer of its own.
 */
export const OPT_OUT_WORDS = ['STOP', 'STOPP', 'UNSUBSCRIBE', 'ABMELDEN', 'ABBESTELLEN'] as const;

/** Words that introduce what to reply. */
const REPLY_CUES = [
  'reply',
  'respond',
  'text',
  'send',
  'type',
  'write',
  'answer',
  'message',
  'with',
  'antwort',
  'antworte',
  'antworten',
  'antwortet',
  'schreib',
  'schreibe',
  'schreiben',
  'schick',
  'schicke',
  'schickt',
  'schicken',
  'sende',
  'senden',
  'tippe',
  'tippen',
  'mit',
];

/** German verbs that follow what to send ("STOP senden"). */
const TRAILING_VERBS = ['senden', 'schicken', 'schreiben', 'antworten', 'eingeben', 'tippen', 'zurückschreiben'];

/** What may stand between a reply word and the keyword: "us", "einfach", "the word". */
const FILLERS = [
  'us',
  'uns',
  'me',
  'mir',
  'Sie',
  'du',
  'just',
  'simply',
  'einfach',
  'bitte',
  'please',
  'jederzeit',
  'anytime',
  'any time',
  'back',
  'the word',
  'the keyword',
  'das Wort',
  'das Stichwort',
  'a message',
  'einer Nachricht',
];

const QUOTES = `"'„“”‚‘’«»`;
/** Spaces or quotes between words of one line: a colon or a line break ends what an instruction may span. */
const GAP = `[ \\t\\u00a0\\u202f${QUOTES}]+`;
const WORD_START = '(?<![\\p{L}\\p{N}-])';
const WORD_END = '(?![\\p{L}\\p{N}-])';
/** As written in a sentence: lower case, or capitalised at its start; never all capitals. */
const asWritten = (word: string) => `[${word[0].toLowerCase()}${word[0].toUpperCase()}]${word.slice(1)}`;
const KEYWORD = `${WORD_START}(?:${OPT_OUT_WORDS.join('|')})${WORD_END}`;
/** "NON STOP senden wir", "Bitte nicht STOP schreiben": the keyword is not what to send. */
const NOT_SAID = '(?<!(?:NON|[nN]on|[nN]icht|[nN]ot|[kK]eine?)[ \\t]+)';
const FILLER = `(?:${FILLERS.map((f) => f.replace(' ', '[ \\t]+')).join('|')})`;

/** Compiled once: per message they cost more than the rest of the footer. */
const OPT_OUT_INSTRUCTIONS = [
  new RegExp(`${WORD_START}(?:${REPLY_CUES.map(asWritten).join('|')})(?:${GAP}${FILLER})*${GAP}${KEYWORD}`, 'u'),
  new RegExp(`${NOT_SAID}${KEYWORD}(?:${GAP}${FILLER})*${GAP}(?:${TRAILING_VERBS.join('|')})${WORD_END}`, 'u'),
  new RegExp(`${WORD_START}(?:[oO]pt[ -]?out|[uU]nsubscribe|[aA]bmelden|[aA]bmeldung)[ \\t]*:${GAP}?${KEYWORD}`, 'u'),
];

/**
 * The text with the line after it. An empty or blank text stays as it is: as a text or interactive body it is no
 * message, and with the line it would go out as a message saying nothing but how to stop (the schema refuses it).
 */
function withLine(text: string, line: string, max = TEXT_BODY_MAX): string {
  if (isBlank(text) || mentionsOptOut(text, { en: line })) return text;
  const joined = `${text}${SEPARATOR}${line}`;
  return joined.length <= max ? joined : text;
}

function isBlank(text: string): boolean {
  return text.trim().length === 0;
}

function withCaption(body: Body, type: string, line: string): Body {
  const media = body[type] as { caption?: unknown } | undefined;
  if (!media || typeof media !== 'object') return body;
  const caption = typeof media.caption === 'string' ? media.caption : '';
  // The media is the message: one without a caption gets the line as its caption.
  const fits = line.length <= CAPTION_MAX;
  const updated = isBlank(caption) ? (fits ? line : caption) : withLine(caption, line, CAPTION_MAX);
  return updated === caption ? body : { ...body, [type]: { ...media, caption: updated } };
}

function withTextFooter(body: Body, line: string): Body {
  const text = body.text as { body?: unknown } | undefined;
  if (!text || typeof text !== 'object' || typeof text.body !== 'string') return body;
  const updated = withLine(text.body, line);
  return updated === text.body ? body : { ...body, text: { ...text, body: updated } };
}

function withInteractiveFooter(body: Body, line: string): Body {
  const interactive = body.interactive as
    | { type?: unknown; body?: { text?: unknown }; footer?: { text?: unknown } }
    | undefined;
  if (!interactive || typeof interactive !== 'object') return body;
  if (typeof interactive.type !== 'string') return body;
  if (BODY_ONLY_INTERACTIVE.has(interactive.type)) return withInteractiveBodyLine(body, interactive, line);
  if (!FOOTER_CAPABLE_INTERACTIVE.has(interactive.type)) return body;
  const footer = interactive.footer?.text;
  if (typeof footer === 'string' && mentionsOptOut(footer, { en: line })) return body;
  if (typeof interactive.body?.text === 'string' && mentionsOptOut(interactive.body.text, { en: line })) return body;
  const footerFree = typeof footer !== 'string' || footer.trim().length === 0;
  if (footerFree && line.length <= INTERACTIVE_FOOTER_MAX) {
    return { ...body, interactive: { ...interactive, footer: { text: line } } };
  }
  // The footer is the business's own: the line goes at the end of the body instead, where it fits.
  return withInteractiveBodyLine(body, interactive, line);
}

function withInteractiveBodyLine(body: Body, interactive: { body?: { text?: unknown } }, line: string): Body {
  if (typeof interactive.body?.text !== 'string') return body;
  const updated = withLine(interactive.body.text, line, INTERACTIVE_BODY_MAX);
  if (updated === interactive.body.text) return body;
  return { ...body, interactive: { ...interactive, body: { ...interactive.body, text: updated } } };
}

/** What a STOP, a refusal or an erasure leaves behind: she opted out. */
const OPTED_OUT: ReadonlySet<CheckStatus> = new Set<CheckStatus>(['withdrawn', 'refused', 'erased']);

/**
 * Her checks for every purpose of the store say she opted out and nothing runs for her any more, not even a purpose
 * that needs no consent: "Reply STOP to unsubscribe" would tell her to do again what she did. Someone who never
 * signed up still reads it.
 */
export function nothingLeftToStop(checks: readonly Pick<CheckResult, 'allowed' | 'status'>[]): boolean {
  return checks.some((check) => OPTED_OUT.has(check.status)) && checks.every((check) => !check.allowed);
}
