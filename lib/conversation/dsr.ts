/**
 * Data subject requests (GDPR Art. 15, 17, 20) and the shape of what leaves the package about them:
 * who a request is about, when an inbound WhatsApp message asks for erasure, the message that tells the
 * person, the erasure report, the export file, and the ledger events handed to other systems.
 */
import { isBusinessScopedUserId } from '../business-scoped-user-id';
import { type EraseReport, LEDGER_EVENT_TYPES, type LedgerEvent, type SubjectRef } from '../consent/types';
import { optionalRequestedBy } from '../consent/validate';
import { GdprWhatsAppError } from '../errors';
import { namedNumberChecks, normaliseNamedNumber } from '../phone';
import { metaTimeMs } from '../webhook/meta-time';
import { INTERACTIVE_BODY_MAX, TEXT_BODY_MAX } from './footer';
import { dataRequestAbout, dataRequestHint, isQuestion, matchKeyword, normaliseKeywordText } from './keywords';
import { type Language, textFor } from './language';

/** Where the subject of a request came from. */
export type RequestOrigin = 'request' | 'inbound';

export interface SubjectRequest {
  subject: SubjectRef;
  origin: RequestOrigin;
  /**
   * Staff answering the person a number belonged to before it moved to someone else: the records up to the move.
   * Never for an inbound message, which is its sender's: see `sentAt`.
   */
  beforeNumberChange?: boolean;
  /** An inbound message's time by Meta's clock: sent before the number moved, it is the previous holder's. */
  sentAt?: number;
  /** Staff's name or ticket reference (msg.requestedBy) for a request they make: recorded in the audit event. */
  requestedBy?: string;
  /** The store's country, when staff wrote the number without its country code and it was read there. */
  readIn?: string;
  /** The number's other reading, in the store's country: the store's records decide (see settleNamedNumber). */
  nationalReading?: string;
}

interface InboundLike {
  messageId?: unknown;
  type?: unknown;
  from?: unknown;
  userId?: unknown;
  timestamp?: unknown;
  text?: unknown;
  button?: { payload?: unknown; text?: unknown };
  interactive?: { id?: unknown; title?: unknown };
  media?: { caption?: unknown };
  groupId?: unknown;
}

/** A Node-RED message, as far as these rules look at it. */
type MessageLike = object & { payload?: unknown; whatsapp?: unknown };

/** True for a message from `whatsapp-webhook` output 1 (a person wrote to us). */
export function isInboundMessage(msg: MessageLike): boolean {
  const whatsapp = msg.whatsapp as InboundLike | undefined;
  return (
    typeof whatsapp === 'object' &&
    whatsapp !== null &&
    typeof whatsapp.messageId === 'string' &&
    (typeof whatsapp.from === 'string' || typeof whatsapp.userId === 'string')
  );
}

/**
 * What she typed, or the label of the button she tapped, for the language of the answer (chooseLanguage); undefined
 * for a request from staff.
 */
export function typedText(msg: MessageLike): unknown {
  if (!isInboundMessage(msg)) return undefined;
  const inbound = msg.whatsapp as InboundLike;
  return inbound.text ?? inbound.button?.text ?? inbound.interactive?.title;
}

/**
 * Who a data subject request is about. An inbound WhatsApp message always means its sender, whatever it
 * says: a person may only erase or read their own data, never a number they type (Art. 12(6) GDPR,
 * identity of the requester). Otherwise `msg.payload` names the subject: a number, or `{phone}` and/or `{userId}`.
 */
export function subjectFromMessage(msg: MessageLike, country?: string): SubjectRequest {
  const request = requestFromMessage(msg, country);
  // Who wrote in is the requester of an inbound message; staff name themselves for a request they make.
  const by =
    request.origin === 'request' ? optionalRequestedBy((msg as { requestedBy?: unknown }).requestedBy) : undefined;
  return by === undefined ? request : { ...request, requestedBy: by };
}

function requestFromMessage(msg: MessageLike, country: string | undefined): SubjectRequest {
  if (isInboundMessage(msg)) {
    const whatsapp = msg.whatsapp as InboundLike;
    const request: SubjectRequest = { subject: checkedSubject(whatsapp.from, whatsapp.userId), origin: 'inbound' };
    const sentAt = metaTimeMs(whatsapp.timestamp);
    return sentAt === undefined ? request : { ...request, sentAt };
  }
  const payload = msg.payload;
  const national = (phone: unknown) => namedNumberChecks(phone, country);
  if (typeof payload === 'string' || typeof payload === 'number') {
    return { subject: checkedSubject(payload, undefined, country), origin: 'request', ...national(payload) };
  }
  if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) {
    const named = payload as { phone?: unknown; userId?: unknown; beforeNumberChange?: unknown };
    const request: SubjectRequest = {
      subject: checkedSubject(named.phone, named.userId, country),
      origin: 'request',
      ...national(named.phone),
    };
    if (named.beforeNumberChange === undefined) return request;
    if (typeof named.beforeNumberChange !== 'boolean' || (named.beforeNumberChange && !request.subject.phone)) {
      throw new GdprWhatsAppError(
        'invalid-before-number-change',
        'beforeNumberChange must be true or false, and needs the phone number that changed hands',
      );
    }
    return { ...request, beforeNumberChange: named.beforeNumberChange };
  }
  throw new GdprWhatsAppError(
    'missing-subject',
    'No subject given: send a phone number or {phone} / {userId} in msg.payload, or an inbound WhatsApp message',
  );
}

/**
 * A subject named by staff or a message: a valid number (E.164, + or 00; written nationally, with the store's
 * `country`) and/or a business-scoped user id.
 */
export function checkedSubject(phone: unknown, userId: unknown, country?: string): SubjectRef {
  const subject: SubjectRef = {};
  if (phone !== undefined && phone !== null && phone !== '') subject.phone = normaliseNamedNumber(phone, country);
  if (userId !== undefined && userId !== null && userId !== '') {
    if (typeof userId !== 'string' || !isBusinessScopedUserId(userId.trim())) {
      throw new GdprWhatsAppError('invalid-user-id', 'The WhatsApp user id is not a business-scoped user id');
    }
    subject.userId = userId.trim();
  }
  if (!subject.phone && !subject.userId) {
    throw new GdprWhatsAppError('missing-subject', 'No phone number or WhatsApp user id given for the subject');
  }
  return subject;
}

/**
 * The erase keyword an inbound message is, exactly, or undefined. "Please delete my data tomorrow" is not a request:
 * only the whole message counts, and only one written to the business, not in a group it belongs to. A typed message
 * may be any erase keyword. A button's label and payload are the business's words (Meta sets a template quick
 * reply's payload to its label), and "Löschen" on one may delete a shopping cart: a button erases only with a keyword
 * that names the data (more than one word: DELETE MY DATA, DATEN LÖSCHEN).
 */
export function recogniseEraseRequest(msg: MessageLike, keywords: readonly string[]): string | undefined {
  if (!isInboundMessage(msg)) return undefined;
  const whatsapp = msg.whatsapp as InboundLike;
  if (whatsapp.groupId !== undefined) return undefined;
  const typed =
    whatsapp.type === 'text' ||
    (whatsapp.type === undefined && whatsapp.button === undefined && whatsapp.interactive === undefined);
  if (typed) return eraseKeywordOf(whatsapp.text, keywords);
  const buttonKeywords = keywords.filter(namesTheData);
  for (const candidate of [whatsapp.button?.text, whatsapp.button?.payload, whatsapp.interactive?.title]) {
    const keyword = eraseKeywordOf(candidate, buttonKeywords);
    if (keyword) return keyword;
  }
  return undefined;
}

/**
 * The word or phrase of a request to erase or to see her data put in other words that an inbound message holds
 * ("Bitte löschen Sie meine Nummer": LOESCH), for a person to read, and what it asks for (dataRequestAbout);
 * undefined for none, and in a group. The caption
 * of a picture or file counts too (a photo of her ID card with "Bitte alles löschen"), as for a possible opt-out.
 */
export function possibleDataRequest(
  msg: MessageLike,
): { hint: string; about: 'access' | 'erasure' | 'unclear' } | undefined {
  if (!isInboundMessage(msg)) return undefined;
  const whatsapp = msg.whatsapp as InboundLike;
  if (whatsapp.groupId !== undefined) return undefined;
  const text = typeof whatsapp.text === 'string' ? whatsapp.text : whatsapp.media?.caption;
  if (typeof text !== 'string') return undefined;
  const hint = dataRequestHint(text);
  return hint === undefined ? undefined : { hint, about: dataRequestAbout(text) };
}

/** A keyword of more than one word (DELETE MY DATA, DATEN LÖSCHEN) says what is to go; "Löschen" alone does not. */
function namesTheData(keyword: string): boolean {
  return normaliseKeywordText(keyword).includes(' ');
}

/**
 * The keyword to ask for before erasing on a one-word keyword: "Löschen" may be about an order or a cart, and an
 * erasure cannot be undone. The list's keyword that names the data with the same word (LÖSCHEN: DATEN LÖSCHEN), else
 * its first that names the data; undefined when `keyword` names the data itself or the list has none that does (then
 * it erases, as configured).
 */
export function confirmationKeywordFor(keyword: string, keywords: readonly string[]): string | undefined {
  if (namesTheData(keyword)) return undefined;
  const word = normaliseKeywordText(keyword);
  const phrases = keywords.filter(namesTheData);
  return phrases.find((k) => normaliseKeywordText(k).split(' ').includes(word)) ?? phrases[0];
}

/** Where a configured erasure question names the keyword she is to send. */
export const KEYWORD_PLACEHOLDER = '{keyword}';

/** Whether a configured erasure question can be sent: it names the keyword where KEYWORD_PLACEHOLDER stands. */
export function namesKeyword(question: string): boolean {
  return question.includes(KEYWORD_PLACEHOLDER);
}

/**
 * Asked of a person who wrote a one-word erase keyword (confirmationKeywordFor), with the keyword to send. No yes/no
 * question: a typed "Ja" cannot confirm an erasure (it may answer anything), so the text asks for the keyword only.
 * Not "all your data": the proof of consent and kept objections stay (DEFAULT_ERASURE_NOTICE).
 */
export const DEFAULT_ERASURE_QUESTION: Record<Language, (keyword: string) => string> = {
  en: (keyword) => `To have your data with us deleted, reply ${keyword}. This cannot be undone.`,
  de: (keyword) =>
    `Um Ihre Daten bei uns löschen zu lassen, antworten Sie mit ${keyword}. Das lässt sich nicht rückgängig machen.`,
};

function eraseKeywordOf(candidate: unknown, keywords: readonly string[]): string | undefined {
  // "Löschen?" asks whether one can; an erasure cannot be undone, so only a request without a question mark counts.
  if (typeof candidate !== 'string' || isQuestion(candidate)) return undefined;
  // "Bitte löschen" may mean an order; "Daten löschen bitte" says what is to go, as the keyword alone does.
  return (
    matchKeyword(candidate, keywords, { courtesy: false }) ?? matchKeyword(candidate, keywords.filter(namesTheData))
  );
}

/** Told to the person once their data is gone (Art. 12(3) GDPR: inform about the action taken). */
export const DEFAULT_ERASURE_NOTICE: Record<Language, string> = {
  en: 'We have deleted your data as you asked. We keep only a note without your number, so that we write to you again only once you contact us. If you gave us your consent before, we keep the proof of it, also without your number, for as long as our privacy policy says.',
  de: 'Wir haben Ihre Daten wie gewünscht gelöscht. Wir behalten nur einen Vermerk ohne Ihre Nummer, damit wir Ihnen erst wieder schreiben, wenn Sie sich selbst melden. Falls Sie früher eingewilligt haben, bewahren wir den Nachweis dafür ebenfalls ohne Ihre Nummer auf, so lange, wie unsere Datenschutzerklärung angibt.',
};

export interface OutgoingText {
  to: string;
  payload: string;
  language: Language;
}

/** The text message that tells the person their data is being erased; undefined without a number to send to. */
export function erasureNotice(
  subject: SubjectRef,
  language: Language,
  texts: Partial<Record<string, string>> = {},
): OutgoingText | undefined {
  // A person known by username only is written to by business-scoped user id (whatsapp-send's recipient).
  const to = subject.phone ?? subject.userId;
  if (!to) return undefined;
  const payload = textFor({ ...DEFAULT_ERASURE_NOTICE, ...nonEmpty(texts) }, language) ?? DEFAULT_ERASURE_NOTICE.en;
  return { to, payload, language };
}

/** The most characters Meta allows in a reply button's title. */
const BUTTON_TITLE_MAX = 20;

/**
 * The question to a person who wrote a one-word erase keyword; undefined without a number to send to. It carries a
 * reply button titled with the keyword (a button erases with a keyword that names the data): her tap erases, where
 * a "Ja" typed in answer would go on as an ordinary message, to an opt-in request she has open, say. A keyword too
 * long for a button is asked for in the text alone. `questions`: the node's own text per language, KEYWORD_PLACEHOLDER
 * where the keyword goes; empty or without it, the default.
 */
export function erasureQuestion(
  subject: SubjectRef,
  language: Language,
  keyword: string,
  questions: Partial<Record<string, string>> = {},
): { to: string; payload: string | Record<string, unknown>; language: Language } | undefined {
  const to = subject.phone ?? subject.userId;
  if (!to) return undefined;
  // A configured question that does not say what to send (a flow written by hand) is not asked: she could not answer.
  const own = questions[language]?.trim();
  const asked = own && namesKeyword(own) ? own.split(KEYWORD_PLACEHOLDER).join(keyword) : undefined;
  // The dialog allows 1,024 characters before the keyword goes in; a long keyword used several times can take the
  // text past what a message may carry: past a button's body it goes as text alone, past a text the default asks.
  const text = asked && [...asked].length <= TEXT_BODY_MAX ? asked : DEFAULT_ERASURE_QUESTION[language](keyword);
  if ([...keyword].length > BUTTON_TITLE_MAX || [...text].length > INTERACTIVE_BODY_MAX) {
    return { to, payload: text, language };
  }
  const buttons = [{ type: 'reply', reply: { id: keyword, title: keyword } }];
  return {
    to,
    payload: { type: 'interactive', interactive: { type: 'button', body: { text }, action: { buttons } } },
    language,
  };
}

function nonEmpty(texts: Partial<Record<string, string>>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [language, text] of Object.entries(texts)) {
    if (typeof text === 'string' && text.trim().length > 0) kept[language] = text;
  }
  return kept;
}

/**
 * The erasure report for output 1: what was removed, how much, when. It names the subject only by
 * pseudonym, so it can go to logs, tickets and a CRM without becoming personal data again.
 */
export interface ErasureReport {
  found: boolean;
  removed: Record<string, number>;
  total: number;
  at: number;
  erasedAt: string;
  pseudonym: string;
  origin: RequestOrigin;
  /** msg.requestedBy of a staff request, as recorded in the audit event. */
  requestedBy?: string;
  /** Only the previous holder's part of a number that moved to another person was erased. */
  beforeNumberChange?: true;
  /**
   * Her part of the numbers she moved from to reach this one went too: how many (one per move of hers), and what
   * went there. `removed` and `total` count this number's own records only.
   */
  earlierNumbers?: { count: number; removed: Record<string, number>; total: number };
}

/** The counts that are counts, and their sum. */
function counted(counts: Readonly<Record<string, unknown>> | undefined): {
  removed: Record<string, number>;
  total: number;
} {
  const removed: Record<string, number> = {};
  let total = 0;
  for (const [what, count] of Object.entries(counts ?? {})) {
    if (typeof count !== 'number' || !Number.isFinite(count)) continue;
    removed[what] = count;
    total += count;
  }
  return { removed, total };
}

export function erasureReport(result: EraseReport, origin: RequestOrigin, requestedBy?: string): ErasureReport {
  const { removed, total } = counted(result.removed);
  const earlier = result.earlierNumbers;
  return {
    found: result.found,
    removed,
    total,
    at: result.at,
    erasedAt: new Date(result.at).toISOString(),
    pseudonym: result.pseudonym,
    origin,
    ...(requestedBy !== undefined ? { requestedBy } : {}),
    ...(result.beforeNumberChange ? { beforeNumberChange: true as const } : {}),
    ...(earlier ? { earlierNumbers: { count: earlier.count, ...counted(earlier.removed) } } : {}),
  };
}

/** An Art. 15/20 export prepared for an `http response` node (or a file node): a download, not an object. */
export interface ExportFile {
  payload: string;
  filename: string;
  headers: Record<string, string>;
}

/** The file name holds the export date and a pseudonym prefix, never the number. */
export function exportFileName(pseudonym: string | undefined, at: number): string {
  const date = new Date(at).toISOString().slice(0, 10);
  const tag = typeof pseudonym === 'string' ? pseudonym.replace(/[^A-Za-z0-9]/g, '').slice(0, 12) : '';
  return tag ? `whatsapp-data-${tag}-${date}.json` : `whatsapp-data-${date}.json`;
}

export function exportAsFile(document: unknown, pseudonym: string | undefined, at: number): ExportFile {
  const filename = exportFileName(pseudonym, at);
  return {
    payload: `${JSON.stringify(document, null, 2)}\n`,
    filename,
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Disposition': `attachment; filename="${filename}"`,
      // The file holds personal data: no shared cache may keep a copy.
      'Cache-Control': 'no-store',
    },
  };
}

/** Fields of a ledger event that are not personal data and may leave for downstream systems. */
const SHAREABLE_EVENT_FIELDS = [
  'purpose',
  'purposeVersion',
  'status',
  'method',
  'channel',
  'noticeVersion',
  'reason',
  // subject.number-changed: the pseudonym she went to; the erasure events: whether the number has a holder after.
  'to',
  'heldAfter',
  'movedAt',
] as const;

export interface ConsentEventPayload {
  type: string;
  pseudonym: string;
  at: number;
  purpose?: string;
  phone?: string;
  userId?: string;
  newPhone?: string;
  newUserId?: string;
  [field: string]: unknown;
}

/**
 * Turns a ledger event into `msg.payload` for consent-events. Only listed fields pass (data minimisation,
 * Art. 5(1)(c)); the phone number and user id only when the node is set to include them.
 */
export function consentEventPayload(ledgerEvent: LedgerEvent, includePhone: boolean): ConsentEventPayload {
  // Ledger events carry `userId` beside `phone` in-process, although LedgerEvent does not declare it.
  const event = ledgerEvent as LedgerEvent & Record<string, unknown>;
  const payload: ConsentEventPayload = { type: event.type, pseudonym: event.pseudonym, at: event.at };
  const shared = payload as Record<string, unknown>;
  for (const field of SHAREABLE_EVENT_FIELDS) {
    if (event[field] !== undefined) shared[field] = event[field];
  }
  if (includePhone) {
    if (typeof event.phone === 'string') payload.phone = event.phone;
    if (typeof event.userId === 'string') payload.userId = event.userId;
    // subject.number-changed: `phone` is the number she left, `newPhone` the one she went to.
    if (typeof event.newPhone === 'string') payload.newPhone = event.newPhone;
    if (typeof event.newUserId === 'string') payload.newUserId = event.newUserId;
  }
  return payload;
}

/**
 * A filter naming something that is no event type (a typo in a flow written by hand or by a script): its events
 * would be let go unsent, every one of them, so the node refuses the filter instead.
 */
export function requireKnownEventTypes(filter: Set<string> | undefined): void {
  const unknown = [...(filter ?? [])].filter((type) => !(LEDGER_EVENT_TYPES as readonly string[]).includes(type));
  if (unknown.length > 0) {
    throw new GdprWhatsAppError('unknown-event-types', `No such consent event type: ${unknown.join(', ')}`, {
      types: unknown.join(', '),
    });
  }
}

/** Parses the node's event filter; an empty selection means every event. */
export function parseEventFilter(selection: unknown): Set<string> | undefined {
  const items = Array.isArray(selection) ? selection : typeof selection === 'string' ? selection.split(/[,\n]/) : [];
  const types = items.map((t) => String(t).trim()).filter((t) => t.length > 0);
  return types.length > 0 ? new Set(types) : undefined;
}

export function eventSelected(type: string, filter: Set<string> | undefined): boolean {
  return filter === undefined || filter.has(type);
}
