import { isBusinessScopedUserId } from '../business-scoped-user-id';
import { GdprWhatsAppError } from '../errors';
import type { StoreTx } from '../store/types';
import type { AuditRecord } from './audit-verify';
import type { LinkUserIdInput, LinkUserIdOutcome, NumberChangeInput } from './inputs';
import { type LedgerWrites, lastAt, NUMBER_CHANGED, type RunChange } from './ledger-writes';
import { repeatsMove, replacedIdTo } from './move-retries';
import type { PurposeDefinition } from './purposes';
import { ACTIVE_STATUSES } from './rules';
import type { IdentifiedSubject, SubjectResolver } from './subjects';
import type { ConsentRecord, ConsentStatus, LedgerEvent, WithdrawalChannel } from './types';
import { optionalText, requireActor } from './validate';

/**
 * The audit action on a person's previous user id when a number change replaced it (numberChanged): `detail.to` says
 * where her records are now, for an opt-out under the old id that Meta delivers late.
 */
export const USER_ID_REPLACED = 'subject.user-id-replaced';
/** The audit action on a person's new number when her opt-outs followed her there (numberChanged). */
const OPT_OUTS_CARRIED = 'subject.opt-outs-carried';
/** Meta's clock and this machine's may differ; a number changes hands months after a move, not minutes. */
export const CLOCK_MARGIN_MS = 10 * 60_000;

/** Where the move's marker says the person went (a pseudonym): an opt-out she sent before it, delivered late, follows. */
function movedTo(wentTo: string | undefined): { to?: string } {
  return wentTo ? { to: wentTo } : {};
}

/** Both sets of opt-outs: a person's at her number and under her previous user id. */
function withOptOutsOf(a: OptOuts, b: OptOuts | undefined): OptOuts {
  if (!b) return a;
  return { purposes: [...new Set([...a.purposes, ...b.purposes])], erased: a.erased || b.erased };
}

/** How many moves a late opt-out follows: a person does not change numbers that often within Meta's retries. */
export const MAX_LATE_HOPS = 16;

/** Where the sender of an opt-out that Meta delivered only after her number's move is now (lateOptOutHome). */
export interface LateOptOutHome {
  /** The number she holds now (a pseudonym); undefined when Meta did not name where she went: the old one keeps it. */
  movedTo?: string;
  /** She was on the erasure list when she left the number. */
  erasedBeforeMove: boolean;
}

/** The first move marker that `after` accepts, in the order they were written. */
function firstMove(
  entries: readonly AuditRecord[],
  after: (e: AuditRecord) => boolean,
  action: string = NUMBER_CHANGED,
): AuditRecord | undefined {
  return entries.filter((e) => e.action === action && after(e)).sort((a, b) => a.seq - b.seq)[0];
}

/** What a person opted out of herself at one number, which follows her when she moves (numberChanged). */
interface OptOuts {
  purposes: PurposeDefinition[];
  /** On the erasure list. */
  erased: boolean;
}

/**
 * Meta's identity changes: a person's move to another number (which the provider may give to someone else) and a
 * new business-scoped user id. Consent must follow the person, never pass to whoever gets the number next, and no
 * opt-out may be lost, whatever order the webhooks come in.
 */
export class IdentityChanges {
  constructor(
    private readonly writes: LedgerWrites,
    private readonly resolver: SubjectResolver,
    private readonly purposes: ReadonlyMap<string, PurposeDefinition>,
    private readonly change: RunChange,
  ) {}

  /**
   * Meta reported that the person of `phone` moved to another number, which the provider may give to someone else.
   * Consents on record for it are withdrawn; purposes that need no consent (contract, legitimate interest) get an
   * expired record that blocks until one is made for the next holder, whether or not the person had one. An
   * objection stays: nothing reaches the next holder on the old person's account.
   * Every record counts as the old person's, since webhooks come late and in any order and a provider does not hand
   * a number on within Meta's days of redelivery. Then, as the retention sweep would 30 days later, the number's
   * record, its user-id links and the texts and message ids kept as proof go; the pseudonymous proof stays.
   */
  async numberChanged(input: NumberChangeInput): Promise<ConsentRecord[] | 'erased'> {
    const actor = requireActor(input?.actor);
    const messageId = optionalText(input.messageId, 'messageId', 256);
    const subject = this.resolver.identify({ phone: input.phone });
    const newNumber = this.newNumberOf(input.newPhone, subject);
    const previousId = this.userIdOf(input.previousUserId);
    const newId = this.userIdOf(input.newUserId, previousId);
    const channel: WithdrawalChannel = 'whatsapp-number-change';
    const outcome = await this.change(async (tx, now, events) => {
      const p = subject.pseudonym;
      const carry = { channel, actor, messageId };
      // What followed her to her new number comes after the move's event: a CRM re-keys her record first.
      const followed: LedgerEvent[] = [];
      // Read before this move ends anything: the endings below are not hers to carry.
      const wentTo = await this.followPerson(tx, now, followed, p, { newNumber, previousId, newId }, carry);
      const repeated = await repeatsMove(tx, p, wentTo, NUMBER_CHANGED);
      if (await this.writes.erasedAndGone(tx, p)) {
        // Erased: a CRM holds nothing of her to re-key, and is not told where she went.
        events.push(...followed);
        // Links go (no user id may answer for the number any more), and a record made since the erasure (a later
        // message's time); the pseudonymous marker stays, so that a START sent before the move cannot sign the next
        // holder up.
        await tx.removeAliasesOf(p);
        await tx.removePersonalData(p);
        await this.writes.audit(tx, now, {
          action: NUMBER_CHANGED,
          actor,
          pseudonym: p,
          outcome: 'erased',
          detail: movedTo(wentTo),
        });
        return 'erased' as const;
      }
      const purposes = [...this.purposes.values()];
      const consents = purposes.filter((def) => def.lawfulBasis === 'consent');
      const ended = await this.writes.withdrawIn(tx, now, events, p, subject, consents, {
        channel,
        actor,
        messageId,
        auditNothing: false,
        everyPurpose: true,
      });
      // The contract or interest was the person's, not the number's: whether or not it was on record, nothing goes
      // to the number's next holder on it until a record is made for him (the number's block). An objection stays
      // as it is: it blocks already.
      for (const def of purposes.filter((d) => d.lawfulBasis !== 'consent')) {
        const existing = await tx.getConsent(p, def.id);
        if (existing?.status === 'withdrawn' || existing?.status === 'refused') continue;
        // Her record goes to the history, hers; the block takes its place.
        if (existing) await tx.archiveConsent(existing, now);
        const block = this.writes.movedNumberRecord(p, def, now, actor);
        if (existing && ACTIVE_STATUSES.includes(existing.status as ConsentStatus)) {
          const detail = { reason: 'number-changed', previousStatus: existing.status };
          ended.push(
            await this.writes.storeConsent(tx, now, events, block, subject, 'consent.expired', detail, { channel }),
          );
        } else {
          // Nothing of hers ended: no event, no audit entry of its own (the move's entry below says it all).
          await tx.putConsent(block);
        }
      }
      // A repeat finds nothing of hers left to remove, but would take the numbers from the first one's events still
      // waiting for a CRM (forgotten as a person's are), which then could not re-key her record by number.
      const unlinked = repeated ? 0 : await tx.removeAliasesOf(p);
      const removed = repeated ? 0 : await tx.removePersonalData(p);
      await this.writes.audit(tx, now, {
        action: NUMBER_CHANGED,
        actor,
        pseudonym: p,
        outcome: 'ended',
        detail: { ended: ended.length, unlinked, personalDataRemoved: removed, ...movedTo(wentTo) },
      });
      if (!repeated) {
        // The numbers only in-process, as subject.erased carries its number: the ledger itself no longer holds the
        // one she left, and the feed scrubs both once delivered (pruneOutbox).
        events.push({
          type: 'subject.number-changed',
          pseudonym: p,
          at: now,
          ...movedTo(wentTo),
          phone: subject.phone,
          userId: previousId?.userId,
          newPhone: newNumber?.phone,
          newUserId: newId?.userId,
        });
      }
      events.push(...followed);
      return ended;
    });
    // The record of the number she left is gone (or was, with her erasure), and the number may be someone else's
    // next: the memo of recently seen numbers keeps it no longer than the record, as after an erasure.
    if (subject.phone) this.resolver.forget(subject.phone);
    return outcome;
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
      if (target === previous.pseudonym && !(await this.holdsRecords(tx, target))) {
        // Nothing kept, but an erased id's new one stays on the erasure list with it, as of the erasure (a START
        // she sent since is a new sign-up), unless she signed up again with it already.
        const listedAt = await tx.suppressedAt(target);
        const nextHome = (await tx.resolveAlias(next.pseudonym)) ?? next.pseudonym;
        const back = !(await this.writes.hasNoLiveRecord(tx, nextHome));
        if (listedAt !== undefined && !back) {
          // Where checks by the new id go: its own key, or the number she wrote from with it already.
          for (const key of new Set([next.pseudonym, nextHome])) {
            if ((await tx.suppressedAt(key)) === undefined) await tx.putSuppression(key, listedAt, actor);
          }
        }
        return 'unknown';
      }
      const linkedAlready = await tx.resolveAlias(next.pseudonym);
      if (linkedAlready === target) return 'linked';
      // The new id names a number's records already: whose opt-outs are there (a previous holder's?) is unknown.
      if (linkedAlready !== undefined) return 'separate';
      // Webhooks come in any order: a STOP under the new id handled before this message counts for the old records.
      const own = await tx.listConsents(next.pseudonym);
      await this.writes.carryOptOuts(tx, now, events, next.pseudonym, own, target, next, actor);
      // A bare row (the new id wrote first, opening the 24-hour window) is only shadowed; a consent or a refusal of
      // its own would be hidden.
      if (own.some((r) => r.status === 'refused' || ACTIVE_STATUSES.includes(r.status as ConsentStatus))) {
        return 'separate';
      }
      await tx.putAlias(next.pseudonym, target);
      await this.writes.audit(tx, now, {
        action: 'subject.user-id-changed',
        actor,
        pseudonym: target,
        outcome: 'linked',
      });
      return 'linked';
    });
  }

  /**
   * Whether a move away from the number `p` was handled at or after `sentAt`. Meta's time of a message compares with
   * the time the move was handled here, not Meta's time of it: a provider hands a number on months later, not within
   * the minutes between the two.
   */
  async movedAwaySince(tx: StoreTx, p: string, sentAt: number): Promise<boolean> {
    return tx.hasAuditSince(p, NUMBER_CHANGED, sentAt - CLOCK_MARGIN_MS);
  }

  /**
   * An opt-out Meta says was sent at `sentAt` from the number `p`, delivered only after the number's move (or within
   * the clocks' margin after it: a provider does not hand a number on that soon): it is the opt-out of the person who
   * moved, not of the number's next holder. Undefined when the number did not move since, or she is back on it.
   * Otherwise she is followed from move to move, each her own: a number's moves before she came were a previous
   * holder's.
   */
  async lateOptOutHome(
    tx: StoreTx,
    p: string,
    sentAt: number,
    replaced: typeof NUMBER_CHANGED | typeof USER_ID_REPLACED = NUMBER_CHANGED,
  ): Promise<LateOptOutHome | undefined> {
    // The common case, a number (or id) that did not move: one indexed lookup, not its whole history.
    if (!(await tx.hasAuditSince(p, replaced, sentAt - CLOCK_MARGIN_MS))) return undefined;
    let move = firstMove(await tx.listAudit(p, [replaced]), (e) => e.at >= sentAt - CLOCK_MARGIN_MS, replaced);
    if (!move) return undefined;
    const listedAt = await tx.suppressedAt(p);
    const erasedBeforeMove = listedAt !== undefined && listedAt <= move.at;
    let home = p;
    for (let hop = 0; move && hop < MAX_LATE_HOPS; hop++) {
      const to = move.detail?.to;
      if (typeof to !== 'string') return { erasedBeforeMove };
      const arrived = move.seq;
      // A new user id she has written from a number with since leads to that number's records.
      home = (await tx.resolveAlias(to)) ?? to;
      move = firstMove(await tx.listAudit(home, [NUMBER_CHANGED]), (e) => e.seq > arrived);
    }
    return home === p ? undefined : { movedTo: home, erasedBeforeMove };
  }

  /**
   * The late opt-out recorded for the number she moved to (lateOptOutHome), as a STOP sent there would be: it ends
   * what she gave there too, since when she gave it is not known by Meta's clock (the safe side, as for any STOP).
   */
  async forwardLateOptOut(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    target: string,
    defs: readonly PurposeDefinition[],
    fields: { channel: WithdrawalChannel; actor: string; keyword?: string; messageId?: string; sentAt?: number },
  ): Promise<ConsentRecord[]> {
    if (await this.writes.erasedAndGone(tx, target)) {
      await this.writes.markErasedOptOut(tx, now, events, target, defs, fields);
      return [];
    }
    const to: IdentifiedSubject = { pseudonym: target, userIdOnly: false };
    return this.writes.withdrawIn(tx, now, events, target, to, defs, fields);
  }

  /** A user id Meta gave with a move, if it is one (and not `other`); a bad one must not stop the move. */
  private userIdOf(userId: string | undefined, other?: IdentifiedSubject): IdentifiedSubject | undefined {
    if (!isBusinessScopedUserId(userId)) return undefined;
    const identified = this.resolver.identify({ userId });
    return identified.pseudonym === other?.pseudonym ? undefined : identified;
  }

  /**
   * Her own opt-outs at the number, and those under her previous user id (an id is one person's), follow her to her
   * new number, and her new id leads there. Without a new number they are kept where her new id leads. A person on
   * the erasure list goes on it there, and her new id with her: nothing else is written about her.
   */
  private async followPerson(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    p: string,
    ids: { newNumber?: IdentifiedSubject; previousId?: IdentifiedSubject; newId?: IdentifiedSubject },
    carry: { channel: WithdrawalChannel; actor: string; messageId?: string },
  ): Promise<string | undefined> {
    const { newNumber, previousId } = ids;
    // Meta's retry of the same message finds the previous id replaced already: nothing of it is carried twice.
    const idDone = previousId !== undefined && (await tx.hasAuditSince(previousId.pseudonym, USER_ID_REPLACED, 0));
    const newId = idDone ? undefined : ids.newId;
    const optOuts = withOptOutsOf(
      await this.ownOptOuts(tx, p),
      previousId && !idDone ? await this.idOptOuts(tx, previousId) : undefined,
    );
    if (newNumber) await this.followToNewNumber(tx, now, events, newNumber, optOuts, carry);
    // A retry of a move known only by user id: the first took the new id, and said where she went.
    const replaced = idDone && !newNumber ? await replacedIdTo(tx, previousId.pseudonym, USER_ID_REPLACED) : undefined;
    let idHome: string | undefined = newNumber?.pseudonym ?? replaced;
    if (newId && optOuts.erased) {
      if ((await tx.suppressedAt(newId.pseudonym)) === undefined)
        await tx.putSuppression(newId.pseudonym, now, carry.actor);
      idHome ??= newId.pseudonym;
    } else if (newId && newNumber) {
      const linked = await this.linkNewUserId(tx, now, events, newId, newNumber, carry.actor);
      // Not linked (a consent or refusal of its own): her opt-outs must answer to the id as well.
      if (!linked) await this.followToNewNumber(tx, now, events, newId, optOuts, carry);
    } else if (newId) {
      // No new number: where her new id leads (a number she wrote from with it already), else the id itself.
      const linkedTo = await tx.resolveAlias(newId.pseudonym);
      const home: IdentifiedSubject = linkedTo ? { pseudonym: linkedTo, userIdOnly: false } : newId;
      await this.followToNewNumber(tx, now, events, home, optOuts, carry);
      idHome = home.pseudonym;
    }
    if (previousId && !idDone && idHome !== undefined) {
      // Where an opt-out sent under the previous id before this move, and delivered after it, is to go.
      await this.writes.audit(tx, now, {
        action: USER_ID_REPLACED,
        actor: carry.actor,
        pseudonym: previousId.pseudonym,
        outcome: 'moved',
        detail: { to: idHome },
      });
    }
    return idHome;
  }

  /** What the person opted out of under her previous user id (an id is one person's, whatever number it was with). */
  private async idOptOuts(tx: StoreTx, id: IdentifiedSubject): Promise<OptOuts> {
    // Erased: she goes on the erasure list there, and nothing else is written about her.
    if ((await tx.suppressedAt(id.pseudonym)) !== undefined) return { purposes: [], erased: true };
    const { purposes } = await this.writes.optedOutUnder(tx, id.pseudonym, await tx.listConsents(id.pseudonym));
    return { purposes, erased: false };
  }

  /**
   * Her new user id leads to her new number's records, as if she had written from there with it, so that a send by
   * the id alone meets the opt-outs that followed her. An id with a consent or a refusal of its own is left as it is:
   * a link would hide that (linkUserId). True when the id leads there.
   */
  private async linkNewUserId(
    tx: StoreTx,
    now: number,
    events: LedgerEvent[],
    id: IdentifiedSubject,
    to: IdentifiedSubject,
    actor: string,
  ): Promise<boolean> {
    if ((await tx.resolveAlias(id.pseudonym)) === to.pseudonym) return true;
    const own = await tx.listConsents(id.pseudonym);
    await this.writes.carryOptOuts(tx, now, events, id.pseudonym, own, to.pseudonym, to, actor);
    if (own.some((r) => r.status === 'refused' || ACTIVE_STATUSES.includes(r.status as ConsentStatus))) return false;
    await tx.putAlias(id.pseudonym, to.pseudonym);
    await this.writes.audit(tx, now, {
      action: 'subject.user-id-changed',
      actor,
      pseudonym: to.pseudonym,
      outcome: 'linked',
    });
    return true;
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
   * objection, a refusal, Meta's marketing opt-out, one carried from her own previous number) and the erasure list.
   * Not an ending by an earlier move, nor what a previous holder said.
   */
  private async ownOptOuts(tx: StoreTx, p: string): Promise<OptOuts> {
    const since = lastAt(await tx.listAudit(p, [NUMBER_CHANGED]), NUMBER_CHANGED) ?? Number.NEGATIVE_INFINITY;
    const purposes: PurposeDefinition[] = [];
    for (const row of await tx.listConsents(p)) {
      const def = this.purposes.get(row.purpose);
      // An earlier move's endings are as old as its marker.
      const optedOut = row.status === 'withdrawn' || row.status === 'refused';
      if (def && optedOut && row.updatedAt > since) purposes.push(def);
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
    const carried = await this.writes.withdrawIn(tx, now, events, to.pseudonym, to, open, {
      ...opt,
      auditNothing: false,
    });
    // Listed anew even where an entry exists: it may be the new number's previous holder's, older than its last move.
    const listed = optOuts.erased;
    if (listed) {
      await tx.putSuppression(to.pseudonym, now, opt.actor);
      await this.writes.blockEndedBases(tx, now, events, to.pseudonym, [...this.purposes.values()], opt);
    }
    if (carried.length === 0 && !listed) return;
    await this.writes.audit(tx, now, {
      action: OPT_OUTS_CARRIED,
      actor: opt.actor,
      pseudonym: to.pseudonym,
      outcome: 'carried',
      detail: { withdrawn: carried.length, erasureListed: listed },
    });
  }

  /** Anything kept under `pseudonym`: its record, or consents and their history (kept longer than the record). */
  private async holdsRecords(tx: StoreTx, pseudonym: string): Promise<boolean> {
    if (await tx.getSubject(pseudonym)) return true;
    if ((await tx.listConsents(pseudonym)).length > 0) return true;
    return (await tx.listHistory(pseudonym)).length > 0;
  }
}
