/**
 * What the stop-handler decides: which inbound messages and Meta signals are an opt-out, which
 * purposes a withdrawal covers, and the answer the person gets. The node only moves messages.
 */
import { isBusinessScopedUserId } from '../business-scoped-user-id';
import type { NumberChangeInput, WithdrawConsentInput } from '../consent/inputs';
import { optionalRequestedBy } from '../consent/validate';
import { GdprWhatsAppError } from '../errors';
import { namedNumberChecks } from '../phone';
import { metaTimeMs } from '../webhook/meta-time';
import type { AccountEvent, InboundMessage, MessageStatus } from '../webhook/types';
import { checkedSubject } from './dsr';
import { OPT_OUT_WORDS } from './footer';
import {
  DEFAULT_HELP_KEYWORDS,
  DEFAULT_START_KEYWORDS,
  DEFAULT_STOP_KEYWORDS,
  keywordsFor,
  matchKeyword,
  normaliseKeywordText,
  optOutHint,
  parseKeywordList,
} from './keywords';
import { type Language, textFor } from './language';
import { type AlsoAsks, besideDataRequest, readObjection } from './marketing-objection';
import { type PurposeDefinition, purposeLabel } from './purposes';

/**
 * Issue 4's default confirmation of an opt-out. It names the way back when the flows have one she can take in this
 * chat (a sign-up keyword), else it says only that she can: "contact us" would send her to a letter or a phone call.
 */
export const DEFAULT_STOP_CONFIRMATION_TEXTS: Readonly<Record<Language, string>> = {
  en: 'You have been unsubscribed. You can sign up again at any time.',
  de: 'Sie wurden abgemeldet. Sie können sich jederzeit wieder anmelden.',
};

/** The same with the keyword that signs her up again. */
export const STOP_CONFIRMATION_WITH_KEYWORD: Readonly<Record<Language, (keyword: string) => string>> = {
  en: (keyword) => `You have been unsubscribed. To sign up again, reply ${keyword}.`,
  de: (keyword) => `Sie wurden abgemeldet. Um sich wieder anzumelden, antworten Sie mit ${keyword}.`,
};

/**
 * What a STOP ended, for the wording of its default confirmation: "sign up again" only to someone who had signed up.
 * - consent: consents she had given or asked for (the default);
 * - no-consent: only objections to purposes that need no consent (order updates): she never signed up;
 * - nothing: she had opted out before, never signed up, or was erased; `purposes` names a node's purpose list.
 */
export type StopEnded = { kind: 'consent' } | { kind: 'no-consent' } | { kind: 'nothing'; purposes?: string };

/**
 * The default answer to a STOP that ended nothing: she had opted out before, or never signed up, and "To sign up
 * again" would tell the second of something she never did. `purposes`: the labels of a node that ends only some.
 */
export const NOTHING_TO_END_TEXTS: Readonly<Record<Language, (purposes?: string) => string>> = {
  en: (purposes) =>
    purposes ? `You are not signed up: ${purposes}.` : 'You are not signed up for any messages from us.',
  de: (purposes) =>
    purposes ? `Sie sind nicht angemeldet: ${purposes}.` : 'Sie sind bei uns für keine Nachrichten angemeldet.',
};

/** What follows NOTHING_TO_END_TEXTS, or "unsubscribed" for someone who never signed up: the way in, without "again". */
export const SIGN_UP_HINT: Readonly<Record<Language, (keyword?: string) => string>> = {
  en: (keyword) => (keyword ? `To sign up, reply ${keyword}.` : 'You can sign up at any time.'),
  de: (keyword) =>
    keyword ? `Um sich anzumelden, antworten Sie mit ${keyword}.` : 'Sie können sich jederzeit anmelden.',
};

/** The first sentence of DEFAULT_STOP_CONFIRMATION_TEXTS, for someone who never signed up. */
const UNSUBSCRIBED: Readonly<Record<Language, string>> = {
  en: 'You have been unsubscribed.',
  de: 'Sie wurden abgemeldet.',
};

/**
 * The answer to an objection to advertising in other words ("Bitte keine Werbung mehr"): what ended, by the purposes'
 * names. The STOP sentence is added when a STOP would end more (the node's other purposes).
 */
export const OBJECTION_CONFIRMATION_TEXTS: Readonly<Record<Language, (purposes: string) => string>> = {
  en: (purposes) => `Understood: you will receive no more advertising from us (${purposes}).`,
  de: (purposes) => `Verstanden: Sie erhalten keine Werbung mehr von uns (${purposes}).`,
};

/**
 * The answer to a withdrawal of her consent in her own words, naming the purposes that need consent (given or not:
 * none of them will reach her), true also when she had withdrawn before.
 */
export const CONSENT_WITHDRAWN_TEXTS: Readonly<Record<Language, (purposes: string) => string>> = {
  en: (purposes) =>
    `We have received your withdrawal: you will receive no more messages from us that need your consent (${purposes}).`,
  de: (purposes) =>
    `Wir haben Ihren Widerruf erhalten: Sie erhalten von uns keine Nachrichten mehr, für die wir Ihre Einwilligung benötigen (${purposes}).`,
};

export const OBJECTION_STOP_ENDS_MORE: Readonly<Record<Language, string>> = {
  en: 'To stop our other messages as well, reply STOP.',
  de: 'Wenn Sie auch unsere übrigen Nachrichten nicht mehr erhalten möchten, antworten Sie mit STOP.',
};

/** The HELP answer must say how to opt out (issue 4). */
export const DEFAULT_HELP_TEXTS: Readonly<Record<Language, string>> = {
  en: 'Reply STOP at any time to unsubscribe from our WhatsApp messages. For questions about your data, reply to this chat.',
  de: 'Antworten Sie jederzeit mit STOP, um sich von unseren WhatsApp-Nachrichten abzumelden. Bei Fragen zu Ihren Daten schreiben Sie uns einfach in diesem Chat.',
};

/** Button payload (template quick reply) or reply id that means "opt out" unless the node says otherwise. */
export const DEFAULT_OPT_OUT_PAYLOADS: readonly string[] = ['STOP'];

/**
 * Cloud API error 131050: "this recipient has chosen to stop receiving marketing messages on
 * WhatsApp from your business". Meta refuses the message; we must also stop asking.
 */
export const META_MARKETING_OPT_OUT_ERROR = 131050;

export interface StopRules {
  stopKeywords: readonly string[];
  /** The stop keywords a reply button's label may say: all but SUBJECT_WORDS_ON_BUTTONS. */
  buttonStopKeywords: readonly string[];
  helpKeywords: readonly string[];
  optOutPayloads: readonly string[];
  /** Whether an objection to advertising in other words ("Bitte keine Werbung mehr") withdraws the marketing purposes. */
  marketingObjections: boolean;
}

/**
 * Opt-out keywords that on a business's own reply button more likely name what the message is about than the
 * messages: "Cancel" under an appointment reminder, "Kündigen" under a contract's. Typed, they opt out; a button so
 * labelled opts out only by its payload or reply id (the node's opt-out payloads).
 */
const SUBJECT_WORDS_ON_BUTTONS: ReadonlySet<string> = new Set(
  ['CANCEL', 'END', 'QUIT', 'REVOKE', 'KÜNDIGEN', 'BEENDEN', 'ENDE'].map(normaliseKeywordText),
);

/** Node settings as typed in the edit dialog: comma- or newline-separated lists, empty = defaults. */
export interface StopRuleSettings {
  keywords?: string;
  helpKeywords?: string;
  optOutPayload?: string;
  marketingObjections?: boolean;
}

export function stopRulesFrom(settings: StopRuleSettings): StopRules {
  const payloads = String(settings.optOutPayload ?? '')
    .split(/[,\n]/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  // The words a message may name instead of the opt-out footer (footer.ts), STOP first, the one every footer, HELP
  // answer, notice and opt-in text promises: opt-outs whatever the list, or the promise is not kept (Art. 7(3)).
  const stopKeywords = [...new Set([...OPT_OUT_WORDS, ...parseKeywordList(settings.keywords, DEFAULT_STOP_KEYWORDS)])];
  return {
    stopKeywords,
    buttonStopKeywords: stopKeywords.filter((keyword) => !SUBJECT_WORDS_ON_BUTTONS.has(keyword)),
    helpKeywords: parseKeywordList(settings.helpKeywords, DEFAULT_HELP_KEYWORDS),
    optOutPayloads: payloads.length > 0 ? [...new Set(payloads)] : DEFAULT_OPT_OUT_PAYLOADS,
    marketingObjections: settings.marketingObjections === true,
  };
}

export interface SubjectRef {
  phone?: string;
  userId?: string;
}

export type WithdrawalChannel =
  | 'whatsapp-keyword'
  | 'whatsapp-button'
  | 'whatsapp-text'
  | 'meta-marketing-optout'
  | 'whatsapp-number-change';

export type StopSignal =
  /** The person asked to stop by keyword or button. */
  | {
      kind: 'stop';
      channel: 'whatsapp-keyword' | 'whatsapp-button';
      subject: SubjectRef;
      keyword?: string;
      messageId?: string;
      /** When the person sent it (Meta's time, Unix milliseconds). */
      sentAt?: number;
      /** The message also asks to erase or to see her data ("STOP and delete my data"): it goes on for that. */
      alsoAsks?: AlsoAsks;
    }
  | { kind: 'help'; subject: SubjectRef; keyword: string; messageId?: string }
  /** Meta says the person turned marketing off: a user_preferences event or a 131050 failure. */
  | { kind: 'marketing-opt-out'; source: 'user_preferences' | 'status-131050'; subject: SubjectRef; sentAt?: number }
  /**
   * A message that is no opt-out keyword but may say one ("Unsubscribe me", "Bitte keine Werbung mehr"): nothing is
   * withdrawn, a person must read it. `hint` is the word or phrase found.
   */
  | { kind: 'possible-opt-out'; hint: string }
  /**
   * A typed message that objects to advertising in other words ("Bitte keine Werbung mehr", "Unsubscribe me"), when
   * the node's rules take them (StopRules.marketingObjections): the marketing purposes are withdrawn. `phrase` is the
   * sentence read as the objection, normalised (marketing-objection.ts); `hint` what optOutHint finds in it, for a
   * node that leaves it to a person after all.
   */
  | {
      kind: 'marketing-objection';
      subject: SubjectRef;
      phrase: string;
      /** What it ends: advertising, or every consent she gave (a withdrawal of her consent; objectionReach). */
      reach: 'advertising' | 'every-consent';
      hint: string;
      messageId?: string;
      sentAt?: number;
      alsoAsks?: AlsoAsks;
    }
  /** Meta says the person turned marketing back on. This is not consent (Art. 7(1): we must prove consent). */
  | { kind: 'marketing-resume'; subject: SubjectRef }
  /**
   * Meta says the person moved to another WhatsApp number (a `system` message from the old one). The old number
   * may be given to someone else, who agreed to nothing: what is on record for it ends.
   */
  | {
      kind: 'number-changed';
      subject: SubjectRef & { phone: string };
      newWaId?: string;
      /** The person's business-scoped user id before and after: a number change regenerates it. */
      previousUserId?: string;
      newUserId?: string;
      messageId: string;
    }
  /** Meta gave the person a new business-scoped user id: what was kept under the previous one is theirs. */
  | { kind: 'user-id-changed'; previousUserId: string; userId: string; messageId: string }
  | { kind: 'none' };

/**
 * Reads `msg.whatsapp` as the webhook node emits it: an InboundMessage (output 1), a MessageStatus
 * (output 2) or an AccountEvent (output 3), and says whether it is an opt-out, a HELP request or a
 * marketing preference signal. Anything else is 'none'.
 */
export function recogniseStopSignal(whatsapp: unknown, rules: StopRules): StopSignal {
  if (!whatsapp || typeof whatsapp !== 'object') return { kind: 'none' };
  const w = whatsapp as Record<string, unknown>;
  if (typeof w.field === 'string') return recogniseAccountEvent(w as unknown as AccountEvent);
  if (typeof w.status === 'string' && typeof w.messageId === 'string') {
    return recogniseStatus(w as unknown as MessageStatus);
  }
  if (typeof w.messageId === 'string' && typeof w.type === 'string') {
    return recogniseInbound(w as unknown as InboundMessage, rules);
  }
  return { kind: 'none' };
}

/** Meta's name for a number change, and the name older API versions used. */
const NUMBER_CHANGE_TYPES: ReadonlySet<string> = new Set(['user_changed_number', 'customer_changed_number']);

function recogniseInbound(message: InboundMessage, rules: StopRules): StopSignal {
  if (message.type === 'system') return recogniseSystem(message);
  // "Stop" written in a group is said to the group, not to the business (as for opt-in, erasure and the 24-hour
  // window): it withdraws nothing, and no private confirmation or HELP answer goes to the member.
  if (message.groupId !== undefined) return { kind: 'none' };
  const subject = subjectOf(message.from, message.waId, message.userId);
  if (!subject) return { kind: 'none' };
  const messageId = message.messageId;
  const sent = sentAtOf(message.timestamp);
  const replyIds = [message.button?.payload, message.interactive?.id].filter(
    (id): id is string => typeof id === 'string',
  );
  if (replyIds.some((id) => rules.optOutPayloads.includes(id.trim()))) {
    return { kind: 'stop', channel: 'whatsapp-button', subject, messageId, ...sent };
  }
  // A reply button whose label is an opt-out keyword ("STOP") means the same as typing it.
  const buttonLabel = message.button?.text ?? message.interactive?.title;
  const labelKeyword = matchKeyword(buttonLabel, rules.buttonStopKeywords);
  if (labelKeyword) {
    return { kind: 'stop', channel: 'whatsapp-button', subject, keyword: labelKeyword, messageId, ...sent };
  }
  // A button's label, or the caption of a picture or file ("Bitte meldet mich ab").
  if (message.type !== 'text') return possibleOptOut(buttonLabel ?? message.media?.caption);
  const stopKeyword = matchKeyword(message.text, rules.stopKeywords);
  if (stopKeyword) {
    return { kind: 'stop', channel: 'whatsapp-keyword', subject, keyword: stopKeyword, messageId, ...sent };
  }
  const helpKeyword = matchKeyword(message.text, rules.helpKeywords);
  if (helpKeyword) return { kind: 'help', subject, keyword: helpKeyword, messageId };
  const objection = rules.marketingObjections ? readObjection(message.text) : undefined;
  if (objection) {
    const phrase = objection.sentence;
    const hint = optOutHint(message.text) ?? phrase;
    return { kind: 'marketing-objection', subject, phrase, reach: objection.reach, hint, messageId, ...sent };
  }
  return optOutBesideDataRequest(message, rules, subject) ?? possibleOptOut(message.text);
}

/**
 * A STOP or an objection beside a request to erase or see her data ("Keine Werbung mehr und löschen Sie meine
 * Daten"): the opt-out is acted on, and `alsoAsks` sends the message on for the data request (besideDataRequest).
 */
function optOutBesideDataRequest(
  message: InboundMessage,
  rules: StopRules,
  subject: SubjectRef,
): StopSignal | undefined {
  const beside = besideDataRequest(message.text);
  if (!beside) return undefined;
  const { messageId } = message;
  const sent = sentAtOf(message.timestamp);
  const alsoAsks = beside.about;
  const keyword = matchKeyword(beside.rest, rules.stopKeywords);
  if (keyword) return { kind: 'stop', channel: 'whatsapp-keyword', subject, keyword, messageId, ...sent, alsoAsks };
  const objection = rules.marketingObjections ? readObjection(beside.rest) : undefined;
  if (!objection) return undefined;
  const { sentence: phrase, reach } = objection;
  const hint = optOutHint(message.text) ?? phrase;
  return { kind: 'marketing-objection', subject, phrase, reach, hint, messageId, ...sent, alsoAsks };
}

function possibleOptOut(text: unknown): StopSignal {
  const hint = typeof text === 'string' ? optOutHint(text) : undefined;
  return hint ? { kind: 'possible-opt-out', hint } : { kind: 'none' };
}

/**
 * Only what `system` names is certain: whether the message's own user id is the old or the new one, Meta does not
 * say. For a number change the old number is the message's `from`.
 */
function recogniseSystem(message: InboundMessage): StopSignal {
  const type = message.system?.type;
  if (type === 'user_changed_user_id') {
    const { previousUserId, userId } = message.system ?? {};
    const valid = isBusinessScopedUserId(previousUserId) && isBusinessScopedUserId(userId) && previousUserId !== userId;
    return valid ? { kind: 'user-id-changed', previousUserId, userId, messageId: message.messageId } : { kind: 'none' };
  }
  if (typeof type !== 'string' || !NUMBER_CHANGE_TYPES.has(type) || !message.from) return { kind: 'none' };
  const { waId, previousUserId, userId } = message.system ?? {};
  return {
    kind: 'number-changed',
    subject: { phone: message.from },
    ...(waId ? { newWaId: waId } : {}),
    // An id that is not one is left out: it must not stop the move.
    ...(isBusinessScopedUserId(previousUserId) ? { previousUserId } : {}),
    ...(isBusinessScopedUserId(userId) && userId !== previousUserId ? { newUserId: userId } : {}),
    messageId: message.messageId,
  };
}

function recogniseStatus(status: MessageStatus): StopSignal {
  if (status.status !== 'failed') return { kind: 'none' };
  // msg.whatsapp may come from any node, not only from whatsapp-webhook: errors is not always a list of objects.
  const errors: unknown = status.errors;
  const optedOut =
    Array.isArray(errors) &&
    errors.some((e) => (e as { code?: unknown } | null)?.code === META_MARKETING_OPT_OUT_ERROR);
  if (!optedOut) return { kind: 'none' };
  const subject = subjectOf(status.recipient, status.recipientId, status.userId);
  if (!subject) return { kind: 'none' };
  // When the send failed: the person had turned marketing off by then, at a time Meta does not say.
  return { kind: 'marketing-opt-out', source: 'status-131050', subject, ...sentAtOf(status.timestamp) };
}

function recogniseAccountEvent(event: AccountEvent): StopSignal {
  if (event.field !== 'user_preferences') return { kind: 'none' };
  if (event.category !== undefined && event.category !== 'marketing_messages') return { kind: 'none' };
  const subject = subjectOf(event.from, event.waId, event.userId);
  if (!subject) return { kind: 'none' };
  // Only Meta's strings count: String() of an arbitrary object from a flow can throw.
  const value = typeof event.value === 'string' ? event.value.toLowerCase() : '';
  if (value === 'stop') {
    return { kind: 'marketing-opt-out', source: 'user_preferences', subject, ...sentAtOf(event.timestamp) };
  }
  if (value === 'resume') return { kind: 'marketing-resume', subject };
  return { kind: 'none' };
}

function sentAtOf(timestamp: unknown): { sentAt?: number } {
  const sentAt = metaTimeMs(timestamp);
  return sentAt === undefined ? {} : { sentAt };
}

/** E.164 from the webhook, else the wa_id (digits, normalised by the ledger), plus the business-scoped id. */
/** Text, or nothing: a message put together by a flow may carry anything in these fields. */
function textOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function subjectOf(from?: unknown, waId?: unknown, userId?: unknown): SubjectRef | undefined {
  const phone = textOf(from) ?? textOf(waId);
  const id = textOf(userId);
  if (!phone && !id) return undefined;
  const subject: SubjectRef = {};
  if (phone) subject.phone = phone;
  if (id) subject.userId = id;
  return subject;
}

/** The part of the consent ledger a withdrawal needs (lib/consent/ledger.ts ConsentLedger satisfies it). */
export interface WithdrawalLedger {
  /** Withdraws, unless the subject was erased earlier: then nothing is written and the answer is 'erased'. */
  withdrawUnlessErased(input: WithdrawConsentInput): Promise<readonly unknown[] | 'erased'>;
  /** Ends what is on record for a number its owner left (ConsentLedger.numberChanged). */
  numberChanged(input: NumberChangeInput): Promise<readonly unknown[] | 'erased'>;
  /** Meta reported the number's move after `sentAt` (ConsentLedger.sentBeforeNumberChange). */
  sentBeforeNumberChange(subject: SubjectRef, sentAt: number): Promise<boolean>;
}

export interface WithdrawalScope {
  /** Purposes a STOP withdraws; undefined or empty = every purpose. */
  purposes?: readonly string[];
  /** Purposes marked `marketing` in the store: what Meta's marketing opt-out withdraws. */
  marketingPurposes: readonly string[];
  /** Purposes that rest on consent: what a withdrawal of her consent in her own words withdraws, besides marketing. */
  consentPurposes?: readonly string[];
  actor: string;
}

export interface WithdrawalOutcome {
  /** Purposes whose consent changed to withdrawn (empty when there was nothing to withdraw). */
  withdrawn: string[];
  /** The subject was erased (Art. 17) earlier: nothing was written, so no personal data came back. */
  suppressed: boolean;
  /** Why nothing was asked of the ledger although the signal is an opt-out. */
  skipped?: 'no-marketing-purpose';
  /**
   * Sent before the number passed to someone else and delivered after (Meta retries for days): the ledger took it as
   * the previous holder's, and a confirmation to the number would tell its next holder of her.
   */
  sentBeforeNumberChange?: true;
}

/**
 * Withdraws what `signal` asks for and resolves only once the ledger has made it durable, so the
 * confirmation is never sent for a withdrawal that could still be lost (Art. 7(3)).
 */
export async function withdrawForSignal(
  ledger: WithdrawalLedger,
  signal: Extract<StopSignal, { kind: 'stop' | 'marketing-opt-out' | 'marketing-objection' | 'number-changed' }>,
  scope: WithdrawalScope,
): Promise<WithdrawalOutcome> {
  if (signal.kind === 'number-changed') {
    // Every purpose, whatever the node's scope: the number no longer reaches the person who agreed.
    const changed = await ledger.numberChanged({
      phone: signal.subject.phone,
      newPhone: signal.newWaId,
      previousUserId: signal.previousUserId,
      newUserId: signal.newUserId,
      messageId: signal.messageId,
      actor: scope.actor,
    });
    return outcomeOf(changed);
  }
  if (signal.kind === 'marketing-opt-out' || signal.kind === 'marketing-objection') {
    // Both object to all direct marketing (Art. 21(3) GDPR), not only to the purposes a STOP of this node ends.
    const targets = objectionTargets(signal, scope);
    if (targets.length === 0) {
      return { withdrawn: [], suppressed: false, skipped: 'no-marketing-purpose' };
    }
    const objection = signal.kind === 'marketing-objection';
    const changed = await ledger.withdrawUnlessErased({
      subject: signal.subject,
      purposes: targets,
      // A typed objection has a channel of its own, with the sentence read as its keyword: no keyword was typed.
      ...(objection
        ? {
            channel: 'whatsapp-text',
            keyword: signal.phrase,
            ...(signal.messageId ? { messageId: signal.messageId } : {}),
          }
        : { channel: 'meta-marketing-optout' }),
      sentAt: signal.sentAt,
      actor: scope.actor,
    });
    return objection ? withLateCheck(ledger, signal, outcomeOf(changed)) : outcomeOf(changed);
  }
  const changed = await ledger.withdrawUnlessErased({
    subject: signal.subject,
    ...(scope.purposes && scope.purposes.length > 0 ? { purposes: [...scope.purposes] } : {}),
    channel: signal.channel,
    ...(signal.keyword ? { keyword: signal.keyword } : {}),
    ...(signal.messageId ? { messageId: signal.messageId } : {}),
    sentAt: signal.sentAt,
    actor: scope.actor,
  });
  return withLateCheck(ledger, signal, outcomeOf(changed));
}

/**
 * The purposes an objection ends: the marketing ones, and for a withdrawal of her consent every purpose that rests on
 * consent as well, whatever the node's STOP ends.
 */
export function objectionTargets(
  signal: { kind: string; reach?: 'advertising' | 'every-consent' },
  scope: Pick<WithdrawalScope, 'marketingPurposes' | 'consentPurposes'>,
): string[] {
  const everyConsent = signal.kind === 'marketing-objection' && signal.reach === 'every-consent';
  return [...new Set([...scope.marketingPurposes, ...(everyConsent ? (scope.consentPurposes ?? []) : [])])];
}

async function withLateCheck(
  ledger: WithdrawalLedger,
  signal: { subject: SubjectRef; sentAt?: number },
  outcome: WithdrawalOutcome,
): Promise<WithdrawalOutcome> {
  const late = signal.sentAt !== undefined && (await ledger.sentBeforeNumberChange(signal.subject, signal.sentAt));
  return { ...outcome, ...(late ? { sentBeforeNumberChange: true as const } : {}) };
}

function outcomeOf(changed: readonly unknown[] | 'erased'): WithdrawalOutcome {
  return changed === 'erased'
    ? { withdrawn: [], suppressed: true }
    : { withdrawn: purposesOf(changed), suppressed: false };
}

function purposesOf(records: readonly unknown[]): string[] {
  const purposes = records
    .map((r) => (r && typeof r === 'object' ? (r as { purpose?: unknown }).purpose : undefined))
    .filter((p): p is string => typeof p === 'string');
  return [...new Set(purposes)];
}

/** Purpose ids flagged `marketing` in the store's purpose list. */
export function marketingPurposeIds(purposes: readonly { id: string; marketing?: boolean }[]): string[] {
  return purposes.filter((p) => p.marketing === true).map((p) => p.id);
}

/** Parses the node's purpose list ("newsletter, offers"); empty = all purposes. */
export function parsePurposeList(list: string | readonly string[] | undefined): string[] {
  const items = typeof list === 'string' ? list.split(/[,\n]/) : (list ?? []);
  return [...new Set(items.map((p) => String(p).trim()).filter((p) => p.length > 0))];
}

/** Reads the records a STOP may have ended before (ConsentLedger.getConsent). */
export interface EndedRecordReader {
  getConsent(
    subject: SubjectRef,
    purpose: string,
  ): Promise<{ purpose: string; withdrawalMessageId?: string } | undefined>;
}

/**
 * What her STOP ended, for the confirmation's wording: "sign up again" only to someone who had signed up. Ending
 * nothing, it may be Meta's second delivery of a STOP whose 200 it missed: the withdrawal on record is this very
 * message's (read only then, off the usual path). `purposes`: the store's, for the names of a node's purpose list.
 */
export async function whatStopEnded(
  ledger: EndedRecordReader,
  signal: Extract<StopSignal, { kind: 'stop' }>,
  outcome: WithdrawalOutcome,
  scope: WithdrawalScope,
  purposes: readonly PurposeDefinition[],
  language: Language,
): Promise<StopEnded> {
  const endedConsent = (ids: readonly string[]): StopEnded =>
    ids.some((id) => scope.consentPurposes?.includes(id)) ? { kind: 'consent' } : { kind: 'no-consent' };
  if (outcome.withdrawn.length > 0) return endedConsent(outcome.withdrawn);
  const scoped = purposes.filter((p) => !scope.purposes?.length || scope.purposes.includes(p.id));
  if (signal.messageId !== undefined && !outcome.suppressed) {
    const records = await Promise.all(scoped.map((p) => ledger.getConsent(signal.subject, p.id)));
    const byThisMessage = records.filter((r) => r !== undefined && r.withdrawalMessageId === signal.messageId);
    if (byThisMessage.length > 0) return endedConsent(byThisMessage.map((r) => String(r?.purpose)));
  }
  if (!scope.purposes?.length) return { kind: 'nothing' };
  return { kind: 'nothing', purposes: scoped.map((p) => purposeLabel(p, language)).join(', ') };
}

/**
 * The text the person receives after STOP or HELP, in their language; node texts override the defaults. `signUpKeyword`
 * (a STOP's confirmation only) is the keyword that signs her up again, when the flows have one. `ended` (a STOP's
 * only): what it ended, which words the default (StopEnded).
 */
export function stopReplyText(
  kind: 'stop' | 'help',
  language: Language,
  overrides: Partial<Record<Language, string>> = {},
  signUpKeyword?: string,
  ended: StopEnded = { kind: 'consent' },
): string {
  const configured = Object.fromEntries(
    Object.entries(overrides).filter(([, t]) => typeof t === 'string' && t.trim().length > 0),
  ) as Partial<Record<Language, string>>;
  const own = configured[language]?.trim();
  if (own !== undefined) return own;
  const keyword = signUpKeyword?.trim() || undefined;
  if (kind === 'stop' && ended.kind === 'nothing') {
    return `${NOTHING_TO_END_TEXTS[language](ended.purposes)} ${SIGN_UP_HINT[language](keyword)}`;
  }
  if (kind === 'stop' && ended.kind === 'no-consent')
    return `${UNSUBSCRIBED[language]} ${SIGN_UP_HINT[language](keyword)}`;
  if (kind === 'stop' && keyword) return STOP_CONFIRMATION_WITH_KEYWORD[language](keyword);
  const defaults = kind === 'stop' ? DEFAULT_STOP_CONFIRMATION_TEXTS : DEFAULT_HELP_TEXTS;
  return defaults[language] ?? (textFor(defaults, language) as string);
}

/**
 * The answer to an objection to advertising: the node's own text as it is (not for a withdrawal of every consent),
 * else OBJECTION_CONFIRMATION_TEXTS naming every marketing purpose of the store (given or not: none of them will reach
 * her), or CONSENT_WITHDRAWN_TEXTS naming the purposes a withdrawal of her consent `ended`, and the STOP sentence when
 * a STOP would end more for her (othersToEnd: stillEndedByStop).
 */
export function objectionReplyText(
  language: Language,
  overrides: Partial<Record<Language, unknown>>,
  purposes: readonly Pick<PurposeDefinition, 'id' | 'label' | 'labels' | 'marketing'>[],
  othersToEnd: boolean,
  ended?: readonly string[],
): string {
  // The node's own text answers an objection to advertising; a withdrawal of every consent ends more than such a
  // text may say ("order updates go on"), so it always gets the package's answer, naming what ended.
  const own = ended ? undefined : overrides[language];
  if (typeof own === 'string' && own.trim().length > 0) return own.trim();
  // A withdrawal of her consent names what it ended (`ended`: the marketing purposes and those resting on consent).
  const named = ended ? purposes.filter((p) => ended.includes(p.id)) : purposes.filter((p) => p.marketing === true);
  const labels = named.map((p) => purposeLabel(p, language)).join(', ');
  const said = ended ? CONSENT_WITHDRAWN_TEXTS[language](labels) : OBJECTION_CONFIRMATION_TEXTS[language](labels);
  return othersToEnd ? `${said} ${OBJECTION_STOP_ENDS_MORE[language]}` : said;
}

/**
 * Whether a STOP of the node (`stopEnds`; undefined: every purpose) would still end messages she may receive now,
 * besides what her objection `ended` (by default the marketing purposes): not after her STOP, nor when she has only
 * the newsletter. The gate's own check decides.
 */
export async function stillEndedByStop(
  ledger: { checkConsent(subject: SubjectRef, purpose: string): Promise<{ allowed: boolean }> },
  subject: SubjectRef,
  purposes: readonly Pick<PurposeDefinition, 'id' | 'marketing'>[],
  stopEnds: readonly string[] | undefined,
  ended?: readonly string[],
): Promise<boolean> {
  const endedAlready = (id: string) =>
    ended ? ended.includes(id) : purposes.some((p) => p.id === id && p.marketing === true);
  const others = (stopEnds ?? purposes.map((p) => p.id)).filter((id) => !endedAlready(id));
  for (const purpose of others) {
    if ((await ledger.checkConsent(subject, purpose)).allowed) return true;
  }
  return false;
}

/**
 * The sign-up keyword to name in a STOP confirmation in `language`: the first of the node's own list written in that
 * language (else its first), else the same of the first opt-in-flow's start keywords (as typed; empty: the defaults).
 * Undefined when there is neither.
 */
export function signUpKeywordFor(
  language: Language,
  own: string | undefined,
  optInStartKeywords: readonly (string | undefined)[],
): string | undefined {
  const named = keywordsFor(own, language);
  if (named.length > 0) return named[0];
  if (optInStartKeywords.length === 0) return undefined;
  const started = keywordsFor(optInStartKeywords[0], language);
  return (started.length > 0 ? started : keywordsFor(DEFAULT_START_KEYWORDS, language))[0];
}

/**
 * A withdrawal staff record for a person who withdrew by e-mail, letter or phone (Art. 7(3) GDPR: she may withdraw
 * any way she likes, and it counts at once): `msg.withdraw` `{phone | userId, purposes?}`, `msg.requestedBy`.
 */
export interface StaffWithdrawal {
  subject: SubjectRef;
  /** undefined: every purpose. */
  purposes?: string[];
  requestedBy?: string;
  /** The store's country, when the number was written without its country code and read there. */
  readIn?: string;
  /** The number's other reading, in the store's country: the store's records decide (see settleNamedNumber). */
  nationalReading?: string;
}

const STAFF_WITHDRAWAL_FIELDS: readonly string[] = ['phone', 'userId', 'purposes'];

/**
 * Reads a staff withdrawal from a message; a bad one is refused with its reason, before anything is written. It never
 * comes with a WhatsApp message: that is the person's own, handled as such.
 */
export function staffWithdrawalOf(
  msg: {
    withdraw?: unknown;
    requestedBy?: unknown;
    whatsapp?: unknown;
  },
  country?: string,
): StaffWithdrawal {
  const { withdraw, requestedBy } = msg;
  if (msg.whatsapp !== undefined) {
    throw new GdprWhatsAppError(
      'invalid-withdrawal',
      'msg.withdraw is for staff: it cannot come with a WhatsApp message (msg.whatsapp)',
    );
  }
  if (typeof withdraw !== 'object' || withdraw === null || Array.isArray(withdraw)) {
    throw new GdprWhatsAppError(
      'invalid-withdrawal',
      'msg.withdraw must be an object naming the person: {phone} or {userId}, and optionally purposes',
    );
  }
  // Without purposes it ends every purpose: a misspelt field ("purpose") or an empty list must not mean that.
  const unknown = Object.keys(withdraw).filter((key) => !STAFF_WITHDRAWAL_FIELDS.includes(key));
  if (unknown.length > 0) {
    throw new GdprWhatsAppError(
      'invalid-withdrawal',
      `msg.withdraw has a field the node does not know (${unknown.join(', ')}): it takes phone or userId, and purposes`,
      { fields: unknown.join(', ') },
    );
  }
  const named = withdraw as { phone?: unknown; userId?: unknown; purposes?: unknown };
  const subject = checkedSubject(named.phone, named.userId, country);
  const listed = named.purposes;
  const valid =
    listed === undefined ||
    typeof listed === 'string' ||
    (Array.isArray(listed) && listed.every((p) => typeof p === 'string'));
  if (!valid) {
    throw new GdprWhatsAppError('invalid-withdrawal', 'msg.withdraw.purposes must be a list of purpose ids');
  }
  const purposes = listed === undefined ? [] : parsePurposeList(listed as string | string[]);
  if (listed !== undefined && purposes.length === 0) {
    throw new GdprWhatsAppError(
      'invalid-withdrawal',
      'msg.withdraw.purposes names no purpose: leave it out to withdraw every purpose',
    );
  }
  const by = optionalRequestedBy(requestedBy);
  return {
    subject,
    ...(purposes.length > 0 ? { purposes } : {}),
    ...(by !== undefined ? { requestedBy: by } : {}),
    ...namedNumberChecks(named.phone, country),
  };
}

/** Records a staff withdrawal durably; an erased person's is kept as a bare entry (nothing about her again). */
export async function withdrawForStaff(
  ledger: WithdrawalLedger,
  withdrawal: StaffWithdrawal,
  actor: string,
): Promise<WithdrawalOutcome> {
  const changed = await ledger.withdrawUnlessErased({
    subject: withdrawal.subject,
    ...(withdrawal.purposes ? { purposes: withdrawal.purposes } : {}),
    channel: 'admin',
    ...(withdrawal.requestedBy !== undefined ? { requestedBy: withdrawal.requestedBy } : {}),
    actor,
  });
  return outcomeOf(changed);
}
