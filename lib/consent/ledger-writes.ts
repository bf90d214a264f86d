import type { ConsentRow, StoreTx } from '../store/types';
import { type AuditEntry, chainAuditEntries } from './audit-chain';
import type { AuditRecord } from './audit-verify';
import { canonicalJson } from './canonical';
import { WITHDRAWAL_CHANNELS } from './inputs';
import type { FieldCipher } from './keys';
import {
  isOptOutOf,
  NUMBER_CHANGED,
  OBJECTION_ACTIONS,
  OPT_OUT_ACTIONS,
  objectedBefore,
  optOutTime,
  REQUEST_PAUSE_ACTIONS,
  requestPausedAfterOptOut,
  tooManyUnansweredRequests,
} from './opt-out-history';
import type { PurposeDefinition } from './purposes';
import { type LedgerRecords, ledgerEvent } from './records';
import { ACTIVE_STATUSES, evaluateCheck, isEnded, isUnconfirmedRequest, MOVED_AWAY_EXPIRY } from './rules';
import type { IdentifiedSubject } from './subjects';
import type { ConsentRecord, ConsentStatus, LedgerEvent, RetentionSettings, WithdrawalChannel } from './types';

/** The changes of one consent record; each is both the audit action and the event type. */
export type ConsentChange =
  | 'consent.requested'
  | 'consent.confirmed'
  | 'consent.given'
  | 'consent.refused'
  | 'consent.withdrawn'
  | 'consent.expired';

/** Runs one serial transaction of the ledger; its events are emitted once it is committed. */
export type RunChange = <T>(work: (tx: StoreTx, now: number, events: LedgerEvent[]) => Promise<T>) => Promise<T>;

/** The audit outcome of an opt-out that found nothing on record to withdraw. */
export const NOTHING_TO_WITHDRAW = 'nothing-to-withdraw';
export { NUMBER_CHANGED };

/** When the latest audit entry of this action was written, if any. */
export function lastAt(entries: readonly AuditRecord[], action: string): number | undefined {
  let latest: number | undefined;
  for (const entry of entries) {
    if (entry.action === action && (latest === undefined || entry.at > latest)) latest = entry.at;
  }
  return latest;
}

/** The audit outcome of an opt-out by a person on the erasure list (markErasedOptOut). */
export const ERASED_OPT_OUT = 'erased';
/** The audit outcome of a late opt-out from a number its writer left for one Meta did not name. */
export const MOVED_AWAY_OPT_OUT = 'moved-away';

/** Who on staff recorded an opt-out, for the audit detail (an export leaves it out: subject-rights detailFor). */
function staffOf(requestedBy: string | undefined): { requestedBy?: string } {
  return requestedBy === undefined ? {} : { requestedBy };
}

/**
 * What a late START or reply is checked against (optedOutSince): the purposes an opt-out covered, also those with
 * nothing on record, and when the person sent it.
 */
function optOutScope(targets: readonly PurposeDefinition[], sentAt: number | undefined): Record<string, unknown> {
  return { scope: targets.map((d) => d.id), ...(sentAt === undefined ? {} : { sentAt }) };
}

/**
 * The steps every change of the consent ledger is made of, inside the one transaction it runs in: a consent's new
 * state with its audit entry and event, an opt-out, the subject's identity. The ledger's operations (ledger.ts,
 * identity-changes.ts, subject-rights.ts) validate their input and compose these.
 */
export class LedgerWrites {
  constructor(
    private readonly records: LedgerRecords,
    private readonly cipher: FieldCipher,
    private readonly retention: RetentionSettings,
    private readonly instanceId: string | undefined,
    private readonly purposes: ReadonlyMap<string, PurposeDefinition>,
  ) {}

  /**
   * Every change of a consent in one place: the row's new state, its audit event (action = event type, outcome =
   * the new status, by the row's actor) and the event emitted once the transaction is committed.
   */
  async storeConsent(
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

  async audit(tx: StoreTx, now: number, entry: AuditEntry): Promise<void> {
    await this.auditAll(tx, now, [entry]);
  }

  /** Appends the entries to the hash chain in order, in one statement where the backend has one. */
  async auditAll(tx: StoreTx, now: number, entries: readonly AuditEntry[]): Promise<void> {
    const records = chainAuditEntries(await tx.auditHead(), now, entries, this.instanceId);
    if (records.length === 1) await tx.insertAudit(records[0]);
    else await tx.insertAudits(records);
  }

  /** Pending requests past their expiry, a sweep's batch at once: three statements, not three per request. */
  async expireAll(
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

  /**
   * Given consents and requests of a purpose taken out of the store's settings, ended by the retention sweep once its
   * grace ran out (RetentionSweep): expired as a lapsed request is, with an expiry time (a record ended without one
   * would read as the block a number's move leaves), and audited as `action`, so that the proof says why.
   */
  async endForRemovedPurpose(
    tx: StoreTx,
    rows: readonly ConsentRow[],
    now: number,
    action: string,
    missingSince: number,
    events: LedgerEvent[],
  ): Promise<void> {
    if (rows.length === 0) return;
    await tx.setConsentStatuses(rows, 'expired', now, now + this.retention.proofRetentionMs, now);
    await this.auditAll(
      tx,
      now,
      rows.map((row) => ({
        action,
        actor: 'retention',
        pseudonym: row.pseudonym,
        purpose: row.purpose,
        outcome: 'expired',
        detail: { purposeVersion: row.purposeVersion, previousStatus: row.status, missingSince },
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

  /** The purposes configured now. */
  configuredPurposes(): PurposeDefinition[] {
    return [...this.purposes.values()];
  }

  /** A record of `def` for `p` with nothing on it but the purpose's present wording (no request, no decision). */
  blankRecord(p: string, def: PurposeDefinition, now: number, actor: string): ConsentRow {
    return this.records.blankConsent(p, def, canonicalJson(def.wording), now, actor);
  }

  /**
   * The number's block after it passed to someone else (RecordMethod 'number-change'): for each purpose that needs no
   * consent and has no record at the number, an expired one without expiry time (MOVED_AWAY_EXPIRY), dated `at`.
   */
  async blockMovedNumber(tx: StoreTx, p: string, at: number, actor: string): Promise<number> {
    let blocked = 0;
    for (const def of this.purposes.values()) {
      if (def.lawfulBasis === 'consent') continue;
      const current = await tx.getConsent(p, def.id);
      if (!current) {
        await tx.putConsent(this.movedNumberRecord(p, def, at, actor));
        blocked += 1;
        continue;
      }
      // A request nobody confirmed lifts nothing before it (ConsentLedger.checkConsent reads behind it): when what
      // forbade there went (the previous holder's part erased), the block goes behind the request instead.
      if (!isUnconfirmedRequest(current)) continue;
      const behind = await tx.latestDecidedHistory(p, def.id);
      if (behind !== undefined && !evaluateCheck(def, behind, at).allowed) continue;
      await tx.archiveConsent(this.movedNumberRecord(p, def, at, actor), at);
      blocked += 1;
    }
    return blocked;
  }

  movedNumberRecord(p: string, def: PurposeDefinition, at: number, actor: string): ConsentRow {
    return {
      ...this.blankRecord(p, def, at, actor),
      method: 'number-change',
      status: 'expired',
      expiresAt: MOVED_AWAY_EXPIRY,
      retainUntil: at + this.retention.proofRetentionMs,
      updatedAt: at,
      actor,
    };
  }

  /** withdraw's step inside a transaction: the consents of `targets` withdrawn, objections where nothing was on record. */
  async withdrawIn(
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
      /** When the person sent the opt-out (Meta's time), if known: see optedOutSince. */
      sentAt?: number;
      /** Staff who recorded it (channel 'admin'): in the audit detail. */
      requestedBy?: string;
      /** An opt-out carried over from elsewhere (auditNothing false), whose evidence and time are there already. */
      carried?: boolean;
      auditNothing?: boolean;
      /**
       * An opt-out of everything (a STOP naming no purpose, a number leaving its holder): it also ends the standing
       * records of purposes taken out of the settings, or putting one back would revive them.
       */
      everyPurpose?: boolean;
    },
  ): Promise<ConsentRecord[]> {
    const { channel, actor, keyword } = opt;
    // An opt-out of everything says so, so that carrying it elsewhere later (carryOptOuts) ends as much there.
    const sent = opt.carried
      ? { carried: true }
      : {
          ...optOutScope(targets, opt.sentAt),
          ...(opt.everyPurpose ? { everyPurpose: true } : {}),
          ...staffOf(opt.requestedBy),
        };
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
          : { ...this.blankRecord(p, def, now, actor), method: 'objection' };
      const row = this.withdrawnRow(base, now, p, opt);
      const detail = { channel, keyword: keyword ?? null, previousStatus: existing?.status ?? null, ...sent };
      changed.push(await this.storeConsent(tx, now, events, row, subject, 'consent.withdrawn', detail, { channel }));
    }
    if (opt.everyPurpose === true) {
      changed.push(...(await this.withdrawRemovedPurposes(tx, now, events, p, subject, opt, sent)));
    }
    if (changed.length === 0 && opt.auditNothing !== false) {
      // The opt-out itself is evidence worth keeping even when nothing was on record.
      await this.audit(tx, now, {
        action: 'consent.withdrawn',
        actor,
        pseudonym: p,
        outcome: NOTHING_TO_WITHDRAW,
        detail: { channel, keyword: keyword ?? null, ...sent },
      });
    }
    return changed;
  }

  private withdrawnRow(
    base: ConsentRow,
    now: number,
    p: string,
    opt: { channel: WithdrawalChannel; actor: string; text?: string; keyword?: string; messageId?: string },
  ): ConsentRow {
    return {
      ...base,
      status: 'withdrawn',
      expiresAt: null,
      withdrawnAt: now,
      withdrawalChannel: opt.channel,
      withdrawalMessageIdEnc: this.cipher.encryptOptional(opt.messageId, 'withdrawal_message_id', p),
      withdrawalTextEnc: this.cipher.encryptOptional(opt.text, 'withdrawal_text', p),
      withdrawalKeyword: opt.keyword ?? null,
      retainUntil: now + this.retention.proofRetentionMs,
      updatedAt: now,
      actor: opt.actor,
    };
  }

  /**
   * A purpose taken out of the store's settings keeps its records. An opt-out of everything ends the consents and
   * requests standing for such a purpose too, or putting the purpose back would message a person who said STOP.
   */
  private async withdrawRemovedPurposes(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    p: string,
    subject: IdentifiedSubject,
    opt: { channel: WithdrawalChannel; actor: string; text?: string; keyword?: string; messageId?: string },
    sent: Record<string, unknown>,
  ): Promise<ConsentRecord[]> {
    const changed: ConsentRecord[] = [];
    for (const existing of await tx.listConsents(p)) {
      if (this.purposes.has(existing.purpose) || isEnded(existing.status)) continue;
      const row = this.withdrawnRow(existing, now, p, opt);
      const scope = Array.isArray(sent.scope) ? [...sent.scope, existing.purpose] : undefined;
      const detail = {
        channel: opt.channel,
        keyword: opt.keyword ?? null,
        previousStatus: existing.status,
        ...sent,
        ...(scope ? { scope } : {}),
      };
      changed.push(
        await this.storeConsent(tx, now, events, row, subject, 'consent.withdrawn', detail, { channel: opt.channel }),
      );
    }
    return changed;
  }

  /**
   * An opt-out of a person on the erasure list: nothing about her is stored again, but a pseudonymous entry says that
   * her opt-out came, and when she sent it. A START she sent before it (after her erasure) and Meta delivers after it
   * must sign her up for nothing (optedOutSince).
   */
  async markErasedOptOut(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    key: string,
    targets: readonly PurposeDefinition[],
    opt: { channel: WithdrawalChannel; actor: string; keyword?: string; sentAt?: number; requestedBy?: string },
    outcome: string = ERASED_OPT_OUT,
  ): Promise<void> {
    await this.audit(tx, now, {
      action: 'consent.withdrawn',
      actor: opt.actor,
      pseudonym: key,
      outcome,
      detail: {
        channel: opt.channel,
        keyword: opt.keyword ?? null,
        ...optOutScope(targets, opt.sentAt),
        ...staffOf(opt.requestedBy),
      },
    });
    if (outcome === ERASED_OPT_OUT) await this.blockEndedBases(tx, now, events, key, targets, opt);
  }

  /**
   * On the erasure list, a record that ended (an expired request, a previous holder's record the move ended) lets a
   * purpose resting on a contract or legitimate interest through: the check goes by the record. For a person on the
   * list such purposes get a bare objection (no message, no text: nothing more about her), so that they block.
   */
  async blockEndedBases(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    key: string,
    targets: readonly PurposeDefinition[],
    opt: { channel: WithdrawalChannel; actor: string; sentAt?: number },
  ): Promise<void> {
    const open: PurposeDefinition[] = [];
    for (const def of targets) {
      if (def.lawfulBasis === 'consent') continue;
      if ((await tx.getConsent(key, def.id))?.status === 'expired') open.push(def);
    }
    if (open.length === 0) return;
    const subject: IdentifiedSubject = { pseudonym: key, userIdOnly: false };
    await this.withdrawIn(tx, now, events, key, subject, open, {
      channel: opt.channel,
      actor: opt.actor,
      sentAt: opt.sentAt,
      auditNothing: false,
    });
  }

  /** Nothing given or requested on record under `key`. */
  async hasNoLiveRecord(tx: StoreTx, key: string): Promise<boolean> {
    return !(await tx.listConsents(key)).some((r) => ACTIVE_STATUSES.includes(r.status as ConsentStatus));
  }

  /**
   * On the erasure list and not signed up again: nothing given or requested on record (rows the person did not make,
   * an expired request or an objection, do not count as coming back). An entry older than the number's last move is
   * its previous holder's: the present one may still opt out, and take that along when he moves on.
   */
  async erasedAndGone(tx: StoreTx, p: string): Promise<boolean> {
    const listedAt = await tx.suppressedAt(p);
    if (listedAt === undefined || !(await this.hasNoLiveRecord(tx, p))) return false;
    return !(await tx.hasAuditSince(p, NUMBER_CHANGED, listedAt));
  }

  /**
   * Erased and gone (erasedAndGone), and nothing written from the number since it was listed. A person who writes
   * after her erasure has come back, as one who signs up again has: she may be answered, shown the privacy notice
   * (Art. 13 GDPR: the number may have a new holder who never saw it) and the notice recorded. A message sent before
   * the erasure and delivered after it (its time is when it was sent) does not bring her back, nor does a reaction
   * (the webhook records no time for it then).
   */
  async erasedAndSilent(tx: StoreTx, p: string): Promise<boolean> {
    if (!(await this.erasedAndGone(tx, p))) return false;
    const listedAt = await tx.suppressedAt(p);
    const lastInbound = (await tx.getSubject(p))?.lastInboundAt ?? undefined;
    return listedAt === undefined || lastInbound === undefined || lastInbound <= listedAt;
  }

  /**
   * What her erasure still forbids for a purpose that needs no consent: everything ('erased') until she comes back,
   * by writing or signing up again (a consent given since; a request typed into a form does not count: anyone can
   * type a number); after that, the purpose if she objected to it ('objected'): before the erasure, its record gone
   * with it, or since (a STOP of a person on the list is kept in the audit log only). Once the number passed to
   * someone else since, nothing of hers forbids, but the number's block does ('moved'), as after the move of a number
   * whose holder was not on the list (numberChanged): nothing goes to the next holder on the person's account.
   */
  async erasureForbids(
    tx: StoreTx,
    p: string,
    def: PurposeDefinition,
  ): Promise<'erased' | 'moved' | 'objected' | undefined> {
    const listedAt = await tx.suppressedAt(p);
    if (listedAt === undefined) return undefined;
    if (await tx.hasAuditSince(p, NUMBER_CHANGED, listedAt)) return 'moved';
    if (await this.awaySince(tx, p, listedAt)) return 'erased';
    return objectedBefore(await tx.listAudit(p, OBJECTION_ACTIONS), def) ? 'objected' : undefined;
  }

  /**
   * On the erasure list, still the number's holder, and not come back (erasureForbids' 'erased'): a reaction of hers
   * records no time then (storeInbound), whatever a form typed in for her number since.
   */
  async stillAway(tx: StoreTx, p: string): Promise<boolean> {
    const listedAt = await tx.suppressedAt(p);
    if (listedAt === undefined || (await tx.hasAuditSince(p, NUMBER_CHANGED, listedAt))) return false;
    return this.awaySince(tx, p, listedAt);
  }

  /** Neither a consent given nor a message written since `listedAt`. */
  private async awaySince(tx: StoreTx, p: string, listedAt: number): Promise<boolean> {
    const signedUp = (await tx.listConsents(p)).some((r) => r.status === 'given' && (r.decidedAt ?? 0) > listedAt);
    const lastInbound = (await tx.getSubject(p))?.lastInboundAt ?? undefined;
    return !signedUp && (lastInbound === undefined || lastInbound <= listedAt);
  }

  /**
   * True when the number changed hands at or after `row` ended: the row is the previous holder's, and an opt-out of
   * the present one is recorded anew (else it would not follow her when she moves on).
   */
  private async endedBeforeMove(tx: StoreTx, p: string, row: ConsentRow): Promise<boolean> {
    return tx.hasAuditSince(p, NUMBER_CHANGED, row.updatedAt);
  }

  /** A BSUID seen before together with a number leads to the number's records. */
  async pseudonymOf(tx: StoreTx, subject: IdentifiedSubject): Promise<string> {
    if (!subject.userIdOnly) return subject.pseudonym;
    return (await tx.resolveAlias(subject.pseudonym)) ?? subject.pseudonym;
  }

  /**
   * The subject's record, and the link from her user id to it. An id linked to this number for the first time brings
   * its own opt-outs along (a STOP written with the number withheld): checks by the id read the number's records from
   * now on, and would no longer see them.
   */
  async saveIdentity(
    tx: StoreTx,
    subject: IdentifiedSubject,
    now: number,
    events: LedgerEvent[],
    actor: string,
  ): Promise<void> {
    const p = subject.pseudonym;
    await tx.putSubject(this.records.subjectRow(subject, await tx.getSubject(p), now));
    const id = subject.userIdAlias;
    if (!id || id === p) return;
    if ((await tx.resolveAlias(id)) !== p) {
      await this.carryOptOuts(tx, now, events, id, await tx.listConsents(id), p, subject, actor);
    }
    await tx.putAlias(id, p);
  }

  /**
   * The opt-outs recorded under `home` (a user id's own records: a new id's, or an id's seen with a number for the
   * first time) applied to `target` (the records checks by that id read from now on).
   */
  async carryOptOuts(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    home: string,
    own: readonly ConsentRow[],
    target: string,
    subject: IdentifiedSubject,
    actor: string,
  ): Promise<void> {
    const { purposes, channel, everyPurpose } = await this.optedOutUnder(tx, home, own);
    if (purposes.length === 0) return;
    await this.withdrawIn(tx, now, events, target, subject, purposes, {
      channel,
      actor,
      carried: true,
      auditNothing: false,
      everyPurpose,
    });
  }

  /**
   * What was opted out of under `home` (a user id's own key, whose rows are `own`), for carryOptOuts and a move: the
   * purposes each opt-out covered (its audit entry's scope), the objections and refusals on record, and every purpose
   * for an erasure. An opt-out recorded before opt-outs named their scope counts for every purpose, except Meta's
   * marketing opt-out, which counts for the marketing purposes (and those withdrawn by it).
   */
  async optedOutUnder(
    tx: StoreTx,
    home: string,
    own: readonly ConsentRow[],
  ): Promise<{ purposes: PurposeDefinition[]; channel: WithdrawalChannel; everyPurpose: boolean }> {
    const all = [...this.purposes.values()];
    const ids = new Set<string>();
    const channels: unknown[] = [];
    let everyPurpose = false;
    // A move ends consents on the old person's account; it opts out of nothing. An objection it carried did.
    const optedOutRow = (r: ConsentRow) =>
      r.status === 'refused' ||
      (r.status === 'withdrawn' && (r.withdrawalChannel !== 'whatsapp-number-change' || r.method === 'objection'));
    for (const row of own.filter(optedOutRow)) {
      ids.add(row.purpose);
      if (row.withdrawalChannel) channels.push(row.withdrawalChannel);
    }
    for (const entry of await tx.listAudit(home, ['consent.withdrawn'])) {
      if (entry.action !== 'consent.withdrawn' || entry.detail?.carried === true) continue;
      const channel = entry.detail?.channel;
      if (channel === 'whatsapp-number-change') continue;
      channels.push(channel);
      if (entry.detail?.everyPurpose === true) everyPurpose = true;
      const scope = entry.detail?.scope;
      const covered = Array.isArray(scope)
        ? all.filter((d) => scope.includes(d.id))
        : all.filter((d) => channel !== 'meta-marketing-optout' || d.marketing || d.id === entry.purpose);
      for (const def of covered) ids.add(def.id);
    }
    // An erasure of the id (its opt-outs went with it) is the widest opt-out of all.
    if ((await tx.suppressedAt(home)) !== undefined) {
      for (const def of all) ids.add(def.id);
      channels.push('api');
      everyPurpose = true;
    }
    const purposes = all.filter((d) => ids.has(d.id));
    return { purposes, channel: WITHDRAWAL_CHANNELS.find((c) => c === channels[0]) ?? 'api', everyPurpose };
  }

  /**
   * Whether the person opted out of `def` under one of `keys` at or after `sentAt`: a STOP or Meta's marketing
   * opt-out (at the time she sent it, where Meta said, else when it was recorded), a refusal of the purpose, an
   * erasure. A message she sent before that and Meta delivers after it must not sign her up again. Opt-outs carried
   * over from elsewhere count where they were made; a move is movedAwaySince's.
   */
  async optedOutSince(tx: StoreTx, keys: readonly string[], def: PurposeDefinition, sentAt: number): Promise<boolean> {
    for (const key of new Set(keys)) {
      if (((await tx.suppressedAt(key)) ?? Number.NEGATIVE_INFINITY) >= sentAt) return true;
      for (const entry of await tx.listAudit(key, OPT_OUT_ACTIONS)) {
        if (isOptOutOf(entry, def) && optOutTime(entry) >= sentAt) return true;
      }
    }
    return false;
  }

  /**
   * Why a request typed in for the number of `keys` must wait, if it must: after her opt-out
   * (requestPausedAfterOptOut), or after requests for `purpose` that went unanswered (tooManyUnansweredRequests).
   */
  async typedInRequestWait(
    tx: StoreTx,
    keys: readonly string[],
    purpose: string,
    now: number,
  ): Promise<'recently-opted-out' | 'unanswered-requests' | undefined> {
    const entriesByKey: AuditRecord[][] = [];
    for (const key of new Set(keys)) entriesByKey.push(await tx.listAudit(key, REQUEST_PAUSE_ACTIONS));
    const { pendingExpiryMs } = this.retention;
    if (requestPausedAfterOptOut(entriesByKey, now, pendingExpiryMs)) return 'recently-opted-out';
    if (tooManyUnansweredRequests(entriesByKey, purpose, now, pendingExpiryMs)) return 'unanswered-requests';
    return undefined;
  }
}
