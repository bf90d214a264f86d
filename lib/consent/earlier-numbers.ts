import type { HolderSpan, StoreTx } from '../store/types';
import type { AuditRecord } from './audit-verify';
import { within } from './holder-spans';
import { MAX_LATE_HOPS } from './identity-changes';
import { NUMBER_CHANGED } from './ledger-writes';

/** A number a person held before the one she asks from, and her part of its records there. */
export interface EarlierNumber {
  pseudonym: string;
  /** Her part: after the number's move before hers (if any), up to her own move away, which named where she went. */
  span: HolderSpan & { until: number };
}

/** Where a person is being followed back from: her keys there, and her part of the number's records. */
interface Stop {
  number: string;
  keys: readonly string[];
  span: HolderSpan;
}

/**
 * The numbers a person moved from to reach the one she asks from, hop by hop back (W → X → Y), and her part of
 * each: every move recorded at a number (numberChanged) names where its holder went. A move that reached a number
 * before her time there was an earlier holder's and is not followed; what she held under a user id is hers whenever
 * it reached her. As far back as a late opt-out follows her forward (MAX_LATE_HOPS).
 */
export async function earlierNumbers(
  tx: StoreTx,
  number: string,
  keys: readonly string[],
  span: HolderSpan,
): Promise<EarlierNumber[]> {
  const found: EarlierNumber[] = [];
  const followed = new Set<number>();
  let stops: Stop[] = [{ number, keys, span }];
  for (let hop = 0; stops.length > 0 && hop < MAX_LATE_HOPS; hop++) {
    const next: Stop[] = [];
    for (const stop of stops) {
      for (const move of await arrivals(tx, stop)) {
        if (followed.has(move.seq) || move.pseudonym === null) continue;
        followed.add(move.seq);
        const earlier = { pseudonym: move.pseudonym, span: await spanEndingAt(tx, move) };
        found.push(earlier);
        next.push({ number: earlier.pseudonym, keys: [earlier.pseudonym], span: earlier.span });
      }
    }
    stops = next;
  }
  return found;
}

/** The moves that brought the person to `stop`, in the order they were recorded. */
async function arrivals(tx: StoreTx, stop: Stop): Promise<AuditRecord[]> {
  const moves: AuditRecord[] = [];
  for (const key of stop.keys) {
    for (const move of await tx.listNumberChangesTo(key)) {
      if (move.pseudonym !== null && stop.keys.includes(move.pseudonym)) continue;
      if ((key !== stop.number || within(stop.span, move.at)) && !(await isRetry(tx, move))) moves.push(move);
    }
  }
  return moves.sort((a, b) => a.seq - b.seq);
}

/**
 * Meta's copy of a move recorded already (delivered again after a crash before the webhook's mark was written): the
 * same number, to the same place, with nobody arriving at the number by a move in between. Her part of the number
 * ends with the first.
 */
async function isRetry(tx: StoreTx, move: AuditRecord): Promise<boolean> {
  const before = (await tx.listAudit(move.pseudonym ?? '', [NUMBER_CHANGED])).filter((e) => e.seq < move.seq);
  const previous = before.at(-1);
  if (previous === undefined || previous.detail?.to !== move.detail?.to) return false;
  const arrivals = await tx.listNumberChangesTo(move.pseudonym ?? '');
  return !arrivals.some((e) => e.seq > previous.seq && e.seq < move.seq);
}

/** Her part of the number `move` took her away from: from the number's move before that one, if any. */
async function spanEndingAt(tx: StoreTx, move: AuditRecord): Promise<EarlierNumber['span']> {
  const before = (await tx.listAudit(move.pseudonym ?? '', [NUMBER_CHANGED])).filter((e) => e.seq < move.seq);
  return { after: before.at(-1)?.at, until: move.at };
}
