import {
  CONFIRM_BUTTON_PREFIX,
  isLivePending,
  mayAnswerRequest,
  quotedRequest,
  requestedAfterReply,
  sentFromOtherNumber,
} from '../consent/rules';
import type { ConsentRecord } from '../consent/types';
import { GdprWhatsAppError } from '../errors';
import { normalisePhoneNumber } from '../phone';
import type { InboundMessage } from '../webhook/types';
import { carriesNoSign, isQuestion, isStruckThrough, matchKeyword } from './keywords';
import { chooseLanguage, type Language, textFor } from './language';
import { findPurpose, type PurposeDefinition, purposeLabel } from './purposes';

/**
 * Double opt-in decisions (Art. 7(1) GDPR: the business must be able to prove consent): which form
 * requests may start a pending consent, which replies confirm one, and the confirmation message itself.
 */

export type OptInRejectReason =
  | 'invalid-request'
  | 'prechecked'
  | 'consent-not-ticked'
  | 'missing-wording'
  | 'unknown-wording'
  | 'missing-purpose'
  | 'unknown-purpose'
  | 'invalid-phone'
  | 'ambiguous-phone'
  | 'suppressed'
  | 'recently-opted-out'
  | 'request-pending'
  | 'too-many-requests'
  | 'rate-limited';

/**
 * Rejections that tell something about the number rather than the form: a public form must answer them as it
 * answers a sent request, or whoever types in a number learns whether it asked for erasure or was asked already.
 */
export const NUMBER_STATUS_REASONS: readonly OptInRejectReason[] = [
  'suppressed',
  'recently-opted-out',
  'request-pending',
  'too-many-requests',
];

/**
 * The least time from a form request's arrival to its outcome, whatever the outcome (Art. 5(1)(f) GDPR): only a new
 * number is written to the ledger, so without it a request for a new number is answered later (about 18 ms on
 * SQLite) than one for a number with a request pending (about 8 ms), and whoever times repeated posts tells the
 * two apart although the page is the same. Half a second is far above that write on a PostgreSQL across a network
 * or on an SD card's fsync (a Raspberry Pi), so the outcomes take the same time in normal operation, and it is still
 * quick for a person who pressed a button. A constant, not a setting: a lower value only weakens the protection, and
 * a store that is slower than this needs fixing rather than a longer wait.
 */
export const FORM_ANSWER_MINIMUM_MS = 500;

export const MAX_REQUEST_WORDING_LENGTH = 4000;
const MAX_SOURCE_LENGTH = 500;

export interface ConsentFormRequest {
  /** E.164 */
  phone: string;
  purpose: PurposeDefinition;
  /** The exact wording the person saw next to the checkbox. */
  wording: string;
  source?: string;
  language: Language;
  /** When the form was submitted (ms), if the form said so. */
  submittedAt?: number;
}

export type FormValidation =
  | { ok: true; request: ConsentFormRequest }
  | { ok: false; reason: OptInRejectReason; message: string };

export interface FormValidationOptions {
  purposes: readonly PurposeDefinition[];
  /** The node's purpose. */
  purpose?: string;
  /** Whether `payload.purpose` may choose among the store's purposes. */
  allowMsgPurpose?: boolean;
  /** The node's language setting: 'auto', 'en' or 'de'. */
  language?: string;
  /**
   * The country of numbers typed without country code ("0151 23456789" with DE); none: the number must carry it.
   * The confirmation goes to the number as read, and only its owner can confirm it.
   */
  defaultCountry?: string;
  /**
   * Whether the request's wording may be any text (a node saved before the check existed). Otherwise it must be
   * one of the purpose's wordings: anyone can post to a public form, and the confirmation quotes the wording.
   */
  acceptAnyWording?: boolean;
}

/** Same text as people read it: Unicode-normalised, runs of white space as one space. */
function comparableWording(text: string): string {
  return text.normalize('NFC').replace(/\s+/g, ' ').trim();
}

/**
 * The purpose's own wording (in any of its languages) that the request's wording shows, or undefined. The stored
 * proof then holds the business's text exactly, not a copy a form or a stranger sent along.
 */
export function configuredWording(purpose: PurposeDefinition, wording: string): string | undefined {
  const given = comparableWording(wording);
  return Object.values(purpose.wording).find((text) => typeof text === 'string' && comparableWording(text) === given);
}

/**
 * The language to ask in: the one the form showed its wording in, when that is one of the purpose's wordings in a
 * language the package writes. The confirmation quotes the wording and the proof stores it with its language (Art.
 * 7(1) GDPR): an English wording on a form filled in with a German number is confirmed in English, not in German
 * around an English quote. Otherwise (a wording in both or in neither language) the form, node or number decides.
 */
function languageOfWording(purpose: PurposeDefinition, wording: string, chosen: Language): Language {
  const given = comparableWording(wording);
  const shownIn = Object.entries(purpose.wording)
    .filter(([, text]) => typeof text === 'string' && comparableWording(text) === given)
    .map(([tag]) => tag.split('-')[0])
    .filter((tag): tag is Language => tag === 'en' || tag === 'de');
  return shownIn.length === 0 || shownIn.includes(chosen) ? chosen : shownIn[0];
}

/**
 * Art. 4(11) and recital 32: consent is a clear affirmative act. Only what a browser sends for a box the
 * person ticked (`"on"`), or an explicit `true` from a form handler, counts; "1", "yes" or a default do not.
 */
export function isExplicitlyTicked(value: unknown): boolean {
  return value === true || value === 'on' || value === 'true';
}

/** Planet49 (CJEU C-673/17): a pre-ticked box is no consent. Anything but a clear "not pre-ticked" rejects. */
function saysPrechecked(value: unknown): boolean {
  return !(
    value === undefined ||
    value === null ||
    value === false ||
    value === 0 ||
    value === '' ||
    value === 'false' ||
    value === 'off' ||
    value === '0'
  );
}

function reject(reason: OptInRejectReason, message: string): FormValidation {
  return { ok: false, reason, message };
}

function parseSubmittedAt(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.length > 0 && value.length < 40) {
    const at = Date.parse(value);
    return Number.isNaN(at) ? undefined : at;
  }
  return undefined;
}

/** Checks a consent request from a web form (input A of opt-in-flow). Nothing here touches the store. */
export function validateFormRequest(payload: unknown, options: FormValidationOptions): FormValidation {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return reject('invalid-request', 'The consent request must be an object with phone, consent and wording');
  }
  const form = payload as Record<string, unknown>;
  if (saysPrechecked(form.prechecked)) {
    return reject('prechecked', 'The form says the consent box was pre-ticked; that is no consent');
  }
  if (!isExplicitlyTicked(form.consent)) {
    return reject('consent-not-ticked', 'The consent box was not ticked by the person');
  }
  const wording = typeof form.wording === 'string' ? form.wording.trim() : '';
  if (wording.length === 0 || wording.length > MAX_REQUEST_WORDING_LENGTH) {
    return reject('missing-wording', 'The exact consent wording shown on the form is missing or too long');
  }
  const purposeId =
    options.allowMsgPurpose && typeof form.purpose === 'string' && form.purpose.length > 0
      ? form.purpose
      : options.purpose;
  if (!purposeId) return reject('missing-purpose', 'No purpose: set one in the node or in the request');
  const purpose = findPurpose(options.purposes, purposeId);
  if (!purpose) return reject('unknown-purpose', 'The purpose is not configured in the consent store');
  const acceptedWording = options.acceptAnyWording ? wording : configuredWording(purpose, wording);
  if (acceptedWording === undefined) {
    return reject('unknown-wording', "The wording is not one of the purpose's wordings in the consent store");
  }
  let phone: string;
  try {
    phone = normalisePhoneNumber(form.phone, options.defaultCountry);
  } catch (err) {
    // Digits that read as two people's numbers: the form asks for "+" or "00" rather than guess whom to write to.
    if (err instanceof GdprWhatsAppError && err.code === 'ambiguous-phone') {
      return reject(
        'ambiguous-phone',
        'The number reads as two different numbers; it needs + or 00 and its country code',
      );
    }
    return reject('invalid-phone', 'The phone number is not a valid international number');
  }
  const source =
    typeof form.source === 'string' && form.source.length > 0 ? form.source.slice(0, MAX_SOURCE_LENGTH) : undefined;
  return {
    ok: true,
    request: {
      phone,
      purpose,
      wording: acceptedWording,
      source,
      language: options.acceptAnyWording
        ? chooseLanguage(form.language, options.language, phone)
        : languageOfWording(purpose, acceptedWording, chooseLanguage(form.language, options.language, phone)),
      submittedAt: parseSubmittedAt(form.submittedAt),
    },
  };
}

/**
 * Art. 17 suppression: after an erasure nobody may be signed up again on old data (a replayed or queued
 * submission). Only a request the person made now, i.e. not submitted longer ago than `maxAgeMs`, may
 * sign a suppressed subject up again; it is explicit by the time it gets here (validateFormRequest).
 */
export function mayResubscribeAfterErasure(request: ConsentFormRequest, now: number, maxAgeMs: number): boolean {
  return (
    request.submittedAt === undefined || (request.submittedAt <= now + 60_000 && now - request.submittedAt <= maxAgeMs)
  );
}

/** The reply button id carries the purpose, so a tap confirms exactly the request it was sent for. */
export { CONFIRM_BUTTON_PREFIX };

export function confirmButtonId(purposeId: string): string {
  return CONFIRM_BUTTON_PREFIX + purposeId;
}

/**
 * `match`: the button payload or configured keyword the reply matched, kept as proof of how she answered (never her
 * message text, which is `text`).
 */
export type ReplyIntent =
  | { kind: 'confirm'; via: 'button' | 'keyword'; match: string; purpose?: string; text: string }
  | { kind: 'refuse'; via: 'button' | 'keyword'; match: string; text: string }
  | { kind: 'start'; keyword: string; text: string };

export interface ReplyKeywords {
  confirm: readonly string[];
  start: readonly string[];
  /** A typed no to a pending request (DEFAULT_REFUSE_KEYWORDS); none: a no is no opt-in reply. */
  refuse?: readonly string[];
}

/**
 * What an inbound message means for opt-in (input B): a confirmation (our reply button, a template quick-reply
 * whose payload or text is a confirm keyword, or a typed confirm keyword), a start keyword, or nothing. A "YES"
 * written in a group is said to the group, not to the business: it is nothing. A forwarded "YES" is someone else's
 * words passed on, not the person's own answer to the request (Art. 4(11) GDPR): nothing either.
 */
export function recogniseReply(inbound: Partial<InboundMessage>, keywords: ReplyKeywords): ReplyIntent | undefined {
  if (inbound.groupId !== undefined) return undefined;
  if (inbound.context?.forwarded === true || inbound.context?.frequentlyForwarded === true) return undefined;
  const buttonIds = [inbound.interactive?.id, inbound.button?.payload].filter(
    (v): v is string => typeof v === 'string',
  );
  const ours = buttonIds.find((id) => id.startsWith(CONFIRM_BUTTON_PREFIX));
  if (ours) {
    const title = inbound.interactive?.title ?? inbound.button?.text ?? ours;
    return {
      kind: 'confirm',
      via: 'button',
      match: ours,
      purpose: ours.slice(CONFIRM_BUTTON_PREFIX.length),
      text: title,
    };
  }
  // A template quick-reply without a payload parameter comes back with the button text as payload. One with a
  // payload of its own belongs to another template (a delivery notice's "OK"): it confirms nothing.
  if (inbound.button) {
    const { payload, text } = inbound.button;
    if (payload !== undefined && text !== undefined && payload !== text) return undefined;
    // A template's "Nein" beside its "Ja": the same refusal as a typed one, and it quotes the template it was on.
    const no = [payload, text].find((t) => matchKeyword(t, keywords.refuse ?? [], { exactAccents: true }));
    if (no) return { kind: 'refuse', via: 'button', match: no, text: no };
    const said = [payload, text].find((t) => matchKeyword(t, keywords.confirm, { exactAccents: true }));
    if (said) return { kind: 'confirm', via: 'button', match: said, text: said };
    return undefined;
  }
  if (inbound.type !== 'text' || typeof inbound.text !== 'string') return undefined;
  // "Ja?" asks what this is; consent is an unambiguous yes (Art. 4(11) GDPR), and a question signs nobody up,
  // whatever follows the question mark ("Ja?!", "Ja? 🙂") and in whichever width or script it is typed ("Ja？",
  // "Ναι;"). Nor does a struck-out "~ja~", which takes the yes back, nor a yes beside a no-sign ("Ja ❌", "JA 👎").
  if (isQuestion(inbound.text) || isStruckThrough(inbound.text)) return undefined;
  const no = matchKeyword(inbound.text, keywords.refuse ?? []);
  if (no) return { kind: 'refuse', via: 'keyword', match: no, text: inbound.text };
  if (carriesNoSign(inbound.text)) return undefined;
  const yes = matchKeyword(inbound.text, keywords.confirm, { exactAccents: true });
  if (yes) return { kind: 'confirm', via: 'keyword', match: yes, text: inbound.text };
  const start = matchKeyword(inbound.text, keywords.start, { exactAccents: true });
  if (start) return { kind: 'start', keyword: start, text: inbound.text };
  return undefined;
}

/**
 * The purposes of the requests a confirmation that names no purpose (a typed "JA") answers, the rule the ledger's
 * confirmConsent follows when it is left to pick: the request whose message it quotes (`quotedMessageId`, Meta's
 * context.id), when it quotes one on record; else the pending requests sent last before the reply (sent at `sentAt`,
 * when known). Empty when none is pending; more than one when they were sent in the same millisecond (each of them
 * may take it). A reply quoting another message than the one named here confirms nothing: the ledger refuses it.
 * A request sent from another business number than the reply came to (`answeredTo`) is not answered by it.
 */
export function answeredPurposes(
  records: readonly (ConsentRecord | undefined)[],
  now: number,
  sentAt?: number,
  quotedMessageId?: string,
  answeredTo?: string,
): string[] {
  const known = records.filter(
    (record): record is ConsentRecord =>
      record !== undefined && !sentFromOtherNumber(record.requestPhoneNumberId, answeredTo),
  );
  const quoted = quotedRequest(known, quotedMessageId, (record) => record.requestMessageId);
  if (quoted) return [quoted.purpose];
  const live = known.filter((record) =>
    isLivePending({ status: record.status, expiresAt: record.expiresAt ?? null }, now),
  );
  const before = sentAt === undefined ? [] : live.filter((record) => !requestedAfterReply(record.requestedAt, sentAt));
  const answerable = before.length > 0 ? before : live;
  const lastAt = Math.max(...answerable.map((record) => record.requestedAt ?? 0));
  return answerable.filter((record) => (record.requestedAt ?? 0) === lastAt).map((record) => record.purpose);
}

/**
 * The pending request a typed no answers, by the rules a typed yes follows (answeredPurposes, and the ledger's
 * confirmConsent): the one whose message it quotes, else the one sent last before it was written; none when it quotes
 * another message, or was written before every pending request (a late "Nein" to something else), or came to another
 * business number than the request went from (`answeredTo`).
 */
export function refusedRequest(
  records: readonly (ConsentRecord | undefined)[],
  now: number,
  sentAt?: number,
  quotedMessageId?: string,
  answeredTo?: string,
): ConsentRecord | undefined {
  const live = records.filter(
    (record): record is ConsentRecord =>
      record !== undefined &&
      !sentFromOtherNumber(record.requestPhoneNumberId, answeredTo) &&
      isLivePending({ status: record.status, expiresAt: record.expiresAt ?? null }, now),
  );
  const quoted = quotedRequest(live, quotedMessageId, (record) => record.requestMessageId);
  if (quoted) return quoted;
  const answerable = live.filter(
    (record) =>
      mayAnswerRequest(record.requestMessageId, quotedMessageId) &&
      (sentAt === undefined || !requestedAfterReply(record.requestedAt, sentAt)),
  );
  return answerable.reduce<ConsentRecord | undefined>(
    (last, record) => (last === undefined || (record.requestedAt ?? 0) > (last.requestedAt ?? 0) ? record : last),
    undefined,
  );
}

export type OptInText =
  | 'confirmation'
  | 'confirmed'
  | 'expired'
  | 'subscribed'
  | 'already'
  | 'refused'
  | 'unclear'
  | 'pending';

/** Default texts; placeholders {label} (purpose label) and {wording} (the consent wording). */
export const DEFAULT_OPT_IN_TEXTS: Record<OptInText, Record<Language, string>> = {
  confirmation: {
    en: 'You asked to hear from us on WhatsApp: "{wording}"\nPlease confirm: tap YES. Reply STOP at any time to unsubscribe.',
    de: 'Sie möchten von uns über WhatsApp Nachrichten erhalten: „{wording}“\nBitte bestätigen Sie: Tippen Sie auf JA. Antworten Sie jederzeit mit STOP, um sich abzumelden.',
  },
  confirmed: {
    en: 'Thank you, your consent is confirmed: {label}. Reply STOP at any time to unsubscribe.',
    de: 'Vielen Dank, Ihre Einwilligung ist bestätigt: {label}. Antworten Sie jederzeit mit STOP, um sich abzumelden.',
  },
  expired: {
    en: 'Sorry, your sign-up request has expired. Please sign up again.',
    de: 'Ihre Anmeldeanfrage ist leider abgelaufen. Bitte melden Sie sich erneut an.',
  },
  subscribed: {
    en: 'You are now signed up: "{wording}"\nReply STOP at any time to unsubscribe.',
    de: 'Sie sind jetzt angemeldet: „{wording}“\nAntworten Sie jederzeit mit STOP, um sich abzumelden.',
  },
  already: {
    // A start keyword, or a tap on the request's button, from someone whose consent stands already: nothing changed.
    en: 'You are already signed up: {label}. Reply STOP at any time to unsubscribe.',
    de: 'Sie sind bereits angemeldet: {label}. Antworten Sie jederzeit mit STOP, um sich abzumelden.',
  },
  refused: {
    // The label after a colon, as in 'confirmed': labels come without an article ("für den Rundbrief").
    en: 'Understood, you are not signed up: {label}.',
    de: 'Verstanden, Sie sind nicht angemeldet: {label}.',
  },
  unclear: {
    // A YES typed after she wrote something else since the request: it may answer another question (confirmConsent).
    // msg.optIn.message for the flow to send; neutral, for she may have meant no sign-up at all.
    en: 'Your yes has not signed you up: {label}. You wrote to us after our request, so it may answer something else. If you would like to sign up, tap YES in our request or reply to the request itself.',
    de: 'Ihr Ja hat Sie nicht angemeldet: {label}. Sie haben uns nach unserer Anfrage noch etwas geschrieben, daher kann es etwas anderes beantworten. Falls Sie sich anmelden möchten, tippen Sie in unserer Anfrage auf JA oder antworten Sie direkt auf die Anfrage.',
  },
  pending: {
    // A start keyword again while her request is fresh, or a yes typed before she can have read it: the request she has
    // is the way in.
    // No "already": a yes typed too soon comes seconds after the request, not after one sent long ago. The label after
    // a colon, as in 'refused'.
    en: 'We have sent you a sign-up request. Please tap YES in it to sign up: {label}.',
    de: 'Wir haben Ihnen eine Anmeldeanfrage geschickt. Bitte tippen Sie darin auf JA, um sich anzumelden: {label}.',
  },
};

export const CONFIRM_BUTTON_TITLES: Record<Language, string> = { en: 'YES', de: 'JA' };

/** Cloud API limits for interactive reply buttons. */
const MAX_BODY_TEXT = 1024;
const MAX_BUTTON_TITLE = 20;

export interface TextContext {
  label: string;
  wording: string;
}

/** The text for `language`: the integrator's own when set, else the default; placeholders filled. */
export function optInText(
  kind: OptInText,
  language: Language,
  context: TextContext,
  custom: Partial<Record<string, string>> = {},
  limit = 4096,
): string {
  const template = textFor(custom, language) ?? DEFAULT_OPT_IN_TEXTS[kind][language];
  const withLabel = template.replace(/\{label\}/g, () => context.label);
  const room = limit - (withLabel.length - (withLabel.match(/\{wording\}/g)?.length ?? 0) * '{wording}'.length);
  // The stored wording stays exact; only the copy quoted in the message is shortened to fit Meta's limit.
  const wording =
    context.wording.length <= room ? context.wording : `${context.wording.slice(0, Math.max(0, room - 1))}…`;
  return withLabel.replace(/\{wording\}/g, () => wording).slice(0, limit);
}

export interface TemplateSettings {
  name: string;
  /** A Meta language code ('en_US', 'de') or 'auto' for the person's language. */
  language: string;
  /** Body parameters in order; placeholders {label} and {wording}. */
  parameters: readonly string[];
  /** Whether the template's first button is a quick reply that should carry the confirm payload. */
  confirmButton: boolean;
}

export const TEMPLATE_NAME_PATTERN = /^[a-z0-9_]{1,512}$/;

export interface ConfirmationInput {
  language: Language;
  purpose: PurposeDefinition;
  wording: string;
  /** 'interactive' works inside the 24-hour window only; a template reaches anybody. */
  mode: 'interactive' | 'template';
  template?: TemplateSettings;
  texts?: Partial<Record<string, string>>;
}

/** The Cloud API body (msg.payload of whatsapp-send) asking the person to confirm. */
export function buildConfirmationMessage(input: ConfirmationInput): Record<string, unknown> {
  const context = { label: purposeLabel(input.purpose, input.language), wording: input.wording };
  if (input.mode === 'template') {
    const template = input.template;
    if (!template || !TEMPLATE_NAME_PATTERN.test(template.name)) {
      throw new GdprWhatsAppError('invalid-template-name', 'The confirmation template name is missing or invalid');
    }
    const code = template.language === 'auto' || !template.language ? input.language : template.language;
    // The label stands in the template's text: in the template's language (en_US -> en).
    const label = purposeLabel(input.purpose, code.slice(0, 2).toLowerCase());
    const components: Record<string, unknown>[] = [];
    if (template.parameters.length > 0) {
      components.push({
        type: 'body',
        parameters: template.parameters.map((p) => ({
          type: 'text',
          text: p.replace(/\{label\}/g, () => label).replace(/\{wording\}/g, () => context.wording),
        })),
      });
    }
    if (template.confirmButton) {
      components.push({
        type: 'button',
        sub_type: 'quick_reply',
        index: '0',
        parameters: [{ type: 'payload', payload: confirmButtonId(input.purpose.id) }],
      });
    }
    return {
      type: 'template',
      template: { name: template.name, language: { code }, ...(components.length > 0 ? { components } : {}) },
    };
  }
  return {
    type: 'interactive',
    interactive: {
      type: 'button',
      body: { text: optInText('confirmation', input.language, context, input.texts, MAX_BODY_TEXT) },
      action: {
        buttons: [
          {
            type: 'reply',
            reply: {
              id: confirmButtonId(input.purpose.id),
              title: CONFIRM_BUTTON_TITLES[input.language].slice(0, MAX_BUTTON_TITLE),
            },
          },
        ],
      },
    },
  };
}

/** The purpose wording in the person's language, for a single-step sign-up where no form showed one. */
export function purposeWording(purpose: PurposeDefinition, language: Language): string {
  const wording = textFor(purpose.wording, language);
  if (!wording) throw new GdprWhatsAppError('missing-wording', 'The purpose has no wording');
  return wording;
}
