import type { AuditAnchor, AuditRecord } from '../consent/audit-verify';

/**
 * The one storage interface of the consent ledger. Backends store what they are given: encryption,
 * pseudonyms, hashing and every consent rule live in lib/consent. Encrypted columns end in `Enc`.
 */
export interface SubjectRow {
  pseudonym: string;
  phoneEnc: string | null;
  waIdEnc: string | null;
  userIdEnc: string | null;
  nameEnc: string | null;
  lastInboundAt: number | null;
  /**
   * The inbound time `lastInboundAt` held before it last moved on. Kept by the store itself whenever it moves
   * `lastInboundAt` on: a value given to putSubject is not written.
   */
  previousInboundAt?: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface ConsentRow {
  pseudonym: string;
  purpose: string;
  status: string;
  expiresAt: number | null;
  purposeVersion: string;
  /** Read back from the wordings table; written there once per distinct text. */
  wording: string;
  wordingSha256: string;
  language: string | null;
  noticeVersion: string | null;
  lawfulBasis: string;
  method: string;
  /** Written before schema version 3 only: how the consent was collected, as plain text. */
  source: string | null;
  sourceEnc: string | null;
  requestedAt: number | null;
  requestMessageIdEnc: string | null;
  /** Schema version 11 on; null on records written before. A random id of the request, named in its audit events. */
  requestId: string | null;
  /** When the request's message was accepted for sending (ConsentLedger.requestSent). */
  requestSentAt: number | null;
  /** The business number (Meta's phone number id) the request's message went from. */
  requestPhoneNumberId: string | null;
  /** Schema version 15 on: the time of her message that made the request (Meta's clock; a keyword or button). */
  requestInboundAt: number | null;
  decidedAt: number | null;
  confirmationMessageIdEnc: string | null;
  confirmationTextEnc: string | null;
  /** How the answer came (ConfirmationVia): 'button', 'keyword' or 'link'. */
  confirmationVia: string | null;
  /** The button payload or the keyword the answer matched (from the configured lists, never the message text). */
  confirmationMatch: string | null;
  /**
   * Schema version 12 on, archived requests only: the request_id of the request that replaced this one (asked again
   * before it was answered). The row then reads 'expired', its expires_at when it was replaced.
   */
  replacedByRequestId: string | null;
  withdrawnAt: number | null;
  withdrawalChannel: string | null;
  withdrawalMessageIdEnc: string | null;
  withdrawalTextEnc: string | null;
  withdrawalKeyword: string | null;
  lastUsedAt: number | null;
  retainUntil: number;
  updatedAt: number;
  actor: string;
}

export interface ArchivedConsentRow extends ConsentRow {
  archivedAt: number;
}

/** Which showings: 'no-reference' those no status webhook could find yet (no message named by noticeSent). */
export type NoticeFilter = 'any' | 'no-reference';

export interface NoticeRow {
  /** Each showing is its own row; assigned by the store. */
  id?: number;
  pseudonym: string;
  noticeVersion: string;
  shownAt: number;
  messageIdEnc: string | null;
  actor: string;
}

export interface PurposeVersionRow {
  purpose: string;
  version: string;
  label: string;
  wording: string;
  lawfulBasis: string;
  marketing: boolean;
  createdAt: number;
}

/** A purpose taken out of the store's settings whose consents still stand (StoreTx.noteRemovedPurposes). */
export interface RemovedPurposeRow {
  purpose: string;
  /** Given consents and requests of the purpose. */
  standing: number;
  /** When it was last configured, or, never recorded as configured, when it was first found missing. */
  missingSince: number;
}

/** The minimum a consent check reads. */
export interface ConsentState {
  status: string;
  expiresAt: number | null;
}

export interface UsageMark {
  pseudonym: string;
  purpose: string;
  /** When the consent was last relied on (the gate's check), not when the mark was written. */
  at: number;
}

/** A ledger event kept for the consumers of the event feed (lib/consent/event-feed.ts). */
export interface OutboxRow {
  /** Assigned by the store, rising in commit order (writers of events hold the serial lock) and never reused. */
  id: number;
  at: number;
  pseudonym: string;
  /** The event's type (LedgerEventType). */
  type: string;
  /** The event as JSON, without number or user id. */
  event: string;
  /** The number and user id, encrypted; null unless a consumer includes them. */
  contactEnc: string | null;
}

/** Who takes events from the outbox: none (nothing is kept), and whether any includes numbers and user ids. */
export interface EventConsumers {
  any: boolean;
  withContact: boolean;
}

/** What a consent check reads: the consent's state, else 'erased' when the subject was erased, else undefined. */
export type CheckState = ConsentState | 'erased' | undefined;

/** Operations inside one transaction (or, for `LedgerStore.read`, single committed reads). */
export interface StoreTx {
  /** One statement (one round trip) per consent check. */
  checkState(pseudonym: string, purpose: string): Promise<CheckState>;
  getConsent(pseudonym: string, purpose: string): Promise<ConsentRow | undefined>;
  listConsents(pseudonym: string): Promise<ConsentRow[]>;
  putConsent(row: ConsentRow): Promise<void>;
  /** setConsentStatus for many consents at once (one statement on PostgreSQL). */
  setConsentStatuses(
    keys: readonly { pseudonym: string; purpose: string }[],
    status: string,
    updatedAt: number,
    retainUntil: number,
    expiresAt?: number,
  ): Promise<void>;
  /** The record's new status; its expiry time too when `expiresAt` is given (else it keeps the one it has). */
  setConsentStatus(
    pseudonym: string,
    purpose: string,
    status: string,
    updatedAt: number,
    retainUntil: number,
    expiresAt?: number,
  ): Promise<void>;
  archiveConsent(row: ConsentRow, archivedAt: number): Promise<void>;
  listHistory(pseudonym: string): Promise<ArchivedConsentRow[]>;
  /**
   * The state of the latest archived record of `purpose` that is not an unconfirmed request (pending, or expired with
   * an expiry time): what an unconfirmed request in front of it has not changed.
   */
  latestDecidedHistory(pseudonym: string, purpose: string): Promise<ConsentState | undefined>;

  getSubject(pseudonym: string): Promise<SubjectRow | undefined>;
  putSubject(row: SubjectRow): Promise<void>;
  /**
   * A first message's time for a subject without a record: inserted with no identity, or, when a record appeared
   * meanwhile (another instance), only its inbound time moved later; its identity is left as it is.
   */
  insertInbound(pseudonym: string, at: number, now: number): Promise<void>;
  /**
   * A message's time for a subject with a record, when later than the last: the last time becomes the one before it.
   * The same time moves nothing: a message claimed again (Meta retries a delivery that failed) must not look like a
   * second one. False when there is no record or the same or a later time is on it.
   */
  setLastInbound(pseudonym: string, at: number): Promise<boolean>;
  resolveAlias(alias: string): Promise<string | undefined>;
  putAlias(alias: string, pseudonym: string): Promise<void>;
  /** The user-id keys linked to the subject `pseudonym` (subject_aliases pointing at it). */
  aliasesOf(pseudonym: string): Promise<string[]>;
  /** Unlinks every user id from the subject `pseudonym`; the number of links removed. */
  removeAliasesOf(pseudonym: string): Promise<number>;

  suppressedAt(pseudonym: string): Promise<number | undefined>;
  putSuppression(pseudonym: string, at: number, actor: string): Promise<void>;

  putPurposeVersion(row: PurposeVersionRow): Promise<void>;
  /** Records that `purposes` are in the store's settings at `at`; a later time already recorded stays. */
  notePurposesConfigured(purposes: readonly string[], at: number): Promise<void>;
  /**
   * The purposes outside `configured` that still hold given consents or requests, with how many and since when each
   * is out of the settings. One never recorded as configured (data from before schema version 10) counts as out of
   * them from `now`, and that is recorded.
   */
  noteRemovedPurposes(configured: readonly string[], now: number): Promise<RemovedPurposeRow[]>;
  /** Up to `limit` given consents and requests of `purpose`. */
  standingConsents(purpose: string, limit: number): Promise<ConsentRow[]>;

  /** Records one showing: each is its own row, so an earlier holder's proof, and a delivered showing's, stays. */
  putNotice(row: NoticeRow): Promise<void>;
  /** The latest showing of `noticeVersion` under `pseudonym` (of those `which` allows). */
  latestNotice(pseudonym: string, noticeVersion: string, which?: NoticeFilter): Promise<NoticeRow | undefined>;
  /**
   * Names the message that carried the showing `id`: its id encrypted, and its keyed hash `messageRef` for a status
   * webhook to find it by. False when the showing is gone (undone or erased meanwhile).
   */
  setNoticeMessage(id: number, messageIdEnc: string, messageRef: string): Promise<boolean>;
  /** Whether a showing was carried by one of the messages `messageRefs`. */
  carriedNotice(messageRefs: readonly string[]): Promise<boolean>;
  /** Removes the showings carried by the message `messageRef`; which ones they were. */
  deleteNoticesByMessage(messageRef: string): Promise<{ pseudonym: string; noticeVersion: string }[]>;
  /** Removes the showing `id` (only while it names the message `messageRef`, when given); true when there was one. */
  deleteNotice(id: number, messageRef?: string): Promise<boolean>;
  /** The subject's showings, oldest first. */
  listNotices(pseudonym: string): Promise<NoticeRow[]>;

  /** Last event, else the retention anchor, else undefined (empty chain). */
  auditHead(): Promise<AuditAnchor | undefined>;
  auditAnchor(): Promise<AuditAnchor | undefined>;
  /** The sequence number of the oldest event kept, undefined for an empty chain. */
  oldestAuditSeq(): Promise<number | undefined>;
  /** When the latest event with this action at or after `since` happened (read by time: only that span is scanned). */
  lastAuditAt(action: string, since: number): Promise<number | undefined>;
  insertAudit(record: AuditRecord): Promise<void>;
  /** Appends consecutive records (one statement on PostgreSQL: the retention sweep writes thousands). */
  insertAudits(records: readonly AuditRecord[]): Promise<void>;
  /** The subject's audit events in order; only those with one of `actions` when given (read where they are kept). */
  listAudit(pseudonym: string, actions?: readonly string[]): Promise<AuditRecord[]>;
  /** Stores `check` unless a check is stored already; returns the one stored (the first instance's wins). */
  keepKeyCheck(check: string): Promise<string>;
  /**
   * The number-change audit events (of any subject) whose `detail.to` is `to`, in order: where a person came from
   * (numberChanged names her new number there). A partial index holds these few events.
   */
  listNumberChangesTo(to: string): Promise<AuditRecord[]>;
  /** Whether the subject has an audit event `action` at or after `at`. */
  hasAuditSince(pseudonym: string, action: string, at: number): Promise<boolean>;
  auditPage(afterSeq: number, limit: number): Promise<AuditRecord[]>;

  /**
   * Deletes every row that holds the subject's data or identity, under `pseudonym` and under each of `aliases`
   * (records kept under a user id before the number was known), and every alias link to or from them; returns
   * counts per table. With `holder`, only that holder's part of the records under `pseudonym` goes (a number that
   * moved to another person); `aliases` are still erased whole.
   */
  eraseSubject(pseudonym: string, aliases: string[], holder?: HolderSpan): Promise<Record<string, number>>;

  expiredPending(now: number, limit: number): Promise<ConsentRow[]>;
  /** Subjects with personal data but no given or pending consent and no change since `cutoff`. */
  inactiveSubjects(cutoff: number, limit: number): Promise<string[]>;
  removePersonalData(pseudonym: string): Promise<number>;
  /**
   * Clears the encrypted message ids and texts (and source) of records that ended before `cutoff`, whoever they
   * belong to: a person with another consent still standing, or a key with no subject record at all.
   */
  stripEndedProof(cutoff: number, limit: number): Promise<number>;
  /**
   * Deletes ended records and history whose proof period is over, except the objections (refused, withdrawn) to the
   * purposes in `objectionsOf` and to every purpose registered without consent as its basis (purpose_versions): those
   * that need no consent, where the objection is what forbids.
   */
  deleteEndedProof(now: number, limit: number, objectionsOf?: readonly string[]): Promise<number>;
  deleteOldNotices(cutoff: number, limit: number): Promise<number>;
  /** Deletes wordings no record or history row refers to any more, `limit` at most. */
  deleteUnusedWordings(limit: number): Promise<number>;
  /**
   * The last of the events older than `cutoff` at the start of the chain (at most `limit` of them): the prefix
   * purgeAuditThrough may remove. Undefined when the first event is younger.
   */
  auditPrefixBefore(cutoff: number, limit: number): Promise<AuditAnchor | undefined>;
  /**
   * The events through `seq` with one of `actions` about a record that still stands, in chain order, each with that
   * record's status: a given consent, or an objection (refused, withdrawn) to a purpose in `objectionsOf` or registered
   * without consent as its basis (purpose_versions). Only events from the record's first one on: those of an earlier
   * record of the same person and purpose, which ended, are not its proof.
   */
  standingProofThrough(
    seq: number,
    actions: readonly string[],
    objectionsOf: readonly string[],
  ): Promise<{ event: AuditRecord; status: string }[]>;
  /** Removes the chain's events through `end` and makes it the anchor. */
  purgeAuditThrough(end: AuditAnchor): Promise<number>;
  deleteExpiredDedupe(now: number, limit: number): Promise<number>;

  /**
   * Records each mark's use on its consent when that consent was given and already in place at the use: a use
   * flushed after a withdrawal or a new sign-up is not stamped on a record it did not rely on.
   */
  touchUsage(marks: UsageMark[], retainForMs: number): Promise<void>;
  /** True when `key` was not yet seen (or its mark expired): the mark is stored before it resolves. */
  markSeen(key: string, expiresAt: number, now: number): Promise<boolean>;
  /** Claims `key` until `leaseUntil` unless an unexpired mark exists: 'done' or 'in-progress' then. */
  claimDedupe(key: string, leaseUntil: number, now: number): Promise<'claimed' | 'done' | 'in-progress'>;
  /** Marks `key` done until `expiresAt`, whether or not a claim is still there. */
  completeDedupe(key: string, expiresAt: number): Promise<void>;
  /** Whether an unexpired mark (claimed or completed) is held for `key`. */
  hasDedupeMark(key: string, now: number): Promise<boolean>;
  /** Drops the claim on `key`; a completed mark stays. */
  /** Drops an uncompleted claim; with `leaseUntil`, only while the claim still has that lease (not taken over). */
  releaseDedupe(key: string, leaseUntil?: number): Promise<void>;

  eventConsumers(): Promise<EventConsumers>;
  insertOutbox(rows: readonly Omit<OutboxRow, 'id'>[]): Promise<void>;
  /**
   * The consumer's cursor, with its lease taken or renewed for `holder` until `heldUntil`; undefined while another
   * holder's lease runs. A new consumer starts after the newest event: it gets what happens from now on.
   */
  takeEventCursor(
    consumer: string,
    holder: string,
    withContact: boolean,
    now: number,
    heldUntil: number,
  ): Promise<number | undefined>;
  outboxAfter(lastId: number, limit: number): Promise<OutboxRow[]>;
  /** The holder was given the events up to `newestId`: it may acknowledge them. */
  noteEventsRead(consumer: string, holder: string, newestId: number): Promise<void>;
  /**
   * Moves the cursor forward to `lastId`, never past the events the holder was given, while `holder` holds it; false
   * when it does not (any more).
   */
  advanceEventCursor(
    consumer: string,
    holder: string,
    lastId: number,
    now: number,
    heldUntil: number,
  ): Promise<boolean>;
  /** Ends `holder`'s lease at once: another copy of the consumer may take over (a redeploy). */
  releaseEventCursor(consumer: string, holder: string): Promise<void>;
  /**
   * Deletes the events every consumer has taken (all of them when there is no consumer); `goneContacts` counts the
   * events among them that still held a number the ledger itself no longer holds, an erasure's or a move's
   * (OUTBOX_SCRUBBED_TYPES): the store is to be scrubbed.
   */
  pruneOutbox(): Promise<{ removed: number; goneContacts: number }>;
  /** Consumers whose lease was last taken before `cutoff`: gone, so they hold no events back. */
  deleteStaleEventCursors(cutoff: number): Promise<number>;
  deleteOldOutbox(cutoff: number, limit: number): Promise<number>;
}

/**
 * One holder's part of a number's records, by the time each was made: after `after`, up to and including `until`.
 * The present holder's part has no `until`: the number's own record and links are hers too. A previous holder's
 * (`until` set) is only the consents, their history and the notices of her time.
 */
export interface HolderSpan {
  after?: number;
  until?: number;
}

export interface WriteOptions {
  /**
   * Serial writes (every audited change) run one at a time across all instances, so the audit chain stays
   * linear and the later of two concurrent changes is the one that stands. Usage marks, inbound times and
   * de-duplication marks do not need it.
   */
  serial?: boolean;
  /**
   * False: resolves once committed (visible to every reader, kept when the process crashes) without waiting
   * for the disk, so a power cut moments later may undo it. For marks whose loss is harmless and repaired by
   * the next webhook (de-duplication claims and marks, inbound times); never for consent or audit changes.
   * Default true.
   */
  waitForDisk?: boolean;
}

export interface LedgerStore {
  readonly backend: 'sqlite' | 'postgres';
  /** e.g. "node:sqlite", "better-sqlite3", "pg". */
  readonly driver: string;
  readonly read: StoreTx;
  write<T>(work: (tx: StoreTx) => Promise<T>, options?: WriteOptions): Promise<T>;
  /**
   * After erasure: make deleted rows unrecoverable from the files (SQLite checkpoint, PostgreSQL VACUUM).
   * `erased` (StoreTx.eraseSubject's counts) limits the work to the tables rows were deleted from; without it,
   * every table with personal data.
   */
  scrub(erased?: Readonly<Record<string, number>>): Promise<void>;
  /** Database-level consistency check (SQLite: PRAGMA integrity_check). */
  integrityCheck(): Promise<string>;
  close(): Promise<void>;
}
