/** What the consent ledger's changes take (ConsentLedger in ledger.ts); each is validated there before any write. */
import type { CollectionMethod, ConfirmationVia, SubjectInput, WithdrawalChannel } from './types';

/**
 * The longest opt-out keyword a withdrawal keeps (WithdrawConsentInput.keyword). Keyword lists refuse longer
 * keywords and longer messages are no keyword at all (lib/conversation/keywords.ts), so that every keyword a STOP
 * can match is one the ledger stores: a STOP recognised but refused here would be lost.
 */
export const KEYWORD_MAX_LENGTH = 200;

/** How a consent may be collected (the record's `method`). */
export const COLLECTION_METHODS: readonly CollectionMethod[] = ['web-form', 'keyword', 'button', 'agent'];
/** How an answer to a confirmation request may come (the record's `confirmationVia`). */
export const CONFIRMATION_VIAS: readonly ConfirmationVia[] = ['button', 'keyword', 'link'];
/** Where a withdrawal asked of withdrawConsent came from (the record's `withdrawalChannel`); a number change is numberChanged's. */
export const WITHDRAWAL_CHANNELS: readonly WithdrawalChannel[] = [
  'whatsapp-keyword',
  'whatsapp-button',
  'whatsapp-text',
  'meta-marketing-optout',
  'admin',
  'api',
];

/** What a request and a consent given in one step both record: who agreed to which wording, how and where. */
interface ConsentProofInput {
  subject: SubjectInput;
  purpose: string;
  /** The exact wording shown to the person (Art. 7(1) GDPR: the controller must be able to prove consent). */
  wording: string;
  language?: string;
  noticeVersion?: string;
  method: CollectionMethod;
  /** Form URL or campaign. */
  source?: string;
  actor: string;
}

export interface RequestConsentInput extends ConsentProofInput {
  requestMessageId?: string;
  expiresInMs?: number;
  /**
   * When the person sent the message that asked for the request (her start keyword; Meta's timestamp, Unix
   * milliseconds). Refused as GiveConsentInput.inboundAt is (`number-changed`, `superseded`): a keyword delivered
   * after her STOP or erasure, though sent before, asks for nothing. Kept with a keyword or button request: a typed
   * YES answers it only when she wrote nothing else after this message (confirmConsent, in Meta's clock alone).
   */
  inboundAt?: number;
}

export interface ConfirmConsentInput extends AnswerProofInput {
  subject: SubjectInput;
  purpose?: string;
  confirmationMessageId?: string;
  /** The exact reply ("YES", the button title). */
  confirmationText: string;
  /**
   * When the person sent the reply (Meta's timestamp, Unix milliseconds). A reply sent before the request (a late
   * redelivery of an answer to an earlier one) confirms nothing, and nor does one sent before the person's latest
   * opt-out: both are refused as `stale-reply`.
   */
  sentAt?: number;
  /**
   * The message the reply quotes (Meta's `context.id`), when it is a quoted reply. It then answers the request that
   * message carried; one quoting another message confirms nothing (`quotes-other-message`), unless the request it
   * would answer has no message on record (see rules.ts, mayAnswerRequest).
   */
  inReplyTo?: string;
  actor: string;
}

/**
 * What a reply to a confirmation request adds to the proof (Art. 7(1) GDPR: which request was answered, how, where):
 * kept with the record and named in its audit event. Each is optional; a record answered without them keeps NULLs.
 */
export interface AnswerProofInput {
  /** How the answer came: a reply button, a typed keyword, or a confirmation link. */
  via?: ConfirmationVia;
  /** The button payload or the configured keyword the answer matched (never the message text: that is `text`). */
  match?: string;
  /**
   * The business number (Meta's phone number id) the answer came to. When the request's message is on record as sent
   * from another business number, the answer is not one to that request: it confirms and refuses nothing.
   */
  phoneNumberId?: string;
}

/**
 * A single-step sign-up (a START typed to the business) keeps how it came as a confirmation does (AnswerProofInput):
 * `via` and `match` (the configured keyword matched), and `phoneNumberId`, the business number it came to, which the
 * record keeps as its `requestPhoneNumberId`: her message was request and answer in one.
 */
export interface GiveConsentInput extends ConsentProofInput, AnswerProofInput {
  messageId?: string;
  text?: string;
  /**
   * When the person sent the message that gives the consent (Meta's timestamp, Unix milliseconds). Refused as
   * `number-changed` when Meta has reported since that the number's owner moved to another number: such a message
   * arrived late, and its consent would stand for whoever gets the number next. Refused as `superseded` when the
   * person opted out (STOP, Meta's marketing opt-out, a refusal of the purpose, erasure) after sending it: the later
   * wish counts, whatever order Meta delivers them in.
   */
  inboundAt?: number;
}

export interface RefuseConsentInput extends AnswerProofInput {
  subject: SubjectInput;
  purpose: string;
  /** Needed only when no request is pending: the wording the person refused. */
  wording?: string;
  language?: string;
  method?: CollectionMethod;
  source?: string;
  messageId?: string;
  text?: string;
  /** When the person sent the refusal (Meta's timestamp, Unix milliseconds): kept in the audit event. */
  sentAt?: number;
  /**
   * The message the no quotes (Meta's `context.id`), if any. A no that quotes nothing, written after another message
   * of hers since the request, may answer the business's question about that message: it refuses nothing.
   */
  inReplyTo?: string;
  actor: string;
}

/** Meta reported that the person of `phone` moved to another number. */
export interface NumberChangeInput {
  phone: string;
  /** The person's new number (Meta's `system.wa_id`): her own opt-outs follow her there. */
  newPhone?: string;
  /**
   * Her business-scoped user id before the move and the one Meta gave her with it (a number change regenerates it):
   * what she opted out of under the old id follows her too, and the new id finds her new number's records.
   */
  previousUserId?: string;
  newUserId?: string;
  messageId?: string;
  actor: string;
}

/** Meta gave a person a new business-scoped user id (a `user_changed_user_id` system message). */
export interface LinkUserIdInput {
  previousUserId: string;
  userId: string;
  actor: string;
}

/**
 * 'linked': the new id finds what is kept under the previous one; 'unknown': nothing is kept under the previous id;
 * 'separate': the new id has a consent or a refusal of its own, which a link would hide (its opt-outs still count
 * for the previous records), or names a number's records already (nothing is linked).
 */
export type LinkUserIdOutcome = 'linked' | 'unknown' | 'separate';

export interface WithdrawConsentInput {
  subject: SubjectInput;
  /** Default: every purpose. */
  purposes?: string[];
  channel: WithdrawalChannel;
  text?: string;
  /** At most KEYWORD_MAX_LENGTH characters. */
  keyword?: string;
  messageId?: string;
  /**
   * When the person sent the opt-out (Meta's timestamp, Unix milliseconds), kept in the audit entry: a START or a
   * confirmation she sent before it and Meta delivers after it signs her up for nothing.
   */
  sentAt?: number;
  /**
   * Staff's name or ticket reference for a withdrawal they record (channel 'admin': she withdrew by e-mail, letter or
   * phone). Kept in the audit detail, like an erasure's; not in her export.
   */
  requestedBy?: string;
  actor: string;
}
