import { GdprWhatsAppError } from '../errors';
import type { LedgerStore, StoreTx } from '../store/types';
import { EVENT_FEED_RETENTION_MS } from './event-feed';
import type { LedgerWrites, RunChange } from './ledger-writes';
import { provesStanding, RESTATABLE_ACTIONS, restatementOf } from './proof-restatement';
import type { PurposeDefinition } from './purposes';
import type { LedgerEvent, RetentionSettings, SweepReport } from './types';

/** The audit event each sweep leaves: also when the last one ran, for the timer after a restart. */
export const SWEEP_ACTION = 'retention.purge_run';
/** The audit event of a given consent or request the sweep ended because its purpose left the store's settings. */
export const PURPOSE_REMOVED_ACTION = 'consent.purpose_removed';

/**
 * The least time a purpose must be missing from every store on the database before its consents end: a removal by
 * mistake is noticed, and a store that shares the database but was stopped for a while (maintenance, a holiday)
 * keeps its purposes. The personal-data period applies when it is longer.
 */
export const REMOVED_PURPOSE_GRACE_MS = 30 * 24 * 60 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How long after a purpose left the settings its given consents and requests end: the personal-data period, and at
 * least REMOVED_PURPOSE_GRACE_MS. The sweep ends them after it; the access export and the policy page state it.
 */
export function removedPurposeEndMs(personalDataMs: number): number {
  return Math.max(personalDataMs, REMOVED_PURPOSE_GRACE_MS);
}

/** removedPurposeEndMs in whole days, as the access export and the policy page state it. */
export function removedPurposeEndDays(personalDataMs: number): number {
  return Math.round(removedPurposeEndMs(personalDataMs) / DAY_MS);
}

/** A purpose taken out of the store's settings that still holds given consents or requests. */
export interface RemovedPurpose {
  purpose: string;
  /** Its given consents and requests. */
  standing: number;
  /** When it was last configured (or, never recorded as configured, first found missing). */
  missingSince: number;
  /** From when the sweep ends them, unless the purpose is configured again before. */
  endsAt: number;
}

/** What the store says when it opens with a purpose out of its settings: no number, only the id, a count and a day. */
export function removedPurposeWarning(removed: RemovedPurpose, now: number): GdprWhatsAppError {
  const date = new Date(Math.max(removed.endsAt, now)).toISOString().slice(0, 10);
  return new GdprWhatsAppError(
    'purpose-removed',
    `Purpose "${removed.purpose}" is no longer configured in this consent store: its ${removed.standing} given consents and pending requests end on ${date} unless it is configured again`,
    { purpose: removed.purpose, count: removed.standing, date },
  );
}

/**
 * One run of the retention rules (Art. 5(1)(e) GDPR): pending requests expire, the consents of a purpose taken out of
 * the settings end, personal data of inactive subjects goes after its period, and ended proof, old notices, audit
 * events and de-duplication marks after theirs. Each step runs in batches, a transaction each, so that checks and
 * sends go on meanwhile.
 */
export class RetentionSweep {
  constructor(
    private readonly store: LedgerStore,
    private readonly writes: LedgerWrites,
    private readonly retention: RetentionSettings,
    private readonly clock: () => number,
    private readonly change: RunChange,
    private readonly purposes: ReadonlyMap<string, PurposeDefinition>,
    private readonly onWarning: (err: Error) => void = () => undefined,
  ) {}

  async run(): Promise<SweepReport> {
    const now = this.clock();
    const batch = this.retention.sweepBatchSize;
    const report: SweepReport = {
      at: now,
      expiredRequests: 0,
      personalDataRemoved: 0,
      proofRemoved: 0,
      noticesRemoved: 0,
      wordingsRemoved: 0,
      auditEventsRemoved: 0,
      auditEventsRestated: 0,
      dedupeMarksRemoved: 0,
      undeliveredEventsRemoved: 0,
      removedPurposeConsentsEnded: 0,
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
      await this.writes.expireAll(tx, rows, now, 'retention', events);
      return rows.length;
    }, batch);
    report.removedPurposeConsentsEnded = await this.endRemovedPurposes(now, batch);
    report.personalDataRemoved = await repeat(async (tx) => {
      const subjects = await tx.inactiveSubjects(now - this.retention.personalDataMs, batch);
      for (const p of subjects) await tx.removePersonalData(p);
      return subjects.length;
    });
    // What a record that ended holds besides the pseudonymous proof goes after the same period, record by record.
    report.personalDataRemoved += await repeat((tx) => tx.stripEndedProof(now - this.retention.personalDataMs, batch));
    // An objection under Art. 21 does not expire: for a purpose that needs no consent it is the only thing that
    // stops messages, and it stays (stripped of personal data with the subject's record).
    const objectionsOf = [...this.purposes.values()].filter((p) => p.lawfulBasis !== 'consent').map((p) => p.id);
    report.proofRemoved = await repeat((tx) => tx.deleteEndedProof(now, batch, objectionsOf));
    report.noticesRemoved = await repeat((tx) => tx.deleteOldNotices(now - this.retention.proofRetentionMs, batch));
    report.wordingsRemoved = await repeat((tx) => tx.deleteUnusedWordings(batch));
    const audit = await this.purgeAudit(now, batch, objectionsOf);
    report.auditEventsRemoved = audit.removed;
    report.auditEventsRestated = audit.restated;
    report.dedupeMarksRemoved = await repeat((tx) => tx.deleteExpiredDedupe(now, batch), false);
    // A consumer that took nothing for the whole period (its node deleted) holds nothing back any more: what only
    // it still waited for goes now, not when it is a week old.
    const feedCutoff = now - EVENT_FEED_RETENTION_MS;
    const released = await this.store.write(
      async (tx) => ((await tx.deleteStaleEventCursors(feedCutoff)) > 0 ? tx.pruneOutbox() : { removed: 0 }),
      { serial: false },
    );
    // What went with a consumer gone for a week, every consumer still there had taken (or none is left: the help says
    // a node deleted for good is dropped with what it waited for); what is deleted by age, one still there had not.
    const expired = await repeat((tx) => tx.deleteOldOutbox(feedCutoff, batch), false);
    report.undeliveredEventsRemoved = released.removed + expired;
    if (expired > 0) {
      // A CRM that never heard of a withdrawal must be reconciled by hand (export-audit): say so where it is seen.
      this.onWarning(
        new GdprWhatsAppError(
          'undelivered-events-removed',
          `${expired} consent events a consent-events node did not deliver within 7 days were deleted`,
          { count: expired },
        ),
      );
    }
    const { at: _at, ...counts } = report;
    await this.change(async (tx) => {
      await this.writes.audit(tx, now, {
        action: SWEEP_ACTION,
        actor: 'retention',
        outcome: 'done',
        detail: counts,
      });
    });
    // Events nobody took may have carried a number the ledger no longer holds to the end (an erasure's or a move's).
    if (
      report.personalDataRemoved > 0 ||
      report.proofRemoved > 0 ||
      report.wordingsRemoved > 0 ||
      report.undeliveredEventsRemoved > 0
    ) {
      await this.store.scrub();
    }
    return report;
  }

  /**
   * Records that the configured purposes are configured now, and answers the purposes out of the settings that still
   * hold given consents or requests. Every open, sweep and hourly heartbeat of every instance records it: a purpose
   * one instance still has (a rolling deploy, instances set up apart) is not out of the settings.
   */
  async noteRemovedPurposes(now: number = this.clock()): Promise<RemovedPurpose[]> {
    const configured = [...this.purposes.keys()];
    const removed = await this.store.write(
      async (tx) => {
        await tx.notePurposesConfigured(configured, now);
        return tx.noteRemovedPurposes(configured, now);
      },
      // Serial: two stores with different purposes would otherwise lock each other's rows crosswise (a deadlock).
      { serial: true },
    );
    const grace = removedPurposeEndMs(this.retention.personalDataMs);
    return removed.map((r) => ({ ...r, endsAt: r.missingSince + grace }));
  }

  /**
   * A purpose taken out of the settings is never checked again, but its given consents and requests would keep the
   * person's number "in use" for ever (inactiveSubjects). They end once the purpose has been out of the settings for
   * personalDataMs, and at least REMOVED_PURPOSE_GRACE_MS (put back before, nothing ends); from then on the person's data goes on the usual schedule. Only
   * given consents and requests end: an objection or refusal is not touched.
   */
  private async endRemovedPurposes(now: number, batch: number): Promise<number> {
    let total = 0;
    for (const removed of await this.noteRemovedPurposes(now)) {
      if (removed.endsAt > now) continue;
      const ended = await this.repeatWithEvents(async (tx, events) => {
        const rows = await tx.standingConsents(removed.purpose, batch);
        await this.writes.endForRemovedPurpose(tx, rows, now, PURPOSE_REMOVED_ACTION, removed.missingSince, events);
        return rows.length;
      }, batch);
      if (ended === 0) continue;
      total += ended;
      this.onWarning(
        new GdprWhatsAppError(
          'purpose-removed-consents-ended',
          `The retention sweep ended ${ended} given consents and pending requests of purpose "${removed.purpose}", which is no longer configured in this consent store`,
          { purpose: removed.purpose, count: ended },
        ),
      );
    }
    return total;
  }

  /**
   * Removes the chain's prefix older than the proof period, batch by batch. What in a batch proves a consent or an
   * objection that still stands is restated at the head first, in the same transaction: a crash neither loses the
   * proof nor restates it twice, and the chain holds the proof of every standing record for as long as it stands.
   */
  private async purgeAudit(
    now: number,
    batch: number,
    objectionsOf: readonly string[],
  ): Promise<{ removed: number; restated: number }> {
    const cutoff = now - this.retention.proofRetentionMs;
    const total = { removed: 0, restated: 0 };
    for (;;) {
      const done = await this.store.write(
        async (tx) => {
          const end = await tx.auditPrefixBefore(cutoff, batch);
          if (!end) return { removed: 0, restated: 0 };
          const proof = (await tx.standingProofThrough(end.seq, RESTATABLE_ACTIONS, objectionsOf))
            .filter(({ event, status }) => provesStanding(event, status))
            .map(({ event }) => restatementOf(event));
          // Appended before the prefix goes: the restatements link to the head, which may lie in the prefix.
          await this.writes.auditAll(tx, now, proof);
          return { removed: await tx.purgeAuditThrough(end), restated: proof.length };
        },
        { serial: true },
      );
      total.removed += done.removed;
      total.restated += done.restated;
      if (done.removed < batch) return total;
    }
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
}
