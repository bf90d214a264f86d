/**
 * Whose part of a number's records is whose, when the number passed from one person to another (numberChanged):
 * each holder's span runs from the move before her (if any) to her own move away.
 */
import type { HolderSpan } from '../store/types';
import type { AuditRecord } from './audit-verify';
import { CLOCK_MARGIN_MS } from './identity-changes';
import { MOVED_AWAY_OPT_OUT, NUMBER_CHANGED } from './ledger-writes';

/** The times the number moved away from a holder (numberChanged), oldest first. */
export function movesOf(entries: readonly AuditRecord[]): number[] {
  return entries
    .filter((e) => e.action === NUMBER_CHANGED)
    .map((e) => e.at)
    .sort((a, b) => a - b);
}

/**
 * When an audit entry happened for the number's holders: a late opt-out recorded after the move for the person who
 * moved away counts when she sent it, so that it is hers, not the next holder's.
 */
export function heldAt(entry: AuditRecord, movedAt: number | undefined): number {
  const sentAt = entry.detail?.sentAt;
  if (entry.outcome !== MOVED_AWAY_OPT_OUT || typeof sentAt !== 'number') return entry.at;
  // Sent up to the clocks' margin after the move, it is still hers (lateOptOutHome): dated no later than the move.
  return movedAt === undefined ? sentAt : Math.min(sentAt, movedAt);
}

/**
 * Whose part of a number's records a request is about, given the times it moved to another person (oldest first):
 * the present holder's since the last move, or the previous holder's between the move before (if any) and the last,
 * never an earlier holder's. Undefined: the previous holder's part of a number that never moved, which is nothing.
 */
export function holderSpan(moves: readonly number[], previousHolder: boolean): HolderSpan | undefined {
  const movedAt = moves.at(-1);
  if (!previousHolder) return { after: movedAt };
  return movedAt === undefined ? undefined : { after: moves.at(-2), until: movedAt };
}

/**
 * The part of the holder who sent a message at `sentAt`, when the number moved to another person after that: from
 * the move before (if any) to the first move after. Up to the clocks' margin after a move it is still hers, as for a
 * late opt-out (lateOptOutHome). Undefined when the number has not moved since: the sender holds it now.
 */
export function senderSpan(moves: readonly number[], sentAt: number | undefined): HolderSpan | undefined {
  if (sentAt === undefined) return undefined;
  const cut = sentAt - CLOCK_MARGIN_MS;
  const until = moves.find((at) => at >= cut);
  if (until === undefined) return undefined;
  return { after: moves.filter((at) => at < cut).at(-1), until };
}

export function within(span: HolderSpan | undefined, at: number): boolean {
  return (
    span !== undefined &&
    (span.after === undefined || at > span.after) &&
    (span.until === undefined || at <= span.until)
  );
}
