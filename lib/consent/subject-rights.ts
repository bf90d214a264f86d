import { GdprWhatsAppError } from '../errors';
import type {
  ArchivedConsentRow,
  ConsentRow,
  HolderSpan,
  LedgerStore,
  NoticeRow,
  StoreTx,
  SubjectRow,
} from '../store/types';
import type { AccessInformation } from './access-information';
import type { AuditRecord } from './audit-verify';
import { type EarlierNumber, earlierNumbers } from './earlier-numbers';
import { heldAt, holderSpan, movesOf, senderSpan, within } from './holder-spans';
import type { LateOptOutHome } from './identity-changes';
import type { FieldCipher } from './keys';
import { type LedgerWrites, NUMBER_CHANGED, type RunChange } from './ledger-writes';
import { OBJECTION_ACTIONS, objectedBefore } from './opt-out-history';
import { PROOF_RESTATED_ACTION } from './proof-restatement';
import { effectiveBasis, type PurposeDefinition } from './purposes';
import { type LedgerRecords, ledgerEvent } from './records';
import type { IdentifiedSubject, SubjectResolver } from './subjects';
import type {
  ConsentRecord,
  EarlierNumberPart,
  EraseOptions,
  EraseReport,
  ExportOptions,
  LedgerEvent,
  SubjectExport,
  SubjectInput,
} from './types';
import { optionalRequestedBy, optionalTime, requireActor } from './validate';

const PREVIOUS_HOLDER_PART = 'before-number-change';

/** Counts per table, added up. */
function addCounts(into: Record<string, number>, counts: Readonly<Record<string, number>>): Record<string, number> {
  for (const [table, count] of Object.entries(counts)) into[table] = (into[table] ?? 0) + count;
  return into;
}

/**
 * An audit entry's detail as the person gets it (Art. 15(1): all of her data): what the event recorded besides,
 * without the Node-RED instance that wrote it, which is the business's own bookkeeping.
 */
function detailFor(entry: AuditRecord): { detail?: Record<string, unknown> } {
  if (!entry.detail) return {};
  // Which instance, and who on staff handled a request: the business's bookkeeping, not the person's data.
  const { instance: _instance, requestedBy: _requestedBy, ...detail } = entry.detail;
  if (entry.action === PROOF_RESTATED_ACTION && isAuditRecord(detail.original)) {
    // The event a restatement carries is shown as the event itself is (eventFor).
    detail.original = eventFor(detail.original);
  }
  return Object.keys(detail).length > 0 ? { detail } : {};
}

/** An audit event as the person gets it. */
function eventFor(e: AuditRecord): SubjectExport['auditEvents'][number] {
  return {
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    action: e.action,
    purpose: e.purpose,
    outcome: e.outcome,
    ...detailFor(e),
  };
}

function isAuditRecord(value: unknown): value is AuditRecord {
  return typeof value === 'object' && value !== null && typeof (value as AuditRecord).action === 'string';
}

/**
 * An objection (a STOP to a purpose that needs no consent, with nothing on record) carries no text the person saw: its
 * record keeps the purpose's wording in every language, as canonical JSON (what wordingSha256 hashes). The person gets
 * the wording in her language instead, named in `language` as a consent's is, not a JSON string.
 */
function readableWording<T extends ConsentRecord>(record: T, language: string | undefined): T {
  if (record.method !== 'objection') return record;
  let texts: unknown;
  try {
    texts = JSON.parse(record.wording);
  } catch {
    return record;
  }
  if (!texts || typeof texts !== 'object' || Array.isArray(texts)) return record;
  const wordings = Object.entries(texts).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  const chosen =
    wordings.find(([lang]) => lang === language) ?? wordings.find(([lang]) => lang === 'en') ?? wordings[0];
  return chosen === undefined ? record : { ...record, wording: chosen[1], language: chosen[0] };
}

/**
 * The categories of her data (Art. 15(1)(b) GDPR) as held: a name only when one is on record. The package stores none
 * of its own accord; an integrator may pass one with a subject.
 */
function withHeldCategories(information: AccessInformation, subject: SubjectExport['subject']): AccessInformation {
  if (subject?.name !== undefined) return information;
  return { ...information, categories: information.categories.filter((c) => c !== 'profile-name') };
}

/** A record's statuses that say her last word on a purpose: an objection kept from before no longer speaks for it. */
const DECIDED: ReadonlySet<string> = new Set(['given', 'withdrawn', 'refused']);

type RequestedBy = { requestedBy?: string };

/** Staff's name or ticket reference for a request, as the audit detail holds it. */
function requestedBy(options: ExportOptions): RequestedBy {
  const by = optionalRequestedBy(options.requestedBy);
  return by === undefined ? {} : { requestedBy: by };
}

/** An audit entry of an earlier number without the pseudonym of where its holder went (detail.to). */
function withoutDestination<T extends { detail?: Record<string, unknown> }>(entry: T): T {
  if (!entry.detail || !('to' in entry.detail)) return entry;
  const { to: _to, ...detail } = entry.detail;
  const { detail: _detail, ...rest } = entry;
  return (Object.keys(detail).length > 0 ? { ...rest, detail } : rest) as T;
}

/** Staff's answers to the person a number belonged to before its last move: not the present holder's business. */
function isAboutPreviousHolder(entry: AuditRecord): boolean {
  return entry.detail?.part === PREVIOUS_HOLDER_PART;
}

/**
 * A user id names one person, and the link from the number to its holders' ids went with each move: given with the
 * previous holder's part, whose it is cannot be told (the present holder's, linked to the number since, would lose
 * or disclose his records). Her records under an id are asked for by the id alone.
 */
function refuseUserIdWithPreviousHolder(identified: IdentifiedSubject, options: ExportOptions): void {
  if (options.beforeNumberChange !== true || identified.userId === undefined) return;
  throw new GdprWhatsAppError(
    'user-id-with-before-number-change',
    "beforeNumberChange asks for the number's previous holder's part by the number alone: send the user id in a request of its own",
  );
}

/** A request about a number that changed hands says whose part it is about, when the caller asks for that. */
function requireChoice(options: ExportOptions, moves: readonly number[]): void {
  if (!options.requireHolderChoice || options.beforeNumberChange !== undefined || moves.length === 0) return;
  throw new GdprWhatsAppError(
    'holder-choice-needed',
    'This number passed to another person: say whose data with beforeNumberChange true (the previous holder) or false (the present one)',
  );
}

/**
 * Staff naming a number and a user id that the ledger links to another number: a typo, or two people's details in one
 * request. The user id's records (and its place on the erasure list) would go, or be disclosed, with the number's, so
 * nothing is done. A WhatsApp message names its sender as Meta knows her and is never refused for this.
 */
async function refuseAnotherPersonsUserId(
  tx: StoreTx,
  identified: IdentifiedSubject,
  p: string,
  options: ExportOptions,
): Promise<void> {
  if (!options.requireHolderChoice || identified.userIdOnly || identified.userIdAlias === undefined) return;
  const linked = await tx.resolveAlias(identified.userIdAlias);
  if (linked !== undefined && linked !== p) {
    throw new GdprWhatsAppError(
      'subject-mismatch',
      "This WhatsApp user id belongs to another number than the one named: send one person's number, user id, or both. Nothing was exported or erased.",
    );
  }
}

/** The number's key first, then the keys of the user id the request itself came with. */
function ownKeys(identified: IdentifiedSubject, p: string): string[] {
  const keys = [p, identified.userIdAlias, identified.userIdOnly ? identified.pseudonym : undefined];
  return [...new Set(keys.filter((key): key is string => key !== undefined))];
}

/** The data subject's rights the ledger answers itself: erasure (Art. 17) and access and portability (Art. 15, 20). */
export class SubjectRights {
  constructor(
    private readonly writes: LedgerWrites,
    private readonly records: LedgerRecords,
    private readonly cipher: FieldCipher,
    private readonly resolver: SubjectResolver,
    private readonly store: LedgerStore,
    private readonly change: RunChange,
    /** Drops the usage marks not yet flushed for these keys: nothing is written about an erased person again. */
    private readonly forgetUsage: (keys: readonly string[]) => void,
    private readonly information: () => AccessInformation,
    /** Where the sender of a message delivered after her number's move is now (IdentityChanges.lateOptOutHome). */
    private readonly lateHome: (tx: StoreTx, p: string, sentAt: number) => Promise<LateOptOutHome | undefined>,
  ) {}

  /**
   * Art. 17 GDPR. Removes every personal datum of the subject; keeps a suppression entry and the audit
   * events, both pseudonymous, as proof that the erasure happened and to honour it later. After the number moved to
   * another person (numberChanged), what its records held up to the move is the previous holder's and stays; with
   * `beforeNumberChange` exactly that part goes instead (staff answering her), and the number, now someone else's,
   * is neither suppressed nor forgotten. The present holder's erasure takes her part of each number she moved from
   * to reach this one too (earlierNumbers), as staff would erase it there with `beforeNumberChange`.
   */
  async erase(subject: SubjectInput, actor: string, options: EraseOptions = {}): Promise<EraseReport> {
    const who = requireActor(actor);
    const by = requestedBy(options);
    const identified = this.resolver.identify(subject);
    refuseUserIdWithPreviousHolder(identified, options);
    const sentAt = optionalTime(options.sentAt, 'sentAt');
    const { report, keys, phone, previousHolder } = await this.change(async (tx, now, events) => {
      const p = await this.writes.pseudonymOf(tx, identified);
      await refuseAnotherPersonsUserId(tx, identified, p, options);
      const moves = movesOf(await tx.listAudit(p, [NUMBER_CHANGED]));
      requireChoice(options, moves);
      // Her own message, delivered after her number went to someone else: her part, not his.
      const late = options.beforeNumberChange === undefined ? senderSpan(moves, sentAt) : undefined;
      const previousHolder = late !== undefined || options.beforeNumberChange === true;
      const span = late ?? holderSpan(moves, previousHolder);
      // Her late request came with her own user id: what she kept under it is hers, whoever holds the number now.
      const keys = late ? ownKeys(identified, p) : previousHolder ? [p] : await this.subjectKeys(tx, identified, p);
      // Erased by user id alone, the number is known only from the record: forgotten below, and named in the event.
      const phone = previousHolder ? undefined : (identified.phone ?? (await this.knownPhone(tx, p)));
      const removed = span ? await tx.eraseSubject(p, keys.slice(1), span) : {};
      const found = Object.values(removed).some((count) => count > 0);
      // Her objection blocked the number for the purposes that need no consent; without it, the number's block
      // does, or the next holder would get what was meant for her.
      if (previousHolder && span?.until !== undefined) await this.writes.blockMovedNumber(tx, p, span.until, who);
      // Under every key: a later message by user id alone finds the erasure too, not an empty record.
      if (!previousHolder) for (const key of keys) await tx.putSuppression(key, now, who);
      // Her user id joins the list as of when she asked, as her new number does (listAtNewNumber).
      else if (late && sentAt !== undefined)
        for (const key of keys.slice(1))
          if ((await tx.suppressedAt(key)) === undefined) await tx.putSuppression(key, sentAt, who);
      if (late && sentAt !== undefined) await this.listAtNewNumber(tx, now, events, p, sentAt, who);
      // Whoever's part goes (hers asking now, her late request, or the previous holder's at staff's word), the
      // numbers that person moved from to get here go with it.
      const earlier = await this.eraseEarlierNumbers(tx, now, events, p, keys, span, who, by);
      const followed = earlier.count ? { earlierNumbers: earlier.count } : {};
      await this.writes.audit(tx, now, {
        action: 'dsr.erasure_executed',
        actor: who,
        pseudonym: p,
        outcome: found ? 'erased' : 'nothing-found',
        detail: previousHolder
          ? { removed, part: PREVIOUS_HOLDER_PART, ...followed, ...by }
          : { removed, ...followed, ...by },
      });
      // Whoever acts on this event (a CRM) knows the number as the present holder's: hers is not what went. A
      // previous holder's part is told by the number's pseudonym only: the number is someone else's now.
      if (!previousHolder) {
        const erased = ledgerEvent('subject.erased', { ...identified, phone }, now, undefined, undefined, p);
        // Listed and emptied: nobody holds the number in the ledger after her.
        events.push({ ...erased, heldAfter: false });
      } else if (span?.until !== undefined) events.push(await this.previousHolderErased(tx, now, p, span.until));
      const report: EraseReport = { found: found || earlier.found, removed, at: now, pseudonym: p };
      if (earlier.count > 0 || !previousHolder)
        report.earlierNumbers = { count: earlier.count, removed: earlier.removed };
      return {
        report: previousHolder ? { ...report, beforeNumberChange: true as const } : report,
        keys,
        phone,
        previousHolder,
      };
    });
    if (!previousHolder) this.forgetUsage(keys);
    else this.forgetUsage(keys.slice(1));
    if (phone) this.resolver.forget(phone);
    await this.store.scrub(addCounts({ ...report.removed }, report.earlierNumbers?.removed ?? {}));
    return report;
  }

  /**
   * Her part of each number she moved from to reach this one (earlierNumbers), erased as staff erase a previous
   * holder's part (beforeNumberChange): the number's later holders keep theirs, and it is neither suppressed nor
   * forgotten, for it may be someone else's now.
   */
  private async eraseEarlierNumbers(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    p: string,
    keys: readonly string[],
    span: HolderSpan | undefined,
    actor: string,
    by: RequestedBy,
  ): Promise<{ count: number; found: boolean; removed: Record<string, number> }> {
    const numbers = span ? await earlierNumbers(tx, p, keys, span) : [];
    const removed: Record<string, number> = {};
    for (const number of numbers) {
      addCounts(removed, await this.erasePart(tx, now, number, actor, by));
      // A CRM that kept her record under a number she left learns that her part there went too.
      events.push(await this.previousHolderErased(tx, now, number.pseudonym, number.span.until));
    }
    return { count: numbers.length, found: Object.values(removed).some((n) => n > 0), removed };
  }

  /**
   * The event of a previous holder's part erased (the number's pseudonym, no number: it is someone else's now, or
   * free to be): when she left it, and whether someone holds it now, so that a CRM keeps what is his.
   */
  private async previousHolderErased(tx: StoreTx, now: number, p: string, movedAt: number): Promise<LedgerEvent> {
    const heldAfter = (await tx.getSubject(p)) !== undefined || !(await this.writes.hasNoLiveRecord(tx, p));
    return { type: 'subject.previous-holder-erased', pseudonym: p, at: now, movedAt, heldAfter };
  }

  /** What erase does for the previous holder's part of a number (beforeNumberChange), for one earlier number. */
  private async erasePart(
    tx: StoreTx,
    now: number,
    { pseudonym, span }: EarlierNumber,
    actor: string,
    by: RequestedBy,
  ): Promise<Record<string, number>> {
    const removed = await tx.eraseSubject(pseudonym, [], span);
    await this.writes.blockMovedNumber(tx, pseudonym, span.until, actor);
    await this.writes.audit(tx, now, {
      action: 'dsr.erasure_executed',
      actor,
      pseudonym,
      outcome: Object.values(removed).some((count) => count > 0) ? 'erased' : 'nothing-found',
      detail: { removed, part: PREVIOUS_HOLDER_PART, ...by },
    });
    return removed;
  }

  /**
   * Her erase request, sent before her number went to someone else, reaches the number Meta said she moved to, as an
   * erasure before the move would have (IdentityChanges.followToNewNumber): it goes on the erasure list as of when she
   * asked, so that what she did there since (a new sign-up) stands and nothing older lets a message through.
   */
  private async listAtNewNumber(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    p: string,
    sentAt: number,
    actor: string,
  ): Promise<void> {
    const home = await this.lateHome(tx, p, sentAt);
    if (home?.movedTo === undefined) return;
    // Listed anew over an older entry, as a move does: that one may be the number's previous holder's.
    const listedAt = await tx.suppressedAt(home.movedTo);
    if (listedAt === undefined || listedAt < sentAt) await tx.putSuppression(home.movedTo, sentAt, actor);
    const purposes = this.writes.configuredPurposes();
    await this.writes.blockEndedBases(tx, now, events, home.movedTo, purposes, { channel: 'api', actor, sentAt });
  }

  /**
   * Every key the subject's records may be kept under, the subject's own first: records made under a user id
   * before the number was known stay under that id's key, linked to the number's record by an alias.
   */
  private async subjectKeys(tx: StoreTx, identified: IdentifiedSubject, p: string): Promise<string[]> {
    return [...new Set([...ownKeys(identified, p), ...(await tx.aliasesOf(p))])];
  }

  private async knownPhone(tx: StoreTx, p: string): Promise<string | undefined> {
    const row = await tx.getSubject(p);
    return row ? this.records.decryptSubject(row).phone : undefined;
  }

  /**
   * Art. 15 and 20 GDPR: everything held about one subject, decrypted, as one JSON-able document, including what was
   * kept under the person's user id before their number was known. After the number moved to another person
   * (numberChanged), what its records held up to the move is the previous holder's: it is left out, unless
   * `beforeNumberChange` asks for exactly that part (staff answering the previous holder, whose identity they checked):
   * what happened between the move before (if any) and the last one, never an earlier holder's. The present holder's
   * export holds her part of each number she moved from to reach this one too (earlierNumbers).
   */
  async export(subject: SubjectInput, actor: string, options: ExportOptions = {}): Promise<SubjectExport> {
    const who = requireActor(actor);
    const by = requestedBy(options);
    const identified = this.resolver.identify(subject);
    refuseUserIdWithPreviousHolder(identified, options);
    const previousHolder = options.beforeNumberChange === true;
    const sentAt = optionalTime(options.sentAt, 'sentAt');
    return this.change(async (tx, now) => {
      const p = await this.writes.pseudonymOf(tx, identified);
      await refuseAnotherPersonsUserId(tx, identified, p, options);
      const moves = movesOf(await tx.listAudit(p, [NUMBER_CHANGED]));
      requireChoice(options, moves);
      if (options.beforeNumberChange === undefined && senderSpan(moves, sentAt) !== undefined) {
        throw new GdprWhatsAppError(
          'sent-before-number-change',
          'The request was sent before this number passed to another person: answer its sender another way',
        );
      }
      const movedAt = moves.at(-1);
      const span = holderSpan(moves, previousHolder);
      // Only the number's own records changed hands; what is kept under a user id is always that person's.
      const ofHolder = (key: string, at: number): boolean => (key === p ? within(span, at) : !previousHolder);
      const rows: SubjectRow[] = [];
      const consents: ConsentRow[] = [];
      const history: ArchivedConsentRow[] = [];
      const notices: NoticeRow[] = [];
      const keys = previousHolder ? [p] : await this.subjectKeys(tx, identified, p);
      // One after the other: a PostgreSQL transaction is one connection.
      for (const key of keys) {
        const row = await tx.getSubject(key);
        // A move removes the number's record: one there now is the present holder's, whenever it was created.
        if (row && !previousHolder) rows.push(row);
        // The number's block after a move is nobody's: in no person's document.
        const persons = (c: ConsentRow) => c.method !== 'number-change' && ofHolder(key, c.updatedAt);
        consents.push(...(await tx.listConsents(key)).filter(persons));
        history.push(...(await tx.listHistory(key)).filter(persons));
        notices.push(...(await tx.listNotices(key)).filter((n) => ofHolder(key, n.shownAt)));
      }
      const suppressedAt = await tx.suppressedAt(p);
      const erasedAt = suppressedAt !== undefined && ofHolder(p, suppressedAt) ? suppressedAt : undefined;
      // The person whose part this is (the present holder, or the previous one at staff's word) came from these.
      const earlier = await earlierNumbers(tx, p, keys, span ?? {});
      const earlierParts = [];
      for (const number of earlier) {
        earlierParts.push(await this.exportPart(tx, now, number, who, by, options.language));
      }
      const own = rows.length + consents.length + history.length + notices.length > 0;
      const found = own || earlierParts.some((part) => part.found);
      await this.writes.audit(tx, now, {
        action: 'dsr.access_fulfilled',
        actor: who,
        pseudonym: p,
        outcome: found ? 'exported' : 'nothing-found',
        detail: previousHolder
          ? { part: PREVIOUS_HOLDER_PART, ...by }
          : earlier.length > 0
            ? { earlierNumbers: earlier.length, ...by }
            : by.requestedBy !== undefined
              ? by
              : undefined,
      });
      // Read after that event was written: the export lists its own access too (the previous holder's part does
      // not: the access happened after the move).
      const audit = [];
      for (const key of keys) {
        const entries = (await tx.listAudit(key)).filter((e) => ofHolder(key, heldAt(e, movedAt)));
        // Staff answering the previous holder is not the present one's business.
        audit.push(...(previousHolder ? entries : entries.filter((e) => !isAboutPreviousHolder(e))));
      }
      const subject = rows.length > 0 ? this.mergedSubject(rows) : undefined;
      // What her erasure kept of her objections takes effect for the present holder alone.
      const keptObjections = previousHolder ? [] : await this.keptObjections(tx, p, consents, movedAt);
      return {
        exportedAt: now,
        pseudonym: p,
        found,
        numberChangedAt: movedAt,
        erased: erasedAt === undefined ? undefined : { at: erasedAt },
        subject,
        ...this.exported(consents, history, notices, audit, options.language),
        ...(previousHolder && earlierParts.length === 0
          ? {}
          : { earlierNumbers: earlierParts.map(({ found: _found, ...part }) => part) }),
        ...(keptObjections.length > 0 ? { keptObjections } : {}),
        information: withHeldCategories(this.information(), subject),
      };
    });
  }

  /**
   * Her objections to purposes that need no consent whose records went with an erasure (or that came while she was on
   * the erasure list, kept in the audit log only): they forbid those messages once she is back (erasureForbids), so
   * they are data processed about her like any other (Art. 15(1) GDPR), and the reason those messages stop. Only hers:
   * none from before the number last passed to her, and none once it passed to someone else after her erasure (then
   * the number's block forbids). A purpose her own record has decided on since (given, withdrawn, refused) is in
   * `consents`; one with a request pending or expired is not decided, and the objection still forbids behind it.
   */
  private async keptObjections(
    tx: StoreTx,
    p: string,
    consents: readonly ConsentRow[],
    movedAt: number | undefined,
  ): Promise<NonNullable<SubjectExport['keptObjections']>> {
    const listedAt = await tx.suppressedAt(p);
    if (listedAt === undefined || (await tx.hasAuditSince(p, NUMBER_CHANGED, listedAt))) return [];
    const entries = (await tx.listAudit(p, OBJECTION_ACTIONS)).filter(
      (e) => movedAt === undefined || heldAt(e, movedAt) > movedAt,
    );
    const decided = (def: PurposeDefinition) =>
      consents.some((c) => c.pseudonym === p && c.purpose === def.id && DECIDED.has(c.status));
    return this.writes
      .configuredPurposes()
      .filter((def) => effectiveBasis(def) !== 'consent' && !decided(def))
      .filter((def) => objectedBefore(entries, def))
      .map((def) => ({ purpose: def.id, lawfulBasis: effectiveBasis(def) }));
  }

  /**
   * Her part of a number she moved from to reach the one she asks from (earlierNumbers), as staff export a previous
   * holder's part (beforeNumberChange), and that access recorded there as about the previous holder.
   */
  private async exportPart(
    tx: StoreTx,
    now: number,
    { pseudonym, span }: EarlierNumber,
    actor: string,
    by: RequestedBy,
    language: string | undefined,
  ): Promise<EarlierNumberPart & { found: boolean }> {
    const hers = (c: ConsentRow) => c.method !== 'number-change' && within(span, c.updatedAt);
    const consents = (await tx.listConsents(pseudonym)).filter(hers);
    const history = (await tx.listHistory(pseudonym)).filter(hers);
    const notices = (await tx.listNotices(pseudonym)).filter((n) => within(span, n.shownAt));
    // Staff answering the holder before her, while she held the number, is not hers either.
    const audit = (await tx.listAudit(pseudonym)).filter(
      (e) => within(span, heldAt(e, span.until)) && !isAboutPreviousHolder(e),
    );
    const suppressedAt = await tx.suppressedAt(pseudonym);
    const found = consents.length + history.length + notices.length > 0;
    await this.writes.audit(tx, now, {
      action: 'dsr.access_fulfilled',
      actor,
      pseudonym,
      outcome: found ? 'exported' : 'nothing-found',
      detail: { part: PREVIOUS_HOLDER_PART, ...by },
    });
    const part = this.exported(consents, history, notices, audit, language);
    return {
      found,
      movedAwayAt: span.until,
      ...(suppressedAt !== undefined && within(span, suppressedAt) ? { erased: { at: suppressedAt } } : {}),
      consents: part.consents.map(({ pseudonym: _p, ...record }) => record),
      history: part.history.map(({ pseudonym: _p, ...record }) => record),
      notices: part.notices,
      // A move's detail names the number she went to, which may be someone else's by now (W → X → Y: X).
      auditEvents: part.auditEvents.map(withoutDestination),
    };
  }

  /** Records as the person gets them: decrypted, audit events in order and without the business's bookkeeping. */
  private exported(
    consents: readonly ConsentRow[],
    history: readonly ArchivedConsentRow[],
    notices: readonly NoticeRow[],
    audit: AuditRecord[],
    language: string | undefined,
  ): Pick<SubjectExport, 'consents' | 'history' | 'notices' | 'auditEvents'> {
    return {
      consents: consents.map((c) => readableWording(this.records.toRecord(c), language)),
      history: history.map((h) => readableWording({ ...this.records.toRecord(h), archivedAt: h.archivedAt }, language)),
      notices: notices.map((n) => ({
        noticeVersion: n.noticeVersion,
        shownAt: n.shownAt,
        messageId: this.cipher.decryptOptional(n.messageIdEnc, 'notice_message_id', n.pseudonym),
        actor: n.actor,
      })),
      auditEvents: audit.sort((a, b) => a.seq - b.seq).map(eventFor),
    };
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
}
