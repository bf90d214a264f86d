/**
 * The retry policy of the Cloud API client, in one place: which failures are worth another attempt
 * and how long to wait before it. Codes: https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
 */
import { ACCOUNT_LIMIT, APP_LIMIT } from './account-hold';

export interface RetryPolicy {
  /** Attempts in total, the first one included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30000,
});

/**
 * Transient by Meta's description: 130429 throughput reached, 131056 pair rate limit (same recipient too
 * often), 131000 something went wrong, 131016 service unavailable, 131057 account in maintenance,
 * 133004 server temporarily unavailable, 1 API unknown, 2 API service, 4 API too many calls,
 * 80007 WABA rate limit.
 */
export const RETRYABLE_API_CODES: ReadonlySet<number> = new Set([
  130429, 131056, 131000, 131016, 131057, 133004, 1, 2, 4, 80007,
]);

/**
 * Never retried, not even when they arrive with an HTTP 5xx: another attempt cannot succeed or would
 * break a rule. 131047 outside the 24-hour customer service window, 131050 user stopped marketing
 * messages, 131026 undeliverable, 131049 per-user marketing limit, 131048 spam rate limit, 131051/131052/
 * 131053 unsupported message or media, 131008/131009 parameters, 131021 sender = recipient, 131031 account
 * locked, 131042 payment, 131045 certificate, 131062 message not allowed to a business-scoped user id (one-tap,
 * zero-tap and copy-code authentication templates need the number), 190 access token, 100 invalid parameter,
 * 3/10/200-299 permissions, 368 temporarily blocked for policy violations, 132xxx template errors.
 */
const PERMANENT_API_CODES: ReadonlySet<number> = new Set([
  131047, 131050, 131026, 131049, 131048, 131051, 131052, 131053, 131008, 131009, 131021, 131031, 131042, 131045,
  131062, 190, 100, 3, 10, 368,
]);

function isPermanent(apiCode: number): boolean {
  return (
    PERMANENT_API_CODES.has(apiCode) || (apiCode >= 132000 && apiCode <= 132999) || (apiCode >= 200 && apiCode <= 299)
  );
}

/** What the policy looks at: the API's error code, the HTTP status and whether the request got an answer. */
export interface FailureFacts {
  /** Meta's `error.code`; 0 when the answer carried none. */
  apiCode: number;
  httpStatus?: number;
  /** The request got no HTTP answer at all (reset, refused, timed out). */
  network?: boolean;
}

/**
 * Decides from the body's error code first; the HTTP status only helps when the code is unknown or
 * absent (a 5xx from a proxy without a Graph API body).
 */
export function isRetryable(failure: FailureFacts | unknown): boolean {
  if (typeof failure !== 'object' || failure === null) return false;
  const { apiCode, httpStatus, network } = failure as Partial<FailureFacts>;
  if (typeof apiCode !== 'number') return false;
  if (network) return true;
  if (RETRYABLE_API_CODES.has(apiCode)) return true;
  if (isPermanent(apiCode)) return false;
  // A gateway's 429 without Meta's body turned the request away before the API: like a rate limit, try again later.
  return typeof httpStatus === 'number' && (httpStatus >= 500 || httpStatus === 429);
}

/**
 * The package's own refusals of a message that never left and that the same message may overcome later: the send
 * queue was full, the sender or its configuration was stopped (a redeploy), the consent store did not answer the
 * check before the send, the template list did not answer, or the privacy notice before the message failed (it is
 * shown again before the message's next try), or the consent store's database did not answer. A flow may send these
 * again. A bad message, an ended consent or a missing configuration fails the same way every time;
 * `closed-in-flight` may have been delivered.
 */
const RETRYABLE_REFUSALS: ReadonlySet<string> = new Set([
  'queue-full',
  'closed',
  'config-closed',
  'send-check-timeout',
  'template-check-unavailable',
  'privacy-notice-not-delivered',
  'store-unavailable',
]);

export function isRetryableRefusal(code: string): boolean {
  return RETRYABLE_REFUSALS.has(code);
}

/**
 * Rate limits after which Meta's named wait (X-Business-Use-Case-Usage, Retry-After) is honoured: 4 the app's calls,
 * 80007 the WhatsApp Business Account's, 130429 the number's throughput. Any other failure keeps the backoff: a
 * wait on a server error or a permanent one says nothing about when sending works again.
 */
export const WAIT_NAMING_LIMITS: ReadonlySet<number> = new Set([4, 80007, 130429]);

export const THROUGHPUT_LIMIT = 130429;

/**
 * Whether a failure says the client sends faster than Meta lets it, or than the number can take now
 * (Pacer.slowDown): 130429, the number's throughput, which is lower than configured for a number also used in the
 * WhatsApp Business app (20 mps) and which inbound messages count against too; 4 and 80007 when Meta named no wait
 * (a named wait holds everything instead); and an outage (OUTAGE_CODES): every message would only fail as well.
 */
export function callsForSlowDown(apiCode: number, namedWaitMs: number | undefined): boolean {
  if (apiCode === THROUGHPUT_LIMIT || OUTAGE_CODES.has(apiCode)) return true;
  return namedWaitMs === undefined && (apiCode === APP_LIMIT || apiCode === ACCOUNT_LIMIT);
}

/** Meta's pair rate limit: about one message every 6 s to the same person; a burst borrows from later. */
export const PAIR_RATE_LIMIT = 131056;

/**
 * The number or Meta's service is down for a while: 131057 account in maintenance (Meta's throughput upgrade makes
 * the number unusable for "up to 1 minute"), 131016 service unavailable, 133004 server temporarily unavailable.
 */
export const OUTAGE_CODES: ReadonlySet<number> = new Set([131057, 131016, 133004]);

/** Waits after an outage code: with the default five attempts they span more than Meta's minute of maintenance. */
const OUTAGE_SCHEDULE_MS = [5000, 10_000, 20_000, 30_000];

/**
 * Delay before the attempt after `attempt` for a failure with `apiCode`. After 131056 Meta's documented schedule,
 * 4^X seconds with X = 0, 1, 2, ... (up to maxDelayMs): the short backoff of other faults would only hit the same
 * person's limit again. After an outage code OUTAGE_SCHEDULE_MS plus up to a fifth as jitter (up to maxDelayMs): the
 * short backoff would give up within seconds. Everything else: backoffDelayMs.
 */
export function retryDelayMs(
  apiCode: number,
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  if (apiCode === PAIR_RATE_LIMIT) {
    return Math.min(policy.maxDelayMs, 1000 * 4 ** Math.max(0, Math.min(attempt - 1, 10)));
  }
  if (OUTAGE_CODES.has(apiCode)) {
    const step = OUTAGE_SCHEDULE_MS[Math.min(Math.max(attempt, 1), OUTAGE_SCHEDULE_MS.length) - 1];
    return Math.min(policy.maxDelayMs, Math.floor(step * (1 + random() / 5)));
  }
  return backoffDelayMs(attempt, policy, random);
}

/**
 * Delay before the attempt after `attempt` (1 = the first attempt failed): exponential growth with
 * full jitter, so that many senders hit by the same 130429 do not come back in lockstep.
 */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}
