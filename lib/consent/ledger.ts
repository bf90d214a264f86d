import { EventEmitter } from 'node:events';
import { GdprWhatsAppError } from '../errors';
import { PostgresStore } from '../store/postgres';
import { SqliteStore } from '../store/sqlite';
import type {
  ArchivedConsentRow,
  CheckState,
  ConsentRow,
  LedgerStore,
  NoticeRow,
  StoreTx,
  SubjectRow,
} from '../store/types';
import { type ClaimOutcome, DEDUPE_LEASE_MS, type InboundTime } from '../webhook/dedupe';
import { type AuditEntry, chainAuditEntries } from './audit-chain';
import {
  AuditChainVerifier,
  type AuditExportPage,
  type AuditRecord,
  type AuditVerification,
  auditExportLines,
} from './audit-verify';
import { canonicalJson } from './canonical';
import {
  COLLECTION_METHODS,
  type ConfirmConsentInput,
  type GiveConsentInput,
  type LinkUserIdInput,
  type LinkUserIdOutcome,
  type NumberChangeInput,
  type RefuseConsentInput,
  type RequestConsentInput,
  WITHDRAWAL_CHANNELS,
  type WithdrawConsentInput,
} from './inputs';
import { FieldCipher, Pseudonymiser, validateKeys } from './keys';
import { definePurposes, isPurposeId, type PurposeDefinition, sha256Hex } from './purposes';
import { LedgerRecords, ledgerEvent } from './records';
import { ACTIVE_STATUSES, evaluateCheck, isEnded, isLivePending } from './rules';
import { type IdentifiedSubject, SubjectResolver } from './subjects';
import type {
  CheckResult,
  ConsentRecord,
  ConsentStatus,
  EraseReport,
  ExportOptions,
  LedgerEvent,
  LedgerOptions,
  RetentionSettings,
  SubjectExport,
  SubjectInput,
  SweepReport,
  WithdrawalChannel,
} from './types';
import { oneOf, optionalLanguage, optionalText, positiveMs, requireActor, requireWording } from './validate';

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
  proofRetentionMs: 5 * 365 * DAY,
  dedupeTtlMs: 8 * DAY,
  sweepBatchSize: 2000,
};

/** Audit events per exportAuditPage, and the most one page may ask for. */
const AUDIT_EXPORT_PAGE = 1000;
const AUDIT_EXPORT_PAGE_MAX = 10_000;

/** The changes of one consent record; each is both the audit action and the event type. */
type ConsentChange =
  | 'consent.requested'
  | 'consent.confirmed'
  | 'consent.given'
  | 'consent.refused'
  | 'consent.withdrawn'
  | 'consent.expired';

/** The audit outcome of an opt-out that found nothing on record to withdraw. */
const NOTHING_TO_WITHDRAW = 'nothing-to-withdraw';
/** The audit action of a move to another number (numberChanged); it also marks the number's records as ended. */
const NUMBER_CHANGED = 'subject.number-changed';
/** The audit action on a person's new number when her opt-outs followed her there (numberChanged). */
const OPT_OUTS_CARRIED = 'subject.opt-outs-carried';
/** Meta's clock and this machine's may differ; a number changes hands months after a move, not minutes. */
const CLOCK_MARGIN_MS = 10 * 60_000;

/** What identify() answers for a webhook sender that can open no customer service window. */
const UNUSABLE_SENDER_CODES = new Set(['invalid-phone', 'invalid-subject']);

/** Indexes of `keys` in sorted key order: rows are always locked in this order, whichever delivery came first. */
/** What a person opted out of herself at one number, which follows her when she moves (numberChanged). */
interface OptOuts {
  purposes: PurposeDefinition[];
  /** On the erasure list. */
  erased: boolean;
}

/** When the latest audit entry of this action was written, if any. */
function lastAt(entries: readonly AuditRecord[], action: string): number | undefined {
  let latest: number | undefined;
  for (const entry of entries)
    if (entry.action === action && (latest === undefined || entry.at > latest)) latest = entry.at;
  return latest;
}

function lockOrder(keys: readonly string[]): number[] {
  return keys.map((_, i) => i).sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
}

/**
 * The consent ledger (issue 3): the proof a business shows a supervisory authority and the source of
 * truth for every consent check. Emits 'event' (LedgerEvent) after each durable change and 'warning'
 * (Error) when a background flush or sweep fails.
 */
export class ConsentLedger extends EventEmitter {
  private readonly resolver: SubjectResolver;
  private readonly records: LedgerRecords;
  private readonly usage = new Map<string, { pseudonym: string; purpose: string }>();
  private usageTimer?: NodeJS.Timeout;
  private retentionTimer?: NodeJS.Timeout;
  private sweeping?: Promise<SweepReport>;
  private closing?: Promise<void>;

  private constructor(
    private readonly store: LedgerStore,
    private readonly purposes: Map<string, PurposeDefinition>,
    private readonly cipher: FieldCipher,
    private readonly pseudonyms: Pseudonymiser,
    readonly retention: RetentionSettings,
    private readonly clock: () => number,
    private readonly instanceId: string | undefined,
  ) {
    super();
    this.resolver = new SubjectResolver(pseudonyms);
    this.records = new LedgerRecords(cipher, retention.proofRetentionMs);
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
    return ledger.start(usageFlushMs);
  }

  private async start(usageFlushMs: number): Promise<ConsentLedger> {
    try {
      await this.registerPurposeVersions();
    } catch (err) {
      await this.store.close();
      throw err;
    }
    this.usageTimer = setInterval(() => {
      this.flushUsage().catch((err) => this.emit('warning', err));
    }, usageFlushMs);
    this.usageTimer.unref();
    return this;
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
    const subject = this.resolver.identify(input.subject);
    return this.change(async (tx, now, events) => {
      const existing = await tx.getConsent(subject.pseudonym, def.id);
      if (existing?.status === 'given' && existing.purposeVersion === def.version)
        return this.records.toRecord(existing);
      if (existing) await tx.archiveConsent(existing, now);
      const p = subject.pseudonym;
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
      };
      await this.saveIdentity(tx, subject, now);
      return this.storeConsent(tx, now, events, row, subject, 'consent.requested', {
        purposeVersion: def.version,
        wordingSha256: row.wordingSha256,
        method,
        expiresAt: row.expiresAt,
      });
    });
  }

  async confirmConsent(input: ConfirmConsentInput): Promise<ConsentRecord> {
    const purpose = input?.purpose === undefined ? undefined : this.requirePurpose(input.purpose).id;
    const text = optionalText(input.confirmationText, 'confirmationText', 4096);
    if (!text) throw new GdprWhatsAppError('missing-confirmation', 'The confirmation reply is required as proof');
    const messageId = optionalText(input.confirmationMessageId, 'confirmationMessageId', 256);
    const actor = requireActor(input.actor);
    const subject = this.resolver.identify(input.subject);
    const outcome = await this.change(async (tx, now, events) => {
      const p = await this.pseudonymOf(tx, subject);
      const candidates = purpose
        ? [await tx.getConsent(p, purpose)].filter((row): row is ConsentRow => row !== undefined)
        : await tx.listConsents(p);
      const pending = candidates.filter((row) => row.status === 'pending');
      // A reply soon after the request expired gets the same answer whether or not the sweep marked it expired.
      const lately = (row: ConsentRow) =>
        row.status === 'expired' && row.expiresAt !== null && now - row.expiresAt < this.retention.pendingExpiryMs;
      if (pending.length === 0) {
        return { error: candidates.some(lately) ? ('request-expired' as const) : ('no-pending-request' as const) };
      }
      await this.expireAll(
        tx,
        pending.filter((r) => !isLivePending(r, now)),
        now,
        actor,
        events,
      );
      // A bare "YES" answers the confirmation message sent last.
      const live = pending
        .filter((r) => isLivePending(r, now))
        .sort((a, b) => (b.requestedAt ?? 0) - (a.requestedAt ?? 0));
      if (live.length === 0) return { error: 'request-expired' as const };
      const row: ConsentRow = {
        ...live[0],
        status: 'given',
        expiresAt: null,
        decidedAt: now,
        confirmationMessageIdEnc: this.cipher.encryptOptional(messageId, 'confirmation_message_id', p),
        confirmationTextEnc: this.cipher.encrypt(text, 'confirmation_text', p),
        retainUntil: now + this.retention.proofRetentionMs,
        updatedAt: now,
        actor,
      };
      await this.saveIdentity(tx, { ...subject, pseudonym: p }, now);
      const detail = { purposeVersion: row.purposeVersion, wordingSha256: row.wordingSha256 };
      return { record: await this.storeConsent(tx, now, events, row, subject, 'consent.confirmed', detail) };
    });
    if (outcome.error === 'no-pending-request') {
      throw new GdprWhatsAppError('no-pending-request', 'There is no pending consent request to confirm');
    }
    if (outcome.error === 'request-expired') {
      throw new GdprWhatsAppError('request-expired', 'The consent request has expired; a new request is needed');
    }
    return outcome.record as ConsentRecord;
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
    const inboundAt = input.inboundAt;
    if (inboundAt !== undefined && (!Number.isSafeInteger(inboundAt) || inboundAt < 0)) {
      throw new GdprWhatsAppError('invalid-input', 'The time must be Unix milliseconds', { field: 'inboundAt' });
    }
    const subject = this.resolver.identify(input.subject);
    return this.change(async (tx, now, events) => {
      const p = await this.pseudonymOf(tx, subject);
      if (inboundAt !== undefined && (await this.movedAwaySince(tx, p, inboundAt))) {
        throw new GdprWhatsAppError('number-changed', 'The number changed hands after this message was sent');
      }
      const existing = await tx.getConsent(p, def.id);
      const sameProof = existing?.status === 'given' && existing.wordingSha256 === sha256Hex(wording);
      if (sameProof && existing.purposeVersion === def.version) return this.records.toRecord(existing);
      if (existing) await tx.archiveConsent(existing, now);
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
      };
      await this.saveIdentity(tx, { ...subject, pseudonym: p }, now);
      const detail = { purposeVersion: def.version, wordingSha256: row.wordingSha256, method };
      return this.storeConsent(tx, now, events, row, subject, 'consent.given', detail);
    });
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
    const subject = this.resolver.identify(input.subject);
    const outcome = await this.change(async (tx, now, events) => {
      const p = await this.pseudonymOf(tx, subject);
      const existing = await tx.getConsent(p, def.id);
      let row: ConsentRow;
      if (existing && isLivePending(existing, now)) {
        row = { ...existing, expiresAt: null };
      } else {
        if (!wording) return { error: true as const };
        if (existing) await tx.archiveConsent(existing, now);
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
        retainUntil: now + this.retention.proofRetentionMs,
        updatedAt: now,
        actor,
      };
      const detail = { purposeVersion: row.purposeVersion, wordingSha256: row.wordingSha256 };
      return { record: await this.storeConsent(tx, now, events, row, subject, 'consent.refused', detail) };
    });
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
    return (await this.withdraw(input, {})) as ConsentRecord[];
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
    const keyword = optionalText(input.keyword, 'keyword', 64);
    const messageId = optionalText(input.messageId, 'messageId', 256);
    const subject = this.resolver.identify(input.subject);
    return this.change(async (tx, now, events) => {
      const p = await this.pseudonymOf(tx, subject);
      // Erased and never back: nothing may be stored about them again. Signed up again since: their STOP counts.
      const erased = options.unlessErased === true && (await this.erasedAndGone(tx, p));
      const fields = { channel, actor, text, keyword, messageId };
      const changed = erased ? [] : await this.withdrawIn(tx, now, events, p, subject, targets, fields);
      // The sender's user ids have keys of their own: what was kept under one before the number was known, and an
      // objection that must still answer to the id once its link to the number is gone (sweep, move). An id last
      // seen with another number answers for that number's records: the person behind the id said STOP.
      const ownId = subject.userIdAlias;
      const linkedTo = ownId === undefined ? undefined : await tx.resolveAlias(ownId);
      // An erased person's own id, with nothing given since, joins the erasure list instead (a pseudonym, like the
      // number's entry): nothing else is stored about her, and checks and later links by the id answer 'erased'.
      const idErased = erased && ownId !== undefined && ownId !== p && (await this.hasNoLiveRecord(tx, ownId));
      if (idErased && ownId !== undefined && (await tx.suppressedAt(ownId)) === undefined) {
        await tx.putSuppression(ownId, now, actor);
      }
      const ids = new Set([idErased ? undefined : ownId, linkedTo, ...(await tx.aliasesOf(p))]);
      for (const key of ids) {
        if (key === undefined || key === p || (await this.erasedAndGone(tx, key))) continue;
        changed.push(
          ...(await this.withdrawIn(tx, now, events, key, subject, targets, { ...fields, auditNothing: false })),
        );
      }
      return erased && changed.length === 0 ? ('erased' as const) : changed;
    });
  }

  /** Nothing given or requested on record under `key`. */
  private async hasNoLiveRecord(tx: StoreTx, key: string): Promise<boolean> {
    return !(await tx.listConsents(key)).some((r) => ACTIVE_STATUSES.includes(r.status as ConsentStatus));
  }

  /** withdraw's step inside a transaction: the consents of `targets` withdrawn, objections where nothing was on record. */
  private async withdrawIn(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    p: string,
    subject: IdentifiedSubject,
    targets: readonly PurposeDefinition[],
    opt: {
      channel: WithdrawalChannel;
      actor: string;
      text?: string;
      keyword?: string;
      messageId?: string;
      /** False: an opt-out carried over from elsewhere, whose evidence is there already. */
      auditNothing?: boolean;
    },
  ): Promise<ConsentRecord[]> {
    const { channel, actor, keyword } = opt;
    const changed: ConsentRecord[] = [];
    for (const def of targets) {
      const existing = await tx.getConsent(p, def.id);
      const consentBased = def.lawfulBasis === 'consent';
      const optedOut = existing?.status === 'withdrawn' || existing?.status === 'refused';
      if (optedOut && !(await this.endedBeforeMove(tx, p, existing))) continue;
      if (!existing || isEnded(existing.status)) {
        if (consentBased) continue;
        if (existing) await tx.archiveConsent(existing, now);
      }
      const base: ConsentRow =
        existing && !isEnded(existing.status)
          ? existing
          : { ...this.records.blankConsent(p, def, canonicalJson(def.wording), now, actor), method: 'objection' };
      const row: ConsentRow = {
        ...base,
        status: 'withdrawn',
        expiresAt: null,
        withdrawnAt: now,
        withdrawalChannel: channel,
        withdrawalMessageIdEnc: this.cipher.encryptOptional(opt.messageId, 'withdrawal_message_id', p),
        withdrawalTextEnc: this.cipher.encryptOptional(opt.text, 'withdrawal_text', p),
        withdrawalKeyword: keyword ?? null,
        retainUntil: now + this.retention.proofRetentionMs,
        updatedAt: now,
        actor,
      };
      const detail = { channel, keyword: keyword ?? null, previousStatus: existing?.status ?? null };
      changed.push(await this.storeConsent(tx, now, events, row, subject, 'consent.withdrawn', detail, { channel }));
    }
    if (changed.length === 0 && opt.auditNothing !== false) {
      // The opt-out itself is evidence worth keeping even when nothing was on record.
      await this.audit(tx, now, {
        action: 'consent.withdrawn',
        actor,
        pseudonym: p,
        outcome: NOTHING_TO_WITHDRAW,
        detail: { channel, keyword: keyword ?? null },
      });
    }
    return changed;
  }

  /**
   * True when the number changed hands at or after `row` ended: the row is the previous holder's, and an opt-out of
   * the present one is recorded anew (else it would not follow her when she moves on).
   */
  private async endedBeforeMove(tx: StoreTx, p: string, row: ConsentRow): Promise<boolean> {
    return tx.hasAuditSince(p, NUMBER_CHANGED, row.updatedAt);
  }

  /**
   * Meta reported that the person of `phone` moved to another number, which the provider may give to someone else.
   * Consents on record for it are withdrawn; given or requested records of purposes that need no consent (contract,
   * legitimate interest) expire. An objection stays: nothing reaches the next holder on the old person's account.
   * Every record counts as the old person's, since webhooks come late and in any order and a provider does not hand
   * a number on within Meta's days of redelivery. Then, as the retention sweep would 30 days later, the number's
   * record, its user-id links and the texts and message ids kept as proof go; the pseudonymous proof stays.
   */
  async numberChanged(input: NumberChangeInput): Promise<ConsentRecord[] | 'erased'> {
    const actor = requireActor(input?.actor);
    const messageId = optionalText(input.messageId, 'messageId', 256);
    const subject = this.resolver.identify({ phone: input.phone });
    const newNumber = this.newNumberOf(input.newPhone, subject);
    const channel: WithdrawalChannel = 'whatsapp-number-change';
    return this.change(async (tx, now, events) => {
      const p = subject.pseudonym;
      const carry = { channel, actor, messageId };
      // Read before this move ends anything: the endings below are not hers to carry.
      if (newNumber) await this.followToNewNumber(tx, now, events, newNumber, await this.ownOptOuts(tx, p), carry);
      if (await this.erasedAndGone(tx, p)) {
        // Links go (no user id may answer for the number any more); the pseudonymous marker stays, so that a START
        // sent before the move cannot sign the next holder up.
        await tx.removeAliasesOf(p);
        await this.audit(tx, now, { action: NUMBER_CHANGED, actor, pseudonym: p, outcome: 'erased' });
        return 'erased' as const;
      }
      const purposes = [...this.purposes.values()];
      const consents = purposes.filter((def) => def.lawfulBasis === 'consent');
      const ended = await this.withdrawIn(tx, now, events, p, subject, consents, {
        channel,
        actor,
        messageId,
        auditNothing: false,
      });
      for (const def of purposes.filter((d) => d.lawfulBasis !== 'consent')) {
        const existing = await tx.getConsent(p, def.id);
        if (!existing || !ACTIVE_STATUSES.includes(existing.status as ConsentStatus)) continue;
        // No objection of the next holder's: the record expires, and the basis allows again.
        await tx.archiveConsent(existing, now);
        const retainUntil = now + this.retention.proofRetentionMs;
        const row: ConsentRow = { ...existing, status: 'expired', expiresAt: now, retainUntil, updatedAt: now, actor };
        const detail = { reason: 'number-changed', previousStatus: existing.status };
        ended.push(await this.storeConsent(tx, now, events, row, subject, 'consent.expired', detail, { channel }));
      }
      const unlinked = await tx.removeAliasesOf(p);
      const removed = await tx.removePersonalData(p);
      await this.audit(tx, now, {
        action: NUMBER_CHANGED,
        actor,
        pseudonym: p,
        outcome: 'ended',
        detail: { ended: ended.length, unlinked, personalDataRemoved: removed },
      });
      return ended;
    });
  }

  /** Meta's new number of a move, if it is a valid one other than the old; a bad one must not stop the move. */
  private newNumberOf(newPhone: string | undefined, old: IdentifiedSubject): IdentifiedSubject | undefined {
    if (newPhone === undefined) return undefined;
    try {
      const next = this.resolver.identify({ phone: newPhone });
      return next.pseudonym === old.pseudonym ? undefined : next;
    } catch (err) {
      if (err instanceof GdprWhatsAppError) return undefined;
      throw err;
    }
  }

  /**
   * What the present holder of `p` opted out of herself since the number was last handed on: purposes (a STOP, an
   * objection, Meta's marketing opt-out, one carried from her own previous number) and the erasure list. Not an
   * ending by an earlier move, nor what a previous holder said.
   */
  private async ownOptOuts(tx: StoreTx, p: string): Promise<OptOuts> {
    const since = lastAt(await tx.listAudit(p), NUMBER_CHANGED) ?? Number.NEGATIVE_INFINITY;
    const purposes: PurposeDefinition[] = [];
    for (const row of await tx.listConsents(p)) {
      const def = this.purposes.get(row.purpose);
      // An earlier move's endings are as old as its marker.
      if (def && row.status === 'withdrawn' && row.updatedAt > since) purposes.push(def);
    }
    const listedAt = await tx.suppressedAt(p);
    return { purposes, erased: listedAt !== undefined && listedAt > since };
  }

  /**
   * A person's opt-outs, and her place on the erasure list, follow her to her new number (Art. 21(3): an objection is
   * the person's, not the number's). A consent purpose needs a new consent there anyway, so in effect the objections
   * to contract and legitimate-interest purposes move. What the new number has given or requested stays: webhooks
   * come in any order, and a consent given there may be hers already.
   */
  private async followToNewNumber(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    to: IdentifiedSubject,
    optOuts: OptOuts,
    opt: { channel: WithdrawalChannel; actor: string; messageId?: string },
  ): Promise<void> {
    const open: PurposeDefinition[] = [];
    for (const def of optOuts.purposes) {
      const existing = await tx.getConsent(to.pseudonym, def.id);
      if (!existing || !ACTIVE_STATUSES.includes(existing.status as ConsentStatus)) open.push(def);
    }
    const carried = await this.withdrawIn(tx, now, events, to.pseudonym, to, open, { ...opt, auditNothing: false });
    const listed = optOuts.erased && (await tx.suppressedAt(to.pseudonym)) === undefined;
    if (listed) await tx.putSuppression(to.pseudonym, now, opt.actor);
    if (carried.length === 0 && !listed) return;
    await this.audit(tx, now, {
      action: OPT_OUTS_CARRIED,
      actor: opt.actor,
      pseudonym: to.pseudonym,
      outcome: 'carried',
      detail: { withdrawn: carried.length, erasureListed: listed },
    });
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
      if (state !== undefined) return evaluateCheck(def, state, this.clock());
    }
    const identified = this.resolver.identify(subject);
    let pseudonym = identified.pseudonym;
    if (identified.userIdOnly) pseudonym = (await this.store.read.resolveAlias(pseudonym)) ?? pseudonym;
    const state = pseudonym === looked ? undefined : await this.checkState(pseudonym, def.id);
    return evaluateCheck(def, state, this.clock());
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
    const p = await this.pseudonymOf(this.store.read, identified);
    const row = await this.store.read.getConsent(p, def.id);
    return row ? this.records.toRecord(row) : undefined;
  }

  /** Batched: the gate calls this per message; the store gets one write per flush interval. */
  markUsed(subject: SubjectInput, purpose: string): void {
    const def = this.requirePurpose(purpose);
    const { pseudonym } = this.resolver.identify(subject);
    this.usage.set(`${pseudonym}\u0000${def.id}`, { pseudonym, purpose: def.id });
  }

  async flushUsage(): Promise<number> {
    if (this.usage.size === 0) return 0;
    const marks = [...this.usage.values()];
    this.usage.clear();
    const now = this.clock();
    await this.store.write((tx) => tx.touchUsage(marks, now, now + this.retention.proofRetentionMs), { serial: false });
    return marks.length;
  }

  // ---------------------------------------------------------------- notices, service window, blocks

  async recordNoticeShown(
    subject: SubjectInput,
    noticeVersion: string,
    options: { messageId?: string; actor: string },
  ): Promise<void> {
    const version = optionalText(noticeVersion, 'noticeVersion', 128);
    if (!version)
      throw new GdprWhatsAppError('invalid-input', 'The notice version is required', { field: 'noticeVersion' });
    const actor = requireActor(options?.actor);
    const messageId = optionalText(options.messageId, 'messageId', 256);
    const identified = this.resolver.identify(subject);
    await this.change(async (tx, now, events) => {
      const p = await this.pseudonymOf(tx, identified);
      await this.saveIdentity(tx, { ...identified, pseudonym: p }, now);
      await tx.putNotice({
        pseudonym: p,
        noticeVersion: version,
        shownAt: now,
        messageIdEnc: this.cipher.encryptOptional(messageId, 'notice_message_id', p),
        actor,
      });
      await this.audit(tx, now, {
        action: 'notice.shown',
        actor,
        pseudonym: p,
        outcome: 'shown',
        detail: { noticeVersion: version },
      });
      events.push(ledgerEvent('notice.shown', identified, now, undefined, undefined, p));
    });
  }

  async hasSeenNotice(subject: SubjectInput, noticeVersion: string): Promise<boolean> {
    if (typeof noticeVersion !== 'string' || noticeVersion === '') return false;
    const identified = this.resolver.identify(subject);
    const p = await this.pseudonymOf(this.store.read, identified);
    return this.store.read.hasNotice(p, noticeVersion);
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
   * first: a subject row under it proves it canonical (see checkConsent), and saves parsing it.
   */
  private async storeInbound(tx: StoreTx, subject: SubjectInput, when: number): Promise<void> {
    const candidate = this.resolver.lookupCandidate(subject);
    if (candidate !== undefined) {
      const known = this.pseudonyms.forPhone(candidate);
      if (await tx.setLastInbound(known, when)) {
        this.resolver.rememberCanonical(subject, candidate, known);
        return;
      }
    }
    const p = await this.pseudonymOf(tx, this.resolver.identify(subject));
    if (await tx.setLastInbound(p, when)) return;
    if (await tx.getSubject(p)) return;
    const now = this.clock();
    await tx.putSubject({
      pseudonym: p,
      phoneEnc: null,
      waIdEnc: null,
      userIdEnc: null,
      nameEnc: null,
      lastInboundAt: when,
      createdAt: now,
      updatedAt: now,
    });
  }

  /**
   * The new business-scoped user id finds the records kept under the previous one (its own, or the number's it
   * was seen with), so consent given before the change still counts and a STOP under the new id withdraws it.
   * New ids are Meta's, given to the same WhatsApp account, so no one else's consent is carried over.
   */
  async linkUserId(input: LinkUserIdInput): Promise<LinkUserIdOutcome> {
    const actor = requireActor(input?.actor);
    const previous = this.resolver.identify({ userId: input.previousUserId });
    const next = this.resolver.identify({ userId: input.userId });
    if (previous.pseudonym === next.pseudonym) {
      throw new GdprWhatsAppError('invalid-input', 'The new user id must differ from the previous one', {
        field: 'userId',
      });
    }
    return this.change(async (tx, now, events) => {
      const target = (await tx.resolveAlias(previous.pseudonym)) ?? previous.pseudonym;
      if (target === previous.pseudonym && !(await this.holdsRecords(tx, target))) return 'unknown';
      const linkedAlready = await tx.resolveAlias(next.pseudonym);
      if (linkedAlready === target) return 'linked';
      // The new id names a number's records already: whose opt-outs are there (a previous holder's?) is unknown.
      if (linkedAlready !== undefined) return 'separate';
      // Webhooks come in any order: a STOP under the new id handled before this message counts for the old records.
      const own = await tx.listConsents(next.pseudonym);
      await this.carryOptOuts(tx, now, events, next.pseudonym, own, target, next, actor);
      // A bare row (the new id wrote first, opening the 24-hour window) is only shadowed; a consent or a refusal of
      // its own would be hidden.
      if (own.some((r) => r.status === 'refused' || ACTIVE_STATUSES.includes(r.status as ConsentStatus))) {
        return 'separate';
      }
      await tx.putAlias(next.pseudonym, target);
      await this.audit(tx, now, { action: 'subject.user-id-changed', actor, pseudonym: target, outcome: 'linked' });
      return 'linked';
    });
  }

  /**
   * Whether a move away from the number `p` was handled at or after `sentAt`. Meta's time of a message compares with
   * the time the move was handled here, not Meta's time of it: a provider hands a number on months later, not within
   * the minutes between the two.
   */
  private async movedAwaySince(tx: StoreTx, p: string, sentAt: number): Promise<boolean> {
    return tx.hasAuditSince(p, NUMBER_CHANGED, sentAt - CLOCK_MARGIN_MS);
  }

  /**
   * On the erasure list and not signed up again: nothing given or requested on record (rows the person did not make,
   * an expired request or an objection, do not count as coming back). An entry older than the number's last move is
   * its previous holder's: the present one may still opt out, and take that along when he moves on.
   */
  private async erasedAndGone(tx: StoreTx, p: string): Promise<boolean> {
    const listedAt = await tx.suppressedAt(p);
    if (listedAt === undefined || !(await this.hasNoLiveRecord(tx, p))) return false;
    return !(await tx.hasAuditSince(p, NUMBER_CHANGED, listedAt));
  }

  /** Anything kept under `pseudonym`: its record, or consents and their history (kept longer than the record). */
  private async holdsRecords(tx: StoreTx, pseudonym: string): Promise<boolean> {
    if (await tx.getSubject(pseudonym)) return true;
    if ((await tx.listConsents(pseudonym)).length > 0) return true;
    return (await tx.listHistory(pseudonym)).length > 0;
  }

  /**
   * The opt-outs recorded under `home` (the new id's records) applied to `target` (the previous id's). Which purposes
   * a STOP covered is not recorded where it found nothing on record, so any opt-out counts for every purpose, except
   * Meta's marketing opt-out, which counts for the marketing purposes (and those withdrawn by it).
   */
  private async carryOptOuts(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    home: string,
    own: readonly ConsentRow[],
    target: string,
    subject: IdentifiedSubject,
    actor: string,
  ): Promise<void> {
    const withdrawn = own.filter((r) => r.status === 'withdrawn' && r.withdrawalChannel !== 'whatsapp-number-change');
    const blindStops = (await tx.listAudit(home)).filter(
      (a) => a.action === 'consent.withdrawn' && a.outcome === NOTHING_TO_WITHDRAW,
    );
    const channels = [...withdrawn.map((r) => r.withdrawalChannel), ...blindStops.map((a) => a.detail?.channel)];
    // An erasure of the new id (its opt-outs went with it) is the widest opt-out of all.
    if ((await tx.suppressedAt(home)) !== undefined) channels.push('api');
    if (channels.length === 0) return;
    const onlyMarketing = channels.every((c) => c === 'meta-marketing-optout');
    const withdrawnThere = new Set(withdrawn.map((r) => r.purpose));
    const targets = [...this.purposes.values()].filter(
      (d) => !onlyMarketing || d.marketing || withdrawnThere.has(d.id),
    );
    const channel = WITHDRAWAL_CHANNELS.find((c) => c === channels[0]) ?? 'api';
    await this.withdrawIn(tx, now, events, target, subject, targets, { channel, actor, auditNothing: false });
  }

  async lastInboundAt(subject: SubjectInput): Promise<number | undefined> {
    const identified = this.resolver.identify(subject);
    const p = await this.pseudonymOf(this.store.read, identified);
    return (await this.store.read.getSubject(p))?.lastInboundAt ?? undefined;
  }

  async recordBlocked(subject: SubjectInput, purpose: string, reason: string, actor: string): Promise<void> {
    const who = requireActor(actor);
    const why = optionalText(reason, 'reason', 64) ?? 'unspecified';
    const identified = this.resolver.identify(subject);
    await this.change(async (tx, now) => {
      const p = await this.pseudonymOf(tx, identified);
      await this.audit(tx, now, {
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
  async eraseSubject(subject: SubjectInput, actor: string): Promise<EraseReport> {
    const who = requireActor(actor);
    const identified = this.resolver.identify(subject);
    const { report, keys, phone } = await this.change(async (tx, now, events) => {
      const p = await this.pseudonymOf(tx, identified);
      const keys = await this.subjectKeys(tx, identified, p);
      // Erased by user id alone, the number is known only from the record: forgotten below, and named in the event.
      const phone = identified.phone ?? (await this.knownPhone(tx, p));
      const removed = await tx.eraseSubject(p, keys.slice(1));
      const found = Object.values(removed).some((count) => count > 0);
      // Under every key: a later message by user id alone finds the erasure too, not an empty record.
      for (const key of keys) await tx.putSuppression(key, now, who);
      await this.audit(tx, now, {
        action: 'dsr.erasure_executed',
        actor: who,
        pseudonym: p,
        outcome: found ? 'erased' : 'nothing-found',
        detail: { removed },
      });
      events.push(ledgerEvent('subject.erased', { ...identified, phone }, now, undefined, undefined, p));
      return { report: { found, removed, at: now, pseudonym: p }, keys, phone };
    });
    this.usage.forEach((mark, key) => {
      if (keys.includes(mark.pseudonym)) this.usage.delete(key);
    });
    if (phone) this.resolver.forget(phone);
    await this.store.scrub(report.removed);
    return report;
  }

  /**
   * Every key the subject's records may be kept under, the subject's own first: records made under a user id
   * before the number was known stay under that id's key, linked to the number's record by an alias.
   */
  private async subjectKeys(tx: StoreTx, identified: IdentifiedSubject, p: string): Promise<string[]> {
    const ownKeys = [identified.userIdAlias, identified.userIdOnly ? identified.pseudonym : undefined];
    const keys = [p, ...ownKeys, ...(await tx.aliasesOf(p))].filter((key): key is string => key !== undefined);
    return [...new Set(keys)];
  }

  private async knownPhone(tx: StoreTx, p: string): Promise<string | undefined> {
    const row = await tx.getSubject(p);
    return row ? this.records.decryptSubject(row).phone : undefined;
  }

  async isSuppressed(subject: SubjectInput): Promise<boolean> {
    const identified = this.resolver.identify(subject);
    const p = await this.pseudonymOf(this.store.read, identified);
    return (await this.store.read.suppressedAt(p)) !== undefined;
  }

  /**
   * Art. 15 and 20 GDPR: everything held about one subject, decrypted, as one JSON-able document, including what was
   * kept under the person's user id before their number was known. After the number moved to another person
   * (numberChanged), what its records held up to the move is the previous holder's: it is left out, unless
   * `beforeNumberChange` asks for exactly that part (staff answering the previous holder, whose identity they checked).
   */
  async exportSubject(subject: SubjectInput, actor: string, options: ExportOptions = {}): Promise<SubjectExport> {
    const who = requireActor(actor);
    const identified = this.resolver.identify(subject);
    const previousHolder = options.beforeNumberChange === true;
    return this.change(async (tx, now) => {
      const p = await this.pseudonymOf(tx, identified);
      const movedAt = lastAt(await tx.listAudit(p), NUMBER_CHANGED);
      // Only the number's own records changed hands; what is kept under a user id is always that person's.
      const ofHolder = (key: string, at: number): boolean => {
        if (key !== p || movedAt === undefined) return !previousHolder;
        return previousHolder ? at <= movedAt : at > movedAt;
      };
      const rows: SubjectRow[] = [];
      const consents: ConsentRow[] = [];
      const history: ArchivedConsentRow[] = [];
      const notices: NoticeRow[] = [];
      const keys = previousHolder ? [p] : await this.subjectKeys(tx, identified, p);
      // One after the other: a PostgreSQL transaction is one connection.
      for (const key of keys) {
        const row = await tx.getSubject(key);
        if (row && ofHolder(key, row.createdAt)) rows.push(row);
        consents.push(...(await tx.listConsents(key)).filter((c) => ofHolder(key, c.updatedAt)));
        history.push(...(await tx.listHistory(key)).filter((h) => ofHolder(key, h.updatedAt)));
        notices.push(...(await tx.listNotices(key)).filter((n) => ofHolder(key, n.shownAt)));
      }
      const suppressedAt = await tx.suppressedAt(p);
      const erasedAt = suppressedAt !== undefined && ofHolder(p, suppressedAt) ? suppressedAt : undefined;
      const found = rows.length + consents.length + history.length + notices.length > 0;
      await this.audit(tx, now, {
        action: 'dsr.access_fulfilled',
        actor: who,
        pseudonym: p,
        outcome: found ? 'exported' : 'nothing-found',
        detail: previousHolder ? { part: 'before-number-change' } : undefined,
      });
      // Read after that event was written: the export lists its own access too (the previous holder's part does
      // not: the access happened after the move).
      const audit = [];
      for (const key of keys) audit.push(...(await tx.listAudit(key)).filter((e) => ofHolder(key, e.at)));
      return {
        exportedAt: now,
        pseudonym: p,
        found,
        numberChangedAt: movedAt,
        erased: erasedAt === undefined ? undefined : { at: erasedAt },
        subject: rows.length > 0 ? this.mergedSubject(rows) : undefined,
        consents: consents.map((c) => this.records.toRecord(c)),
        history: history.map((h) => ({ ...this.records.toRecord(h), archivedAt: h.archivedAt })),
        notices: notices.map((n) => ({
          noticeVersion: n.noticeVersion,
          shownAt: n.shownAt,
          messageId: this.cipher.decryptOptional(n.messageIdEnc, 'notice_message_id', n.pseudonym),
          actor: n.actor,
        })),
        auditEvents: audit
          .sort((a, b) => a.seq - b.seq)
          .map((e) => ({
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            purpose: e.purpose,
            outcome: e.outcome,
          })),
      };
    });
  }

  /** The subject's own record first; what only a record under the user id knows (a name, say) fills the gaps. */
  private mergedSubject(rows: readonly SubjectRow[]): NonNullable<SubjectExport['subject']> {
    const [own, ...linked] = rows.map((row) => this.records.decryptSubject(row));
    const merged = { ...own };
    for (const other of linked) {
      for (const [field, value] of Object.entries(other) as [keyof typeof merged, unknown][]) {
        if (merged[field] === undefined && value !== undefined) Object.assign(merged, { [field]: value });
      }
    }
    return merged;
  }

  // ---------------------------------------------------------------- retention

  /** Runs the retention rules once; concurrent calls share one run. */
  sweepRetention(): Promise<SweepReport> {
    if (!this.sweeping) {
      this.sweeping = this.sweepOnce().finally(() => {
        this.sweeping = undefined;
      });
    }
    return this.sweeping;
  }

  startRetentionTimer(ms: number): void {
    const every = positiveMs(ms, 'interval', 3_600_000);
    this.stopRetentionTimer();
    this.retentionTimer = setInterval(() => {
      this.sweepRetention().catch((err) => this.emit('warning', err));
    }, every);
    this.retentionTimer.unref();
  }

  stopRetentionTimer(): void {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = undefined;
  }

  private async sweepOnce(): Promise<SweepReport> {
    const now = this.clock();
    const batch = this.retention.sweepBatchSize;
    const report: SweepReport = {
      at: now,
      expiredRequests: 0,
      personalDataRemoved: 0,
      proofRemoved: 0,
      noticesRemoved: 0,
      auditEventsRemoved: 0,
      dedupeMarksRemoved: 0,
    };
    const repeat = async (step: (tx: StoreTx) => Promise<number>, serial = true): Promise<number> => {
      let total = 0;
      for (;;) {
        const done = await this.store.write(step, { serial });
        total += done;
        if (done < batch) return total;
      }
    };
    report.expiredRequests = await this.repeatWithEvents(async (tx, events) => {
      const rows = await tx.expiredPending(now, batch);
      await this.expireAll(tx, rows, now, 'retention', events);
      return rows.length;
    }, batch);
    report.personalDataRemoved = await repeat(async (tx) => {
      const subjects = await tx.inactiveSubjects(now - this.retention.personalDataMs, batch);
      for (const p of subjects) await tx.removePersonalData(p);
      return subjects.length;
    });
    report.proofRemoved = await repeat((tx) => tx.deleteEndedProof(now, batch));
    report.noticesRemoved = await repeat((tx) => tx.deleteOldNotices(now - this.retention.proofRetentionMs, batch));
    report.auditEventsRemoved = await repeat((tx) => tx.purgeAuditBefore(now - this.retention.proofRetentionMs, batch));
    report.dedupeMarksRemoved = await repeat((tx) => tx.deleteExpiredDedupe(now, batch), false);
    const { at: _at, ...counts } = report;
    await this.change(async (tx) => {
      await this.audit(tx, now, { action: 'retention.purge_run', actor: 'retention', outcome: 'done', detail: counts });
    });
    if (report.personalDataRemoved > 0 || report.proofRemoved > 0) await this.store.scrub();
    return report;
  }

  private async repeatWithEvents(
    step: (tx: StoreTx, events: LedgerEvent[]) => Promise<number>,
    batch: number,
  ): Promise<number> {
    let total = 0;
    for (;;) {
      const done = await this.change((tx, _now, events) => step(tx, events));
      total += done;
      if (done < batch) return total;
    }
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
  ): Promise<ClaimOutcome[]> {
    const hashed = keys.map((key) => this.dedupeKey(key));
    const lease = positiveMs(leaseMs, 'leaseMs', DEDUPE_LEASE_MS);
    const now = this.clock();
    return this.store.write(
      async (tx) => {
        const outcomes: ClaimOutcome[] = new Array(hashed.length);
        // In one global order: two instances claiming overlapping deliveries never wait on each other in a cycle.
        for (const i of lockOrder(hashed)) outcomes[i] = await tx.claimDedupe(hashed[i], now + lease, now);
        const claimed = new Set(keys.filter((_, i) => outcomes[i] === 'claimed'));
        for (const { key, subject, at } of inbound) {
          if (!claimed.has(key) || !Number.isSafeInteger(at) || at < 0) continue;
          try {
            await this.storeInbound(tx, subject, at);
          } catch (err) {
            if (!(err instanceof GdprWhatsAppError && UNUSABLE_SENDER_CODES.has(err.code))) throw err;
          }
        }
        return outcomes;
      },
      { serial: false, waitForDisk: false },
    );
  }

  async completeAll(keys: readonly string[], ttlMs: number): Promise<void> {
    const hashed = keys.map((key) => this.dedupeKey(key));
    const ttl = positiveMs(ttlMs, 'ttlMs', this.retention.dedupeTtlMs);
    const now = this.clock();
    await this.store.write(
      async (tx) => {
        for (const i of lockOrder(hashed)) await tx.completeDedupe(hashed[i], now + ttl);
      },
      { serial: false, waitForDisk: false },
    );
  }

  async releaseAll(keys: readonly string[]): Promise<void> {
    const hashed = keys.map((key) => this.dedupeKey(key));
    await this.store.write(
      async (tx) => {
        for (const i of lockOrder(hashed)) await tx.releaseDedupe(hashed[i]);
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
    const anchor = await this.store.read.auditAnchor();
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
    const lines: string[] = [];
    let from = after;
    if (from === undefined) {
      const anchor = await this.store.read.auditAnchor();
      if (anchor) lines.push(canonicalJson({ type: 'anchor', seq: anchor.seq, hash: anchor.hash }));
      from = anchor?.seq ?? 0;
    }
    const page = await this.store.read.auditPage(from, size);
    for (const record of page) lines.push(canonicalJson(record));
    return page.length < size ? { lines } : { lines, next: page[page.length - 1].seq };
  }

  /** Database-level check (SQLite PRAGMA integrity_check); "ok" when sound. */
  integrityCheck(): Promise<string> {
    return this.store.integrityCheck();
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        this.stopRetentionTimer();
        if (this.usageTimer) clearInterval(this.usageTimer);
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

  /** Runs one serial transaction; events are emitted only after it is committed. */
  private async change<T>(work: (tx: StoreTx, now: number, events: LedgerEvent[]) => Promise<T>): Promise<T> {
    const events: LedgerEvent[] = [];
    const result = await this.store.write((tx) => {
      events.length = 0;
      return work(tx, this.clock(), events);
    });
    for (const event of events) this.emit('event', event);
    return result;
  }

  /**
   * Every change of a consent in one place: the row's new state, its audit event (action = event type, outcome =
   * the new status, by the row's actor) and the event emitted once the transaction is committed.
   */
  private async storeConsent(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    row: ConsentRow,
    subject: IdentifiedSubject,
    change: ConsentChange,
    detail: Record<string, unknown>,
    eventExtra: Partial<LedgerEvent> = {},
  ): Promise<ConsentRecord> {
    await tx.putConsent(row);
    await this.audit(tx, now, {
      action: change,
      actor: row.actor,
      pseudonym: row.pseudonym,
      purpose: row.purpose,
      outcome: row.status,
      detail,
    });
    const status = row.status as ConsentStatus;
    events.push({ ...ledgerEvent(change, subject, now, row.purpose, status, row.pseudonym), ...eventExtra });
    return this.records.toRecord(row);
  }

  private async audit(tx: StoreTx, now: number, entry: AuditEntry): Promise<void> {
    await this.auditAll(tx, now, [entry]);
  }

  /** Appends the entries to the hash chain in order, in one statement where the backend has one. */
  private async auditAll(tx: StoreTx, now: number, entries: readonly AuditEntry[]): Promise<void> {
    const records = chainAuditEntries(await tx.auditHead(), now, entries, this.instanceId);
    if (records.length === 1) await tx.insertAudit(records[0]);
    else await tx.insertAudits(records);
  }

  /** Pending requests past their expiry, a sweep's batch at once: three statements, not three per request. */
  private async expireAll(
    tx: StoreTx,
    rows: readonly ConsentRow[],
    now: number,
    actor: string,
    events: LedgerEvent[],
  ): Promise<void> {
    if (rows.length === 0) return;
    await tx.setConsentStatuses(rows, 'expired', now, now + this.retention.proofRetentionMs);
    await this.auditAll(
      tx,
      now,
      rows.map((row) => ({
        action: 'consent.expired',
        actor,
        pseudonym: row.pseudonym,
        purpose: row.purpose,
        outcome: 'expired',
        detail: { purposeVersion: row.purposeVersion },
      })),
    );
    for (const row of rows) {
      events.push({
        type: 'consent.expired',
        pseudonym: row.pseudonym,
        purpose: row.purpose,
        at: now,
        status: 'expired',
      });
    }
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

  /** A BSUID seen before together with a number leads to the number's records. */
  private async pseudonymOf(tx: StoreTx, subject: IdentifiedSubject): Promise<string> {
    if (!subject.userIdOnly) return subject.pseudonym;
    return (await tx.resolveAlias(subject.pseudonym)) ?? subject.pseudonym;
  }

  private async saveIdentity(tx: StoreTx, subject: IdentifiedSubject, now: number): Promise<void> {
    const p = subject.pseudonym;
    await tx.putSubject(this.records.subjectRow(subject, await tx.getSubject(p), now));
    if (subject.userIdAlias && subject.userIdAlias !== p) await tx.putAlias(subject.userIdAlias, p);
  }
}

async function openStore(
  options: LedgerOptions,
  clock: () => number,
  onError: (err: Error) => void,
): Promise<LedgerStore> {
  if (options.backend === 'sqlite') {
    if (!options.sqlitePath) throw new GdprWhatsAppError('missing-sqlite-path', 'The SQLite file path is missing');
    return SqliteStore.open({ path: options.sqlitePath, clock });
  }
  if (options.backend === 'postgres') {
    if (!options.postgresUrl) {
      throw new GdprWhatsAppError('missing-postgres-url', 'The PostgreSQL connection URL is missing');
    }
    return PostgresStore.open({ url: options.postgresUrl, schema: options.postgresSchema, clock, onError });
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
