import type { ConsentRow, SubjectRow } from '../store/types';
import type { FieldCipher } from './keys';
import { type PurposeDefinition, sha256Hex } from './purposes';
import type { IdentifiedSubject } from './subjects';
import type {
  ConfirmationVia,
  ConsentRecord,
  ConsentStatus,
  LedgerEvent,
  SubjectExport,
  WithdrawalChannel,
} from './types';

/**
 * Between the store's rows and what the ledger answers: personal data is encrypted on the way in and decrypted on
 * the way out, each field under its own name and the subject's pseudonym (FieldCipher).
 */
export class LedgerRecords {
  constructor(
    private readonly cipher: FieldCipher,
    private readonly proofRetentionMs: number,
  ) {}

  /** A consent row with nothing decided yet, kept as proof for the retention period from `now`. */
  blankConsent(p: string, def: PurposeDefinition, wording: string, now: number, actor: string): ConsentRow {
    return {
      pseudonym: p,
      purpose: def.id,
      status: 'refused',
      expiresAt: null,
      purposeVersion: def.version,
      wording,
      wordingSha256: sha256Hex(wording),
      language: null,
      noticeVersion: null,
      lawfulBasis: def.lawfulBasis,
      method: 'agent',
      source: null,
      sourceEnc: null,
      requestedAt: null,
      requestMessageIdEnc: null,
      requestId: null,
      requestSentAt: null,
      requestPhoneNumberId: null,
      requestInboundAt: null,
      decidedAt: null,
      confirmationMessageIdEnc: null,
      confirmationTextEnc: null,
      confirmationVia: null,
      confirmationMatch: null,
      replacedByRequestId: null,
      withdrawnAt: null,
      withdrawalChannel: null,
      withdrawalMessageIdEnc: null,
      withdrawalTextEnc: null,
      withdrawalKeyword: null,
      lastUsedAt: null,
      retainUntil: now + this.proofRetentionMs,
      updatedAt: now,
      actor,
    };
  }

  toRecord(row: ConsentRow): ConsentRecord {
    const p = row.pseudonym;
    const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value);
    return {
      pseudonym: p,
      purpose: row.purpose,
      purposeVersion: row.purposeVersion,
      status: row.status as ConsentStatus,
      lawfulBasis: row.lawfulBasis as ConsentRecord['lawfulBasis'],
      wording: row.wording,
      wordingSha256: row.wordingSha256,
      language: opt(row.language),
      noticeVersion: opt(row.noticeVersion),
      method: row.method as ConsentRecord['method'],
      source: this.cipher.decryptOptional(row.sourceEnc, 'source', p) ?? opt(row.source),
      requestedAt: opt(row.requestedAt),
      requestMessageId: this.requestMessageId(row),
      requestId: opt(row.requestId),
      requestSentAt: opt(row.requestSentAt),
      requestPhoneNumberId: opt(row.requestPhoneNumberId),
      expiresAt: opt(row.expiresAt),
      decidedAt: opt(row.decidedAt),
      confirmationMessageId: this.cipher.decryptOptional(row.confirmationMessageIdEnc, 'confirmation_message_id', p),
      confirmationText: this.cipher.decryptOptional(row.confirmationTextEnc, 'confirmation_text', p),
      confirmationVia: opt(row.confirmationVia) as ConfirmationVia | undefined,
      confirmationMatch: opt(row.confirmationMatch),
      replacedByRequestId: opt(row.replacedByRequestId),
      withdrawnAt: opt(row.withdrawnAt),
      withdrawalChannel: opt(row.withdrawalChannel) as WithdrawalChannel | undefined,
      withdrawalMessageId: this.cipher.decryptOptional(row.withdrawalMessageIdEnc, 'withdrawal_message_id', p),
      withdrawalText: this.cipher.decryptOptional(row.withdrawalTextEnc, 'withdrawal_text', p),
      withdrawalKeyword: opt(row.withdrawalKeyword),
      lastUsedAt: opt(row.lastUsedAt),
      retainUntil: row.retainUntil,
      updatedAt: row.updatedAt,
      actor: row.actor,
    };
  }

  /** The id of the message that carried the request, when it is on record. */
  requestMessageId(row: ConsentRow): string | undefined {
    return this.cipher.decryptOptional(row.requestMessageIdEnc, 'request_message_id', row.pseudonym);
  }

  /** The subject's row after `subject` was seen: identifiers kept encrypted once known, the name updated. */
  subjectRow(subject: IdentifiedSubject, existing: SubjectRow | undefined, now: number): SubjectRow {
    const p = subject.pseudonym;
    const enc = (value: string | undefined, field: string, current: string | null | undefined) =>
      value === undefined ? (current ?? null) : this.cipher.encrypt(value, field, p);
    return {
      pseudonym: p,
      phoneEnc: existing?.phoneEnc ?? (subject.phone ? this.cipher.encrypt(subject.phone, 'phone', p) : null),
      waIdEnc: existing?.waIdEnc ?? (subject.waId ? this.cipher.encrypt(subject.waId, 'wa_id', p) : null),
      userIdEnc: existing?.userIdEnc ?? (subject.userId ? this.cipher.encrypt(subject.userId, 'user_id', p) : null),
      nameEnc: enc(subject.name, 'name', existing?.nameEnc),
      lastInboundAt: existing?.lastInboundAt ?? null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
  }

  decryptSubject(row: SubjectRow): NonNullable<SubjectExport['subject']> {
    const p = row.pseudonym;
    return {
      phone: this.cipher.decryptOptional(row.phoneEnc, 'phone', p),
      waId: this.cipher.decryptOptional(row.waIdEnc, 'wa_id', p),
      userId: this.cipher.decryptOptional(row.userIdEnc, 'user_id', p),
      name: this.cipher.decryptOptional(row.nameEnc, 'name', p),
      firstSeenAt: row.createdAt,
      lastInboundAt: row.lastInboundAt ?? undefined,
      previousInboundAt: row.previousInboundAt ?? undefined,
    };
  }
}

/** The event a change emits once committed; it carries the number and user id, consent-events passes them on only when asked. */
export function ledgerEvent(
  type: LedgerEvent['type'],
  subject: IdentifiedSubject,
  at: number,
  purpose?: string,
  status?: ConsentStatus,
  pseudonym = subject.pseudonym,
): LedgerEvent {
  return { type, pseudonym, purpose, at, status, phone: subject.phone, userId: subject.userId };
}
