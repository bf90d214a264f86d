import type { CheckState } from '../store/types';
import { effectiveBasis, type PurposeDefinition } from './purposes';
import type { CheckResult, ConsentStatus } from './types';

/**
 * The consent state machine in one place.
 *   (none) --request--> pending --confirm--> given --withdraw--> withdrawn
 *                       pending --expiry---> expired
 *                       pending --refuse---> refused
 *   (none) --give-----> given                   any --erase--> (no record, suppression entry)
 * A new request or give after an ended record starts a new record; the old one moves to history.
 */
export const ACTIVE_STATUSES: readonly ConsentStatus[] = ['given', 'pending'];

/**
 * The expiry time of a record the number's move ended (numberChanged): none. A request's expiry always has one, so
 * an expired record without it says "ended because the number passed to someone else": for a purpose on a contract
 * or legitimate interest it blocks, where an expired request would let the basis allow.
 */
export const MOVED_AWAY_EXPIRY = null;

export interface StoredState {
  status: string;
  expiresAt: number | null;
}

/**
 * Art. 6(1)(a) GDPR needs a given consent; contract or legitimate interest only needs the absence of an objection.
 * Marketing always needs consent (§ 7(2) no. 2 UWG: advertising by electronic message), whatever basis a store names.
 */
export function evaluateCheck(purpose: PurposeDefinition, state: CheckState, now: number): CheckResult {
  const consentBased = effectiveBasis(purpose) === 'consent';
  const basisReason = `lawful-basis-${purpose.lawfulBasis}`;
  if (state === 'erased') return { allowed: false, status: 'erased', reason: 'subject-erased' };
  if (!state) {
    return consentBased
      ? { allowed: false, status: 'none', reason: 'no-consent' }
      : { allowed: true, status: 'none', reason: basisReason };
  }
  switch (state.status) {
    case 'given':
      return { allowed: true, status: 'given', reason: 'consent-given' };
    case 'pending':
      if (state.expiresAt !== null && state.expiresAt <= now) {
        return { allowed: !consentBased, status: 'expired', reason: consentBased ? 'request-expired' : basisReason };
      }
      return {
        allowed: !consentBased,
        status: 'pending',
        reason: consentBased ? 'awaiting-confirmation' : basisReason,
      };
    case 'expired':
      if (state.expiresAt === MOVED_AWAY_EXPIRY)
        return { allowed: false, status: 'expired', reason: 'number-changed-hands' };
      return { allowed: !consentBased, status: 'expired', reason: consentBased ? 'request-expired' : basisReason };
    case 'withdrawn':
      return { allowed: false, status: 'withdrawn', reason: 'consent-withdrawn' };
    case 'refused':
      return { allowed: false, status: 'refused', reason: 'consent-refused' };
    default:
      return { allowed: false, status: 'none', reason: 'no-consent' };
  }
}

/** A request nobody confirmed: still pending, or expired (a request's expiry has a time, MOVED_AWAY_EXPIRY has none). */
export function isUnconfirmedRequest(state: StoredState): boolean {
  return state.status === 'pending' || (state.status === 'expired' && state.expiresAt !== MOVED_AWAY_EXPIRY);
}

/**
 * Meta's timestamps are whole seconds and its clock is not ours: a reply counts as sent before its request only
 * when it is older than this.
 */
export const REPLY_CLOCK_MARGIN_MS = 30_000;

/** A request sent after the reply went (a late delivery of an answer to an earlier one): not what the reply answers. */
export function requestedAfterReply(requestedAt: number | null | undefined, sentAt: number): boolean {
  return (requestedAt ?? Number.NEGATIVE_INFINITY) > sentAt + REPLY_CLOCK_MARGIN_MS;
}

/** opt-in-flow's reply buttons carry this id (and its templates this payload): a tap on one is on the request. */
export const CONFIRM_BUTTON_PREFIX = 'gdpr-confirm:';

/** The times of her last two messages on record (Meta's clock): the last, and the one before it. */
export interface LastTwoInbound {
  last: number | null | undefined;
  previous: number | null | undefined;
}

/**
 * Whether she may have written anything else after `since` (when the request was made) and before a reply that does
 * not quote the request: the reply may then answer what the business asked about that message ("Shall we erase your
 * data?"), and a YES is no unambiguous consent (Art. 4(11) GDPR). Meta's times are whole seconds: a message in the
 * second the request was made in may have followed it. Only her last two messages' times are kept: when the one before the
 * last lies at or after the reply (a later message recorded before the reply was handled, or the reply delivered
 * late), what came before is not known, and she may have written in between.
 */
export function wroteBetween(since: number | undefined, inbound: LastTwoInbound, replySentAt: number): boolean {
  if (since === undefined || replySentAt <= since) return false;
  const fromSecond = Math.floor(since / 1000) * 1000;
  const known = (at: number | null | undefined): at is number => at !== null && at !== undefined;
  if ([inbound.previous, inbound.last].some((at) => known(at) && at >= fromSecond && at < replySentAt)) return true;
  return known(inbound.previous) && inbound.previous >= replySentAt;
}

/**
 * Consent is an unambiguous indication (Art. 4(11) GDPR): a YES written as a quoted reply (Meta's `context.id`)
 * answers the message it quotes. When that is the message of one of the person's requests, that request is the one
 * it answers, whichever was sent last.
 */
export function quotedRequest<T>(
  requests: readonly T[],
  quotedMessageId: string | undefined,
  requestMessageIdOf: (request: T) => string | undefined,
): T | undefined {
  return quotedMessageId === undefined
    ? undefined
    : requests.find((request) => requestMessageIdOf(request) === quotedMessageId);
}

/**
 * Whether a reply may answer a request: not when it quotes another message than the request's own ("Shall we call
 * you back?"). A request whose message is not on record (sent before whatsapp-send recorded it, or its delivery
 * unknown) cannot be told apart from the message quoted: the request sent last decides, as for a reply that quotes
 * nothing.
 */
export function mayAnswerRequest(requestMessageId: string | undefined, quotedMessageId: string | undefined): boolean {
  return quotedMessageId === undefined || requestMessageId === undefined || requestMessageId === quotedMessageId;
}

/**
 * Whether a request went from another business number (Meta's phone number id) than an answer came to: the answer is
 * not one to it (a "JA" to the shop's service number does not answer the newsletter number's request). Unknown on
 * either side (a record from before schema version 11, a request whose sending was not recorded, an answer given
 * through the API), the answer is taken as before.
 */
export function sentFromOtherNumber(
  requestPhoneNumberId: string | null | undefined,
  answeredTo: string | undefined,
): boolean {
  return (
    answeredTo !== undefined &&
    requestPhoneNumberId !== undefined &&
    requestPhoneNumberId !== null &&
    requestPhoneNumberId !== answeredTo
  );
}

export function isLivePending(state: StoredState, now: number): boolean {
  return state.status === 'pending' && (state.expiresAt === null || state.expiresAt > now);
}

export function isEnded(status: string): boolean {
  return status === 'withdrawn' || status === 'refused' || status === 'expired';
}
