import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { GdprWhatsAppError } from '../errors';
import { PostgresStore } from '../store/postgres';
import { SqliteStore } from '../store/sqlite';
import type { CheckState, ConsentRow, LedgerStore, NoticeFilter, NoticeRow, StoreTx, UsageMark } from '../store/types';
import { ClaimLeases, type ClaimOutcome, DEDUPE_LEASE_MS, type InboundTime, statusDedupeKey } from '../webhook/dedupe';
import { accessInformation } from './access-information';
import {
  type AuditAnchor,
  AuditChainVerifier,
  type AuditExportPage,
  type AuditVerification,
  auditExportLines,
} from './audit-verify';
import { canonicalJson } from './canonical';
import { EventFeed, type FeedPage, type ReadEventsOptions } from './event-feed';
import { CLOCK_MARGIN_MS, IdentityChanges, USER_ID_REPLACED } from './identity-changes';
import {
  type AnswerProofInput,
  COLLECTION_METHODS,
  CONFIRMATION_VIAS,
  type ConfirmConsentInput,
  type GiveConsentInput,
  KEYWORD_MAX_LENGTH,
  type LinkUserIdInput,
  type LinkUserIdOutcome,
  type NumberChangeInput,
  type RefuseConsentInput,
  type RequestConsentInput,
  WITHDRAWAL_CHANNELS,
  type WithdrawConsentInput,
} from './inputs';
import { FieldCipher, Pseudonymiser, validateKeys } from './keys';
import { LedgerWrites, MOVED_AWAY_OPT_OUT, NUMBER_CHANGED, type RunChange } from './ledger-writes';
import {
  MAX_UNANSWERED_REQUESTS,
  OPTED_OUT_REQUEST_PAUSE_MS,
  REQUEST_SENT,
  REQUEST_UNDELIVERED,
  TYPED_IN_METHODS,
  UNANSWERED_REQUESTS_MS,
} from './opt-out-history';
import { definePurposes, effectiveBasis, isPurposeId, type PurposeDefinition, sha256Hex } from './purposes';
import { LedgerRecords, ledgerEvent } from './records';
import { type RemovedPurpose, RetentionSweep, removedPurposeWarning, SWEEP_ACTION } from './retention-sweep';
import {
  ACTIVE_STATUSES,
  CONFIRM_BUTTON_PREFIX,
  evaluateCheck,
  isLivePending,
  MOVED_AWAY_EXPIRY,
  mayAnswerRequest,
  quotedRequest,
  REPLY_CLOCK_MARGIN_MS,
  requestedAfterReply,
  sentFromOtherNumber,
  wroteBetween,
} from './rules';
import { SubjectRights } from './subject-rights';
import { type IdentifiedSubject, SubjectResolver } from './subjects';
import type {
  CheckResult,
  ConsentRecord,
  ConsentStatus,
  EraseOptions,
  EraseReport,
  ExportOptions,
  LedgerEvent,
  LedgerOptions,
  RetentionSettings,
  SubjectExport,
  SubjectInput,
  SweepReport,
} from './types';
import {
  oneOf,
  optionalLanguage,
  optionalRequestedBy,
  optionalText,
  optionalTime,
  positiveMs,
  requireActor,
  requireWording,
} from './validate';

export type {
  ConfirmConsentInput,
  GiveConsentInput,
  RefuseConsentInput,
  RequestConsentInput,
  WithdrawConsentInput,
} from './inputs';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const DEFAULT_RETENTION: RetentionSettings = {
  pendingExpiryMs: 48 * HOUR,
  personalDataMs: 30 * DAY,
  // Years of 365.25 days, as the consent-store node counts them.
  proofRetentionMs: 5 * 365.25 * DAY,
  dedupeTtlMs: 8 * DAY,
  sweepBatchSize: 2000,
};

/** Audit events per exportAuditPage, and the most one page may ask for. */
const AUDIT_EXPORT_PAGE = 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How often a running store tells the database which purposes it has configured (see RetentionSweep). */
const PURPOSE_PRESENCE_MS = HOUR;
/** The first sweep after a start waits this long at least (a tenth of a shorter interval): starting stays quick. */
const FIRST_SWEEP_FLOOR_MS = 60_000;
const AUDIT_EXPORT_PAGE_MAX = 10_000;

/** What identify() answers for a webhook sender that can open no customer service window. */
const UNUSABLE_SENDER_CODES = new Set(['invalid-phone', 'invalid-subject']);

/**
 * A request is a WhatsApp message to the number, and anyone may type a number into a web form: within this time
 * of the last request the pending one stands and nothing is sent again, and no number is asked more often than
 * MAX_REQUESTS_PER_DAY times a day for one purpose (nor, typed in, MAX_UNANSWERED_REQUESTS times unanswered).
 */
export const REQUEST_RESEND_MS = 10 * 60_000;
export const MAX_REQUESTS_PER_DAY = 3;
export { MAX_UNANSWERED_REQUESTS, OPTED_OUT_REQUEST_PAUSE_MS, UNANSWERED_REQUESTS_MS };

/** An answer's proof fields (AnswerProofInput), validated. */
interface AnswerProof {
  via?: string;
  match?: string;
  phoneNumberId?: string;
}

function answerProofOf(input: AnswerProofInput): AnswerProof {
  return {
    via: input.via === undefined ? undefined : oneOf(input.via, CONFIRMATION_VIAS, 'via'),
    match: optionalText(input.match, 'match', KEYWORD_MAX_LENGTH),
    phoneNumberId: optionalText(input.phoneNumberId, 'phoneNumberId', 64),
  };
}

/**
 * What the audit event of an answer to a request names (Art. 7(1) GDPR; German courts ask the double opt-in's proof
 * to show which request, sent when and from which number, was answered how): codes, times and business numbers, never
 * the person's number or message text. Null where a record from before schema version 11 does not know.
 */
function answerDetail(row: ConsentRow, answeredTo: string | undefined, answeredAt: number | undefined) {
  return {
    requestId: row.requestId,
    requestedAt: row.requestedAt,
    requestSentAt: row.requestSentAt,
    requestPhoneNumberId: row.requestPhoneNumberId,
    answerPhoneNumberId: answeredTo ?? null,
    via: row.confirmationVia,
    match: row.confirmationMatch,
    answeredAt: answeredAt ?? null,
  };
}

/**
 * A record a new request archives, as the history keeps it. A request asked again before it was answered: ended when
 * it was replaced ('expired' with that time, so that every query reading an unconfirmed request reads it as before)
 * and naming the request that replaced it, so that an access export shows one open request, not two. A YES quoting
 * its message still answers the request asked again (requestAskedAgain).
 */
function archivedBeforeRequest(row: ConsentRow, byRequestId: string, now: number): ConsentRow {
  if (row.status !== 'pending' || !isLivePending(row, now)) return archivedUnanswered(row, now);
  return { ...archivedUnanswered(row, now), replacedByRequestId: byRequestId };
}

/**
 * A record archived while its request was unanswered (a sign-up by keyword or a refusal took its place): ended then,
 * or at its own expiry when it lapsed before the sweep marked it, so that the access export shows no open request.
 */
function archivedUnanswered(row: ConsentRow, now: number): ConsentRow {
  if (row.status !== 'pending') return row;
  return isLivePending(row, now) ? { ...row, status: 'expired', expiresAt: now } : { ...row, status: 'expired' };
}

function hasAnswerProof(answer: AnswerProof): boolean {
  return answer.via !== undefined || answer.match !== undefined || answer.phoneNumberId !== undefined;
}

/**
 * What the audit event of a single-step sign-up names of how it came (as answerDetail does for a confirmation): the
 * keyword matched, when she sent it and the business number it came to; never her number or her words.
 */
function givenDetail(answer: AnswerProof, answeredAt: number | undefined) {
  return {
    answerPhoneNumberId: answer.phoneNumberId ?? null,
    via: answer.via ?? null,
    match: answer.match ?? null,
    answeredAt: answeredAt ?? null,
  };
}

function otherBusinessNumber(): GdprWhatsAppError {
  return new GdprWhatsAppError(
    'other-business-number',
    'The answer came to another business number than the consent request was sent from: nothing was changed',
  );
}

/**
 * The key of the sender's own user id: what she says under it is kept there too, whatever the id leads to (a link
 * to a number's records may go: a move, the retention sweep).
 */
function ownIdKey(subject: IdentifiedSubject): string | undefined {
  return subject.userIdAlias ?? (subject.userIdOnly ? subject.pseudonym : undefined);
}

/**
 * Where the person's opt-outs may be kept: the records the subject resolves to, her user id's own key, and the ids
 * linked to those records (an opt-out under an id counts there from the link on, carried, and stays under the id).
 */
async function keysOf(tx: StoreTx, subject: IdentifiedSubject, p: string): Promise<string[]> {
  const own = [p, subject.pseudonym, subject.userIdAlias].filter((key): key is string => key !== undefined);
  return [...new Set([...own, ...(await tx.aliasesOf(p))])];
}

/** Indexes of `keys` in sorted key order: rows are always locked in this order, whichever delivery came first. */
function lockOrder(keys: readonly string[]): number[] {
  return keys.map((_, i) => i).sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
}

/**
 * When the requests that went out were made, oldest first: of `entries` (consent.requested and REQUEST_UNDELIVERED
 * audit entries), those asked for, less each that whatsapp-send reported it could not send.
 */
function sentRequestTimes(entries: readonly { action: string; at: number; seq: number }[]): number[] {
  const sent: number[] = [];
  for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
    if (entry.action === 'consent.requested') sent.push(entry.at);
    else sent.pop();
  }
  return sent;
}

/** The request made last of `rows`, or undefined. */
function latestRequest(rows: readonly ConsentRow[]): ConsentRow | undefined {
  return rows.reduce<ConsentRow | undefined>(
    (latest, row) => (latest === undefined || (row.requestedAt ?? 0) > (latest.requestedAt ?? 0) ? row : latest),
    undefined,
  );
}

/**
 * The consent ledger (issue 3): the proof a business shows a supervisory authority and the source of
 * truth for every consent check. Emits 'event' (LedgerEvent) after each durable change and 'warning'
 * (Error) when a background flush or sweep fails, and for each purpose out of the settings whose consents
 * the sweep will end (just after open, and when the sweep ends them).
 */
/**
 * What an erasure still forbids answers (LedgerWrites.erasureForbids): 'objected' as the objection's record would,
 * 'moved' as the number's block after a move would; `otherwise` when it forbids nothing.
 */
function afterErasure(
  forbids: 'erased' | 'moved' | 'objected' | undefined,
  def: PurposeDefinition,
  now: number,
  otherwise: CheckResult,
): CheckResult {
  if (forbids === 'erased') return evaluateCheck(def, 'erased', now);
  if (forbids === 'moved') return evaluateCheck(def, { status: 'expired', expiresAt: MOVED_AWAY_EXPIRY }, now);
  return forbids === 'objected' ? evaluateCheck(def, { status: 'withdrawn', expiresAt: null }, now) : otherwise;
}

export class ConsentLedger extends EventEmitter {
  private readonly resolver: SubjectResolver;
  private readonly records: LedgerRecords;
  private readonly writes: LedgerWrites;
  private readonly identity: IdentityChanges;
  private readonly rights: SubjectRights;
  private readonly retentionSweep: RetentionSweep;
  private readonly feed: EventFeed;
  private readonly usage = new Map<string, UsageMark>();
  /** The lease of each claim a webhook delivery took here, so that its release lets go of its own claims only. */
  private readonly claimLeases = new ClaimLeases();
  private usageTimer?: NodeJS.Timeout;
  private presenceTimer?: NodeJS.Timeout;
  private retentionTimer?: NodeJS.Timeout;
  private retentionGeneration = 0;
  private sweeping?: Promise<SweepReport>;
  private closing?: Promise<void>;

  private constructor(
    private readonly store: LedgerStore,
    private readonly purposes: Map<string, PurposeDefinition>,
    private readonly cipher: FieldCipher,
    private readonly pseudonyms: Pseudonymiser,
    readonly retention: RetentionSettings,
    private readonly clock: () => number,
    instanceId: string | undefined,
  ) {
    super();
    this.resolver = new SubjectResolver(pseudonyms);
    this.records = new LedgerRecords(cipher, retention.proofRetentionMs);
    this.writes = new LedgerWrites(this.records, cipher, retention, instanceId, purposes);
    const change: RunChange = (work) => this.change(work);
    this.identity = new IdentityChanges(this.writes, this.resolver, purposes, change);
    this.rights = new SubjectRights(
      this.writes,
      this.records,
      cipher,
      this.resolver,
      store,
      change,
      (keys) => this.forgetUsage(keys),
      // A fresh copy each time: a caller adding its own recipients changes only its own document.
      () => accessInformation(purposes, retention),
      (tx, p, sentAt) => this.identity.lateOptOutHome(tx, p, sentAt),
    );
    this.retentionSweep = new RetentionSweep(store, this.writes, retention, clock, change, purposes, (err) =>
      this.emit('warning', err),
    );
    this.feed = new EventFeed(store, cipher, clock, (err) => this.emit('warning', err));
  }

  static async open(options: LedgerOptions): Promise<ConsentLedger> {
    if (!options || typeof options !== 'object') {
      throw new GdprWhatsAppError('invalid-input', 'The consent store options are missing');
    }
    validateKeys(options.encryptionKeys, options.pseudonymKey);
    const purposes = definePurposes(options.purposes);
    const retention = resolveRetention(options.retention);
    const clock = options.clock ?? Date.now;
    const usageFlushMs = positiveMs(options.usageFlushMs, 'usageFlushMs', 5000);
    const presenceMs = positiveMs(options.purposePresenceMs, 'purposePresenceMs', PURPOSE_PRESENCE_MS);
    const instanceId = optionalText(options.instanceId, 'instanceId', 100);
    let ledger: ConsentLedger | undefined;
    const store = await openStore(options, clock, (err) => ledger?.emit('warning', err));
    ledger = new ConsentLedger(
      store,
      purposes,
      new FieldCipher(options.encryptionKeys),
      new Pseudonymiser(options.pseudonymKey),
      retention,
      clock,
      instanceId,
    );
    return ledger.start(usageFlushMs, presenceMs);
  }

  private async start(usageFlushMs: number, presenceMs: number): Promise<ConsentLedger> {
    let removed: RemovedPurpose[];
    try {
      await this.checkKeys();
      await this.registerPurposeVersions();
      removed = await this.retentionSweep.noteRemovedPurposes();
    } catch (err) {
      await this.store.close();
      throw err;
    }
    // Storage limitation (Art. 5(1)(e) GDPR): the sweep ends these consents after the grace; the integrator who took
    // the purpose out by mistake hears of it at every start. After open() has answered, so that a listener added
    // then (the consent-store node, the ledger's thread) hears it.
    if (removed.length > 0) {
      const now = this.clock();
      setImmediate(() => {
        for (const purpose of removed) this.emit('warning', removedPurposeWarning(purpose, now));
      });
    }
    this.usageTimer = setInterval(() => {
      this.flushUsage().catch((err) => this.warnUnlessReported(err));
    }, usageFlushMs);
    this.usageTimer.unref();
    // Another store on the database may sweep only weekly: this store's purposes must not look removed to it.
    this.presenceTimer = setInterval(() => {
      this.retentionSweep.noteRemovedPurposes().catch((err) => this.warnUnlessReported(err));
    }, presenceMs);
    this.presenceTimer.unref();
    return this;
  }

  /**
   * The database keeps a keyed check of the pseudonym key it was filled under. Opened with another key (credentials
   * lost when Node-RED moved, a second store on the same file with keys of its own), every lookup would find nobody:
   * each objection and erasure would silently stop counting, and people who said STOP would get messages again.
   */
  private async checkKeys(): Promise<void> {
    const mine = this.pseudonyms.keyCheck();
    const kept = await this.store.write((tx) => tx.keepKeyCheck(mine));
    if (kept !== mine) {
      throw new GdprWhatsAppError(
        'store-keys-mismatch',
        'The consent store database was filled under another pseudonym key: opened with this one, it would find nobody',
      );
    }
  }

  /** "sqlite (node:sqlite)", "sqlite (better-sqlite3)" or "postgres (pg)", for the node's status. */
  get backendDescription(): string {
    return `${this.store.backend} (${this.store.driver})`;
  }

  purposeIds(): string[] {
    return [...this.purposes.keys()];
  }

  purpose(id: string): PurposeDefinition | undefined {
    return this.purposes.get(id);
  }

  /** Each configured wording is kept once per version, so old consents can be shown with their text. */
  private async registerPurposeVersions(): Promise<void> {
    const now = this.clock();
    await this.store.write(async (tx) => {
      for (const def of this.purposes.values()) {
        await tx.putPurposeVersion({
          purpose: def.id,
          version: def.version,
          label: def.label,
          wording: canonicalJson(def.wording),
          lawfulBasis: def.lawfulBasis,
          marketing: def.marketing,
          createdAt: now,
        });
      }
    });
  }

  // ---------------------------------------------------------------- consent changes

  async requestConsent(input: RequestConsentInput): Promise<ConsentRecord> {
    const def = this.requirePurpose(input?.purpose);
    const wording = requireWording(input.wording);
    const method = oneOf(input.method, COLLECTION_METHODS, 'method');
    const actor = requireActor(input.actor);
    const language = optionalLanguage(input.language);
    const noticeVersion = optionalText(input.noticeVersion, 'noticeVersion', 128);
    const source = optionalText(input.source, 'source', 2048);
    const messageId = optionalText(input.requestMessageId, 'requestMessageId', 256);
    const ttl = positiveMs(input.expiresInMs, 'expiresInMs', this.retention.pendingExpiryMs);
    const inboundAt = optionalTime(input.inboundAt, 'inboundAt');
    const subject = this.resolver.identify(input.subject);
    return this.change(async (tx, now, events) => {
      // Under her number when her user id is linked to it, as giveConsent and confirmConsent read it.
      const p = await this.writes.pseudonymOf(tx, subject);
      if (inboundAt !== undefined) await this.refuseLateMessage(tx, subject, p, def, inboundAt);
      const existing = await tx.getConsent(p, def.id);
      // A consent under an earlier wording still counts (checks accept every version), and a request must not end it
      // until it is confirmed: a stranger typing her number into the form would otherwise take her consent away.
      if (existing?.status === 'given') return this.records.toRecord(existing);
      if (existing && isLivePending(existing, now) && now - (existing.requestedAt ?? 0) < REQUEST_RESEND_MS) {
        throw new GdprWhatsAppError('request-pending', 'A confirmation request was sent to this number minutes ago');
      }
      const keys = TYPED_IN_METHODS.has(method) ? await keysOf(tx, subject, p) : undefined;
      const wait = keys && (await this.writes.typedInRequestWait(tx, keys, def.id, now));
      if (wait === 'recently-opted-out') {
        throw new GdprWhatsAppError(
          'recently-opted-out',
          'This number opted out or was erased recently, and was asked since',
          { days: OPTED_OUT_REQUEST_PAUSE_MS / DAY },
        );
      }
      const today = (await tx.listAudit(p, ['consent.requested', REQUEST_UNDELIVERED])).filter(
        (e) => e.purpose === def.id && e.at > now - DAY,
      );
      const sentToday = sentRequestTimes(today);
      // Whatever became of it since (a STOP, a no): a stranger at the form must not send the next one at once.
      const lastSent = sentToday.at(-1);
      if (keys && lastSent !== undefined && now - lastSent < REQUEST_RESEND_MS) {
        throw new GdprWhatsAppError('recently-requested', 'A confirmation request went to this number minutes ago', {
          minutes: REQUEST_RESEND_MS / 60_000,
        });
      }
      if (sentToday.length >= MAX_REQUESTS_PER_DAY) {
        throw new GdprWhatsAppError('too-many-requests', 'This number was asked for this consent too often today', {
          max: MAX_REQUESTS_PER_DAY,
        });
      }
      // Checked after the day's limit: while both apply, that one's answer is the more specific.
      if (wait === 'unanswered-requests') {
        throw new GdprWhatsAppError(
          'unanswered-requests',
          'This number was asked for this consent several times lately and answered none of the requests',
          { max: MAX_UNANSWERED_REQUESTS, days: UNANSWERED_REQUESTS_MS / DAY },
        );
      }
      // Random, not derived from the person or the time: it names this request in the audit log and nothing else.
      const requestId = randomUUID();
      const replaces = existing && isLivePending(existing, now) ? existing : undefined;
      if (existing) await tx.archiveConsent(archivedBeforeRequest(existing, requestId, now), now);
      const row: ConsentRow = {
        ...this.records.blankConsent(p, def, wording, now, actor),
        status: 'pending',
        expiresAt: now + ttl,
        language: language ?? null,
        noticeVersion: noticeVersion ?? null,
        method,
        sourceEnc: this.cipher.encryptOptional(source, 'source', p),
        requestedAt: now,
        requestMessageIdEnc: this.cipher.encryptOptional(messageId, 'request_message_id', p),
        requestId,
        requestInboundAt: inboundAt ?? null,
      };
      await this.writes.saveIdentity(tx, subject, now, events, actor);
      return this.writes.storeConsent(tx, now, events, row, subject, 'consent.requested', {
        purposeVersion: def.version,
        wordingSha256: row.wordingSha256,
        method,
        expiresAt: row.expiresAt,
        requestId: row.requestId,
        ...(replaces ? { replacesRequestId: replaces.requestId } : {}),
      });
    });
  }

  /**
   * The confirmation request could not be sent (whatsapp-send failed): the pending request ends as expired, so that
   * the person may ask again at once and the failed one counts against no limit (REQUEST_RESEND_MS).
   */
  async requestNotDelivered(
    subject: SubjectInput,
    purpose: string,
    options: { actor: string; requestedAt?: number },
  ): Promise<void> {
    const def = this.requirePurpose(purpose);
    const actor = requireActor(options?.actor);
    // The failed message's request only: one asked since went out as a message of its own and may have arrived.
    const requestedAt = optionalTime(options.requestedAt, 'requestedAt');
    const identified = this.resolver.identify(subject);
    await this.change(async (tx, now, events) => {
      const p = await this.writes.pseudonymOf(tx, identified);
      const row = await tx.getConsent(p, def.id);
      if (!row || !isLivePending(row, now)) return;
      if (requestedAt !== undefined && row.requestedAt !== requestedAt) return;
      await this.endUndelivered(tx, [row], now, actor, events);
    });
  }

  /**
   * The confirmation request made at `requestedAt` still waits for her answer: not answered, ended by a STOP, erased
   * with her data, expired or replaced by a request asked since. whatsapp-send asks right before the request leaves
   * its queue, so that a person who was erased or said STOP meanwhile gets no request, and she never gets one whose
   * button would confirm nothing.
   */
  async isRequestOpen(subject: SubjectInput, purpose: string, requestedAt: number): Promise<boolean> {
    const def = this.requirePurpose(purpose);
    const at = optionalTime(requestedAt, 'requestedAt');
    if (at === undefined) return false;
    const identified = this.resolver.identify(subject);
    const p = await this.writes.pseudonymOf(this.store.read, identified);
    const row = await this.store.read.getConsent(p, def.id);
    return row !== undefined && isLivePending(row, this.clock()) && row.requestedAt === at;
  }

  /** Requests that never reached the person end, and do not count against her daily requests (requestConsent). */
  private async endUndelivered(
    tx: StoreTx,
    rows: readonly ConsentRow[],
    now: number,
    actor: string,
    events: LedgerEvent[],
    detail?: Record<string, unknown>,
  ): Promise<void> {
    await this.writes.expireAll(tx, rows, now, actor, events);
    for (const row of rows) {
      await this.writes.audit(tx, now, {
        action: REQUEST_UNDELIVERED,
        actor,
        pseudonym: row.pseudonym,
        purpose: row.purpose,
        outcome: 'undelivered',
        ...(detail ? { detail } : {}),
      });
    }
  }

  /**
   * The confirmation request made at `requestedAt` went out as message `messageId` (whatsapp-send, once Meta accepted
   * it). Kept encrypted with the request, like the other message ids: a quoted reply to it then confirms it, and one
   * quoting another message does not (confirmConsent). Only that request is named: one made since (the person asked
   * again while this one waited to be sent) went out as a message of its own. Answers whether it was recorded.
   * When it was sent, and from which business number (`phoneNumberId`, Meta's phone number id), is kept with it: an
   * answer that comes to another business number is no answer to it (confirmConsent, refuseConsent).
   */
  async requestSent(
    subject: SubjectInput,
    purpose: string,
    messageId: string,
    options: { requestedAt: number; actor: string; phoneNumberId?: string },
  ): Promise<boolean> {
    const def = this.requirePurpose(purpose);
    const actor = requireActor(options?.actor);
    const requestedAt = optionalTime(options.requestedAt, 'requestedAt');
    const phoneNumberId = optionalText(options.phoneNumberId, 'phoneNumberId', 64);
    const id = optionalText(messageId, 'messageId', 256);
    if (!id || requestedAt === undefined) {
      throw new GdprWhatsAppError('invalid-input', 'The message id and the time of the request are required', {
        field: id ? 'requestedAt' : 'messageId',
      });
    }
    const identified = this.resolver.identify(subject);
    return this.change(async (tx, now) => {
      const p = await this.writes.pseudonymOf(tx, identified);
      const row = await tx.getConsent(p, def.id);
      if (!row || !isLivePending(row, now) || row.requestedAt !== requestedAt || row.requestMessageIdEnc !== null) {
        return false;
      }
      const requestMessageIdEnc = this.cipher.encrypt(id, 'request_message_id', p);
      // The request's actor (opt-in-flow) stays: the proof names who asked, not who carried the message.
      await tx.putConsent({
        ...row,
        requestMessageIdEnc,
        requestSentAt: now,
        requestPhoneNumberId: phoneNumberId ?? null,
        updatedAt: now,
      });
      // In the chain too: a request that is never answered is still proof of what was sent and when (and counts
      // among the messages she got), and its record is archived or deleted in time. The message id stays encrypted.
      await this.writes.audit(tx, now, {
        action: REQUEST_SENT,
        actor,
        pseudonym: p,
        purpose: def.id,
        outcome: 'sent',
        detail: { requestId: row.requestId, ...(phoneNumberId ? { phoneNumberId } : {}) },
      });
      return true;
    });
  }

  async confirmConsent(input: ConfirmConsentInput): Promise<ConsentRecord> {
    const purpose = input?.purpose === undefined ? undefined : this.requirePurpose(input.purpose).id;
    const text = optionalText(input.confirmationText, 'confirmationText', 4096);
    if (!text) throw new GdprWhatsAppError('missing-confirmation', 'The confirmation reply is required as proof');
    const messageId = optionalText(input.confirmationMessageId, 'confirmationMessageId', 256);
    const sentAt = optionalTime(input.sentAt, 'sentAt');
    const inReplyTo = optionalText(input.inReplyTo, 'inReplyTo', 256);
    const answer = answerProofOf(input);
    const actor = requireActor(input.actor);
    const subject = this.resolver.identify(input.subject);
    const outcome = await this.change(async (tx, now, events) => {
      const p = await this.writes.pseudonymOf(tx, subject);
      const all = await tx.listConsents(p);
      const rows = all.filter((row) => !sentFromOtherNumber(row.requestPhoneNumberId, answer.phoneNumberId));
      // Nothing to answer here, but a request of the purpose waits for an answer at another business number.
      const otherNumber = () =>
        all.some((row) => row.status === 'pending' && rows.indexOf(row) < 0 && (!purpose || row.purpose === purpose));
      const messageIdOf = (row: ConsentRow) => this.records.requestMessageId(row);
      // It quotes a request that went from another business number: it answers that one, there, and nothing here.
      // A request here whose message id is not on record (a quote cannot be told apart from it) must not take it.
      const quotedElsewhere = quotedRequest(all, inReplyTo, messageIdOf);
      if (quotedElsewhere && !rows.includes(quotedElsewhere)) return { error: 'other-business-number' as const };
      const quoted =
        quotedRequest(rows, inReplyTo, messageIdOf) ??
        (await this.requestAskedAgain(tx, p, rows, inReplyTo, answer.phoneNumberId));
      if (quoted === 'other-business-number') return { error: quoted };
      // A reply quoting the request for another purpose answers that one, not the purpose named here.
      if (quoted && purpose && quoted.purpose !== purpose) return { error: 'quotes-other-message' as const };
      const candidates = quoted ? [quoted] : rows.filter((row) => !purpose || row.purpose === purpose);
      const answerable = (row: ConsentRow) => row === quoted || mayAnswerRequest(messageIdOf(row), inReplyTo);
      const pending = candidates.filter((row) => row.status === 'pending');
      // A reply soon after the request expired gets the same answer whether or not the sweep marked it expired.
      const lately = (row: ConsentRow) =>
        row.status === 'expired' && row.expiresAt !== null && now - row.expiresAt < this.retention.pendingExpiryMs;
      if (pending.length === 0) {
        const expired = latestRequest(candidates.filter((row) => lately(row) && answerable(row)));
        if (expired) return { error: 'request-expired' as const, expired };
        return { error: otherNumber() ? ('other-business-number' as const) : ('no-pending-request' as const) };
      }
      await this.writes.expireAll(
        tx,
        pending.filter((r) => !isLivePending(r, now)),
        now,
        actor,
        events,
      );
      // A bare "YES" answers the confirmation message sent last before it.
      const live = pending
        .filter((r) => isLivePending(r, now))
        .sort((a, b) => (b.requestedAt ?? 0) - (a.requestedAt ?? 0));
      if (live.length === 0) {
        const expired = latestRequest(pending.filter(answerable));
        return expired ? { error: 'request-expired' as const, expired } : { error: 'no-pending-request' as const };
      }
      const request =
        (sentAt === undefined ? undefined : live.find((r) => !requestedAfterReply(r.requestedAt, sentAt))) ?? live[0];
      if (!answerable(request)) return { error: 'quotes-other-message' as const };
      if (sentAt !== undefined && (await this.isStaleReply(tx, await keysOf(tx, subject, p), request, sentAt))) {
        return { error: 'stale-reply' as const };
      }
      if (
        sentAt !== undefined &&
        request !== quoted &&
        (await this.wroteSinceRequest(tx, p, request, answer, sentAt))
      ) {
        return { error: 'unclear-reply' as const, unclear: request };
      }
      const row: ConsentRow = {
        ...request,
        status: 'given',
        expiresAt: null,
        decidedAt: now,
        confirmationMessageIdEnc: this.cipher.encryptOptional(messageId, 'confirmation_message_id', p),
        confirmationTextEnc: this.cipher.encrypt(text, 'confirmation_text', p),
        confirmationVia: answer.via ?? null,
        confirmationMatch: answer.match ?? null,
        retainUntil: now + this.retention.proofRetentionMs,
        updatedAt: now,
        actor,
      };
      await this.writes.saveIdentity(tx, { ...subject, pseudonym: p }, now, events, actor);
      const detail = {
        purposeVersion: row.purposeVersion,
        wordingSha256: row.wordingSha256,
        ...answerDetail(row, answer.phoneNumberId, sentAt),
      };
      return { record: await this.writes.storeConsent(tx, now, events, row, subject, 'consent.confirmed', detail) };
    });
    if (outcome.error === 'no-pending-request') {
      throw new GdprWhatsAppError('no-pending-request', 'There is no pending consent request to confirm');
    }
    if (outcome.error === 'other-business-number') throw otherBusinessNumber();
    if (outcome.error === 'stale-reply') {
      throw new GdprWhatsAppError('stale-reply', 'The reply was sent before the request or before an opt-out');
    }
    if (outcome.error === 'unclear-reply') {
      const { purpose: unclearPurpose, language } = outcome.unclear;
      throw new GdprWhatsAppError(
        'unclear-reply',
        'She wrote another message after the request: the reply may answer that',
        {
          purpose: unclearPurpose,
          ...(language ? { language } : {}),
        },
      );
    }
    if (outcome.error === 'request-expired') {
      // Which request, and the language it was made in: the answer is given in hers, not guessed from the number.
      const { purpose: expiredPurpose, language } = outcome.expired;
      throw new GdprWhatsAppError('request-expired', 'The consent request has expired; a new request is needed', {
        purpose: expiredPurpose,
        ...(language ? { language } : {}),
      });
    }
    if (outcome.error === 'quotes-other-message') {
      throw new GdprWhatsAppError('quotes-other-message', 'The reply quotes another message than the consent request');
    }
    return outcome.record as ConsentRecord;
  }

  /**
   * A reply that does not quote the request, written after she (may have) sent another message since the request
   * went: it may answer what the business asked about that message. opt-in-flow's own button is tapped in the
   * request's message; a link is followed from it.
   */
  private async wroteSinceRequest(
    tx: StoreTx,
    p: string,
    request: ConsentRow,
    answer: AnswerProof,
    sentAt: number,
  ): Promise<boolean> {
    if (answer.via === 'link') return false;
    if (answer.via === 'button' && answer.match?.startsWith(CONFIRM_BUTTON_PREFIX)) return false;
    // From when the request was made, not when whatsapp-send recorded it sent: that is written after Meta accepted the
    // message, and she may have read and answered it before (a queue or a slow store only widens the span).
    const madeAt = request.requestedAt ?? request.requestSentAt;
    if (madeAt === null) return false;
    const hers = request.method === 'keyword' || request.method === 'button';
    // A request her own message made (a keyword or button of the integrator's flow): with that message's time, any
    // message of hers from the next second on came after it, all in Meta's clock; without it (a record from before, an
    // API call without inboundAt), her message may carry a Meta time a little after the request was made. A form's or
    // staff's request follows no message of hers.
    const since = !hers
      ? madeAt
      : request.requestInboundAt !== null
        ? request.requestInboundAt + 1000
        : madeAt + REPLY_CLOCK_MARGIN_MS;
    const her = await tx.getSubject(p);
    return wroteBetween(since, { last: her?.lastInboundAt, previous: her?.previousInboundAt }, sentAt);
  }

  /**
   * A reply that answers no request on record: sent before it (a late redelivery of an answer to an earlier request),
   * or before the person's latest opt-out of its purpose.
   */
  private async isStaleReply(tx: StoreTx, keys: readonly string[], request: ConsentRow, sentAt: number) {
    if (requestedAfterReply(request.requestedAt, sentAt)) return true;
    const def = this.purposes.get(request.purpose);
    return def !== undefined && (await this.writes.optedOutSince(tx, keys, def, sentAt));
  }

  async giveConsent(input: GiveConsentInput): Promise<ConsentRecord> {
    const def = this.requirePurpose(input?.purpose);
    const wording = requireWording(input.wording);
    const method = oneOf(input.method, COLLECTION_METHODS, 'method');
    const actor = requireActor(input.actor);
    const language = optionalLanguage(input.language);
    const noticeVersion = optionalText(input.noticeVersion, 'noticeVersion', 128);
    const source = optionalText(input.source, 'source', 2048);
    const messageId = optionalText(input.messageId, 'messageId', 256);
    const text = optionalText(input.text, 'text', 4096);
    const inboundAt = optionalTime(input.inboundAt, 'inboundAt');
    const answer = answerProofOf(input);
    const subject = this.resolver.identify(input.subject);
    return this.change(async (tx, now, events) => {
      const p = await this.writes.pseudonymOf(tx, subject);
      if (inboundAt !== undefined) await this.refuseLateMessage(tx, subject, p, def, inboundAt);
      const existing = await tx.getConsent(p, def.id);
      const sameProof = existing?.status === 'given' && existing.wordingSha256 === sha256Hex(wording);
      if (sameProof && existing.purposeVersion === def.version) return this.records.toRecord(existing);
      if (existing) await tx.archiveConsent(archivedUnanswered(existing, now), now);
      const row: ConsentRow = {
        ...this.records.blankConsent(p, def, wording, now, actor),
        status: 'given',
        language: language ?? null,
        noticeVersion: noticeVersion ?? null,
        method,
        sourceEnc: this.cipher.encryptOptional(source, 'source', p),
        decidedAt: now,
        confirmationMessageIdEnc: this.cipher.encryptOptional(messageId, 'confirmation_message_id', p),
        confirmationTextEnc: this.cipher.encryptOptional(text, 'confirmation_text', p),
        // Her keyword was request and answer in one: the business number it came to is the one she was asked at.
        requestPhoneNumberId: answer.phoneNumberId ?? null,
        confirmationVia: answer.via ?? null,
        confirmationMatch: answer.match ?? null,
      };
      await this.writes.saveIdentity(tx, { ...subject, pseudonym: p }, now, events, actor);
      // A request still waiting for her answer ends with this sign-up: named, as a request asked again names the one
      // it replaced, so that the chain tells why it never got an answer.
      const replaced = existing?.status === 'pending' && isLivePending(existing, now) ? existing.requestId : null;
      const detail = {
        purposeVersion: def.version,
        wordingSha256: row.wordingSha256,
        method,
        ...(hasAnswerProof(answer) ? givenDetail(answer, inboundAt) : {}),
        ...(replaced ? { replacesRequestId: replaced } : {}),
      };
      return this.writes.storeConsent(tx, now, events, row, subject, 'consent.given', detail);
    });
  }

  /**
   * Her message, sent before the number moved to someone else or before her latest opt-out and delivered after, asks
   * for nothing: refused as `number-changed` or `superseded`.
   */
  private async refuseLateMessage(
    tx: StoreTx,
    subject: ReturnType<SubjectResolver['identify']>,
    p: string,
    def: PurposeDefinition,
    sentAt: number,
  ): Promise<void> {
    if (await this.identity.movedAwaySince(tx, p, sentAt)) {
      throw new GdprWhatsAppError('number-changed', 'The number changed hands after this message was sent');
    }
    if (await this.writes.optedOutSince(tx, await keysOf(tx, subject, p), def, sentAt)) {
      throw new GdprWhatsAppError('superseded', 'The person opted out after sending this message');
    }
  }

  async refuseConsent(input: RefuseConsentInput): Promise<ConsentRecord> {
    const def = this.requirePurpose(input?.purpose);
    const wording = input.wording === undefined ? undefined : requireWording(input.wording);
    const method = input.method === undefined ? undefined : oneOf(input.method, COLLECTION_METHODS, 'method');
    const actor = requireActor(input.actor);
    const language = optionalLanguage(input.language);
    const source = optionalText(input.source, 'source', 2048);
    const messageId = optionalText(input.messageId, 'messageId', 256);
    const text = optionalText(input.text, 'text', 4096);
    const sentAt = optionalTime(input.sentAt, 'sentAt');
    const inReplyTo = optionalText(input.inReplyTo, 'inReplyTo', 256);
    const answer = answerProofOf(input);
    const subject = this.resolver.identify(input.subject);
    const outcome = await this.change(async (tx, now, events) => {
      const p = await this.writes.pseudonymOf(tx, subject);
      const existing = await tx.getConsent(p, def.id);
      const answersRequest = existing !== undefined && isLivePending(existing, now);
      // A no at another business number than the request went from is not her answer to it, nor a refusal to record
      // beside it: the request waits for her answer where it was asked.
      if (answersRequest && sentFromOtherNumber(existing.requestPhoneNumberId, answer.phoneNumberId)) {
        return { error: 'other-business-number' as const };
      }
      if (
        answersRequest &&
        sentAt !== undefined &&
        (inReplyTo === undefined || inReplyTo !== this.records.requestMessageId(existing)) &&
        (await this.wroteSinceRequest(tx, p, existing, answer, sentAt))
      ) {
        return { error: 'unclear-reply' as const };
      }
      let row: ConsentRow;
      if (existing && answersRequest) {
        row = { ...existing, expiresAt: null };
      } else {
        if (!wording) return { error: 'missing-wording' as const };
        if (existing) await tx.archiveConsent(archivedUnanswered(existing, now), now);
        row = {
          ...this.records.blankConsent(p, def, wording, now, actor),
          language: language ?? null,
          method: method ?? 'agent',
          sourceEnc: this.cipher.encryptOptional(source, 'source', p),
        };
      }
      row = {
        ...row,
        status: 'refused',
        decidedAt: now,
        confirmationMessageIdEnc: this.cipher.encryptOptional(messageId, 'confirmation_message_id', p),
        confirmationTextEnc: this.cipher.encryptOptional(text, 'confirmation_text', p),
        confirmationVia: answer.via ?? null,
        confirmationMatch: answer.match ?? null,
        retainUntil: now + this.retention.proofRetentionMs,
        updatedAt: now,
        actor,
      };
      const detail = {
        purposeVersion: row.purposeVersion,
        wordingSha256: row.wordingSha256,
        ...(answersRequest ? answerDetail(row, answer.phoneNumberId, sentAt) : {}),
      };
      const record = await this.writes.storeConsent(tx, now, events, row, subject, 'consent.refused', detail);
      // As a STOP's does, the refusal also answers to the person's user ids: a send by an id alone reads the id's own
      // key once no link leads it to the number (never made, or swept).
      for (const key of await this.userIdKeys(tx, p, subject)) {
        await this.writes.withdrawIn(tx, now, events, key, subject, [def], {
          channel: 'api',
          actor,
          auditNothing: false,
        });
      }
      return { record };
    });
    if (outcome.error === 'other-business-number') throw otherBusinessNumber();
    if (outcome.error === 'unclear-reply') {
      throw new GdprWhatsAppError(
        'unclear-reply',
        'She wrote another message after the request: the no may answer that',
        {
          purpose: def.id,
        },
      );
    }
    if (!outcome.record) {
      throw new GdprWhatsAppError('missing-wording', 'No request is pending, so the refused wording is required');
    }
    return outcome.record;
  }

  /**
   * Art. 7(3) GDPR: withdrawing must be as easy as giving, and takes effect at once. Resolves only after
   * the change is committed to disk. For purposes that rest on a contract or legitimate interest, an
   * opt-out with nothing on record is stored as an objection (Art. 21), so that those purposes block too.
   */
  async withdrawConsent(input: WithdrawConsentInput): Promise<ConsentRecord[]> {
    const changed = await this.withdraw(input, {});
    // A late opt-out of a person erased before she moved changes nothing: there is nothing to report.
    return changed === 'erased' ? [] : changed;
  }

  /**
   * A STOP's withdrawal: the same as withdrawConsent, but for a subject erased earlier (Art. 17) nothing is written
   * (no personal data comes back) and the answer is 'erased'. One transaction: the check and the withdrawal see the
   * same state, and the check costs no read on the other connection.
   */
  withdrawUnlessErased(input: WithdrawConsentInput): Promise<ConsentRecord[] | 'erased'> {
    return this.withdraw(input, { unlessErased: true });
  }

  private async withdraw(
    input: WithdrawConsentInput,
    options: { unlessErased?: boolean },
  ): Promise<ConsentRecord[] | 'erased'> {
    const channel = oneOf(input?.channel, WITHDRAWAL_CHANNELS, 'channel');
    const actor = requireActor(input.actor);
    if (input.purposes !== undefined && !Array.isArray(input.purposes)) {
      throw new GdprWhatsAppError('invalid-input', 'purposes must be a list of purpose ids', { field: 'purposes' });
    }
    const targets = (input.purposes ?? [...this.purposes.keys()]).map((id) => this.requirePurpose(id));
    const text = optionalText(input.text, 'text', 4096);
    const keyword = optionalText(input.keyword, 'keyword', KEYWORD_MAX_LENGTH);
    const messageId = optionalText(input.messageId, 'messageId', 256);
    const sentAt = optionalTime(input.sentAt, 'sentAt');
    const requestedBy = optionalRequestedBy(input.requestedBy);
    const subject = this.resolver.identify(input.subject);
    return this.change(async (tx, now, events) => {
      const p = await this.writes.pseudonymOf(tx, subject);
      // Sent before the number moved (or the user id was replaced with it) and delivered after: the opt-out of the
      // person who moved, where she is now. A user id names its own person, whatever number it led to since.
      const late =
        sentAt === undefined
          ? undefined
          : subject.userIdOnly
            ? await this.identity.lateOptOutHome(tx, subject.pseudonym, sentAt, USER_ID_REPLACED)
            : await this.identity.lateOptOutHome(tx, p, sentAt);
      const home = late?.movedTo ?? p;
      const fields = {
        channel,
        actor,
        text,
        keyword,
        messageId,
        sentAt,
        requestedBy,
        everyPurpose: input.purposes === undefined,
      };
      let changed: ConsentRecord[] = [];
      let erased: boolean;
      // Her own user id seen with the old number since she left it (a late message of hers, or the id of whoever
      // signed up there since): a consent or request it leads to there is the id's person's (nobody else has her id),
      // and her STOP ends it, whenever it was given, also when the number's holder before the move was erased: what
      // was given since is no erased data coming back. The number itself gets no objection of hers.
      const ownId = ownIdKey(subject);
      let byOwnId: ConsentRecord[] = [];
      if (late !== undefined && ownId !== undefined && (await tx.resolveAlias(ownId)) === p) {
        const ended = await this.runningFrom(tx, p, targets, Number.POSITIVE_INFINITY);
        byOwnId = await this.writes.withdrawIn(tx, now, events, p, subject, ended, { ...fields, everyPurpose: false });
      }
      // What else still runs at the number was given since the move ended its records: by a late START of hers, or by
      // whoever holds the number since. A STOP that may have been sent after it was given (Meta's clock and ours
      // differ by minutes) ends it, whoever of the two wrote it: the safe side, as for any STOP. What was given
      // clearly after the STOP was sent stands: a later wish counts. The number gets no objection either way.
      let givenSince: ConsentRecord[] = [];
      if (late !== undefined && sentAt !== undefined) {
        const ended = await this.runningFrom(tx, p, targets, sentAt + CLOCK_MARGIN_MS);
        if (ended.length > 0) {
          // Whose message it was is not known: the number's records keep that a STOP came and when, not her words or
          // message id, which would tell its next holder of her.
          const since = { ...fields, text: undefined, keyword: undefined, messageId: undefined, everyPurpose: false };
          givenSince = await this.writes.withdrawIn(tx, now, events, p, subject, ended, since);
        }
      }
      if (late?.movedTo !== undefined) {
        erased = await this.writes.erasedAndGone(tx, home);
        changed = await this.identity.forwardLateOptOut(tx, now, events, home, targets, fields);
      } else if (late !== undefined) {
        // She left for a number Meta did not name: nothing at the old number reaches her, and its next holder
        // objected to nothing. Only that her opt-out came is kept there (a START she sent before it is refused);
        // her own user id keeps the rest, below.
        erased = late.erasedBeforeMove;
        await this.writes.markErasedOptOut(tx, now, events, p, targets, fields, MOVED_AWAY_OPT_OUT);
      } else {
        // Erased and never back: nothing may be stored about them again. Signed up again since: their STOP counts.
        erased = options.unlessErased === true && (await this.writes.erasedAndGone(tx, p));
        if (erased) await this.writes.markErasedOptOut(tx, now, events, p, targets, fields);
        else changed = await this.writes.withdrawIn(tx, now, events, p, subject, targets, fields);
      }
      changed.unshift(...byOwnId, ...givenSince);
      // The STOP's own id led to what was given at the number since: its person wrote it and is no erased holder.
      const ownIdGaveSince = byOwnId.length > 0;
      // An erased person's own id, with nothing given since, joins the erasure list instead (a pseudonym, like the
      // number's entry): nothing else is stored about her, and checks and later links by the id answer 'erased'.
      const idErased =
        erased &&
        !ownIdGaveSince &&
        ownId !== undefined &&
        ownId !== home &&
        (await this.writes.hasNoLiveRecord(tx, ownId));
      if (idErased && ownId !== undefined) {
        // Listed as of when she sent the STOP: a START she sent after it is a new sign-up, whenever it arrives.
        if ((await tx.suppressedAt(ownId)) === undefined) await tx.putSuppression(ownId, sentAt ?? now, actor);
        await this.writes.markErasedOptOut(tx, now, events, ownId, targets, fields);
      } else if (ownId !== undefined && ownId !== home && (await this.writes.erasedAndGone(tx, ownId))) {
        // Her id alone was erased, her number never: nothing is stored under the id again, but that her opt-out came
        // is, or a START she sent by the id before it, delivered after it, would sign her up.
        await this.writes.markErasedOptOut(tx, now, events, ownId, targets, fields);
      }
      // After a move the number's linked ids are its next holder's, and her new number had its share above.
      const idOptions = { withOwnId: !idErased, withLinked: late === undefined, skip: home };
      for (const key of await this.userIdKeys(tx, p, subject, idOptions)) {
        // Under the sender's own id an opt-out that found nothing is still recorded: a later new user id of hers
        // carries it over (linkUserId), as it carries what was withdrawn there.
        const auditNothing = key === ownId;
        changed.push(
          ...(await this.writes.withdrawIn(tx, now, events, key, subject, targets, { ...fields, auditNothing })),
        );
      }
      return erased && changed.length === 0 ? ('erased' as const) : changed;
    });
  }

  /** The purposes with a record at `p` still running (given, or a request pending) that began at `latest` or before. */
  private async runningFrom(
    tx: StoreTx,
    p: string,
    targets: readonly PurposeDefinition[],
    latest: number,
  ): Promise<PurposeDefinition[]> {
    const running: PurposeDefinition[] = [];
    for (const def of targets) {
      const row = await tx.getConsent(p, def.id);
      if (!row || !ACTIVE_STATUSES.includes(row.status as ConsentStatus)) continue;
      if ((row.decidedAt ?? row.requestedAt ?? row.updatedAt) <= latest) running.push(def);
    }
    return running;
  }

  /**
   * The user ids' keys an opt-out at `p` must reach as well: the sender's own id (what was kept under it before the
   * number was known, and an objection that must still answer to the id once its link to the number is gone: sweep,
   * move), the key that id is linked to (an id last seen with another number answers for that number's records: the
   * person behind the id opted out), and every id linked to the number. Erased ids with nothing given since are left.
   */
  private async userIdKeys(
    tx: StoreTx,
    p: string,
    subject: IdentifiedSubject,
    { withOwnId = true, withLinked = true, skip = p } = {},
  ): Promise<string[]> {
    const ownId = ownIdKey(subject);
    const linkedTo = ownId === undefined ? undefined : await tx.resolveAlias(ownId);
    const linked = withLinked ? await tx.aliasesOf(p) : [];
    const keys: string[] = [];
    for (const key of new Set([withOwnId ? ownId : undefined, linkedTo, ...linked])) {
      if (key === undefined || key === p || key === skip) continue;
      if (!(await this.writes.erasedAndGone(tx, key))) keys.push(key);
    }
    return keys;
  }

  // ---------------------------------------------------------------- identity changes

  /**
   * Meta reported that the person of `phone` moved to another number, which the provider may give to someone else:
   * what is on record for the number ends, and her own opt-outs follow her to `newPhone` (IdentityChanges).
   */
  async numberChanged(input: NumberChangeInput): Promise<ConsentRecord[] | 'erased'> {
    const changed = await this.identity.numberChanged(input);
    // The move removed the number's personal data: on SQLite none may stay readable in the write-ahead log. Only
    // there: PostgreSQL's scrub vacuums whole tables, too slow for a webhook that waits for this. Best effort: the
    // move is committed, and its retry must not run it twice.
    if (this.store.backend === 'sqlite') await this.store.scrub().catch((err: Error) => this.emit('warning', err));
    return changed;
  }

  /** Meta gave a person a new business-scoped user id: it finds the records kept under the previous one. */
  linkUserId(input: LinkUserIdInput): Promise<LinkUserIdOutcome> {
    return this.identity.linkUserId(input);
  }

  // ---------------------------------------------------------------- checks

  /**
   * The gate's question. Reads committed state only: no cache, so a withdrawal elsewhere counts at once.
   * A number written in E.164 already is looked up before it is parsed (parsing costs more than the
   * lookup): a record under it proves it is the canonical form the full rules would have looked up
   * (lookupCandidate in lib/phone.ts). Finding nothing, the check parses and validates as always.
   */
  async checkConsent(subject: SubjectInput, purpose: string): Promise<CheckResult> {
    const def = typeof purpose === 'string' ? this.purposes.get(purpose) : undefined;
    if (!def) return { allowed: false, status: 'unknown-purpose', reason: 'unknown-purpose' };
    const candidate = this.resolver.lookupCandidate(subject);
    let looked: string | undefined;
    if (candidate !== undefined) {
      looked = this.pseudonyms.forPhone(candidate);
      const read = this.checkState(looked, def.id);
      // SQLite answers synchronously; not awaiting a plain value saves a microtask turn per check.
      const state = read instanceof Promise ? await read : read;
      if (state !== undefined) {
        const result = evaluateCheck(def, state, this.clock());
        if (result.status === 'erased') return this.unlessCameBack(result, looked, def);
        return mayStandInFront(result) ? this.unlessBlockedUnderRequest(result, looked, def) : result;
      }
    }
    const identified = this.resolver.identify(subject);
    let pseudonym = identified.pseudonym;
    if (identified.userIdOnly) pseudonym = (await this.store.read.resolveAlias(pseudonym)) ?? pseudonym;
    const state = pseudonym === looked ? undefined : await this.checkState(pseudonym, def.id);
    const result = evaluateCheck(def, state, this.clock());
    if (result.status === 'erased') return this.unlessCameBack(result, pseudonym, def);
    return mayStandInFront(result) ? this.unlessBlockedUnderRequest(result, pseudonym, def) : result;
  }

  /**
   * An erased person who wrote to the business since, or signed up again, has come back (erasureForbids): a purpose
   * that needs no consent allows again, as for anyone new (her order updates), unless she objected to it before; one
   * that needs consent still needs a new one.
   */
  private async unlessCameBack(result: CheckResult, p: string, def: PurposeDefinition): Promise<CheckResult> {
    if (effectiveBasis(def) === 'consent') return result;
    const forbids = await this.writes.erasureForbids(this.store.read, p, def);
    return afterErasure(forbids, def, this.clock(), evaluateCheck(def, undefined, this.clock()));
  }

  /**
   * A request for a purpose that needs no consent replaces the record before it with a pending one, which the
   * purpose's basis allows, as it allows the expired request that follows. Unconfirmed, it must not lift what that
   * record forbade: the number's block after it passed to someone else (nobody confirmed that the person there now
   * is the one the business deals with), an objection, a refusal or an erasure (anyone can type a number into a
   * form). Read only for the rare allowed pending or expired record (the check's index holds no more).
   */
  private async unlessBlockedUnderRequest(
    result: CheckResult,
    p: string,
    def: PurposeDefinition,
  ): Promise<CheckResult> {
    // Several requests may lie between: none of them was confirmed either.
    const decided = await this.store.read.latestDecidedHistory(p, def.id);
    if (decided === undefined) {
      // An erasure leaves no history behind: only her coming back since (she wrote, or signed up) lifts it.
      return afterErasure(await this.writes.erasureForbids(this.store.read, p, def), def, this.clock(), result);
    }
    const before = evaluateCheck(def, decided, this.clock());
    return before.allowed ? result : before;
  }

  private checkState(pseudonym: string, purpose: string): CheckState | Promise<CheckState> {
    return this.store instanceof SqliteStore
      ? this.store.checkStateSync(pseudonym, purpose)
      : this.store.read.checkState(pseudonym, purpose);
  }

  hasConsent(subject: SubjectInput, purpose: string): Promise<CheckResult> {
    return this.checkConsent(subject, purpose);
  }

  async getConsent(subject: SubjectInput, purpose: string): Promise<ConsentRecord | undefined> {
    const def = this.requirePurpose(purpose);
    const identified = this.resolver.identify(subject);
    const p = await this.writes.pseudonymOf(this.store.read, identified);
    const row = await this.store.read.getConsent(p, def.id);
    return row ? this.records.toRecord(row) : undefined;
  }

  /** Batched: the gate calls this per message; the store gets one write per flush interval. */
  markUsed(subject: SubjectInput, purpose: string): void {
    const def = this.requirePurpose(purpose);
    const { pseudonym } = this.resolver.identify(subject);
    this.usage.set(`${pseudonym}\u0000${def.id}`, { pseudonym, purpose: def.id, at: this.clock() });
  }

  async flushUsage(): Promise<number> {
    if (this.usage.size === 0) return 0;
    const marks = [...this.usage.values()];
    this.usage.clear();
    await this.store.write((tx) => tx.touchUsage(marks, this.retention.proofRetentionMs), { serial: false });
    return marks.length;
  }

  // ---------------------------------------------------------------- notices, service window, blocks

  /**
   * Records that the notice went to the subject. Not for a person erased and neither signed up nor written since: her
   * erasure may have committed after the notice was decided on (the same webhook, another instance), and nothing may
   * be stored about her again. Answers whether it was recorded.
   */
  async recordNoticeShown(
    subject: SubjectInput,
    noticeVersion: string,
    options: { messageId?: string; actor: string },
  ): Promise<boolean> {
    const version = requireNoticeVersion(noticeVersion);
    const actor = requireActor(options?.actor);
    const messageId = optionalText(options.messageId, 'messageId', 256);
    const identified = this.resolver.identify(subject);
    return this.change(async (tx, now, events) => {
      const p = await this.writes.pseudonymOf(tx, identified);
      if (await this.writes.erasedAndSilent(tx, p)) return false;
      await this.writes.saveIdentity(tx, { ...identified, pseudonym: p }, now, events, actor);
      // Each showing is its own row, also one shown twice at once (two instances): the sends then name them, and
      // failures undo them, one each, whichever (noticeSent, noticeNotDelivered), so she is on record as having seen
      // the notice exactly while one of them is neither failed nor undone.
      await tx.putNotice({
        pseudonym: p,
        noticeVersion: version,
        shownAt: now,
        messageIdEnc: this.cipher.encryptOptional(messageId, 'notice_message_id', p),
        actor,
      });
      await this.writes.audit(tx, now, {
        action: 'notice.shown',
        actor,
        pseudonym: p,
        outcome: 'shown',
        detail: { noticeVersion: version },
      });
      events.push(ledgerEvent('notice.shown', identified, now, undefined, undefined, p));
      return true;
    });
  }

  /**
   * The notice recorded as shown did not reach the person (whatsapp-send failed to deliver it, for example outside the
   * 24-hour window): the record goes, so that her next message is preceded by the notice again (Art. 13).
   */
  async noticeNotDelivered(subject: SubjectInput, noticeVersion: string, options: { actor: string }): Promise<void> {
    const version = requireNoticeVersion(noticeVersion);
    const actor = requireActor(options?.actor);
    const identified = this.resolver.identify(subject);
    await this.change(async (tx, now) => {
      const p = await this.writes.pseudonymOf(tx, identified);
      const showing = await this.currentShowing(tx, p, version, 'no-reference');
      if (showing?.id === undefined || !(await tx.deleteNotice(showing.id))) return;
      await this.writes.audit(tx, now, {
        action: 'notice.undelivered',
        actor,
        pseudonym: p,
        outcome: 'undelivered',
        detail: { noticeVersion: version },
      });
    });
  }

  /**
   * The notice went out as message `messageId` (whatsapp-send, once Meta accepted it). Its id is kept as proof, and its
   * keyed hash lets `messagesFailed` find the notice when Meta reports the message failed after accepting it. A
   * failure reported before this (the status webhook overtook the send's answer) forgets the notice now.
   */
  async noticeSent(
    subject: SubjectInput,
    noticeVersion: string,
    messageId: string,
    options: { actor: string },
  ): Promise<void> {
    const version = requireNoticeVersion(noticeVersion);
    const actor = requireActor(options?.actor);
    const id = optionalText(messageId, 'messageId', 256);
    if (!id) throw new GdprWhatsAppError('invalid-input', 'The message id is required', { field: 'messageId' });
    const identified = this.resolver.identify(subject);
    const named = await this.change(async (tx) => {
      const p = await this.writes.pseudonymOf(tx, identified);
      const showing = await this.currentShowing(tx, p, version, 'no-reference');
      if (showing?.id === undefined) return undefined;
      const idEnc = this.cipher.encryptOptional(id, 'notice_message_id', p) as string;
      const ref = this.noticeMessageRef(id);
      return (await tx.setNoticeMessage(showing.id, idEnc, ref)) ? { p, showing: showing.id, ref } : undefined;
    });
    // Looked for only once the id is committed: a status webhook whose claim came later finds the id itself.
    const failed = this.dedupeKey(statusDedupeKey({ messageId: id, status: 'failed' }));
    if (!named || !(await this.store.read.hasDedupeMark(failed, this.clock()))) return;
    await this.change(async (tx, now) => {
      // Only while it still names this message: SQLite hands a deleted row's id to the next showing.
      if (await tx.deleteNotice(named.showing, named.ref))
        await this.auditNoticeFailed(tx, now, actor, named.p, version);
    });
  }

  /**
   * Meta reported these messages failed after accepting them (a status webhook): a notice one of them carried did not
   * reach the person, so it is forgotten and her next message is preceded by it again (Art. 13). Answers how many.
   */
  async messagesFailed(messageIds: readonly string[], options: { actor: string }): Promise<number> {
    const actor = requireActor(options?.actor);
    const refs = messageIds
      .filter((id) => typeof id === 'string' && id.length > 0 && id.length <= 256)
      .map((id) => this.noticeMessageRef(id));
    // Most failed messages carried no notice: a plain read, not an audited write, for each of them.
    if (refs.length === 0 || !(await this.store.read.carriedNotice(refs))) return 0;
    return this.change(async (tx, now) => {
      let forgotten = 0;
      for (const ref of refs) {
        for (const notice of await tx.deleteNoticesByMessage(ref)) {
          await this.auditNoticeFailed(tx, now, actor, notice.pseudonym, notice.noticeVersion);
          forgotten += 1;
        }
      }
      return forgotten;
    });
  }

  /**
   * The pending request a reply quoting an earlier request of hers answers: the request asked again for the same
   * purpose in the same words (she asked twice, and taps YES on the first message). Her YES agrees to those words.
   * An earlier request in other words (another language, a new version) answers nothing. Nor does a reply that came
   * to another business number than the earlier request went from: she answers that request where she was asked, as
   * for the current one (sentFromOtherNumber), and nothing changes.
   */
  private async requestAskedAgain(
    tx: StoreTx,
    p: string,
    rows: readonly ConsentRow[],
    inReplyTo: string | undefined,
    answeredTo: string | undefined,
  ): Promise<ConsentRow | 'other-business-number' | undefined> {
    if (inReplyTo === undefined) return undefined;
    const earlier = (await tx.listHistory(p)).find((row) => this.records.requestMessageId(row) === inReplyTo);
    if (!earlier) return undefined;
    if (sentFromOtherNumber(earlier.requestPhoneNumberId, answeredTo)) return 'other-business-number';
    return rows.find(
      (row) =>
        row.status === 'pending' &&
        row.purpose === earlier.purpose &&
        row.purposeVersion === earlier.purposeVersion &&
        row.wordingSha256 === earlier.wordingSha256,
    );
  }

  /**
   * Meta accepted a confirmation request and then reported it failed (a status webhook): it never reached the person,
   * so it ends as one whatsapp-send could not send (requestNotDelivered), and she may ask again at once instead of
   * being told for ten minutes that a request was sent. Only a pending request whose recorded message is the failed
   * one ends. Answers how many ended.
   */
  async requestsFailed(
    failures: readonly { messageId: string; recipient?: string; userId?: string }[],
    options: { actor: string },
  ): Promise<number> {
    const actor = requireActor(options?.actor);
    let ended = 0;
    for (const { messageId, recipient, userId } of failures) {
      if (typeof messageId !== 'string' || messageId === '' || messageId.length > 256) continue;
      const subject = recipient ?? (userId === undefined ? undefined : { userId });
      if (subject === undefined) continue;
      let identified: IdentifiedSubject;
      try {
        identified = this.resolver.identify(subject);
      } catch {
        continue;
      }
      // Most failed messages carried no request: a plain read first, an audited write only for a match.
      const p = await this.writes.pseudonymOf(this.store.read, identified);
      const carried = async (tx: StoreTx, now: number) => {
        const rows = await Promise.all(this.purposeIds().map((purpose) => tx.getConsent(p, purpose)));
        return rows.filter(
          (row): row is ConsentRow =>
            row !== undefined && isLivePending(row, now) && this.records.requestMessageId(row) === messageId,
        );
      };
      if ((await carried(this.store.read, this.clock())).length === 0) continue;
      ended += await this.change(async (tx, now, events) => {
        const rows = await carried(tx, now);
        await this.endUndelivered(tx, rows, now, actor, events, { reported: 'status' });
        return rows.length;
      });
    }
    return ended;
  }

  private noticeMessageRef(messageId: string): string {
    return this.pseudonyms.forDedupeKey(`notice-message:${messageId}`);
  }

  private async auditNoticeFailed(tx: StoreTx, now: number, actor: string, p: string, version: string) {
    await this.writes.audit(tx, now, {
      action: 'notice.undelivered',
      actor,
      pseudonym: p,
      outcome: 'undelivered',
      detail: { noticeVersion: version, reported: 'status' },
    });
  }

  async hasSeenNotice(subject: SubjectInput, noticeVersion: string): Promise<boolean> {
    if (typeof noticeVersion !== 'string' || noticeVersion === '') return false;
    const identified = this.resolver.identify(subject);
    const p = await this.writes.pseudonymOf(this.store.read, identified);
    return (await this.currentShowing(this.store.read, p, noticeVersion)) !== undefined;
  }

  /**
   * The latest showing of `version` to the person who holds the number now: one from before the number last changed
   * hands went to its previous holder, and stays hers. Undoing a failed notice and naming its message act on the
   * latest showing no message was named for yet ('no-reference'), so one that reached her keeps its proof.
   */
  private async currentShowing(
    tx: StoreTx,
    p: string,
    version: string,
    which: NoticeFilter = 'any',
  ): Promise<NoticeRow | undefined> {
    const latest = await tx.latestNotice(p, version, which);
    if (latest === undefined) return undefined;
    // At the move's very millisecond it counts as the previous holder's, as in an erasure's or export's span.
    return (await tx.hasAuditSince(p, NUMBER_CHANGED, latest.shownAt)) ? undefined : latest;
  }

  /**
   * Meta reported the number's move away from its holder after `sentAt` (less the clock margin): a message sent then
   * and delivered only now came from the number's previous holder, and an answer to the number would reach its next.
   * A user id is never handed on, and a person who moved back to the number holds it again: false.
   */
  async sentBeforeNumberChange(subject: SubjectInput, sentAt: number): Promise<boolean> {
    const at = optionalTime(sentAt, 'sentAt');
    const identified = this.resolver.identify(subject);
    if (at === undefined || identified.userIdOnly) return false;
    const p = await this.writes.pseudonymOf(this.store.read, identified);
    return (await this.identity.lateOptOutHome(this.store.read, p, at)) !== undefined;
  }

  /** For the 24-hour customer service window. Keeps only the time; no number is stored for this alone. */
  async recordInbound(subject: SubjectInput, at?: number): Promise<void> {
    const when = at === undefined ? this.clock() : at;
    if (!Number.isSafeInteger(when) || when < 0) {
      throw new GdprWhatsAppError('invalid-input', 'The time must be Unix milliseconds', { field: 'at' });
    }
    // Validated before the write, so that a number the rules refuse is an error of this call.
    this.resolver.identify(subject);
    await this.store.write((tx) => this.storeInbound(tx, subject, when), { serial: false, waitForDisk: false });
  }

  /**
   * A sender writing to the business opens the 24-hour window. A number in E.164 already is tried as written
   * first: a subject row under it proves it canonical (see checkConsent), and saves parsing it. A reaction from a
   * person erased and not back since records nothing: it does not bring her back (stillAway), also when a request
   * was typed in for her number since (she may be reacting to its message).
   */
  private async storeInbound(tx: StoreTx, subject: SubjectInput, when: number, reaction = false): Promise<void> {
    if (
      reaction &&
      (await this.writes.stillAway(tx, await this.writes.pseudonymOf(tx, this.resolver.identify(subject))))
    ) {
      return;
    }
    const candidate = this.resolver.lookupCandidate(subject);
    if (candidate !== undefined) {
      const known = this.pseudonyms.forPhone(candidate);
      if (await tx.setLastInbound(known, when)) {
        this.resolver.rememberCanonical(subject, candidate, known);
        return;
      }
    }
    const p = await this.writes.pseudonymOf(tx, this.resolver.identify(subject));
    if (await tx.setLastInbound(p, when)) return;
    if (await tx.getSubject(p)) return;
    await tx.insertInbound(p, when, this.clock());
  }

  async lastInboundAt(subject: SubjectInput): Promise<number | undefined> {
    const identified = this.resolver.identify(subject);
    const p = await this.writes.pseudonymOf(this.store.read, identified);
    return (await this.store.read.getSubject(p))?.lastInboundAt ?? undefined;
  }

  async recordBlocked(subject: SubjectInput, purpose: string, reason: string, actor: string): Promise<void> {
    const who = requireActor(actor);
    const why = optionalText(reason, 'reason', 64) ?? 'unspecified';
    const identified = this.resolver.identify(subject);
    await this.change(async (tx, now) => {
      const p = await this.writes.pseudonymOf(tx, identified);
      await this.writes.audit(tx, now, {
        action: 'send.blocked',
        actor: who,
        pseudonym: p,
        purpose: isPurposeId(purpose) ? purpose : null,
        outcome: 'blocked',
        detail: { reason: why },
      });
    });
  }

  // ---------------------------------------------------------------- data subject rights

  /**
   * Art. 17 GDPR. Removes every personal datum of the subject; keeps a suppression entry and the audit
   * events, both pseudonymous, as proof that the erasure happened and to honour it later.
   */
  eraseSubject(subject: SubjectInput, actor: string, options: EraseOptions = {}): Promise<EraseReport> {
    return this.rights.erase(subject, actor, options);
  }

  /** Art. 15 and 20 GDPR: everything held about one subject, decrypted, as one JSON-able document. */
  exportSubject(subject: SubjectInput, actor: string, options: ExportOptions = {}): Promise<SubjectExport> {
    return this.rights.export(subject, actor, options);
  }

  /** A background task's failure, unless it is the store's stop after a disk failure, which the store reported. */
  private warnUnlessReported(err: unknown): void {
    if (err instanceof GdprWhatsAppError && err.code === 'store-disk-failed') return;
    this.emit('warning', err);
  }

  private forgetUsage(keys: readonly string[]): void {
    this.usage.forEach((mark, key) => {
      if (keys.includes(mark.pseudonym)) this.usage.delete(key);
    });
  }

  /**
   * On the erasure list with nothing given or requested since, nothing written since (as recordInbound records it),
   * and still the number's holder: nothing may be sent to her or stored about her. A person who signed up again after
   * her erasure is not, nor one who wrote since: she came back (the number may have a new holder), and the privacy
   * notice is shown to her and recorded.
   */
  async isErasedAndGone(subject: SubjectInput): Promise<boolean> {
    const identified = this.resolver.identify(subject);
    const p = await this.writes.pseudonymOf(this.store.read, identified);
    return this.writes.erasedAndSilent(this.store.read, p);
  }

  /**
   * Whether the store holds anything about `subject`: the person's record (she wrote, signed up, was signed up by
   * staff, objected) or, after an erasure, her block entry. A number written without its country code is read in the
   * store's country only for someone known: a neighbouring country's number may read as a valid one of this country.
   */
  async knowsSubject(subject: SubjectInput): Promise<boolean> {
    const identified = this.resolver.identify(subject);
    const p = await this.writes.pseudonymOf(this.store.read, identified);
    if ((await this.store.read.getSubject(p)) !== undefined) return true;
    return (await this.store.read.suppressedAt(p)) !== undefined;
  }

  async isSuppressed(subject: SubjectInput): Promise<boolean> {
    const identified = this.resolver.identify(subject);
    const p = await this.writes.pseudonymOf(this.store.read, identified);
    return (await this.store.read.suppressedAt(p)) !== undefined;
  }

  // ---------------------------------------------------------------- retention

  /** Runs the retention rules once; concurrent calls share one run. */
  sweepRetention(): Promise<SweepReport> {
    if (!this.sweeping) {
      this.sweeping = this.retentionSweep.run().finally(() => {
        this.sweeping = undefined;
      });
    }
    return this.sweeping;
  }

  /**
   * Sweeps every `ms`, counted from the last sweep the audit log records (of any instance, before any restart): a
   * store restarted or redeployed more often than the interval must not put the sweep off for ever. One overdue
   * runs a minute after the start (a tenth of a shorter interval).
   */
  startRetentionTimer(ms: number): void {
    // A timer longer than Node's longest (about 24.8 days) would fire at once, every time.
    const every = Math.min(positiveMs(ms, 'interval', 3_600_000), MAX_TIMER_MS);
    this.stopRetentionTimer();
    const generation = this.retentionGeneration;
    const schedule = (delay: number) => {
      // Stopped or started again while the last sweep was looked up.
      if (generation !== this.retentionGeneration) return;
      this.retentionTimer = setTimeout(() => {
        this.sweepRetention().catch((err) => this.warnUnlessReported(err));
        schedule(every);
      }, delay);
      this.retentionTimer.unref();
    };
    this.store.read.lastAuditAt(SWEEP_ACTION, this.clock() - every).then(
      (last) => {
        const due = last === undefined ? 0 : last + every - this.clock();
        schedule(Math.max(Math.min(due, every), Math.min(FIRST_SWEEP_FLOOR_MS, every / 10)));
      },
      (err: unknown) => {
        if (generation !== this.retentionGeneration) return;
        this.warnUnlessReported(err);
        schedule(every);
      },
    );
  }

  stopRetentionTimer(): void {
    this.retentionGeneration += 1;
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    this.retentionTimer = undefined;
  }

  // ---------------------------------------------------------------- de-duplication (DedupeStore)

  /** True the first time `key` is seen within `ttlMs`; the mark is durable before this resolves. */
  async markSeen(key: string, ttlMs: number): Promise<boolean> {
    const hashed = this.dedupeKey(key);
    const ttl = positiveMs(ttlMs, 'ttlMs', this.retention.dedupeTtlMs);
    const now = this.clock();
    return this.store.write((tx) => tx.markSeen(hashed, now + ttl, now), { serial: false });
  }

  /** Takes a webhook item for handling (atomic across instances); see claimAll. */
  async claim(key: string, leaseMs: number): Promise<ClaimOutcome> {
    const [outcome] = await this.claimAll([key], leaseMs);
    return outcome;
  }

  /** The item was handled: later deliveries within `ttlMs` are duplicates. */
  async complete(key: string, ttlMs: number): Promise<void> {
    await this.completeAll([key], ttlMs);
  }

  /** Handling failed: the next delivery of the item is handled again. */
  async release(key: string): Promise<void> {
    await this.releaseAll([key]);
  }

  /**
   * Claims one webhook delivery's items in one transaction (DedupeStore.claimAll) and starts the 24-hour window
   * of each claimed message's sender. A sender no number rules accept, or an impossible time, opens no window
   * anyone could use and is skipped: the message must still reach the flow.
   * De-duplication marks and inbound times resolve once committed, without waiting for the disk (waitForDisk):
   * a power cut that undid them would at worst let Meta's next copy of an item through again.
   */
  async claimAll(
    keys: readonly string[],
    leaseMs: number,
    inbound: readonly InboundTime[] = [],
    claimId?: string,
  ): Promise<ClaimOutcome[]> {
    const hashed = keys.map((key) => this.dedupeKey(key));
    const lease = positiveMs(leaseMs, 'leaseMs', DEDUPE_LEASE_MS);
    const now = this.clock();
    const outcomes = await this.store.write(
      async (tx) => {
        const outcomes: ClaimOutcome[] = new Array(hashed.length);
        // In one global order: two instances claiming overlapping deliveries never wait on each other in a cycle.
        for (const i of lockOrder(hashed)) outcomes[i] = await tx.claimDedupe(hashed[i], now + lease, now);
        const claimed = new Set(keys.filter((_, i) => outcomes[i] === 'claimed'));
        for (const { key, subject, at, reaction } of inbound) {
          if (!claimed.has(key) || !Number.isSafeInteger(at) || at < 0) continue;
          try {
            await this.storeInbound(tx, subject, at, reaction === true);
          } catch (err) {
            if (!(err instanceof GdprWhatsAppError && UNUSABLE_SENDER_CODES.has(err.code))) throw err;
          }
        }
        return outcomes;
      },
      { serial: false, waitForDisk: false },
    );
    hashed.forEach((key, i) => {
      if (outcomes[i] === 'claimed') this.claimLeases.remember(claimId, key, now + lease);
    });
    return outcomes;
  }

  async completeAll(keys: readonly string[], ttlMs: number, claimId?: string): Promise<void> {
    const hashed = keys.map((key) => this.dedupeKey(key));
    const ttl = positiveMs(ttlMs, 'ttlMs', this.retention.dedupeTtlMs);
    const now = this.clock();
    await this.store.write(
      async (tx) => {
        for (const i of lockOrder(hashed)) await tx.completeDedupe(hashed[i], now + ttl);
      },
      { serial: false, waitForDisk: false },
    );
    // Only once written: a complete that failed is followed by the release of the same claims.
    if (claimId !== undefined) for (const key of hashed) this.claimLeases.take(claimId, key);
  }

  /** With `claimId`, only the claims that delivery still holds: one taken over after its lease ran out stays. */
  async releaseAll(keys: readonly string[], claimId?: string): Promise<void> {
    const hashed = keys.map((key) => this.dedupeKey(key));
    const leases = hashed.map((key) => (claimId === undefined ? null : this.claimLeases.take(claimId, key)));
    await this.store.write(
      async (tx) => {
        for (const i of lockOrder(hashed)) {
          const lease = leases[i];
          // Not this delivery's claim (never taken, or remembered no longer): nothing to let go.
          if (lease === undefined) continue;
          await tx.releaseDedupe(hashed[i], lease ?? undefined);
        }
      },
      { serial: false, waitForDisk: false },
    );
  }

  /** Message ids encode the sender's number, so only their keyed hash is stored. */
  private dedupeKey(key: string): string {
    if (typeof key !== 'string' || key.length === 0 || key.length > 1024) {
      throw new GdprWhatsAppError('invalid-input', 'A de-duplication key must be text', { field: 'key' });
    }
    return this.pseudonyms.forDedupeKey(key);
  }

  // ---------------------------------------------------------------- audit

  async verifyAudit(): Promise<AuditVerification> {
    for (let attempt = 1; ; attempt += 1) {
      const anchor = await this.store.read.auditAnchor();
      const result = await this.verifyAuditFrom(anchor);
      // The retention sweep (of any instance) moved the start of the chain while this read it: the gap is the
      // sweep's, not a tampering. Verified again from the new start.
      const moved = (await this.store.read.auditAnchor())?.seq !== anchor?.seq;
      if (result.ok || !moved || attempt === 3) return result;
    }
  }

  private async verifyAuditFrom(anchor: AuditAnchor | undefined): Promise<AuditVerification> {
    // The sweep deletes what lies before the anchor in the same transaction as it moves it: an event still there was
    // put back (a rewritten event under an anchor moved onto it would otherwise pass).
    const oldest = anchor ? await this.store.read.oldestAuditSeq() : undefined;
    if (anchor && oldest !== undefined && oldest <= anchor.seq) {
      return { ok: false, count: 0, firstBrokenSeq: oldest, reason: 'an event is kept before the chain’s anchor' };
    }
    const verifier = new AuditChainVerifier(anchor);
    let after = anchor?.seq ?? 0;
    for (;;) {
      const page = await this.store.read.auditPage(after, 1000);
      for (const record of page) if (!verifier.add(record)) return verifier.result();
      if (page.length < 1000) return verifier.result();
      after = page[page.length - 1].seq;
    }
  }

  /** JSON lines in the format documented in audit-verify.ts. */
  exportAudit(): AsyncIterable<string> {
    return auditExportLines((after) => this.exportAuditPage(after));
  }

  /**
   * exportAudit a page at a time, for callers that stream a long log: without `after` the export starts (with
   * the anchor line, when retention removed the oldest events); `next` continues it and is missing at the end.
   */
  async exportAuditPage(after?: number, limit = AUDIT_EXPORT_PAGE): Promise<AuditExportPage> {
    if (after !== undefined && !(Number.isSafeInteger(after) && after >= 0)) {
      throw new GdprWhatsAppError('invalid-input', 'The export continues after a sequence number', { field: 'after' });
    }
    const size = Number.isSafeInteger(limit) && limit > 0 ? Math.min(limit, AUDIT_EXPORT_PAGE_MAX) : AUDIT_EXPORT_PAGE;
    for (let attempt = 1; ; attempt += 1) {
      const lines: string[] = [];
      let from = after;
      if (from === undefined) {
        const anchor = await this.store.read.auditAnchor();
        if (anchor) lines.push(canonicalJson({ type: 'anchor', seq: anchor.seq, hash: anchor.hash }));
        from = anchor?.seq ?? 0;
      }
      const page = await this.store.read.auditPage(from, size);
      // The chain goes on right after `from` unless the retention sweep removed events in between.
      const purged =
        page.length > 0 ? page[0].seq !== from + 1 : ((await this.store.read.auditAnchor())?.seq ?? 0) > from;
      if (purged && after !== undefined) {
        throw new GdprWhatsAppError(
          'audit-export-purged',
          'The retention sweep removed audit events this export had not reached: start the export again',
        );
      }
      // A first page read across a sweep: read again from the new anchor.
      if (purged && attempt < 3) continue;
      for (const record of page) lines.push(canonicalJson(record));
      return page.length < size ? { lines } : { lines, next: page[page.length - 1].seq };
    }
  }

  /** Database-level check (SQLite PRAGMA integrity_check); "ok" when sound. */
  integrityCheck(): Promise<string> {
    return this.store.integrityCheck();
  }

  /**
   * The ledger's events for `consumer` (consent-events), oldest first, from where it acknowledged last: at least once,
   * across crashes, redeploys and instances. See EventFeed.
   */
  readEvents(consumer: string, options: ReadEventsOptions): Promise<FeedPage> {
    return this.feed.read(consumer, options);
  }

  acknowledgeEvents(consumer: string, options: { holder: string; lastId: number }): Promise<boolean> {
    return this.feed.acknowledge(consumer, options);
  }

  releaseEvents(consumer: string, options: { holder: string }): Promise<void> {
    return this.feed.release(consumer, options);
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        this.stopRetentionTimer();
        if (this.usageTimer) clearInterval(this.usageTimer);
        if (this.presenceTimer) clearInterval(this.presenceTimer);
        try {
          await this.flushUsage();
        } finally {
          await this.store.close();
        }
      })();
    }
    return this.closing;
  }

  // ---------------------------------------------------------------- internals

  /**
   * Runs one serial transaction; its events go into the event feed's outbox in the same transaction and are emitted
   * only after it is committed.
   */
  private async change<T>(work: (tx: StoreTx, now: number, events: LedgerEvent[]) => Promise<T>): Promise<T> {
    const events: LedgerEvent[] = [];
    const result = await this.store.write(async (tx) => {
      events.length = 0;
      const value = await work(tx, this.clock(), events);
      await this.feed.keep(tx, events);
      return value;
    });
    for (const event of events) this.emit('event', event);
    return result;
  }

  private requirePurpose(id: unknown): PurposeDefinition {
    const def = typeof id === 'string' ? this.purposes.get(id) : undefined;
    if (!def) {
      throw new GdprWhatsAppError('unknown-purpose', 'The purpose is not configured in this consent store', {
        purpose: typeof id === 'string' && isPurposeId(id) ? id : '',
      });
    }
    return def;
  }
}

/** An allowed pending or expired record: possibly an unconfirmed request in front of what forbids (the rare case). */
function mayStandInFront(result: CheckResult): boolean {
  return result.allowed && (result.status === 'pending' || result.status === 'expired');
}

function requireNoticeVersion(noticeVersion: unknown): string {
  const version = optionalText(noticeVersion, 'noticeVersion', 128);
  if (!version)
    throw new GdprWhatsAppError('invalid-input', 'The notice version is required', { field: 'noticeVersion' });
  return version;
}

async function openStore(
  options: LedgerOptions,
  clock: () => number,
  onError: (err: Error) => void,
): Promise<LedgerStore> {
  if (options.backend === 'sqlite') {
    if (!options.sqlitePath) throw new GdprWhatsAppError('missing-sqlite-path', 'The SQLite file path is missing');
    return SqliteStore.open({ path: options.sqlitePath, clock, onError });
  }
  if (options.backend === 'postgres') {
    if (!options.postgresUrl) {
      throw new GdprWhatsAppError('missing-postgres-url', 'The PostgreSQL connection URL is missing');
    }
    return PostgresStore.open({
      url: options.postgresUrl,
      schema: options.postgresSchema,
      clock,
      onError,
      // setTimeout takes no more than 2^31 - 1 ms.
      revacuumIntervalMs: Math.min(
        Math.max(positiveMs(options.postgresVacuumRetryMs, 'postgresVacuumRetryMs', 30_000), 10),
        2 ** 31 - 1,
      ),
    });
  }
  throw new GdprWhatsAppError('invalid-backend', 'The consent store backend must be sqlite or postgres');
}

function resolveRetention(input: Partial<RetentionSettings> | undefined): RetentionSettings {
  const given = input ?? {};
  const out = { ...DEFAULT_RETENTION };
  for (const key of Object.keys(DEFAULT_RETENTION) as (keyof RetentionSettings)[]) {
    out[key] = positiveMs(given[key], `retention.${key}`, DEFAULT_RETENTION[key]);
  }
  return out;
}
