import type { AuditAnchor, AuditRecord } from '../consent/audit-verify';
import { CLEAR_PROOF, type Dialect, ENDED, HOLDS_PROOF, NUMBER_CHANGE_EVENT, STANDING } from './schema';
import type {
  ArchivedConsentRow,
  CheckState,
  ConsentRow,
  ConsentState,
  EventConsumers,
  HolderSpan,
  NoticeFilter,
  NoticeRow,
  OutboxRow,
  PurposeVersionRow,
  RemovedPurposeRow,
  StoreTx,
  SubjectRow,
  UsageMark,
} from './types';

/** Arrays only for PostgreSQL's bulk statements (unnest); SQLite binds scalars. */
export type SqlValue = string | number | null | (string | number | null)[];
export type SqlRow = Record<string, unknown>;

/** What a backend provides: statements written once with $1, $2 ... placeholders. */
export interface SqlConnection {
  readonly dialect: Dialect;
  all(sql: string, params?: SqlValue[]): Promise<SqlRow[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: SqlValue[]): Promise<number>;
}

/**
 * Events whose numbers the ledger no longer holds once they are written (an erasure's; a move's, whose old number's
 * record the move removed): delivered or expired, the store is scrubbed of them.
 */
export const OUTBOX_SCRUBBED_TYPES = ['subject.erased', 'subject.number-changed'] as const;

const CONSENT_FIELDS: [keyof ConsentRow, string][] = [
  ['pseudonym', 'pseudonym'],
  ['purpose', 'purpose'],
  ['status', 'status'],
  ['expiresAt', 'expires_at'],
  ['purposeVersion', 'purpose_version'],
  ['wordingSha256', 'wording_sha256'],
  ['language', 'language'],
  ['noticeVersion', 'notice_version'],
  ['lawfulBasis', 'lawful_basis'],
  ['method', 'method'],
  ['source', 'source'],
  ['sourceEnc', 'source_enc'],
  ['requestedAt', 'requested_at'],
  ['requestMessageIdEnc', 'request_message_id_enc'],
  ['decidedAt', 'decided_at'],
  ['confirmationMessageIdEnc', 'confirmation_message_id_enc'],
  ['confirmationTextEnc', 'confirmation_text_enc'],
  ['withdrawnAt', 'withdrawn_at'],
  ['withdrawalChannel', 'withdrawal_channel'],
  ['withdrawalMessageIdEnc', 'withdrawal_message_id_enc'],
  ['withdrawalTextEnc', 'withdrawal_text_enc'],
  ['withdrawalKeyword', 'withdrawal_keyword'],
  ['lastUsedAt', 'last_used_at'],
  ['retainUntil', 'retain_until'],
  ['updatedAt', 'updated_at'],
  ['actor', 'actor'],
  // Schema version 11.
  ['requestId', 'request_id'],
  ['requestSentAt', 'request_sent_at'],
  ['requestPhoneNumberId', 'request_phone_number_id'],
  ['confirmationVia', 'confirmation_via'],
  ['confirmationMatch', 'confirmation_match'],
  // Schema version 12.
  ['replacedByRequestId', 'replaced_by_request_id'],
  // Schema version 15.
  ['requestInboundAt', 'request_inbound_at'],
];
const CONSENT_COLUMNS = CONSENT_FIELDS.map(([, column]) => column);
const CONSENT_NUMBERS = new Set<keyof ConsentRow>([
  'expiresAt',
  'requestedAt',
  'decidedAt',
  'withdrawnAt',
  'lastUsedAt',
  'retainUntil',
  'updatedAt',
  'requestSentAt',
  'requestInboundAt',
]);
const placeholders = (count: number, from = 1) => Array.from({ length: count }, (_, i) => `$${i + from}`).join(', ');

function toNoticeRow(pseudonym: string, noticeVersion: string, r: SqlRow): NoticeRow {
  return {
    id: Number(r.id),
    pseudonym,
    noticeVersion,
    shownAt: Number(r.shown_at),
    messageIdEnc: text(r.message_id_enc),
    actor: String(r.actor),
  };
}

/** No record, standing or archived, uses the wording with hash `sha256` (a column or a placeholder). */
const unusedWording = (sha256: string) =>
  `NOT EXISTS (SELECT 1 FROM consents c WHERE c.wording_sha256 = ${sha256})
   AND NOT EXISTS (SELECT 1 FROM consent_history h WHERE h.wording_sha256 = ${sha256})`;

/** A request nobody confirmed (lib/consent/rules.ts isUnconfirmedRequest). */
const unconfirmedRequest = (alias: string) =>
  `(${alias}status = 'pending' OR (${alias}status = 'expired' AND ${alias}expires_at IS NOT NULL))`;

/** A record that forbids sending for a purpose that needs no consent: an objection, or the end a number's move made. */
const forbids = (alias: string) =>
  `(${alias}status IN ('refused', 'withdrawn') OR (${alias}status = 'expired' AND ${alias}expires_at IS NULL))`;
const consentSelect = (table: string, extra = '') =>
  `SELECT ${CONSENT_COLUMNS.map((c) => `c.${c}`).join(', ')}, w.text AS wording${extra} FROM ${table} c JOIN wordings w ON w.sha256 = c.wording_sha256`;
// PostgreSQL BIGINT arrives as a string unless the pool parses it; accept both.
const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

/**
 * A purpose where an objection is what forbids: one of `count` configured ones (placeholders from `from`), or one any
 * store on the database registered without consent as its basis (purpose_versions).
 */
function objectionPurposeSql(column: string, count: number, from: number): string {
  const configured = count ? `${column} IN (${placeholders(count, from)}) OR ` : '';
  return `(${configured}${column} IN (SELECT v.purpose FROM purpose_versions v WHERE v.lawful_basis <> 'consent'))`;
}

/** ` AND column > $n AND column <= $n+1` for the bounds `span` has, numbered from `from`. */
function spanCondition(column: string, span: HolderSpan, from: number): { sql: string; params: number[] } {
  const bounds: [string, number | undefined][] = [
    ['>', span.after],
    ['<=', span.until],
  ];
  const given = bounds.filter((bound): bound is [string, number] => bound[1] !== undefined);
  return {
    sql: given.map(([op], i) => ` AND ${column} ${op} $${from + i}`).join(''),
    params: given.map(([, at]) => at),
  };
}

function toConsentRow(row: SqlRow): ConsentRow {
  const out: Record<string, unknown> = { wording: String(row.wording) };
  for (const [field, column] of CONSENT_FIELDS)
    out[field] = CONSENT_NUMBERS.has(field) ? num(row[column]) : text(row[column]);
  return out as unknown as ConsentRow;
}

function toAuditRecord(row: SqlRow): AuditRecord {
  return {
    seq: Number(row.seq),
    at: Number(row.at),
    actor: String(row.actor),
    action: String(row.action),
    pseudonym: text(row.pseudonym),
    purpose: text(row.purpose),
    outcome: String(row.outcome),
    detail: row.detail === null || row.detail === undefined ? null : JSON.parse(String(row.detail)),
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}

/**
 * A consent check's one statement: the consent's state, else the subject's erasure. SQLite runs the
 * second branch of UNION ALL only when the first found nothing (LIMIT 1), and reads only the covering
 * index (without ANALYZE its planner would take the primary key and then the table row). PostgreSQL
 * joins both lookups into one row, so the order of the branches does not matter there.
 */
export function checkStateSql(dialect: Dialect): string {
  return dialect === 'sqlite'
    ? `SELECT status, expires_at, NULL AS erased_at FROM consents INDEXED BY consents_check
       WHERE pseudonym = $1 AND purpose = $2
       UNION ALL SELECT NULL, NULL, erased_at FROM suppressions WHERE pseudonym = $1 LIMIT 1`
    : `SELECT c.status, c.expires_at, s.erased_at FROM (SELECT $1::text AS pseudonym) k
       LEFT JOIN consents c ON c.pseudonym = k.pseudonym AND c.purpose = $2
       LEFT JOIN suppressions s ON s.pseudonym = k.pseudonym`;
}

/** A consent state wins over an erasure: a person may give consent again after being erased. */
export function toCheckState(row: SqlRow | undefined): CheckState {
  if (!row) return undefined;
  if (row.status !== null && row.status !== undefined) {
    return { status: String(row.status), expiresAt: num(row.expires_at) };
  }
  return row.erased_at === null || row.erased_at === undefined ? undefined : 'erased';
}

/**
 * An upsert's inbound time: the later of the stored and the new one. On PostgreSQL inbound times are written outside
 * the serial lock, so a serial write that read the subject earlier must not put an older time back.
 */
const LATER_INBOUND = `CASE WHEN subjects.last_inbound_at IS NULL OR subjects.last_inbound_at < excluded.last_inbound_at
  THEN excluded.last_inbound_at ELSE subjects.last_inbound_at END`;
/** With LATER_INBOUND: the inbound time before, when the upsert moves `last_inbound_at` on (SET reads the old row). */
const PREVIOUS_INBOUND = `CASE WHEN subjects.last_inbound_at < excluded.last_inbound_at
  THEN subjects.last_inbound_at ELSE subjects.previous_inbound_at END`;

const SUBJECT_SELECT =
  'SELECT pseudonym, phone_enc, wa_id_enc, user_id_enc, name_enc, last_inbound_at, previous_inbound_at, created_at, updated_at FROM subjects';

/** The StoreTx of every SQL backend: the statements live here once. */
export class SqlStoreTx implements StoreTx {
  /** Head after this transaction's own appends; a StoreTx lives for one transaction only. */
  private head?: AuditAnchor;

  constructor(private readonly db: SqlConnection) {}

  async checkState(pseudonym: string, purpose: string): Promise<CheckState> {
    const rows = await this.db.all(checkStateSql(this.db.dialect), [pseudonym, purpose]);
    return toCheckState(rows[0]);
  }

  async getConsent(pseudonym: string, purpose: string): Promise<ConsentRow | undefined> {
    const rows = await this.db.all(`${consentSelect('consents')} WHERE c.pseudonym = $1 AND c.purpose = $2`, [
      pseudonym,
      purpose,
    ]);
    return rows.length ? toConsentRow(rows[0]) : undefined;
  }

  async listConsents(pseudonym: string): Promise<ConsentRow[]> {
    const rows = await this.db.all(`${consentSelect('consents')} WHERE c.pseudonym = $1 ORDER BY c.purpose`, [
      pseudonym,
    ]);
    return rows.map(toConsentRow);
  }

  async putConsent(row: ConsentRow): Promise<void> {
    await this.putWording(row.wordingSha256, row.wording);
    const values = CONSENT_FIELDS.map(([field]) => row[field] as SqlValue);
    const updates = CONSENT_COLUMNS.slice(2)
      .map((c) => `${c} = excluded.${c}`)
      .join(', ');
    await this.db.run(
      `INSERT INTO consents (${CONSENT_COLUMNS.join(', ')}) VALUES (${placeholders(values.length)})
       ON CONFLICT (pseudonym, purpose) DO UPDATE SET ${updates}`,
      values,
    );
  }

  async setConsentStatus(
    pseudonym: string,
    purpose: string,
    status: string,
    updatedAt: number,
    retainUntil: number,
    expiresAt?: number,
  ): Promise<void> {
    const expiry = expiresAt === undefined ? '' : ', expires_at = $6';
    await this.db.run(
      `UPDATE consents SET status = $3, updated_at = $4, retain_until = $5${expiry} WHERE pseudonym = $1 AND purpose = $2`,
      [pseudonym, purpose, status, updatedAt, retainUntil, ...(expiresAt === undefined ? [] : [expiresAt])],
    );
  }

  async setConsentStatuses(
    keys: readonly { pseudonym: string; purpose: string }[],
    status: string,
    updatedAt: number,
    retainUntil: number,
    expiresAt?: number,
  ): Promise<void> {
    if (this.db.dialect === 'sqlite') {
      // Statements cost microseconds in-process; one at a time is as fast as a bulk form here.
      for (const k of keys) {
        await this.setConsentStatus(k.pseudonym, k.purpose, status, updatedAt, retainUntil, expiresAt);
      }
      return;
    }
    const expiry = expiresAt === undefined ? '' : ', expires_at = $6';
    await this.db.run(
      `UPDATE consents c SET status = $3, updated_at = $4, retain_until = $5${expiry}
       FROM unnest($1::text[], $2::text[]) AS k (pseudonym, purpose)
       WHERE c.pseudonym = k.pseudonym AND c.purpose = k.purpose`,
      [
        keys.map((k) => k.pseudonym),
        keys.map((k) => k.purpose),
        status,
        updatedAt,
        retainUntil,
        ...(expiresAt === undefined ? [] : [expiresAt]),
      ],
    );
  }

  async archiveConsent(row: ConsentRow, archivedAt: number): Promise<void> {
    await this.putWording(row.wordingSha256, row.wording);
    const values = [...CONSENT_FIELDS.map(([field]) => row[field] as SqlValue), archivedAt];
    await this.db.run(
      `INSERT INTO consent_history (${CONSENT_COLUMNS.join(', ')}, archived_at) VALUES (${placeholders(values.length)})`,
      values,
    );
  }

  async latestDecidedHistory(pseudonym: string, purpose: string): Promise<ConsentState | undefined> {
    const [row] = await this.db.all(
      `SELECT status, expires_at FROM consent_history WHERE pseudonym = $1 AND purpose = $2 AND NOT ${unconfirmedRequest('')}
       ORDER BY id DESC LIMIT 1`,
      [pseudonym, purpose],
    );
    return row === undefined ? undefined : { status: String(row.status), expiresAt: num(row.expires_at) };
  }

  async listHistory(pseudonym: string): Promise<ArchivedConsentRow[]> {
    const rows = await this.db.all(
      `${consentSelect('consent_history', ', c.archived_at')} WHERE c.pseudonym = $1 ORDER BY c.id`,
      [pseudonym],
    );
    return rows.map((row) => ({ ...toConsentRow(row), archivedAt: Number(row.archived_at) }));
  }

  private async putWording(sha256: string, wording: string): Promise<void> {
    await this.db.run('INSERT INTO wordings (sha256, text) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING', [
      sha256,
      wording,
    ]);
  }

  async getSubject(pseudonym: string): Promise<SubjectRow | undefined> {
    const rows = await this.db.all(`${SUBJECT_SELECT} WHERE pseudonym = $1`, [pseudonym]);
    if (!rows.length) return undefined;
    const r = rows[0];
    return {
      pseudonym: String(r.pseudonym),
      phoneEnc: text(r.phone_enc),
      waIdEnc: text(r.wa_id_enc),
      userIdEnc: text(r.user_id_enc),
      nameEnc: text(r.name_enc),
      lastInboundAt: num(r.last_inbound_at),
      previousInboundAt: num(r.previous_inbound_at),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    };
  }

  async putSubject(row: SubjectRow): Promise<void> {
    await this.db.run(
      `INSERT INTO subjects (pseudonym, phone_enc, wa_id_enc, user_id_enc, name_enc, last_inbound_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (pseudonym) DO UPDATE SET phone_enc = excluded.phone_enc, wa_id_enc = excluded.wa_id_enc,
         user_id_enc = excluded.user_id_enc, name_enc = excluded.name_enc,
         last_inbound_at = ${LATER_INBOUND}, previous_inbound_at = ${PREVIOUS_INBOUND},
         updated_at = excluded.updated_at`,
      [
        row.pseudonym,
        row.phoneEnc,
        row.waIdEnc,
        row.userIdEnc,
        row.nameEnc,
        row.lastInboundAt,
        row.createdAt,
        row.updatedAt,
      ],
    );
  }

  async insertInbound(pseudonym: string, at: number, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO subjects (pseudonym, last_inbound_at, created_at, updated_at) VALUES ($1, $2, $3, $3)
       ON CONFLICT (pseudonym) DO UPDATE SET last_inbound_at = ${LATER_INBOUND},
         previous_inbound_at = ${PREVIOUS_INBOUND}`,
      [pseudonym, at, now],
    );
  }

  async setLastInbound(pseudonym: string, at: number): Promise<boolean> {
    const changed = await this.db.run(
      `UPDATE subjects SET previous_inbound_at = last_inbound_at, last_inbound_at = $2
       WHERE pseudonym = $1 AND (last_inbound_at IS NULL OR last_inbound_at < $2)`,
      [pseudonym, at],
    );
    return changed > 0;
  }

  async resolveAlias(alias: string): Promise<string | undefined> {
    const rows = await this.db.all('SELECT pseudonym FROM subject_aliases WHERE alias = $1', [alias]);
    return rows.length ? String(rows[0].pseudonym) : undefined;
  }

  async aliasesOf(pseudonym: string): Promise<string[]> {
    const rows = await this.db.all('SELECT alias FROM subject_aliases WHERE pseudonym = $1 ORDER BY alias', [
      pseudonym,
    ]);
    return rows.map((r) => String(r.alias));
  }

  async removeAliasesOf(pseudonym: string): Promise<number> {
    return this.db.run('DELETE FROM subject_aliases WHERE pseudonym = $1', [pseudonym]);
  }

  async putAlias(alias: string, pseudonym: string): Promise<void> {
    await this.db.run(
      `INSERT INTO subject_aliases (alias, pseudonym) VALUES ($1, $2)
       ON CONFLICT (alias) DO UPDATE SET pseudonym = excluded.pseudonym`,
      [alias, pseudonym],
    );
  }

  async suppressedAt(pseudonym: string): Promise<number | undefined> {
    const rows = await this.db.all('SELECT erased_at FROM suppressions WHERE pseudonym = $1', [pseudonym]);
    return rows.length ? Number(rows[0].erased_at) : undefined;
  }

  async putSuppression(pseudonym: string, at: number, actor: string): Promise<void> {
    await this.db.run(
      `INSERT INTO suppressions (pseudonym, erased_at, actor) VALUES ($1, $2, $3)
       ON CONFLICT (pseudonym) DO UPDATE SET erased_at = excluded.erased_at, actor = excluded.actor`,
      [pseudonym, at, actor],
    );
  }

  async putPurposeVersion(row: PurposeVersionRow): Promise<void> {
    await this.db.run(
      `INSERT INTO purpose_versions (purpose, version, label, wording, lawful_basis, marketing, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (purpose, version) DO NOTHING`,
      [row.purpose, row.version, row.label, row.wording, row.lawfulBasis, row.marketing ? 1 : 0, row.createdAt],
    );
  }

  async notePurposesConfigured(purposes: readonly string[], at: number): Promise<void> {
    // Never back: instances' clocks differ, and the latest time any of them had the purpose configured counts.
    for (const purpose of purposes) {
      await this.db.run(
        `INSERT INTO purpose_presence (purpose, configured_at, missing_since) VALUES ($1, $2, NULL)
         ON CONFLICT (purpose) DO UPDATE SET missing_since = NULL,
           configured_at = CASE WHEN purpose_presence.configured_at IS NULL
             OR purpose_presence.configured_at < excluded.configured_at
             THEN excluded.configured_at ELSE purpose_presence.configured_at END`,
        [purpose, at],
      );
    }
  }

  async noteRemovedPurposes(configured: readonly string[], now: number): Promise<RemovedPurposeRow[]> {
    // Every purpose a record was ever made for was registered in purpose_versions when a store with it opened.
    const known = await this.db.all(
      'SELECT purpose FROM purpose_versions UNION SELECT purpose FROM purpose_presence ORDER BY purpose',
    );
    const removed: RemovedPurposeRow[] = [];
    for (const purpose of known.map((r) => String(r.purpose)).filter((p) => !configured.includes(p))) {
      const [count] = await this.db.all(`SELECT COUNT(*) AS n FROM consents WHERE purpose = $1 AND ${STANDING}`, [
        purpose,
      ]);
      const standing = Number(count?.n ?? 0);
      if (standing === 0) continue;
      await this.db.run(
        `INSERT INTO purpose_presence (purpose, configured_at, missing_since) VALUES ($1, NULL, $2)
         ON CONFLICT (purpose) DO NOTHING`,
        [purpose, now],
      );
      const [seen] = await this.db.all('SELECT configured_at, missing_since FROM purpose_presence WHERE purpose = $1', [
        purpose,
      ]);
      removed.push({ purpose, standing, missingSince: num(seen?.configured_at) ?? num(seen?.missing_since) ?? now });
    }
    return removed;
  }

  async standingConsents(purpose: string, limit: number): Promise<ConsentRow[]> {
    const rows = await this.db.all(`${consentSelect('consents')} WHERE c.purpose = $1 AND c.${STANDING} LIMIT $2`, [
      purpose,
      limit,
    ]);
    return rows.map(toConsentRow);
  }

  async putNotice(row: NoticeRow): Promise<void> {
    await this.db.run(
      `INSERT INTO notices (pseudonym, notice_version, shown_at, message_id_enc, actor) VALUES ($1, $2, $3, $4, $5)`,
      [row.pseudonym, row.noticeVersion, row.shownAt, row.messageIdEnc, row.actor],
    );
  }

  async setNoticeMessage(id: number, messageIdEnc: string, messageRef: string): Promise<boolean> {
    const changed = await this.db.run('UPDATE notices SET message_id_enc = $2, message_ref = $3 WHERE id = $1', [
      id,
      messageIdEnc,
      messageRef,
    ]);
    return changed > 0;
  }

  async carriedNotice(messageRefs: readonly string[]): Promise<boolean> {
    const rows = await this.db.all(
      `SELECT 1 AS found FROM notices WHERE message_ref IN (${placeholders(messageRefs.length)}) LIMIT 1`,
      [...messageRefs],
    );
    return rows.length > 0;
  }

  async deleteNoticesByMessage(messageRef: string): Promise<{ pseudonym: string; noticeVersion: string }[]> {
    const rows = await this.db.all('DELETE FROM notices WHERE message_ref = $1 RETURNING pseudonym, notice_version', [
      messageRef,
    ]);
    return rows.map((r) => ({ pseudonym: String(r.pseudonym), noticeVersion: String(r.notice_version) }));
  }

  async hasDedupeMark(key: string, now: number): Promise<boolean> {
    const rows = await this.db.all('SELECT 1 AS found FROM dedupe_marks WHERE key = $1 AND expires_at > $2', [
      key,
      now,
    ]);
    return rows.length > 0;
  }

  async deleteNotice(id: number, messageRef?: string): Promise<boolean> {
    const deleted =
      messageRef === undefined
        ? await this.db.run('DELETE FROM notices WHERE id = $1', [id])
        : await this.db.run('DELETE FROM notices WHERE id = $1 AND message_ref = $2', [id, messageRef]);
    return deleted > 0;
  }

  async latestNotice(
    pseudonym: string,
    noticeVersion: string,
    which: NoticeFilter = 'any',
  ): Promise<NoticeRow | undefined> {
    const only = which === 'no-reference' ? ' AND message_ref IS NULL' : '';
    const [row] = await this.db.all(
      `SELECT id, shown_at, message_id_enc, actor FROM notices WHERE pseudonym = $1 AND notice_version = $2${only}
       ORDER BY shown_at DESC, id DESC LIMIT 1`,
      [pseudonym, noticeVersion],
    );
    return row === undefined ? undefined : toNoticeRow(pseudonym, noticeVersion, row);
  }

  async listNotices(pseudonym: string): Promise<NoticeRow[]> {
    const rows = await this.db.all(
      'SELECT id, notice_version, shown_at, message_id_enc, actor FROM notices WHERE pseudonym = $1 ORDER BY shown_at, id',
      [pseudonym],
    );
    return rows.map((r) => toNoticeRow(pseudonym, String(r.notice_version), r));
  }

  async auditHead(): Promise<AuditAnchor | undefined> {
    if (this.head) return this.head;
    const rows = await this.db.all('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    if (rows.length) return { seq: Number(rows[0].seq), hash: String(rows[0].hash) };
    return this.auditAnchor();
  }

  async auditAnchor(): Promise<AuditAnchor | undefined> {
    const rows = await this.db.all('SELECT seq, hash FROM audit_anchor WHERE id = 1');
    return rows.length ? { seq: Number(rows[0].seq), hash: String(rows[0].hash) } : undefined;
  }

  async oldestAuditSeq(): Promise<number | undefined> {
    const rows = await this.db.all('SELECT seq FROM audit ORDER BY seq LIMIT 1');
    return rows.length ? Number(rows[0].seq) : undefined;
  }

  async lastAuditAt(action: string, since: number): Promise<number | undefined> {
    const rows = await this.db.all('SELECT max(at) AS at FROM audit WHERE at >= $1 AND action = $2', [since, action]);
    return rows[0]?.at === null || rows[0]?.at === undefined ? undefined : Number(rows[0].at);
  }

  async insertAudit(r: AuditRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO audit (seq, at, actor, action, pseudonym, purpose, outcome, detail, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        r.seq,
        r.at,
        r.actor,
        r.action,
        r.pseudonym,
        r.purpose,
        r.outcome,
        r.detail === null ? null : JSON.stringify(r.detail),
        r.prevHash,
        r.hash,
      ],
    );
    this.head = { seq: r.seq, hash: r.hash };
  }

  async insertAudits(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.db.dialect === 'sqlite') {
      for (const r of records) await this.insertAudit(r);
      return;
    }
    const column = <T>(pick: (r: AuditRecord) => T) => records.map(pick);
    await this.db.run(
      `INSERT INTO audit (seq, at, actor, action, pseudonym, purpose, outcome, detail, prev_hash, hash)
       SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
         $8::text[], $9::text[], $10::text[])`,
      [
        column((r) => r.seq),
        column((r) => r.at),
        column((r) => r.actor),
        column((r) => r.action),
        column((r) => r.pseudonym),
        column((r) => r.purpose),
        column((r) => r.outcome),
        column((r) => (r.detail === null ? null : JSON.stringify(r.detail))),
        column((r) => r.prevHash),
        column((r) => r.hash),
      ],
    );
    const last = records[records.length - 1];
    this.head = { seq: last.seq, hash: last.hash };
  }

  async listAudit(pseudonym: string, actions?: readonly string[]): Promise<AuditRecord[]> {
    if (actions?.length === 0) return [];
    // A subject's blocked sends and notices pile up over the years; the callers that look for a few actions skip
    // them in the query instead of decoding every one.
    const only = actions ? ` AND action IN (${actions.map((_, i) => `$${i + 2}`).join(', ')})` : '';
    const rows = await this.db.all(`SELECT * FROM audit WHERE pseudonym = $1${only} ORDER BY seq`, [
      pseudonym,
      ...(actions ?? []),
    ]);
    return rows.map(toAuditRecord);
  }

  async keepKeyCheck(check: string): Promise<string> {
    await this.db.run('INSERT INTO key_check (id, pseudonym_check) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [
      check,
    ]);
    const [row] = await this.db.all('SELECT pseudonym_check FROM key_check WHERE id = 1');
    return String(row.pseudonym_check);
  }

  async listNumberChangesTo(to: string): Promise<AuditRecord[]> {
    // Detail is JSON as text on both backends: a substring narrows the rows, the parsed detail decides.
    const rows = await this.db.all(`SELECT * FROM audit WHERE ${NUMBER_CHANGE_EVENT} AND detail LIKE $1 ORDER BY seq`, [
      `%${JSON.stringify({ to }).slice(1, -1)}%`,
    ]);
    return rows.map(toAuditRecord).filter((e) => e.detail?.to === to);
  }

  async hasAuditSince(pseudonym: string, action: string, at: number): Promise<boolean> {
    const rows = await this.db.all(
      'SELECT 1 AS found FROM audit WHERE pseudonym = $1 AND action = $2 AND at >= $3 LIMIT 1',
      [pseudonym, action, at],
    );
    return rows.length > 0;
  }

  async auditPage(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.all('SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit]);
    return rows.map(toAuditRecord);
  }

  async eraseSubject(pseudonym: string, aliases: string[], holder?: HolderSpan): Promise<Record<string, number>> {
    const keys = [...new Set([pseudonym, ...aliases])];
    const previousHolder = holder?.until !== undefined;
    // One statement per key, one after the other: a PostgreSQL transaction is one connection.
    const deleteFrom = async (table: string, column = 'pseudonym', madeAt?: string) => {
      let count = 0;
      for (const key of keys) {
        if (key === pseudonym && holder && madeAt) {
          const span = spanCondition(madeAt, holder, 2);
          // The number's own block after a move is nobody's personal data: it stays with the number.
          const ownRecords = table === 'notices' ? '' : ` AND method <> 'number-change'`;
          count += await this.db.run(`DELETE FROM ${table} WHERE ${column} = $1${span.sql}${ownRecords}`, [
            key,
            ...span.params,
          ]);
        } else if (key !== pseudonym || !previousHolder) {
          count += await this.db.run(`DELETE FROM ${table} WHERE ${column} = $1`, [key]);
        }
      }
      return count;
    };
    // A wording written for her alone (a free text a form sent) is hers too; one others' records use stays.
    const wordings = await this.wordingsOf(keys);
    const removed: Record<string, number> = {
      subjects: await deleteFrom('subjects'),
      consents: await deleteFrom('consents', 'pseudonym', 'updated_at'),
      consentHistory: await deleteFrom('consent_history', 'pseudonym', 'updated_at'),
      notices: await deleteFrom('notices', 'pseudonym', 'shown_at'),
      aliases: (await deleteFrom('subject_aliases')) + (await deleteFrom('subject_aliases', 'alias')),
    };
    // Events not yet taken by a consumer keep their pseudonym but lose the number, whoever's part goes (the rest
    // of the number's events too, on the safe side): only the erasure's own event, written after this, names it.
    let contacts = 0;
    for (const key of keys) contacts += await this.forgetEventContacts(key);
    if (contacts > 0) removed.eventContacts = contacts;
    const unusedWordings = await this.deleteWordingsUnused(wordings);
    if (unusedWordings > 0) removed.wordings = unusedWordings;
    return removed;
  }

  private async wordingsOf(keys: readonly string[]): Promise<string[]> {
    const hashes = new Set<string>();
    for (const key of keys) {
      const rows = await this.db.all(
        `SELECT wording_sha256 AS sha256 FROM consents WHERE pseudonym = $1
         UNION SELECT wording_sha256 AS sha256 FROM consent_history WHERE pseudonym = $1`,
        [key],
      );
      for (const row of rows) hashes.add(String(row.sha256));
    }
    return [...hashes];
  }

  private async deleteWordingsUnused(hashes: readonly string[]): Promise<number> {
    let count = 0;
    for (const sha256 of hashes) {
      count += await this.db.run(`DELETE FROM wordings WHERE sha256 = $1 AND ${unusedWording('$1')}`, [sha256]);
    }
    return count;
  }

  private forgetEventContacts(pseudonym: string): Promise<number> {
    return this.db.run('UPDATE event_outbox SET contact_enc = NULL WHERE pseudonym = $1 AND contact_enc IS NOT NULL', [
      pseudonym,
    ]);
  }

  async expiredPending(now: number, limit: number): Promise<ConsentRow[]> {
    const rows = await this.db.all(
      `${consentSelect('consents')} WHERE c.status = 'pending' AND c.expires_at <= $1 ORDER BY c.expires_at LIMIT $2`,
      [now, limit],
    );
    return rows.map(toConsentRow);
  }

  async inactiveSubjects(cutoff: number, limit: number): Promise<string[]> {
    // A user id linked to the number is the same person: while her records under it are alive, so is the number's
    // (removing it would unlink them, and an erasure or export by number would miss them).
    const rows = await this.db.all(
      `SELECT s.pseudonym FROM subjects s
       WHERE s.updated_at < $1 AND (s.last_inbound_at IS NULL OR s.last_inbound_at < $1)
         AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.pseudonym = s.pseudonym
           AND (c.status IN ('given', 'pending') OR c.updated_at >= $1))
         AND NOT EXISTS (SELECT 1 FROM subject_aliases a JOIN consents c ON c.pseudonym = a.alias
           WHERE a.pseudonym = s.pseudonym AND (c.status IN ('given', 'pending') OR c.updated_at >= $1))
         AND NOT EXISTS (SELECT 1 FROM subject_aliases a JOIN subjects o ON o.pseudonym = a.alias
           WHERE a.pseudonym = s.pseudonym AND (o.updated_at >= $1 OR o.last_inbound_at >= $1))
       LIMIT $2`,
      [cutoff, limit],
    );
    return rows.map((r) => String(r.pseudonym));
  }

  async removePersonalData(pseudonym: string): Promise<number> {
    let changed = await this.db.run('DELETE FROM subjects WHERE pseudonym = $1', [pseudonym]);
    changed += await this.forgetEventContacts(pseudonym);
    changed += await this.db.run('DELETE FROM subject_aliases WHERE pseudonym = $1', [pseudonym]);
    for (const table of ['consents', 'consent_history']) {
      changed += await this.db.run(`UPDATE ${table} SET ${CLEAR_PROOF} WHERE pseudonym = $1 AND ${HOLDS_PROOF}`, [
        pseudonym,
      ]);
    }
    changed += await this.db.run(
      `UPDATE notices SET message_id_enc = NULL, message_ref = NULL
       WHERE pseudonym = $1 AND (message_id_enc IS NOT NULL OR message_ref IS NOT NULL)`,
      [pseudonym],
    );
    return changed;
  }

  async stripEndedProof(cutoff: number, limit: number): Promise<number> {
    // The conditions again outside the subquery: PostgreSQL re-checks only those on a row another instance changed
    // meanwhile (a consent given anew keeps its fresh proof).
    const ended = `updated_at < $1 AND ${ENDED} AND ${HOLDS_PROOF}`;
    let changed = await this.db.run(
      `UPDATE consents SET ${CLEAR_PROOF} WHERE (pseudonym, purpose) IN (SELECT pseudonym, purpose FROM consents
         WHERE ${ended} LIMIT $2) AND ${ended}`,
      [cutoff, limit],
    );
    const archived = `archived_at < $1 AND ${HOLDS_PROOF}`;
    changed += await this.db.run(
      `UPDATE consent_history SET ${CLEAR_PROOF} WHERE id IN (SELECT id FROM consent_history
         WHERE ${archived} LIMIT $2) AND ${archived}`,
      [cutoff, limit],
    );
    return changed;
  }

  async deleteEndedProof(now: number, limit: number, objectionsOf: readonly string[] = []): Promise<number> {
    // A given consent is the permission itself, not only its proof: it ends by withdrawal, never by age. So is an
    // objection to a purpose that needs no consent: without it, the basis would allow again.
    // So is the block a number's move leaves for those purposes (RecordMethod 'number-change'), and an unconfirmed
    // request in front of either: the check reads back through it (ConsentLedger.unlessBlockedUnderRequest).
    // A purpose that needs no consent in any store on the database (purpose_versions) counts too: a store without it,
    // or a store it was taken out of for a while, must not delete the objections another store still reads.
    const objectionPurpose = objectionPurposeSql('purpose', objectionsOf.length, 3);
    const forbiddenBehind = `EXISTS (SELECT 1 FROM consent_history h WHERE h.pseudonym = consents.pseudonym
      AND h.purpose = consents.purpose AND ${forbids('h.')})`;
    const kept = ` AND NOT (${objectionPurpose} AND (status IN ('refused', 'withdrawn') OR method = 'number-change'
      OR ${forbiddenBehind}))`;
    // The conditions again outside the subquery, which PostgreSQL does not re-check: a record another instance gave
    // anew meanwhile is not deleted.
    const ended = `retain_until < $1 AND status IN ('refused', 'expired', 'withdrawn')${kept}`;
    let removed = await this.db.run(
      `DELETE FROM consents WHERE (pseudonym, purpose) IN (SELECT pseudonym, purpose FROM consents
         WHERE ${ended} LIMIT $2) AND ${ended}`,
      [now, limit, ...objectionsOf],
    );
    // Only the latest decided one (ConsentLedger's check reads no further back).
    const standsBehindRequest = `${objectionPurpose} AND ${forbids('')} AND EXISTS (SELECT 1 FROM consents c
      WHERE c.pseudonym = consent_history.pseudonym AND c.purpose = consent_history.purpose
      AND ${unconfirmedRequest('c.')}) AND NOT EXISTS (SELECT 1 FROM consent_history later
      WHERE later.pseudonym = consent_history.pseudonym AND later.purpose = consent_history.purpose
      AND later.id > consent_history.id AND NOT ${unconfirmedRequest('later.')})`;
    removed += await this.db.run(
      `DELETE FROM consent_history WHERE id IN (SELECT id FROM consent_history
         WHERE retain_until < $1 AND NOT (${standsBehindRequest}) LIMIT $2)`,
      [now, limit, ...objectionsOf],
    );
    return removed;
  }

  async deleteOldNotices(cutoff: number, limit: number): Promise<number> {
    return this.db.run('DELETE FROM notices WHERE id IN (SELECT id FROM notices WHERE shown_at < $1 LIMIT $2)', [
      cutoff,
      limit,
    ]);
  }

  async deleteUnusedWordings(limit: number): Promise<number> {
    // Run serially like every consent write, so no request can be between storing its wording and its record.
    return this.db.run(
      `DELETE FROM wordings WHERE sha256 IN (SELECT w.sha256 FROM wordings w WHERE ${unusedWording('w.sha256')} LIMIT $1)`,
      [limit],
    );
  }

  async auditPrefixBefore(cutoff: number, limit: number): Promise<AuditAnchor | undefined> {
    // Only a prefix of the chain may go, or the rest could no longer be verified: stop at the first
    // event that is still young enough (clocks of several instances need not be monotonic).
    const first = await this.db.all('SELECT MIN(seq) AS seq FROM audit');
    let expected = num(first[0]?.seq);
    if (expected === null) return undefined;
    const rows = await this.db.all('SELECT seq, hash, at FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2', [
      expected,
      limit,
    ]);
    let last: AuditAnchor | undefined;
    for (const row of rows) {
      if (Number(row.seq) !== expected || Number(row.at) >= cutoff) break;
      last = { seq: Number(row.seq), hash: String(row.hash) };
      expected += 1;
    }
    return last;
  }

  async standingProofThrough(
    seq: number,
    actions: readonly string[],
    objectionsOf: readonly string[],
  ): Promise<{ event: AuditRecord; status: string }[]> {
    if (actions.length === 0) return [];
    const objectionsFrom = 2 + actions.length;
    // The record's first event is written with the time the record keeps (requested, given, or withdrawn with nothing
    // on record before); from it on, in chain order, the events are this record's even where another instance's clock
    // dated one a little earlier.
    const rows = await this.db.all(
      `SELECT a.*, c.status AS standing_status FROM audit a
       JOIN consents c ON c.pseudonym = a.pseudonym AND c.purpose = a.purpose
       WHERE a.seq <= $1 AND a.action IN (${placeholders(actions.length, 2)})
         AND (c.status = 'given' OR (c.status IN ('refused', 'withdrawn')
           AND ${objectionPurposeSql('c.purpose', objectionsOf.length, objectionsFrom)}))
         AND a.seq >= (SELECT MIN(b.seq) FROM audit b WHERE b.pseudonym = c.pseudonym AND b.purpose = c.purpose
           AND b.at >= COALESCE(c.requested_at, c.decided_at, c.withdrawn_at, c.updated_at))
       ORDER BY a.seq`,
      [seq, ...actions, ...objectionsOf],
    );
    return rows.map((row) => ({ event: toAuditRecord(row), status: String(row.standing_status) }));
  }

  async purgeAuditThrough(end: AuditAnchor): Promise<number> {
    const removed = await this.db.run('DELETE FROM audit WHERE seq <= $1', [end.seq]);
    await this.db.run(
      `INSERT INTO audit_anchor (id, seq, hash) VALUES (1, $1, $2)
       ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
      [end.seq, end.hash],
    );
    return removed;
  }

  async deleteExpiredDedupe(now: number, limit: number): Promise<number> {
    return this.db.run(
      'DELETE FROM dedupe_marks WHERE key IN (SELECT key FROM dedupe_marks WHERE expires_at <= $1 LIMIT $2)',
      [now, limit],
    );
  }

  async touchUsage(marks: UsageMark[], retainForMs: number): Promise<void> {
    if (this.db.dialect === 'postgres') {
      await this.db.all(
        `UPDATE consents c SET last_used_at = GREATEST(c.last_used_at, m.at),
           retain_until = GREATEST(c.retain_until, m.at + $4::bigint)
         FROM unnest($1::text[], $2::text[], $3::bigint[]) AS m(pseudonym, purpose, at)
         WHERE c.pseudonym = m.pseudonym AND c.purpose = m.purpose AND c.status = 'given' AND c.updated_at <= m.at`,
        [marks.map((m) => m.pseudonym), marks.map((m) => m.purpose), marks.map((m) => m.at), retainForMs],
      );
      return;
    }
    for (const mark of marks) {
      await this.db.run(
        `UPDATE consents SET last_used_at = MAX(COALESCE(last_used_at, 0), $3), retain_until = MAX(retain_until, $4)
         WHERE pseudonym = $1 AND purpose = $2 AND status = 'given' AND updated_at <= $3`,
        [mark.pseudonym, mark.purpose, mark.at, mark.at + retainForMs],
      );
    }
  }

  async markSeen(key: string, expiresAt: number, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `INSERT INTO dedupe_marks (key, expires_at, completed) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, completed = 1
       WHERE dedupe_marks.expires_at <= $3`,
      [key, expiresAt, now],
    );
    return changed > 0;
  }

  async claimDedupe(key: string, leaseUntil: number, now: number): Promise<'claimed' | 'done' | 'in-progress'> {
    // One statement decides: PostgreSQL locks the conflicting row and re-checks the WHERE against the newest
    // committed version, so of two instances claiming at once exactly one changes a row.
    const changed = await this.db.run(
      `INSERT INTO dedupe_marks (key, expires_at, completed) VALUES ($1, $2, 0)
       ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, completed = 0
       WHERE dedupe_marks.expires_at <= $3`,
      [key, leaseUntil, now],
    );
    if (changed > 0) return 'claimed';
    const [row] = await this.db.all('SELECT completed FROM dedupe_marks WHERE key = $1', [key]);
    // No row: released in between by the delivery that held it; the next retry claims it.
    return row !== undefined && Number(row.completed) === 1 ? 'done' : 'in-progress';
  }

  async completeDedupe(key: string, expiresAt: number): Promise<void> {
    await this.db.run(
      `INSERT INTO dedupe_marks (key, expires_at, completed) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, completed = 1`,
      [key, expiresAt],
    );
  }

  async releaseDedupe(key: string, leaseUntil?: number): Promise<void> {
    if (leaseUntil === undefined) {
      await this.db.run('DELETE FROM dedupe_marks WHERE key = $1 AND completed = 0', [key]);
      return;
    }
    await this.db.run('DELETE FROM dedupe_marks WHERE key = $1 AND completed = 0 AND expires_at = $2', [
      key,
      leaseUntil,
    ]);
  }

  async eventConsumers(): Promise<EventConsumers> {
    const [row] = await this.db.all('SELECT COUNT(*) AS n, MAX(with_contact) AS contact FROM event_cursors');
    return { any: Number(row?.n ?? 0) > 0, withContact: Number(row?.contact ?? 0) === 1 };
  }

  async insertOutbox(rows: readonly Omit<OutboxRow, 'id'>[]): Promise<void> {
    if (this.db.dialect === 'sqlite') {
      for (const r of rows) {
        await this.db.run(
          'INSERT INTO event_outbox (at, pseudonym, type, event, contact_enc) VALUES ($1, $2, $3, $4, $5)',
          [r.at, r.pseudonym, r.type, r.event, r.contactEnc],
        );
      }
      return;
    }
    // In the order given (WITH ORDINALITY): ids rise in the order the events happened.
    const column = <T>(pick: (r: Omit<OutboxRow, 'id'>) => T) => rows.map(pick);
    await this.db.run(
      `INSERT INTO event_outbox (at, pseudonym, type, event, contact_enc)
       SELECT at, pseudonym, type, event, contact_enc
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
         WITH ORDINALITY AS e(at, pseudonym, type, event, contact_enc, n)
       ORDER BY n`,
      [
        column((r) => r.at),
        column((r) => r.pseudonym),
        column((r) => r.type),
        column((r) => r.event),
        column((r) => r.contactEnc),
      ],
    );
  }

  async takeEventCursor(
    consumer: string,
    holder: string,
    withContact: boolean,
    now: number,
    heldUntil: number,
  ): Promise<number | undefined> {
    // "WHERE true": SQLite reads ON CONFLICT after a bare FROM as part of a join.
    await this.db.run(
      `INSERT INTO event_cursors (consumer, last_id, read_id, with_contact, holder, held_until, updated_at)
       SELECT CAST($1 AS TEXT), COALESCE(MAX(id), 0), COALESCE(MAX(id), 0), CAST($3 AS INTEGER), CAST($2 AS TEXT),
         CAST($5 AS BIGINT), CAST($4 AS BIGINT) FROM event_outbox WHERE true
       ON CONFLICT (consumer) DO NOTHING`,
      [consumer, holder, withContact ? 1 : 0, now, heldUntil],
    );
    // One statement decides between two instances: the second waits for the first's row lock, then finds it held.
    const [row] = await this.db.all(
      `UPDATE event_cursors SET holder = $2, with_contact = $3, updated_at = $4, held_until = $5
       WHERE consumer = $1 AND (holder = $2 OR holder IS NULL OR held_until <= $4)
       RETURNING last_id`,
      [consumer, holder, withContact ? 1 : 0, now, heldUntil],
    );
    return row === undefined ? undefined : Number(row.last_id);
  }

  async outboxAfter(lastId: number, limit: number): Promise<OutboxRow[]> {
    const rows = await this.db.all(
      'SELECT id, at, pseudonym, type, event, contact_enc FROM event_outbox WHERE id > $1 ORDER BY id LIMIT $2',
      [lastId, limit],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      pseudonym: String(r.pseudonym),
      type: String(r.type),
      event: String(r.event),
      contactEnc: text(r.contact_enc),
    }));
  }

  async advanceEventCursor(
    consumer: string,
    holder: string,
    lastId: number,
    now: number,
    heldUntil: number,
  ): Promise<boolean> {
    // Never past what the holder was given (read_id), nor back.
    const changed = await this.db.run(
      `UPDATE event_cursors SET
         last_id = CASE WHEN last_id >= $3 THEN last_id WHEN read_id < $3 THEN read_id ELSE $3 END,
         updated_at = $4, held_until = $5
       WHERE consumer = $1 AND holder = $2`,
      [consumer, holder, lastId, now, heldUntil],
    );
    return changed > 0;
  }

  async noteEventsRead(consumer: string, holder: string, newestId: number): Promise<void> {
    await this.db.run('UPDATE event_cursors SET read_id = $3 WHERE consumer = $1 AND holder = $2 AND read_id < $3', [
      consumer,
      holder,
      newestId,
    ]);
  }

  async releaseEventCursor(consumer: string, holder: string): Promise<void> {
    await this.db.run('UPDATE event_cursors SET held_until = 0 WHERE consumer = $1 AND holder = $2', [
      consumer,
      holder,
    ]);
  }

  /** The newest event's id; 0 when there is none. */
  private async newestEventId(): Promise<number> {
    const [row] = await this.db.all('SELECT MAX(id) AS id FROM event_outbox');
    return num(row?.id) ?? 0;
  }

  async pruneOutbox(): Promise<{ removed: number; goneContacts: number }> {
    const [row] = await this.db.all('SELECT MIN(last_id) AS taken FROM event_cursors');
    const taken = num(row?.taken) ?? (await this.newestEventId());
    const types = OUTBOX_SCRUBBED_TYPES.map((_, i) => `$${i + 2}`).join(', ');
    const [gone] = await this.db.all(
      `SELECT COUNT(*) AS n FROM event_outbox WHERE id <= $1 AND type IN (${types}) AND contact_enc IS NOT NULL`,
      [taken, ...OUTBOX_SCRUBBED_TYPES],
    );
    const removed = await this.db.run('DELETE FROM event_outbox WHERE id <= $1', [taken]);
    return { removed, goneContacts: Number(gone?.n ?? 0) };
  }

  async deleteStaleEventCursors(cutoff: number): Promise<number> {
    return this.db.run('DELETE FROM event_cursors WHERE updated_at < $1', [cutoff]);
  }

  async deleteOldOutbox(cutoff: number, limit: number): Promise<number> {
    return this.db.run(
      'DELETE FROM event_outbox WHERE id IN (SELECT id FROM event_outbox WHERE at < $1 ORDER BY id LIMIT $2)',
      [cutoff, limit],
    );
  }
}
