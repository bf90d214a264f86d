import { messageTypeOf } from '../cloud-api/message-types';
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
 * footer). Carousels take none: "Do not add a header, footer, or buttons".
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

const SEPARATOR = '\n\n';

type Body = Record<string, unknown>;

/**
 * Adds the opt-out instruction in `language` to an outgoing message: appended to the text of a
 * text message and to the caption of an image, video or document (or made its caption), set as `footer.text` of an
 * interactive message that has none, or appended to its body when its footer is taken (unless the body already
 * says how to stop). Templates, audio, stickers and anything else are returned unchanged (a template's wording is
 * approved by Meta and cannot change).
 * Nothing changes when the text already says how to stop or the result would break a length limit.
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
 * True when `text` already tells the reader how to stop: it contains an opt-out line of any language, or an
 * unsubscribe keyword in capitals follows a reply verb or "with"/"mit" in the same sentence ("Reply STOP ...",
 * "Antworten Sie mit STOPP", "Mit ABMELDEN beenden Sie ..."). A keyword alone says nothing: "NON-STOP DEALS",
 * "STOP paying too much", "Bus STOP Hauptbahnhof". Lower-case "stop" in ordinary prose does not count either.
 */
export function mentionsOptOut(text: string, texts: Partial<Record<Language, string>> = {}): boolean {
  const lines = [...Object.values(OPT_OUT_FOOTER_TEXTS), ...Object.values(texts)].filter(
    (l): l is string => typeof l === 'string' && l.length > 0,
  );
  if (lines.some((l) => text.includes(l))) return true;
  return REPLY_WITH_KEYWORD.test(text);
}

/**
 * The keywords that, in capitals, say how to stop messages. Not every opt-out keyword: "Reply CANCEL to cancel your
 * order" or "ENDE der Aktion" does not tell the reader how to unsubscribe.
 */
const OPT_OUT_WORDS = ['STOP', 'STOPP', 'UNSUBSCRIBE', 'ABMELDEN', 'ABBESTELLEN'];

/** Words that introduce what to reply, in any case. */
const REPLY_CUES = [
  'reply',
  'respond',
  'text',
  'send',
  'type',
  'write',
  'answer',
  'with',
  'antwort',
  'antworte',
  'antworten',
  'antwortet',
  'schreib',
  'schreibe',
  'schreiben',
  'sende',
  'senden',
  'tippe',
  'tippen',
  'mit',
];

const anyCase = (word: string) => [...word].map((c) => `[${c.toLowerCase()}${c.toUpperCase()}]`).join('');

/**
 * A cue, then at most 30 characters of the same sentence, then a keyword; words of their own (a hyphen joins words:
 * "NON-STOP"). Compiled once: per message it cost more than the rest of the footer.
 */
const REPLY_WITH_KEYWORD = new RegExp(
  `(?<![\\p{L}\\p{N}-])(?:${REPLY_CUES.map(anyCase).join('|')})(?![\\p{L}\\p{N}-])` +
    `[^.!?\\n]{0,30}?` +
    `(?<![\\p{L}\\p{N}-])(?:${OPT_OUT_WORDS.join('|')})(?![\\p{L}\\p{N}-])`,
  'u',
);

function withLine(text: string, line: string, max = TEXT_BODY_MAX): string {
  if (mentionsOptOut(text, { en: line })) return text;
  const joined = text.length > 0 ? `${text}${SEPARATOR}${line}` : line;
  return joined.length <= max ? joined : text;
}

function withCaption(body: Body, type: string, line: string): Body {
  const media = body[type] as { caption?: unknown } | undefined;
  if (!media || typeof media !== 'object') return body;
  const caption = typeof media.caption === 'string' ? media.caption : '';
  const updated = withLine(caption, line, CAPTION_MAX);
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
  if (typeof interactive.type !== 'string' || !FOOTER_CAPABLE_INTERACTIVE.has(interactive.type)) return body;
  const footer = interactive.footer?.text;
  if (typeof footer === 'string' && mentionsOptOut(footer, { en: line })) return body;
  if (typeof interactive.body?.text === 'string' && mentionsOptOut(interactive.body.text, { en: line })) return body;
  const footerFree = typeof footer !== 'string' || footer.trim().length === 0;
  if (footerFree && line.length <= INTERACTIVE_FOOTER_MAX) {
    return { ...body, interactive: { ...interactive, footer: { text: line } } };
  }
  // The footer is the business's own: the line goes at the end of the body instead, where it fits.
  if (typeof interactive.body?.text !== 'string') return body;
  const updated = withLine(interactive.body.text, line, INTERACTIVE_BODY_MAX);
  if (updated === interactive.body.text) return body;
  return { ...body, interactive: { ...interactive, body: { ...interactive.body, text: updated } } };
}
