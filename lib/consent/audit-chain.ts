import { type AuditAnchor, type AuditRecord, GENESIS_HASH, hashAuditEvent } from './audit-verify';
import { canonicalJson } from './canonical';

/** One event for the audit log, before it is linked into the chain. */
export interface AuditEntry {
  action: string;
  actor: string;
  pseudonym?: string | null;
  purpose?: string | null;
  outcome: string;
  detail?: Record<string, unknown>;
}

/**
 * The entries as the next links of the hash chain after `head` (the genesis hash for an empty log), in order,
 * all at `now`. `instance` (several Node-RED instances on one store) is added to each entry's detail.
 */
export function chainAuditEntries(
  head: AuditAnchor | undefined,
  now: number,
  entries: readonly AuditEntry[],
  instance?: string,
): AuditRecord[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  return entries.map((entry) => {
    const detail = instance ? { ...(entry.detail ?? {}), instance } : (entry.detail ?? null);
    seq += 1;
    const event = {
      seq,
      at: now,
      actor: entry.actor,
      action: entry.action,
      pseudonym: entry.pseudonym ?? null,
      purpose: entry.purpose ?? null,
      outcome: entry.outcome,
      detail: detail ? (JSON.parse(canonicalJson(detail)) as Record<string, unknown>) : null,
      prevHash,
    };
    const record = { ...event, hash: hashAuditEvent(event) };
    prevHash = record.hash;
    return record;
  });
}
