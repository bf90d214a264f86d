import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { BoundedMemo } from '../lib/bounded-memo';
import { isPurposeId, purposeVersion } from '../lib/consent/purposes';
import type { LedgerHandle } from '../lib/consent/threaded-ledger';
import type { ConsentRecord, SubjectRef } from '../lib/consent/types';
import {
  DEFAULT_CONFIRM_KEYWORDS,
  DEFAULT_REFUSE_KEYWORDS,
  DEFAULT_START_KEYWORDS,
  parseKeywordList,
} from '../lib/conversation/keywords';
import { chooseLanguage, type Language } from '../lib/conversation/language';
import {
  answeredPurposes,
  buildConfirmationMessage,
  type ConsentFormRequest,
  DEFAULT_OPT_IN_TEXTS,
  FORM_ANSWER_MINIMUM_MS,
  mayResubscribeAfterErasure,
  type OptInRejectReason,
  type OptInText,
  optInText,
  purposeWording,
  type ReplyIntent,
  recogniseReply,
  refusedRequest,
  type TemplateSettings,
  validateFormRequest,
} from '../lib/conversation/opt-in';
import { findPurpose, type PurposeDefinition, purposeLabel } from '../lib/conversation/purposes';
import { RequestLimit } from '../lib/conversation/request-limit';
import { GdprWhatsAppError } from '../lib/errors';
import { MinimumDelay } from '../lib/minimum-delay';
import { parseCountry } from '../lib/phone';
import { metaTimeMs } from '../lib/webhook/meta-time';
import type { InboundMessage } from '../lib/webhook/types';
import { type ConsentStoreNode, findConsentStore, ledgerOf } from './consent-store';
import { ADMIN_PREFIX, needsPermission, PERMISSION_READ } from './shared/admin';
import { catchableError, translateError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations';
import { statusOf } from './shared/status';

export const OPT_IN_FLOW_DEFAULTS = {
  purpose: '',
  allowMsgPurpose: false,
  language: 'auto',
  mode: 'interactive',
  templateName: '',
  templateLanguage: 'auto',
  templateParameters: '',
  templateConfirmButton: true,
  confirmKeywords: '',
  startKeywords: '',
  allowSingleStep: false,
  confirmStartKeyword: false,
  maxRequestsPerMinute: 30,
  acceptAnyWording: false,
};
export const optInFlowMigrations: readonly Migration[] = [
  withDefaults(OPT_IN_FLOW_DEFAULTS),
  // Version 2: the node-wide request limit, for nodes saved before it existed.
  {
    version: 2,
    up: (config) => ({ ...config, maxRequestsPerMinute: requestLimitOf(config.maxRequestsPerMinute) }),
  },
  // Version 3: requests must carry one of the purpose's wordings. Nodes saved before keep taking any wording
  // (their forms may show another text) and warn at every deploy until the setting is made.
  { version: 3, up: (config) => ({ ...config, acceptAnyWording: config.acceptAnyWording ?? true }) },
];

interface OptInFlowDef extends NodeDef {
  configVersion?: number;
  store: string;
  purpose: string;
  allowMsgPurpose: boolean;
  language: string;
  mode: 'interactive' | 'template';
  templateName: string;
  templateLanguage: string;
  templateParameters: string;
  templateConfirmButton: boolean;
  confirmKeywords: string;
  startKeywords: string;
  allowSingleStep: boolean;
  /** A start keyword gets the confirmation request (double opt-in by keyword); it wins over allowSingleStep. */
  confirmStartKeyword: boolean;
  /** Confirmation requests this node sends a minute at most (0: no limit). */
  maxRequestsPerMinute: number | string;
  /** Whether a web form request's wording may be any text rather than one of the purpose's wordings. */
  acceptAnyWording: boolean;
  confirmationTextEn?: string;
  confirmationTextDe?: string;
  confirmedTextEn?: string;
  confirmedTextDe?: string;
  expiredTextEn?: string;
  expiredTextDe?: string;
  subscribedTextEn?: string;
  subscribedTextDe?: string;
  alreadyTextEn?: string;
  alreadyTextDe?: string;
  refusedTextEn?: string;
  refusedTextDe?: string;
  unclearTextEn?: string;
  unclearTextDe?: string;
  pendingTextEn?: string;
  pendingTextDe?: string;
  /** Web form only: the country of numbers typed without country code; empty: they must carry one. */
  defaultCountry?: string;
}

/** The ledger's request limits, by its error code, as msg.optIn.limit names them. */
const REQUEST_LIMITS: ReadonlyMap<string | undefined, string> = new Map([
  ['recently-requested', 'resend'],
  ['too-many-requests', 'per-day'],
  ['unanswered-requests', 'unanswered'],
]);

type OptInMessage = NodeMessageInFlow & {
  to?: string;
  whatsapp?: Partial<InboundMessage>;
  language?: string;
  optIn?: Record<string, unknown>;
  consent?: unknown;
  optOutFooter?: boolean;
};

/** Outputs: 1 confirmation request to send, 2 reply outcome (confirmed, given, expired), 3 rejected request, 4 other. */
type Outputs = [NodeMessage | null, NodeMessage | null, NodeMessage | null, NodeMessage | null];

function on(output: 0 | 1 | 2 | 3, msg: NodeMessage): Outputs {
  const outputs: Outputs = [null, null, null, null];
  outputs[output] = msg;
  return outputs;
}

/** Whether this inbound message is the one a consent record keeps as its proof (Meta delivering it again). */
function isProofOf(record: ConsentRecord, messageId: string | undefined): boolean {
  return messageId !== undefined && record.confirmationMessageId === messageId;
}

function sentAtOf(inbound: { timestamp?: unknown }): { sentAt?: number } {
  const sentAt = metaTimeMs(inbound.timestamp);
  return sentAt === undefined ? {} : { sentAt };
}

/**
 * A typed yes sent within this long after her start keyword (Meta's times, whole seconds), or before it, cannot answer
 * the request the keyword asked for: she cannot have read its wording yet. A tap on its button or a quoted reply can.
 */
const TYPED_YES_AFTER_KEYWORD_MS = 5_000;
/** How long a keyword's time is kept for that check. */
const KEYWORD_TIME_KEPT_MS = 10 * 60_000;
/** How many people's keyword times one generation of the memo holds (two generations at most). */
const KEYWORDS_REMEMBERED = 10_000;

/** Confirmation outcomes that are no answer of this node's: the message passes on, on output 4. */
const PASSED_ON = new Set(['no-pending-request', 'quotes-other-message', 'other-business-number']);
/** Refusal outcomes that refuse nothing: the no passes on, on output 4. */
const REFUSES_NOTHING = new Set(['missing-wording', 'other-business-number', 'unclear-reply']);

/** The business number (Meta's phone number id) an inbound message came to, when the webhook named it. */
function businessNumberOf(inbound: Partial<InboundMessage>): string | undefined {
  return typeof inbound.phoneNumberId === 'string' && inbound.phoneNumberId !== '' ? inbound.phoneNumberId : undefined;
}

function codeOf(err: unknown): string | undefined {
  return err instanceof GdprWhatsAppError ? err.code : undefined;
}

/** Template body parameters from the dialog: one per line. */
function parseParameters(text: string | undefined): string[] {
  return String(text ?? '')
    .split('\n')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/** Node-RED's message catalogues for the two languages of the package. */
const LOCALES: Record<Language, string> = { en: 'en-US', de: 'de' };

/**
 * A rejection reason from this node's catalogue in a language chosen per request: Node-RED's runtime loads only
 * its own language's catalogue, so the file is read here (once per language).
 */
function rejectionText(key: string, language: Language): string | undefined {
  let texts = rejectionTexts.get(language);
  if (!texts) {
    try {
      const file = path.join(__dirname, 'locales', LOCALES[language], 'opt-in-flow.json');
      texts = (JSON.parse(fs.readFileSync(file, 'utf8')) as { 'opt-in-flow': { reject: Record<string, string> } })[
        'opt-in-flow'
      ].reject;
    } catch {
      texts = {};
    }
    rejectionTexts.set(language, texts);
  }
  return texts[key];
}

const rejectionTexts = new Map<Language, Record<string, string>>();

/** The setting as saved: a whole number (0: no limit); empty or anything else is the default. */
function requestLimitOf(saved: unknown): number {
  const text = String(saved ?? '').trim();
  return /^\d+$/.test(text) ? Number(text) : OPT_IN_FLOW_DEFAULTS.maxRequestsPerMinute;
}

/** At most one warning about a slow consent store in this time, however many form requests are slow. */
const SLOW_FORM_WARNING_INTERVAL_MS = 10 * 60_000;

/**
 * opt-in-flow: the double opt-in (Art. 7(1) GDPR, proof of consent; recital 32, a clear affirmative act).
 * Input A, a request from a web form: rejected on output 3 with a reason and nothing stored, or stored as
 * pending and the confirmation message emitted on output 1. Input B, inbound messages from whatsapp-webhook
 * (recognised by msg.whatsapp.messageId): a confirmation, or a start keyword when single-step sign-up is
 * allowed, answered on output 2; everything else passes unchanged on output 4.
 */
export default function registerOptInFlow(RED: NodeAPI): void {
  function OptInFlow(this: Node, saved: OptInFlowDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrate<OptInFlowDef>(saved, optInFlowMigrations);
    const store = findConsentStore(RED, config.store);
    const actor = `opt-in-flow:${node.id}`;
    const allowMsgPurpose = config.allowMsgPurpose === true;
    const acceptAnyWording = config.acceptAnyWording === true;
    const keywords = {
      confirm: parseKeywordList(config.confirmKeywords, DEFAULT_CONFIRM_KEYWORDS),
      start: parseKeywordList(config.startKeywords, DEFAULT_START_KEYWORDS),
      refuse: [...DEFAULT_REFUSE_KEYWORDS],
    };
    const texts: Record<OptInText, Partial<Record<string, string>>> = {
      confirmation: { en: config.confirmationTextEn, de: config.confirmationTextDe },
      confirmed: { en: config.confirmedTextEn, de: config.confirmedTextDe },
      expired: { en: config.expiredTextEn, de: config.expiredTextDe },
      subscribed: { en: config.subscribedTextEn, de: config.subscribedTextDe },
      already: { en: config.alreadyTextEn, de: config.alreadyTextDe },
      refused: { en: config.refusedTextEn, de: config.refusedTextDe },
      unclear: { en: config.unclearTextEn, de: config.unclearTextDe },
      pending: { en: config.pendingTextEn, de: config.pendingTextDe },
    };
    const template: TemplateSettings | undefined =
      config.mode === 'template'
        ? {
            name: String(config.templateName ?? '').trim(),
            language: String(config.templateLanguage ?? '').trim() || 'auto',
            parameters: parseParameters(config.templateParameters),
            confirmButton: config.templateConfirmButton !== false,
          }
        : undefined;
    const counts = { requested: 0, rejected: 0, confirmed: 0 };
    // A country the editor let through but libphonenumber does not know: form requests fail until it is fixed.
    const requestLimit = new RequestLimit(requestLimitOf(config.maxRequestsPerMinute));
    let defaultCountry: string | undefined;
    let countryProblem: unknown;
    try {
      defaultCountry = parseCountry(config.defaultCountry);
    } catch (err) {
      countryProblem = err;
    }
    // Without one of its own, the form reads numbers as the store does; with another, one number could be signed up
    // as one person's and erased or exported as another's.
    if (countryProblem === undefined && defaultCountry === undefined) defaultCountry = store?.defaultCountry;
    else if (defaultCountry && store?.defaultCountry && defaultCountry !== store.defaultCountry) {
      node.warn(RED._('opt-in-flow.warn.country-differs', { own: defaultCountry, store: store.defaultCountry }));
    }

    function showCounts(): void {
      node.status(statusOf('ready', RED._('opt-in-flow.status.counts', counts)));
    }

    if (countryProblem) node.status(statusOf('broken', translateError(RED, countryProblem)));
    if (acceptAnyWording) node.warn(RED._('opt-in-flow.log.any-wording'));
    ledgerOf(store).then(
      () => {
        if (countryProblem) return;
        node.status(statusOf('ready', RED._('opt-in-flow.status.ready', { purpose: config.purpose || '*' })));
      },
      (err: unknown) => node.status(statusOf('broken', translateError(RED, err))),
    );

    /**
     * The reason in the language of the form (the person sees it there), not in Node-RED's. An answer about the number
     * (`asked`: the request as validated) comes in the language its confirmation would have come in, as a sent request
     * does: a page in another language would tell whoever typed the number in that it was pending, erased or signed up.
     */
    function rejectRequest(
      msg: OptInMessage,
      reason: OptInRejectReason,
      asked?: ConsentFormRequest,
      details: Record<string, unknown> = {},
    ): Outputs {
      counts.rejected += 1;
      const form = (typeof msg.payload === 'object' && msg.payload !== null ? msg.payload : {}) as {
        language?: unknown;
        phone?: unknown;
      };
      const language =
        asked?.language ??
        chooseLanguage(form.language, config.language, typeof form.phone === 'string' ? form.phone : undefined);
      const key = reason === 'invalid-phone' ? invalidPhoneKey(form.phone) : reason;
      const message = rejectionText(key, language) ?? RED._(`opt-in-flow.reject.${key}`);
      msg.optIn = { outcome: 'rejected', reason, message, language, ...details };
      return on(2, msg);
    }

    /**
     * A number typed with its country code is wrong in itself: the text must not ask for the code. With a default
     * country a national number is fine: the text must not ask for one then either, only for another country's.
     */
    function invalidPhoneKey(typed: unknown): string {
      if (typeof typed === 'string' && /^\s*(\+|00)/.test(typed)) return 'invalid-phone-with-code';
      return defaultCountry ? 'invalid-phone-national' : 'invalid-phone';
    }

    /**
     * A wording or purpose the store does not have is most often the form's text and the store's drifting apart (the
     * wording kept in two places): every sign-up through that form fails, the person sees only "reload the page", and
     * only the integrator can mend it. Said once per deploy and reason; an old page still open says it as well.
     */
    const formMismatchWarned = new Set<string>();
    function warnFormMismatch(reason: OptInRejectReason, msg: OptInMessage): void {
      // A request without any field 'phone' ({number: ...}): the form or the flow names the field otherwise.
      if (reason === 'invalid-phone' && (msg.payload as { phone?: unknown }).phone === undefined) {
        if (formMismatchWarned.has('no-phone-field')) return;
        formMismatchWarned.add('no-phone-field');
        node.warn(RED._('opt-in-flow.log.form-no-phone-field'));
        return;
      }
      if ((reason !== 'unknown-wording' && reason !== 'unknown-purpose') || formMismatchWarned.has(reason)) return;
      formMismatchWarned.add(reason);
      const asked = (msg.payload as { purpose?: unknown } | undefined)?.purpose;
      // What a stranger posted goes into the log only as a purpose id could be written.
      const purpose = allowMsgPurpose && typeof asked === 'string' && isPurposeId(asked) ? asked : config.purpose;
      node.warn(RED._(`opt-in-flow.log.form-${reason}`, { purpose: purpose || '-' }));
    }

    async function handleFormRequest(msg: OptInMessage, storeNode: ConsentStoreNode | undefined): Promise<Outputs> {
      if (countryProblem) throw countryProblem;
      const ledger = await ledgerOf(storeNode);
      const known = storeNode as ConsentStoreNode;
      const validation = validateFormRequest(msg.payload, {
        purposes: known.purposes,
        purpose: config.purpose,
        allowMsgPurpose,
        language: config.language,
        defaultCountry,
        acceptAnyWording,
      });
      if (!validation.ok) {
        warnFormMismatch(validation.reason, msg);
        return rejectRequest(msg, validation.reason);
      }
      // Anyone can post numbers to a public form: each request is a message the business pays for and that a
      // stranger may report. Checked before anything is stored; it tells nothing about the number. The slot is
      // taken at once, before the store is asked: posts arriving together would all find the minute still open.
      const now = Date.now();
      const release = requestLimit.take(now);
      if (!release) {
        // For HTTP's Retry-After on the form's 429: when the limit has a slot again.
        return rejectRequest(msg, 'rate-limited', undefined, { retryAfterSeconds: requestLimit.secondsUntilFree(now) });
      }
      try {
        return await requestConfirmation(msg, validation.request, ledger, known);
      } catch (err) {
        // A failure (the store, the template) is no answer about the number: the slot is free for another. A request
        // that sends nothing because of the number (pending, given, erased, opted out) keeps it: were it given back,
        // a stranger who filled the minute up to one post could tell a known number from a new one.
        release();
        throw err;
      }
    }

    async function requestConfirmation(
      msg: OptInMessage,
      request: ConsentFormRequest,
      ledger: LedgerHandle,
      known: ConsentStoreNode,
    ): Promise<Outputs> {
      const pendingMs = known.retention.pendingExpiryHours * 3_600_000;
      if ((await ledger.isSuppressed(request.phone)) && !mayResubscribeAfterErasure(request, Date.now(), pendingMs)) {
        return rejectRequest(msg, 'suppressed', request);
      }
      // Built before anything is stored: a misconfigured template must not leave a request nobody is asked about.
      const body = buildConfirmationMessage({
        language: request.language,
        purpose: request.purpose,
        wording: request.wording,
        mode: config.mode === 'template' ? 'template' : 'interactive',
        template,
        texts: texts.confirmation,
      });
      let record: ConsentRecord;
      try {
        record = await ledger.requestConsent({
          subject: request.phone,
          purpose: request.purpose.id,
          wording: request.wording,
          language: request.language,
          method: 'web-form',
          source: request.source,
          actor,
        });
      } catch (err) {
        const code = err instanceof GdprWhatsAppError ? err.code : undefined;
        if (code === 'request-pending' || code === 'recently-opted-out') return rejectRequest(msg, code, request);
        // Every request limit is too-many-requests, which flows already answer as a sent request, as they must. Which
        // limit it was (and its figures: max, minutes, days) goes to the flow alone, for its records, not to the page.
        const limit = REQUEST_LIMITS.get(code);
        if (limit) {
          return rejectRequest(msg, 'too-many-requests', request, { limit, ...(err as GdprWhatsAppError).params });
        }
        throw err;
      }
      if (record.status === 'given') {
        // Already consented under this wording: asking again would only annoy; nothing to send. The form's page says
        // what it says for a request still pending, or whoever typed the number in learns who is signed up.
        const language = request.language;
        const message = rejectionText('request-pending', language) ?? RED._('opt-in-flow.reject.request-pending');
        msg.consent = record;
        msg.optIn = {
          outcome: 'already-given',
          reason: 'already-given',
          purpose: request.purpose.id,
          message,
          language,
        };
        return on(2, msg);
      }
      counts.requested += 1;
      msg.to = request.phone;
      msg.payload = body;
      msg.language = request.language;
      msg.consent = record;
      msg.optIn = {
        outcome: 'requested',
        purpose: request.purpose.id,
        language: request.language,
        expiresAt: record.expiresAt,
        // whatsapp-send tells this store which message carried the request made at requestedAt (a quoted reply names
        // it), or that it could not be sent, so that the person may ask again.
        requestedAt: record.requestedAt,
        store: config.store,
        // The one template whatsapp-send sends without a consent: it asks for the consent.
        ...(body.type === 'template' ? { template: (body.template as { name: string }).name } : {}),
      };
      return on(0, msg);
    }

    function replyMessage(
      msg: OptInMessage,
      kind: OptInText,
      language: Language,
      purpose: PurposeDefinition | undefined,
      wording: string,
    ): void {
      msg.to = msg.whatsapp?.from ?? msg.to;
      const label = purpose ? purposeLabel(purpose, language) : '';
      msg.payload = optInText(kind, language, { label, wording }, texts[kind]);
      // whatsapp-send's opt-out line in the same language as the answer, not the one the number suggests.
      msg.language = language;
      // She has just said no: "Reply STOP to unsubscribe" under "you are not signed up" reads as if she were.
      if (kind === 'refused') msg.optOutFooter = false;
    }

    /**
     * Whether a confirmation that names no purpose (a typed "JA") answers this node's request: the request whose
     * message it quotes, else the request sent last before it was written (answeredPurposes), whatever node asked. One
     * for another purpose goes on to that purpose's node, untouched; with none pending, this node answers as before
     * (expired, or passed on).
     */
    async function answersOurRequest(
      ledger: LedgerHandle,
      subject: SubjectRef,
      sentAt: number | undefined,
      quotedMessageId: string | undefined,
      answeredTo: string | undefined,
    ): Promise<boolean> {
      const records = await Promise.all(ledger.purposeIds().map((id) => ledger.getConsent(subject, id)));
      const answered = answeredPurposes(records, Date.now(), sentAt, quotedMessageId, answeredTo);
      // Two sent in the same millisecond: the first of their nodes takes it.
      return answered.length === 0 || answered.includes(config.purpose);
    }

    /**
     * A yes that may not answer the request: it passes on (output 4), unchanged but for msg.optIn, whose message tells
     * her how to answer the request unmistakably, in the request's language. The request stays pending.
     */
    function unclearYes(
      msg: OptInMessage,
      reason: 'before-request-read' | 'wrote-since-request',
      text: 'pending' | 'unclear',
      purpose: PurposeDefinition | undefined,
      purposeId: string | undefined,
      language: Language,
    ): Outputs {
      const label = purpose ? purposeLabel(purpose, language) : '';
      const message = optInText(text, language, { label, wording: '' }, texts[text]);
      msg.optIn = { outcome: 'unclear', reason, purpose: purpose?.id ?? purposeId, language, message };
      return on(3, msg);
    }

    async function confirm(
      msg: OptInMessage,
      intent: Extract<ReplyIntent, { kind: 'confirm' }>,
      subject: SubjectRef,
      storeNode: ConsentStoreNode,
      ledger: LedgerHandle,
    ): Promise<Outputs> {
      // A button names its purpose; one for another opt-in-flow node's purpose is passed on to it.
      if (intent.purpose && !allowMsgPurpose && intent.purpose !== config.purpose) return on(3, msg);
      if (intent.purpose && !findPurpose(storeNode.purposes, intent.purpose)) return on(3, msg);
      const inbound = msg.whatsapp ?? {};
      const { sentAt } = sentAtOf(inbound);
      const inReplyTo = typeof inbound.context?.id === 'string' ? inbound.context.id : undefined;
      const answeredTo = businessNumberOf(inbound);
      if (
        intent.purpose === undefined &&
        !allowMsgPurpose &&
        !(await answersOurRequest(ledger, subject, sentAt, inReplyTo, answeredTo))
      ) {
        return on(3, msg);
      }
      const purposeId = intent.purpose ?? (allowMsgPurpose ? undefined : config.purpose);
      if (intent.via === 'keyword' && inReplyTo === undefined && typedTooSoon(subject, sentAt)) {
        // The request her keyword asked for is on its way: she is told to answer it; the yes passes on, as an unclear
        // one does, and the request stays pending.
        const purpose = findPurpose(storeNode.purposes, config.purpose);
        const language = chooseLanguage(undefined, config.language, inbound.from ?? inbound.userId, intent.text);
        return unclearYes(msg, 'before-request-read', 'pending', purpose, purposeId, language);
      }
      try {
        const record = await ledger.confirmConsent({
          subject,
          purpose: purposeId,
          confirmationMessageId: inbound.messageId,
          confirmationText: intent.text,
          ...sentAtOf(inbound),
          ...(inReplyTo === undefined ? {} : { inReplyTo }),
          via: intent.via,
          match: intent.match,
          ...(answeredTo === undefined ? {} : { phoneNumberId: answeredTo }),
          actor,
        });
        counts.confirmed += 1;
        return confirmedAnswer(msg, record, storeNode);
      } catch (err) {
        // A second tap on the request's own button, with her consent standing: tell her so, rather than pass it on to
        // the flow's menu, which would offer her the sign-up she has. The same tap delivered again by Meta (after a
        // failure) is the confirmation itself: answered as the first time.
        if (codeOf(err) === 'no-pending-request' && intent.purpose !== undefined) {
          const standing = await ledger.getConsent(subject, intent.purpose);
          if (standing?.status === 'given') {
            return isProofOf(standing, inbound.messageId)
              ? confirmedAnswer(msg, standing, storeNode)
              : alreadySignedUp(msg, standing, storeNode);
          }
        }
        // A YES without a pending request is not ours to answer (a typed yes to another dialog), nor one quoting
        // another message ("Shall we call you back?"), nor one to another business number than the request went from:
        // pass it on.
        if (PASSED_ON.has(codeOf(err) ?? '')) return on(3, msg);
        if (codeOf(err) === 'stale-reply') {
          // Sent before this request or before an opt-out, delivered late: it confirms nothing and gets no answer.
          node.log(RED._('opt-in-flow.log.stale-reply'));
          return [null, null, null, null];
        }
        if (codeOf(err) !== 'unclear-reply' && codeOf(err) !== 'request-expired') throw err;
        // The request's language and purpose, as the error names them: she may have used the English form with a +49
        // number.
        const named = ((err as GdprWhatsAppError).params ?? {}) as { purpose?: string; language?: string };
        const language = chooseLanguage(named.language, config.language, inbound.from ?? inbound.userId);
        const purpose = findPurpose(storeNode.purposes, named.purpose ?? purposeId);
        if (codeOf(err) === 'unclear-reply') {
          // She wrote something else since the request: the YES may answer the flow's question about that, so it
          // passes on, unchanged but for msg.optIn, whose message (in the request's language) tells her how to answer
          // the request unmistakably. The request stays pending.
          return unclearYes(msg, 'wrote-since-request', 'unclear', purpose, purposeId, language);
        }
        replyMessage(msg, 'expired', language, purpose, '');
        msg.optIn = { outcome: 'expired', reason: 'request-expired', purpose: purpose?.id ?? purposeId, language };
        return on(1, msg);
      }
    }

    /**
     * A typed no to this node's pending request: recorded as refused (Art. 7(1) GDPR: her answer is proof too), so that
     * a form that names her number again gets one more request through at most, not three a day (the ledger's pause
     * after an opt-out). A no to nothing pending, to another message or to another purpose's request passes on.
     */
    async function refuse(
      msg: OptInMessage,
      intent: Extract<ReplyIntent, { kind: 'refuse' }>,
      subject: SubjectRef,
      storeNode: ConsentStoreNode,
      ledger: LedgerHandle,
    ): Promise<Outputs> {
      const inbound = msg.whatsapp ?? {};
      const { sentAt } = sentAtOf(inbound);
      const inReplyTo = typeof inbound.context?.id === 'string' ? inbound.context.id : undefined;
      const answeredTo = businessNumberOf(inbound);
      const records = await Promise.all(ledger.purposeIds().map((id) => ledger.getConsent(subject, id)));
      const request = refusedRequest(records, Date.now(), sentAt, inReplyTo, answeredTo);
      if (!request || (!allowMsgPurpose && request.purpose !== config.purpose)) return on(3, msg);
      const record = await ledger
        .refuseConsent({
          subject,
          purpose: request.purpose,
          ...(inbound.messageId === undefined ? {} : { messageId: inbound.messageId }),
          text: intent.text,
          ...(sentAt === undefined ? {} : { sentAt }),
          ...(inReplyTo === undefined ? {} : { inReplyTo }),
          via: intent.via,
          match: intent.match,
          ...(answeredTo === undefined ? {} : { phoneNumberId: answeredTo }),
          actor,
        })
        // No longer pending (confirmed or expired meanwhile), sent from another business number meanwhile (asked
        // again there), or a no that quotes nothing after she wrote something else since the request (it may answer
        // the flow's question about that message; without a yes she is not signed up anyway): the no refuses nothing.
        .catch((err: unknown) => {
          if (REFUSES_NOTHING.has(codeOf(err) ?? '')) return undefined;
          throw err;
        });
      if (!record) return on(3, msg);
      const language = chooseLanguage(record.language, config.language, inbound.from ?? inbound.userId);
      replyMessage(msg, 'refused', language, findPurpose(storeNode.purposes, record.purpose), record.wording);
      msg.consent = record;
      msg.optIn = { outcome: 'refused', purpose: record.purpose, language };
      return on(1, msg);
    }

    /** Thanks for her confirmation, in the language she consented in. */
    function confirmedAnswer(msg: OptInMessage, record: ConsentRecord, storeNode: ConsentStoreNode): Outputs {
      const inbound = msg.whatsapp ?? {};
      const language = chooseLanguage(record.language, config.language, inbound.from ?? inbound.userId);
      replyMessage(msg, 'confirmed', language, findPurpose(storeNode.purposes, record.purpose), record.wording);
      msg.consent = record;
      msg.optIn = { outcome: 'confirmed', purpose: record.purpose, language };
      return on(1, msg);
    }

    /**
     * She is signed up already (a start keyword again, a second tap on the request's button): say so in the language
     * she consented in, and change nothing.
     */
    function alreadySignedUp(
      msg: OptInMessage,
      record: ConsentRecord,
      storeNode: ConsentStoreNode,
      extra: Record<string, unknown> = {},
    ): Outputs {
      const inbound = msg.whatsapp ?? {};
      const language = chooseLanguage(record.language, config.language, inbound.from ?? inbound.userId);
      replyMessage(msg, 'already', language, findPurpose(storeNode.purposes, record.purpose), record.wording);
      msg.consent = record;
      msg.optIn = { outcome: 'already-signed-up', purpose: record.purpose, language, ...extra };
      return on(1, msg);
    }

    /** The purpose a start keyword signs up for: the node's own, which the store must have. */
    function ownPurpose(storeNode: ConsentStoreNode): PurposeDefinition {
      const purpose = findPurpose(storeNode.purposes, config.purpose);
      if (!purpose)
        throw new GdprWhatsAppError('unknown-purpose', 'The purpose is not configured in the consent store');
      return purpose;
    }

    async function startSingleStep(
      msg: OptInMessage,
      intent: Extract<ReplyIntent, { kind: 'start' }>,
      subject: SubjectRef,
      storeNode: ConsentStoreNode,
      ledger: LedgerHandle,
    ): Promise<Outputs> {
      const purpose = ownPurpose(storeNode);
      const inbound = msg.whatsapp ?? {};
      const standing = await ledger.getConsent(subject, purpose.id);
      const given = standing?.status === 'given' ? standing : undefined;
      // The keyword that gave her consent, delivered again by Meta (after a failure): answered as the first time, with
      // the wording she agreed to then; nothing is recorded, whatever the purpose's wording is now.
      if (given && isProofOf(given, inbound.messageId)) {
        const language = chooseLanguage(given.language, config.language, inbound.from ?? inbound.userId);
        return subscribedAnswer(msg, given, purpose, language, intent.keyword);
      }
      // Her consent to one of the purpose's present wordings, in any of its languages (an English form's, with a
      // German number), stands: asked to record it again, the ledger keeps it unchanged (after checking that the
      // keyword is no late delivery from before a move or an opt-out), and she is told she is signed up already.
      const keeps =
        given !== undefined &&
        given.purposeVersion === purposeVersion(purpose.wording) &&
        Object.values(purpose.wording).includes(given.wording);
      const language = chooseLanguage(
        keeps ? given?.language : undefined,
        config.language,
        inbound.from ?? inbound.userId,
        intent.text,
      );
      const wording = keeps && given ? given.wording : purposeWording(purpose, language);
      // WhatsApp has verified the number and the person wrote first: one step is enough (issue 4).
      const record = await ledger
        .giveConsent({
          subject,
          purpose: purpose.id,
          wording,
          language,
          method: 'keyword',
          source: 'whatsapp',
          messageId: inbound.messageId,
          text: intent.text,
          inboundAt: metaTimeMs(inbound.timestamp),
          // How she signed up, as a confirmation keeps it (Art. 7(1) GDPR): the keyword matched and where it came.
          via: 'keyword',
          match: intent.keyword,
          phoneNumberId: businessNumberOf(inbound),
          actor,
        })
        .catch((err: unknown) => {
          // Sent before its writer moved to another number, or before she opted out, and delivered late: nobody to
          // sign up, nothing to answer.
          const code = codeOf(err);
          if (code === 'number-changed' || code === 'superseded') return code;
          throw err;
        });
      if (typeof record === 'string') {
        node.log(RED._(`opt-in-flow.log.${record}`));
        return [null, null, null, null];
      }
      // The ledger handed back the consent that stood, unchanged: this keyword is not its proof.
      if (given && record.updatedAt === given.updatedAt && record.decidedAt === given.decidedAt) {
        return alreadySignedUp(msg, record, storeNode, { keyword: intent.keyword });
      }
      counts.confirmed += 1;
      return subscribedAnswer(msg, record, purpose, language, intent.keyword);
    }

    /**
     * Double opt-in started by her keyword: the confirmation request, with the wording, answers it, and only her yes
     * signs her up. She wrote first, so no form's limits apply (she is asked at most once in ten minutes, a few times
     * a day), nor a block after her erasure; the request is made by keyword, so that Meta's clock putting her keyword a
     * moment after the request does not make her yes unclear (a yes typed too soon is caught by typedTooSoon).
     */
    async function requestByKeyword(
      msg: OptInMessage,
      intent: Extract<ReplyIntent, { kind: 'start' }>,
      subject: SubjectRef,
      storeNode: ConsentStoreNode,
      ledger: LedgerHandle,
    ): Promise<Outputs> {
      const purpose = ownPurpose(storeNode);
      const inbound = msg.whatsapp ?? {};
      const standing = await ledger.getConsent(subject, purpose.id);
      if (standing?.status === 'given') return alreadySignedUp(msg, standing, storeNode, { keyword: intent.keyword });
      const language = chooseLanguage(undefined, config.language, inbound.from ?? inbound.userId, intent.text);
      const wording = purposeWording(purpose, language);
      // A button message, whatever the mode: she wrote just now, so the window is open, and a free-form request lets
      // a privacy notice go before it (a template passes privacy-notice without one).
      const body = buildConfirmationMessage({
        language,
        purpose,
        wording,
        mode: 'interactive',
        texts: texts.confirmation,
      });
      const record = await ledger
        .requestConsent({
          subject,
          purpose: purpose.id,
          wording,
          language,
          method: 'keyword',
          source: 'whatsapp',
          inboundAt: metaTimeMs(inbound.timestamp),
          actor,
        })
        .catch((err: unknown) => {
          const code = codeOf(err);
          // Sent before its writer moved to another number, or before her STOP or erasure, and delivered late.
          if (code === 'number-changed' || code === 'superseded') return code;
          // Asked minutes ago, or often today: she is told to answer the request she has.
          if (code === 'request-pending' || REQUEST_LIMITS.has(code)) return code ?? 'request-pending';
          throw err;
        });
      if (record === 'number-changed' || record === 'superseded') {
        node.log(RED._(`opt-in-flow.log.${record}`));
        return [null, null, null, null];
      }
      if (record === 'request-pending') {
        replyMessage(msg, 'pending', language, purpose, wording);
        // The request she has, as output 2 carries the record its outcome is about.
        msg.consent = await ledger.getConsent(subject, purpose.id);
        msg.optIn = { outcome: 'pending', reason: record, purpose: purpose.id, language, keyword: intent.keyword };
        return on(1, msg);
      }
      if (typeof record === 'string') {
        // Asked often today: the last request may be answered or gone, so "tap YES in it" could point nowhere. The
        // flow answers her (output 4), as for any message this node does not take.
        const limit = REQUEST_LIMITS.get(record);
        msg.optIn = { outcome: 'rejected', reason: 'too-many-requests', limit, purpose: purpose.id, language };
        return on(3, msg);
      }
      counts.requested += 1;
      rememberKeyword(subject, metaTimeMs(inbound.timestamp));
      msg.to = inbound.from ?? inbound.userId;
      msg.payload = body;
      msg.language = language;
      msg.consent = record;
      msg.optIn = {
        outcome: 'requested',
        purpose: purpose.id,
        language,
        keyword: intent.keyword,
        expiresAt: record.expiresAt,
        requestedAt: record.requestedAt,
        store: config.store,
      };
      return on(0, msg);
    }

    /**
     * When each person's start keyword asked for a request of this node's (Meta's time), for typedTooSoon. Keyed by her
     * number, so kept only minutes and bounded, also on a quiet instance that sees no later keyword.
     */
    const keywordSentAt = new BoundedMemo<number>(KEYWORDS_REMEMBERED, KEYWORD_TIME_KEPT_MS);
    const keyOf = (subject: SubjectRef) => subject.phone ?? `user:${subject.userId}`;
    function rememberKeyword(subject: SubjectRef, sentAt: number | undefined): void {
      if (sentAt !== undefined) keywordSentAt.set(keyOf(subject), sentAt);
    }
    function typedTooSoon(subject: SubjectRef, sentAt: number | undefined): boolean {
      const keywordAt = keywordSentAt.get(keyOf(subject));
      if (keywordAt === undefined) return false;
      return sentAt === undefined || sentAt < keywordAt + TYPED_YES_AFTER_KEYWORD_MS;
    }

    /** "You are now signed up", with the wording her keyword agreed to. */
    function subscribedAnswer(
      msg: OptInMessage,
      record: ConsentRecord,
      purpose: PurposeDefinition,
      language: Language,
      keyword: string,
    ): Outputs {
      replyMessage(msg, 'subscribed', language, purpose, record.wording);
      msg.consent = record;
      msg.optIn = { outcome: 'given', purpose: purpose.id, language, keyword };
      return on(1, msg);
    }

    async function handleInbound(msg: OptInMessage, storeNode: ConsentStoreNode | undefined): Promise<Outputs> {
      const inbound = msg.whatsapp ?? {};
      const intent = recogniseReply(inbound, keywords);
      const startsSomething = config.confirmStartKeyword === true || config.allowSingleStep === true;
      if (!intent || (intent.kind === 'start' && !startsSomething)) return on(3, msg);
      const subject: SubjectRef = {};
      if (inbound.from) subject.phone = inbound.from;
      if (inbound.userId) subject.userId = inbound.userId;
      if (!subject.phone && !subject.userId) return on(3, msg);
      const ledger = await ledgerOf(storeNode);
      const known = storeNode as ConsentStoreNode;
      if (intent.kind === 'confirm') return confirm(msg, intent, subject, known, ledger);
      if (intent.kind === 'refuse') return refuse(msg, intent, subject, known, ledger);
      if (config.confirmStartKeyword === true) return requestByKeyword(msg, intent, subject, known, ledger);
      return startSingleStep(msg, intent, subject, known, ledger);
    }

    // Every outcome of a form request, failures too, leaves FORM_ANSWER_MINIMUM_MS after the request came, on a
    // timer: its timing tells nothing about the number. A WhatsApp message needs no such wait: its writer is known.
    const formAnswers = new MinimumDelay(FORM_ANSWER_MINIMUM_MS);
    node.on('close', () => formAnswers.close());
    let slowWarnedAt = Number.NEGATIVE_INFINITY;
    /** A form request that took longer than the floor answers later than the others: who times it may tell. */
    const warnIfSlow = (arrivedAt: number): void => {
      const tookMs = formAnswers.start() - arrivedAt;
      if (tookMs <= FORM_ANSWER_MINIMUM_MS || arrivedAt - slowWarnedAt < SLOW_FORM_WARNING_INTERVAL_MS) return;
      slowWarnedAt = arrivedAt;
      node.warn(RED._('opt-in-flow.log.slow-store', { ms: Math.round(tookMs), floor: FORM_ANSWER_MINIMUM_MS }));
    };

    node.on('input', async (input, send, done) => {
      const msg = input as OptInMessage;
      const fromWhatsApp = typeof msg.whatsapp?.messageId === 'string';
      const arrivedAt = formAnswers.start();
      const passOn = (outcome: () => void): void => {
        if (fromWhatsApp) outcome();
        // Closed before (a redeploy): the outcome is dropped, as a delay node drops what it holds.
        else formAnswers.after(arrivedAt, outcome, () => done());
      };
      try {
        // Inbound messages that are no opt-in reply pass even without a working store: they touch no consent.
        const outputs = fromWhatsApp ? await handleInbound(msg, store) : await handleFormRequest(msg, store);
        if (!fromWhatsApp) warnIfSlow(arrivedAt);
        passOn(() => {
          send(outputs);
          if (outputs[3] === null) showCounts();
          done();
        });
      } catch (err) {
        if (!fromWhatsApp) warnIfSlow(arrivedAt);
        passOn(() => {
          node.status(statusOf('failed', translateError(RED, err)));
          done(catchableError(RED, err));
        });
      }
    });
  }

  RED.nodes.registerType('opt-in-flow', OptInFlow as never, {
    settings: savedConfigSettings('opt-in-flow', optInFlowMigrations),
  });

  // The edit dialog shows the built-in texts as placeholders; they live in lib/ only, so it asks for them.
  RED.httpAdmin.get(`${ADMIN_PREFIX}/opt-in-flow/texts`, needsPermission(RED, PERMISSION_READ), (_req, res) => {
    res.json(DEFAULT_OPT_IN_TEXTS);
  });
}
