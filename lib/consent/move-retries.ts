import type { StoreTx } from '../store/types';
import type { AuditRecord } from './audit-verify';

/** The latest of these audit entries, by their place in the chain. */
function latest(entries: readonly AuditRecord[]): AuditRecord | undefined {
  let found: AuditRecord | undefined;
  for (const entry of entries) if (found === undefined || entry.seq > found.seq) found = entry;
  return found;
}

function toOf(entry: AuditRecord | undefined): string | undefined {
  const to = entry?.detail?.to;
  return typeof to === 'string' ? to : undefined;
}

/**
 * Whether the move away from the number `p` about to be recorded, to `to` (her new number's pseudonym, or her new user
 * id's; undefined when Meta named neither), repeats the number's latest move (entries of `moveAction`): Meta
 * redelivers a webhook for days, and one that came again after a crash before the answer is handled again. A repeat
 * must not tell a CRM a second time that she moved. It is one when the latest move went to the same place and nobody
 * has held the number since: no subject record (a message from it makes one; the move removed hers) and no record
 * made there after the move (its own endings and blocks bear the move's time).
 */
export async function repeatsMove(
  tx: StoreTx,
  p: string,
  to: string | undefined,
  moveAction: string,
): Promise<boolean> {
  const move = latest(await tx.listAudit(p, [moveAction]));
  if (move === undefined || toOf(move) !== to) return false;
  if (await tx.getSubject(p)) return false;
  return !(await tx.listConsents(p)).some((record) => record.updatedAt > move.at);
}

/**
 * Where a move already taken sent the person, by her previous user id (its `replacedAction` entry, `detail.to`): the
 * retry of a move known only by user id carries no new id any more (the first took it), and would otherwise name no
 * place at all.
 */
export async function replacedIdTo(
  tx: StoreTx,
  idPseudonym: string,
  replacedAction: string,
): Promise<string | undefined> {
  return toOf(latest(await tx.listAudit(idPseudonym, [replacedAction])));
}
