import type { AuditEntry } from './audit-chain';
import type { AuditRecord } from './audit-verify';
import { REQUEST_SENT } from './opt-out-history';

/**
 * Carrying the proof of a standing consent or objection forward in the audit chain (Art. 7(1) GDPR: the controller
 * must be able to demonstrate consent for as long as it relies on it). The retention sweep removes the chain's oldest
 * events after the proof period; those of them that prove a record still standing are first restated at the head.
 */

/** The audit action of an event restated at the head of the chain before the sweep removed it. */
export const PROOF_RESTATED_ACTION = 'consent.proof-restated';

/** The audit actions that set up a given consent: a request, its sending and confirmation, or a consent given. */
export const CONSENT_PROOF_ACTIONS = ['consent.requested', REQUEST_SENT, 'consent.confirmed', 'consent.given'] as const;

/** The audit actions that set up an objection (Art. 21 GDPR) to a purpose that needs no consent. */
export const OBJECTION_PROOF_ACTIONS = ['consent.refused', 'consent.withdrawn'] as const;

/** Every action the store is asked for: the proof actions, and earlier restatements of them. */
export const RESTATABLE_ACTIONS: readonly string[] = [
  ...CONSENT_PROOF_ACTIONS,
  ...OBJECTION_PROOF_ACTIONS,
  PROOF_RESTATED_ACTION,
];

/** The event as first written: a restatement carries it whole in `detail.original`. */
export function originalOf(event: AuditRecord): AuditRecord {
  if (event.action !== PROOF_RESTATED_ACTION) return event;
  return event.detail?.original as AuditRecord;
}

/**
 * Whether the event proves the standing record it belongs to: a consent given (`status` given) by its request,
 * confirmation or giving; an objection (refused, withdrawn) by the refusal or withdrawal. An earlier restatement counts
 * as the event it restates.
 */
export function provesStanding(event: AuditRecord, status: string): boolean {
  const action = originalOf(event)?.action;
  const actions: readonly string[] = status === 'given' ? CONSENT_PROOF_ACTIONS : OBJECTION_PROOF_ACTIONS;
  return typeof action === 'string' && actions.includes(action);
}

/**
 * The audit entry that restates `event` at the head of the chain: the original event whole (seq, at, actor, action,
 * outcome, detail, prevHash, hash), so that an export holding it can be matched and its hash recomputed, under the
 * same pseudonym and purpose and nothing else. A restatement restated again names the original, and the restatement
 * it replaces.
 */
export function restatementOf(event: AuditRecord): AuditEntry {
  const previous = event.action === PROOF_RESTATED_ACTION ? { seq: event.seq, at: event.at, hash: event.hash } : null;
  return {
    action: PROOF_RESTATED_ACTION,
    actor: 'retention',
    pseudonym: event.pseudonym,
    purpose: event.purpose,
    outcome: 'restated',
    detail: { original: originalOf(event), ...(previous ? { previousRestatement: previous } : {}) },
  };
}
