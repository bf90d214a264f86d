import type { AccessInformation } from './access-information';
import type { EncryptionKey } from './keys';

export type LawfulBasis = 'consent' | 'contract' | 'legitimate-interest';

export interface PurposeConfig {
  /** ^[a-z0-9][a-z0-9_-]{0,63}$ */
  id: string;
  /** The purpose's name, shown in a language that has none of its own in `labels`. */
  label: string;
  /** The name per language ('en', 'de'), as customers see it in messages and the privacy policy page. */
  labels?: Record<string, string>;
  /** Wording per language ('en', 'de', ...). Editing it makes a new purpose version. */
  wording: Record<string, string>;
  lawfulBasis: LawfulBasis;
  /**
   * For lawfulBasis 'legitimate-interest': the legitimate interest pursued, per language, which the privacy notice
   * must state (Art. 13(1)(d) GDPR). Not part of the version: nobody consents to it.
   */
  interest?: Record<string, string>;
  /** Withdrawn by Meta's marketing opt-out signals. */
  marketing?: boolean;
}

/** State of one stored consent record. */
export type ConsentStatus = 'pending' | 'given' | 'refused' | 'expired' | 'withdrawn';

/** What a check reports: the record's state, or why there is none. */
export type CheckStatus = ConsentStatus | 'none' | 'erased' | 'unknown-purpose';

export type CollectionMethod = 'web-form' | 'keyword' | 'button' | 'agent';

/**
 * How a record came about: a collection method, an objection (STOP) where no consent was on record, or the number's
 * move to another person (numberChanged), which blocks purposes that need no consent at the number until a record is
 * made for its next holder. Such a record is the number's, not a person's: no export or erasure of a person holds it.
 */
export type RecordMethod = CollectionMethod | 'objection' | 'number-change';

/**
 * 'whatsapp-number-change': Meta reported that the person moved to another number; the old one may be reassigned.
 * 'whatsapp-text': she objected to advertising in other words ("Bitte keine Werbung mehr"); the record's keyword holds
 * the sentence read as the objection.
 */
export type WithdrawalChannel =
  | 'whatsapp-keyword'
  | 'whatsapp-button'
  | 'whatsapp-text'
  | 'meta-marketing-optout'
  | 'whatsapp-number-change'
  | 'admin'
  | 'api';

/** A person: phone number in any common format and/or Meta's business-scoped user id (BSUID). */
export interface SubjectRef {
  phone?: string;
  userId?: string;
  /** WhatsApp id as Meta sends it; stored encrypted. */
  waId?: string;
  /** Profile name, stored (encrypted) only when the integrator passes it. */
  name?: string;
}

/** A SubjectRef, or a phone number as a plain string. */
export type SubjectInput = SubjectRef | string;

export interface RetentionSettings {
  /** Pending double opt-in requests expire after this (default 48 hours). */
  pendingExpiryMs: number;
  /**
   * Personal data of subjects without a given or pending consent is removed this long after their last change (30
   * days). Given and pending consents of a purpose taken out of the settings end this long after it was last
   * configured.
   */
  personalDataMs: number;
  /**
   * Consent proof is kept this long after last use or its end, audit events and notices after they happened (5 years);
   * the audit events that prove a consent or objection still standing are carried forward (proof-restatement.ts).
   */
  proofRetentionMs: number;
  /** De-duplication marks expire after this (8 days). */
  dedupeTtlMs: number;
  /** Rows handled per transaction by the sweep, so a large sweep never blocks checks for long. */
  sweepBatchSize: number;
}

export interface LedgerOptions {
  backend: 'sqlite' | 'postgres';
  sqlitePath?: string;
  postgresUrl?: string;
  /** PostgreSQL schema for the ledger's tables (default "public"); created when missing. */
  postgresSchema?: string;
  /** How often an erasure's VACUUM that an older PostgreSQL transaction held back is tried again (default 30 s). */
  postgresVacuumRetryMs?: number;
  /** First = current key for new writes; the others only decrypt. */
  encryptionKeys: EncryptionKey[];
  pseudonymKey: Buffer;
  purposes: PurposeConfig[];
  retention?: Partial<RetentionSettings>;
  clock?: () => number;
  /** Written into audit details so that events can be traced to a Node-RED instance. */
  instanceId?: string;
  /** How often batched "last used" marks are written (default 5 s). */
  usageFlushMs?: number;
  /** How often the store tells the database which purposes it has configured (default an hour; for tests). */
  purposePresenceMs?: number;
}

/** How an answer to a confirmation request came: a reply button, a typed keyword, a confirmation link. */
export type ConfirmationVia = 'button' | 'keyword' | 'link';

/** One consent record, decrypted. */
export interface ConsentRecord {
  pseudonym: string;
  purpose: string;
  purposeVersion: string;
  status: ConsentStatus;
  lawfulBasis: LawfulBasis;
  /**
   * The exact text the person agreed to or refused. An objection's record (method 'objection') stores the purpose's
   * wording in every language as canonical JSON; an export gives it in the person's language (ExportOptions.language).
   */
  wording: string;
  /** SHA-256 of the wording as stored. */
  wordingSha256: string;
  language?: string;
  noticeVersion?: string;
  method: RecordMethod;
  source?: string;
  requestedAt?: number;
  requestMessageId?: string;
  /** The request's own id, named in its audit events (schema version 11 on). */
  requestId?: string;
  /** When the request's message was accepted for sending. */
  requestSentAt?: number;
  /**
   * The business number (Meta's phone number id) the request's message went from; for a single-step sign-up by
   * keyword, the one her keyword came to.
   */
  requestPhoneNumberId?: string;
  expiresAt?: number;
  /** When the subject confirmed, gave or refused. */
  decidedAt?: number;
  confirmationMessageId?: string;
  confirmationText?: string;
  /** How the answer to the request came. */
  confirmationVia?: ConfirmationVia;
  /** The button payload or configured keyword the answer matched. */
  confirmationMatch?: string;
  /**
   * A request asked again before it was answered (history only, schema version 12 on): the `requestId` of the request
   * that replaced it. It reads `expired`, its `expiresAt` the time it was replaced.
   */
  replacedByRequestId?: string;
  withdrawnAt?: number;
  withdrawalChannel?: WithdrawalChannel;
  withdrawalMessageId?: string;
  withdrawalText?: string;
  withdrawalKeyword?: string;
  lastUsedAt?: number;
  retainUntil: number;
  updatedAt: number;
  actor: string;
}

export interface CheckResult {
  allowed: boolean;
  status: CheckStatus;
  reason: string;
}

/** Every type of ledger event, as a consent-events node's filter names them. */
export const LEDGER_EVENT_TYPES = [
  'consent.requested',
  'consent.confirmed',
  'consent.given',
  'consent.refused',
  'consent.withdrawn',
  'consent.expired',
  'subject.erased',
  'subject.number-changed',
  'subject.previous-holder-erased',
  'notice.shown',
] as const;

export type LedgerEventType = (typeof LEDGER_EVENT_TYPES)[number];

export interface LedgerEvent {
  type: LedgerEventType;
  pseudonym: string;
  purpose?: string;
  at: number;
  /** Only in-process, for a consent-events node set to include it; never stored in the audit log. */
  phone?: string;
  /** Only in-process, like `phone`. */
  userId?: string;
  status?: ConsentStatus;
  channel?: WithdrawalChannel;
  /**
   * subject.number-changed: where the person went (the pseudonym of her new number, or of her new user id when Meta
   * named no number), so that a CRM keyed by pseudonym re-keys her record. Absent when Meta named neither.
   */
  to?: string;
  /** subject.number-changed, only in-process like `phone` (which is the number she left): her new number. */
  newPhone?: string;
  /** subject.number-changed, only in-process like `phone`: her new user id. */
  newUserId?: string;
  /**
   * subject.erased and subject.previous-holder-erased: whether someone holds the number in the ledger after the
   * erasure (a later holder): a CRM keyed by number then erases only what it holds of the person before him.
   */
  heldAfter?: boolean;
  /** subject.previous-holder-erased: when she left the number; what the CRM holds of the number up to then was hers. */
  movedAt?: number;
}

export interface EraseReport {
  found: boolean;
  removed: Record<string, number>;
  at: number;
  pseudonym: string;
  /**
   * Only a previous holder's part of a number that moved to another person was erased (EraseOptions): asked for by
   * staff, or by her own message delivered after the move. Nobody at the number now is to be told.
   */
  beforeNumberChange?: true;
  /**
   * The present holder's erasure took her part of the numbers she moved from to reach this one too (numberChanged):
   * how many (one per move of hers away from a number) and what went there, by table. `removed` is this number's own.
   * Absent when only a previous holder's part was erased.
   */
  earlierNumbers?: { count: number; removed: Record<string, number> };
}

export interface SweepReport {
  at: number;
  expiredRequests: number;
  personalDataRemoved: number;
  proofRemoved: number;
  noticesRemoved: number;
  /** Consent texts no record uses any more (a form's own text, where opt-in-flow accepts any). */
  wordingsRemoved: number;
  auditEventsRemoved: number;
  /**
   * Of the audit events removed, those that prove a consent or an objection that still stands, restated at the head of
   * the chain first (consent.proof-restated, lib/consent/proof-restatement.ts).
   */
  auditEventsRestated: number;
  dedupeMarksRemoved: number;
  /**
   * Events deleted untaken: no consent-events node took them within EVENT_FEED_RETENTION_MS, or only nodes gone as long
   * still waited for them (lib/consent/event-feed.ts).
   */
  undeliveredEventsRemoved: number;
  /**
   * Given consents and requests ended because their purpose was out of the store's settings for longer than
   * personalDataMs (audited as consent.purpose_removed).
   */
  removedPurposeConsentsEnded: number;
}

export interface ExportOptions {
  /**
   * When the person sent the request (Meta's time of her WhatsApp message). Sent before the number moved to another
   * person and delivered after (Meta retries for days), it is the request of the holder who sent it. An erasure takes
   * only her part, as with `beforeNumberChange`, and neither erases nor lists the number's present holder; an export
   * is refused (sent-before-number-change), since its answer would go to the number, which is someone else's now.
   */
  sentAt?: number;
  /** The part of a number's records up to its last move to another person (numberChanged): the previous holder's. */
  beforeNumberChange?: boolean;
  /**
   * Refuse (holder-choice-needed) when the number passed to another person and `beforeNumberChange` is not given:
   * staff answering a request by e-mail must say whose part it is about (an export to the wrong one discloses the
   * other's data; an erasure cannot be undone). Such a request naming a number and a user id the ledger links to
   * another number is refused too (subject-mismatch).
   */
  requireHolderChoice?: boolean;
  /**
   * Who on staff handled the request (a name or a ticket reference, at most 128 characters): kept in the audit event
   * for accountability (Art. 5(2) GDPR), never shown in a person's export.
   */
  requestedBy?: string;
  /**
   * The person's language (`de`, `en`): an objection's record (a STOP to a purpose that needs no consent) holds the
   * purpose's wording in every language, and the export gives her the one in hers (else English, else any).
   */
  language?: string;
}

/** As for an export: `beforeNumberChange` erases the previous holder's part instead of the present holder's. */
export type EraseOptions = Omit<ExportOptions, 'language'>;

export interface SubjectExport {
  exportedAt: number;
  pseudonym: string;
  found: boolean;
  /** When the number last moved to another person; records up to then are the previous holder's. */
  numberChangedAt?: number;
  erased?: { at: number };
  subject?: {
    phone?: string;
    waId?: string;
    userId?: string;
    name?: string;
    firstSeenAt: number;
    lastInboundAt?: number;
    /** Her message before the last one: kept to tell whether a reply that does not quote a request answers it. */
    previousInboundAt?: number;
  };
  consents: ConsentRecord[];
  /**
   * Objections to purposes that need no consent that an erasure kept without their record (the audit log holds
   * them) and that still forbid those messages: she said STOP to order updates, then asked for erasure.
   */
  keptObjections?: { purpose: string; lawfulBasis: string }[];
  history: (ConsentRecord & { archivedAt: number })[];
  notices: { noticeVersion: string; shownAt: number; messageId?: string; actor: string }[];
  auditEvents: {
    seq: number;
    at: number;
    actor: string;
    action: string;
    purpose: string | null;
    outcome: string;
    /** What the event recorded besides (when a STOP was sent, which notice version, what an erasure removed). */
    detail?: Record<string, unknown>;
  }[];
  /**
   * The present holder's part of each number she moved from to reach this one (numberChanged), one per move of hers
   * away from a number, newest first as followed back; never what the number's later holders did there. Absent when
   * the previous holder's part of this number was asked for.
   */
  earlierNumbers?: EarlierNumberPart[];
  /** What Art. 15(1) and (2) ask besides the data: purposes, recipients, retention, sources, rights. */
  information: AccessInformation;
}

/**
 * A person's part of a number she held before (SubjectExport.earlierNumbers): no number, no name, and not the
 * number's pseudonym either, which is its later holders' key too.
 */
export interface EarlierNumberPart extends Pick<SubjectExport, 'notices' | 'auditEvents'> {
  consents: Omit<ConsentRecord, 'pseudonym'>[];
  history: (Omit<ConsentRecord, 'pseudonym'> & { archivedAt: number })[];
  /** When she moved away from it: the records are those of her time there, up to then. */
  movedAwayAt: number;
  /** She was erased while she held it. */
  erased?: { at: number };
}
